"""The model's part of a report: the JSON it is asked for, its validation, the number guard and the fallback.

The model answers ``{"summary": "...", "risks": ["..."]}`` through ``response_format`` json_schema (a
llama.cpp grammar on the embedded engine). Its text may only repeat numbers the code gave it: a sentence of
the summary or a risk holding any other number is dropped (:func:`guard_numbers`). When the reply is not
valid, the model is asked once more with the reason; when that fails too, or nothing is left after the guard,
a neutral narrative written here from the figures takes its place, and the report's data says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from workers.reports.indicators import Figures
from workers.reports.render import fmt_pct, fmt_price

MAX_RISKS = 3
MAX_SUMMARY_CHARS = 1500
MAX_RISK_CHARS = 400

# no maxLength on the strings: llama.cpp's schema-to-grammar expands it into one nested rule per character
NARRATIVE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "risks": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": MAX_RISKS},
    },
    "required": ["summary", "risks"],
}

_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?|\d+(?:\.\d+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class NarrativeReply(BaseModel):
    model_config = ConfigDict(extra="ignore")

    summary: str = Field(min_length=1)
    risks: list[str] = Field(min_length=1)

    @field_validator("summary")
    @classmethod
    def _summary(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("the summary is empty")
        return value

    @field_validator("risks")
    @classmethod
    def _risks(cls, value: list[str]) -> list[str]:
        risks = list(dict.fromkeys(" ".join(r.split()) for r in value if isinstance(r, str) and r.strip()))
        if not risks:
            raise ValueError("there are no risks")
        return risks[:MAX_RISKS]


@dataclass
class Narrative:
    summary: str
    risks: list[str]
    source: str  # "model", "fallback", or "mixed" (one section fell back)
    attempts: int = 0
    dropped: list[str] = field(default_factory=list)  # sentences and risks the number guard removed
    error: str | None = None  # why the model's reply was not used, when it was not

    def as_data(self) -> dict[str, Any]:
        return {"attempts": self.attempts, "dropped": self.dropped, "error": self.error}


def parse_reply(content: str) -> NarrativeReply:
    """The reply as a NarrativeReply; ValueError with a reason the model can act on."""
    text = content.strip()
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        try:
            data = orjson.loads(text[start : end + 1]) if 0 <= start < end else None
        except orjson.JSONDecodeError:
            data = None
        if data is None:
            raise ValueError("the reply is not a JSON object") from None
    if not isinstance(data, dict):
        raise ValueError("the reply is not a JSON object")
    try:
        return NarrativeReply.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "reply"
        raise ValueError(f"{where}: {first.get('msg', 'invalid')}") from None


def _numbers(text: str) -> list[tuple[float, int]]:
    """(value, decimals written) of every number in ``text``, signs ignored."""
    found = []
    for match in _NUMBER.finditer(text):
        raw = match.group().replace(",", "")
        decimals = len(raw.split(".")[1]) if "." in raw else 0
        found.append((float(raw), decimals))
    return found


def allowed_numbers(sources: Iterable[str]) -> list[float]:
    return sorted({value for text in sources for value, _ in _numbers(text)})


def _supported(text: str, allowed: list[float]) -> bool:
    for value, decimals in _numbers(text):
        tolerance = 10.0**-decimals + 1e-9  # the model may round or cut a figure to fewer decimals
        if not any(abs(value - a) <= tolerance for a in allowed):
            return False
    return True


def guard_numbers(reply: NarrativeReply, allowed: list[float]) -> tuple[str, list[str], list[str]]:
    """(summary, risks, dropped): the summary's sentences and the risks whose numbers all come from
    ``allowed`` (the numbers of the text the code gave the model)."""
    dropped: list[str] = []
    kept: list[str] = []
    for sentence in _SENTENCE_END.split(reply.summary):
        (kept if _supported(sentence, allowed) else dropped).append(sentence)
    risks: list[str] = []
    for risk in reply.risks:
        (risks if _supported(risk, allowed) else dropped).append(risk)
    summary = " ".join(kept).strip()
    if len(summary) > MAX_SUMMARY_CHARS:
        cut = summary[:MAX_SUMMARY_CHARS]
        summary = cut[: cut.rfind(". ") + 1] or cut
    return summary, [r[:MAX_RISK_CHARS] for r in risks], dropped


def signals(f: Figures) -> list[str]:
    """What the figures show, in words (computed here, so the model need not read numbers right)."""
    lines: list[str] = []
    for n, value, horizon in (
        (200, f.sma_200, "long-term"),
        (50, f.sma_50, "medium-term"),
        (20, f.sma_20, "short-term"),
    ):
        if value is not None:
            side, trend = ("above", "up") if f.last_close >= value else ("below", "down")
            lines.append(f"The close is {side} its {n}-day average: the {horizon} trend points {trend}.")
    for name, value in (("the last month", f.return_1m), ("the year to date", f.return_ytd)):
        if value is not None:
            lines.append(
                f"Over {name} the price {'rose' if value > 0 else 'fell' if value < 0 else 'was flat'}."
            )
    if f.rsi_14 is not None:
        zone = (
            "overbought"
            if f.rsi_14 >= 70
            else "oversold"
            if f.rsi_14 <= 30
            else "neutral, neither overbought nor oversold"
        )
        lines.append(f"Momentum (RSI 14) is {zone}.")
    if f.volatility is not None:
        level = "low" if f.volatility < 0.15 else "moderate" if f.volatility < 0.30 else "high"
        lines.append(f"Volatility is {level}.")
    if f.high_52w is not None and f.low_52w is not None:
        if f.last_close >= f.high_52w * 0.95:
            lines.append("The close is near its 52-week high.")
        elif f.last_close <= f.low_52w * 1.05:
            lines.append("The close is near its 52-week low.")
        else:
            lines.append("The close is between its 52-week high and low.")
    if f.volume_ratio_20 is not None:
        r = f.volume_ratio_20
        level = (
            "well above"
            if r >= 1.5
            else "above"
            if r >= 1.1
            else "well below"
            if r <= 0.67
            else "below"
            if r <= 0.9
            else "in line with"
        )
        lines.append(f"The last session's volume was {level} its 20-day average.")
    missing = [
        name
        for name, value in (("the 200-day average", f.sma_200), ("the 52-week range", f.high_52w))
        if value is None
    ]
    if missing:
        lines.append(f"The data is too short for {' and '.join(missing)}.")
    return lines


def fallback_summary(ticker: str, f: Figures) -> str:
    """A neutral summary written from the figures, for when the model's cannot be used."""
    parts = [f"{ticker} closed at {fmt_price(f.last_close)} on {f.as_of}."]
    if f.return_1m is not None:
        parts.append(f"Over the last month it returned {fmt_pct(f.return_1m)}.")
    trend = [
        f"{'above' if f.last_close >= value else 'below'} its {n}-day average"
        for n, value in ((50, f.sma_50), (200, f.sma_200))
        if value is not None
    ]
    if trend:
        parts.append("The close is " + " and ".join(trend) + ".")
    if f.rsi_14 is not None:
        zone = "overbought" if f.rsi_14 >= 70 else "oversold" if f.rsi_14 <= 30 else "neutral"
        parts.append(f"RSI 14 is in {zone} territory.")
    parts.append("This summary was written from the figures by code because no model narrative was usable.")
    return " ".join(parts)


def fallback_risks(f: Figures) -> list[str]:
    swings = (
        f"Prices swing: the annualised volatility of daily returns is {fmt_pct(f.volatility, signed=False)}."
        if f.volatility is not None
        else "Prices can swing sharply; the data is too short to measure volatility."
    )
    return [
        swings,
        "The figures describe past prices only and do not predict future returns.",
        "Market data can be delayed, adjusted or incomplete; check it against another source before acting.",
    ]


def fallback(ticker: str, f: Figures, *, attempts: int, error: str | None) -> Narrative:
    return Narrative(fallback_summary(ticker, f), fallback_risks(f), "fallback", attempts, [], error)
