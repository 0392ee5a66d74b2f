"""An independent computation of a report's figures, straight from a CSV with pandas' own rolling
windows and exponential smoothing, to check workers/reports/indicators.py against (it imports nothing of
Hearth's)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def load(path: Path, period: str = "max") -> pd.DataFrame:
    frame = pd.read_csv(path, parse_dates=["Date"], index_col="Date").sort_index()
    last = frame.index[-1]
    if period == "max":
        return frame
    if period == "ytd":
        return frame[frame.index.year == last.year]
    if period == "5d":
        return frame.tail(5)
    if period == "1d":
        return frame.tail(1)
    months = {"1mo": 1, "3mo": 3, "6mo": 6, "1y": 12, "2y": 24, "5y": 60, "10y": 120}[period]
    return frame[frame.index > last - pd.DateOffset(months=months)]


def figures(frame: pd.DataFrame) -> dict[str, Any]:
    close, volume = frame["Close"].astype(float), frame["Volume"].astype(float)
    last = frame.index[-1]
    out: dict[str, Any] = {
        "as_of": last.date().isoformat(),
        "sessions": len(frame),
        "last_close": close.iloc[-1],
        "return_1d": close.pct_change(1).iloc[-1] if len(close) > 1 else None,
        "return_1w": close.pct_change(5).iloc[-1] if len(close) > 5 else None,
        "return_1m": close.pct_change(21).iloc[-1] if len(close) > 21 else None,
        "return_period": close.iloc[-1] / close.iloc[0] - 1 if len(close) > 1 else None,
    }
    before = close[close.index.year < last.year]
    out["return_ytd"] = close.iloc[-1] / before.iloc[-1] - 1 if len(before) else None
    for n in (20, 50, 200):
        out[f"sma_{n}"] = close.rolling(n).mean().iloc[-1] if len(close) >= n else None
    out["rsi_14"] = rsi_wilder_ewm(close)
    log_returns = np.log(close).diff().dropna().tail(252)
    out["volatility"] = log_returns.std(ddof=1) * math.sqrt(252) if len(log_returns) >= 20 else None
    year = frame[frame.index > last - pd.Timedelta(days=364)]
    covered = frame.index[0] <= last - pd.Timedelta(days=357)
    out["high_52w"] = year["High"].max() if covered else None
    out["low_52w"] = year["Low"].min() if covered else None
    if len(volume) > 20:
        average = volume.iloc[-21:-1].mean()
        out["avg_volume_20"] = average
        out["volume_ratio_20"] = volume.iloc[-1] / average
    else:
        out["avg_volume_20"] = out["volume_ratio_20"] = None
    return out


def rsi_wilder_ewm(close: pd.Series, n: int = 14) -> float | None:
    """Wilder's smoothing is an EWM with alpha 1/n seeded with the simple mean of the first n moves."""
    delta = close.diff().dropna()
    if len(delta) < n:
        return None
    gains, losses = delta.clip(lower=0), (-delta).clip(lower=0)

    def smoothed(series: pd.Series) -> float:
        seeded = pd.concat([pd.Series([series.iloc[:n].mean()]), series.iloc[n:]], ignore_index=True)
        return float(seeded.ewm(alpha=1 / n, adjust=False).mean().iloc[-1])

    gain, loss = smoothed(gains), smoothed(losses)
    return 100.0 if loss == 0 else 100 - 100 / (1 + gain / loss)
