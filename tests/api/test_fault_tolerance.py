"""Breaking Hearth's dependencies on purpose: a model replica killed under load, PostgreSQL restarted, Redis
killed and restarted. The API must ride through each without a restart of its own.

Everything is real: two llama.cpp servers (the supervised engine and a second replica the test starts), a
private PostgreSQL cluster (initdb in a temporary directory), a private redis-server.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from tests.support import MODELS_DIR, ServerProcess, free_port, start_server
from tests.workers.support import RedisProcess

pytestmark = pytest.mark.slow

MODEL_FILE = MODELS_DIR / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"


def pg_bin() -> Path | None:
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / "initdb").exists():
            return base
    found = shutil.which("initdb")
    return Path(found).parent if found else None


class PostgresCluster:
    """A throwaway PostgreSQL cluster (trust auth, one port), run as the postgres user when we are root."""

    def __init__(self) -> None:
        self.bin = pg_bin()
        # not under pytest's tmp dir: that is private to us (0700), and the server runs as postgres
        self.dir = Path(tempfile.mkdtemp(prefix="hearth-pg-")) / "data"
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        assert self.bin is not None
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self.dir.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            os.chmod(self.dir.parent, 0o755)
        self._run("initdb", "-D", str(self.dir), "-A", "trust", "-U", self.user, "--no-sync")

    def pg_ctl(self, action: str) -> None:
        options = f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.dir),
            "-o",
            options,
            "-l",
            str(self.dir / "log"),
            "-w",
            "-m",
            "fast",
            action,
        )


@dataclass
class Stack:
    server: ServerProcess
    replica: subprocess.Popen[bytes]
    replica_log: Path
    pg: PostgresCluster
    redis: RedisProcess


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if pg_bin() is None:
        pytest.skip("PostgreSQL's initdb is not installed")
    base = tmp_path_factory.mktemp("faults")
    pg = PostgresCluster()
    pg.init()
    pg.pg_ctl("start")
    own_redis = RedisProcess(base / "redis")
    own_redis.start()
    replica_port = free_port()
    replica_log = (base / "replica.log").open("ab")
    replica = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(MODEL_FILE), "--host", "127.0.0.1",
         "--port", str(replica_port), "--n_ctx", "2048", "--n_threads", "1", "--model_alias", "replica"],
        stdout=replica_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    info = {"context_window": 2048, "tokenizer": "engine"}
    models = {
        "model_list": [
            {
                "model_name": "pair",
                "litellm_params": {"model": "openai/qwen2.5-coder-0.5b-instruct", "api_base": "embedded"},
                "model_info": {**info, "id": "engine"},
            },
            {
                "model_name": "pair",
                "litellm_params": {
                    "model": "openai/replica",
                    "api_base": f"http://127.0.0.1:{replica_port}/v1",
                    "api_key": "none",
                },
                "model_info": {**info, "id": "replica"},
            },
        ]
    }
    models_file = base / "models.yaml"
    models_file.write_text(yaml.safe_dump(models))
    env = {
        "HEARTH_GATEWAY__MODELS_FILE": str(models_file),
        "HEARTH_GATEWAY__DEFAULT_MODEL": "pair",
        "HEARTH_ENGINE__LARGE": "false",  # the pair is the 0.5B: no 1.5B engine to load beside it
        "HEARTH_DATABASE__URL": pg.url,
        "HEARTH_REDIS__URL": own_redis.url,
        "HEARTH_REDIS__EMBEDDED_FALLBACK": "false",
        "HEARTH_REDIS__CONNECT_TIMEOUT_S": "0.5",
    }
    try:
        deadline = time.monotonic() + 120
        while True:  # the replica loads its model
            try:
                if httpx.get(f"http://127.0.0.1:{replica_port}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert replica.poll() is None and time.monotonic() < deadline, "the replica did not start"
            time.sleep(0.5)
        server = start_server(base / "data", env=env)
    except BaseException:
        replica.kill()
        own_redis.kill()
        pg.pg_ctl("stop")
        raise
    yield Stack(server, replica, base / "replica.log", pg, own_redis)
    server.stop()
    replica.kill()
    replica.wait(10)
    own_redis.kill()
    pg.pg_ctl("stop")
    shutil.rmtree(pg.dir.parent, ignore_errors=True)


def test_a_replica_killed_under_load_costs_no_client_an_error(stack: Stack) -> None:
    client = openai.OpenAI(base_url=stack.server.v1, api_key=stack.server.api_key, max_retries=0, timeout=300)
    errors: list[BaseException] = []
    done: list[int] = []

    def load(worker: int) -> None:
        for n in range(6):
            try:
                reply = client.chat.completions.create(
                    model="pair",
                    messages=[{"role": "user", "content": f"Say the number {worker * 10 + n}."}],
                    max_tokens=8,
                    temperature=0.7,  # not cacheable: every request reaches a replica
                )
                assert reply.choices[0].message.content is not None
                done.append(1)
            except BaseException as exc:  # noqa: BLE001 - every failure is the test's finding
                errors.append(exc)

    threads = [threading.Thread(target=load, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 120
    while b"POST /v1/chat/completions" not in stack.replica_log.read_bytes():
        assert time.monotonic() < deadline and not errors, "the router sent nothing to the replica"
        time.sleep(0.2)
    time.sleep(0.5)  # the replica is in the middle of serving
    stack.replica.send_signal(signal.SIGKILL)
    for thread in threads:
        thread.join(600)
    assert errors == [] and len(done) == 24


def test_postgres_restart_is_survived(stack: Stack) -> None:
    headers = {"authorization": f"Bearer {stack.server.api_key}"}
    with httpx.Client(base_url=stack.server.v1, headers=headers, timeout=60) as http:
        assert http.post("/collections", json={"name": "before"}).status_code == 201
        stack.pg.pg_ctl("restart")
        listed = http.get("/collections")  # pooled connections died with the old server: re-made
        assert listed.status_code == 200 and [c["name"] for c in listed.json()["data"]] == ["before"]
        assert http.post("/collections", json={"name": "after"}).status_code == 201
    ready = httpx.get(f"{stack.server.base_url}/readyz", timeout=10).json()
    assert ready["checks"]["database"]["status"] == "ok"


def test_redis_killed_and_restarted_is_survived(stack: Stack) -> None:
    client = openai.OpenAI(base_url=stack.server.v1, api_key=stack.server.api_key, max_retries=0, timeout=300)
    stack.redis.kill()
    down = httpx.get(f"{stack.server.base_url}/readyz", timeout=10)
    assert down.status_code == 200 and down.json()["checks"]["redis"]["status"] == "down"
    reply = client.chat.completions.create(
        model="pair", messages=[{"role": "user", "content": "Hi"}], max_tokens=4, temperature=0
    )  # chat (and its cache lookups) keeps working without Redis
    assert reply.choices[0].message.content is not None
    stack.redis.start()
    deadline = time.monotonic() + 30
    while (
        httpx.get(f"{stack.server.base_url}/readyz", timeout=10).json()["checks"]["redis"]["status"] != "ok"
    ):
        assert time.monotonic() < deadline, "the API did not reconnect to Redis"
        time.sleep(0.5)
    assert "jobs" in httpx.get(f"{stack.server.base_url}/readyz", timeout=10).json()["checks"]
