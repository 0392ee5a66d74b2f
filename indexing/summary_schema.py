"""The summary's types, the JSON schemas the model is asked to fill, and the repair of what it writes.

The model answers through ``response_format`` json_schema (a llama.cpp grammar on the embedded engine), yet
a reply may still be cut off at ``max_tokens``, loop on one sentence, or miss a field on a backend without
grammars. ``parse_reply`` closes a truncated object, coerces field types, trims and de-duplicates, and fills
optional fields; it returns None only when no usable summary is left (the caller then retries).
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, Field

MAX_KEY_POINTS = 6
MAP_KEY_POINTS = 4
SECTION_KEY_CHARS = 60  # a heading in a sections reply's keys is cut to this
SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")


class SummarySection(BaseModel):
    heading: str
    summary: str
    first_page: int
    last_page: int


class SummaryUsage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def add(self, usage: dict[str, int]) -> None:
        self.prompt_tokens += int(usage.get("prompt_tokens", 0))
        self.completion_tokens += int(usage.get("completion_tokens", 0))
        self.total_tokens += int(usage.get("total_tokens", 0))


class SummaryResult(BaseModel):
    title: str
    summary: str
    key_points: list[str]
    sections: list[SummarySection]
    language: str
    pages: int
    model: str
    usage: SummaryUsage
    # True when the stored result of an earlier run was returned (not part of the stored JSON)
    cached: bool = Field(default=False, exclude=True)


class Notes(BaseModel):
    """What one model call wrote: a map step's notes on a part, or the final reduce (with a title)."""

    title: str = ""
    summary: str
    key_points: list[str] = Field(default_factory=list)


def notes_schema(*, with_title: bool, key_points: int) -> dict[str, Any]:
    """The JSON schema of a reply (required fields in the order the model should write them)."""
    properties: dict[str, Any] = {}
    if with_title:
        properties["title"] = {"type": "string"}
    properties["summary"] = {"type": "string"}
    properties["key_points"] = {"type": "array", "items": {"type": "string"}, "maxItems": key_points}
    return {"type": "object", "properties": properties, "required": list(properties)}


def section_keys(headings: list[str]) -> list[str]:
    """The JSON keys a sections reply has, one per section: number and heading ("2. Annual leave")."""
    return [f"{i}. {' '.join(heading.split())[:SECTION_KEY_CHARS]}" for i, heading in enumerate(headings, 1)]


def sections_schema(keys: list[str], *, final: bool, key_points: int) -> dict[str, Any]:
    """A reply with key points, then one summary per section (``keys``), then for the final reply the
    whole's summary; the title first when ``final``."""
    properties: dict[str, Any] = {}
    if final:
        properties["title"] = {"type": "string"}
    # the facts first: a small model that writes a section's key right after reading "### 1. Heading"
    # continues with the section's own text; after its key points it writes the sections in its own words
    properties["key_points"] = {"type": "array", "items": {"type": "string"}, "maxItems": key_points}
    properties["sections"] = {
        "type": "object",
        "properties": {key: {"type": "string"} for key in keys},
        "required": keys,
    }
    if final:
        properties["summary"] = {"type": "string"}
    return {"type": "object", "properties": properties, "required": list(properties)}


def parse_sections_reply(
    content: str, keys: list[str], *, final: bool, key_points: int
) -> tuple[Notes, list[str]] | None:
    """A sections reply as (Notes, one summary per key, "" where missing), repaired; None when it holds no
    section summary at all (or, when ``final``, no summary of the whole)."""
    data = _load_object(content)
    if data is None:
        return None
    raw = data.get("sections")
    given = raw if isinstance(raw, dict) else {}
    by_number = {str(key).split(".", 1)[0].strip(): value for key, value in given.items()}
    summaries = [_clean_text(_as_text(given.get(key, by_number.get(key.split(".", 1)[0])))) for key in keys]
    if not any(summaries):
        return None
    notes = _notes(data, key_points=key_points, require_summary=final)
    if notes is None:
        return None
    return notes, summaries


def parse_reply(content: str, *, key_points: int = MAX_KEY_POINTS) -> Notes | None:
    """The model's reply as Notes, repaired; None when it holds no summary at all."""
    data = _load_object(content)
    if data is None:
        return None
    return _notes(data, key_points=key_points, require_summary=True)


def _notes(data: dict[str, Any], *, key_points: int, require_summary: bool) -> Notes | None:
    summary = _clean_text(_as_text(data.get("summary")))
    if not summary and require_summary:
        return None
    points: list[str] = []
    for point in _as_list(data.get("key_points")):
        text = _clean_text(point).lstrip("-•* ").strip()
        if text and text not in points and text != summary:
            points.append(text)
    return Notes(
        title=_clean_text(_as_text(data.get("title")))[:300],
        summary=summary,
        key_points=points[:key_points],
    )


def truncate_words(text: str, max_words: int) -> str:
    """At most ``max_words`` whitespace-separated words, cut after the last sentence end that fits if any."""
    words = text.split()
    if len(words) <= max_words:
        return text.strip()
    cut = " ".join(words[:max_words])
    end = max(cut.rfind(mark) for mark in (". ", "! ", "? "))
    if end >= len(cut) // 2:
        return cut[: end + 1].strip()
    if cut[-1] in ".!?":
        return cut
    return cut.rstrip(",;:") + "…"


# -- repair ------------------------------------------------------------------------------------------------


def _load_object(content: str) -> dict[str, Any] | None:
    text = content.strip()
    if text.startswith("```"):  # a fenced block from a backend without grammars
        text = re.sub(r"^```[a-zA-Z]*\s*|\s*```$", "", text)
    start = text.find("{")
    if start < 0:
        return None
    text = text[start:]
    candidates = [text, close_json(text)]
    # cut back to one of the last commas: drops a half-written key or value the closing cannot mend
    commas = [i for i, ch in enumerate(text) if ch == ","][-3:]
    candidates += [close_json(text[:i]) for i in reversed(commas)]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def close_json(text: str) -> str:
    """Close a JSON value cut off mid-way: the open string, then the open arrays and objects."""
    stack: list[str] = []
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
    out = text
    if in_string:
        out = (out[:-1] if escaped else out) + '"'
    out = out.rstrip()
    if out.endswith(","):
        out = out[:-1]
    if out.endswith(":"):  # a key without its value
        out += " null"
    return out + "".join(reversed(stack))


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(_as_text(v) for v in value)
    if isinstance(value, dict):
        return " ".join(_as_text(v) for v in value.values())
    return str(value)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [line for line in value.splitlines() if line.strip()]
    if isinstance(value, list):
        return [_as_text(v) for v in value]
    return [_as_text(value)]


def _clean_text(text: str) -> str:
    """Whitespace collapsed and sentences the model repeated (a small model's loop) dropped."""
    text = " ".join(text.split())
    seen: set[str] = set()
    kept: list[str] = []
    for sentence in SENTENCE_END.split(text):
        key = sentence.strip().lower()
        if not key or key in seen:
            continue
        seen.add(key)
        kept.append(sentence.strip())
    return " ".join(kept)
