"""Stock and ETF reports: request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ReportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ticker: str = Field(
        min_length=1,
        max_length=32,
        description="Ticker symbol, e.g. AAPL, SPY, BRK-B, ^GSPC, 005930.KS",
        examples=["SPY", "005930.KS"],
    )
    period: str | None = Field(
        default=None,
        max_length=8,
        description="Data window: 1d, 5d, 1mo, 3mo, 6mo, 1y, 2y, 5y, 10y, ytd or max (default: the server's)",
        examples=["1y"],
    )
    language: Literal["ko", "en"] | None = Field(
        default=None,
        description="The report's language, every word of it: ko or en (default: the server's "
        "market.report_language, else Korean for .KS and .KQ listings and English for the rest)",
        examples=["ko"],
    )


class ReportOut(BaseModel):
    report_id: str
    ticker: str
    period: str
    kind: str = Field(description="on_demand, or scheduled (written by the scheduler, readable by every key)")
    as_of: str = Field(description="Date of the last bar in the data (YYYY-MM-DD)")
    markdown: str
    data: dict[str, Any] = Field(
        description="The figures (every number in the report), how they were computed, the last bars they "
        "came from, the provider, and whether the narrative is the model's or the code-written fallback"
    )
    model: str
    prompt_version: str
    created_at: datetime


class ReportList(BaseModel):
    object: str = "list"
    data: list[ReportOut]
