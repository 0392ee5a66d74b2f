"""Load on the whole service: requests/s and p50/p95/p99 latency for a cache hit, a cache miss on the
embedded model, ``/healthz``, and a RAG query (hit and miss), at concurrency 1, 8 and 32, with the API
process's memory before and after. Writes bench/results/load.json.

A real ``hearth serve`` (test profile: embedded llama.cpp engine, SQLite, the machine's Redis or the embedded
one) with the sample manual ingested. Misses send a different body every time (a numbered question), so each
one reaches the model; they are bounded by count as well as time because each costs a generation.

    python -m bench.load [--quick]
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.gateway import KEY, RESULTS, ROOT, free_port, spawn, stop, wait_http
from bench.loadgen import build_request, rss_mb, run_load

CONCURRENCY = (1, 8, 32)


def chat(content: str, max_tokens: int = 16) -> bytes:
    return orjson.dumps(
        {
            "model": "default",
            "messages": [{"role": "user", "content": content}],
            "max_tokens": max_tokens,
            "temperature": 0,
        }
    )


def scenarios(base: str) -> dict[str, tuple[str, bytes | Callable[[int], bytes], str]]:
    auth = {"authorization": f"Bearer {KEY}"}
    chat_url = f"{base}/v1/chat/completions"
    rag_url = f"{base}/v1/collections/manual/query"

    def rag(question: str) -> bytes:
        return build_request(rag_url, orjson.dumps({"question": question}), auth)

    return {
        "healthz": (f"{base}/healthz", build_request(f"{base}/healthz", b"", method="GET"), "fast"),
        "chat_cache_hit": (chat_url, build_request(chat_url, chat("Say hello."), auth), "fast"),
        "chat_cache_miss": (
            chat_url,
            lambda n: build_request(chat_url, chat(f"Say the number {time.time_ns()}-{n}."), auth),
            "slow",
        ),
        "rag_cache_hit": (rag_url, rag("How many days of annual leave do I get?"), "fast"),
        "rag_cache_miss": (
            rag_url,
            lambda n: rag(f"How many days of annual leave do I get? (request {time.time_ns()}-{n})"),
            "slow",
        ),
    }


async def measure(base: str, pid: int, quick: bool) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, (url, raw, speed) in scenarios(base).items():
        results[name] = {}
        for concurrency in CONCURRENCY:
            before = rss_mb(pid)
            if speed == "fast":
                summary = await run_load(url, raw, concurrency=concurrency, duration_s=2 if quick else 5)
            else:  # every request is a generation: bound by count too
                summary = await run_load(
                    url,
                    raw,
                    concurrency=concurrency,
                    duration_s=20 if quick else 60,
                    warmup=0,
                    max_requests=max(4, concurrency * 2) if quick else max(8, concurrency * 3),
                )
            results[name][f"c{concurrency}"] = {
                **summary.as_dict(),
                "rss_mb_before": before,
                "rss_mb_after": rss_mb(pid),
            }
            print(f"  {name:16} c={concurrency:<3} {results[name][f'c{concurrency}']}", flush=True)
    return results


def prepare(base: str) -> None:
    headers = {"authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=f"{base}/v1", headers=headers, timeout=600) as http:
        http.post("/collections", json={"name": "manual"})
        for path in sorted((ROOT / "examples" / "manual").glob("*")):
            if path.is_file() and path.name != "README.md":
                response = http.post(
                    "/collections/manual/documents", files={"file": (path.name, path.read_bytes())}
                )
                response.raise_for_status()
        for body in (chat("Say hello."),):  # fill the cache the hit scenarios read
            http.post("/chat/completions", content=body, headers={"content-type": "application/json"})
        http.post("/collections/manual/query", json={"question": "How many days of annual leave do I get?"})


def main() -> None:
    quick = "--quick" in sys.argv
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hearth-load-") as tmp_name:
        tmp = Path(tmp_name)
        port = free_port()
        env = {
            "HEARTH_PROFILES": "test",
            "HEARTH_DATA_DIR": str(tmp / "data"),
            "HEARTH_API_KEYS": KEY,
            "HEARTH_SERVER__LOG_LEVEL": "warning",
            "HEARTH_SERVER__LOG_BODIES": "false",
            "HEARTH_ENGINE__PORT": str(free_port()),
            # one engine, the 0.5B (`default` is then that model), as the published figures
            "HEARTH_ENGINE__MODEL": "bundled-0.5b",
            "HEARTH_ENGINE__MODELS_DIR": str(ROOT / "data" / "models"),
            "HEARTH_LIMITS__ENABLED": "false",
        }
        server = spawn(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port)], env, tmp / "server.log"
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_http(f"{base}/readyz", 300, proc=server)
            prepare(base)
            start_rss = rss_mb(server.pid)
            results = asyncio.run(measure(base, server.pid, quick))
            end_rss = rss_mb(server.pid)
        finally:
            stop(server)
    result = {
        "benchmark": "load",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "quick": quick,
        "api_rss_mb": {"after_setup": start_rss, "at_end": end_rss},
        "scenarios": results,
    }
    (RESULTS / "load.json").write_text(json.dumps(result, indent=2))
    print_table(result)


def print_table(result: dict[str, Any]) -> None:
    print("\nscenario          conc    req/s    p50 ms    p95 ms    p99 ms  errors")
    for name, by_conc in result["scenarios"].items():
        for conc, row in by_conc.items():
            print(
                f"{name:16} {conc:>5} {row['rps']:>8} {row['p50_ms']:>9} {row['p95_ms']:>9} "
                f"{row['p99_ms']:>9} {row['errors']:>7}"
            )
    rss = result["api_rss_mb"]
    print(f"API process RSS: {rss['after_setup']} MB after setup, {rss['at_end']} MB at the end")


if __name__ == "__main__":
    main()
