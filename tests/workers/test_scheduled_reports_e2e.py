"""The daily report run end to end, as `make run` has it: `hearth serve` starts its own worker and scheduler
(the embedded profile's companions); the scheduler catches up the missed run at start-up, the worker writes
one report per ticker and day into the database, and a rerun writes nothing more. Stopping the server stops
its companions. This stack runs on PostgreSQL (the summary batch tests run on SQLite)."""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from psycopg import sql
from rq import Queue
from sqlalchemy.engine import make_url

from tests.storage.conftest import _admin_url, skip_or_fail
from tests.support import ROOT, ServerProcess, base_env, children_of, free_port, pid_alive, start_server
from tests.workers.support import RedisProcess

pytestmark = pytest.mark.slow

KEY_A = "sk-sched-tenant-a-0001"
KEY_B = "sk-sched-tenant-b-0002"
TICKERS = ["ACME", "WRLD"]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    admin, errors = _admin_url()
    if admin is None:
        skip_or_fail(f"PostgreSQL is not reachable: {errors}")
        raise AssertionError("unreachable")
    name = f"hearth_sched_{secrets.token_hex(6)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = make_url(admin).set(drivername="postgresql+psycopg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str
) -> Iterator[tuple[ServerProcess, RedisProcess, dict[str, str]]]:
    data_dir = tmp_path_factory.mktemp("scheduled")
    own_redis = RedisProcess(data_dir / "redis-own")
    own_redis.start()
    schedules = data_dir / "schedules.yaml"
    # every minute, so the latest due time is always within the last minute: the start-up catch-up fires it
    schedules.write_text(
        "schedules:\n"
        "  - name: test-daily\n"
        "    cron: '* * * * *'\n"
        "    timezone: Asia/Seoul\n"
        f"    watchlist: {{stocks: [{TICKERS[0]}], etfs: [{TICKERS[1]}]}}\n"
    )
    env = {
        "HEARTH_API_KEYS": f"{KEY_A},{KEY_B}",
        "HEARTH_DATABASE__URL": postgres_url,
        "HEARTH_REDIS__URL": own_redis.url,
        "HEARTH_REDIS__EMBEDDED_FALLBACK": "false",
        "HEARTH_ENGINE__PORT": str(free_port()),
        "HEARTH_WORKERS__EMBEDDED": "1",
        "HEARTH_WORKERS__HEARTBEAT_S": "3",
        "HEARTH_SCHEDULER__EMBEDDED": "true",
        "HEARTH_SCHEDULER__POLL_S": "2",
        "HEARTH_SCHEDULER__SCHEDULES_FILE": str(schedules),
        "HEARTH_MARKET__PROVIDER": "csv",
        "HEARTH_MARKET__CSV_DIR": str(ROOT / "examples" / "market"),
    }
    server = start_server(data_dir, api_key=KEY_A, env=env)
    try:
        yield server, own_redis, base_env(data_dir, **env)
    finally:
        server.stop()
        own_redis.kill()


def scheduled(server: ServerProcess, ticker: str, key: str = KEY_A) -> list[dict[str, Any]]:
    with httpx.Client(base_url=server.v1, headers={"authorization": f"Bearer {key}"}, timeout=30) as http:
        response = http.get("/reports", params={"ticker": ticker, "limit": 50})
    assert response.status_code == 200, response.text
    return [r for r in response.json()["data"] if r["kind"] == "scheduled"]


def wait_reports(server: ServerProcess, timeout: float) -> dict[str, list[dict[str, Any]]]:
    deadline = time.monotonic() + timeout
    found: dict[str, list[dict[str, Any]]] = {}
    while time.monotonic() < deadline:
        found = {ticker: scheduled(server, ticker) for ticker in TICKERS}
        if all(found.values()):
            return found
        time.sleep(1)
    logs = server.log_path.parent / "logs"
    tails = {
        p.name: p.read_text(errors="replace")[-2500:] for p in logs.glob("*.log") if p.name != "engine.log"
    }
    raise AssertionError(f"no scheduled reports after {timeout}s: {found}\n{tails}")


def test_the_scheduler_and_worker_write_one_report_per_ticker_and_day(stack: Any) -> None:
    server, own_redis, env = stack
    reports = wait_reports(server, 600)
    for ticker in TICKERS:
        (report,) = reports[ticker]
        assert report["ticker"] == ticker and report["markdown"].startswith(f"# {ticker}")
        assert report["data"]["figures"]["last_close"] is not None
        assert [r["report_id"] for r in scheduled(server, ticker, KEY_B)] == [report["report_id"]]  # shared

    # a rerun of the same day (a second scheduler ignoring the lock, a manual requeue) writes nothing new
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 9 * 3600))
    connection = redis.Redis.from_url(own_redis.url)
    queue = Queue("hearth-reports", connection=connection)
    rerun = queue.enqueue_call("workers.tasks.generate_scheduled_report", args=("ACME", day))
    deadline = time.monotonic() + 300
    while rerun.get_status(refresh=True) not in ("finished", "failed") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert rerun.get_status() == "finished"
    assert rerun.return_value()["report_id"] == reports["ACME"][0]["report_id"]
    connection.close()
    time.sleep(3)  # the every-minute schedule fired again meanwhile: still the same day, still one report
    assert len(scheduled(server, "ACME")) == 1 and len(scheduled(server, "WRLD")) == 1

    # a second scheduler process next to the embedded one fires nothing twice
    second = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "scheduler"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(8)
    second.terminate()
    assert second.wait(30) == 0
    assert len(scheduled(server, "ACME")) == 1


def test_scheduler_show_prints_the_next_run(stack: Any) -> None:
    _, _, env = stack
    shown = subprocess.run(
        [sys.executable, "-m", "api.cli", "scheduler", "--show"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "test-daily" in shown.stdout and "Asia/Seoul" in shown.stdout and "+09:00" in shown.stdout
    assert "ACME, WRLD" in shown.stdout


def test_stopping_the_server_stops_its_worker_and_scheduler(stack: Any) -> None:
    server, _, _ = stack
    companions = [
        pid for pid in children_of(server.proc.pid)
        if "api.cli" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    ]  # fmt: skip
    assert len(companions) == 2  # one worker, one scheduler
    assert server.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean shutdown
    deadline = time.monotonic() + 30
    while any(pid_alive(pid) for pid in companions) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(pid_alive(pid) for pid in companions)
