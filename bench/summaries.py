"""PDF summaries: extraction speed, and end-to-end seconds per page on the embedded model against the
engine's own speed on the same tokens.

For each page count (``--pages 50,300``) a synthetic report PDF (``--words`` words a page, no outline, so
sections are page ranges) is written with PyMuPDF, then:

* extraction: ``load_document`` + ``read_outline`` in this process (best of 3) → pages/s;
* end to end: ``POST /v1/summaries`` to a real ``hearth serve`` (default embedded profile, n_ctx 8192) →
  seconds, seconds per page, the model calls' summed usage and the number of sections;
* the engine alone: the same document text, cut into the same chunk size (``chunk_context_share`` of the
  context), sent straight to llama.cpp's server with ``max_tokens=1`` (a nonce first, so no prompt cache
  helps) → prompt-processing tokens/s; and generation tokens/s, without and with a JSON-schema grammar.

``ratio_e2e_over_prompt_processing`` = end-to-end time / the engine reading the document once: what
chunking, the map summaries' generation and the reduce step cost on top of reading it.
``ratio_e2e_over_engine_time`` = end-to-end time / (summed prompt tokens at the measured prompt speed +
summed completion tokens at the measured grammar generation speed): ~1 means Hearth's orchestration adds
next to nothing beyond the model's own work. ``python -m bench.summaries [--pages 50,300] [--words 150]``;
results to bench/results/summaries.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.gateway import free_port, spawn, stop, wait_http
from configs.settings import SummarySettings

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
KEY = "sk-bench-summaries-0001"
N_CTX = 8192
SERVED = "qwen2.5-coder-0.5b-instruct"
TOPICS = [
    ("harbour", "container ships", "cranes"),
    ("railway", "freight trains", "signals"),
    ("airport", "cargo flights", "runways"),
    ("warehouse", "pallets", "forklifts"),
    ("customs", "declarations", "scanners"),
    ("fleet", "delivery vans", "tyres"),
]
PEOPLE = ["Dana Whitfield", "Omar Haddad", "Lena Vogel", "Kenji Mori", "Ana Souza", "Tom Becker"]


def page_text(number: int, words: int) -> str:
    place, unit, gear = TOPICS[number % len(TOPICS)]
    person = PEOPLE[(number * 5) % len(PEOPLE)]
    sentences = [
        f"Chapter {number} reviews the {place} division during week {number % 52 + 1}.",
        f"The division handled {200 + number * 13 % 700} {unit} and missed {number % 7} deadlines.",
        f"{person} reported that {number % 5 + 1} of the {gear} needed repairs costing "
        f"{(number * 37) % 90 + 10} thousand euros.",
        f"Staff turnover was {number % 11 + 2} percent, and {number % 4 + 1} new teams were trained.",
        f"The risk committee rated the {place} outlook as "
        f"{['stable', 'improving', 'uncertain', 'weak'][number % 4]} for the coming quarter.",
        f"Energy use fell by {number % 6 + 1} percent after the {gear} were replaced with newer models.",
        f"Customers filed {number % 30 + 3} complaints, most about delays caused by {gear} failures.",
    ]
    out: list[str] = []
    while sum(len(s.split()) for s in out) < words:
        out.append(sentences[len(out) % len(sentences)])
    return " ".join(out)


def make_pdf(pages: int, words: int) -> bytes:
    import textwrap

    import pymupdf

    pdf = pymupdf.open()
    for number in range(1, pages + 1):
        page = pdf.new_page()
        y = 60.0
        for line in textwrap.wrap(page_text(number, words), width=95):
            page.insert_text((40, y), line, fontname="helv", fontsize=9)
            y += 12
    return pdf.tobytes()


def extraction(data: bytes) -> dict[str, Any]:
    from indexing.loaders import load_document
    from indexing.mapreduce import read_outline

    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        loaded = load_document(data, "bench.pdf", max_bytes=len(data) + 1)
        read_outline(data)
        best = min(best, time.perf_counter() - started)
    return {"s": round(best, 3), "pages_per_s": round(loaded.pages / best, 1), "pages": loaded.pages}


def engine_alone(engine_url: str, data: bytes, model_path: Path) -> dict[str, Any]:
    """The engine reading the same text in the same chunk size, and generating with and without a grammar."""
    from indexing.loaders import load_document
    from indexing.mapreduce import Page, chunk_pages
    from inference.tokens import GGUFTokenCounter

    counter = GGUFTokenCounter(model_path)
    loaded = load_document(data, "bench.pdf", max_bytes=len(data) + 1)
    pages = [Page(int(d.metadata["page"]), d.text) for d in loaded.documents]
    budget = int(N_CTX * SummarySettings().chunk_context_share)
    chunks = chunk_pages(pages, budget, counter.count_text)
    prompt_tokens = 0
    started = time.perf_counter()
    with httpx.Client(base_url=engine_url, timeout=1800) as client:
        for chunk in chunks:
            body = {
                "model": SERVED,
                "messages": [{"role": "user", "content": f"[{uuid.uuid4().hex}]\n{chunk.text}"}],
                "max_tokens": 1,
                "temperature": 0,
            }
            response = client.post("/chat/completions", json=body)
            response.raise_for_status()
            prompt_tokens += int(response.json()["usage"]["prompt_tokens"])
        prompt_s = time.perf_counter() - started
        generation = {
            name: _generate(client, grammar) for name, grammar in (("plain", False), ("json", True))
        }
    return {
        "chunks": len(chunks),
        "chunk_budget_tokens": budget,
        "prompt_tokens": prompt_tokens,
        "prompt_s": round(prompt_s, 2),
        "prompt_tokens_per_s": round(prompt_tokens / prompt_s, 1),
        "gen_tokens_per_s": generation["plain"],
        "gen_json_tokens_per_s": generation["json"],
    }


def _generate(client: httpx.Client, grammar: bool) -> float:
    body: dict[str, Any] = {
        "model": SERVED,
        "messages": [{"role": "user", "content": f"[{uuid.uuid4().hex}] Describe a busy harbour in detail."}],
        "max_tokens": 160,
        "temperature": 0,
    }
    if grammar:
        schema = {
            "type": "object",
            "properties": {
                "summary": {"type": "string"},
                "key_points": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["summary", "key_points"],
        }
        body["response_format"] = {"type": "json_object", "schema": schema}
    started = time.perf_counter()
    response = client.post("/chat/completions", json=body)
    response.raise_for_status()
    elapsed = time.perf_counter() - started
    return round(int(response.json()["usage"]["completion_tokens"]) / elapsed, 2)


def end_to_end(base_url: str, data: bytes, pages: int) -> dict[str, Any]:
    started = time.perf_counter()
    response = httpx.post(
        f"{base_url}/v1/summaries",
        files={"file": (f"report-{pages}p.pdf", data)},
        headers={"authorization": f"Bearer {KEY}"},
        timeout=7200,
    )
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    body = response.json()
    return {
        "s": round(elapsed, 1),
        "s_per_page": round(elapsed / pages, 3),
        "sections": len(body["sections"]),
        "usage": body["usage"],
        "summary_words": len(body["summary"].split()),
        "language": body["language"],
    }


def run_case(base_url: str, engine_url: str, model_path: Path, pages: int, words: int) -> dict[str, Any]:
    data = make_pdf(pages, words)
    print(f"{pages} pages ({len(data) / 1024:.0f} KB): extraction ...", flush=True)
    extracted = extraction(data)
    print(f"{pages} pages: end to end through POST /v1/summaries ...", flush=True)
    e2e = end_to_end(base_url, data, pages)
    print(f"{pages} pages: the engine alone on the same text ...", flush=True)
    engine = engine_alone(engine_url, data, model_path)
    usage = e2e["usage"]
    engine_s = (
        usage["prompt_tokens"] / engine["prompt_tokens_per_s"]
        + usage["completion_tokens"] / engine["gen_json_tokens_per_s"]
    )
    return {
        "pages": pages,
        "words_per_page": words,
        "extraction": extracted,
        "end_to_end": e2e,
        "engine": engine,
        "ratio_e2e_over_prompt_processing": round(e2e["s"] / engine["prompt_s"], 2),
        "engine_time_estimate_s": round(engine_s, 1),
        "ratio_e2e_over_engine_time": round(e2e["s"] / engine_s, 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.summaries")
    parser.add_argument("--pages", default="50,300", help="comma-separated page counts (default 50,300)")
    parser.add_argument("--words", type=int, default=150, help="words per page (default 150)")
    args = parser.parse_args(argv if argv is not None else [])
    from inference.model_store import resolve_model_path

    models_dir = ROOT / "data" / "models"
    model_path = resolve_model_path("bundled-0.5b", models_dir)
    load_before = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="hearth-bench-") as tmp_name:
        tmp = Path(tmp_name)
        port, engine_port = free_port(), free_port()
        env = {
            "HEARTH_DATA_DIR": str(tmp / "data"),
            "HEARTH_API_KEYS": KEY,
            "HEARTH_ENGINE__PORT": str(engine_port),
            # one engine, the 0.5B (`default` is then that model), as the published figures
            "HEARTH_ENGINE__MODEL": "bundled-0.5b",
            "HEARTH_ENGINE__N_CTX": str(N_CTX),
            "HEARTH_ENGINE__MODELS_DIR": str(models_dir),
            "HEARTH_SERVER__LOG_LEVEL": "warning",
            "HEARTH_GATEWAY__REQUEST_TIMEOUT_S": "1800",
        }
        server = spawn(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port)], env, tmp / "server.log"
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/readyz", 300, proc=server)
            runs = [
                run_case(
                    f"http://127.0.0.1:{port}",
                    f"http://127.0.0.1:{engine_port}/v1",
                    model_path,
                    n,
                    args.words,
                )
                for n in (int(p) for p in args.pages.split(","))
            ]
        finally:
            stop(server)
    results = {
        "benchmark": "summaries",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "note": (
            f"synthetic English report PDFs, {args.words} words a page, no outline; embedded "
            f"Qwen2.5-Coder-0.5B Q4_K_M, n_ctx {N_CTX}, default summary settings (max_words 250)"
        ),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_1m_before": load_before,
            "load_average_1m_after": round(os.getloadavg()[0], 2),
        },
        "runs": runs,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "summaries.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print_table(results)


def print_table(results: dict[str, Any]) -> None:
    print(f"\nPDF summaries ({results['note']})")
    header = (
        f"{'pages':>6}{'extract p/s':>12}{'e2e s':>8}{'s/page':>8}{'calls tok in/out':>18}{'sections':>9}"
        f"{'pp tok/s':>9}{'gen tok/s':>10}{'e2e/pp':>8}{'e2e/engine':>11}"
    )
    print(header)
    print("-" * len(header))
    for run in results["runs"]:
        e2e, engine, usage = run["end_to_end"], run["engine"], run["end_to_end"]["usage"]
        tokens = f"{usage['prompt_tokens']}/{usage['completion_tokens']}"
        print(
            f"{run['pages']:>6}{run['extraction']['pages_per_s']:>12.0f}{e2e['s']:>8.0f}{e2e['s_per_page']:>8.2f}"
            f"{tokens:>18}{e2e['sections']:>9}{engine['prompt_tokens_per_s']:>9.0f}"
            f"{engine['gen_json_tokens_per_s']:>10.1f}{run['ratio_e2e_over_prompt_processing']:>8.2f}"
            f"{run['ratio_e2e_over_engine_time']:>11.2f}"
        )
    print(
        "e2e/pp = end-to-end time over the engine reading the same text once (max_tokens=1, same chunk "
        "size); e2e/engine = over the model time the summed usage implies at the measured speeds "
        "(1 = no overhead)"
    )
    machine = results["machine"]
    print(
        f"load average {machine['load_average_1m_before']} → {machine['load_average_1m_after']} "
        f"on {machine['cpus']} CPUs"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
