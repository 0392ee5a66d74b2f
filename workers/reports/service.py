"""Stock and ETF reports: market data → figures (code) → narrative (model) → Markdown → database.

The scheduler's task (``workers.tasks.generate_scheduled_report``) and the API's ``POST /v1/reports/stocks``
both call :meth:`ReportService.generate`. Nothing is stored until every part of the report exists; a failure
on the way raises (workers/reports/errors.py, inference.errors) and leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from typing import Any, Protocol

from indexing.assistants import PromptLibrary
from inference.gateway import ChatRequest, ChatResult
from storage.reports import ReportRecord, ReportRepository
from workers.reports.errors import ReportNotFound
from workers.reports.indicators import METHOD, Figures, compute_figures, snapshot_bars
from workers.reports.language import ReportLanguage, default_language
from workers.reports.market import MarketData, check_period, normalize_ticker
from workers.reports.narrative import (
    Narrative,
    allowed_numbers,
    choose_risks,
    fallback,
    guard_summary,
    narrative_schema,
    parse_reply,
    signals,
)
from workers.reports.render import figures_for_prompt, render_report
from workers.reports.risks import RiskSignal, active_signals, no_risk_sentence

log = logging.getLogger("hearth.reports")

PROMPT_NAME = "stock_report"
PROMPT_VERSION = "v2"
SNAPSHOT_BARS = 30  # the last bars stored with the report (the figures themselves are stored in full)
MAX_NARRATIVE_TOKENS = 400
MAX_ATTEMPTS = 2  # the first reply, and one retry told what was wrong with it


class ChatBackend(Protocol):
    """What the service needs of :class:`inference.gateway.ChatGateway`."""

    def prepare(self, payload: dict[str, Any]) -> ChatRequest: ...

    async def complete(self, request: ChatRequest) -> ChatResult: ...


class ReportService:
    def __init__(
        self,
        market_data: MarketData,
        repository: ReportRepository,
        gateway: ChatBackend,
        prompts: PromptLibrary,
        chat_model: str,
        *,
        default_period: str = "1y",
        default_language: str = "auto",
    ) -> None:
        self._market = market_data
        self._repo = repository
        self._gateway = gateway
        self._prompts = prompts
        self._chat_model = chat_model
        self._default_period = default_period
        self._default_language = default_language

    @property
    def prompt_version(self) -> str:
        return f"{PROMPT_NAME}.{PROMPT_VERSION}"

    async def generate(
        self,
        ticker: str,
        period: str | None = None,
        *,
        tenant: str | None,
        run_key: str | None = None,
        kind: str = "on_demand",
        language: ReportLanguage | None = None,
    ) -> ReportRecord:
        """Write and store a report on ``ticker`` over ``period`` (default: market.default_period) in
        ``language`` (default: market.report_language, else by the ticker's market).

        With a ``run_key`` that is already stored, the stored report is returned without asking the market
        or the model (scheduled runs are idempotent per key)."""
        symbol = normalize_ticker(ticker)
        window = check_period(period or self._default_period)
        lang = language or default_language(symbol, self._default_language)
        if run_key is not None:
            existing = await asyncio.to_thread(self._repo.get_by_run_key, run_key)
            if existing is not None:
                return existing
        bars = await self._market.history(symbol, window)
        figures = compute_figures(bars)
        narrative, model, usage = await self._narrate(symbol, window, figures, lang)
        markdown = render_report(symbol, window, figures, narrative.summary, narrative.risks, lang)
        data = {
            "ticker": symbol,
            "period": window,
            "language": lang,
            "provider": self._market.name,
            "as_of": figures.as_of,
            "figures": figures.as_dict(),
            "method": METHOD,
            "bars": snapshot_bars(bars, SNAPSHOT_BARS),
            "narrative": narrative.source,
            "narrative_detail": narrative.as_data(),
            "usage": usage,
        }
        return await asyncio.to_thread(
            self._repo.add,
            tenant=tenant,
            ticker=symbol,
            period=window,
            kind=kind,
            run_key=run_key,
            as_of=figures.as_of,
            markdown=markdown,
            data=data,
            model=model,
            prompt_version=self.prompt_version,
        )

    async def get(self, report_id: str, tenant: str | None) -> ReportRecord:
        record = await asyncio.to_thread(self._repo.get, report_id, tenant)
        if record is None:
            raise ReportNotFound(report_id)
        return record

    async def list(
        self, tenant: str | None, ticker: str | None = None, limit: int = 20
    ) -> builtins.list[ReportRecord]:
        symbol = normalize_ticker(ticker) if ticker else None
        return await asyncio.to_thread(self._repo.list, tenant, symbol, limit)

    # -- the model's part ------------------------------------------------------------------------------------

    async def _narrate(
        self, ticker: str, period: str, figures: Figures, language: ReportLanguage
    ) -> tuple[Narrative, str, dict[str, int]]:
        """(narrative, the model that answered, usage). Model failures (unreachable, timeout) raise; a reply
        that cannot be used is retried once, then replaced by the code-written fallback."""
        active = active_signals(figures)
        codes = [signal.code for signal in active]
        prompt = self._prompt(ticker, period, figures, language, active)
        schema = narrative_schema(codes)
        allowed = allowed_numbers([prompt])
        messages: builtins.list[dict[str, str]] = [{"role": "user", "content": prompt}]
        usage: dict[str, int] = {}
        model = self._chat_model
        error: str | None = None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            content, used, model = await self._complete(messages, schema)
            usage = _add_usage(usage, used)
            try:
                reply = parse_reply(content)
            except ValueError as exc:
                error = str(exc)
            else:
                summary, dropped = guard_summary(reply.summary, allowed, language)
                if summary:
                    risks, written, unused = choose_risks(reply.risks, active, allowed, language)
                    source = "model" if written == len(active) else "mixed"
                    narrative = Narrative(
                        summary,
                        risks or [no_risk_sentence(language)],
                        source,
                        attempt,
                        dropped + unused,
                        None,
                        codes,
                        written,
                    )
                    return narrative, model, usage
                error = (
                    "every sentence of the summary holds numbers that are not among the figures or is not "
                    f"written in {_LANGUAGE_NAMES[language]}"
                )
            log.warning(
                "report %s: the model's narrative is not usable (attempt %d): %s", ticker, attempt, error
            )
            messages = [
                messages[0],
                {"role": "assistant", "content": content[:2000]},
                {
                    "role": "user",
                    "content": f"That reply cannot be used: {error}. Reply again with only the JSON object, "
                    f"in {_LANGUAGE_NAMES[language]}, using only numbers copied from the figures.",
                },
            ]
        return (
            fallback(ticker, figures, attempts=MAX_ATTEMPTS, error=error, language=language),
            model,
            usage,
        )

    def _prompt(
        self,
        ticker: str,
        period: str,
        figures: Figures,
        language: ReportLanguage,
        active: builtins.list[RiskSignal],
    ) -> str:
        if active:
            risk_signals_text = "The risk signals in these figures (code: what it shows):\n" + "\n".join(
                f"- {signal.code}: {signal.finding[language]}" for signal in active
            )
            risks_field = (
                '- "risks": one entry per risk signal above, each {"signal": its code, "text": one full '
                f"sentence on why it is a risk for a holder of {ticker}}}."
            )
        else:
            risk_signals_text = "None of these figures is a risk signal: write no risks."
            risks_field = ""
        return self._prompts.get(PROMPT_NAME, PROMPT_VERSION).format(
            ticker=ticker,
            as_of=figures.as_of,
            period=period,
            figures=figures_for_prompt(ticker, period, figures, language),
            signals="\n".join(f"- {line}" for line in signals(figures, language)),
            risk_signals=risk_signals_text,
            risks_field=risks_field,
            language_rule=_LANGUAGE_RULES[language],
        )

    async def _complete(
        self, messages: builtins.list[dict[str, str]], schema: dict[str, Any]
    ) -> tuple[str, dict[str, int], str]:
        payload = {
            "model": self._chat_model,
            "messages": messages,
            "temperature": 0,
            "max_tokens": MAX_NARRATIVE_TOKENS,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "stock_report", "schema": schema},
            },
        }
        result = await self._gateway.complete(self._gateway.prepare(payload))
        return result.text, result.usage, result.model


_LANGUAGE_NAMES: dict[ReportLanguage, str] = {"en": "English", "ko": "Korean"}
_LANGUAGE_RULES: dict[ReportLanguage, str] = {
    "en": "Write in English.",
    "ko": "Write the summary and every risk in Korean (한국어로 쓰세요), "
    "in the polite written style (-습니다).",
}


def _add_usage(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    keys = ("prompt_tokens", "completion_tokens", "total_tokens")
    return {k: int(a.get(k, 0)) + int(b.get(k, 0)) for k in keys}
