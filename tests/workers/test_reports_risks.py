"""The risk-signal rules (workers/reports/risks.py): which computed figures count as a risk."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from workers.reports.indicators import Figures, compute_figures
from workers.reports.market import CsvMarketData
from workers.reports.narrative import fallback_risks
from workers.reports.risks import CODES, about, active_signals, no_risk_sentence, risk_signals


@pytest.fixture(scope="module")
def calm(market_dir: Path) -> Figures:
    """WRLD over a year: no risk signal at all (volatility 16.7%, RSI 44, volume in line)."""
    return compute_figures(asyncio.run(CsvMarketData(market_dir).history("WRLD", "1y")))


def codes(f: Figures) -> list[str]:
    return [signal.code for signal in risk_signals(f)]


def test_calm_figures_raise_no_signal_and_the_report_says_so(calm: Figures) -> None:
    assert codes(calm) == []
    assert fallback_risks(active_signals(calm), "en") == [no_risk_sentence("en")]
    assert fallback_risks(active_signals(calm), "ko") == [no_risk_sentence("ko")]
    assert no_risk_sentence("en").startswith("No risk signal in these figures")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"volatility": 0.30}, ["high_volatility"]),
        ({"volatility": 0.299}, []),
        ({"high_52w": 100.0, "last_close": 80.0, "low_52w": 60.0, "sma_200": 70.0}, ["deep_drawdown"]),
        ({"high_52w": 100.0, "last_close": 80.01, "low_52w": 60.0, "sma_200": 70.0}, []),
        # within 5% of the low, not yet 20% off the high
        ({"high_52w": 100.0, "last_close": 84.0, "low_52w": 82.0, "sma_200": 70.0}, ["near_52w_low"]),
        ({"sma_200": None, "sma_50": 1e9}, ["long_downtrend", "short_history"]),
        ({"sma_200": 1e9}, ["long_downtrend"]),
        ({"return_1m": -0.10}, ["sharp_fall"]),
        ({"return_1m": -0.099}, []),
        ({"rsi_14": 70.0}, ["overbought"]),
        ({"rsi_14": 30.0}, ["oversold"]),
        ({"return_1d": -0.03, "volume_ratio_20": 1.5}, ["selling_pressure"]),
        ({"return_1d": -0.03, "volume_ratio_20": 1.49}, []),
        ({"volume_ratio_20": 0.5}, ["thin_volume"]),
        ({"high_52w": None, "low_52w": None}, ["short_history"]),
    ],
)
def test_each_rule_and_its_boundary(
    calm: Figures, change: dict[str, float | None], expected: list[str]
) -> None:
    assert codes(dataclasses.replace(calm, **change)) == expected  # type: ignore[arg-type]


def test_a_close_above_its_averages_is_never_a_risk(calm: Figures) -> None:
    """The old Risks section listed "The close is above its 200-day average" as a risk."""
    assert calm.sma_200 is not None and calm.last_close > calm.sma_200
    rising = dataclasses.replace(calm, sma_20=calm.last_close * 0.9, sma_50=calm.last_close * 0.8)
    assert codes(rising) == []


def test_every_signal_has_both_languages_and_words(calm: Figures) -> None:
    stormy = dataclasses.replace(
        calm,
        volatility=0.6,
        high_52w=calm.last_close * 2,
        sma_200=calm.last_close * 1.5,
        return_1m=-0.3,
        rsi_14=20.0,
        return_1d=-0.05,
        volume_ratio_20=3.0,
    )
    signals = risk_signals(stormy)
    assert len(signals) >= 6
    for signal in signals:
        assert signal.code in CODES
        for language in ("en", "ko"):
            assert signal.finding[language] and signal.sentence[language]
            # the code's own sentence is about its signal, in the checker's eyes too
            assert about(signal, signal.sentence[language], language), (signal.code, language)
        assert not any(
            ch.isdigit()
            for ch in signal.finding["en"]
            .replace("52", "")
            .replace("200", "")
            .replace("50", "")
            .replace("14", "")
        )
