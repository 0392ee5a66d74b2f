"""What a reviewer checks in a summary, as code: for the writer's repair rules, ``bench/summaries.py`` and the
tests. Everything here is pure (the document's text and the result in, findings out).

* ``unsupported``: numbers in the output that the document never states (``indexing.numbers`` decides what a
  number is, so ``50만원`` is supported by ``500,000원``);
* ``near_duplicates``: key points that repeat another (character bigrams of one mostly inside the other's);
* ``fragments``: key points that are not complete sentences ("한도의 소득 기준");
* ``copy_rate``: the share of the output's words that sit in long verbatim runs of the source (``COPY_SPAN``
  words or more in a row, the same words in the same order);
* ``coverage``: the share of the document's known sections that the output mentions, each section by the
  words of its heading that no other heading has;
* ``stray_characters``: Han or kana the source never uses (a small model slipping into Chinese mid-word);
* ``language_ok``: the summary, every key point and every section summary read as the requested language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from indexing.numbers import StatedNumbers
from indexing.summary_schema import SENTENCE_END
from inference.language import detect_language

# a run of this many source words (or more) copied in order is a pasted span, not a summary's wording; Korean
# words (어절) carry their particles, so fewer of them make a long span
COPY_SPAN = {"ko": 5, "default": 8}
DUPLICATE_OVERLAP = 0.8  # share of the shorter point's character bigrams found in the other point
# a Korean sentence ends in a predicate: 합니다 / 있다 / 해요 / 가능함 / 대상임 / 아닙니까
_KO_END = re.compile(r"(?:다|요|음|함|됨|임|까|죠)[.!?。]?[\"')\]]*$")
_ENDED = re.compile(r"[.!?。！？…][\"')\]]*$")
_EN_END = re.compile(r"[.!?][\"')\]]*$")
_STRAY = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# heading words that say nothing of a section's topic
_STOP = {
    "and", "or", "of", "the", "a", "an", "to", "in", "for", "on", "with", "who", "what", "how", "faq",
    "및", "등", "와", "과", "의", "대한", "위한", "관한", "대상", "기타", "안내", "방법",
}  # fmt: skip
_PARTICLES = re.compile(r"(?<=[가-힣])(?:와|과|의|은|는|이|가|을|를|에|에서|으로|로|별)$")


def words(text: str) -> list[str]:
    """Lower-cased words (letters and digits), punctuation dropped."""
    return [w.lower() for w in _WORD.findall(text)]


def copy_rate(text: str, source: str, language: str) -> float:
    """Share of ``text``'s words inside runs of at least ``COPY_SPAN`` words that ``source`` has verbatim."""
    out = words(text)
    span = COPY_SPAN.get(language, COPY_SPAN["default"])
    if len(out) < span:
        return 0.0
    src = words(source)
    grams = {tuple(src[i : i + span]) for i in range(len(src) - span + 1)}
    copied = [False] * len(out)
    for i in range(len(out) - span + 1):
        if tuple(out[i : i + span]) in grams:
            for j in range(i, i + span):
                copied[j] = True
    return sum(copied) / len(out)


def _bigrams(text: str) -> set[str]:
    joined = "".join(words(text))
    return {joined[i : i + 2] for i in range(len(joined) - 1)}


def overlap(a: str, b: str) -> float:
    """Share of the shorter text's character bigrams that the other has (1.0: one repeats the other)."""
    x, y = _bigrams(a), _bigrams(b)
    if not x or not y:
        return 0.0
    return len(x & y) / min(len(x), len(y))


def near_duplicates(points: Sequence[str]) -> list[tuple[int, int]]:
    """(i, j) of key points where j (later) repeats i."""
    return [
        (i, j)
        for j in range(len(points))
        for i in range(j)
        if overlap(points[i], points[j]) >= DUPLICATE_OVERLAP
    ]


def is_sentence(text: str, language: str) -> bool:
    """A complete sentence: Korean ends in a predicate (two words at least), others in a full stop (three)."""
    text = text.strip()
    if len(text.split()) < (2 if language == "ko" else 3):
        return False
    if language == "ko":
        return _KO_END.search(text) is not None
    return _EN_END.search(text) is not None


class Source:
    """A document's text and what the checks need of it, read once: its numbers, the Han and kana it uses."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.numbers = StatedNumbers([text])
        self.scripts = set(_STRAY.findall(text))


def _source(source: str | Source) -> Source:
    return source if isinstance(source, Source) else Source(source)


def unsupported(texts: Iterable[str], source: str | Source) -> list[str]:
    stated = _source(source).numbers
    missing: list[str] = []
    for text in texts:
        missing += [n for n in stated.unsupported(text) if n not in missing]
    return missing


def heading_terms(headings: Sequence[str]) -> list[list[str]]:
    """For each heading, its topic words that no other heading has (all of them if none is its own)."""
    topic = [_topic_words(heading) for heading in headings]
    out: list[list[str]] = []
    for i, own in enumerate(topic):
        others = {w for j, other in enumerate(topic) if j != i for w in other}
        distinct = [w for w in own if w not in others]
        out.append(distinct or own)
    return out


def _topic_words(heading: str) -> list[str]:
    out: list[str] = []
    for word in words(heading):
        word = _PARTICLES.sub("", word)
        if word.isdigit() or word in _STOP or len(word) < 2 or word in out:
            continue
        out.append(word)
    return out


def coverage(output: str, headings: Sequence[str]) -> list[bool]:
    """Whether ``output`` mentions each section: one of its heading's distinct words (a Korean word also
    with a particle attached: "보험료는" mentions 보험료)."""
    text = " ".join(words(output))
    return [any(term in text for term in terms) for terms in heading_terms(headings)]


@dataclass
class SummaryChecks:
    language: str
    language_ok: bool
    unsupported_numbers: list[str] = field(default_factory=list)
    duplicate_points: list[str] = field(default_factory=list)
    fragments: list[str] = field(default_factory=list)
    stray_characters: list[str] = field(default_factory=list)
    copy_rate: float = 0.0
    sections_known: int = 0
    sections_covered: int = 0
    uncovered: list[str] = field(default_factory=list)

    @property
    def coverage(self) -> float | None:
        return self.sections_covered / self.sections_known if self.sections_known else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "language_ok": self.language_ok,
            "unsupported_numbers": self.unsupported_numbers,
            "duplicate_points": self.duplicate_points,
            "fragments": self.fragments,
            "stray_characters": self.stray_characters,
            "copy_rate": round(self.copy_rate, 3),
            "coverage": None if self.coverage is None else round(self.coverage, 3),
            "uncovered": self.uncovered,
        }


def check_summary(result: dict[str, Any], source: str, headings: Sequence[str] = ()) -> SummaryChecks:
    """Checks of one summary result (the JSON of ``POST /v1/summaries``) against the document's text and,
    where known, its sections' headings."""
    language = str(result.get("language", "en"))
    summary = str(result.get("summary", ""))
    points = [str(p) for p in result.get("key_points", [])]
    sections = [str(s.get("summary", "")) for s in result.get("sections", [])]
    written = [str(result.get("title", "")), summary, *points, *sections]
    prose = [t for t in [summary, *points, *sections] if len(words(t)) >= 3]
    language_ok = all(detect_language(t) == language for t in prose) if language in ("ko", "en") else True
    # the copy rate of the whole output: section summaries are the part most often pasted
    total = sum(len(words(t)) for t in prose)
    copied = sum(copy_rate(t, source, language) * len(words(t)) for t in prose)
    covered = coverage(" ".join(written), headings) if headings else []
    read = Source(source)
    return SummaryChecks(
        language=language,
        language_ok=language_ok,
        unsupported_numbers=unsupported(written, read),
        duplicate_points=[points[j] for _, j in near_duplicates(points)],
        fragments=[p for p in points if not is_sentence(p, language)],
        stray_characters=stray_characters(" ".join(written), read),
        copy_rate=copied / total if total else 0.0,
        sections_known=len(covered),
        sections_covered=sum(covered),
        uncovered=[h for h, ok in zip(headings, covered, strict=True) if not ok],
    )


# -- repair: what the writer drops before a summary is stored ---------------------------------------------


def stray_characters(text: str, source: str | Source) -> list[str]:
    """Han or kana characters in ``text`` that ``source`` never uses: a small model's slips ("8小时")."""
    used = _source(source).scripts
    return sorted({ch for ch in _STRAY.findall(text) if ch not in used})


def supported_sentences(text: str, source: str | Source) -> str:
    """``text`` without the sentences that state a number ``source`` does not, or slip into another script,
    and without a last sentence cut off mid-way (a reply closed early) when a whole one comes before it."""
    source = _source(source)
    kept = [
        s.strip()
        for s in SENTENCE_END.split(text.replace("\ufffd", ""))
        if s.strip() and not source.numbers.unsupported(s) and not stray_characters(s, source)
    ]
    if len(kept) > 1 and not _ENDED.search(kept[-1]):
        kept.pop()
    return " ".join(kept)


def usable_points(points: Sequence[str], source: str | Source, language: str) -> list[str]:
    """Key points that are complete sentences, state no number the source lacks, and repeat no earlier one."""
    source = _source(source)
    kept: list[str] = []
    for point in points:
        if not is_sentence(point, language) or supported_sentences(point, source) != point.strip():
            continue
        if any(overlap(point, earlier) >= DUPLICATE_OVERLAP for earlier in kept):
            continue
        kept.append(point)
    return kept
