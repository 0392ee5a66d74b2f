"""Write the offline demo market data: two years of daily bars for three made-up tickers.

    python examples/market/generate.py [OUT_DIR]

The prices are a seeded random walk (geometric Brownian motion with overnight gaps), not real quotes, which
is why the tickers are invented: ACME (a volatile stock), BOLT.KS (a stock with a Korean-style suffix) and
WRLD (a broad-market ETF: calmer, heavier volume). Each file has yfinance's history columns
``Date,Open,High,Low,Close,Volume``, so ``HEARTH_MARKET__PROVIDER=csv HEARTH_MARKET__CSV_DIR=examples/market``
serves them. Python's ``random.Random`` keeps the output identical across runs and versions.
"""

from __future__ import annotations

import csv
import math
import random
import sys
from datetime import date, timedelta
from pathlib import Path

START = date(2024, 7, 1)
END = date(2026, 6, 30)
# ticker: (seed, first close, annual drift, annual volatility, typical volume)
TICKERS = {
    "ACME": (11, 84.0, 0.18, 0.42, 3_200_000),
    "BOLT.KS": (23, 61_500.0, -0.05, 0.30, 850_000),
    "WRLD": (37, 412.0, 0.09, 0.15, 18_000_000),
}


def business_days(start: date, end: date) -> list[date]:
    days, day = [], start
    while day <= end:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def bars(seed: int, first: float, drift: float, vol: float, volume: int) -> list[list[str]]:
    rng = random.Random(seed)
    daily_mu, daily_sigma = drift / 252, vol / math.sqrt(252)
    decimals = 0 if first >= 10_000 else 2
    close = first
    rows = []
    for day in business_days(START, END):
        gap = rng.gauss(0, daily_sigma * 0.3)
        move = rng.gauss(daily_mu - daily_sigma**2 / 2, daily_sigma)
        open_ = close * math.exp(gap)
        close = close * math.exp(gap + move)
        high = max(open_, close) * (1 + abs(rng.gauss(0, daily_sigma * 0.5)))
        low = min(open_, close) * (1 - abs(rng.gauss(0, daily_sigma * 0.5)))
        # busier on big moves
        shares = volume * math.exp(rng.gauss(0, 0.25)) * (1 + 8 * abs(gap + move))
        rows.append(
            [
                day.isoformat(),
                f"{open_:.{decimals}f}",
                f"{high:.{decimals}f}",
                f"{low:.{decimals}f}",
                f"{close:.{decimals}f}",
                str(round(shares)),
            ]
        )
    return rows


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for ticker, spec in TICKERS.items():
        with (out_dir / f"{ticker}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["Date", "Open", "High", "Low", "Close", "Volume"])
            writer.writerows(bars(*spec))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
