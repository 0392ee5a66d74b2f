"""Summaries: what they say (quality checks on documents whose sections are known) and what they cost
(seconds per page at 12, 50 and 300 pages), on the embedded default model.

Quality: the guides under ``examples/`` (the Korean 연말정산 guide, the English and Korean staff handbooks)
typeset as PDFs with no outline (``bench/documents.py``), each through ``POST /v1/summaries`` to a real
``hearth serve``, each result checked by :func:`indexing.summary_quality.check_summary`: unsupported
numbers, duplicate key points, fragments, copy rate (share of words in long verbatim runs of the source),
coverage of the ``##`` sections, output language. Targets in ``TARGETS``.

Speed: for each page count (``--pages 12,50,300``) a synthetic report PDF (``--words`` words a page, no
outline, so sections are page ranges) is written with PyMuPDF, then:

* extraction: ``load_document`` + ``read_outline`` in this process (best of 3) → pages/s;
* end to end: ``POST /v1/summaries`` → seconds, seconds per page, the model calls' summed usage, the
  number of sections, and the same checks (no sections known);
* the engine alone (up to ``--engine-pages`` pages): the same document text, cut into the same chunk
  size, sent straight to the model's llama.cpp server with ``max_tokens=1`` (a nonce first, so no prompt
  cache helps) → prompt-processing tokens/s; and generation tokens/s, without and with a JSON-schema grammar.

``ratio_e2e_over_engine_time`` = end-to-end time / (summed prompt tokens at the measured prompt speed +
summed completion tokens at the measured grammar generation speed): ~1 means Hearth's orchestration adds
next to nothing beyond the model's own work. ``python -m bench.summaries [--pages 12,50,300] [--words 150]
[--model 1.5b|0.5b] [--no-quality]``; results to bench/results/summaries.json (summaries-0.5b.json for the
0.5B).
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

from bench.documents import known_documents
from bench.gateway import free_port, spawn, stop, wait_http
from configs.settings import SummarySettings
from indexing.summary_quality import check_summary

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
KEY = "sk-bench-summaries-0001"
N_CTX = 8192
MODELS = {
    "1.5b": ("bundled-1.5b", "qwen2.5-coder-1.5b-instruct"),
    "0.5b": ("bundled-0.5b", "qwen2.5-coder-0.5b-instruct"),
}
BASELINE_50_PAGES_S = 112.7  # the 0.5B's 50 pages before this benchmark checked quality (2026-11-24)
TARGETS = {
    "unsupported_numbers_max": 0,
    "duplicate_points_max": 0,
    "copy_rate_max": 0.30,
    "coverage_min": 0.80,
    "s_50_pages_max": round(1.5 * BASELINE_50_PAGES_S, 1),
}
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


def engine_alone(engine_url: str, served: str, data: bytes, model_path: Path) -> dict[str, Any]:
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
                "model": served,
                "messages": [{"role": "user", "content": f"[{uuid.uuid4().hex}]\n{chunk.text}"}],
                "max_tokens": 1,
                "temperature": 0,
            }
            response = client.post("/chat/completions", json=body)
            response.raise_for_status()
            prompt_tokens += int(response.json()["usage"]["prompt_tokens"])
        prompt_s = time.perf_counter() - started
        generation = {
            name: _generate(client, served, grammar) for name, grammar in (("plain", False), ("json", True))
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


def _generate(client: httpx.Client, served: str, grammar: bool) -> float:
    body: dict[str, Any] = {
        "model": served,
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


def post(base_url: str, name: str, data: bytes) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    response = httpx.post(
        f"{base_url}/v1/summaries",
        files={"file": (name, data)},
        headers={"authorization": f"Bearer {KEY}"},
        timeout=7200,
    )
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, response.json()


def quality(base_url: str) -> list[dict[str, Any]]:
    rows = []
    for doc in known_documents():
        print(f"{doc.name}: POST /v1/summaries ...", flush=True)
        elapsed, body = post(base_url, doc.name, doc.pdf())
        checks = check_summary(body, doc.markdown, doc.headings)
        rows.append(
            {
                "document": doc.name,
                "language_expected": doc.language,
                "pages": body["pages"],
                "s": round(elapsed, 1),
                "s_per_page": round(elapsed / body["pages"], 2),
                "sections_known": len(doc.headings),
                **checks.as_dict(),
                "language_ok": checks.language_ok and body["language"] == doc.language,
                "result": {k: body[k] for k in ("title", "summary", "key_points", "sections")},
            }
        )
        print(
            f"  {elapsed:.0f} s, coverage {checks.coverage:.0%}, copy {checks.copy_rate:.0%}, "
            f"unsupported {checks.unsupported_numbers}, duplicates {len(checks.duplicate_points)}, "
            f"fragments {len(checks.fragments)}, language {'ok' if rows[-1]['language_ok'] else 'WRONG'}",
            flush=True,
        )
    return rows


def end_to_end(base_url: str, data: bytes, pages: int) -> dict[str, Any]:
    from indexing.loaders import load_document

    elapsed, body = post(base_url, f"report-{pages}p.pdf", data)
    source = load_document(data, "bench.pdf", max_bytes=len(data) + 1).text
    return {
        "s": round(elapsed, 1),
        "s_per_page": round(elapsed / pages, 3),
        "sections": len(body["sections"]),
        "usage": body["usage"],
        "summary_words": len(body["summary"].split()),
        "language": body["language"],
        "checks": check_summary(body, source).as_dict(),
    }


def run_case(
    base_url: str, engine_url: str, served: str, model_path: Path, pages: int, words: int, engine_pages: int
) -> dict[str, Any]:
    data = make_pdf(pages, words)
    print(f"{pages} pages ({len(data) / 1024:.0f} KB): extraction ...", flush=True)
    extracted = extraction(data)
    print(f"{pages} pages: end to end through POST /v1/summaries ...", flush=True)
    e2e = end_to_end(base_url, data, pages)
    print(f"  {e2e['s']:.0f} s ({e2e['s_per_page']:.2f} s a page)", flush=True)
    out: dict[str, Any] = {
        "pages": pages,
        "words_per_page": words,
        "extraction": extracted,
        "end_to_end": e2e,
    }
    if pages > engine_pages:
        return out
    print(f"{pages} pages: the engine alone on the same text ...", flush=True)
    engine = engine_alone(engine_url, served, data, model_path)
    usage = e2e["usage"]
    engine_s = (
        usage["prompt_tokens"] / engine["prompt_tokens_per_s"]
        + usage["completion_tokens"] / engine["gen_json_tokens_per_s"]
    )
    return {
        **out,
        "engine": engine,
        "ratio_e2e_over_prompt_processing": round(e2e["s"] / engine["prompt_s"], 2),
        "engine_time_estimate_s": round(engine_s, 1),
        "ratio_e2e_over_engine_time": round(e2e["s"] / engine_s, 3),
    }


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    covered = [row["coverage"] for row in rows if row["coverage"] is not None]
    return {
        "documents": len(rows),
        "unsupported_numbers": sum(len(row["unsupported_numbers"]) for row in rows),
        "duplicate_points": sum(len(row["duplicate_points"]) for row in rows),
        "fragments": sum(len(row["fragments"]) for row in rows),
        "copy_rate_max": max((row["copy_rate"] for row in rows), default=None),
        "copy_rate_mean": round(sum(row["copy_rate"] for row in rows) / len(rows), 3) if rows else None,
        "coverage_min": min(covered, default=None),
        "coverage_mean": round(sum(covered) / len(covered), 3) if covered else None,
        "language_right": sum(row["language_ok"] for row in rows),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.summaries")
    parser.add_argument(
        "--pages", default="12,50,300", help="comma-separated page counts (default 12,50,300)"
    )
    parser.add_argument("--words", type=int, default=150, help="words per page (default 150)")
    parser.add_argument("--model", choices=sorted(MODELS), default="1.5b", help="default: 1.5b, as served")
    parser.add_argument(
        "--engine-pages", type=int, default=50, help="engine-alone runs up to this many pages"
    )
    parser.add_argument("--no-quality", action="store_true", help="skip the known documents")
    args = parser.parse_args(argv if argv is not None else [])
    from inference.model_store import resolve_model_path

    bundled, served = MODELS[args.model]
    models_dir = ROOT / "data" / "models"
    model_path = resolve_model_path(bundled, models_dir)
    load_before = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="hearth-bench-") as tmp_name:
        tmp = Path(tmp_name)
        port, engine_port = free_port(), free_port()
        env = {
            "HEARTH_DATA_DIR": str(tmp / "data"),
            "HEARTH_API_KEYS": KEY,
            # the default embedded profile: the 1.5B on engine_port, the 0.5B on the next port
            "HEARTH_ENGINE__PORT": str(engine_port),
            "HEARTH_ENGINE__N_CTX": str(N_CTX),
            "HEARTH_ENGINE__MODELS_DIR": str(models_dir),
            "HEARTH_SUMMARIES__MODEL": served,
            "HEARTH_REDIS__URL": "redis://127.0.0.1:1/0",  # the embedded redis-server: nothing shared
            "HEARTH_WORKERS__EMBEDDED": "0",
            "HEARTH_SCHEDULER__EMBEDDED": "false",
            "HEARTH_SERVER__LOG_LEVEL": "warning",
            "HEARTH_GATEWAY__REQUEST_TIMEOUT_S": "1800",
        }
        engine_url = f"http://127.0.0.1:{engine_port + (1 if args.model == '0.5b' else 0)}/v1"
        server = spawn(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port)], env, tmp / "server.log"
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_http(f"{base_url}/readyz", 300, proc=server)
            documents = [] if args.no_quality else quality(base_url)
            runs = [
                run_case(base_url, engine_url, served, model_path, n, args.words, args.engine_pages)
                for n in (int(p) for p in args.pages.split(",") if p)
            ]
        finally:
            stop(server)
    summary = aggregate(documents) if documents else {}
    fifty = next((run["end_to_end"]["s"] for run in runs if run["pages"] == 50), None)
    verdict = {}
    if summary:
        verdict = {
            "unsupported_numbers": summary["unsupported_numbers"] <= TARGETS["unsupported_numbers_max"],
            "duplicate_points": summary["duplicate_points"] <= TARGETS["duplicate_points_max"],
            "copy_rate": summary["copy_rate_max"] <= TARGETS["copy_rate_max"],
            "coverage": summary["coverage_min"] >= TARGETS["coverage_min"],
            "language": summary["language_right"] == summary["documents"],
        }
    if fifty is not None:
        verdict["s_50_pages"] = fifty <= TARGETS["s_50_pages_max"]
    results = {
        "benchmark": "summaries",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "note": (
            f"embedded {served} Q4_K_M, n_ctx {N_CTX}, default summary settings (max_words 250); quality: "
            f"examples/ guides typeset as PDFs (bench/documents.py); speed: synthetic English report PDFs, "
            f"{args.words} words a page, no outline"
        ),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "avx512": "avx512f" in Path("/proc/cpuinfo").read_text()
            if Path("/proc/cpuinfo").exists()
            else None,
            "load_average_1m_before": load_before,
            "load_average_1m_after": round(os.getloadavg()[0], 2),
        },
        "targets": TARGETS,
        "verdict": verdict,
        "quality": summary,
        "documents": documents,
        "runs": runs,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / ("summaries.json" if args.model == "1.5b" else f"summaries-{args.model}.json")
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
        e2e, usage = run["end_to_end"], run["end_to_end"]["usage"]
        tokens = f"{usage['prompt_tokens']}/{usage['completion_tokens']}"
        line = (
            f"{run['pages']:>6}{run['extraction']['pages_per_s']:>12.0f}{e2e['s']:>8.0f}{e2e['s_per_page']:>8.2f}"
            f"{tokens:>18}{e2e['sections']:>9}"
        )
        if "engine" in run:
            engine = run["engine"]
            line += (
                f"{engine['prompt_tokens_per_s']:>9.0f}{engine['gen_json_tokens_per_s']:>10.1f}"
                f"{run['ratio_e2e_over_prompt_processing']:>8.2f}{run['ratio_e2e_over_engine_time']:>11.2f}"
            )
        print(line)
    print(
        "e2e/pp = end-to-end time over the engine reading the same text once (max_tokens=1, same chunk "
        "size); e2e/engine = over the model time the summed usage implies at the measured speeds "
        "(1 = no overhead)"
    )
    if results["quality"]:
        print(f"\nquality, known documents: {json.dumps(results['quality'])}")
        for row in results["documents"]:
            print(
                f"  {row['document']:22s} {row['s']:>6.0f} s  coverage {row['coverage']:.0%}  "
                f"copy {row['copy_rate']:.0%}  unsupported {len(row['unsupported_numbers'])}  "
                f"duplicates {len(row['duplicate_points'])}  fragments {len(row['fragments'])}  "
                f"language {'ok' if row['language_ok'] else 'WRONG'}"
            )
    print(f"verdict: {json.dumps(results['verdict'])}")
    machine = results["machine"]
    print(
        f"load average {machine['load_average_1m_before']} → {machine['load_average_1m_after']} "
        f"on {machine['cpus']} CPUs"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
