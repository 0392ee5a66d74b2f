"""Per-question checks of one answer; pure functions, no I/O.

What each check means:

- **retrieval hit@k**: an expected document (file name, case-insensitive; and its page where the question
  gives one) is among the first k citations. The rank of the first such citation gives MRR.
- **facts**: each fact must occur in the answer with number boundaries
  (:func:`indexing.numbers.contains_number_phrase`); a question is right when all its facts are found.
- **outcome**: ``answered`` / ``false_refusal`` (``found: false`` on an answerable question) /
  ``correct_refusal`` / ``false_answer`` (``found: true`` on an unanswerable one).
- **leaks**: prompt scaffolding in the answer (a line opening with ``Question:``, ``Answer:``, ``Rules:``,
  ``Passages:``, ``질문:``, ``답변:``...; a rule of the prompt such as "Use only the passages"; a passage
  header such as ``(manual-en.md)`` or ``(guide.pdf, p.3)``), or a copied passage: a verbatim run of at least
  ``COPY_RUN_CHARS`` characters shared with a cited passage, or one covering ``COPY_SHARE`` of a cited
  passage of at least ``COPY_MIN_PASSAGE`` characters. Runs are compared after collapsing whitespace and
  dropping Markdown emphasis and citation markers.
- **unsupported numbers**: numbers of an answer (``found: true``) that neither its citations' text nor the
  question states (:func:`indexing.numbers.unsupported_numbers`; citation markers are not numbers).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

from indexing.evaluation.dataset import ExpectedDocument, Question
from indexing.grounding import DECLINES
from indexing.numbers import CITATION_MARKER, contains_number_phrase, unsupported_numbers

COPY_RUN_CHARS = 120
COPY_SHARE = 0.8
COPY_MIN_PASSAGE = 60

Outcome = Literal["answered", "false_refusal", "correct_refusal", "false_answer"]

_SCAFFOLD_LINE = re.compile(
    r"^[ \t>*#-]*(question|answer|rules|passages|질문|답변|규칙|문단)[ \t*]*[:：]",
    re.IGNORECASE | re.MULTILINE,
)
_PROMPT_RULES = (
    "use only the passages",
    "do not use any other knowledge",
    "put the passage number in brackets",
    "copy numbers, amounts, rates",
    "reply with exactly this sentence",
    "answer in one to three complete sentences",
    "번호 붙은 문단만",
)
_PASSAGE_HEADER = re.compile(
    r"\(\s*[^()\n]*?[\w.-]+\.(?:md|markdown|pdf|txt|text|html?|xhtml|docx)(?:\s*,\s*p\.\s*\d+)?\s*\)",
    re.IGNORECASE,
)
_EMPHASIS = re.compile(r"[*_`#]+")
# the answer says the documents do not have it, whatever the found flag says: the answer gate's rule


@dataclass(frozen=True)
class Passage:
    """A citation of the server's answer."""

    filename: str
    page: int | None
    text: str
    score: float = 0.0


@dataclass(frozen=True)
class Reply:
    """The server's answer to one question, or why there is none (``error``)."""

    answer: str = ""
    found: bool = False
    citations: tuple[Passage, ...] = ()
    latency_s: float = 0.0
    error: str | None = None
    cached: bool = False  # served from the server's answer cache (x-hearth-cache: hit)


@dataclass(frozen=True)
class QuestionScore:
    """Every check of one question; ``None`` where a check does not apply to it."""

    question: Question
    reply: Reply
    hit_rank: int | None = None  # 1-based rank of the first expected citation within k
    retrieval_evaluated: bool = False
    facts_found: tuple[str, ...] = ()
    facts_missing: tuple[str, ...] = ()
    outcome: Outcome | None = None
    declines_in_text: bool = False
    leaks: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.reply.error is None

    @property
    def facts_correct(self) -> bool | None:
        if not self.question.facts or not self.ok or self.question.unanswerable:
            return None
        return not self.facts_missing

    @property
    def fact_share(self) -> float | None:
        if self.facts_correct is None:
            return None
        return len(self.facts_found) / len(self.question.facts)


def score(question: Question, reply: Reply, *, k: int | None = None) -> QuestionScore:
    """Every check of one answer; a failed request (``reply.error``) is scored as nothing but an error."""
    if reply.error is not None:
        return QuestionScore(question, reply)
    found, missing = matched_facts(reply.answer, question.facts)
    evaluated = bool(question.expected) and not question.unanswerable
    return QuestionScore(
        question,
        reply,
        hit_rank=retrieval_rank(question.expected, reply.citations, k) if evaluated else None,
        retrieval_evaluated=evaluated,
        facts_found=tuple(found),
        facts_missing=tuple(missing),
        outcome=outcome(question.unanswerable, reply.found),
        declines_in_text=declines(reply.answer),
        leaks=tuple(leaks(reply.answer, reply.citations)),
        unsupported=tuple(
            unsupported_numbers(reply.answer, [p.text for p in reply.citations] + [question.question])
        )
        if reply.found
        else (),
    )


def retrieval_rank(
    expected: Sequence[ExpectedDocument], citations: Sequence[Passage], k: int | None = None
) -> int | None:
    """1-based rank of the first citation within the first ``k`` that is an expected document (and page)."""
    for rank, passage in enumerate(citations[:k] if k else citations, 1):
        for wanted in expected:
            same_file = _basename(passage.filename) == _basename(wanted.document)
            if same_file and (wanted.page is None or wanted.page == passage.page):
                return rank
    return None


def matched_facts(answer: str, facts: Sequence[str]) -> tuple[list[str], list[str]]:
    """The facts the answer states and those it does not, each in the given order."""
    found = [fact for fact in facts if contains_number_phrase(answer, fact)]
    return found, [fact for fact in facts if fact not in found]


def outcome(unanswerable: bool, found: bool) -> Outcome:
    if unanswerable:
        return "false_answer" if found else "correct_refusal"
    return "answered" if found else "false_refusal"


def declines(answer: str) -> bool:
    """Whether the answer's text says the documents do not cover the question."""
    return bool(DECLINES.search(answer))


def leaks(answer: str, citations: Sequence[Passage] = ()) -> list[str]:
    """Why the answer leaks its prompt or copies a passage, one reason each; empty when it does not."""
    reasons = [f"scaffold line '{m.group().strip()}'" for m in _SCAFFOLD_LINE.finditer(answer)]
    lowered = answer.casefold()
    reasons += [f"prompt rule '{rule}'" for rule in _PROMPT_RULES if rule in lowered]
    reasons += [f"passage header '{m.group()}'" for m in _PASSAGE_HEADER.finditer(answer)]
    for index, passage in enumerate(citations, 1):
        run = longest_copied_run(answer, passage.text)
        size = len(_comparable(passage.text))
        if run >= COPY_RUN_CHARS or (size >= COPY_MIN_PASSAGE and run >= COPY_SHARE * size):
            reasons.append(f"copied {run} of {size} characters of passage [{index}] ({passage.filename})")
    return reasons


def longest_copied_run(answer: str, passage: str) -> int:
    """Length of the longest verbatim span shared by the answer and the passage (normalised text)."""
    a, b = _comparable(CITATION_MARKER.sub(" ", answer)), _comparable(passage)
    if not a or not b:
        return 0
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    return int(matcher.find_longest_match(0, len(a), 0, len(b)).size)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation between ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _basename(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1].casefold()


def _comparable(text: str) -> str:
    return " ".join(_EMPHASIS.sub("", text).split())
