"""The model's part of a report: the JSON it is asked for, its validation, the checks and the fallback.

The model answers ``{"summary": "...", "risks": [{"signal": "<code>", "text": "..."}]}`` through
``response_format`` json_schema (a llama.cpp grammar on the embedded engine); ``signal`` is an enum of the
report's active risk signals (:mod:`workers.reports.risks`), and without any the schema has no ``risks``.
Its text may only repeat numbers the code gave it and must be in the report's language: a sentence of the
summary that fails either is dropped (:func:`guard_summary`). Each active signal gets the model's sentence
for it when that one passes the same checks and speaks of its signal, else the signal's code-written
sentence (:func:`choose_risks`). When the reply is not valid, the model is asked once more with the
reason; when that fails too, or no summary sentence is left, a narrative written here from the figures
takes its place, and the report's data says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from inference.language import detect_language
from workers.reports.indicators import Figures
from workers.reports.language import ReportLanguage
from workers.reports.render import fmt_pct, fmt_price
from workers.reports.risks import RiskSignal, about, active_signals, no_risk_sentence, rsi_zone

MAX_SUMMARY_CHARS = 1500
MAX_SUMMARY_SENTENCES = 4  # "two or three sentences" are asked for; the 1.5B's English ran to seven
MAX_RISK_CHARS = 400

# a figure as the model or the code writes it (signs aside), and where a sentence ends: shared with the
# report checks (workers/reports/quality.py)
NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def narrative_schema(codes: Sequence[str]) -> dict[str, Any]:
    """The reply's JSON schema: a summary and, when ``codes`` (the active risk signals) is not empty, one
    risk per signal, its ``signal`` one of ``codes``. No maxLength on the strings: llama.cpp's
    schema-to-grammar expands it into one nested rule per character."""
    if not codes:
        return {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]}
    risk = {
        "type": "object",
        "properties": {"signal": {"type": "string", "enum": list(codes)}, "text": {"type": "string"}},
        "required": ["signal", "text"],
    }
    return {
        "type": "object",
        "properties": {
            "summary": {"type": "string"},
            "risks": {"type": "array", "items": risk, "minItems": 1, "maxItems": len(codes)},
        },
        "required": ["summary", "risks"],
    }


class RiskReply(BaseModel):
    model_config = ConfigDict(extra="ignore")

    signal: str = ""
    text: str


class NarrativeReply(BaseModel):
    model_config = ConfigDict(extra="ignore")

    summary: str = Field(min_length=1)
    risks: list[RiskReply] = Field(default_factory=list)

    @field_validator("summary")
    @classmethod
    def _summary(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("the summary is empty")
        return value

    @field_validator("risks", mode="before")
    @classmethod
    def _risks(cls, value: Any) -> list[dict[str, str]]:
        if not isinstance(value, list):
            raise ValueError("risks is not a list")
        risks: dict[str, dict[str, str]] = {}
        for item in value:
            # a plain string is a risk without its signal: matched to one by its words
            entry = {"text": item} if isinstance(item, str) else item if isinstance(item, dict) else {}
            text = " ".join(str(entry.get("text", "")).split())
            if text:
                risks.setdefault(text, {"signal": str(entry.get("signal", "")), "text": text})
        return list(risks.values())


@dataclass
class Narrative:
    summary: str
    risks: list[str]
    source: str  # "model", "fallback", or "mixed" (the model's summary, some risks the code's)
    attempts: int = 0
    dropped: list[str] = field(default_factory=list)  # sentences and risks the checks removed
    error: str | None = None  # why the model's reply was not used, when it was not
    signals: list[str] = field(default_factory=list)  # the active risk signals' codes, in Risks order
    risks_by_model: int = 0  # how many of the risk sentences the model wrote

    def as_data(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "dropped": self.dropped,
            "error": self.error,
            "risk_signals": self.signals,
            "risks_by_model": self.risks_by_model,
        }


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
    for match in NUMBER.finditer(text):
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


def _in_language(text: str, language: ReportLanguage) -> bool:
    return detect_language(text) == language


def guard_summary(summary: str, allowed: list[float], language: ReportLanguage) -> tuple[str, list[str]]:
    """(summary, dropped): the sentences of ``summary`` whose numbers all come from ``allowed`` (the numbers
    of the text the code gave the model) and which are written in ``language``, at most
    MAX_SUMMARY_SENTENCES of them."""
    kept: list[str] = []
    dropped: list[str] = []
    for sentence in SENTENCE_END.split(summary):
        ok = _supported(sentence, allowed) and _in_language(sentence, language)
        ok = ok and len(kept) < MAX_SUMMARY_SENTENCES
        (kept if ok else dropped).append(sentence)
    text = " ".join(kept).strip()
    if len(text) > MAX_SUMMARY_CHARS:
        cut = text[:MAX_SUMMARY_CHARS]
        text = cut[: cut.rfind(". ") + 1] or cut
    return text, dropped


def choose_risks(
    replies: Sequence[RiskReply], active: Sequence[RiskSignal], allowed: list[float], language: ReportLanguage
) -> tuple[list[str], int, list[str]]:
    """(risk sentences, how many of them the model wrote, dropped): one sentence per active signal, the
    model's when it passes the checks (its numbers, its language, and it speaks of its signal), else the
    signal's own. A reply without a signal code counts for the first signal it speaks of."""
    unused = list(replies)
    chosen: list[str] = []
    written = 0
    for signal in active:
        pick = None
        for reply in unused:
            if reply.signal not in ("", signal.code):
                continue
            if (
                _supported(reply.text, allowed)
                and _in_language(reply.text, language)
                and about(signal, reply.text, language)
            ):
                pick = reply
                break
        if pick is None:
            chosen.append(signal.sentence[language])
            continue
        unused.remove(pick)
        chosen.append(pick.text[:MAX_RISK_CHARS])
        written += 1
    return chosen, written, [reply.text for reply in unused]


# the readings the model composes its summary from: labelled notes, not sentences it could paste (given as
# sentences, the 1.5B's Korean summaries were those sentences one after another)
_READINGS: dict[str, dict[str, Any]] = {
    "en": {
        "trend": "Trend",
        "horizons": {200: "long-term", 50: "medium-term", 20: "short-term"},
        "up": "up",
        "down": "down",
        "price": "Price",
        "spans": ("over the last month", "since the start of the year"),
        "moves": {"rose": "rose", "fell": "fell", "flat": "flat"},
        "rsi": "Momentum (RSI 14)",
        "zones": {"overbought": "overbought", "oversold": "oversold", "neutral": "neutral"},
        "volatility": "Volatility",
        "levels": {"low": "low", "moderate": "moderate", "high": "high"},
        "range": "52-week range",
        "places": {"high": "near the high", "low": "near the low", "between": "between the high and the low"},
        "volume": "Volume of the last session against its 20-day average",
        "volumes": {
            "well above": "well above",
            "above": "above",
            "well below": "well below",
            "below": "below",
            "in line with": "in line",
        },
        "short": "Too short for",
        "missing": {"sma": "the 200-day average", "range": "the 52-week range"},
        "and": ", ",
    },
    "ko": {
        "trend": "추세",
        "horizons": {200: "장기", 50: "중기", 20: "단기"},
        "up": "상승",
        "down": "하락",
        "price": "가격",
        "spans": ("최근 한 달", "연초 이후"),
        "moves": {"rose": "상승", "fell": "하락", "flat": "보합"},
        "rsi": "모멘텀(RSI 14)",
        "zones": {"overbought": "과매수", "oversold": "과매도", "neutral": "중립"},
        "volatility": "변동성",
        "levels": {"low": "낮음", "moderate": "보통", "high": "높음"},
        "range": "52주 범위",
        "places": {"high": "최고가 부근", "low": "최저가 부근", "between": "최고가와 최저가 사이"},
        "volume": "최근 거래일 거래량(20일 평균 대비)",
        "volumes": {
            "well above": "훨씬 많음",
            "above": "많음",
            "well below": "훨씬 적음",
            "below": "적음",
            "in line with": "비슷함",
        },
        "short": "자료 부족",
        "missing": {"sma": "200일 이동평균", "range": "52주 범위"},
        "and": ", ",
    },
}


def signals(f: Figures, language: ReportLanguage = "en") -> list[str]:
    """What the figures show, as labelled readings (computed here, so the model need not read numbers
    right, and written as notes, so it has to write its own sentences)."""
    t = _READINGS[language]
    lines: list[str] = []
    trend = [
        f"{t['horizons'][n]} {t['up'] if f.last_close >= value else t['down']}"
        for n, value in ((200, f.sma_200), (50, f.sma_50), (20, f.sma_20))
        if value is not None
    ]
    if trend:
        lines.append(f"{t['trend']}: " + t["and"].join(trend))
    moves = [
        f"{span} {t['moves']['rose' if value > 0 else 'fell' if value < 0 else 'flat']}"
        for span, value in zip(t["spans"], (f.return_1m, f.return_ytd), strict=True)
        if value is not None
    ]
    if moves:
        lines.append(f"{t['price']}: " + t["and"].join(moves))
    if f.rsi_14 is not None:
        lines.append(f"{t['rsi']}: {t['zones'][rsi_zone(f.rsi_14)]}")
    if f.volatility is not None:
        level = "low" if f.volatility < 0.15 else "moderate" if f.volatility < 0.30 else "high"
        lines.append(f"{t['volatility']}: {t['levels'][level]}")
    if f.high_52w is not None and f.low_52w is not None:
        place = (
            "high"
            if f.last_close >= f.high_52w * 0.95
            else "low"
            if f.last_close <= f.low_52w * 1.05
            else "between"
        )
        lines.append(f"{t['range']}: {t['places'][place]}")
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
        lines.append(f"{t['volume']}: {t['volumes'][level]}")
    pairs = (("sma", f.sma_200), ("range", f.high_52w))
    missing = [t["missing"][key] for key, value in pairs if value is None]
    if missing:
        lines.append(f"{t['short']}: " + t["and"].join(missing))
    return lines


def fallback_summary(ticker: str, f: Figures, language: ReportLanguage = "en") -> str:
    """A neutral summary written from the figures, for when the model's cannot be used."""
    zone = rsi_zone(f.rsi_14) if f.rsi_14 is not None else None
    trend = [(n, value) for n, value in ((50, f.sma_50), (200, f.sma_200)) if value is not None]
    if language == "ko":
        parts = [f"{ticker}의 {f.as_of} 종가는 {fmt_price(f.last_close)}입니다."]
        if f.return_1m is not None:
            parts.append(f"최근 한 달 수익률은 {fmt_pct(f.return_1m)}입니다.")
        if trend:
            sides = [f"{n}일 이동평균 {'위' if f.last_close >= value else '아래'}" for n, value in trend]
            parts.append("종가는 " + ", ".join(sides) + "에 있습니다.")
        if zone:
            parts.append(f"RSI 14는 {_READINGS['ko']['zones'][zone]} 구간입니다.")
        parts.append("모델이 쓴 요약을 사용할 수 없어 이 요약은 코드가 수치로부터 작성했습니다.")
        return " ".join(parts)
    parts = [f"{ticker} closed at {fmt_price(f.last_close)} on {f.as_of}."]
    if f.return_1m is not None:
        parts.append(f"Over the last month it returned {fmt_pct(f.return_1m)}.")
    if trend:
        sides = [f"{'above' if f.last_close >= value else 'below'} its {n}-day average" for n, value in trend]
        parts.append("The close is " + " and ".join(sides) + ".")
    if zone:
        parts.append(f"RSI 14 is in {zone} territory.")
    parts.append("This summary was written from the figures by code because no model narrative was usable.")
    return " ".join(parts)


def fallback_risks(active: Sequence[RiskSignal], language: ReportLanguage = "en") -> list[str]:
    """The code's Risks section: the active signals' sentences, or the plain statement that there are none."""
    return [signal.sentence[language] for signal in active] or [no_risk_sentence(language)]


def fallback(
    ticker: str, f: Figures, *, attempts: int, error: str | None, language: ReportLanguage = "en"
) -> Narrative:
    active = active_signals(f)
    codes = [signal.code for signal in active]
    summary = fallback_summary(ticker, f, language)
    return Narrative(summary, fallback_risks(active, language), "fallback", attempts, [], error, codes)
