"""Stock reports end to end: a real `hearth serve` (embedded engine, SQLite) with the CSV market data, over
HTTP with two keys (two tenants), and `hearth report` against it. The 0.5B model's wording is not checked:
the structure, the figures and the errors are."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inference.language import detect_language
from storage.db import make_engine, make_session_factory
from storage.reports import ReportRepository
from tests.support import ROOT, ServerProcess, base_env, start_server
from tests.workers import reference
from tests.workers.test_reports_indicators import assert_same_figures

pytestmark = pytest.mark.slow

KEY_A = "sk-test-reports-alice-0001"
KEY_B = "sk-test-reports-bob-0002"
SECTIONS = ["## Summary", "## Price action", "## Indicators", "## Risks", "## Disclaimer"]
KO_SECTIONS = ["## 요약", "## 가격 동향", "## 지표", "## 위험 요인", "## 고지 사항"]


@pytest.fixture(scope="module")
def csv_dir(tmp_path_factory: pytest.TempPathFactory, market_dir: Path) -> Path:
    directory = tmp_path_factory.mktemp("market")
    for path in market_dir.glob("*.csv"):
        shutil.copy(path, directory / path.name)
    (directory / "BROKEN.csv").write_bytes(b"\x00\x01 this is not market data")
    return directory


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, csv_dir: Path) -> Iterator[ServerProcess]:
    env = {
        "HEARTH_API_KEYS": f"{KEY_A},{KEY_B}",
        "HEARTH_MARKET__PROVIDER": "csv",
        "HEARTH_MARKET__CSV_DIR": str(csv_dir),
        # one slow answer of the embedded model on a busy two-core machine is not a gateway failure here
        "HEARTH_GATEWAY__REQUEST_TIMEOUT_S": "540",
        "HEARTH_GATEWAY__NUM_RETRIES": "0",
    }
    server = start_server(tmp_path_factory.mktemp("hearth-reports"), api_key=KEY_A, env=env)
    yield server
    server.stop()


def client(server: ServerProcess, key: str) -> httpx.Client:
    return httpx.Client(base_url=server.v1, headers={"authorization": f"Bearer {key}"}, timeout=580)


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code and error["message"]
    assert error["type"] == ("server_error" if status >= 500 else "invalid_request_error")


@pytest.mark.timeout(1200)  # the model may be asked twice (a reply it must redo)
def test_a_report_through_http(server: ServerProcess, csv_dir: Path) -> None:
    alice, bob = client(server, KEY_A), client(server, KEY_B)
    response = alice.post("/reports/stocks", json={"ticker": "acme"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= {"report_id", "ticker", "markdown", "data", "model", "prompt_version", "created_at"}
    assert body["ticker"] == "ACME" and body["period"] == "1y" and body["kind"] == "on_demand"
    assert body["prompt_version"] == "stock_report.v2" and body["model"]
    assert body["data"]["language"] == "en"
    assert body["data"]["narrative"] in ("model", "mixed", "fallback")

    # every figure equals the independent computation from the same CSV
    expected = reference.figures(reference.load(csv_dir / "ACME.csv", "1y"))
    assert_same_figures(body["data"]["figures"], expected)
    markdown = body["markdown"]
    assert markdown.startswith("# ACME report (2026-06-30)\n")
    assert re.findall(r"^## .*$", markdown, flags=re.M) == SECTIONS
    assert f"| Last close | {expected['last_close']:,.2f} |" in markdown
    assert f"| SMA 200 | {expected['sma_200']:,.2f} |" in markdown
    assert f"| RSI 14 (Wilder) | {expected['rsi_14']:.1f} |" in markdown
    assert f"| Volatility (annualised, daily log returns) | {expected['volatility'] * 100:.1f}% |" in markdown

    # read it back: JSON, Markdown, and in the list
    report_id = body["report_id"]
    one = alice.get(f"/reports/{report_id}")
    assert one.status_code == 200 and one.json() == body
    raw = alice.get(f"/reports/{report_id}/markdown")
    assert raw.status_code == 200 and raw.headers["content-type"].startswith("text/markdown")
    assert raw.text == markdown
    listed = alice.get("/reports", params={"ticker": "ACME", "limit": 5}).json()
    assert listed["object"] == "list" and [r["report_id"] for r in listed["data"]] == [report_id]

    # another tenant sees none of it
    assert_error(bob.get(f"/reports/{report_id}"), 404, "report_not_found")
    assert_error(bob.get(f"/reports/{report_id}/markdown"), 404, "report_not_found")
    assert bob.get("/reports").json()["data"] == []


def test_scheduled_reports_are_visible_to_every_key(server: ServerProcess) -> None:
    engine = make_engine(f"sqlite:///{server.log_path.parent / 'hearth.db'}")
    try:
        stored = ReportRepository(make_session_factory(engine)).add(
            tenant=None,
            ticker="WRLD",
            period="1y",
            kind="scheduled",
            run_key="daily:WRLD:2026-06-30",
            as_of="2026-06-30",
            markdown="# WRLD report (2026-06-30)\n",
            data={"narrative": "fallback"},
            model="m",
            prompt_version="stock_report.v1",
        )
    finally:
        engine.dispose()
    for key in (KEY_A, KEY_B):
        with client(server, key) as http:
            assert http.get(f"/reports/{stored.id}").json()["kind"] == "scheduled"
            assert stored.id in [
                r["report_id"] for r in http.get("/reports", params={"ticker": "wrld"}).json()["data"]
            ]


def test_report_errors(server: ServerProcess) -> None:
    with client(server, KEY_A) as http:
        assert_error(http.post("/reports/stocks", json={"ticker": "NOPE"}), 404, "ticker_not_found")
        assert_error(http.post("/reports/stocks", json={"ticker": "../etc"}), 400, "invalid_ticker")
        assert_error(
            http.post("/reports/stocks", json={"ticker": "ACME", "period": "3y"}), 400, "invalid_period"
        )
        assert_error(http.post("/reports/stocks", json={}), 400, "invalid_request")
        bad_language = http.post("/reports/stocks", json={"ticker": "ACME", "language": "fr"})
        assert_error(bad_language, 400, "invalid_request")
        assert bad_language.json()["error"]["param"] == "language"
        assert "'ko' or 'en'" in bad_language.json()["error"]["message"]
        assert_error(http.post("/reports/stocks", json={"ticker": "BROKEN"}), 503, "market_data_unavailable")
        assert_error(http.get("/reports/no-such-report"), 404, "report_not_found")
        assert_error(http.get("/reports", params={"limit": 0}), 400, "invalid_request")
    response = httpx.post(f"{server.v1}/reports/stocks", json={"ticker": "ACME"}, timeout=30)
    assert_error(response, 401, "missing_api_key")


def hearth(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = base_env(server.log_path.parent, HEARTH_URL=server.base_url, HEARTH_API_KEY=KEY_B)
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1100,
    )


@pytest.mark.timeout(1200)
def test_the_cli_prints_the_markdown(server: ServerProcess) -> None:
    # a Korean listing: a Korean report by default, the model's narrative checked to be Korean
    done = hearth(server, "report", "bolt.ks", "--period", "6mo")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# BOLT.KS 리포트 (2026-06-30)\n")
    assert re.findall(r"^## .*$", done.stdout, flags=re.M) == KO_SECTIONS
    summary = done.stdout.split("## 요약\n\n", 1)[1].split("\n## ", 1)[0]
    assert detect_language(summary) == "ko", summary
    english = hearth(server, "report", "bolt.ks", "--period", "6mo", "--language", "en")
    assert english.returncode == 0, english.stderr
    assert re.findall(r"^## .*$", english.stdout, flags=re.M) == SECTIONS

    failed = hearth(server, "report", "NOPE")
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.startswith("error: No market data for the ticker 'NOPE'")
    assert len(failed.stderr.strip().splitlines()) == 1
