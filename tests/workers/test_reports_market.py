"""Market data providers: the CSV files, yfinance over recorded Yahoo replies, real yfinance offline."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pandas as pd
import pytest
from curl_cffi.const import CurlECode
from curl_cffi.requests.exceptions import DNSError, HTTPError
from yfinance.exceptions import YFRateLimitError

from configs.settings import MarketSettings
from tests.workers.yahoo import NOT_FOUND, FakeYahoo, as_download, chart_reply
from workers.reports.errors import InvalidPeriod, InvalidTicker, MarketDataUnavailable, UnknownTicker
from workers.reports.market import (
    COLUMNS,
    CsvMarketData,
    YFinanceMarketData,
    check_period,
    make_market_data,
    normalize_bars,
    normalize_ticker,
)


def history(provider: object, ticker: str, period: str) -> pd.DataFrame:
    return asyncio.run(provider.history(ticker, period))  # type: ignore[attr-defined]


def csv_bars(market_dir: Path, ticker: str) -> pd.DataFrame:
    frame = pd.read_csv(market_dir / f"{ticker}.csv", parse_dates=["Date"], index_col="Date")
    frame.index = frame.index.as_unit("ns")
    return frame.astype("float64")


# --- tickers and periods --------------------------------------------------------------------------------


@pytest.mark.parametrize("ticker", ["aapl", " SPY ", "BRK-B", "^GSPC", "005930.KS", "EURUSD=X", "BTC-USD"])
def test_valid_tickers_are_upper_cased(ticker: str) -> None:
    assert normalize_ticker(ticker) == ticker.strip().upper()


@pytest.mark.parametrize("ticker", ["", "../etc/passwd", "AAPL MSFT", "A" * 16, "...", "$AAPL", "아이"])
def test_invalid_tickers(ticker: str) -> None:
    with pytest.raises(InvalidTicker) as info:
        normalize_ticker(ticker)
    assert info.value.param == "ticker"


def test_periods() -> None:
    assert check_period("1Y") == "1y"
    with pytest.raises(InvalidPeriod):
        check_period("3y")


# --- the CSV provider -----------------------------------------------------------------------------------


def test_csv_provider_reads_the_file_in_the_shared_shape(market_dir: Path) -> None:
    bars = history(CsvMarketData(market_dir), "WRLD", "max")
    expected = csv_bars(market_dir, "WRLD")
    assert list(bars.columns) == list(COLUMNS)
    assert bars.index.name == "Date" and bars.index.tz is None
    pd.testing.assert_frame_equal(bars, expected, check_freq=False, check_names=False)


@pytest.mark.parametrize(
    ("period", "first", "sessions"),
    [("1d", "2026-06-30", 1), ("5d", "2026-06-24", 5), ("1mo", "2026-06-01", 22), ("ytd", "2026-01-01", 129)],
)
def test_csv_periods_count_back_from_the_last_bar(
    market_dir: Path, period: str, first: str, sessions: int
) -> None:
    bars = history(CsvMarketData(market_dir), "ACME", period)
    assert bars.index[0] == pd.Timestamp(first) and len(bars) == sessions
    assert bars.index[-1] == pd.Timestamp("2026-06-30")


def test_csv_from_yfinance_history_to_csv(tmp_path: Path) -> None:
    """A file saved with ``Ticker.history().to_csv()``: dates with offsets, extra columns, a comment."""
    (tmp_path / "SPY.csv").write_text(
        "# saved from yfinance\n"
        "Date,Open,High,Low,Close,Volume,Dividends,Stock Splits,Capital Gains\n"
        "2024-03-08 00:00:00-05:00,1.0,2.0,0.5,1.5,100,0.0,0.0,0.0\n"
        "2024-03-11 00:00:00-04:00,1.5,2.5,1.0,2.0,200,0.1,0.0,0.0\n"
        "2024-03-12 00:00:00-04:00,2.0,2.5,1.5,,300,0.0,0.0,0.0\n",
        encoding="utf-8",
    )
    bars = history(CsvMarketData(tmp_path), "SPY", "max")
    assert list(bars.index.strftime("%Y-%m-%d")) == ["2024-03-08", "2024-03-11"]  # no close: dropped
    assert bars["Close"].tolist() == [1.5, 2.0] and list(bars.columns) == list(COLUMNS)


def test_csv_unknown_ticker(market_dir: Path) -> None:
    with pytest.raises(UnknownTicker) as info:
        history(CsvMarketData(market_dir), "NOPE", "1y")
    assert info.value.code == "ticker_not_found" and "NOPE.csv" in info.value.message


def test_csv_provider_without_a_directory_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(MarketDataUnavailable, match="HEARTH_MARKET__CSV_DIR"):
        history(CsvMarketData(None), "ACME", "1y")
    with pytest.raises(MarketDataUnavailable, match="does not exist"):
        history(CsvMarketData(tmp_path / "missing"), "ACME", "1y")


@pytest.mark.parametrize(
    "content",
    [
        "not,a,market,file\n1,2,3,4\n",  # no Date
        "Date,Open,High,Low,Close\n2024-01-02,1,2,0.5,1.5\n",  # no Volume
        "Date,Open,High,Low,Close,Volume\nyesterday,1,2,0.5,1.5,10\n",  # a date that is not one
        "\x00\x01\x02",
    ],
)
def test_csv_that_is_not_market_data_is_unavailable(tmp_path: Path, content: str) -> None:
    (tmp_path / "BAD.csv").write_text(content, encoding="utf-8")
    with pytest.raises(MarketDataUnavailable):
        history(CsvMarketData(tmp_path), "BAD", "1y")


def test_csv_with_a_header_only_has_no_bars(tmp_path: Path) -> None:
    (tmp_path / "NEW.csv").write_text("Date,Open,High,Low,Close,Volume\n", encoding="utf-8")
    with pytest.raises(UnknownTicker):
        history(CsvMarketData(tmp_path), "NEW", "1y")


def test_make_market_data_follows_the_settings(market_dir: Path) -> None:
    assert make_market_data(MarketSettings(provider="csv", csv_dir=market_dir)).name == "csv"
    assert make_market_data(MarketSettings()).name == "yfinance"


# --- the yfinance provider over recorded Yahoo replies ---------------------------------------------------


def test_yfinance_history_frame_becomes_the_shared_shape(market_dir: Path) -> None:
    yahoo = FakeYahoo({"WRLD": chart_reply(market_dir / "WRLD.csv", "WRLD", rows=30, instrument="ETF")})
    provider = YFinanceMarketData(timeout_s=5, yf=yahoo)
    raw = yahoo.Ticker("WRLD").history(period="1mo", interval="1d")
    # yfinance's own shape: exchange time zone, int64 volume, the action columns of a fund
    assert str(raw.index.tz) == "America/New_York" and raw.index.name == "Date"
    assert list(raw.columns) == [*COLUMNS, "Dividends", "Stock Splits", "Capital Gains"]
    assert raw["Volume"].dtype == "int64"

    bars = history(provider, "WRLD", "1mo")
    expected = csv_bars(market_dir, "WRLD").tail(30)
    pd.testing.assert_frame_equal(bars, expected, check_freq=False, check_names=False)
    ticker, kwargs = yahoo.calls[-1]
    assert ticker == "WRLD"
    assert kwargs == {"period": "1mo", "interval": "1d", "auto_adjust": True, "actions": False, "timeout": 5}


def test_asian_exchange_dates_are_not_moved_to_the_day_before(market_dir: Path) -> None:
    """Seoul's midnight is the previous day in UTC: the bars must keep the exchange's dates."""
    reply = chart_reply(market_dir / "BOLT.KS.csv", "BOLT.KS", rows=10, tz="Asia/Seoul", open_time="09:00")
    provider = YFinanceMarketData(timeout_s=5, yf=FakeYahoo({"BOLT.KS": reply}, tz="Asia/Seoul"))
    bars = history(provider, "BOLT.KS", "1mo")
    expected = csv_bars(market_dir, "BOLT.KS").tail(10)
    assert list(bars.index) == list(expected.index)
    assert bars["Close"].tolist() == expected["Close"].tolist()


@pytest.mark.parametrize("group_by", ["column", "ticker"])
def test_download_frames_are_understood_too(market_dir: Path, group_by: str) -> None:
    """yf.download's MultiIndex columns, tz-naive index, and NaN rows where the ticker did not trade."""
    yahoo = FakeYahoo({"ACME": chart_reply(market_dir / "ACME.csv", "ACME", rows=25)})
    raw = yahoo.Ticker("ACME").history(period="1mo", interval="1d", actions=False)
    downloaded = as_download(raw, "ACME", group_by=group_by)
    downloaded.loc[pd.Timestamp("2026-07-03")] = float("nan")  # another ticker's holiday
    assert isinstance(downloaded.columns, pd.MultiIndex)
    bars = normalize_bars(downloaded, "ACME")
    expected = csv_bars(market_dir, "ACME").tail(25)
    pd.testing.assert_frame_equal(bars, expected, check_freq=False, check_names=False)
    with pytest.raises(UnknownTicker):
        normalize_bars(downloaded, "OTHER")


def test_yahoo_not_knowing_the_symbol_is_unknown_ticker() -> None:
    provider = YFinanceMarketData(timeout_s=5, yf=FakeYahoo({"NOPE": NOT_FOUND}))
    with pytest.raises(UnknownTicker) as info:
        history(provider, "NOPE", "1y")
    assert "No data found" in info.value.message


def test_http_404_is_unknown_ticker() -> None:
    class Response:
        status_code = 404

    error = HTTPError("HTTP Error 404", response=Response())
    with pytest.raises(UnknownTicker):
        history(YFinanceMarketData(timeout_s=5, yf=FakeYahoo({"NOPE": error})), "NOPE", "1y")


@pytest.mark.parametrize(
    "failure",
    [
        DNSError(
            "Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com",
            CurlECode.COULDNT_RESOLVE_HOST,
        ),
        YFRateLimitError(),
        KeyError("currentTradingPeriod"),  # what fast_info raises offline
        ValueError("Expecting value: line 1 column 1 (char 0)"),  # a reply that is not JSON
    ],
)
def test_yahoo_failures_are_market_data_unavailable(failure: Exception) -> None:
    provider = YFinanceMarketData(timeout_s=5, yf=FakeYahoo({"AAPL": failure}))
    with pytest.raises(MarketDataUnavailable) as info:
        history(provider, "AAPL", "1y")
    assert info.value.message.startswith("market data unavailable")
    assert info.value.__cause__ is failure


def test_an_empty_frame_is_unknown_ticker() -> None:
    """What yfinance returns when it hides an error, and what yf.download returns on any failure."""
    empty = pd.DataFrame(columns=["Open", "High", "Low", "Close", "Adj Close", "Volume"])
    empty.index.name = "Date"
    with pytest.raises(UnknownTicker):
        history(YFinanceMarketData(timeout_s=5, yf=FakeYahoo({"AAPL": empty})), "AAPL", "1y")


def test_a_yahoo_that_hangs_times_out() -> None:
    def hang() -> pd.DataFrame:
        time.sleep(2)
        raise AssertionError("should have been abandoned")

    provider = YFinanceMarketData(timeout_s=0.2, yf=FakeYahoo({"AAPL": hang}))
    started = time.monotonic()
    with pytest.raises(MarketDataUnavailable, match="within 0.2s"):
        history(provider, "AAPL", "1y")
    assert time.monotonic() - started < 1.5
    provider.close()


def _yahoo_resolves() -> bool:
    try:
        socket.getaddrinfo("query2.finance.yahoo.com", 443)
    except OSError:
        return False
    return True


def test_real_yfinance_without_internet_is_unavailable_quickly() -> None:
    if _yahoo_resolves():
        pytest.skip("Yahoo Finance is reachable from here: this test pins the offline behaviour")
    provider = YFinanceMarketData(timeout_s=10)
    started = time.monotonic()
    with pytest.raises(MarketDataUnavailable) as info:
        history(provider, "AAPL", "1mo")
    assert time.monotonic() - started < 10
    assert "Yahoo Finance" in info.value.message
    provider.close()
