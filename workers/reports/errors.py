"""Errors of the stock and ETF reports (workers/reports).

    ReportError
    ├── InvalidTicker            the ticker is not a ticker symbol (400, param ticker)
    ├── InvalidPeriod            not one of yfinance's periods (1d, 5d, 1mo, ... ytd, max) (400, param period)
    ├── UnknownTicker            the market data source has no data for the ticker (404)
    ├── MarketDataUnavailable    the source cannot be reached, timed out, is rate limited, misconfigured,
    │                            or sent data in a shape that cannot be used (503)
    └── ReportNotFound           no report with that id that this tenant may read (404)

yfinance, curl_cffi and pandas errors are wrapped where they enter (workers/reports/market.py), with the
original as ``__cause__``. A report is written to the database only once every part of it exists, so none of
these ever leaves a half-written report behind. The API maps each to a status code once (api/errors.py).
"""

from __future__ import annotations


class ReportError(Exception):
    """Base of every error raised by the reports package."""

    code: str = "report_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class InvalidTicker(ReportError):
    code = "invalid_ticker"

    def __init__(self, ticker: str) -> None:
        shown = ticker if len(ticker) <= 40 else ticker[:40] + "..."
        super().__init__(
            f"'{shown}' is not a ticker symbol: use 1 to 15 letters, digits, '.', '-', '^' or '=' "
            "(e.g. AAPL, BRK-B, ^GSPC, 005930.KS)",
            param="ticker",
        )


class InvalidPeriod(ReportError):
    code = "invalid_period"

    def __init__(self, period: str, valid: tuple[str, ...]) -> None:
        super().__init__(f"'{period}' is not a period: use one of {', '.join(valid)}", param="period")


class UnknownTicker(ReportError):
    code = "ticker_not_found"

    def __init__(self, ticker: str, detail: str = "") -> None:
        super().__init__(
            f"No market data for the ticker '{ticker}'" + (f": {detail}" if detail else ""), param="ticker"
        )
        self.ticker = ticker


class MarketDataUnavailable(ReportError):
    code = "market_data_unavailable"


class ReportNotFound(ReportError):
    code = "report_not_found"

    def __init__(self, report_id: str) -> None:
        super().__init__(f"No report with id '{report_id}'", param="report_id")
