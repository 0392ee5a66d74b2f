"""indexing/numbers.py: what a number is, when a fact is stated, and which numbers an answer invents."""

from __future__ import annotations

from decimal import Decimal

import pytest

from indexing.numbers import (
    Bound,
    asked_figure,
    asked_value,
    asks_explanation,
    bounds_in,
    conflicts,
    contains_number_phrase,
    figure_conditions,
    figure_phrases,
    fitting_row,
    foreign_currency_figures,
    mentions,
    numbers_in,
    stated_values,
    states_figure,
    unsupported_numbers,
    with_english_amounts,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("한도는 연 1,000만원입니다", ["1000"]),
        ("한도는 연 1000만원입니다", ["1000"]),
        ("기부액의 10만원까지 100/110을 공제", ["10", "100", "110"]),
        ("2025년 귀속분, 2026년 2월분 급여", ["2025", "2026", "2"]),
        ("세율은 3~5%이고 6～45% 구간도 있다", ["3", "5", "6", "45"]),
        ("공제율 16.5%, 37.5만원", ["16.5", "37.5"]),
        ("60세 이상, 6개월 이상, 15일, 3년", ["60", "6", "15", "3"]),
        ("１，０００만원과 ２０２５년", ["1000", "2025"]),  # full-width digits and comma
        ("월세액의 17%[1]이며 한도는 1,000만원입니다 [2][3]. 근거 [1, 2]", ["17", "1000"]),
        ("1. 부양가족 확정\n2. 자료 제공 동의 3건", ["3"]),  # list numbering is not a number
        ("09:00~13:00", ["9", "0", "13", "0"]),
        ("1,0000 and 1.50 and v2.3.", ["1", "0", "1.5", "2.3"]),
        ("no numbers here", []),
    ],
)
def test_numbers_in_gives_normalised_tokens(text: str, expected: list[str]) -> None:
    assert numbers_in(text) == expected


@pytest.mark.parametrize(
    ("text", "value", "won"),
    [
        ("1,000만원", 10_000_000, True),
        ("1천만원", 10_000_000, True),
        ("10,000,000원", 10_000_000, True),
        ("37만 5천원", 375_000, True),
        ("37.5만원", 375_000, True),
        ("1억 5천만원", 150_000_000, True),
        ("₩40,000", 40_000, True),
        ("KRW 6,000,000", 6_000_000, True),
        ("10 million won", 10_000_000, True),
        ("900 만원", 9_000_000, True),
        ("17%", 17, False),
    ],
)
def test_amounts_have_a_value_whatever_the_notation(text: str, value: int, won: bool) -> None:
    found = mentions(text)
    assert {m.value for m in found} == {Decimal(value)}
    assert all(m.won is won for m in found)


def test_parts_of_separate_amounts_are_not_summed() -> None:
    # "10만원까지 100/110": 10만원, then two plain numbers
    assert [m.value for m in mentions("10만원까지 100/110")] == [100_000, 100, 110]
    assert [m.value for m in mentions("월 70만원씩 12개월")] == [700_000, 12]
    # the article of a law is no amount of 59 trillion
    assert [m.value for m in mentions("「소득세법」 제59조의4 제1항")] == [59, 4, 1]


@pytest.mark.parametrize(
    ("haystack", "phrase"),
    [
        ("월세액 한도는 연 1,000만원입니다.", "1,000만원"),
        ("월세액 한도는 연 1000만원입니다.", "1,000만원"),
        ("월세액 한도는 연 1,000 만원입니다.", "1,000만원"),
        ("월세액 한도는 연 1천만원입니다.", "1,000만원"),
        ("The limit is 10,000,000원.", "1,000만원"),
        ("The limit is 10 million won a year.", "1,000만원"),
        ("대학생은 900 만원까지", "900만원"),
        ("대학생은 ９００만원까지", "900만원"),
        ("공제율은 17%입니다", "17%"),
        ("공제율은 17 %입니다", "17%"),
        ("You get 15 days of leave.", "15 days"),
        ("the 15th", "15"),
        ("10만원까지 100/110을 공제", "100/110"),
        ("세율 3 ~ 5%", "3~5%"),
        ("per diem ₩40,000", "40,000원"),
        ("일비 40,000원", "₩40,000"),
        ("37만 5천원을 공제", "375,000원"),
        ("Slack #SEC-INCIDENT", "#sec-incident"),
        ("mail security@hearthlabs.example now", "security@hearthlabs.example"),
        ("2025년 귀속", "2025년"),
    ],
)
def test_a_stated_fact_is_found(haystack: str, phrase: str) -> None:
    assert contains_number_phrase(haystack, phrase)


@pytest.mark.parametrize(
    ("haystack", "phrase"),
    [
        ("한도는 1,000,000원", "1,000"),  # inside a bigger number
        ("한도는 21,000원", "1,000"),
        ("한도는 1,100만원", "100만원"),
        ("기본공제 150만원", "15"),
        ("150 days", "15 days"),
        ("세율 1.5%", "15"),
        ("세율 1.5%", "5"),
        ("37.5만원", "37"),
        ("117% 증가", "17%"),
        ("US$800 a night", "US$80"),
        ("1억 5,000만원", "5,000만원"),  # the tail of a bigger amount
        ("37만 5천원", "5천원"),
        ("10000000", "1,000만원"),  # a bare number is no amount of won
        ("밤 11시에", "1시"),
        ("", "17%"),
    ],
)
def test_a_number_inside_another_is_not_the_fact(haystack: str, phrase: str) -> None:
    assert not contains_number_phrase(haystack, phrase)


def test_an_empty_phrase_is_never_found() -> None:
    assert not contains_number_phrase("anything", "  ")


def test_unsupported_numbers_are_those_no_passage_states() -> None:
    passages = ["월세액의 **17%**. 한도는 연 **1,000만원**. 최대 세액공제액은 17% 적용 시 170만원"]
    answer = "월세액의 17%[1]를 공제하며 한도는 1,000만원[1], 최대 170만원입니다. 2026년부터 20%로 오릅니다."
    assert unsupported_numbers(answer, passages) == ["2026", "20"]


def test_the_same_amount_in_another_notation_is_supported() -> None:
    passages = ["세액공제액은 37만 5천원입니다", "한도는 1,000만원", "일비 ₩40,000"]
    answer = "375,000원을 공제받고 [1], 한도는 10,000,000원 [2], 일비는 40,000원입니다 [3]."
    assert unsupported_numbers(answer, passages) == []
    assert unsupported_numbers("The cap is 10 million won [2].", passages) == []


def test_a_number_at_another_scale_is_not_supported() -> None:
    # the 1.5B wrote "300 million won" from "300만원 (= 3,000,000 won)"
    passages = ["배우자 공제는 300만원 (= 3,000,000 won)입니다"]
    assert unsupported_numbers("The exemption is 300 million won [1].", passages) == ["300"]
    assert unsupported_numbers("300만원입니다 [1].", passages) == []
    # a bare figure (a table's unit stands in its header) supports it at any scale
    assert unsupported_numbers("한도는 300만원입니다.", ["| 한도(만원) | 300 |"]) == []


def test_citation_markers_and_repeats_are_not_reported() -> None:
    assert unsupported_numbers("See [4] and [5, 6]: 99%, 99%.", ["nothing"]) == ["99"]
    assert unsupported_numbers("no numbers [1]", []) == []


# -- conditions ----------------------------------------------------------------------------------------------


def test_bounds_read_korean_and_english_conditions_on_amounts_and_ages() -> None:
    assert bounds_in("| 5,000만원 초과 8,800만원 이하 | 24% |") == [
        Bound("won", "gt", Decimal(50_000_000)),
        Bound("won", "le", Decimal(88_000_000)),
    ]
    assert bounds_in("- **경로우대자 공제:** 70세 이상인 기본공제대상자") == [Bound("age", "ge", Decimal(70))]
    assert bounds_in("salary of 70 million won or less") == [Bound("won", "le", Decimal(70_000_000))]
    assert bounds_in("over ₩1,000,000") == [Bound("won", "gt", Decimal(1_000_000))]
    # a figure without a condition, and 세 that starts 세액 or 세율, are no bounds
    assert bounds_in("연 **300만원**을 공제합니다. 5세액공제, 10세율") == []


def test_a_question_states_values_on_the_side_of_its_condition() -> None:
    assert stated_values("연봉(총급여)이 8,000만원이면 한도는?") == [("won", Decimal(80_000_000))]
    over = stated_values("기부금 합계가 1,000만원을 넘으면 넘는 부분은?")
    assert over[0][0] == "won" and over[0][1] > 10_000_000
    assert stated_values("70세 넘은 아버지") == [("age", Decimal("70.5"))]


def test_a_line_whose_condition_the_question_fails_does_not_apply() -> None:
    salary = stated_values("총급여가 8,000만원이면 신용카드 공제 한도는 얼마인가요?")
    assert conflicts(salary, "- 총급여 **7,000만원 이하**: 연 300만원")
    assert not conflicts(salary, "- 총급여 **7,000만원 초과**: 연 250만원")
    assert not conflicts(salary, "연 300만원을 공제합니다.")  # no condition: nothing to fail
    # one clause's conditions hold together; clauses are alternatives
    assert conflicts(salary, "| 8,800만원 초과 1억 5천만원 이하 | 35% |")
    assert not conflicts(salary, "| 5,000만원 초과 8,800만원 이하 | 24% |")
    assert not conflicts(
        salary, "총급여 7,000만원 이하는 연 300만원, 총급여 7,000만원 초과는 연 250만원입니다."
    )
    # a question with no figure of that kind leaves every line applicable
    assert not conflicts(stated_values("신용카드 공제 한도는?"), "- 총급여 7,000만원 이하: 연 300만원")
    assert not conflicts(stated_values("70세 넘은 아버지"), "- 총급여 7,000만원 이하: 연 300만원")


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("체크카드 사용분의 소득공제율은 몇 %인가요?", "rate"),
        ("과세표준 5,000만원의 세율은?", "rate"),
        ("What rate applies to debit card spending?", "rate"),
        ("월세액 세액공제 한도는 얼마인가요?", "figure"),
        ("연차는 며칠인가요? 몇 일 쉬나요?", "figure"),
        ("How many days of annual leave do I get?", "figure"),
        ("What is the yearly limit for glasses?", "figure"),
        ("연말정산 서류는 어디에 제출하나요?", None),
        ("관련 법률은 무엇인가요?", None),  # 법률 is a law, not a rate
        ("Who approves remote work?", None),
    ],
)
def test_a_question_asks_for_a_rate_a_figure_or_neither(question: str, kind: str | None) -> None:
    assert asked_figure(question) == kind


def test_a_line_states_a_rate_or_a_figure() -> None:
    assert states_figure("rate", "- **체크카드 사용분:** 공제율 **30%**.")
    assert states_figure("rate", "the rate is 15 percent")
    assert not states_figure("rate", "총급여 5,000만원 이하인 근로자")
    assert states_figure("figure", "총급여 5,000만원 이하인 근로자")
    assert not states_figure("figure", "신용카드, 체크카드, 현금영수증 사용액 가운데 일정 금액을 넘는 부분")
    assert not states_figure("figure", "1. 서류를 제출합니다.")  # list numbering states nothing


def test_a_questions_figures_keep_their_unit() -> None:
    assert figure_phrases("70세 넘은 아버지, 총급여 8,000만원이면 12%?") == ["70세", "8,000만원", "12%"]
    assert figure_phrases("1억 5천만원 초과") == ["1억 5천만원"]
    assert figure_phrases("after 3 years of service") == ["3 years"]
    # "70세" is not found in a line about 70만원
    assert not contains_number_phrase("출산 세액공제로 70만원을 받습니다", figure_phrases("70세 이상")[0])


def test_korean_amounts_get_their_plain_value_for_an_english_answer() -> None:
    text = "1인당 연 **50만원** 한도, 총급여 5,500만원 이하, 1억 5천만원 초과, 90,909원, 30%"
    assert with_english_amounts(text) == (
        "1인당 연 **50만원 (= 500,000 won)** 한도, 총급여 5,500만원 (= 55,000,000 won) 이하, "
        "1억 5천만원 (= 150,000,000 won) 초과, 90,909원, 30%"
    )
    assert with_english_amounts("37.5만원") == "37.5만원 (= 375,000 won)"
    # what it adds is the same amount: every figure stays supported by the original
    assert not unsupported_numbers(with_english_amounts(text), [text])


def test_figures_in_another_currency_are_found() -> None:
    assert foreign_currency_figures("up to 900,000 yuan a year, or $500, or 50 dollars") == [
        "900,000 yuan",
        "500",
        "50 dollars",
    ]
    assert foreign_currency_figures("up to 500,000 won (50만원), 17%") == []


RATE_ROWS = [
    "- 공제율: 총급여 5,500만원 이하(종합소득금액 4,500만원 이하)는 15%, 총급여 5,500만원 초과는 12%입니다."
]
TAX_TABLE = [
    "| 1,400만원 초과 5,000만원 이하 | 15% | 126만원 |\n| 5,000만원 초과 8,800만원 이하 | 24% | 576만원 |"
]
CARD_LIMIT = [
    "기본한도: 총급여 7,000만원 이하는 연 300만원, 총급여 7,000만원 초과는 연 250만원입니다.",
    "주택청약종합저축은 연간 납입액 300만원 한도로 40%를 소득공제합니다.",
]


@pytest.mark.parametrize(
    ("answer", "question", "sources", "expected"),
    [
        ("총급여 6,000만원 이하는 15%입니다.", "총급여가 6,000만원이면 몇 %인가요?", RATE_ROWS, (["15"], [])),
        ("5,500만원 초과는 12%입니다.", "총급여가 6,000만원이면 몇 %인가요?", RATE_ROWS, ([], ["12"])),
        ("15%, 초과는 12%입니다.", "총급여가 6,000만원이면 몇 %인가요?", RATE_ROWS, (["15"], ["12"])),
        # the parenthesis is an alternative condition: 5,000만원 fails 4,500만원 이하 but 15% applies
        ("15%입니다.", "총급여가 5,000만원이면 몇 %인가요?", RATE_ROWS, ([], ["15"])),
        ("15%가 적용됩니다.", "과세표준이 6천만원이면 세율은?", TAX_TABLE, (["15"], [])),
        ("24%가 적용됩니다.", "과세표준이 6천만원이면 세율은?", TAX_TABLE, ([], ["24"])),
        # a row for another condition is wrong even where another passage states the figure plainly
        ("기본한도는 300만원입니다.", "총급여가 8,000만원이면 기본한도는?", CARD_LIMIT, (["300"], [])),
        # a passage without a row for the question's figures says nothing about them
        (
            "공제 대상입니다.",
            "총급여가 8,000만원이면?",
            ["총급여 5,000만원 이하인 근로자만 공제합니다."],
            ([], []),
        ),
        ("70%입니다.", "총급여가 8,000만원이면?", ["총급여 5,000만원 이하이면 70%를 공제합니다."], ([], [])),
        # no figures in the question, or a figure no source states: nothing to say
        ("15%입니다.", "IRP 세액공제율은 몇 %인가요?", RATE_ROWS, ([], [])),
        ("30%입니다.", "총급여가 6,000만원이면 몇 %인가요?", RATE_ROWS, ([], [])),
        # the bound itself is no figure of a row
        ("5,500만원을 넘으면 12%입니다.", "총급여가 6,000만원이면 몇 %인가요?", RATE_ROWS, ([], ["12"])),
    ],
)
def test_figure_conditions(
    answer: str, question: str, sources: list[str], expected: tuple[list[str], list[str]]
) -> None:
    assert figure_conditions(answer, question, sources) == expected


def test_fitting_row_is_the_line_with_a_row_for_the_questions_figures() -> None:
    lines = [
        "기본세율은 다음과 같습니다.",
        "- 1,400만원 이하: 6%",
        "- 5,000만원 초과 8,800만원 이하: 24%",
        "- 10억원 초과: 45%",
    ]
    assert fitting_row("과세표준이 6천만원이면 세율은 몇 %인가요?", lines, "rate") == 2
    assert fitting_row("과세표준이 1,000만원이면 세율은 몇 %인가요?", lines, "rate") == 1
    # a row must state a figure of the kind asked for; without figures in the question there is no row
    assert (
        fitting_row(
            "과세표준이 6천만원이면 세율은 몇 %인가요?", ["5,000만원 초과 8,800만원 이하인 사람"], "rate"
        )
        is None
    )
    assert fitting_row("세율은 몇 %인가요?", lines, "rate") is None


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("체크카드 공제율은 몇 %인가요?", "rate"),
        ("안경 구입비 한도는 얼마인가요?", "figure"),
        ("What is the tax credit rate for infertility treatment costs?", "rate"),
        # whether, not how much
        ("형제자매가 쓴 신용카드 금액도 합산해서 공제받을 수 있나요?", None),
        # dates and periods may be words ("every Tuesday", "three months")
        ("When does the supply boat Gullwing arrive?", None),
        ("신입 사원의 수습 기간은 얼마나 되나요?", None),
    ],
)
def test_asked_value(question: str, kind: str | None) -> None:
    assert asked_value(question) == kind


@pytest.mark.parametrize(
    ("question", "explanation"),
    [
        ("시중은행과 지방은행의 인가 요건에는 어떤 차이가 있나요?", True),
        ("사업비 정산 절차를 설명해주세요.", True),
        ("How does the VPN client decide which gateway to use?", True),
        # two questions in one
        ("의료비 공제율은 몇 %인가요? 연간 한도도 있나요?", True),
        ("체크카드 공제율은 몇 %인가요?", False),
        ("What are the core hours during which everyone has to be reachable?", False),
        ("월세 세액공제를 받으려면 총급여가 얼마 이하여야 하나요?", False),
    ],
)
def test_asks_explanation(question: str, explanation: bool) -> None:
    assert asks_explanation(question) is explanation
