"""RAG answer quality, per model and prompt version, through a real ``hearth serve``.

For each configuration (``--configs``; the model behind ``default`` and the collections' answer prompt):

* Hearth's own sets, ``examples/tax/questions.jsonl`` on ``examples/tax`` and
  ``examples/manual/questions.jsonl`` on ``examples/manual`` (Korean and English, cross-lingual and
  unanswerable questions): every figure of ``hearth eval`` (fact accuracy with number boundaries, refusals,
  false refusals, leaks, unsupported numbers, retrieval hit@k, latency p50/p95), by ``indexing.evaluation``;
* AutoRAG-ko (``../shared/eval/autorag_ko``: 720 OCR'd pages, long reference answers), ``--autorag N``
  questions spread over the set: key-figure recall (the share of the reference answer's numbers that the
  answer states, over questions whose reference has numbers), the unsupported-number rate and hit@k of the
  gold page;
* time to first token of streamed answers (``--stream N`` questions of the tax set).

The corpora are indexed once (one data dir for all configurations; each configuration restarts the server
with its own settings, the response cache off so every answer is written). ``python -m bench.answers
[--configs 1.5b-v2,0.5b-v2,1.5b-v1] [--autorag 40] [--stream 5]``; results to bench/results/answers.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from api.hearthignore import walk_documents
from bench.gateway import free_port, spawn, stop, wait_http
from indexing.evaluation.dataset import ExpectedDocument, Question, load_questions
from indexing.evaluation.metrics import QuestionScore, percentile
from indexing.evaluation.report import summarise
from indexing.evaluation.runner import Target, evaluate_at
from indexing.numbers import contains_number_phrase, numbers_in
from inference import sse

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
AUTORAG = ROOT.parent / "shared" / "eval" / "autorag_ko"
KEY = "sk-bench-answers-0001"
SETS = {"tax": "tax", "manual": "manual"}  # examples/<folder> -> collection
CONFIGS: dict[str, dict[str, str]] = {
    "1.5b-v2": {"HEARTH_ENGINE__LARGE": "true", "HEARTH_RETRIEVAL__PROMPT_VERSION": "v2"},
    "0.5b-v2": {"HEARTH_ENGINE__LARGE": "false", "HEARTH_RETRIEVAL__PROMPT_VERSION": "v2"},
    "1.5b-v1": {"HEARTH_ENGINE__LARGE": "true", "HEARTH_RETRIEVAL__PROMPT_VERSION": "v1"},
}
# the targets of issue 10, for the own sets and AutoRAG-ko
TARGETS = {
    "facts_correct": 0.90,
    "refusals_correct": 0.90,
    "false_refusals_max": 0.05,
    "autorag_unsupported_max": 0.02,
    "latency_p50_s": 6.0,
    "latency_p95_s": 12.0,
}


def corpus_files(folder: Path) -> list[Path]:
    """The documents of a sample folder: what ``hearth ingest`` takes (its .hearthignore applied)."""
    return walk_documents(folder, {".md", ".pdf", ".txt", ".docx", ".html"})[0]


def index(client: httpx.Client, collection: str, files: list[tuple[str, bytes]]) -> None:
    if client.get(f"/v1/collections/{collection}").status_code == 200:
        return
    client.post("/v1/collections", json={"name": collection}).raise_for_status()
    for name, data in files:
        response = client.post(
            f"/v1/collections/{collection}/documents", files={"file": (name, data)}, timeout=600
        )
        response.raise_for_status()


def autorag_questions(count: int) -> tuple[list[Question], dict[str, str]]:
    """``count`` AutoRAG-ko questions spread evenly over the set, and each one's reference answer."""
    queries = [json.loads(line) for line in (AUTORAG / "queries.jsonl").read_text("utf-8").splitlines()]
    answers = {
        row["query_id"]: row["answers"][0]
        for row in map(json.loads, (AUTORAG / "answers.jsonl").read_text("utf-8").splitlines())
    }
    gold: dict[str, str] = {}
    for line in (AUTORAG / "qrels.tsv").read_text("utf-8").splitlines()[1:]:
        query, doc, _ = line.split("\t")
        gold.setdefault(query, doc)
    step = max(1, len(queries) // max(1, count))
    chosen = queries[::step][:count]
    questions = [
        Question(
            id=q["_id"],
            question=q["text"],
            expected=[ExpectedDocument(document=_doc_name(gold[q["_id"]]))] if q["_id"] in gold else [],
            language="ko",
        )
        for q in chosen
    ]
    return questions, {q["_id"]: answers.get(q["_id"], "") for q in chosen}


def _doc_name(corpus_id: str) -> str:
    return corpus_id.replace("/", "_") + ".txt"


def key_figure_recall(scores: list[QuestionScore], references: dict[str, str]) -> dict[str, Any]:
    recalls = []
    for score in scores:
        figures = list(dict.fromkeys(numbers_in(references.get(score.question.id, ""))))
        if not figures or not score.ok:
            continue
        found = sum(contains_number_phrase(score.reply.answer, figure) for figure in figures)
        recalls.append(found / len(figures))
    return {
        "questions_with_figures": len(recalls),
        "key_figure_recall": round(sum(recalls) / len(recalls), 4) if recalls else None,
    }


async def first_token_s(url: str, collection: str, questions: list[Question]) -> dict[str, Any]:
    waits: list[float] = []
    async with httpx.AsyncClient(
        base_url=url, headers={"authorization": f"Bearer {KEY}"}, timeout=600
    ) as client:
        for question in questions:
            started = time.perf_counter()
            async with client.stream(
                "POST",
                f"/v1/collections/{collection}/query",
                json={"question": question.question, "stream": True},
            ) as response:
                async for payload in sse.iter_events(response.aiter_bytes()):
                    if payload.get("type") == "delta":
                        waits.append(time.perf_counter() - started)
                        break
    return {"n": len(waits), "p50": _r(percentile(waits, 50)), "max": _r(max(waits, default=None))}


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def run_config(name: str, data_dir: Path, args: argparse.Namespace, log: Path) -> dict[str, Any]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "HEARTH_DATA_DIR": str(data_dir),
        "HEARTH_API_KEYS": KEY,
        "HEARTH_ENGINE__MODELS_DIR": str(ROOT / "data" / "models"),
        "HEARTH_ENGINE__PORT": str(free_port()),
        "HEARTH_CACHE__ENABLED": "false",
        "HEARTH_REDIS__URL": "redis://127.0.0.1:1/0",  # the embedded redis-server: nothing shared
        "HEARTH_WORKERS__EMBEDDED": "0",
        "HEARTH_SCHEDULER__EMBEDDED": "false",
        "HEARTH_SERVER__LOG_LEVEL": "warning",
        **CONFIGS[name],
    }
    proc = spawn([sys.executable, "-m", "api.cli", "serve", "--port", str(port)], env, log)
    try:
        wait_http(f"{url}/readyz", 300, proc=proc)
        with httpx.Client(base_url=url, headers={"authorization": f"Bearer {KEY}"}, timeout=600) as client:
            started = time.perf_counter()
            for folder, collection in SETS.items():
                files = [(p.name, p.read_bytes()) for p in corpus_files(ROOT / "examples" / folder)]
                index(client, collection, files)
            if args.autorag:
                rows = [
                    json.loads(line) for line in (AUTORAG / "corpus.jsonl").read_text("utf-8").splitlines()
                ]
                index(client, "autorag-ko", [(_doc_name(r["_id"]), r["text"].encode()) for r in rows])
            indexing_s = time.perf_counter() - started
        result: dict[str, Any] = {"config": name, "env": CONFIGS[name], "indexing_s": round(indexing_s, 1)}
        own: list[QuestionScore] = []
        for folder, collection in SETS.items():
            questions = load_questions(ROOT / "examples" / folder / "questions.jsonl")
            scores = asyncio.run(evaluate_at(url, KEY, Target("collection", collection), questions))
            result[folder] = summarise(scores)
            own += scores
        result["own_sets"] = summarise(own)
        result["own_failures"] = [_failure(s) for s in own if _failed(s)]
        if args.autorag:
            questions, references = autorag_questions(args.autorag)
            scores = asyncio.run(
                evaluate_at(url, KEY, Target("collection", "autorag-ko"), questions, top_k=10)
            )
            result["autorag_ko"] = {**summarise(scores, k=10), **key_figure_recall(scores, references)}
        if args.stream:
            tax = load_questions(ROOT / "examples" / "tax" / "questions.jsonl")
            answerable = [q for q in tax if not q.unanswerable][: args.stream]
            result["first_token_s"] = asyncio.run(first_token_s(url, "tax", answerable))
        return result
    finally:
        stop(proc)


def _failed(score: QuestionScore) -> bool:
    q, r = score.question, score.reply
    if q.unanswerable:
        return r.found
    return not r.found or bool(score.facts_missing) or bool(score.leaks) or bool(score.unsupported)


def _failure(score: QuestionScore) -> dict[str, Any]:
    return {
        "id": score.question.id,
        "found": score.reply.found,
        "missing": list(score.facts_missing),
        "unsupported": list(score.unsupported),
        "leaks": list(score.leaks),
        "answer": score.reply.answer[:300],
    }


def verdict(result: dict[str, Any]) -> dict[str, bool]:
    own = result["own_sets"]
    checks = {
        "facts_correct": (own["facts"]["rate"] or 0) >= TARGETS["facts_correct"],
        "refusals_correct": (own["refusals"]["rate"] or 0) >= TARGETS["refusals_correct"],
        "false_refusals": (own["false_refusals"]["rate"] or 0) <= TARGETS["false_refusals_max"],
        "no_leaks": own["leaks"]["count"] == 0,
        "no_unsupported_numbers": own["unsupported_numbers"]["count"] == 0,
        "latency_p50": (own["latency_s"]["p50"] or 1e9) <= TARGETS["latency_p50_s"],
        "latency_p95": (own["latency_s"]["p95"] or 1e9) <= TARGETS["latency_p95_s"],
    }
    if "autorag_ko" in result:
        rate = result["autorag_ko"]["unsupported_numbers"]["rate"] or 0
        checks["autorag_unsupported"] = rate <= TARGETS["autorag_unsupported_max"]
    return checks


def print_table(results: list[dict[str, Any]]) -> None:
    print(
        f"{'config':<9} {'facts':>7} {'refused':>8} {'false ref':>9} {'leaks':>5} {'unsup':>5} "
        f"{'p50 s':>6} {'p95 s':>6} {'AutoRAG fig. recall':>20}"
    )
    for r in results:
        own = r["own_sets"]
        auto = r.get("autorag_ko", {})
        print(
            f"{r['config']:<9} {own['facts']['rate'] or 0:>7.1%} "
            f"{own['refusals']['rate'] or 0:>8.1%} "
            f"{own['false_refusals']['rate'] or 0:>9.1%} "
            f"{own['leaks']['count']:>5} {own['unsupported_numbers']['count']:>5} "
            f"{own['latency_s']['p50'] or 0:>6.2f} {own['latency_s']['p95'] or 0:>6.2f} "
            f"{auto.get('key_figure_recall') or 0:>20.3f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.answers")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--autorag", type=int, default=40, help="AutoRAG-ko questions (0: skip the set)")
    parser.add_argument("--stream", type=int, default=5, help="streamed questions timed to the first token")
    args = parser.parse_args(argv if argv is not None else [])
    if args.autorag and not AUTORAG.exists():
        print(f"{AUTORAG} is missing: AutoRAG-ko skipped")
        args.autorag = 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="hearth-bench-answers-") as tmp:
        data_dir = Path(tmp) / "data"
        for name in args.configs.split(","):
            print(f"-- {name}", flush=True)
            result = run_config(name, data_dir, args, Path(tmp) / f"{name}.log")
            result["targets_met"] = verdict(result)
            results.append(result)
            print(json.dumps(result["own_sets"]["facts"]), result["targets_met"], flush=True)
    document = {
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "targets": TARGETS,
        "results": results,
    }
    (RESULTS / "answers.json").write_text(json.dumps(document, ensure_ascii=False, indent=2), "utf-8")
    print_table(results)


if __name__ == "__main__":
    main(sys.argv[1:])
