"""Ingestion throughput: the real load → clean → chunk → embed path against the embedder's raw speed.

Each corpus record (title + text) of ``../shared/eval/{scifact,autorag_ko}/corpus.jsonl`` is one TXT upload:
``load_document`` → ``build_ingestion_pipeline(...).run`` → ``nodes_to_chunks``, with the service's
IngestionSettings (chunk size, overlap, batch). Right after each document, ``embedder.embed`` runs on the
same chunk texts in the same batches (the raw baseline), so both see the same machine load; the ratio
ingestion/raw is the pipeline's overhead (target ≥ 0.8). Also reported: the load+clean+chunk time alone,
and the raw embedder on the whole records in batches of ``embed_batch`` (what embedding the corpus
without any chunking costs).

A fixed sample keeps ``make bench`` affordable (first N records of each corpus); full-corpus times are
extrapolated from it (targets: SciFact 5,183 docs < 7 min with MiniLM, AutoRAG-ko 720 docs < 2 min with
multilingual-e5-small). ``python -m bench.ingest [--quick] [--models a,b] [--sets scifact,autorag_ko]``;
results to bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from configs.settings import IngestionSettings, load_settings
from indexing.embedders import Embedder
from indexing.loaders import load_document
from indexing.pipeline import build_ingestion_pipeline, nodes_to_chunks

ROOT = Path(__file__).resolve().parents[1]
EVAL_DIR = ROOT.parent / "shared" / "eval"
MODELS = ["all-minilm-l6-v2", "multilingual-e5-small"]
SETS = ["scifact", "autorag_ko"]
# (set, model) → sample size; the slow pairs get smaller samples
SAMPLES = {
    ("scifact", "all-minilm-l6-v2"): 300,
    ("scifact", "multilingual-e5-small"): 30,
    ("autorag_ko", "all-minilm-l6-v2"): 30,
    ("autorag_ko", "multilingual-e5-small"): 120,
}
QUICK_SAMPLE = 20
# the targets: full-corpus ingestion time for the model meant for each language
TARGETS_S = {("scifact", "all-minilm-l6-v2"): 420.0, ("autorag_ko", "multilingual-e5-small"): 120.0}
MIN_RATIO = 0.8


def read_corpus(name: str) -> list[tuple[str, str]]:
    """(id, title + text) of every record, in file order."""
    records = []
    with (EVAL_DIR / name / "corpus.jsonl").open(encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            title = (doc.get("title") or "").strip()
            records.append((str(doc["_id"]), f"{title}\n{doc['text']}" if title else doc["text"]))
    return records


def embedder_for(model: str) -> Embedder:
    """The model as the service builds it (EmbeddingSettings' specs)."""
    from configs.settings import EmbeddingSettings
    from indexing.embedding_service import build_embedder

    spec = next(s for s in EmbeddingSettings().models if s.name == model)
    return build_embedder(spec, {})


def run_pair(set_name: str, model: str, embedder: Embedder, sample: int, settings: IngestionSettings) -> dict:
    corpus = read_corpus(set_name)
    docs = corpus[:sample]
    max_bytes = int(settings.max_file_mb * 1_048_576)
    batch = settings.embed_batch

    def pipeline(embed: bool = True) -> Any:
        built = build_ingestion_pipeline(
            embedder,
            chunk_tokens=settings.chunk_tokens,
            overlap_tokens=settings.chunk_overlap_tokens,
            embed_batch=batch,
        )
        if not embed:
            built.transformations = built.transformations[:-1]
        return built

    # warm-up: model weights, tokenizer and Kiwi load once per process, outside the timings
    embedder.load()
    warm = load_document(docs[0][1].encode("utf-8"), "warm.txt", max_bytes=max_bytes)
    pipeline().run(documents=warm.documents)

    ingest_s = raw_s = 0.0
    chunks = tokens = 0
    for doc_id, text in docs:
        start = time.perf_counter()
        loaded = load_document(text.encode("utf-8"), f"{doc_id}.txt", max_bytes=max_bytes)
        nodes = pipeline().run(documents=loaded.documents)
        found = nodes_to_chunks(loaded.document_id, loaded.filename, nodes)
        ingest_s += time.perf_counter() - start
        texts = [chunk.text for chunk in found]
        start = time.perf_counter()
        for lo in range(0, len(texts), batch):
            embedder.embed(texts[lo : lo + batch], "passage")
        raw_s += time.perf_counter() - start
        chunks += len(found)
        tokens += sum(embedder.count_tokens(t, "passage") for t in texts)

    # load + clean + chunk alone (no embedding)
    start = time.perf_counter()
    for doc_id, text in docs:
        loaded = load_document(text.encode("utf-8"), f"{doc_id}.txt", max_bytes=max_bytes)
        pipeline(embed=False).run(documents=loaded.documents)
    prep_s = time.perf_counter() - start

    # the raw embedder on whole records, batches of embed_batch (truncated at its max_tokens)
    start = time.perf_counter()
    whole = [text for _, text in docs]
    for lo in range(0, len(whole), batch):
        embedder.embed(whole[lo : lo + batch], "passage")
    raw_docs_s = time.perf_counter() - start

    n = len(docs)
    docs_per_s = n / ingest_s
    full_s = len(corpus) / docs_per_s
    target = TARGETS_S.get((set_name, model))
    ratio = raw_s / ingest_s  # throughput ratio: ingestion docs/s over raw docs/s on the same texts
    return {
        "set": set_name,
        "model": model,
        "sample_docs": n,
        "corpus_docs": len(corpus),
        "chunks": chunks,
        "chunk_tokens_total": tokens,
        "ingest_s": round(ingest_s, 2),
        "docs_per_s": round(docs_per_s, 2),
        "chunks_per_s": round(chunks / ingest_s, 2),
        "raw_same_texts_s": round(raw_s, 2),
        "raw_chunks_per_s": round(chunks / raw_s, 2),
        "ratio_ingest_to_raw": round(ratio, 3),
        "ratio_ok": ratio >= MIN_RATIO,
        "prep_s": round(prep_s, 3),
        "prep_share": round(prep_s / ingest_s, 4),
        "raw_whole_docs_s": round(raw_docs_s, 2),
        "raw_whole_docs_per_s": round(n / raw_docs_s, 2),
        "full_corpus_s_extrapolated": round(full_s, 1),
        "full_corpus_target_s": target,
        "full_corpus_ok": None if target is None else full_s < target,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SAMPLE} documents per pair")
    parser.add_argument("--sample", type=int, help="documents per pair (overrides the built-in samples)")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--sets", default=",".join(SETS))
    args = parser.parse_args(argv if argv is not None else [])
    settings = load_settings().ingestion  # the service's own (YAML profiles and HEARTH_INGESTION__*)
    load_before = round(os.getloadavg()[0], 2)
    runs = []
    for model in args.models.split(","):
        embedder = embedder_for(model)
        for set_name in args.sets.split(","):
            sample = args.sample or (QUICK_SAMPLE if args.quick else SAMPLES[(set_name, model)])
            print(f"ingesting {sample} {set_name} docs with {model} ...", flush=True)
            runs.append(run_pair(set_name, model, embedder, sample, settings))
    results = {
        "benchmark": "ingest",
        "note": (
            "each corpus record is one TXT upload through load_document -> CleanText -> SentenceChunker -> "
            "EmbedNodes; raw = embedder.embed on the same chunk texts in the same batches, timed right after "
            "each document; full-corpus times are extrapolated from the first sample_docs records"
        ),
        "settings": settings.model_dump(),
        # other work on the machine slows both timings of a pair alike (the ratio holds), not the estimate
        "machine": {
            "python": platform.python_version(),
            "processor": platform.machine(),
            "cpus": os.cpu_count(),
            "load_average_1m_before": load_before,
            "load_average_1m_after": round(os.getloadavg()[0], 2),
        },
        "runs": runs,
    }
    out = ROOT / "bench" / "results" / "ingest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(out)
    print_table(results)


def print_table(results: dict[str, Any]) -> None:
    print(f"\nIngestion throughput ({results['note']})")
    header = (
        f"{'set':<11}{'model':<23}{'docs':>6}{'chunks':>7}{'docs/s':>8}{'chunks/s':>9}{'raw ch/s':>9}"
        f"{'ratio':>7}{'prep%':>7}{'full corpus (extrap.)':>23}"
    )
    print(header)
    print("-" * len(header))
    for run in results["runs"]:
        target = run["full_corpus_target_s"]
        verdict = "" if target is None else (" ok" if run["full_corpus_ok"] else f" > {target:.0f}s")
        full = f"{run['full_corpus_s_extrapolated']:.0f}s/{run['corpus_docs']}{verdict}"
        print(
            f"{run['set']:<11}{run['model']:<23}{run['sample_docs']:>6}{run['chunks']:>7}"
            f"{run['docs_per_s']:>8.2f}{run['chunks_per_s']:>9.2f}{run['raw_chunks_per_s']:>9.2f}"
            f"{run['ratio_ingest_to_raw']:>7.2f}{100 * run['prep_share']:>6.1f}%{full:>23}"
        )
    print(f"ratio = ingestion docs/s over raw embed docs/s on the same chunk texts (target >= {MIN_RATIO})")
    machine = results["machine"]
    print(
        f"full corpus = extrapolated from the sample; load average {machine['load_average_1m_before']} → "
        f"{machine['load_average_1m_after']} on {machine['cpus']} CPUs (contention slows it, not the ratio)"
    )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
