"""Stock report quality on the embedded default: the demo tickers (``examples/market``) in both languages.

A real ``hearth serve`` (the default embedded profile, the CSV market data, the response cache off) writes
``POST /v1/reports/stocks`` for every ticker x period x language, and each stored report is checked by
:func:`workers.reports.quality.check_report`:

* the share of reports whose Summary the model wrote (target >= 90%), and the share of risk sentences it
  wrote (the rest are the risk signals' code-written sentences);
* unsupported numbers in the Summary and Risks (target 0);
* risk sentences backed by no risk signal of the figures (target 0);
* the language: headings, Summary and Risks in the report's language (target: always);
* every Indicators value equal to the computed figure (target: always); seconds per report;
* the Summary's length in sentences and the sentences that paste one of the readings given to the model.

``python -m bench.reports [--tickers ACME,BOLT.KS,WRLD] [--periods 1mo,6mo,1y] [--languages ko,en]``;
results to bench/results/reports.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.gateway import free_port, spawn, stop, wait_http
from workers.reports.quality import check_report

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
KEY = "sk-bench-reports-0001"
TARGETS = {"model_narrative_min": 0.9, "unsupported_numbers_max": 0, "unbacked_risks_max": 0}


def run(base_url: str, tickers: list[str], periods: list[str], languages: list[str]) -> list[dict[str, Any]]:
    rows = []
    with httpx.Client(base_url=base_url, headers={"authorization": f"Bearer {KEY}"}, timeout=1200) as client:
        for ticker in tickers:
            for period in periods:
                for language in languages:
                    started = time.perf_counter()
                    response = client.post(
                        "/v1/reports/stocks", json={"ticker": ticker, "period": period, "language": language}
                    )
                    seconds = time.perf_counter() - started
                    response.raise_for_status()
                    body = response.json()
                    checks = check_report(body["markdown"], body["data"])
                    rows.append(
                        {
                            "ticker": ticker,
                            "period": period,
                            "seconds": round(seconds, 1),
                            "narrative": body["data"]["narrative"],
                            "risks_by_model": body["data"]["narrative_detail"]["risks_by_model"],
                            "dropped": body["data"]["narrative_detail"]["dropped"],
                            **checks.as_dict(),
                            "summary": body["markdown"].split("\n## ", 2)[1].split("\n", 1)[1].strip(),
                        }
                    )
                    print(
                        f"{ticker:8s} {period:4s} {language}: {rows[-1]['narrative']:8s} "
                        f"risks {checks.risks} ({rows[-1]['risks_by_model']} by the model) "
                        f"language {'ok' if checks.language_ok else 'WRONG'} "
                        f"unsupported {len(checks.unsupported_numbers)} "
                        f"unbacked {len(checks.unbacked_risks)} "
                        f"{seconds:.1f}s",
                        flush=True,
                    )
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    risks = sum(row["risks"] for row in rows)
    by_model = sum(row["risks_by_model"] for row in rows)
    seconds = sorted(row["seconds"] for row in rows)
    return {
        "reports": n,
        "model_narrative_share": round(sum(row["model_narrative"] for row in rows) / n, 3) if n else None,
        "risk_sentences": risks,
        "risk_sentences_by_model_share": round(by_model / risks, 3) if risks else None,
        "unsupported_numbers": sum(len(row["unsupported_numbers"]) for row in rows),
        "unbacked_risks": sum(len(row["unbacked_risks"]) for row in rows),
        "summary_sentences_mean": round(sum(row["summary_sentences"] for row in rows) / n, 2) if n else None,
        "summary_sentences_copied": sum(len(row["copied_sentences"]) for row in rows),
        "language_right": sum(row["language_ok"] for row in rows),
        "figures_right": sum(row["figures_ok"] for row in rows),
        "seconds_p50": seconds[n // 2] if n else None,
        "seconds_max": seconds[-1] if n else None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reports")
    parser.add_argument("--tickers", default="ACME,BOLT.KS,WRLD")
    parser.add_argument("--periods", default="1mo,6mo,1y")
    parser.add_argument("--languages", default="ko,en")
    args = parser.parse_args(argv if argv is not None else [])
    tickers, periods = args.tickers.split(","), args.periods.split(",")
    languages = args.languages.split(",")
    load_before = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="hearth-bench-") as tmp_name:
        tmp = Path(tmp_name)
        port = free_port()
        env = {
            "HEARTH_DATA_DIR": str(tmp / "data"),
            "HEARTH_API_KEYS": KEY,
            "HEARTH_ENGINE__PORT": str(free_port()),
            "HEARTH_ENGINE__MODELS_DIR": str(ROOT / "data" / "models"),
            "HEARTH_MARKET__PROVIDER": "csv",
            "HEARTH_MARKET__CSV_DIR": str(ROOT / "examples" / "market"),
            "HEARTH_CACHE__ENABLED": "false",
            "HEARTH_REDIS__URL": "redis://127.0.0.1:1/0",  # the embedded redis-server: nothing shared
            "HEARTH_WORKERS__EMBEDDED": "0",
            "HEARTH_SCHEDULER__EMBEDDED": "false",
            "HEARTH_SERVER__LOG_LEVEL": "warning",
            "HEARTH_GATEWAY__REQUEST_TIMEOUT_S": "1200",
        }
        server = spawn(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port)], env, tmp / "server.log"
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/readyz", 300, proc=server)
            rows = run(f"http://127.0.0.1:{port}", tickers, periods, languages)
        finally:
            stop(server)
    summary = {language: summarise([r for r in rows if r["language"] == language]) for language in languages}
    summary["all"] = summarise(rows)
    everything = summary["all"]
    results = {
        "benchmark": "reports",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "note": "examples/market CSV data; the embedded default model (Qwen2.5-Coder-1.5B Q4_K_M), cache off",
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_1m_before": load_before,
            "load_average_1m_after": round(os.getloadavg()[0], 2),
        },
        "targets": TARGETS,
        "verdict": {
            "model_narrative": (everything["model_narrative_share"] or 0) >= TARGETS["model_narrative_min"],
            "unsupported_numbers": everything["unsupported_numbers"] <= TARGETS["unsupported_numbers_max"],
            "unbacked_risks": everything["unbacked_risks"] <= TARGETS["unbacked_risks_max"],
            "language": everything["language_right"] == everything["reports"],
            "figures": everything["figures_right"] == everything["reports"],
        },
        "summary": summary,
        "reports": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "reports.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(json.dumps({"summary": summary, "verdict": results["verdict"]}, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:])
