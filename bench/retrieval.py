"""Retrieval benchmark: the real path (SparseEncoder + embedder + EdgeVectorStore + Retriever) on SciFact
(English) and AutoRAG-ko (Korean), read from ``../shared/eval``.

Reports nDCG@10, Recall@10 and MRR@10 for dense-only, sparse-only and the two fusions (relative scores,
weighted RRF) over a grid of weights (the defaults in RetrievalSettings come from this grid), query latency
p50/p95 of ``Retriever.retrieve`` (query embedding, sparse encoding, store search and fusion), the relevance
threshold's pass rates for in-domain and out-of-domain questions, and store search latency over 100k
synthetic chunks.
Corpus embeddings are cached under ``.hearth-test/bench-cache`` (git-ignored), keyed by model + corpus hash.

``python -m bench.retrieval [--runs set:model,...] [--split train|test] [--skip-synthetic]``; results to
bench/results/retrieval.json. The defaults were tuned on SciFact's train claims (``--split train``) and
AutoRAG-ko as a whole (it has no split; coarse choices only), and are reported on SciFact's test split.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from configs.settings import RetrievalSettings
from indexing.embedders import Embedder
from indexing.retrieval import Retriever
from indexing.sparse import SparseEncoder
from indexing.types import Chunk, Fusion, SparseVector, chunk_id
from indexing.vector_store import EdgeVectorStore

ROOT = Path(__file__).resolve().parents[1]
EVAL_DIR = ROOT.parent / "shared" / "eval"
CACHE_DIR = ROOT / ".hearth-test" / "bench-cache"
EMBED_BATCH = 32


@dataclass(frozen=True)
class EvalSet:
    name: str
    doc_ids: list[str]
    passages: list[str]
    queries: dict[str, str]  # judged queries only
    qrels: dict[str, dict[str, int]]


def load_eval_set(name: str, split: str = "test") -> EvalSet:
    """The set with the judged queries of ``split`` ("test": qrels.tsv; "train": qrels.train.tsv where the
    set has one, SciFact's train claims, which tune the defaults before the test split confirms them)."""
    folder = EVAL_DIR / name
    qrels_file = folder / ("qrels.tsv" if split == "test" else f"qrels.{split}.tsv")
    qrels: dict[str, dict[str, int]] = {}
    with qrels_file.open(encoding="utf-8") as f:
        next(f)
        for line in f:
            qid, did, score = line.rstrip("\n").split("\t")
            if int(score) > 0:
                qrels.setdefault(qid, {})[did] = int(score)
    doc_ids, passages = [], []
    with (folder / "corpus.jsonl").open(encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            doc_ids.append(doc["_id"])
            title = (doc.get("title") or "").strip()
            passages.append(f"{title}\n{doc['text']}" if title else doc["text"])
    queries = {}
    with (folder / "queries.jsonl").open(encoding="utf-8") as f:
        for line in f:
            q = json.loads(line)
            if q["_id"] in qrels:
                queries[q["_id"]] = q["text"]
    return EvalSet(name, doc_ids, passages, queries, qrels)


_EMBEDDERS: dict[str, Embedder] = {}


def embedder_for(model: str) -> Embedder:
    """The model as the service builds it (EmbeddingSettings' specs), loaded once per run."""
    from configs.settings import EmbeddingSettings
    from indexing.embedding_service import build_embedder

    if model not in _EMBEDDERS:
        spec = next(s for s in EmbeddingSettings().models if s.name == model)
        _EMBEDDERS[model] = build_embedder(spec, {})
    return _EMBEDDERS[model]


def corpus_embeddings(model: str, data: EvalSet, *, verbose: bool = True) -> np.ndarray:
    """The corpus' passage vectors for ``model``, cached on disk by model + corpus hash."""
    digest = hashlib.sha256("\x00".join(data.passages).encode()).hexdigest()[:16]
    path = CACHE_DIR / f"{model}-{data.name}-{digest}.npy"
    if path.is_file():
        return np.load(path)
    embedder = embedder_for(model)
    # length-sorted batches waste less padding
    order = sorted(range(len(data.passages)), key=lambda i: len(data.passages[i]))
    out: np.ndarray | None = None
    start = time.perf_counter()
    for lo in range(0, len(order), EMBED_BATCH):
        idx = order[lo : lo + EMBED_BATCH]
        vecs = embedder.embed([data.passages[i] for i in idx], "passage")
        if out is None:
            out = np.zeros((len(order), vecs.shape[1]), dtype=np.float32)
        out[idx] = vecs
        if verbose:
            done = lo + len(idx)
            rate = done / (time.perf_counter() - start)
            print(f"\r{model} {data.name}: {done}/{len(order)} ({rate:.1f} docs/s)", end="", file=sys.stderr)
    assert out is not None
    if verbose:
        print(file=sys.stderr)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, out)
    tmp.replace(path)
    return out


# ---------------------------------------------------------------------------------------------------------
# metrics


def ranking_metrics(ranked: list[str], relevant: dict[str, int], k: int = 10) -> tuple[float, float, float]:
    """nDCG@k, Recall@k, MRR@k of one ranked list of doc ids."""
    top = ranked[:k]
    dcg = sum(relevant.get(d, 0) / np.log2(i + 2) for i, d in enumerate(top))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(g / np.log2(i + 2) for i, g in enumerate(ideal))
    recall = len({d for d in top if d in relevant}) / len(relevant)
    mrr = next((1.0 / (i + 1) for i, d in enumerate(top) if d in relevant), 0.0)
    return (dcg / idcg if idcg else 0.0), recall, mrr


def mean_metrics(rankings: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    rows = np.array([ranking_metrics(rankings[q], qrels[q]) for q in rankings])
    return {
        "ndcg@10": round(float(rows[:, 0].mean()), 4),
        "recall@10": round(float(rows[:, 1].mean()), 4),
        "mrr@10": round(float(rows[:, 2].mean()), 4),
    }


def percentiles_ms(samples: list[float]) -> dict[str, float]:
    arr = np.array(samples) * 1000
    return {
        "p50_ms": round(float(np.percentile(arr, 50)), 2),
        "p95_ms": round(float(np.percentile(arr, 95)), 2),
    }


# ---------------------------------------------------------------------------------------------------------
# the eval sets through the real path

# questions no collection here covers; they, and each set's questions asked of the other set, are the
# out-of-domain half of the relevance-threshold measurement
GENERIC_QUESTIONS = [
    "What is the capital of France?",
    "How do I bake sourdough bread at home?",
    "Who won the 2018 FIFA World Cup?",
    "What will the weather be like tomorrow?",
    "Write a short poem about the sea.",
    "How many legs does a spider have?",
    "Recommend a good movie for tonight.",
    "How do I change a flat bicycle tire?",
    "Translate 'good morning' into Spanish.",
    "How tall is Mount Everest?",
    "What is a good name for a cat?",
    "How do I reset my home wifi router?",
    "프랑스의 수도는 어디인가요?",
    "오늘 저녁 메뉴 추천해줘",
    "김치찌개 맛있게 끓이는 법 알려줘",
    "내일 서울 날씨 어때?",
    "2002년 월드컵에서 4강에 오른 나라는?",
    "강아지 이름 추천해줘",
    "에베레스트 산의 높이는 얼마야?",
    "재미있는 농담 하나 해줘",
    "비행기는 어떻게 하늘을 나나요?",
    "고양이가 좋아하는 음식은 뭐야?",
]

DENSE_WEIGHTS = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0]
SPARSE_WEIGHTS = [1.0, 0.7, 0.5]
RRF_KS = [60, 20, 10, 5]
# relative fusion: the dense weight, the sparse one is 1 - it
RELATIVE_DENSE_WEIGHTS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]


def build_store(
    data: EvalSet, vectors: np.ndarray, sparse: SparseEncoder, folder: Path
) -> tuple[EdgeVectorStore, dict[str, float]]:
    """The eval corpus as one published document per passage set, with the ingest-side timings."""
    if folder.exists():
        shutil.rmtree(folder)
    store = EdgeVectorStore(folder)
    store.ensure_collection(data.name, vectors.shape[1])
    t0 = time.perf_counter()
    sparse_vectors = sparse.encode_documents(data.passages)
    t1 = time.perf_counter()
    document_id = f"bench-{data.name}"
    chunks = [
        Chunk(id=chunk_id(document_id, i), document_id=document_id, index=i, text=text, filename=doc_id)
        for i, (doc_id, text) in enumerate(zip(data.doc_ids, data.passages, strict=True))
    ]
    store.upsert(data.name, chunks, vectors, sparse_vectors)
    t2 = time.perf_counter()
    store.publish(data.name, document_id)
    t3 = time.perf_counter()
    n = len(chunks)
    return store, {
        "sparse_docs_per_s": round(n / (t1 - t0), 1),
        "upsert_points_per_s": round(n / (t2 - t1), 1),
        "publish_ms": round((t3 - t2) * 1000, 2),
    }


def query_vectors(model: str, data: EvalSet, queries: list[str]) -> np.ndarray:
    return embedder_for(model).embed(queries, "query") if queries else np.zeros((0, 1), np.float32)


def sweep(
    store: EdgeVectorStore, data: EvalSet, qvecs: np.ndarray, sparse: SparseEncoder, candidates: int
) -> dict[str, dict[str, float]]:
    """Dense-only, sparse-only, relative-score and weighted-RRF runs over the grid, straight on the store."""
    qids = list(data.queries)
    sq = [sparse.encode_query(data.queries[q]) for q in qids]
    configs: dict[str, tuple[bool, bool, Fusion]] = {
        "dense": (True, False, Fusion((1.0, 0.0))),
        "sparse": (False, True, Fusion((0.0, 1.0))),
    }
    for wd in RELATIVE_DENSE_WEIGHTS:
        weights = (wd, round(1.0 - wd, 2))
        configs[f"relative w={weights}"] = (True, True, Fusion(weights, "relative"))
    for k in RRF_KS:
        for wd in DENSE_WEIGHTS:
            for ws in SPARSE_WEIGHTS:
                if ws < 1.0 and wd < 1.0:
                    continue
                configs[f"rrf k={k} w=({wd},{ws})"] = (True, True, Fusion((wd, ws), "rrf", k))
    out = {}
    for label, (use_dense, use_sparse, fusion) in configs.items():
        rankings = {}
        for i, qid in enumerate(qids):
            hits = store.search(
                data.name,
                qvecs[i] if use_dense else None,
                sq[i] if use_sparse else None,
                10,
                candidates,
                fusion,
            )
            rankings[qid] = [h.chunk.filename for h in hits]
        out[label] = mean_metrics(rankings, data.qrels)
    return out


def relevance_features(
    retriever: Retriever, sparse: SparseEncoder, store_name: str, questions: list[str]
) -> list[dict[str, Any]]:
    """Per question, the evidence is_relevant sees in the top-k hits."""
    rows = []
    for question in questions:
        hits = retriever.retrieve(store_name, question)
        terms = max(1, len(sparse.encode_query(question).indices))
        rows.append(
            {
                "max_dense": max((h.dense_score or -1.0) for h in hits) if hits else -1.0,
                # best sparse score among hits the sparse retriever ranked in its top 3
                "top_sparse": max(
                    ((h.sparse_score or 0.0) for h in hits if h.sparse_rank and h.sparse_rank <= 3),
                    default=0.0,
                ),
                "terms": terms,
                "found": any(retriever.is_relevant(h) for h in hits),
            }
        )
    return rows


def threshold_table(
    inside: list[dict[str, Any]], outside: list[dict[str, Any]], min_dense: float
) -> list[dict[str, Any]]:
    """Pass rates of "max dense >= d or top sparse (per query term) >= s" for a grid of s and of d around
    the embedder's threshold ``min_dense``."""
    table = []
    grid = [("per_term", s) for s in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0)]
    grid += [("raw", s) for s in (5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 1e9)]
    for d in np.arange(min_dense - 0.12, min_dense + 0.121, 0.02):
        for kind, s in grid:

            def passes(r: dict[str, Any], d: float = float(d), s: float = s, kind: str = kind) -> bool:
                sparse = r["top_sparse"] / r["terms"] if kind == "per_term" else r["top_sparse"]
                return bool(r["max_dense"] >= d or sparse >= s)

            table.append(
                {
                    "min_dense": round(float(d), 2),
                    "sparse_rule": kind if s < 1e9 else "none",
                    "min_sparse": s if s < 1e9 else None,
                    "in_domain_found": round(sum(map(passes, inside)) / len(inside), 3),
                    "out_of_domain_found": round(sum(map(passes, outside)) / len(outside), 3),
                }
            )
    return table


def evaluate(
    model: str, data: EvalSet, others: list[EvalSet], settings: RetrievalSettings, sparse: SparseEncoder
) -> dict[str, Any]:
    vectors = corpus_embeddings(model, data)
    # one folder per process, so two runs (train and test split) never share a store
    folder = CACHE_DIR.parent / "bench-store" / f"{data.name}-{model}-{os.getpid()}"
    store, ingest = build_store(data, vectors, sparse, folder)
    try:
        qids = list(data.queries)
        questions = [data.queries[q] for q in qids]
        grid = sweep(store, data, query_vectors(model, data, questions), sparse, settings.candidates)
        retriever = Retriever(store, embedder_for(model), sparse, settings)
        retriever.retrieve(data.name, questions[0])  # warm-up (model load)
        rankings, latencies = {}, []
        for qid, question in zip(qids, questions, strict=True):
            t0 = time.perf_counter()
            hits = retriever.retrieve(data.name, question, top_k=10)
            latencies.append(time.perf_counter() - t0)
            rankings[qid] = [h.chunk.filename for h in hits]
        outside_questions = [q for other in others for q in other.queries.values()] + GENERIC_QUESTIONS
        inside = relevance_features(retriever, sparse, data.name, questions)
        outside = relevance_features(retriever, sparse, data.name, outside_questions)
        generic = relevance_features(retriever, sparse, data.name, GENERIC_QUESTIONS)
        return {
            "set": data.name,
            "model": model,
            "docs": len(data.doc_ids),
            "queries": len(qids),
            "ingest": ingest,
            "dense": grid["dense"],
            "sparse": grid["sparse"],
            "fused_default": {
                **mean_metrics(rankings, data.qrels),
                "fusion": settings.fusion,
                "weights": list(retriever.weights_for(questions[0])),
                "rrf_k": settings.rrf_k,
                "candidates": settings.candidates,
            },
            "retrieve_latency": percentiles_ms(latencies),
            "fusion_grid": grid,
            "relevance": {
                "settings": {
                    "min_dense_score": retriever.min_dense_score,
                    "min_sparse_score": settings.min_sparse_score,
                },
                "in_domain_found": round(sum(r["found"] for r in inside) / len(inside), 3),
                "out_of_domain_found": round(sum(r["found"] for r in outside) / len(outside), 3),
                "generic_found": round(sum(r["found"] for r in generic) / len(generic), 3),
                "grid": threshold_table(inside, outside, retriever.min_dense_score),
            },
        }
    finally:
        store.close()
        shutil.rmtree(folder, ignore_errors=True)


def synthetic_search(
    n: int = 100_000, dim: int = 384, queries: int = 200, seed: int = 0, optimize: bool = False
) -> dict[str, Any]:
    """store.search latency over ``n`` random chunks: unit dense rows, and sparse rows of ~60 terms whose
    ranks follow a Zipf law over a 50k vocabulary with the 100 most frequent (stopword-like, which the
    encoder drops) left out; queries have ~8 such terms. ``optimize`` also times search after an HNSW build
    (17 minutes for 100k on 2 busy cores: never run it inline)."""
    rng = np.random.default_rng(seed)
    vocab = 50_000

    def terms(k: int) -> np.ndarray:
        ranks = rng.zipf(1.1, 4 * k)
        return np.unique(ranks[(ranks > 100) & (ranks < vocab)][:k])

    folder = CACHE_DIR.parent / "bench-store" / "synthetic"
    if folder.exists():
        shutil.rmtree(folder)
    store = EdgeVectorStore(folder)
    try:
        store.ensure_collection("synthetic", dim)
        t_upsert = 0.0
        batch = 5_000
        for lo in range(0, n, batch):
            m = min(batch, n - lo)
            dense = rng.normal(size=(m, dim)).astype(np.float32)
            dense /= np.linalg.norm(dense, axis=1, keepdims=True)
            sparse_vectors = []
            for _ in range(m):
                ids = terms(60)
                sparse_vectors.append(SparseVector(ids.tolist(), rng.uniform(0.3, 2.0, len(ids)).tolist()))
            chunks = [
                Chunk(
                    id=chunk_id("synthetic", lo + i),
                    document_id="synthetic",
                    index=lo + i,
                    text="x" * 200,
                    filename="synthetic.txt",
                )
                for i in range(m)
            ]
            t0 = time.perf_counter()
            store.upsert("synthetic", chunks, dense, sparse_vectors)
            t_upsert += time.perf_counter() - t0
        t0 = time.perf_counter()
        store.publish("synthetic", "synthetic")
        publish_s = time.perf_counter() - t0

        def timed(use_dense: bool, use_sparse: bool) -> dict[str, float]:
            samples = []
            for _ in range(queries):
                q = rng.normal(size=dim).astype(np.float32)
                q /= np.linalg.norm(q)
                ids = terms(8)
                sq = SparseVector(ids.tolist(), [1.0] * len(ids))
                t0 = time.perf_counter()
                store.search(
                    "synthetic", q if use_dense else None, sq if use_sparse else None, 5, 40, Fusion()
                )
                samples.append(time.perf_counter() - t0)
            return percentiles_ms(samples)

        result: dict[str, Any] = {
            "points": n,
            "dim": dim,
            "upsert_points_per_s": round(n / t_upsert, 1),
            "publish_ms": round(publish_s * 1000, 1),
            "search_hybrid": timed(True, True),
            "search_dense_only": timed(True, False),
            "search_sparse_only": timed(False, True),
        }
        if optimize:
            t0 = time.perf_counter()
            store.optimize("synthetic")
            result["optimize_s"] = round(time.perf_counter() - t0, 1)
            result["search_hybrid_optimized"] = timed(True, True)
        return result
    finally:
        store.close()
        shutil.rmtree(folder, ignore_errors=True)


def local_mode_comparison(points: int = 1_000, dim: int = 384) -> dict[str, Any]:
    """qdrant-client local mode on disk, through the same QdrantServerStore code: write rate."""
    import tempfile

    from qdrant_client import QdrantClient

    from configs.settings import QdrantSettings
    from indexing.vector_store import QdrantServerStore

    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        store = QdrantServerStore(QdrantSettings(), client=QdrantClient(path=tmp))
        store.ensure_collection("local", dim)
        dense = rng.normal(size=(points, dim)).astype(np.float32)
        chunks = [
            Chunk(id=chunk_id("local", i), document_id="local", index=i, text="x", filename="x")
            for i in range(points)
        ]
        sparse_vectors = [SparseVector([1, 2, 3], [1.0, 1.0, 1.0])] * points
        t0 = time.perf_counter()
        store.upsert("local", chunks, dense, sparse_vectors)
        upsert_s = time.perf_counter() - t0
        store.publish("local", "local")
        samples = []
        for _ in range(20):
            t0 = time.perf_counter()
            store.search("local", dense[0], None, 5, 40, Fusion())
            samples.append(time.perf_counter() - t0)
        store.close()
    return {
        "points": points,
        "upsert_points_per_s": round(points / upsert_s, 1),
        "search": percentiles_ms(samples),
    }


def main() -> None:
    import argparse
    import datetime
    import platform
    import warnings

    warnings.filterwarnings("ignore", message="Payload indexes have no effect")
    parser = argparse.ArgumentParser(prog="python -m bench.retrieval")
    parser.add_argument(
        "--runs",
        # scifact:multilingual-e5-small also works (about an hour to embed the corpus on 2 cores)
        default="autorag_ko:multilingual-e5-small,scifact:all-minilm-l6-v2",
    )
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument(
        "--fusion",
        default="",
        help="override fusion weights, e.g. ko=0.05:1,default=1:1 (else the settings')",
    )
    parser.add_argument(
        "--min-dense", default="", help="override min_dense_score per model, e.g. multilingual-e5-small=0.86"
    )
    parser.add_argument("--rrf-k", type=int, default=None, help="override rrf_k")
    parser.add_argument("--fusion-method", choices=["relative", "rrf"], default=None, help="override fusion")
    parser.add_argument("--candidates", type=int, default=None, help="override candidates")
    parser.add_argument(
        "--split",
        choices=["test", "train"],
        default="test",
        help="judged queries (SciFact has a train split)",
    )
    parser.add_argument("--min-sparse", type=float, default=None, help="override min_sparse_score")
    parser.add_argument("--embed-only", action="store_true", help="fill the embedding cache and stop")
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    runs = [tuple(r.split(":")) for r in args.runs.split(",") if r]
    sets = {
        name: load_eval_set(
            name, args.split if (EVAL_DIR / name / f"qrels.{args.split}.tsv").exists() else "test"
        )
        for name in {s for s, _ in runs} | {"scifact", "autorag_ko"}
    }
    if args.embed_only:
        for set_name, model in runs:
            corpus_embeddings(model, sets[set_name])
        return
    settings = RetrievalSettings()
    overrides: dict[str, Any] = {}
    if args.fusion:
        weights = dict(settings.fusion_weights)
        for item in args.fusion.split(","):
            lang, pair = item.split("=")
            dense_w, sparse_w = pair.split(":")
            weights[lang] = (float(dense_w), float(sparse_w))
        overrides["fusion_weights"] = weights
    if args.rrf_k is not None:
        overrides["rrf_k"] = args.rrf_k
    if args.fusion_method is not None:
        overrides["fusion"] = args.fusion_method
    if args.candidates is not None:
        overrides["candidates"] = args.candidates
    min_dense = {m: float(v) for m, v in (item.split("=") for item in args.min_dense.split(",") if item)}
    if args.min_sparse is not None:
        overrides["min_sparse_score"] = args.min_sparse
    settings = settings.model_copy(update=overrides)
    sparse = SparseEncoder()
    results: dict[str, Any] = {
        "benchmark": "retrieval",
        "when": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "split": args.split,
        "runs": [],
    }
    for set_name, model in runs:
        others = [d for n, d in sets.items() if n != set_name]
        print(f"running {set_name} with {model}", file=sys.stderr, flush=True)
        run_settings = settings
        if model in min_dense:
            thresholds = {**settings.min_dense_score, model: min_dense[model]}
            run_settings = settings.model_copy(update={"min_dense_score": thresholds})
        results["runs"].append(evaluate(model, sets[set_name], others, run_settings, sparse))
    out = (
        ROOT
        / "bench"
        / "results"
        / ("retrieval.json" if args.split == "test" else f"retrieval-{args.split}.json")
    )
    if not args.skip_synthetic:
        print("synthetic 100k", file=sys.stderr, flush=True)
        results["synthetic_100k"] = synthetic_search()
        results["local_mode_1k"] = local_mode_comparison()
    elif out.is_file():  # keep the last store-only figures (they do not depend on the retrieval settings)
        previous = json.loads(out.read_text(encoding="utf-8"))
        if "synthetic_100k" in previous:
            results["synthetic_from"] = previous.get("synthetic_from") or previous.get("when")
            results["synthetic_100k"] = previous["synthetic_100k"]
            results["local_mode_1k"] = previous.get("local_mode_1k")
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(out)
    print_table(results)


def print_table(results: dict[str, Any]) -> None:
    print(f"{'set':<11} {'model':<22} {'run':<16} {'nDCG@10':>8} {'R@10':>6} {'MRR@10':>7}")
    for run in results["runs"]:
        for label in ("dense", "sparse", "fused_default"):
            m = run[label]
            print(
                f"{run['set']:<11} {run['model']:<22} {label:<16} {m['ndcg@10']:>8.4f} "
                f"{m['recall@10']:>6.3f} {m['mrr@10']:>7.4f}"
            )
        best = max(run["fusion_grid"].items(), key=lambda kv: kv[1]["ndcg@10"])
        lat = run["retrieve_latency"]
        rel = run["relevance"]
        print(
            f"{'':<11} best grid: {best[0]} nDCG {best[1]['ndcg@10']:.4f}; retrieve p50 {lat['p50_ms']} ms, "
            f"p95 {lat['p95_ms']} ms; found in-domain {rel['in_domain_found']}, out-of-domain "
            f"{rel['out_of_domain_found']}, generic {rel['generic_found']}"
        )
    if "synthetic_100k" in results:
        syn = results["synthetic_100k"]
        hybrid, dense_only = syn["search_hybrid"], syn["search_dense_only"]
        print(
            f"100k synthetic: upsert {syn['upsert_points_per_s']} points/s; store.search p50/p95 hybrid "
            f"{hybrid['p50_ms']}/{hybrid['p95_ms']} ms, "
            f"dense only {dense_only['p50_ms']}/{dense_only['p95_ms']} ms"
        )
        loc = results["local_mode_1k"]
        print(
            f"qdrant-client local mode: upsert {loc['upsert_points_per_s']} points/s, search at 1k "
            f"{loc['search']['p50_ms']} ms"
        )


if __name__ == "__main__":
    main()
