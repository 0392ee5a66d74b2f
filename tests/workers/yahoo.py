"""A small fake of the yfinance module for the yfinance provider: ``Ticker(symbol).history(...)`` runs
yfinance 1.7's own ``PriceHistory`` over a recorded Yahoo chart reply (``/v8/finance/chart``), so the frames
have exactly the shape yfinance gives (tz-aware index named Date, int64 Volume, Dividends, Stock Splits,
Capital Gains for funds). A reply may also be an exception to raise, a frame to return, or a callable."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pandas as pd
from yfinance.scrapers.history import PriceHistory

VALID_RANGES = ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"]
NOT_FOUND = {
    "chart": {
        "result": None,
        "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"},
    }
}


def chart_reply(
    csv_path: Path,
    symbol: str,
    *,
    rows: int = 260,
    instrument: str = "EQUITY",
    tz: str = "America/New_York",
    open_time: str = "09:30",
) -> dict[str, Any]:
    """What Yahoo answers for ``symbol``: the last ``rows`` bars of a CSV, stamped at the session open."""
    frame = pd.read_csv(csv_path).tail(rows)
    stamps = [int(pd.Timestamp(f"{day} {open_time}", tz=tz).timestamp()) for day in frame["Date"]]
    meta = {
        "currency": "USD" if tz.startswith("America") else "KRW",
        "symbol": symbol,
        "exchangeName": "PCX",
        "instrumentType": instrument,
        "firstTradeDate": 728317800,
        "regularMarketTime": stamps[-1] + 6 * 3600,
        "gmtoffset": int(pd.Timestamp(stamps[-1], unit="s", tz=tz).utcoffset().total_seconds()),
        "timezone": "EDT",
        "exchangeTimezoneName": tz,
        "regularMarketPrice": float(frame["Close"].iloc[-1]),
        "priceHint": 2,
        "dataGranularity": "1d",
        "range": "",
        "validRanges": VALID_RANGES,
    }
    quote = {c.lower(): frame[c].astype(float).tolist() for c in ("Open", "High", "Low", "Close", "Volume")}
    return {
        "chart": {
            "result": [
                {
                    "meta": meta,
                    "timestamp": stamps,
                    "indicators": {"quote": [quote], "adjclose": [{"adjclose": quote["close"]}]},
                }
            ],
            "error": None,
        }
    }


class _Reply:
    def __init__(self, payload: dict[str, Any]) -> None:
        self._payload = copy.deepcopy(payload)  # yfinance formats the metadata in place
        self.text = json.dumps(payload)

    def json(self) -> dict[str, Any]:
        return self._payload


class _YahooData:
    """Stands in for yfinance's YfData (the HTTP session)."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self._payload = payload
        self.requests: list[dict[str, Any]] = []

    def get(self, url: str, params: dict[str, Any] | None = None, timeout: float | None = None) -> _Reply:
        self.requests.append({"url": url, "params": params, "timeout": timeout})
        return _Reply(self._payload)

    cache_get = get


class FakeYahoo:
    """``yf`` for YFinanceMarketData: replies by symbol; records every history() call."""

    def __init__(self, replies: dict[str, Any], tz: str = "America/New_York") -> None:
        self.replies = replies
        self.tz = tz
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def Ticker(self, symbol: str) -> _FakeTicker:  # noqa: N802 - yfinance's name
        return _FakeTicker(self, symbol)


class _FakeTicker:
    def __init__(self, yahoo: FakeYahoo, symbol: str) -> None:
        self._yahoo = yahoo
        self.ticker = symbol

    def history(self, **kwargs: Any) -> pd.DataFrame:
        self._yahoo.calls.append((self.ticker, kwargs))
        reply = self._yahoo.replies[self.ticker]
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, pd.DataFrame):
            return reply
        if callable(reply):
            return reply()
        return PriceHistory(_YahooData(reply), self.ticker, self._yahoo.tz).history(**kwargs)


def as_download(history: pd.DataFrame, symbol: str, *, group_by: str = "column") -> pd.DataFrame:
    """What ``yf.download(symbol)`` builds from a history frame (yfinance/multi.py, ignore_tz=True)."""
    frame = history.copy()
    frame.index = frame.index.tz_localize(None)
    data = pd.concat({symbol: frame}, axis=1, names=["Ticker", "Price"])
    if group_by == "column":
        data.columns = data.columns.swaplevel(0, 1)
        data = data.sort_index(level=0, axis=1)
    return data
