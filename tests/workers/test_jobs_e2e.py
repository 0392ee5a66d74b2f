"""Summary batches end to end: `hearth serve` + `hearth worker` processes on a Redis of our own, talking HTTP.

Covers the job lifecycle, tenant isolation, a worker SIGKILLed in the middle of a job (the job is requeued
and finished by another worker), a job that fails for good (RQ's failed registry and Hearth's error log),
and Redis going away (enqueueing answers 503, the rest of the API keeps serving; it recovers by itself).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from rq import Queue
from rq.registry import FailedJobRegistry

from tests.indexing.summary_support import english_page, make_pdf
from tests.support import ROOT, ServerProcess, base_env, free_port, start_server
from tests.workers.support import RedisProcess

pytestmark = pytest.mark.slow

KEY_A = "sk-jobs-tenant-a-0001"
KEY_B = "sk-jobs-tenant-b-0002"


@dataclass
class Stack:
    server: ServerProcess
    redis: RedisProcess
    env: dict[str, str]
    data_dir: Path
    workers: list[subprocess.Popen[bytes]]

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        log = (self.data_dir / f"worker-{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "worker", "--name", name],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a SIGKILL takes the whole worker
        )
        self.workers.append(proc)
        return proc

    def worker_log(self, name: str) -> str:
        path = self.data_dir / f"worker-{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def client(self, key: str = KEY_A) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.base_url, headers={"authorization": f"Bearer {key}"}, timeout=60
        )


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("jobs")
    redis_proc = RedisProcess(data_dir / "redis-own")
    redis_proc.start()
    extra = {
        "HEARTH_API_KEYS": f"{KEY_A},{KEY_B}",
        "HEARTH_REDIS__URL": redis_proc.url,
        "HEARTH_REDIS__EMBEDDED_FALLBACK": "false",
        "HEARTH_REDIS__CONNECT_TIMEOUT_S": "0.5",
        "HEARTH_ENGINE__PORT": str(free_port()),
        "HEARTH_WORKERS__HEARTBEAT_S": "3",
        "HEARTH_WORKERS__MAX_RETRIES": "2",
        "HEARTH_WORKERS__RETRY_BACKOFF_S": "1",
        "HEARTH_SUMMARIES__MAX_WORDS": "60",
    }
    server = start_server(data_dir, api_key=KEY_A, env=extra)
    env = base_env(data_dir, **extra)
    stack = Stack(server, redis_proc, env, data_dir, [])
    try:
        yield stack
    finally:
        for proc in stack.workers:
            stop(proc)
        server.stop()
        redis_proc.kill()


def wait_for(check: Callable[[], Any], timeout: float, what: str, stack: Stack) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    logs = "\n".join(f"--- {p.args[-1]}:\n{stack.worker_log(str(p.args[-1]))}" for p in stack.workers)
    raise AssertionError(f"timed out waiting for {what}\n{logs}\n--- server:\n{stack.server.log()[-3000:]}")


def job(stack: Stack, job_id: str, key: str = KEY_A) -> dict[str, Any]:
    with stack.client(key) as client:
        response = client.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def submit(stack: Stack, files: list[tuple[str, bytes]], **form: str) -> str:
    with stack.client() as client:
        response = client.post(
            "/v1/summaries/batch",
            files=[("files", (name, data, "application/pdf")) for name, data in files],
            data=form,
        )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued" and body["items"] == len(files)
    return str(body["job_id"])


def test_batch_lifecycle_with_a_worker(stack: Stack) -> None:
    pdf_a = make_pdf([english_page(n, 60) for n in range(1, 3)])
    pdf_b = make_pdf([english_page(n, 60) for n in range(5, 7)])
    job_id = submit(stack, [("a.pdf", pdf_a), ("b.pdf", pdf_b)])
    queued = job(stack, job_id)
    assert queued["status"] == "queued" and queued["progress"] == 0 and queued["result"] is None
    assert [item["filename"] for item in queued["items"]] == ["a.pdf", "b.pdf"]
    with stack.client(KEY_B) as other:  # another tenant cannot see it
        missing = other.get(f"/v1/jobs/{job_id}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "job_not_found"

    stack.start_worker("w-life")
    done = wait_for(lambda: (j := job(stack, job_id))["status"] == "finished" and j, 600, "the batch", stack)
    assert done["progress"] == 1.0 and done["error"] is None
    for item in done["result"]:
        assert item["status"] == "finished" and item["attempts"] == 1
        summary = item["result"]
        assert summary["title"] and summary["summary"] and summary["pages"] == 2
        assert summary["language"] == "en"

    # the same file again: the stored summary is reused, no model call
    again = submit(stack, [("a-copy.pdf", pdf_a)])
    finished = wait_for(
        lambda: (j := job(stack, again))["status"] == "finished" and j, 120, "the rerun", stack
    )
    assert finished["result"][0]["result"]["summary"] == done["result"][0]["result"]["summary"]
    assert finished["result"][0]["result"].get("cached") is True


def test_bad_batches_are_refused_before_queueing(stack: Stack) -> None:
    with stack.client() as client:
        empty = client.post("/v1/summaries/batch", files=[("files", ("e.pdf", b"", "application/pdf"))])
        assert empty.status_code == 422 and empty.json()["error"]["param"] == "file"
        mixed = client.post(
            "/v1/summaries/batch",
            files=[
                ("files", ("ok.pdf", make_pdf([english_page(1, 40)]), "application/pdf")),
                ("files", ("bad.pdf", b"%PDF-1.7 not really a pdf", "application/pdf")),
            ],
        )
        assert mixed.status_code == 422, mixed.text
        none = client.post("/v1/summaries/batch", data={"language": "en"})
        assert none.status_code == 400 and none.json()["error"]["type"] == "invalid_request_error"
    conn = redis.Redis.from_url(stack.redis.url)
    assert len(Queue("hearth-summaries", connection=conn)) == 0  # nothing was queued
    conn.close()


@pytest.mark.timeout(1200)
def test_a_killed_worker_loses_nothing(stack: Stack) -> None:
    for proc in stack.workers:
        stop(proc)
    # one model call of several seconds: the worker is in the middle of it when it is killed
    pdf = make_pdf([english_page(n, 100) for n in range(10, 14)])
    job_id = submit(stack, [("long.pdf", pdf)])
    victim = stack.start_worker("w-victim")
    wait_for(lambda: job(stack, job_id)["items"][0]["status"] == "started", 120, "the job to start", stack)
    time.sleep(2)
    stop(victim, signal.SIGKILL)
    assert job(stack, job_id)["items"][0]["status"] == "started"  # the dead worker left it mid-way

    stack.start_worker("w-rescuer")
    done = wait_for(lambda: (j := job(stack, job_id))["status"] == "finished" and j, 900, "the rescue", stack)
    item = done["items"][0]
    assert item["attempts"] == 2 and item["result"]["pages"] == 4
    conn = redis.Redis.from_url(stack.redis.url)
    assert FailedJobRegistry("hearth-summaries", connection=conn).get_job_ids() == []
    conn.close()


def test_a_job_that_fails_for_good_is_recorded(stack: Stack) -> None:
    for proc in stack.workers:
        stop(proc)
    job_id = submit(stack, [("lost.pdf", make_pdf([english_page(3, 40)]))])
    item_id = job(stack, job_id)["items"][0]["item_id"]
    (stack.data_dir / "uploads" / "jobs" / f"{item_id}.bin").unlink()  # the upload is gone: no retry helps
    stack.start_worker("w-fail")
    failed = wait_for(
        lambda: (j := job(stack, job_id))["status"] == "failed" and j, 120, "the failure", stack
    )
    item = failed["items"][0]
    assert item["attempts"] == 3 and "FileNotFoundError" in item["error"]  # the first try and 2 retries
    assert failed["error"].startswith("lost.pdf: ")
    conn = redis.Redis.from_url(stack.redis.url)
    assert FailedJobRegistry("hearth-summaries", connection=conn).get_job_ids() == [item_id]
    conn.close()
    with sqlite3.connect(stack.data_dir / "hearth.db") as db:
        rows = db.execute("SELECT source, name, error_type, count FROM error_events").fetchall()
    assert ("job", "workers.tasks.summarize_item", "FileNotFoundError", 1) in rows


def test_redis_going_away_answers_503_and_recovers(stack: Stack) -> None:
    stack.redis.kill()
    pdf = make_pdf([english_page(2, 40)])
    with stack.client() as client:
        started = time.monotonic()
        refused = client.post("/v1/summaries/batch", files=[("files", ("a.pdf", pdf, "application/pdf"))])
        assert refused.status_code == 503, refused.text
        error = refused.json()["error"]
        assert error["code"] == "queue_unavailable" and "Redis" in error["message"]
        assert time.monotonic() - started < 15
        assert client.get("/v1/models").status_code == 200  # the rest of the API keeps serving
        assert httpx.get(f"{stack.server.base_url}/healthz").status_code == 200
    stack.redis.start()  # same port, same data
    job_id = submit(stack, [("a.pdf", pdf)])
    assert job(stack, job_id)["status"] == "queued"


def test_bad_options_are_refused_before_queueing(stack: Stack) -> None:
    pdf = make_pdf([english_page(1, 40)])
    with stack.client() as client:
        for form, param in (({"language": "klingon"}, "language"), ({"max_words": "3"}, "max_words")):
            refused = client.post(
                "/v1/summaries/batch", files=[("files", ("a.pdf", pdf, "application/pdf"))], data=form
            )
            assert refused.status_code == 400, refused.text
            assert refused.json()["error"]["param"] == param
