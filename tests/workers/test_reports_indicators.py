"""The report's figures against an independent computation (tests/workers/reference.py) on the demo data."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pandas as pd
import pytest

from tests.workers import reference
from workers.reports.indicators import compute_figures, rsi_wilder, sma
from workers.reports.market import CsvMarketData

FIGURES = (
    "last_close",
    "return_1d",
    "return_1w",
    "return_1m",
    "return_ytd",
    "return_period",
    "sma_20",
    "sma_50",
    "sma_200",
    "rsi_14",
    "volatility",
    "high_52w",
    "low_52w",
    "avg_volume_20",
    "volume_ratio_20",
)


def assert_same_figures(ours: dict[str, object], expected: dict[str, object]) -> None:
    for name in FIGURES:
        mine, theirs = ours[name], expected[name]
        if theirs is None:
            assert mine is None, name
        else:
            assert mine == pytest.approx(theirs, rel=1e-9, abs=1e-12), name


@pytest.mark.parametrize("ticker", ["ACME", "BOLT.KS", "WRLD"])
@pytest.mark.parametrize("period", ["max", "2y", "1y", "6mo", "ytd", "1mo", "5d", "1d"])
def test_figures_match_an_independent_computation(market_dir: Path, ticker: str, period: str) -> None:
    bars = asyncio.run(CsvMarketData(market_dir).history(ticker, period))
    figures = compute_figures(bars).as_dict()
    expected = reference.figures(reference.load(market_dir / f"{ticker}.csv", period))
    assert figures["as_of"] == expected["as_of"] == "2026-06-30"
    assert figures["sessions"] == expected["sessions"]
    assert_same_figures(figures, expected)


def test_a_year_of_data_gives_every_figure(market_dir: Path) -> None:
    bars = asyncio.run(CsvMarketData(market_dir).history("ACME", "1y"))
    figures = compute_figures(bars).as_dict()
    assert all(figures[name] is not None for name in FIGURES)
    assert figures["volatility_sessions"] == 252


def test_short_data_gives_none_not_a_guess(market_dir: Path) -> None:
    bars = asyncio.run(CsvMarketData(market_dir).history("WRLD", "1mo"))
    figures = compute_figures(bars)
    assert figures.sessions == 22
    assert figures.sma_20 is not None and figures.return_1m is not None
    assert figures.sma_50 is None and figures.sma_200 is None
    assert figures.return_ytd is None  # the data starts in the report's year
    assert figures.high_52w is None and figures.low_52w is None
    one = compute_figures(bars.tail(1))
    assert one.previous_close is None and one.return_1d is None and one.rsi_14 is None
    assert one.volatility is None and one.volume_ratio_20 is None and one.return_period is None


def test_rsi_matches_wilders_worked_example() -> None:
    # the closes of StockCharts' ChartSchool RSI worksheet. Its first 14 moves gain 3.34 and lose 1.40 in all:
    # averages 0.238571 and 0.1, RS 2.385714, RSI 100 - 100 / 3.385714 = 70.46 (the worksheet prints 70.53
    # because it rounds the averages to 0.24 and 0.10 first). The next close, 46.00, is a loss of 0.28.
    closes = [44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89, 46.03, 45.61]
    closes += [46.28, 46.28, 46.00]
    assert rsi_wilder(closes[:15]) == pytest.approx(70.464135, abs=1e-6)
    gain, loss = 0.238571428 * 13 / 14, (0.1 * 13 + 0.28) / 14
    assert rsi_wilder(closes) == pytest.approx(100 - 100 / (1 + gain / loss), abs=1e-6)


def test_rsi_edges() -> None:
    assert rsi_wilder([float(x) for x in range(1, 17)]) == 100.0  # only gains
    assert rsi_wilder([5.0] * 16) == 50.0  # no movement at all
    assert rsi_wilder([1.0] * 14) is None  # 13 moves: too short


def test_sma_is_the_mean_of_the_last_n() -> None:
    assert sma([1.0, 2.0, 3.0, 4.0], 2) == 3.5
    assert sma([1.0], 2) is None


def test_volume_ratio_excludes_the_last_session() -> None:
    index = pd.bdate_range("2026-01-01", periods=21)
    frame = pd.DataFrame(
        {"Open": 1.0, "High": 1.0, "Low": 1.0, "Close": 1.0, "Volume": [100.0] * 20 + [300.0]}, index=index
    )
    figures = compute_figures(frame)
    assert figures.avg_volume_20 == 100.0 and figures.volume_ratio_20 == 3.0
