"""Market data: the ``MarketData`` protocol and its two providers, ``yfinance`` and ``csv``.

Both return daily bars as a pandas DataFrame in one shape (see :func:`normalize_bars`): a tz-naive
DatetimeIndex of trading dates named ``Date``, float columns ``Open High Low Close Volume``, oldest first, no
duplicate dates and no rows without a close. Every figure of a report is computed from that frame.

yfinance is blocking and talks to Yahoo over curl_cffi: it runs on the provider's own small thread pool, under
an overall time limit, and whatever it raises (DNS errors, empty answers, Yahoo's "no data found") becomes
:class:`UnknownTicker` or :class:`MarketDataUnavailable` here, where it enters.
"""

from __future__ import annotations

import asyncio
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from configs.settings import MarketSettings
from workers.reports.errors import InvalidPeriod, InvalidTicker, MarketDataUnavailable, UnknownTicker

log = logging.getLogger("hearth.reports")

COLUMNS = ("Open", "High", "Low", "Close", "Volume")
# yfinance's periods (Ticker.history(period=...)); the CSV provider cuts its file to the same windows
PERIODS = ("1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max")
# letters, digits and . - ^ = (BRK-B, ^GSPC, 005930.KS, EURUSD=X), with at least one letter or digit
_TICKER = re.compile(r"^(?=.*[A-Z0-9])[A-Z0-9.\-^=]{1,15}$")


def normalize_ticker(ticker: str) -> str:
    """The upper-cased ticker, or InvalidTicker."""
    symbol = ticker.strip().upper()
    if not _TICKER.match(symbol):
        raise InvalidTicker(ticker)
    return symbol


def check_period(period: str) -> str:
    value = period.strip().lower()
    if value not in PERIODS:
        raise InvalidPeriod(period, PERIODS)
    return value


class MarketData(Protocol):
    """Daily bars for one ticker over one of :data:`PERIODS`."""

    name: str

    async def history(self, ticker: str, period: str) -> pd.DataFrame:
        """Bars in :func:`normalize_bars`' shape; UnknownTicker or MarketDataUnavailable otherwise."""
        ...


def normalize_bars(frame: Any, ticker: str) -> pd.DataFrame:
    """Bring a frame from ``Ticker.history()``, ``yf.download()`` or a CSV to the one shape reports use.

    ``history()``: tz-aware index in the exchange's zone, columns Open High Low Close Volume Dividends
    "Stock Splits" (and "Capital Gains" for funds). ``download()``: MultiIndex columns (Price, Ticker), or
    (Ticker, Price) with ``group_by="ticker"``, a tz-naive index, rows of NaN where a ticker did not trade.
    Dates keep the exchange's wall-clock date (tz_localize(None), not a conversion to UTC, which would move
    Asian trading days to the day before). Raises UnknownTicker when no bar is left.
    """
    if not isinstance(frame, pd.DataFrame):
        raise MarketDataUnavailable(f"the market data for '{ticker}' is not a table ({type(frame).__name__})")
    if isinstance(frame.columns, pd.MultiIndex):
        frame = _one_ticker(frame, ticker)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise MarketDataUnavailable(
            f"the market data for '{ticker}' lacks the columns {', '.join(missing)} "
            f"(it has {', '.join(map(str, frame.columns)) or 'none'})"
        )
    bars = frame.loc[:, list(COLUMNS)].copy()
    try:
        index = pd.DatetimeIndex(pd.to_datetime(bars.index))
        for column in COLUMNS:
            bars[column] = pd.to_numeric(bars[column], errors="coerce").astype("float64")
    except (TypeError, ValueError) as exc:
        raise MarketDataUnavailable(f"the market data for '{ticker}' holds unreadable values: {exc}") from exc
    if index.tz is not None:
        index = index.tz_localize(None)
    bars.index = index.normalize().as_unit("ns")  # one resolution, whatever the source parsed
    bars.index.name = "Date"
    bars = bars[bars["Close"].notna() & (bars["Close"] > 0)]
    bars["Volume"] = bars["Volume"].fillna(0.0)
    for column in ("Open", "High", "Low"):  # a bar with a close but a gap elsewhere keeps its close
        bars[column] = bars[column].fillna(bars["Close"])
    bars = bars.sort_index()
    bars = bars[~bars.index.duplicated(keep="last")]
    if bars.empty:
        raise UnknownTicker(ticker, "the source returned no price bars")
    return bars


def _one_ticker(frame: pd.DataFrame, ticker: str) -> pd.DataFrame:
    columns = frame.columns
    assert isinstance(columns, pd.MultiIndex)
    for level in range(columns.nlevels):
        values = {str(v).upper(): v for v in columns.get_level_values(level)}
        if ticker.upper() in values:
            picked = frame.xs(values[ticker.upper()], axis=1, level=level)
            return picked if isinstance(picked, pd.DataFrame) else picked.to_frame()
    raise UnknownTicker(ticker, "the source returned data for other tickers only")


def cut_to_period(bars: pd.DataFrame, period: str) -> pd.DataFrame:
    """The bars of ``period`` counted back from the last bar (as yfinance counts back from today)."""
    if bars.empty or period == "max":
        return bars
    last = bars.index[-1]
    if period == "1d":
        return bars.iloc[-1:]
    if period == "5d":
        return bars.iloc[-5:]
    if period == "ytd":
        return bars[bars.index >= pd.Timestamp(year=last.year, month=1, day=1)]
    amount = int(period[:-2] if period.endswith("mo") else period[:-1])
    offset = pd.DateOffset(months=amount) if period.endswith("mo") else pd.DateOffset(years=amount)
    return bars[bars.index > last - offset]


# --- the CSV provider -----------------------------------------------------------------------------------


class CsvMarketData:
    """``<csv_dir>/<TICKER>.csv`` with yfinance's history columns ``Date,Open,High,Low,Close,Volume`` (extra
    columns such as Dividends are ignored; a Date with a time or a UTC offset counts by its date part).
    Periods are counted back from the file's last bar, so old demo files still give full reports."""

    name = "csv"

    def __init__(self, directory: Path | None) -> None:
        self._dir = directory

    async def history(self, ticker: str, period: str) -> pd.DataFrame:
        return await asyncio.to_thread(self._read, ticker, period)

    def _read(self, ticker: str, period: str) -> pd.DataFrame:
        if self._dir is None:
            raise MarketDataUnavailable(
                "the csv market data provider has no directory: set HEARTH_MARKET__CSV_DIR"
            )
        if not self._dir.is_dir():
            raise MarketDataUnavailable(
                f"the market data directory {self._dir} does not exist: check HEARTH_MARKET__CSV_DIR"
            )
        path = self._dir / f"{ticker}.csv"
        if not path.is_file():
            raise UnknownTicker(ticker, f"there is no {path.name} in the market data directory")
        try:
            raw = pd.read_csv(path, comment="#")
            if "Date" not in raw.columns:
                raise ValueError("no Date column")
            dates = pd.to_datetime(raw["Date"].astype(str).str.slice(0, 10), format="%Y-%m-%d")
            frame = raw.drop(columns=["Date"]).set_index(pd.DatetimeIndex(dates, name="Date"))
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise MarketDataUnavailable(f"{path.name} cannot be read as market data: {exc}") from exc
        return cut_to_period(normalize_bars(frame, ticker), period)


# --- the yfinance provider ------------------------------------------------------------------------------


class YFinanceMarketData:
    """Yahoo Finance through yfinance: ``yf.Ticker(ticker).history(period=..., interval="1d")``.

    ``history`` is used rather than ``yf.download``: with ``yf.config.debug.hide_exceptions`` off it raises
    what went wrong (a DNS error, Yahoo's "symbol may be delisted"), where ``download`` logs it and returns
    an empty frame, leaving "unknown ticker" and "no network" indistinguishable. Prices are split and
    dividend adjusted (``auto_adjust=True``, yfinance's default). ``yf`` may be any object with yfinance's
    ``Ticker`` (tests pass a fake holding recorded frames).
    """

    name = "yfinance"

    def __init__(self, *, timeout_s: float, yf: Any | None = None, max_workers: int = 4) -> None:
        self._timeout_s = timeout_s
        self._yf = yf
        self._configured = False
        # blocked Yahoo calls must not starve the default executor, which the database calls share
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="hearth-yfinance")

    def _module(self) -> Any:
        if not self._configured:
            import yfinance

            # raise errors instead of logging them and returning an empty frame (see the class docstring);
            # also when a fake is injected: the tests' fakes run yfinance's own parsing code
            yfinance.config.debug.hide_exceptions = False
            self._yf = self._yf or yfinance
            self._configured = True
        return self._yf

    async def history(self, ticker: str, period: str) -> pd.DataFrame:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, self._fetch, ticker, period)
        try:
            frame = await asyncio.wait_for(future, self._timeout_s)
        except TimeoutError as exc:
            raise MarketDataUnavailable(
                f"market data unavailable: Yahoo Finance did not answer for '{ticker}' within "
                f"{self._timeout_s:g}s"
            ) from exc
        return normalize_bars(frame, ticker)

    def _fetch(self, ticker: str, period: str) -> Any:
        try:
            yf = self._module()
            return yf.Ticker(ticker).history(
                period=period,
                interval="1d",
                auto_adjust=True,
                actions=False,
                timeout=self._timeout_s,
            )
        except Exception as exc:
            raise _wrap_yfinance_error(exc, ticker) from exc

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _wrap_yfinance_error(exc: Exception, ticker: str) -> Exception:
    from yfinance import exceptions as yfe

    if isinstance(exc, yfe.YFTickerMissingError):  # Yahoo answered: no such symbol, or delisted
        return UnknownTicker(ticker, getattr(exc, "rationale", "") or str(exc))
    if isinstance(exc, yfe.YFInvalidPeriodError):
        return InvalidPeriod(str(exc.invalid_period), PERIODS)
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status == 404:  # e.g. the quote summary yfinance falls back to for a symbol's time zone
        return UnknownTicker(ticker, "Yahoo Finance does not know the symbol")
    if isinstance(exc, yfe.YFRateLimitError):
        return MarketDataUnavailable(f"market data unavailable: Yahoo Finance is rate limiting ({ticker})")
    # curl_cffi's DNSError / ConnectionError / Timeout, YFDataException ("Yahoo is down"), a body that is not
    # JSON, a KeyError on a reply missing fields (as fast_info raises offline): the source is not usable
    detail = " ".join(str(exc).split())[:300] or type(exc).__name__
    return MarketDataUnavailable(
        f"market data unavailable: Yahoo Finance failed for '{ticker}' ({type(exc).__name__}: {detail})"
    )


def make_market_data(settings: MarketSettings) -> MarketData:
    """The provider ``settings.provider`` names (HEARTH_MARKET__PROVIDER); nothing connects here."""
    if settings.provider == "csv":
        if settings.csv_dir is None:
            log.warning("market.provider is csv but HEARTH_MARKET__CSV_DIR is not set: reports will fail")
        return CsvMarketData(settings.csv_dir)
    return YFinanceMarketData(timeout_s=settings.timeout_s)
