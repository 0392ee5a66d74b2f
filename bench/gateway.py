"""Gateway benchmark: Hearth's /v1/chat/completions against the upstream called directly and against
LiteLLM's own proxy, interleaved in one run; then tokens/s through Hearth against the real llama.cpp engine.

Writes bench/results/gateway.json. Run with ``make bench`` or ``python -m bench.gateway``.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import yaml

from bench.loadgen import Connection, Summary, build_request, run_load
from inference import sse

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
KEY = "sk-bench-key-000000000001"
MASTER = "sk-litellm-master-0001"
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "TOKENIZERS_PARALLELISM": "false",
}
QUICK = os.environ.get("BENCH_QUICK") == "1"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(
    url: str,
    timeout: float,
    headers: dict[str, str] | None = None,
    proc: subprocess.Popen[bytes] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {proc.returncode}")
        try:
            if httpx.get(url, headers=headers, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not become ready in {timeout}s")


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args, cwd=ROOT, env={**os.environ, **OFFLINE, **env}, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def hearth_env(
    tmp: Path, models_file: Path | None, engine: bool, engine_port: int | None = None
) -> dict[str, str]:
    env = {
        "HEARTH_DATA_DIR": str(tmp / "hearth-data"),
        "HEARTH_API_KEYS": KEY,
        "HEARTH_ENGINE__ENABLED": "true" if engine else "false",
        # one engine, the 0.5B, as the published figures (the direct target is that engine)
        "HEARTH_ENGINE__MODEL": "bundled-0.5b",
        "HEARTH_SERVER__LOG_LEVEL": "warning",
        "HEARTH_ENGINE__MODELS_DIR": str(ROOT / "data" / "models"),
    }
    if models_file is not None:
        env["HEARTH_GATEWAY__MODELS_FILE"] = str(models_file)
    if engine_port is not None:
        env["HEARTH_ENGINE__PORT"] = str(engine_port)
    return env


def chat_body(model: str, stream: bool) -> bytes:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 32,
    }
    if stream:
        body["stream"] = True
    return orjson.dumps(body)


async def interleaved(targets: dict[str, bytes], url_of: dict[str, str], rounds: int) -> dict[str, Summary]:
    conns = {name: Connection(url_of[name]) for name in targets}
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in targets}
    for name, raw in targets.items():  # warm-up
        for _ in range(10):
            await conns[name].request(raw)
    for _ in range(rounds):
        for name, raw in targets.items():
            sample = await conns[name].request(raw)
            if sample.status != 200:
                raise RuntimeError(f"{name} answered {sample.status}: {sample.body[:300]!r}")
            samples[name].append((sample.latency_s * 1000, sample.ttfb_s * 1000))
    for conn in conns.values():
        await conn.close()
    return {
        name: Summary(len(s), 0, 0.0, [lat for lat, _ in s], [tt for _, tt in s])
        for name, s in samples.items()
    }


def cpu_seconds(pid: int) -> float:
    proc = psutil.Process(pid)
    total = sum(p.cpu_times().user + p.cpu_times().system for p in [proc])
    return total


async def fake_upstream_section(tmp: Path) -> dict[str, Any]:
    fake_port, hearth_port, proxy_port = free_port(), free_port(), free_port()
    fake = spawn([sys.executable, "-m", "bench.fake_upstream", str(fake_port), "32"], {}, tmp / "fake.log")
    models = {
        "model_list": [
            {
                "model_name": "fake",
                "litellm_params": {
                    "model": "openai/fake-model",
                    "api_base": f"http://127.0.0.1:{fake_port}/v1",
                    "api_key": "none",
                },
                "model_info": {"context_window": 32768, "tokenizer": "approx"},
            }
        ],
    }
    models_file = tmp / "models-bench.yaml"
    models_file.write_text(yaml.safe_dump(models))
    proxy_cfg = tmp / "litellm-proxy.yaml"
    proxy_cfg.write_text(
        yaml.safe_dump(
            {
                "model_list": [
                    {
                        "model_name": "fake",
                        "litellm_params": {
                            "model": "openai/fake-model",
                            "api_base": f"http://127.0.0.1:{fake_port}/v1",
                            "api_key": "none",
                        },
                    }
                ],
                "general_settings": {"master_key": MASTER},
                "litellm_settings": {"telemetry": False},
            }
        )
    )
    hearth = spawn(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(hearth_port)],
        hearth_env(tmp, models_file, engine=False),
        tmp / "hearth.log",
    )
    proxy = spawn(
        [
            str(Path(sys.executable).parent / "litellm"),
            "--config",
            str(proxy_cfg),
            "--port",
            str(proxy_port),
            "--host",
            "127.0.0.1",
            "--num_workers",
            "1",
        ],
        {"LITELLM_MASTER_KEY": MASTER, "DISABLE_SCHEMA_UPDATE": "true"},
        tmp / "proxy.log",
    )
    try:
        wait_http(f"http://127.0.0.1:{fake_port}/v1/models", 30, proc=fake)
        wait_http(f"http://127.0.0.1:{hearth_port}/readyz", 120, proc=hearth)
        wait_http(f"http://127.0.0.1:{proxy_port}/health/liveliness", 180, proc=proxy)
        urls = {
            "direct": f"http://127.0.0.1:{fake_port}/v1/chat/completions",
            "hearth": f"http://127.0.0.1:{hearth_port}/v1/chat/completions",
            "litellm_proxy": f"http://127.0.0.1:{proxy_port}/v1/chat/completions",
        }
        auth = {
            "direct": {},
            "hearth": {"authorization": f"Bearer {KEY}"},
            "litellm_proxy": {"authorization": f"Bearer {MASTER}"},
        }
        model = {"direct": "fake-model", "hearth": "fake", "litellm_proxy": "fake"}

        def raw(name: str, stream: bool) -> bytes:
            return build_request(urls[name], chat_body(model[name], stream), auth[name])

        rounds = 100 if QUICK else 400
        out: dict[str, Any] = {"rounds_c1": rounds}
        for stream in (False, True):
            label = "stream" if stream else "non_stream"
            summaries = await interleaved({n: raw(n, stream) for n in urls}, urls, rounds)
            out[f"c1_{label}"] = {n: s.as_dict() for n, s in summaries.items()}
            direct = summaries["direct"]
            for name in ("hearth", "litellm_proxy"):
                s = summaries[name]
                out[f"c1_{label}"][f"{name}_added_ms"] = {
                    "p50": round(s.pct(50) - direct.pct(50), 3),
                    "p95": round(s.pct(95) - direct.pct(95), 3),
                    "p99": round(s.pct(99) - direct.pct(99), 3),
                    "ttft_p50": round(s.pct(50, True) - direct.pct(50, True), 3),
                }
        duration = 3.0 if QUICK else 6.0
        pids = {"hearth": hearth.pid, "litellm_proxy": proxy.pid, "direct": fake.pid}
        for concurrency in (16, 64):
            section: dict[str, Any] = {}
            for name in ("direct", "hearth", "litellm_proxy"):
                for stream in (False, True):
                    before = _tree_cpu(pids[name])
                    summary = await run_load(
                        urls[name], raw(name, stream), concurrency=concurrency, duration_s=duration
                    )
                    used = _tree_cpu(pids[name]) - before
                    entry = summary.as_dict()
                    entry["server_cpu_ms_per_request"] = round(used * 1000 / max(summary.count, 1), 3)
                    section[f"{name}_{'stream' if stream else 'non_stream'}"] = entry
            out[f"c{concurrency}"] = section
        return out
    finally:
        for proc in (hearth, proxy, fake):
            stop(proc)


def _tree_cpu(pid: int) -> float:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


async def engine_section(tmp: Path) -> dict[str, Any]:
    """Tokens/s through Hearth against the llama.cpp engine called directly (same process, interleaved)."""
    hearth_port, engine_port = free_port(), free_port()
    hearth = spawn(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(hearth_port)],
        hearth_env(tmp, None, engine=True, engine_port=engine_port),
        tmp / "hearth-engine.log",
    )
    try:
        wait_http(f"http://127.0.0.1:{hearth_port}/readyz", 300, proc=hearth)
        targets = {
            "direct": (
                f"http://127.0.0.1:{engine_port}/v1/chat/completions",
                {},
                "qwen2.5-coder-0.5b-instruct",
            ),
            "hearth": (
                f"http://127.0.0.1:{hearth_port}/v1/chat/completions",
                {"authorization": f"Bearer {KEY}"},
                "default",
            ),
        }
        prompt = "Write a detailed, long story about a dragon who learns to cook. Use many paragraphs."
        rounds = 2 if QUICK else 5
        results: dict[str, list[dict[str, float]]] = {n: [] for n in targets}
        async with httpx.AsyncClient(timeout=300) as client:
            for url, headers, model in targets.values():  # warm-up (prompt cache, page cache)
                await _stream_tokens(client, url, headers, model, prompt)
            for i in range(rounds):
                # ABBA order, so slow drifts of the shared machine hit both paths alike
                order = list(targets) if i % 2 == 0 else list(reversed(targets))
                for name in order:
                    url, headers, model = targets[name]
                    results[name].append(await _stream_tokens(client, url, headers, model, prompt))
        summary: dict[str, Any] = {}
        for name, runs_ in results.items():
            summary[name] = {
                "gen_tokens_per_s": round(statistics.median(r["tps"] for r in runs_), 2),
                "ttft_ms": round(statistics.median(r["ttft_ms"] for r in runs_), 1),
                "tokens": statistics.median(r["tokens"] for r in runs_),
            }
        summary["ratio_gateway_over_direct"] = round(
            summary["hearth"]["gen_tokens_per_s"] / summary["direct"]["gen_tokens_per_s"], 4
        )
        return summary
    finally:
        stop(hearth)


async def _stream_tokens(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], model: str, prompt: str
) -> dict[str, float]:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": 160,
        "temperature": 0,
        "seed": 7,
        "stream": True,
    }
    started = time.perf_counter()
    first = last = None
    tokens = 0
    async with client.stream("POST", url, json=body, headers=headers) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            chunk = sse.parse_data(line)
            if chunk is None:  # not an event, or [DONE]
                continue
            if chunk.get("choices") and chunk["choices"][0].get("delta", {}).get("content"):
                now = time.perf_counter()
                first = first or now
                last = now
                tokens += 1
    assert first is not None and last is not None and tokens > 1
    return {"tps": (tokens - 1) / (last - first), "ttft_ms": (first - started) * 1000, "tokens": tokens}


def evaluate(fake: dict[str, Any], engine: dict[str, Any]) -> dict[str, Any]:
    ns = fake["c1_non_stream"]["hearth_added_ms"]
    st = fake["c1_stream"]["hearth_added_ms"]
    h16 = fake["c16"]["hearth_non_stream"]["rps"]
    p16 = fake["c16"]["litellm_proxy_non_stream"]["rps"]
    return {
        "added_latency_p50_ms<=2.5": {"value": ns["p50"], "pass": ns["p50"] <= 2.5},
        "ttft_added_non_stream_ms<=3": {"value": ns["ttft_p50"], "pass": ns["ttft_p50"] <= 3},
        "ttft_added_stream_ms<=3": {"value": st["ttft_p50"], "pass": st["ttft_p50"] <= 3},
        "rps_c16_vs_litellm_proxy>=4x": {
            "value": round(h16 / p16, 2) if p16 else None,
            "pass": bool(p16) and h16 / p16 >= 4,
        },
        "tokens_per_s_ratio>=0.97": {
            "value": engine["ratio_gateway_over_direct"],
            "pass": engine["ratio_gateway_over_direct"] >= 0.97,
        },
    }


def print_table(result: dict[str, Any]) -> None:
    fake = result["fake_upstream"]
    print("\n== gateway: c=1 latency (ms), interleaved, fake instant upstream ==")
    print(f"{'path':<26}{'p50':>9}{'p95':>9}{'p99':>9}{'ttfb p50':>10}")
    for label in ("non_stream", "stream"):
        for name in ("direct", "hearth", "litellm_proxy"):
            d = fake[f"c1_{label}"][name]
            print(
                f"{label + ' ' + name:<26}{d['p50_ms']:>9.2f}{d['p95_ms']:>9.2f}{d['p99_ms']:>9.2f}"
                f"{d['ttfb_p50_ms']:>10.2f}"
            )
        for name in ("hearth", "litellm_proxy"):
            a = fake[f"c1_{label}"][f"{name}_added_ms"]
            print(
                f"  added by {name:<16}{a['p50']:>9.2f}{a['p95']:>9.2f}{a['p99']:>9.2f}{a['ttft_p50']:>10.2f}"
            )
    for c in (16, 64):
        print(f"\n== c={c}: requests/s and server CPU ms per request ==")
        for key, d in fake[f"c{c}"].items():
            print(
                f"{key:<28}{d['rps']:>9.1f} req/s  p50 {d['p50_ms']:>8.2f} ms  "
                f"cpu {d['server_cpu_ms_per_request']:>6.2f} ms/req  errors {d['errors']}"
            )
    engine = result["real_engine"]
    print("\n== real llama.cpp engine: generation tokens/s ==")
    for name in ("direct", "hearth"):
        print(
            f"{name:<10}{engine[name]['gen_tokens_per_s']:>8.2f} tok/s  ttft {engine[name]['ttft_ms']:.0f} ms"
        )
    print(f"ratio {engine['ratio_gateway_over_direct']:.3f}")
    print("\n== targets ==")
    for name, check in result["targets"].items():
        print(f"{'PASS' if check['pass'] else 'FAIL'}  {name}: {check['value']}")


def main() -> None:
    if "--engine-only" in sys.argv:
        with tempfile.TemporaryDirectory(prefix="hearth-bench-") as tmp_name:
            print(json.dumps(asyncio.run(engine_section(Path(tmp_name))), indent=2))
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hearth-bench-") as tmp_name:
        tmp = Path(tmp_name)
        fake = asyncio.run(fake_upstream_section(tmp))
        engine = asyncio.run(engine_section(tmp))
    result = {
        "benchmark": "gateway",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "fake_upstream": fake,
        "real_engine": engine,
    }
    result["targets"] = evaluate(fake, engine)
    (RESULTS / "gateway.json").write_text(json.dumps(result, indent=2))
    print_table(result)


if __name__ == "__main__":
    main()
