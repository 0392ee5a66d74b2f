"""Reports in the reader's language: the default by market, and a Korean report Korean throughout."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from inference.language import detect_language
from workers.reports.indicators import Figures, compute_figures
from workers.reports.language import default_language
from workers.reports.market import CsvMarketData
from workers.reports.narrative import fallback, signals
from workers.reports.render import DISCLAIMERS, indicator_rows, price_action, render_report

KO_SECTIONS = ["## 요약", "## 가격 동향", "## 지표", "## 위험 요인", "## 고지 사항"]


@pytest.fixture(scope="module")
def bolt(market_dir: Path) -> Figures:
    return compute_figures(asyncio.run(CsvMarketData(market_dir).history("BOLT.KS", "1y")))


@pytest.mark.parametrize(
    ("ticker", "configured", "expected"),
    [
        ("005930.KS", "auto", "ko"),
        ("035720.kq", "auto", "ko"),
        ("AAPL", "auto", "en"),
        ("069500.KS", "en", "en"),
        ("SPY", "ko", "ko"),
    ],
)
def test_the_default_language_follows_the_market_unless_configured(
    ticker: str, configured: str, expected: str
) -> None:
    assert default_language(ticker, configured) == expected


def test_a_korean_report_is_korean_throughout(bolt: Figures) -> None:
    narrative = fallback("BOLT.KS", bolt, attempts=2, error="x", language="ko")
    markdown = render_report("BOLT.KS", "1y", bolt, narrative.summary, narrative.risks, "ko")
    assert re.findall(r"^#+ .*$", markdown, flags=re.M) == [f"# BOLT.KS 리포트 ({bolt.as_of})", *KO_SECTIONS]
    assert markdown.rstrip().endswith(DISCLAIMERS["ko"])
    # every line of prose and every table label reads as Korean (tickers, figures and "RSI" aside)
    lines = [line for line in markdown.splitlines() if line and not line.startswith(("#", "|---"))]
    prose = [line.strip("-| ") for line in lines]
    for line in prose:
        if line.startswith("|") or "|" in line:
            continue
        assert detect_language(line) == "ko", line
    for name, _ in indicator_rows("1y", bolt, "ko"):
        assert detect_language(name) == "ko" or name.startswith("RSI"), name
    for line in [*price_action("BOLT.KS", "1y", bolt, "ko"), *signals(bolt, "ko"), *narrative.risks]:
        assert detect_language(line) == "ko", line
    assert "n/a" not in markdown


def test_the_figures_are_the_same_in_both_languages(bolt: Figures) -> None:
    english = [value for _, value in indicator_rows("1y", bolt, "en")]
    korean = [value for _, value in indicator_rows("1y", bolt, "ko")]
    assert english == korean


def test_short_data_in_korean_says_so_in_korean(market_dir: Path) -> None:
    month = compute_figures(asyncio.run(CsvMarketData(market_dir).history("WRLD", "1mo")))
    rows = dict(indicator_rows("1mo", month, "ko"))
    assert rows["200일 이동평균"] == "자료 부족"
    assert "52주 범위: 자료 부족" in price_action("WRLD", "1mo", month, "ko")[3]
