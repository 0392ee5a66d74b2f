"""Evidence selection: the sentences of the retrieved chunks that bear on the question, with their neighbours.

A small model answers better from a few relevant sentences than from whole chunks full of other figures, so
the answer prompt gets :class:`Evidence` passages instead of chunks. Each chunk is cut into units: list items,
table rows and sentences (:func:`indexing.chunking.split_sentences`); the heading path line that starts every
chunk is kept apart as the passage's heading. A unit scores by

* lexical coverage: the share of the question's terms (the sparse encoder's terms, weighted by their rarity
  among the candidate units; the question's own figures at :data:`QUESTION_FIGURE_WEIGHT`) found in the unit
  or, at half weight, in its heading;
* dense similarity: the embedder's cosine between the question and the unit, rescaled to 0..1 over the
  candidates (e5's cosines sit close together), which carries paraphrases; only the units of the best
  :data:`DENSE_CHUNKS` chunks are embedded (a few dozen short texts: a few hundred milliseconds);
* the chunk's own retrieval score, relative to the best chunk's;

and a unit whose condition the question's own figures fail ("총급여 7,000만원 이하" for a question about
8,000만원, :func:`indexing.numbers.conflicts`) scores :data:`CONFLICT_FACTOR` of that and brings no
siblings; a unit that states no figure of the kind the question asks for ("몇 %인가요?" and no rate,
"한도는?" and no number: :func:`indexing.numbers.asked_figure`) scores :data:`NO_FIGURE_FACTOR` of it.

The best units are taken with their context, grouped by chunk, and the passages ordered by their best unit:
a sentence brings its neighbours, a table row the table's header row, a list item its short sibling items,
and a sentence that announces a list ("다음 금액을 공제합니다.") the list. Blocking (run it in a thread).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from indexing.chunking import STRUCTURAL_LINE, split_sentences
from indexing.embedders import Embedder
from indexing.numbers import (
    asked_figure,
    conflicts,
    contains_number_phrase,
    figure_phrases,
    stated_values,
    states_figure,
)
from indexing.sparse import SparseEncoder
from indexing.types import ScoredChunk

LEXICAL_WEIGHT = 0.5
DENSE_WEIGHT = 0.3  # the rest: the chunk's retrieval score, relative to the best chunk's
DENSE_CHUNKS = 6
HEADING_WEIGHT = 0.5
# the question's own figures ("70세", "1,000만원 초과") point at the line that states them, but they are often
# conditions that worked examples repeat ("총급여 5,000만원이면"): they count at this share of their weight
QUESTION_FIGURE_WEIGHT = 0.5
# the score of a line whose condition the question's figures fail (numbers.conflicts)
CONFLICT_FACTOR = 0.5
# the score of a line that states no figure of the kind the question asks for (a rate, a number): the
# section's introduction shares the question's words, the line with the rate answers it
NO_FIGURE_FACTOR = 0.6
# at most this many list items follow a sentence that introduces them ("다음 금액을 공제합니다:")
LIST_ITEMS = 8
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•·▪◦※○●■□▶]\s|\d{1,3}[.)]\s|\(\d{1,3}\)\s)")


@dataclass(frozen=True)
class Unit:
    text: str
    line: int  # the line of the chunk it comes from (units of one line are neighbours)
    table_header: str | None = None  # for a table row: the table's header row
    whole: bool = False  # a list item or a table row: it stands alone, without its neighbours
    lead_in: bool = False  # a sentence that introduces the list after it: it brings the list along


@dataclass(frozen=True)
class Evidence:
    """One passage of the answer prompt: the chunk it comes from and the units chosen from it."""

    hit: ScoredChunk
    heading: str | None
    units: tuple[str, ...]  # in document order
    quote: str  # the best-scoring unit: what a citation quotes
    score: float
    # its units chosen for the question itself, and the list items they bring (not neighbours or headers)
    focus: tuple[str, ...] = ()
    coverage: float = 0.0  # the share of the question's terms the quote (or its heading) holds

    @property
    def text(self) -> str:
        return " ".join(self.units)


def split_units(text: str, heading: str | None) -> tuple[str | None, list[Unit]]:
    """The chunk's heading (its first line when that is the heading path) and its units in order."""
    lines = [line.rstrip() for line in text.splitlines()]
    if lines and heading and lines[0].strip() == heading.strip():
        lines = lines[1:]
    elif lines and lines[0].lstrip().startswith("#"):
        heading = lines[0].lstrip("# ").strip()
        lines = lines[1:]
    units: list[Unit] = []
    table_header: str | None = None
    previous_row = False
    for number, line in enumerate(_logical_lines(lines)):
        if line.startswith("|"):
            if set(line) <= set("|-: "):
                continue
            if not previous_row:
                table_header = line
                previous_row = True
                units.append(Unit(line, number))
                continue
            units.append(Unit(line, number, table_header, whole=True))
            continue
        previous_row = False
        if _LIST_ITEM.match(line) and len(line) < 200:
            units.append(Unit(line, number, whole=True))
            continue
        for sentence in split_sentences(line):
            units.append(Unit(sentence, number))
    return heading, _mark_lead_ins(_merge_fragments(units))


_LEAD_IN = re.compile(
    r"(?:[:：]|다음과 같습니다\.?|다음[^.]{0,40}니다\.?|following\W{0,2}|as follows\W{0,2})\s*$",
    re.IGNORECASE,
)


SIBLING_CHARS = 90


def _list_after(units: list[Unit], lead_in: int) -> list[int]:
    items = range(lead_in + 1, min(len(units), lead_in + 1 + LIST_ITEMS))
    return list(itertools.takewhile(lambda n: units[n].whole, items))


def _sibling(other: Unit) -> bool:
    return other.whole and other.table_header is None and len(other.text) <= SIBLING_CHARS


def _mark_lead_ins(units: list[Unit]) -> list[Unit]:
    """A sentence that ends by announcing what follows ("다음 금액을 공제합니다.", "as follows:"), right
    before a list item, is a lead-in: choosing it chooses the list."""
    marked = list(units)
    for n, unit in enumerate(units[:-1]):
        following = units[n + 1]
        announces = following.whole and following.table_header is None and _LEAD_IN.search(unit.text)
        if announces and not unit.whole:
            marked[n] = Unit(unit.text, unit.line, unit.table_header, unit.whole, lead_in=True)
    return marked


def _logical_lines(lines: list[str]) -> list[str]:
    """Lines with wrapped continuations joined: a line that starts no list item, row or heading continues
    the one before it, unless a blank line separates them."""
    joined: list[str] = []
    open_line = False
    for raw in lines:
        line = raw.strip()
        if not line:
            open_line = False
            continue
        if open_line and joined and not STRUCTURAL_LINE.match(line) and not joined[-1].startswith("|"):
            joined[-1] = f"{joined[-1]} {line}"
        else:
            joined.append(line)
        open_line = True
    return joined


def _merge_fragments(units: list[Unit]) -> list[Unit]:
    """A unit of a few characters ("예:", "1)") joins the next unit of its line."""
    merged: list[Unit] = []
    carry: Unit | None = None
    for unit in units:
        if carry is not None:
            if carry.line == unit.line:
                unit = Unit(f"{carry.text} {unit.text}", unit.line, unit.table_header, unit.whole)
            else:
                merged.append(carry)
            carry = None
        if len(unit.text) < 8 and unit.table_header is None:
            carry = unit
            continue
        merged.append(unit)
    if carry is not None:
        merged.append(carry)
    return merged


class EvidenceSelector:
    """Picks the evidence for one question out of its retrieved chunks (thread-safe, blocking)."""

    def __init__(
        self,
        sparse: SparseEncoder,
        *,
        max_passages: int = 3,
        max_units: int = 6,
        neighbours: int = 1,
    ) -> None:
        self._sparse = sparse
        self._max_passages = max_passages
        self._max_units = max_units
        self._neighbours = neighbours

    def select(
        self,
        queries: Sequence[str],
        hits: Sequence[ScoredChunk],
        embedder: Embedder,
        *,
        max_units: int | None = None,
    ) -> list[Evidence]:
        """``queries``: the question and, for a question in another language, its translation;
        ``max_units``: the best units to take (the selector's own number by default)."""
        chunks = []
        for hit in hits:
            heading, units = split_units(hit.chunk.text, hit.chunk.heading)
            if units:
                chunks.append((hit, heading, units))
        if not chunks:
            return []
        flat = [(c, u) for c, (_, _, units) in enumerate(chunks) for u in range(len(units))]
        texts = [chunks[c][2][u].text for c, u in flat]
        lexical = self._lexical(queries, [chunks[c][1] or "" for c, _ in flat], texts)
        # the units of the best chunks only are embedded: embedding every unit costs seconds on a CPU
        near = [i for i, (c, _) in enumerate(flat) if c < DENSE_CHUNKS]
        dense = np.zeros(len(texts), dtype=np.float32)
        dense[near] = self._dense(queries, [texts[i] for i in near], embedder)
        top = max(float(hit.score) for hit, _, _ in chunks) or 1.0
        prior = np.array([float(chunks[c][0].score) / top for c, _ in flat], dtype=np.float32)
        scores = LEXICAL_WEIGHT * lexical + DENSE_WEIGHT * dense + (1 - LEXICAL_WEIGHT - DENSE_WEIGHT) * prior
        # a line whose condition the question's own figures fail ("총급여 7,000만원 이하" when the question
        # says 8,000만원) is not the answer, however many words it shares with the question
        values = stated_values(queries[0])
        inapplicable = {i for i, text in enumerate(texts) if values and conflicts(values, text)}
        for i in inapplicable:
            scores[i] *= CONFLICT_FACTOR
        applies = {(c, u) for i, (c, u) in enumerate(flat) if i not in inapplicable}
        kinds = [kind for kind in map(asked_figure, queries) if kind]
        if kinds:
            kind = "rate" if "rate" in kinds else kinds[0]
            for i, text in enumerate(texts):
                if not states_figure(kind, text):
                    scores[i] *= NO_FIGURE_FACTOR
        order = np.argsort(-scores, kind="stable")
        chosen: dict[int, set[int]] = {}
        best: dict[int, tuple[float, int, float]] = {}
        focus: dict[int, list[str]] = {}
        for index in order[: max_units or self._max_units]:
            c, u = flat[int(index)]
            if c not in chosen and len(chosen) >= self._max_passages:
                continue
            focus.setdefault(c, []).append(chunks[c][2][u].text)
            units = chunks[c][2]
            picked = chosen.setdefault(c, set())
            # a sentence brings its neighbours (what "this" or "다만" refers to); a list item stands alone
            reach = 0 if units[u].whole else self._neighbours
            picked.update(range(max(0, u - reach), min(len(units), u + reach + 1)))
            # the other answers the question may be after, as much in focus as the unit itself: a list item
            # brings its short siblings ("1,000만원 이하분: 15%" needs "초과분: 30%"), a lead-in its list
            alternatives: list[int] = []
            if units[u].whole and units[u].table_header is None:
                alternatives = [n for n in (u - 1, u + 1) if 0 <= n < len(units) and _sibling(units[n])]
            if units[u].lead_in:
                alternatives = _list_after(units, u)
            alternatives = [n for n in alternatives if (c, n) in applies]
            picked.update(alternatives)
            focus[c].extend(units[n].text for n in alternatives if units[n].text not in focus[c])
            header = units[u].table_header
            if header is not None:
                picked.update(n for n, unit in enumerate(units) if unit.text == header)
            if c not in best or scores[index] > best[c][0]:
                best[c] = (float(scores[index]), u, float(lexical[index]))
        evidence = []
        for c, picked in chosen.items():
            hit, heading, units = chunks[c]
            score, top, coverage = best[c]
            chosen_texts = tuple(units[n].text for n in sorted(picked))
            quote = units[top].text
            if units[top].lead_in:
                # "다음 금액을 세액공제합니다." says nothing without the list it introduces
                quote = " ".join([quote, *(units[n].text for n in _list_after(units, top))])
            evidence.append(
                Evidence(hit, heading, chosen_texts, quote, score, tuple(focus.get(c, ())), coverage)
            )
        evidence.sort(key=lambda item: -item.score)
        return evidence

    def _lexical(self, queries: Sequence[str], headings: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        unit_terms = [set(terms) for terms in self._terms(texts)]
        distinct = list(dict.fromkeys(headings))
        heading_terms = {h: set(t) for h, t in zip(distinct, self._terms(distinct), strict=True)}
        best = np.zeros(len(texts), dtype=np.float32)
        n = len(texts)
        for query in queries:
            # the question's topic words; its figures count as figures with their unit ("70세" is not in
            # "70만원"), not as the bare digits the tokenizer makes of them
            terms = self._sparse.topic_terms(query)
            stated = [
                [contains_number_phrase(text, phrase) for text in texts] for phrase in figure_phrases(query)
            ]
            if not terms and not stated:
                continue
            weight = {term: math.log(1 + n / (0.5 + sum(term in u for u in unit_terms))) for term in terms}
            figure_weight = [
                QUESTION_FIGURE_WEIGHT * math.log(1 + n / (0.5 + sum(found))) for found in stated
            ]
            total = sum(weight.values()) + sum(figure_weight)
            for i, (unit, heading) in enumerate(zip(unit_terms, headings, strict=True)):
                in_heading = heading_terms.get(heading, set())
                got = sum(
                    w if term in unit else HEADING_WEIGHT * w if term in in_heading else 0.0
                    for term, w in weight.items()
                )
                got += sum(w for w, found in zip(figure_weight, stated, strict=True) if found[i])
                best[i] = max(best[i], got / total)
        return best

    def _terms(self, texts: Sequence[str]) -> list[list[str]]:
        return [self._sparse.terms(text) for text in texts]

    def _dense(self, queries: Sequence[str], texts: Sequence[str], embedder: Embedder) -> np.ndarray:
        units = embedder.embed(list(texts), "passage")
        asked = embedder.embed(list(queries), "query")
        cosine = (units @ asked.T).max(axis=1)
        low, high = float(cosine.min()), float(cosine.max())
        if high - low < 1e-6:
            return np.zeros(len(texts), dtype=np.float32)
        return ((cosine - low) / (high - low)).astype(np.float32)
