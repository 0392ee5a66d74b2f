"""Numbers in text, for grounding checks and fact matching: the one place that decides what a number is.

A number is a run of digits with optional thousands commas and an optional decimal part: ``1,000`` and
``1000`` are the same number (``"1000"``), ``37.5`` keeps its decimals, full-width digits count as ASCII ones,
and a range (``3~5%``), a fraction (``100/110``) or a time (``09:00``) is two numbers. Citation markers
(``[1]``, ``[1, 2]``) and list numbering (a line opening with ``1.`` or ``2)``) are not numbers; the
``59`` of an article (``제59조``) is a number but not an amount. Korean magnitude units are understood, so
``1,000만원``, ``1천만원``, ``10,000,000원`` and ``10 million won`` have the same value, and so have
``37만 5천원`` and ``375,000원``.

    numbers_in(text)                       -> ["1000", "17", ...]   the normalised numeric tokens
    contains_number_phrase(text, phrase)   -> bool   "1,000" is not found in "21,000" or "1,000,000"
    unsupported_numbers(answer, passages)  -> the answer's numbers that no passage states
    conflicts(stated_values(question), text) -> bool   "7,000만원 이하" does not apply to "총급여 8,000만원"
    asked_figure(question), states_figure(kind, text)  "몇 %인가요?" asks a rate, which "공제율 30%" states
    with_english_amounts(text)             "연 50만원" -> "연 50만원 (= 500,000 won)"

Everything here is pure and has no dependencies beyond the standard library.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

_FULLWIDTH = str.maketrans(
    {
        **{chr(0xFF10 + i): str(i) for i in range(10)},
        "，": ",",
        "．": ".",
        "％": "%",
        "～": "~",
        "〜": "~",
        "∼": "~",
        "＄": "$",
        "￦": "₩",
        "：": ":",
        "／": "/",
        "\u00a0": " ",
        "\u202f": " ",
    }
)
CITATION_MARKER = re.compile(r"\[\s*\d{1,2}(?:\s*[,\-–~]\s*\d{1,2})*\s*\]")
# "1. " / "2) " opening a line numbers a list item; it states nothing
LIST_MARKER = re.compile(r"^[ \t]*\d{1,2}[.)](?=[ \t])", re.MULTILINE)
# thousands groups only when exactly three digits follow each comma ("1,0000" is 1 and 0000)
_NUMBER = re.compile(r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?")
# a Korean amount's units right after the digits: 5천, 37만, 1억, 1천만, 3 만 (harmless spacing)
_KO_UNITS = re.compile(r"\s?([천백십]?)([조억만]?)")
_WON_AFTER = re.compile(r"\s?(?:원|won\b|krw\b)", re.IGNORECASE)
_WON_BEFORE = re.compile(r"(?:₩|\bkrw)\s?$", re.IGNORECASE)
# an English answer about a Korean document: 10 million won, 1.2 million
_EN_UNITS = re.compile(r"\s?(thousand|million|billion)\b", re.IGNORECASE)
_EN_MULTIPLIER = {"thousand": 10**3, "million": 10**6, "billion": 10**9}
_SMALL = {"": 1, "십": 10, "백": 100, "천": 1000}
_BIG = {"": 1, "만": 10**4, "억": 10**8, "조": 10**12}


@dataclass(frozen=True)
class NumberMention:
    """One number as written: ``token`` is the normalised digits, ``value`` the amount it stands for
    (with Korean or English units applied and a multi-part amount like ``1억 5천만원`` summed), ``won``
    whether it is marked as Korean won (``원``, ``won`` or ``KRW`` after it, ``₩`` or ``KRW`` before it)."""

    token: str
    value: Decimal
    won: bool
    start: int
    end: int  # of the whole amount, units and ``원`` included


def normalise_digits(text: str) -> str:
    """Full-width digits and signs to ASCII, odd spaces to plain ones."""
    return text.translate(_FULLWIDTH)


def numbers_in(text: str) -> list[str]:
    """The numeric tokens of ``text`` in order: commas stripped, decimals kept, leading zeros dropped."""
    return [mention.token for mention in mentions(text)]


def mentions(text: str) -> list[NumberMention]:
    """Every number of ``text`` with its value and unit; citation markers and list numbering excepted."""
    text = LIST_MARKER.sub(_blank, CITATION_MARKER.sub(_blank, normalise_digits(text)))
    parts = [_part(text, match) for match in _NUMBER.finditer(text)]
    result: list[NumberMention] = []
    i = 0
    while i < len(parts):
        # 1억 5천만원 / 37만 5천원 / 37만 5000원: falling magnitudes with only spaces between are one amount
        j = i
        while j + 1 < len(parts) and _continues(text, parts[j], parts[j + 1]):
            j += 1
        group = parts[i : j + 1]
        total = sum((part.value for part in group), Decimal(0))
        start, end = group[0].start, group[-1].end
        won_after = _WON_AFTER.match(text, end)
        won = bool(won_after) or bool(_WON_BEFORE.search(text, max(0, start - 4), start))
        if won_after:
            end = won_after.end()
        result += [NumberMention(part.token, total, won, start, end) for part in group]
        i = j + 1
    return result


@dataclass(frozen=True)
class _Part:
    token: str
    value: Decimal
    big: int  # the 만/억/조 multiplier, 1 without one
    has_unit: bool
    start: int
    end: int


def _part(text: str, match: re.Match[str]) -> _Part:
    token = _canonical(match.group())
    # 제59조 is an article of a law, not 59 trillion
    article = match.start() > 0 and text[match.start() - 1] == "제"
    units = None if article else _KO_UNITS.match(text, match.end())
    small, big = (units.group(1), units.group(2)) if units else ("", "")
    if small or big:
        value = Decimal(token) * _SMALL[small] * _BIG[big]
        return _Part(token, value, _BIG[big], True, match.start(), units.end() if units else match.end())
    english = _EN_UNITS.match(text, match.end())
    if english:
        value = Decimal(token) * _EN_MULTIPLIER[english.group(1).lower()]
        return _Part(token, value, 1, True, match.start(), english.end())
    return _Part(token, Decimal(token), 1, False, match.start(), match.end())


def _continues(text: str, part: _Part, following: _Part) -> bool:
    return (
        part.big > 1
        and following.value < part.big
        and not text[part.end : following.start].strip()
        and (following.has_unit or bool(_WON_AFTER.match(text, following.end)))
    )


def contains_number_phrase(haystack: str, phrase: str) -> bool:
    """Whether ``phrase`` (a fact such as ``17%``, ``1,000만원``, ``15 days``) occurs in ``haystack`` with
    number boundaries: ``1,000`` is not in ``21,000`` or ``1,000,000``, ``15`` is not in ``150`` or ``1.5``.

    Harmless differences are ignored: thousands commas (``1000만원``), full-width digits, spacing between a
    number and its unit (``900 만원``), letter case. A phrase that is one amount also matches the same amount
    written another way (``1,000만원`` ~ ``1천만원`` ~ ``10,000,000원``; ``₩40,000`` ~ ``40,000원``).
    """
    text, wanted = _comparable(haystack), _comparable(phrase)
    if not wanted:
        return False
    start = text.find(wanted)
    while start >= 0:
        if _bounded(text, start, start + len(wanted)):
            return True
        start = text.find(wanted, start + 1)
    amount = _single_amount(phrase)
    # a won phrase matches an amount marked as won or written with a Korean unit, never a bare number
    return amount is not None and any(_is_amount(m) and m.value == amount.value for m in mentions(haystack))


def unsupported_numbers(answer: str, passages: Iterable[str]) -> list[str]:
    """The answer's numbers (normalised tokens, in order, once each) that none of ``passages`` states.

    A number is supported when a passage has the same token or an amount of the same value (so ``375,000원``
    is supported by ``37만 5천원``). Citation markers are ignored on both sides.
    """
    return StatedNumbers(passages).unsupported(answer)


class StatedNumbers:
    """The numbers some passages state, read once: for checking many answers against a long document."""

    def __init__(self, passages: Iterable[str]) -> None:
        self._tokens: set[str] = set()
        self._values: set[Decimal] = set()
        self._bare: set[str] = set()
        for passage in passages:
            for mention in mentions(passage):
                self._tokens.add(mention.token)
                self._values.add(mention.value)
                if mention.value == Decimal(mention.token):
                    self._bare.add(mention.token)

    def unsupported(self, answer: str) -> list[str]:
        """See :func:`unsupported_numbers`."""
        missing: list[str] = []
        for mention in mentions(answer):
            # a number with a multiplier ("300 million", "300만") is its amount: "300 million won" is not
            # supported by "300만원", only by the same amount or by a bare 300 (a table's unit in its header)
            scaled = mention.value != Decimal(mention.token)
            token = mention.token in (self._bare if scaled else self._tokens)
            if mention.value in self._values or token or mention.token in missing:
                continue
            missing.append(mention.token)
        return missing


# -- conditions: "총급여 7,000만원 이하", "70세 이상", "over 10 million won" ---------------------------------

_BOUND_AFTER = re.compile(
    r"\s*(?:을|를|이|가|은|는)?\s*(이하|미만|초과|이상|까지|넘는|넘으면|넘게|넘은|넘어|or less|or below|"
    r"or under|or more|or above)",
    re.IGNORECASE,
)
_BOUND_BEFORE = re.compile(
    r"(more than|over|above|exceeding|up to|at most|no more than|not more than|below|under|less than)\s+"
    r"(?:₩|krw\s?)?$",
    re.IGNORECASE,
)
_OPERATORS = {
    "이하": "le", "까지": "le", "미만": "lt", "초과": "gt", "넘는": "gt", "넘으면": "gt", "넘게": "gt",
    "넘은": "gt", "넘어": "gt", "이상": "ge", "or less": "le", "or below": "le", "or under": "le",
    "or more": "ge", "or above": "ge", "more than": "gt", "over": "gt", "above": "gt", "exceeding": "gt",
    "up to": "le", "at most": "le", "no more than": "le", "not more than": "le", "below": "lt",
    "under": "lt", "less than": "lt",
}  # fmt: skip
# an age: "70세", "8살", "65 years old" (not 세액, 세금, 세율, 세법, 세대, 세무)
_AGE_AFTER = re.compile(r"\s?(?:세|살)(?![액금율법대무])|\s?years? old", re.IGNORECASE)
_STEP = Decimal("0.5")
_CLAUSE = re.compile(r",(?!\d{3})|[;，；]")


@dataclass(frozen=True)
class Bound:
    """A condition on a quantity: ``kind`` (``won``, ``age``) ``op`` (le, lt, ge, gt) ``value``."""

    kind: str
    op: str
    value: Decimal

    def holds(self, value: Decimal) -> bool:
        return {
            "le": value <= self.value,
            "lt": value < self.value,
            "ge": value >= self.value,
            "gt": value > self.value,
        }[self.op]


def bounds_in(text: str) -> list[Bound]:
    """The conditions ``text`` states on amounts of won and on ages ("5,000만원 초과 8,800만원 이하": two)."""
    return [bound for bound, _ in _quantities(text) if bound is not None]


def stated_values(text: str) -> list[tuple[str, Decimal]]:
    """The amounts of won and the ages ``text`` (a question) states, as (kind, value): "총급여 8,000만원이면"
    is 80,000,000 won; a bound says which side of its figure the value lies on ("1,000만원을 넘으면": just
    over 10,000,000 won, "70세 넘은": over 70)."""
    values = []
    for bound, (kind, value) in _quantities(text):
        if bound is not None and bound.op == "gt":
            value += _STEP
        elif bound is not None and bound.op == "lt":
            value -= _STEP
        values.append((kind, value))
    return values


def conflicts(values: Sequence[tuple[str, Decimal]], text: str) -> bool:
    """Whether ``text`` applies to none of the stated values: with "총급여 8,000만원", the line "총급여
    7,000만원 이하: 300만원" does not apply. The conditions of one clause hold together ("5,000만원 초과
    8,800만원 이하"); clauses are alternatives ("7,000만원 이하는 300만원, 7,000만원 초과는 250만원"
    applies)."""
    bounded = 0
    for clause in _CLAUSE.split(text):
        bounds = bounds_in(clause)
        if not bounds:
            continue
        bounded += 1
        if not any(_fails(bound, values) for bound in bounds):
            return False
    return bounded > 0


_PARENTHESES = re.compile(r"\([^()]*\)|（[^（）]*）")
# lines and sentences of a passage for the condition check, which runs on every answer sentence: the
# evidence units are already sentences (chunking.split_sentences, with Kiwi), so a plain rule suffices here
_SENTENCE_END = re.compile(r"\n+|(?<=[.!?。])\s+")


def figure_conditions(answer: str, question: str, passages: Iterable[str]) -> tuple[list[str], list[str]]:
    """The answer's own figures (those the question does not state) judged by the conditions under which a
    passage states them, given the question's figures: (wrong, right).

    A figure is right when a passage states it in a clause whose conditions the question's figures meet. It
    is wrong when a passage states it only in clauses whose conditions they fail while another clause of that
    passage meets them: the passage lists alternatives and the question picks another row ("총급여 5,500만원
    이하는 15%, 5,500만원 초과는 12%" for "총급여 6,000만원": 15% wrong, 12% right). Figures stated without
    a condition, or by passages without a row for the question, are neither; so is a figure used as a bound.
    A parenthesis is an alternative condition ("5,500만원 이하(종합소득금액 4,500만원 이하)") and is not
    checked. Without figures in the question, nothing is judged."""
    values = stated_values(question)
    if not values:
        return [], []
    asked = {(m.token, m.won) for m in mentions(question)}
    judged = [[(fails, figures) for fails, figures, _ in _rows(passage, values)] for passage in passages]
    wrong: list[str] = []
    right: list[str] = []
    for mention in mentions(answer):
        if (mention.token, mention.won) in asked or mention.token in wrong or mention.token in right:
            continue
        figure = (mention.value, mention.won)
        if any(not fails and figure in figures for rows in judged for fails, figures in rows):
            right.append(mention.token)
        elif any(
            any(fails and figure in figures for fails, figures in rows)
            and any(not fails for fails, _ in rows)
            for rows in judged
        ):
            wrong.append(mention.token)
    return wrong, right


def fitting_row(question: str, lines: Sequence[str], kind: str | None) -> int | None:
    """The first of ``lines`` with a row for the question's figures: a clause whose conditions they meet
    and which states a figure (a rate where ``kind`` is "rate") besides its bounds. None without one, or
    without figures in the question."""
    values = stated_values(question)
    if not values:
        return None
    for index, line in enumerate(lines):
        for fails, figures, clause in _rows(line, values):
            if not fails and figures and (kind != "rate" or states_figure("rate", clause)):
                return index
    return None


def _rows(
    text: str, values: Sequence[tuple[str, Decimal]]
) -> list[tuple[bool, set[tuple[Decimal, bool]], str]]:
    """Each clause of ``text`` with a condition: whether its conditions fail the values, the figures it
    states besides its bounds (value, is won), and the clause."""
    rows = []
    for piece in _SENTENCE_END.split(text):
        for clause in _CLAUSE.split(piece):
            bounds = bounds_in(_PARENTHESES.sub(" ", clause))
            if not bounds:
                continue
            limits = {bound.value for bound in bounds_in(clause)}
            figures = {(m.value, m.won) for m in mentions(clause) if m.value not in limits}
            rows.append((any(_fails(bound, values) for bound in bounds), figures, clause))
    return rows


def _fails(bound: Bound, values: Sequence[tuple[str, Decimal]]) -> bool:
    same = [value for kind, value in values if kind == bound.kind]
    return bool(same) and not any(bound.holds(value) for value in same)


def _quantities(text: str) -> list[tuple[Bound | None, tuple[str, Decimal]]]:
    clean = LIST_MARKER.sub(_blank, CITATION_MARKER.sub(_blank, normalise_digits(text))).replace("*", " ")
    found: list[tuple[Bound | None, tuple[str, Decimal]]] = []
    seen: set[int] = set()
    for mention in mentions(text):
        if mention.end in seen:  # the parts of one amount ("1억 5천만원") share its end
            continue
        seen.add(mention.end)
        end = mention.end
        if _is_amount(mention):
            kind = "won"
        else:
            age = _AGE_AFTER.match(clean, end)
            if age is None:
                continue
            kind, end = "age", age.end()
        after = _BOUND_AFTER.match(clean, end)
        before = _BOUND_BEFORE.search(clean, max(0, mention.start - 20), mention.start)
        word = after.group(1) if after else before.group(1) if before else None
        op = _OPERATORS.get(word.lower()) if word else None
        bound = Bound(kind, op, mention.value) if op else None
        found.append((bound, (kind, mention.value)))
    return found


# -- amounts for a reader of English: "50만원" also as "500,000 won" -----------------------------------------

_KOREAN_MAGNITUDE = re.compile(r"[천백십만억조]")
_OTHER_CURRENCY = re.compile(
    r"\s?(?:yuan|dollars?|usd|euros?|eur|yen|jpy|cny|rmb|pounds?|gbp|위안|달러|유로)\b", re.IGNORECASE
)


def with_english_amounts(text: str) -> str:
    """``text`` with each amount of won written with Korean magnitudes followed by its plain value: "연
    50만원" becomes "연 50만원 (= 500,000 won)". A small model answering in English converts 만 wrongly
    (50만원 as "50,000"); given the plain figure it copies it."""
    groups: dict[int, NumberMention] = {}
    for mention in mentions(text):
        if mention.won:
            groups.setdefault(mention.end, mention)
    clean = normalise_digits(text)
    out = text
    for end, mention in sorted(groups.items(), reverse=True):
        start = min(m.start for m in mentions(text) if m.end == end)
        if not _KOREAN_MAGNITUDE.search(clean[start:end]):
            continue
        value = mention.value
        plain = f"{int(value):,}" if value == value.to_integral_value() else f"{value:,}"
        out = f"{out[:end]} (= {plain} won){out[end:]}"
    return out


def foreign_currency_figures(answer: str) -> list[str]:
    """The figures of ``answer`` given in a currency other than won ("900,000 yuan", "$500"): Hearth's
    documents state won, and the same digits in another currency are another amount."""
    clean = normalise_digits(answer)
    found = []
    for mention in mentions(answer):
        after = _OTHER_CURRENCY.match(clean, mention.end)
        before = clean[max(0, mention.start - 1) : mention.start] in ("$", "€", "¥", "£")
        if after or before:
            found.append(clean[mention.start : after.end() if after else mention.end].strip())
    return found


# -- a question's figures as phrases: "70세", "8,000만원", "12%" ---------------------------------------------

_FIGURE_UNIT_AFTER = re.compile(
    r"\s?(?:%|퍼센트|세|살|년|개월|월|일|명|회|시간|분|주|percent\b|years?\b|months?\b|weeks?\b|days?\b|"
    r"hours?\b)",
    re.IGNORECASE,
)


def figure_phrases(text: str) -> list[str]:
    """Each figure of ``text`` with its unit, as :func:`contains_number_phrase` takes it: "70세 넘은 아버지"
    gives "70세", which "70만원" does not contain; "1억 5천만원" is one phrase."""
    clean = normalise_digits(text)
    starts: dict[int, int] = {}
    for mention in mentions(text):
        starts[mention.end] = min(starts.get(mention.end, mention.start), mention.start)
    phrases = []
    for end, start in starts.items():
        unit = _FIGURE_UNIT_AFTER.match(clean, end)
        phrase = clean[start : unit.end() if unit else end].strip()
        if phrase not in phrases:
            phrases.append(phrase)
    return phrases


# -- what a question asks for: a rate, or some figure ------------------------------------------------------

# "몇 %", "공제율은", "세율", "할인률", "what rate", "percentage" (not 법률, 규율, 자율, 효율)
_ASKS_RATE = re.compile(
    r"몇\s*(?:%|퍼센트|프로)|(?![법규자효선운])[가-힣][율률]"
    r"(?:은|는|이|가|을|를|로|과|와|도|의)?(?=[\s?.!]|$)|비율|퍼센트|%|\bpercent(?:age)?\b|\brates?\b",
    re.IGNORECASE,
)
# "몇 일", "얼마", "한도", "언제", "how much", "limit", "deadline": the answer is a figure (an amount, a
# count, a period, a date)
_ASKS_FIGURE = re.compile(
    r"몇|며칠|얼마|한도|금액|기한|기간|언제|\bhow (?:much|many|long|old)\b|"
    r"\b(?:limit|amount|cap|maximum|minimum|deadline|when)\b",
    re.IGNORECASE,
)
# a question that asks for the value itself ("얼마인가요?", "몇 %", "what is the limit"), not whether
# something holds ("카드 금액도 합산할 수 있나요?")
_ASKS_VALUE = re.compile(
    r"몇|며칠|얼마|언제|번호|무엇|뭔가요|뭐|\b(?:how (?:much|many|long|old)|when|what|which)\b", re.IGNORECASE
)
_ASKS_DATE = re.compile(r"언제|기한|기간|며칠|\b(?:when|deadline|how long|how old)\b", re.IGNORECASE)
_STATES_RATE = re.compile(r"\d\s?(?:%|퍼센트|percent\b)", re.IGNORECASE)


def asked_figure(question: str) -> str | None:
    """What kind of figure ``question`` asks for: ``"rate"`` ("체크카드 공제율은 몇 %인가요?"),
    ``"figure"`` (an amount, a count, a period or a date: "한도는 얼마인가요?", "how many days"), or None."""
    question = normalise_digits(question)
    if _ASKS_RATE.search(question):
        return "rate"
    if _ASKS_FIGURE.search(question):
        return "figure"
    return None


def asked_value(question: str) -> str | None:
    """Like :func:`asked_figure`, for a question that asks for the value itself (a wh-question): its answer
    says nothing without a figure of that kind."""
    kind = asked_figure(question) if _ASKS_VALUE.search(question) else None
    # a date or a period may be written in words ("every Tuesday", "three months")
    return None if kind == "figure" and _ASKS_DATE.search(question) else kind


# a question that asks to explain, compare or describe ("차이점은 무엇인가요?", "설명해주세요", "how does ...
# work"): its answer takes more than one fact
_ASKS_EXPLANATION = re.compile(
    r"설명|차이|비교|과정|절차|이유|영향|역할|효과|특징|어떻게|어떠한|무엇이며|각각|"
    r"\b(?:explain|describe|compare|differen\w*|why|how (?:does|do|did|can|should|to))\b",
    re.IGNORECASE,
)


def asks_explanation(question: str) -> bool:
    """Whether ``question`` asks for an explanation, a comparison or several things at once (two questions
    in one), rather than for one fact."""
    marks = question.count("?") + question.count("？")
    return bool(_ASKS_EXPLANATION.search(question)) or marks >= 2


def states_figure(kind: str, text: str) -> bool:
    """Whether ``text`` states a figure of the kind :func:`asked_figure` found: a rate, or any number."""
    if kind == "rate":
        return bool(_STATES_RATE.search(normalise_digits(text)))
    return bool(mentions(text))


def _blank(match: re.Match[str]) -> str:
    return " " * len(match.group())  # spaces, not nothing: offsets stay those of the caller's text


def _canonical(number: str) -> str:
    digits = number.replace(",", "")
    whole, _, fraction = digits.partition(".")
    whole = whole.lstrip("0") or "0"
    fraction = fraction.rstrip("0")
    return f"{whole}.{fraction}" if fraction else whole


_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_DIGIT_SPACE_UNIT = re.compile(r"(?<=\d)\s+(?=[%\uac00-\ud7a3])")
_UNIT_SPACE = re.compile(r"(?<=[천백십조억만])\s+(?=[\d원])")
_CURRENCY_SPACE = re.compile(r"(?<=[₩$])\s+(?=\d)")
_RANGE = re.compile(r"(?<=\d)\s*[~\-–—]\s*(?=\d)")


def _comparable(text: str) -> str:
    text = normalise_digits(text).casefold()
    text = " ".join(text.split())
    text = _THOUSANDS.sub("", text)
    text = _DIGIT_SPACE_UNIT.sub("", text)
    text = _UNIT_SPACE.sub("", text)
    text = _CURRENCY_SPACE.sub("", text)
    return _RANGE.sub("~", text)


def _bounded(text: str, start: int, end: int) -> bool:
    """No digit run continues across either end of ``text[start:end]`` (a decimal point counts)."""
    if text[start].isdigit() and start > 0:
        before = text[start - 1]
        if before.isdigit() or (before in ".천만억조" and start > 1 and text[start - 2].isdigit()):
            return False  # inside 37.5, or the tail of an amount such as 1억 5,000만원
    if text[end - 1].isdigit() and end < len(text):
        after = text[end]
        if after.isdigit() or (after == "." and end + 1 < len(text) and text[end + 1].isdigit()):
            return False
    return True


def _single_amount(phrase: str) -> NumberMention | None:
    """The phrase's amount when the phrase is nothing but one amount (``₩40,000``, ``37만 5천원``)."""
    found = mentions(phrase)
    if not found or len({(m.start, m.end) for m in found}) != 1:
        return None
    amount = found[0]
    rest = (phrase[: amount.start] + phrase[amount.end :]).replace("₩", "").strip()
    return amount if not rest and _is_amount(amount) else None


def _is_amount(mention: NumberMention) -> bool:
    """Marked as won or written with a Korean unit: a bare ``10000000`` is not an amount."""
    return mention.won or mention.value != Decimal(mention.token)
