"""The figures of a report, computed from daily bars (never by the model).

Definitions (also stored with each report under ``data.method``):

- returns are simple returns of the close, counted in sessions: 1 day = 1, 1 week = 5, 1 month = 21 sessions
  back; year to date from the last close of the previous calendar year; the period's from its first close;
- SMA n: the mean of the last n closes;
- RSI 14: Wilder's, seeded with the simple mean of the first 14 gains and losses, then smoothed
  ``avg = (avg * 13 + x) / 14``; 100 when there were no losses;
- volatility: the sample standard deviation (ddof 1) of daily log returns over the last 252 sessions (fewer
  when the data is shorter, at least 20), times sqrt(252);
- 52-week high and low: the highest High and lowest Low of the bars dated within 364 days of the last one,
  given only when the data reaches back that far (within a week, for holidays);
- volume ratio: the last session's volume over the mean volume of the 20 sessions before it.

A figure the data is too short for is None (rendered "n/a").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd

TRADING_DAYS = 252
WEEK_SESSIONS = 5
MONTH_SESSIONS = 21
RSI_PERIOD = 14
VOLATILITY_MIN_RETURNS = 20
VOLUME_AVERAGE_SESSIONS = 20
WEEKS_52_DAYS = 364
WEEKS_52_SLACK_DAYS = 7

METHOD = {
    "returns": "simple returns of the close; 1d = 1, 1w = 5, 1m = 21 sessions back; ytd from the previous "
    "year's last close; period from the first close",
    "sma": "mean of the last n closes",
    "rsi_14": "Wilder's RSI over 14 sessions (seeded with simple means)",
    "volatility": "sample std (ddof 1) of daily log returns over the last <= 252 sessions (>= 20) "
    "x sqrt(252)",
    "range_52w": "max High / min Low of the bars within 364 days of the last bar",
    "volume_ratio_20": "last volume / mean volume of the 20 sessions before it",
}


@dataclass(frozen=True)
class Figures:
    as_of: str  # ISO date of the last bar
    first_date: str
    sessions: int
    last_close: float
    previous_close: float | None
    change_1d: float | None  # in price units
    return_1d: float | None  # fractions: 0.012 = +1.2 %
    return_1w: float | None
    return_1m: float | None
    return_ytd: float | None
    return_period: float | None
    sma_20: float | None
    sma_50: float | None
    sma_200: float | None
    rsi_14: float | None
    volatility: float | None  # annualised, a fraction
    volatility_sessions: int
    high_52w: float | None
    low_52w: float | None
    last_volume: float
    avg_volume_20: float | None
    volume_ratio_20: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def simple_return(closes: Sequence[float], sessions: int) -> float | None:
    """close[-1] / close[-1 - sessions] - 1."""
    if len(closes) <= sessions:
        return None
    return _finite(closes[-1] / closes[-1 - sessions] - 1.0)


def sma(closes: Sequence[float], n: int) -> float | None:
    if len(closes) < n:
        return None
    return _finite(math.fsum(closes[-n:]) / n)


def rsi_wilder(closes: Sequence[float], period: int = RSI_PERIOD) -> float | None:
    if len(closes) < period + 1:
        return None
    changes = [b - a for a, b in zip(closes[:-1], closes[1:], strict=True)]
    gain = math.fsum(max(c, 0.0) for c in changes[:period]) / period
    loss = math.fsum(max(-c, 0.0) for c in changes[:period]) / period
    for change in changes[period:]:
        gain = (gain * (period - 1) + max(change, 0.0)) / period
        loss = (loss * (period - 1) + max(-change, 0.0)) / period
    if loss == 0:
        return 100.0 if gain > 0 else 50.0
    return _finite(100.0 - 100.0 / (1.0 + gain / loss))


def annualised_volatility(closes: Sequence[float], window: int = TRADING_DAYS) -> tuple[float | None, int]:
    """(volatility, number of daily returns used)."""
    recent = list(closes[-(window + 1) :])
    returns = [math.log(b / a) for a, b in zip(recent[:-1], recent[1:], strict=True)]
    if len(returns) < VOLATILITY_MIN_RETURNS:
        return None, len(returns)
    mean = math.fsum(returns) / len(returns)
    variance = math.fsum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
    return _finite(math.sqrt(variance) * math.sqrt(TRADING_DAYS)), len(returns)


def year_to_date_return(dates: Sequence[date], closes: Sequence[float]) -> float | None:
    """From the last close of the previous calendar year; None when the data starts in this year."""
    year = dates[-1].year
    base = None
    for day, close in zip(dates, closes, strict=True):
        if day.year < year:
            base = close
        else:
            break
    if base is None:
        return None
    return _finite(closes[-1] / base - 1.0)


def range_52w(
    dates: Sequence[date], highs: Sequence[float], lows: Sequence[float]
) -> tuple[float | None, float | None]:
    start = dates[-1] - timedelta(days=WEEKS_52_DAYS)
    if dates[0] > start + timedelta(days=WEEKS_52_SLACK_DAYS):
        return None, None
    inside = [i for i, day in enumerate(dates) if day > start]
    return _finite(max(highs[i] for i in inside)), _finite(min(lows[i] for i in inside))


def volume_ratio(
    volumes: Sequence[float], n: int = VOLUME_AVERAGE_SESSIONS
) -> tuple[float | None, float | None]:
    """(mean volume of the n sessions before the last, last volume / that mean)."""
    if len(volumes) < n + 1:
        return None, None
    average = math.fsum(volumes[-(n + 1) : -1]) / n
    if average <= 0:
        return average, None
    return _finite(average), _finite(volumes[-1] / average)


def compute_figures(bars: pd.DataFrame) -> Figures:
    """Every figure of a report from bars in :func:`workers.reports.market.normalize_bars`' shape."""
    closes = [float(x) for x in bars["Close"]]
    highs = [float(x) for x in bars["High"]]
    lows = [float(x) for x in bars["Low"]]
    volumes = [float(x) for x in bars["Volume"]]
    dates = [ts.date() for ts in bars.index]
    volatility, vol_sessions = annualised_volatility(closes)
    high, low = range_52w(dates, highs, lows)
    avg_volume, ratio = volume_ratio(volumes)
    previous = closes[-2] if len(closes) > 1 else None
    return Figures(
        as_of=dates[-1].isoformat(),
        first_date=dates[0].isoformat(),
        sessions=len(closes),
        last_close=closes[-1],
        previous_close=previous,
        change_1d=_finite(closes[-1] - previous) if previous is not None else None,
        return_1d=simple_return(closes, 1),
        return_1w=simple_return(closes, WEEK_SESSIONS),
        return_1m=simple_return(closes, MONTH_SESSIONS),
        return_ytd=year_to_date_return(dates, closes),
        return_period=simple_return(closes, len(closes) - 1) if len(closes) > 1 else None,
        sma_20=sma(closes, 20),
        sma_50=sma(closes, 50),
        sma_200=sma(closes, 200),
        rsi_14=rsi_wilder(closes),
        volatility=volatility,
        volatility_sessions=vol_sessions,
        high_52w=high,
        low_52w=low,
        last_volume=volumes[-1],
        avg_volume_20=avg_volume,
        volume_ratio_20=ratio,
    )


def snapshot_bars(bars: pd.DataFrame, n: int) -> list[dict[str, Any]]:
    """The last n bars as JSON-able rows (stored with the report)."""
    return [
        {
            "date": ts.date().isoformat(),
            "open": float(row.Open),
            "high": float(row.High),
            "low": float(row.Low),
            "close": float(row.Close),
            "volume": float(row.Volume),
        }
        for ts, row in zip(bars.index[-n:], bars.iloc[-n:].itertuples(index=False), strict=True)
    ]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
