"""Stock and ETF reports: write one on demand, read stored ones (the caller's and the scheduled ones)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.deps import PrincipalDep, ReportServiceDep
from api.schemas.reports import ReportList, ReportOut, ReportRequest
from storage.reports import ReportRecord

router = APIRouter(prefix="/v1/reports", tags=["reports"])


def report_out(record: ReportRecord) -> ReportOut:
    return ReportOut(
        report_id=record.id,
        ticker=record.ticker,
        period=record.period,
        kind=record.kind,
        as_of=record.as_of,
        markdown=record.markdown,
        data=record.data,
        model=record.model,
        prompt_version=record.prompt_version,
        created_at=record.created_at,
    )


@router.post("/stocks", response_model=ReportOut)
async def create_stock_report(
    body: ReportRequest, reports: ReportServiceDep, principal: PrincipalDep
) -> ReportOut:
    """Write a report on a stock or ETF from its daily bars: every figure (returns, moving averages, RSI,
    volatility, 52-week range, volume) is computed from the market data; the model writes only the Summary
    and Risks around them (the risks only from the risk signals the figures raise). The whole report is in
    `language` (ko or en; by default Korean for Korean listings). The report is stored and belongs to the
    caller. 404 for an unknown ticker, 503 when the market data cannot be reached."""
    record = await reports.generate(body.ticker, body.period, tenant=principal.tenant, language=body.language)
    return report_out(record)


@router.get("", response_model=ReportList)
async def list_reports(
    reports: ReportServiceDep,
    principal: PrincipalDep,
    ticker: Annotated[str | None, Query(max_length=32, description="Only reports on this ticker")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ReportList:
    """The newest reports the caller may read (its own and the scheduled ones), newest first."""
    return ReportList(data=[report_out(r) for r in await reports.list(principal.tenant, ticker, limit)])


@router.get("/{report_id}", response_model=ReportOut)
async def get_report(report_id: str, reports: ReportServiceDep, principal: PrincipalDep) -> ReportOut:
    """One report with its data snapshot (404 when it is another tenant's)."""
    return report_out(await reports.get(report_id, principal.tenant))


@router.get(
    "/{report_id}/markdown",
    response_class=Response,
    responses={200: {"content": {"text/markdown": {}}}},
)
async def get_report_markdown(report_id: str, reports: ReportServiceDep, principal: PrincipalDep) -> Response:
    """The report as a Markdown document."""
    record = await reports.get(report_id, principal.tenant)
    return Response(record.markdown, media_type="text/markdown; charset=utf-8")
