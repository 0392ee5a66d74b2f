"""The report checks bench/reports.py relies on (workers/reports/quality.py): each catches what it names."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from storage.reports import ReportRecord, ReportRepository
from tests.workers.test_reports_service import FakeGateway, repo, service  # noqa: F401 - repo: a fixture
from workers.reports.quality import check_report

SUMMARY = "BOLT.KS는 장기 이동평균 위에서 오름세를 이어 가고 있습니다."
GOOD_KO = {
    "summary": SUMMARY,
    "risks": [{"signal": "high_volatility", "text": "변동성이 높아 하루에도 가격이 크게 출렁입니다."}],
}


@pytest.fixture
def korean(market_dir: Path, repo: ReportRepository) -> ReportRecord:  # noqa: F811
    reports, _ = service(market_dir, repo, FakeGateway(GOOD_KO))
    return asyncio.run(reports.generate("BOLT.KS", tenant="t"))


def test_a_sound_report_passes_every_check(korean: ReportRecord) -> None:
    checks = check_report(korean.markdown, korean.data)
    assert checks.as_dict() == {
        "language": "ko",
        "language_ok": True,
        "model_narrative": True,
        "unsupported_numbers": [],
        "unbacked_risks": [],
        "figures_ok": True,
        "risks": 1,
        "risk_signals": ["high_volatility"],
        "summary_sentences": 1,
        "copied_sentences": [],
    }


def test_each_check_catches_its_failure(korean: ReportRecord) -> None:
    md, data = korean.markdown, korean.data
    invented = md.replace("오름세를 이어 가고 있습니다.", "오름세이며 목표가는 321.09입니다.")
    assert check_report(invented, data).unsupported_numbers == ["321.09"]
    english = md.replace(SUMMARY, "BOLT.KS keeps rising above its long average.")
    assert not check_report(english, data).language_ok
    # the old kind of "risk": a reading that is no risk at all
    risk = GOOD_KO["risks"][0]["text"]  # type: ignore[index]
    non_risk = md.replace(f"- {risk}", "- 종가가 200일 이동평균 위에 있습니다.")
    assert check_report(non_risk, data).unbacked_risks
    row = next(line for line in md.splitlines() if line.startswith("| 종가 |"))
    assert not check_report(md.replace(row, "| 종가 | 999.99 |"), data).figures_ok
    assert not check_report(md, {**data, "narrative": "fallback"}).model_narrative
    # a summary that pastes the readings it was given ("변동성: 높음")
    pasted = md.replace(SUMMARY, "변동성: 높음. 모멘텀(RSI 14)은 중립이고 변동성은 높습니다.")
    assert check_report(pasted, data).copied_sentences == ["변동성: 높음."]
