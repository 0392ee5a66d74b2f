"""The answer gate: checks a grounded answer sentence by sentence while the model writes it.

A small model drifts: it copies the prompt's scaffolding, answers with a bare heading, loops on one marker,
or writes a figure that no passage holds. :class:`AnswerGate` takes the model's text deltas and releases only
checked sentences, so a streamed answer and a whole answer are the same text. For each sentence:

* scaffolding (``Question:``, ``Rules:``, ``출처:`` ...) ends the answer; a leading ``Answer:`` is dropped;
* a sentence saying the documents do not cover the question ends the answer: as the first sentence it
  fails the answer as ``declined`` (the caller decides what that means); so does a sentence with a
  template's placeholder in it ("The rate is [n].");
* ``[n]`` markers must name a passage of the prompt; they are renumbered in order of first use, so that the
  answer's ``[k]`` is ``citations[k-1]`` and the citations are exactly the passages the answer used;
* a sentence that is only markers, only a passage's heading, the question copied, or a repeat of an earlier
  sentence is dropped
  (a repeat ends the answer: the model is looping);
* a sentence in the other language than the answer's (an English sentence in a Korean answer) fails;
* Han characters or kana that neither the question nor a passage has fail the sentence (the model drifted
  into Chinese: "2小时" in a Korean answer);
* every number must appear in a passage the sentence cites (or, when it cites none or the wrong one, in one
  passage, which it then cites), or in the question, in the same unit ("5 days" does not support "5 weeks";
  nor does 90만원 "900,000 yuan"); and at least one of a sentence's figures must come from the units chosen
  for the question (``Evidence.focus``), not only from a neighbouring line about something else. The first
  sentence failing that fails the answer (the caller retries, then quotes the evidence); a later one ends
  the answer before it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from indexing.evidence import Evidence
from indexing.numbers import (
    asked_figure,
    asked_value,
    contains_number_phrase,
    figure_conditions,
    fitting_row,
    foreign_currency_figures,
    numbers_in,
    states_figure,
    unsupported_numbers,
)
from inference.language import detect_language

MAX_SENTENCES = 4

_SCAFFOLD = re.compile(
    r"^\s*(?:\*\*)?(?P<label>question|answer|rules?|passages?|context|sources?|references?|citations?|note|"
    r"질문|답변|답|규칙|문단|지문|출처|참고|근거 문단)(?:\*\*)?\s*[:：]",
    re.IGNORECASE,
)
_ANSWER_LABELS = {"answer", "답변", "답"}
# a sentence saying that the documents do not answer the question (the model's own refusal)
DECLINES = re.compile(
    r"do(?:es)? not (?:cover|contain|mention|provide|include)|not (?:covered|mentioned|provided) in"
    r"|no information|내용이 없습니다|나와 있지 않|찾을 수 없|언급되어 있지 않|포함되어 있지 않|정보가 없",
    re.IGNORECASE,
)
# a template's placeholder copied into the answer ("The rate is [n]."): the sentence says nothing
_PLACEHOLDER = re.compile(r"\[(?:n|k|x|number|숫자|번호)\]|\{[a-z_]+\}", re.IGNORECASE)
# the failure of a sentence whose figures the passages state only under conditions the question's figures fail
WRONG_CONDITION = "figures for another condition"
_MARKER = re.compile(r"\[(\d{1,2}(?:\s*[,，]\s*\d{1,2})*)\]")
# a sentence ends at . ! ? 。 followed by space, or at a line break; markers right after it belong to it
_BOUNDARY = re.compile(r"(?:(?<=[.!?。])[ \t]+|\n+)")
# a numbering's period at the start of a line or a heading part ("> 3."), which ends no sentence
_NUMBERING = re.compile(r"(?:^|[\n>])[ \t*]*(?:\[\d{1,2}\][ \t]*)?\d{1,2}\.$")
# a number's period before another number: a Korean date ("2017. 2. 25.") or a version, not a sentence end
_DATE_DOT = re.compile(r"\d\.$")
_DIGIT = re.compile(r"\d")
_DATE_END = re.compile(r"\b\d{2,4}\.[ \t]?\d{1,2}\.[ \t]?\d{1,2}\.$")
_TRAILING_MARKERS = re.compile(r"^(?:\s*\[\d{1,2}(?:\s*[,，]\s*\d{1,2})*\])+")
_PARTIAL_MARKER = re.compile(r"^\s*\[[\d\s,，]*$")
_PASSAGE_HEADER = re.compile(r"^\s*\[\d{1,2}\]\s*\([^)]*\.\w{2,4}(?:, p\.\s*\d+)?\)\s*")
_BRACKETED_NUMBER = re.compile(r"\[(\d{3,}(?:[,.\-]\d+)*)\]")
_WORDS = re.compile(r"[\w%]+")
_LETTERS = re.compile(r"[^\W\d_]+")


@dataclass
class AnswerGate:
    """One answer's checks. Feed it deltas; it returns the checked text to pass on."""

    passages: Sequence[Evidence]
    question: str
    max_sentences: int = MAX_SENTENCES
    language: str | None = None  # "ko" or "en": a sentence in the other language fails
    order: list[int] = field(default_factory=list)  # prompt passage indexes (0-based) in citation order
    failed: str | None = None  # why the first sentence was rejected (the answer has nothing yet)
    rejected: str = ""  # that sentence (for the debug log)
    raw: str = ""  # what the model wrote until the gate stopped (for the debug log)
    # after a figure from the wrong row: (passage index, its unit with the row for the question's figures)
    row: tuple[int, str] | None = None
    # the figure a wh-question asks for ("rate", "figure"): sentences wait until one states such a figure
    _asked: str | None = None
    _held: list[str] = field(default_factory=list)
    stopped: bool = False  # no more text will be released
    _buffer: str = ""
    _current: str = ""
    _emitted: list[str] = field(default_factory=list)  # released sentence bodies (for repeats)
    _text: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._asked = asked_value(self.question)

    @property
    def text(self) -> str:
        return "".join(self._text).strip()

    @property
    def empty(self) -> bool:
        return not self._emitted

    def feed(self, delta: str) -> str:
        if self.stopped:
            return ""
        self.raw += delta
        self._buffer += delta
        out: list[str] = []
        while not self.stopped:
            match = self._boundary()
            if match is None:
                break
            rest = self._buffer[match.end() :]
            markers = _TRAILING_MARKERS.match(rest)
            after = rest[markers.end() :] if markers else rest
            if not after.strip() or _PARTIAL_MARKER.match(after):
                break  # markers may still be coming, or the next sentence: wait for it
            cut = match.end() + (markers.end() if markers else 0)
            sentence, self._buffer = (
                self._buffer[: match.start()] + (markers.group() if markers else ""),
                (self._buffer[cut:]),
            )
            out.append(self._release(sentence, match.group()))
        return "".join(out)

    def _boundary(self) -> re.Match[str] | None:
        """The first sentence end in the buffer; the period of a numbering ("3. Annual leave" in a heading,
        "1. Open Ember" in a list) or of a date's part ("2017. 2. 25.") ends no sentence."""
        for match in _BOUNDARY.finditer(self._buffer):
            if _NUMBERING.search(self._buffer, 0, match.start()):
                continue
            if _DATE_DOT.search(self._buffer, 0, match.start()) and _DIGIT.match(self._buffer, match.end()):
                continue
            if _DATE_END.search(self._buffer, 0, match.start()):
                continue
            return match
        return None

    def close(self) -> str:
        """The last sentence (the model has finished)."""
        out = ""
        if not self.stopped and self._buffer.strip():
            out = self._release(self._buffer, "", final=True)
        self._buffer = ""
        if self._asked and self._emitted:
            # no sentence stated the figure the question asks for ("번호는 [1]입니다"): no answer
            if self.failed is None:
                self.failed, self.rejected = "no figure", " ".join(self._held)
            self._held, self._text, self._emitted, self.order = [], [], [], []
        if not self.order and self._emitted and self.passages:
            # an answer without any marker still cites the passage it came from
            self.order.append(0)
            out = out.rstrip() + " [1]"
            self._text.append(" [1]")
        self.stopped = True
        return out

    # -- one sentence ----------------------------------------------------------------------------------------

    def _release(self, raw: str, separator: str, *, final: bool = False) -> str:
        # a figure the model wrapped like a marker ("번호는 [126]입니다"): no passage is numbered that high
        sentence = _BRACKETED_NUMBER.sub(r"\1", _PASSAGE_HEADER.sub("", raw.strip()))
        self._current = sentence
        if not sentence:
            return ""
        label = _SCAFFOLD.match(sentence)
        if label is not None:
            if label.group("label").lower() not in _ANSWER_LABELS:
                return self._stop("scaffolding")
            sentence = sentence[label.end() :].strip()
        if DECLINES.search(sentence):
            return self._stop("declined")
        if _PLACEHOLDER.search(sentence):
            return self._stop("placeholder")
        cited = self._cited(sentence)
        body = _MARKER.sub("", sentence).strip()
        key = _key(body)
        if not key or self._is_heading(key) or self._repeats_question(key, body):
            return ""
        if key in self._emitted:
            return self._stop("repeat")
        foreign = _foreign_script(body, self.question, self.passages)
        if foreign:
            return self._stop(f"foreign script: {foreign}")
        written = detect_language(body)
        if self.language in ("ko", "en") and written in ("ko", "en") and written != self.language:
            return self._stop(f"written in {written}, not {self.language}")
        support = _numbers_missing(body, self.question, [self.passages[i] for i in cited])
        if support:
            # no marker, or the wrong one: the passage of the prompt that holds all its figures is the one
            # it used ("[2]" for a sentence copied from [1]), if its wording is at least as close to the
            # sentence's as the cited passage's ("체크카드는 17%" [1] is not rescued by a rent passage's 17%)
            found = self._passage_with(body)
            if found is not None and (not cited or self._closest(body, [found, *cited]) == found):
                cited, support = [found], []
        if support:
            return self._stop(f"unsupported numbers: {', '.join(support)}")
        wrong_units = _unit_mismatches(body, self.question, [self.passages[i] for i in cited])
        wrong_units += _foreign_currency(body, [self.passages[i] for i in cited])
        if wrong_units:
            return self._stop(f"figures in another unit: {', '.join(wrong_units)}")
        if self._off_target(body):
            return self._stop("off-target figures")
        judged = cited or list(range(len(self.passages)))
        wrong, right = figure_conditions(
            body, self.question, ["\n".join(self.passages[i].units) for i in judged]
        )
        if wrong and not right:
            if self.row is None:
                self.row = self._fitting_row(judged)
            return self._stop(f"{WRONG_CONDITION}: {', '.join(wrong)}")
        if final and not cited and not self.order and self.passages:
            cited = [0]  # the last sentence of an answer without markers cites the passage it came from
        sentence = self._renumber(sentence, cited)
        self._emitted.append(key)
        text = ("" if len(self._emitted) == 1 else " " if "\n" not in separator else "\n") + sentence
        self._text.append(text)
        if len(self._emitted) >= self.max_sentences:
            self.stopped = True
        if self._asked:
            self._held.append(text)
            if not states_figure(self._asked, body):
                return ""
            self._asked, text, self._held = None, "".join(self._held), []
        return text

    def _stop(self, reason: str) -> str:
        if (not self._emitted or self._asked) and self.failed is None:
            self.failed = reason
            self.rejected = self._current
        self.stopped = True
        return ""

    def _cited(self, sentence: str) -> list[int]:
        cited: list[int] = []
        for match in _MARKER.finditer(sentence):
            for number in re.split(r"\s*[,，]\s*", match.group(1)):
                index = int(number) - 1
                if 0 <= index < len(self.passages) and index not in cited:
                    cited.append(index)
        return cited

    def _renumber(self, sentence: str, cited: list[int]) -> str:
        for index in cited:
            if index not in self.order:
                self.order.append(index)
        body = _MARKER.sub("", sentence)
        body = re.sub(r"\s+([.,!?。])", r"\1", re.sub(r"[ \t]{2,}", " ", body)).strip()
        if not cited:
            return body
        marks = "".join(f"[{self.order.index(i) + 1}]" for i in cited)
        # markers go before the sentence's final punctuation, as the model usually writes them
        end = re.search(r"[.!?。]+$", body)
        if end is not None:
            return f"{body[: end.start()]} {marks}{end.group()}"
        return f"{body} {marks}"

    def _is_heading(self, key: str) -> bool:
        for passage in self.passages:
            heading = passage.heading or ""
            parts = [_key(part) for part in heading.split(">")] + [_key(heading)]
            if key in parts:
                return True
        return False

    def _repeats_question(self, key: str, body: str) -> bool:
        """The sentence is the question copied (with its request, "설명해 주세요"): nearly all its words are
        the question's, it has nearly all of them, and it states no figure of its own (the question
        restated with the answer's figure, "총급여가 8,000만원이면 한도는 250만원입니다", is an answer)."""
        words, asked = key.split(), set(_key(self.question).split())
        own = sum(word not in asked for word in words)
        # all but one in ten of the question's words: "calendar days" picked out of "working days or
        # calendar days" is an answer
        copied = len(words) >= 4 and own <= 0.1 * len(words) and len(asked & set(words)) >= 0.9 * len(asked)
        # the number check parses figures: only for a sentence that the word check calls a copy
        return copied and not unsupported_numbers(body, [self.question])

    def _off_target(self, body: str) -> bool:
        """Figures (beyond the question's), none of which the question's best evidence units state: the
        model took them from a neighbouring line about something else."""
        focus = [unit for passage in self.passages for unit in passage.focus]
        # "1인당", "1회": a count of one is no figure of its own
        own = [number for number in unsupported_numbers(body, [self.question]) if number != "1"]
        if not own or not focus:
            return False
        missing = unsupported_numbers(body, [self.question, *focus])
        return all(number in missing for number in own)

    def _fitting_row(self, indexes: Sequence[int]) -> tuple[int, str] | None:
        kind = asked_figure(self.question)
        for index in indexes:
            units = self.passages[index].units
            found = fitting_row(self.question, units, kind)
            if found is not None:
                return index, units[found]
        return None

    def _closest(self, body: str, indexes: Sequence[int]) -> int:
        """Of the passages ``indexes``, the one sharing the most of the sentence's character pairs (the
        first on a tie)."""
        pairs = _pairs(body)
        return max(indexes, key=lambda i: len(pairs & _pairs(self.passages[i].hit.chunk.text)))

    def _passage_with(self, body: str) -> int | None:
        for index, passage in enumerate(self.passages):
            if not unsupported_numbers(body, [self.question, passage.hit.chunk.text]):
                return index
        return None


def _pairs(text: str) -> set[str]:
    """The text's adjacent letter pairs within words (Korean particles and endings change whole words; the
    figures are what is being checked, so they do not count)."""
    return {word[i : i + 2] for word in _LETTERS.findall(text.lower()) for i in range(len(word) - 1)}


def _key(text: str) -> str:
    return " ".join(_WORDS.findall(text.lower()))


# a figure and its unit as written ("5 days", "3개월", "17%"): the passage must say the same figure in the
# same unit ("5 weeks" is not supported by "5 days")
_FIGURE_UNIT = re.compile(
    r"\d[\d,.]*\s?(?:%|percent\b|days?\b|weeks?\b|months?\b|years?\b|hours?\b|minutes?\b|"
    r"개월|주일|주|일|년|시간|분|세|명|회)",
    re.IGNORECASE,
)


def _unit_mismatches(body: str, question: str, cited: Sequence[Evidence]) -> list[str]:
    sources = [question, *(passage.hit.chunk.text for passage in cited)]
    return [
        match.group()
        for match in _FIGURE_UNIT.finditer(body)
        if not any(contains_number_phrase(source, match.group()) for source in sources)
    ]


def _foreign_currency(body: str, cited: Sequence[Evidence]) -> list[str]:
    """The answer's figures in a currency other than won that no cited passage states in such a currency
    ("900,000 yuan" from "90만원"; "US$220" from "US$220" is fine)."""
    stated = {
        number
        for passage in cited
        for figure in foreign_currency_figures(passage.hit.chunk.text)
        for number in numbers_in(figure)
    }
    return [figure for figure in foreign_currency_figures(body) if not set(numbers_in(figure)) <= stated]


# Han characters and kana: a Qwen model drifts into Chinese mid-answer ("2小时" in a Korean answer)
_CJK_SCRIPT = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def _foreign_script(body: str, question: str, passages: Sequence[Evidence]) -> str:
    """Han or kana characters of the sentence that neither the question nor any passage has (Hanja quoted
    from a passage, or a Chinese question's own words, are fine)."""
    found = "".join(_CJK_SCRIPT.findall(body))
    if not found:
        return ""
    sources = question + "".join(passage.hit.chunk.text for passage in passages)
    return "".join(dict.fromkeys(char for char in found if char not in sources))


def _numbers_missing(body: str, question: str, cited: Sequence[Evidence]) -> list[str]:
    return unsupported_numbers(body, [question, *(passage.hit.chunk.text for passage in cited)])


def quote_for(passage: Evidence, answer: str) -> str:
    """The passage's unit that states the most of the answer's figures; its best unit when none does."""
    figures = set(unsupported_numbers(answer, []))
    best, count = passage.quote, 0
    for unit in passage.units:
        held = len(figures) - len(set(unsupported_numbers(answer, [unit])) & figures)
        if held > count:
            best, count = unit, held
    return best
