"""ReportService with the CSV market data, a SQLite database and a hand-written fake of the chat gateway."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest

from configs.settings import CONFIG_DIR
from indexing.assistants import PromptLibrary
from inference.errors import BackendUnavailable
from inference.gateway import ChatRequest, ChatResult
from storage.db import make_engine, make_session_factory, migrate
from storage.reports import ReportRepository
from tests.workers import reference
from tests.workers.test_reports_indicators import assert_same_figures
from workers.reports.errors import InvalidTicker, MarketDataUnavailable, ReportNotFound, UnknownTicker
from workers.reports.market import CsvMarketData
from workers.reports.narrative import narrative_schema
from workers.reports.service import ReportService

GOOD: dict[str, Any] = {
    "summary": "ACME trades above its 200-day average with neutral momentum.",
    "risks": [
        {"signal": "high_volatility", "text": "Volatility is high."},
        {"signal": "thin_volume", "text": "Trading has thinned out, so a few orders can move the price."},
    ],
}


class FakeGateway:
    """Answers each completion with the next reply (a dict becomes its JSON; an exception is raised)."""

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.payloads: list[dict[str, Any]] = []

    def prepare(self, payload: dict[str, Any]) -> ChatRequest:
        return ChatRequest(payload, "default", 100, False, False)

    async def complete(self, request: ChatRequest) -> ChatResult:
        self.payloads.append(request.payload)
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        content = reply if isinstance(reply, str) else orjson.dumps(reply).decode()
        body = {"model": "fake-model", "choices": [{"message": {"role": "assistant", "content": content}}]}
        usage = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
        return ChatResult(orjson.dumps(body), usage, "fake-model", "fake")


class CountingMarket:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls = 0

    async def history(self, ticker: str, period: str) -> pd.DataFrame:
        self.calls += 1
        return await self.inner.history(ticker, period)


@pytest.fixture
def repo(tmp_path: Path) -> ReportRepository:
    engine = make_engine(f"sqlite:///{tmp_path / 'hearth.db'}")
    migrate(engine)
    return ReportRepository(make_session_factory(engine))


def service(
    market_dir: Path, repo: ReportRepository, gateway: FakeGateway
) -> tuple[ReportService, CountingMarket]:
    market = CountingMarket(CsvMarketData(market_dir))
    return ReportService(market, repo, gateway, PromptLibrary(CONFIG_DIR / "prompts"), "default"), market


def test_a_report_from_the_data_and_the_model(market_dir: Path, repo: ReportRepository) -> None:
    gateway = FakeGateway(GOOD)
    reports, _ = service(market_dir, repo, gateway)
    record = asyncio.run(reports.generate("acme", tenant="t-alice"))

    assert (record.ticker, record.period, record.kind, record.tenant) == (
        "ACME",
        "1y",
        "on_demand",
        "t-alice",
    )
    assert record.model == "fake-model" and record.prompt_version == "stock_report.v2"
    assert record.as_of == "2026-06-30" and record.run_key is None
    expected = reference.figures(reference.load(market_dir / "ACME.csv", "1y"))
    assert_same_figures(record.data["figures"], expected)
    assert record.data["narrative"] == "model" and record.data["provider"] == "csv"
    assert record.data["narrative_detail"] == {
        "attempts": 1,
        "dropped": [],
        "error": None,
        "risk_signals": ["high_volatility", "thin_volume"],
        "risks_by_model": 2,
    }
    assert record.data["language"] == "en"
    assert [bar["date"] for bar in record.data["bars"]][-1] == "2026-06-30" and len(record.data["bars"]) == 30
    assert record.data["usage"] == {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
    assert GOOD["summary"] in record.markdown and "- Volatility is high." in record.markdown

    payload = gateway.payloads[0]
    assert payload["model"] == "default" and payload["temperature"] == 0
    assert payload["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "stock_report",
            "schema": narrative_schema(["high_volatility", "thin_volume"]),
        },
    }
    assert payload["response_format"]["json_schema"]["schema"]["properties"]["risks"]["items"]["properties"][
        "signal"
    ]["enum"] == ["high_volatility", "thin_volume"]
    prompt = payload["messages"][0]["content"]
    assert "- Last close: 164.94" in prompt and "- Date of the last close: 2026-06-30" in prompt
    assert "- high_volatility: Volatility is high." in prompt and "Write in English." in prompt
    assert not prompt.startswith("#")  # the template's header comment is not sent

    assert asyncio.run(reports.get(record.id, "t-alice")) == record
    assert asyncio.run(reports.list("t-alice", "acme")) == [record]
    with pytest.raises(ReportNotFound):
        asyncio.run(reports.get(record.id, "t-bob"))


def test_an_invalid_reply_is_retried_once_with_the_reason(market_dir: Path, repo: ReportRepository) -> None:
    gateway = FakeGateway("I think ACME is great", GOOD)
    reports, _ = service(market_dir, repo, gateway)
    record = asyncio.run(reports.generate("ACME", tenant="t-alice"))
    assert record.data["narrative"] == "model"
    assert record.data["narrative_detail"]["attempts"] == 2
    retry = gateway.payloads[1]["messages"]
    assert retry[1] == {"role": "assistant", "content": "I think ACME is great"}
    assert "not a JSON object" in retry[2]["content"]
    assert record.data["usage"]["total_tokens"] == 240


def test_two_invalid_replies_give_the_fallback_narrative(market_dir: Path, repo: ReportRepository) -> None:
    gateway = FakeGateway('{"summary": "cut off', {"summary": "", "risks": []})
    reports, _ = service(market_dir, repo, gateway)
    record = asyncio.run(reports.generate("WRLD", "6mo", tenant="t-alice"))
    assert record.data["narrative"] == "fallback"
    assert record.data["narrative_detail"]["error"]
    assert "written from the figures by code" in record.markdown
    assert len(gateway.payloads) == 2 and gateway.replies == []
    for heading in ("## Summary", "## Price action", "## Indicators", "## Risks", "## Disclaimer"):
        assert heading in record.markdown


def test_invented_numbers_never_reach_the_report(market_dir: Path, repo: ReportRepository) -> None:
    invented = {"summary": "ACME will reach 321.09 next quarter.", "risks": ["A 40.5% drop is likely."]}
    partly = {
        "summary": "ACME closed at 164.94. Its fair value is 250.",
        "risks": ["Earnings may fall 12.3%."],
    }
    gateway = FakeGateway(invented, partly)
    reports, _ = service(market_dir, repo, gateway)
    record = asyncio.run(reports.generate("ACME", tenant="t-alice"))
    assert "holds numbers that are not among the figures" in gateway.payloads[1]["messages"][2]["content"]
    assert record.data["narrative"] == "mixed"  # the model's summary, the code's risks
    for number in ("321.09", "40.5", "250", "12.3"):
        assert number not in record.markdown
    assert "ACME closed at 164.94." in record.markdown
    assert record.data["narrative_detail"]["dropped"] == [
        "Its fair value is 250.",
        "Earnings may fall 12.3%.",
    ]


def test_a_stored_run_key_is_returned_without_market_or_model(
    market_dir: Path, repo: ReportRepository
) -> None:
    gateway = FakeGateway(GOOD)
    reports, market = service(market_dir, repo, gateway)
    first = asyncio.run(
        reports.generate("ACME", tenant=None, run_key="daily:ACME:2026-06-30", kind="scheduled")
    )
    again = asyncio.run(
        reports.generate("ACME", tenant=None, run_key="daily:ACME:2026-06-30", kind="scheduled")
    )
    assert again == first and first.tenant is None and first.kind == "scheduled"
    assert market.calls == 1 and len(gateway.payloads) == 1
    assert asyncio.run(reports.get(first.id, "t-anyone")) == first


@pytest.mark.parametrize(("ticker", "error"), [("NOPE", UnknownTicker), ("no such ticker", InvalidTicker)])
def test_market_failures_store_nothing_and_skip_the_model(
    market_dir: Path, repo: ReportRepository, ticker: str, error: type[Exception]
) -> None:
    gateway = FakeGateway(GOOD)
    reports, _ = service(market_dir, repo, gateway)
    with pytest.raises(error):
        asyncio.run(reports.generate(ticker, tenant="t-alice"))
    assert gateway.payloads == [] and repo.list("t-alice") == []


def test_an_unavailable_source_stores_nothing(repo: ReportRepository, tmp_path: Path) -> None:
    gateway = FakeGateway(GOOD)
    reports, _ = service(tmp_path / "missing", repo, gateway)
    with pytest.raises(MarketDataUnavailable):
        asyncio.run(reports.generate("ACME", tenant="t-alice"))
    assert repo.list("t-alice") == []


def test_a_model_that_cannot_answer_stores_nothing(market_dir: Path, repo: ReportRepository) -> None:
    """Unlike an unusable reply, an unreachable model fails the report (a scheduled run retries later)."""
    reports, _ = service(market_dir, repo, FakeGateway(BackendUnavailable("no deployment of 'default'")))
    with pytest.raises(BackendUnavailable):
        asyncio.run(reports.generate("ACME", tenant=None, run_key="daily:ACME:x", kind="scheduled"))
    assert repo.get_by_run_key("daily:ACME:x") is None


def test_a_korean_listing_gets_a_korean_report(market_dir: Path, repo: ReportRepository) -> None:
    korean: dict[str, Any] = {
        "summary": "BOLT.KS는 장기 이동평균 위에서 오름세를 이어 가고 있습니다. "
        "다만 변동성이 높아 등락이 큽니다.",
        "risks": [
            {"signal": "high_volatility", "text": "변동성이 높아 하루에도 가격이 크게 출렁일 수 있습니다."}
        ],
    }
    gateway = FakeGateway(korean)
    reports, _ = service(market_dir, repo, gateway)
    record = asyncio.run(reports.generate("BOLT.KS", tenant="t-alice"))
    assert record.data["language"] == "ko" and record.data["narrative"] == "model"
    assert record.markdown.startswith("# BOLT.KS 리포트 (")
    assert korean["summary"] in record.markdown and "- 변동성이 높아 하루에도" in record.markdown
    prompt = gateway.payloads[0]["messages"][0]["content"]
    assert "한국어로 쓰세요" in prompt and "- 종목: BOLT.KS" in prompt and "- 종가: " in prompt


def test_an_english_narrative_for_a_korean_report_is_retried_then_replaced(
    market_dir: Path, repo: ReportRepository
) -> None:
    english = {
        "summary": "BOLT.KS is in an uptrend.",
        "risks": [{"signal": "high_volatility", "text": "Swings."}],
    }
    gateway = FakeGateway(english, english)
    reports, _ = service(market_dir, repo, gateway)
    record = asyncio.run(reports.generate("BOLT.KS", tenant="t-alice"))
    assert "not written in Korean" in gateway.payloads[1]["messages"][2]["content"]
    assert record.data["narrative"] == "fallback" and record.data["language"] == "ko"
    assert "코드가 수치로부터 작성했습니다" in record.markdown and "uptrend" not in record.markdown


def test_the_language_can_be_chosen_and_no_risk_is_invented(market_dir: Path, repo: ReportRepository) -> None:
    # WRLD over a year raises no risk signal: the schema asks for no risks, the report says there are none
    gateway = FakeGateway({"summary": "WRLD는 완만한 오름세입니다."})
    reports, _ = service(market_dir, repo, gateway)
    record = asyncio.run(reports.generate("WRLD", "1y", tenant="t-alice", language="ko"))
    schema = gateway.payloads[0]["response_format"]["json_schema"]["schema"]
    assert schema["required"] == ["summary"] and "risks" not in schema["properties"]
    assert "위험 신호가 없습니다" in record.markdown
    assert record.data["narrative"] == "model" and record.data["narrative_detail"]["risk_signals"] == []
