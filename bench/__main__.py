"""``make bench``: run every benchmark, write bench/results/*.json and print their tables."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = [
    "bench.gateway",
    "bench.ingest",
    "bench.retrieval",
    "bench.summaries",
    "bench.reports",
    "bench.load",
    "bench.answers",
]


def main() -> None:
    selected = sys.argv[1:] or BENCHMARKS
    for name in selected:
        module = importlib.import_module(name if name.startswith("bench.") else f"bench.{name}")
        print(f"\n#### {module.__name__}", flush=True)
        module.main()


if __name__ == "__main__":
    main()
