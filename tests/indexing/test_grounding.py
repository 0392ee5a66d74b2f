"""The answer gate (indexing/grounding.py) on fixed passages and fixed model outputs."""

from __future__ import annotations

from indexing.evidence import Evidence
from indexing.grounding import WRONG_CONDITION, AnswerGate, quote_for
from indexing.types import Chunk, ScoredChunk

RENT = (
    "월세 세액공제 > 공제율과 한도\n"
    "총급여 5,500만원 이하인 근로자는 월세액의 17%를 세액공제합니다. "
    "총급여 5,500만원 초과 8,000만원 이하는 15%입니다. 월세액 한도는 연 1,000만원입니다."
)
CARD = "신용카드 등 소득공제 > 공제율\n신용카드 사용분은 15%, 체크카드와 현금영수증은 30%를 공제합니다."


def _passage(text: str, heading: str, name: str = "guide.md", index: int = 0) -> Evidence:
    chunk = Chunk(id=f"c{index}", document_id="d", index=index, text=text, filename=name, heading=heading)
    body = text.split("\n", 1)[1]
    return Evidence(ScoredChunk(chunk, 1.0), heading, (body,), body.split(". ")[0], 1.0)


PASSAGES = [
    _passage(CARD, "신용카드 등 소득공제 > 공제율", index=0),
    _passage(RENT, "월세 세액공제 > 공제율과 한도", index=1),
]


def run(output: str, question: str = "월세 세액공제율은?", *, pieces: int = 7) -> AnswerGate:
    """Feed ``output`` in a few uneven deltas, as a stream would."""
    gate = AnswerGate(PASSAGES, question)
    step = max(1, len(output) // pieces)
    released = "".join(gate.feed(output[i : i + step]) for i in range(0, len(output), step))
    released += gate.close()
    assert released.strip() == gate.text
    return gate


def test_markers_are_renumbered_to_the_passages_used():
    gate = run("총급여 5,500만원 이하이면 17%를 공제받습니다 [2]. 한도는 연 1,000만원입니다 [2].")
    assert gate.text == "총급여 5,500만원 이하이면 17%를 공제받습니다 [1]. 한도는 연 1,000만원입니다 [1]."
    assert gate.order == [1]
    assert gate.failed is None


def test_a_marker_after_the_full_stop_stays_with_its_sentence():
    gate = run("체크카드는 30%입니다. [1] 월세는 17%입니다. [2]")
    assert gate.text == "체크카드는 30%입니다 [1]. 월세는 17%입니다 [2]."
    assert gate.order == [0, 1]


def test_an_unsupported_figure_in_the_first_sentence_fails_the_answer():
    # the regression of issue 10: "대학생 교육비 공제 한도는 15만원" where the passage says 900만원
    gate = run("월세 세액공제 한도는 연 750만원입니다 [2].")
    assert gate.text == ""
    assert gate.failed is not None and "750" in gate.failed


def test_an_unsupported_figure_later_ends_the_answer_before_it():
    gate = run("월세는 17%를 공제합니다 [2]. 다만 총급여 7,000만원 초과는 5%입니다 [2].")
    assert gate.text == "월세는 17%를 공제합니다 [1]."
    assert gate.failed is None


def test_a_figure_from_the_question_is_allowed():
    gate = run(
        "총급여가 5,000만원이면 5,500만원 이하이므로 17%입니다 [2].",
        question="총급여가 5,000만원인데 월세 공제율은?",
    )
    assert "17%" in gate.text and gate.failed is None


def test_a_sentence_without_a_marker_cites_the_passage_holding_its_figures():
    gate = run("체크카드 사용분의 공제율은 30%입니다.")
    assert gate.text == "체크카드 사용분의 공제율은 30%입니다 [1]."
    assert gate.order == [0]


def test_a_figure_in_a_passage_it_does_not_cite_is_unsupported():
    gate = run("체크카드 공제율은 17%입니다 [1].")
    assert gate.text == "" and gate.failed is not None


def test_scaffolding_ends_the_answer():
    gate = run("월세는 17%입니다 [2].\nQuestion: 체크카드는?\nAnswer: 30%")
    assert gate.text == "월세는 17%입니다 [1]."
    gate = run("Rules: 1. Use only the passages above.")
    assert gate.text == "" and gate.failed == "scaffolding"


def test_a_leading_answer_label_is_dropped():
    assert run("Answer: 월세는 17%입니다 [2].").text == "월세는 17%입니다 [1]."


def test_a_bare_heading_is_not_an_answer():
    # the regression of issue 10: the answer "[1] 월세액 세액공제" (only the passage's heading)
    gate = run("[2] 월세 세액공제")
    assert gate.text == "" and gate.empty


def test_a_copied_heading_with_a_section_number_is_skipped_whole():
    # the vLLM peer's 0.5B began "[1] Hearth Labs Employee Handbook > 3. Annual leave": the "3." of the
    # numbering ended a "sentence" whose figure 3 no evidence states, and the whole answer was refused
    leave = _passage(
        "3. Annual leave\nAfter one year you receive 15 days of annual leave.", "Handbook > 3. Annual leave"
    )
    gate = AnswerGate([leave], "How many days of annual leave do I get?")
    output = "[1] Handbook > 3. Annual leave\nAfter one year you receive 15 days of annual leave [1]."
    released = "".join(gate.feed(output[i : i + 5]) for i in range(0, len(output), 5)) + gate.close()
    assert released.strip() == gate.text == "After one year you receive 15 days of annual leave [1]."
    assert gate.failed is None


def test_a_numbered_list_item_is_one_sentence():
    gate = run("1. 체크카드는 30%입니다 [1].\n2. 월세는 17%입니다 [2].")
    assert gate.text == "1. 체크카드는 30%입니다 [1]. 2. 월세는 17%입니다 [2]."


def test_a_looping_answer_stops_at_the_repeat():
    gate = run("월세는 17%입니다 [2]. 월세는 17%입니다 [2]. 월세는 17%입니다 [2].")
    assert gate.text == "월세는 17%입니다 [1]."


def test_repeated_markers_collapse_and_unknown_ones_go():
    gate = run("월세는 17%입니다 [2] [2] [2] [7].")
    assert gate.text == "월세는 17%입니다 [1]."


def test_a_copied_passage_header_is_removed():
    gate = run("[1] (guide.md, p.2) 체크카드는 30%입니다 [1].")
    assert gate.text == "체크카드는 30%입니다 [1]."


def test_an_answer_without_markers_or_figures_cites_the_first_passage():
    gate = run("체크카드가 신용카드보다 공제율이 높습니다.")
    assert gate.text == "체크카드가 신용카드보다 공제율이 높습니다 [1]." and gate.order == [0]


def test_an_english_answer_may_restate_a_korean_amount():
    gate = AnswerGate(PASSAGES, "What is the rent credit rate?")
    out = gate.feed("Workers earning up to 55 million won get 17% [2]. ") + gate.close()
    assert out == "Workers earning up to 55 million won get 17% [1]." and gate.failed is None
    gate = AnswerGate(PASSAGES, "What is the rent credit rate?")
    assert gate.feed("Workers earning up to 56 million won get 17% [2]. ") + gate.close() == ""
    assert gate.failed is not None
    # the same digits in another currency are another amount
    gate = AnswerGate(PASSAGES, "What is the rent credit rate?")
    assert gate.feed("Workers earning up to 55 million yuan get 17% [2]. ") + gate.close() == ""
    assert gate.failed is not None and "yuan" in gate.failed
    # a passage that states dollars supports them
    text = "Travel > Hotels\nHotels abroad: up to US$220 per night."
    chunk = Chunk(id="h", document_id="d", index=0, text=text, filename="manual.md")
    units = (text.split("\n")[1],)
    hotel = Evidence(ScoredChunk(chunk, 1.0), "Travel > Hotels", units, units[0], 1.0, units)
    gate = AnswerGate([hotel], "What is the most the company pays for a hotel night abroad?")
    assert "US$220" in gate.feed("The company pays up to US$220 per night [1]. ") + gate.close()


def test_a_figure_from_a_line_about_something_else_is_off_target():
    # the regression of issue 10's evaluation: 유치원 → "50만원" (the school uniform line next to it)
    text = (
        "교육비 세액공제 > 교육비 대상별 한도\n- **취학 전 아동:** 1인당 연 **300만원**.\n"
        "- 중·고등학생 교복 구입비(1인당 연 **50만원** 한도)"
    )
    chunk = Chunk(id="e", document_id="d", index=3, text=text, filename="guide.md")
    units = tuple(text.split("\n")[1:])
    passage = Evidence(ScoredChunk(chunk, 1.0), "교육비 대상별 한도", units, units[0], 1.0, focus=units[:1])
    gate = AnswerGate([passage], "유치원에 다니는 아이의 교육비는 얼마까지 공제되나요?")
    assert gate.feed("유치원 아이의 교육비는 1인당 50만원까지 공제됩니다 [1]. ") + gate.close() == ""
    assert gate.failed == "off-target figures"
    gate = AnswerGate([passage], "유치원에 다니는 아이의 교육비는 얼마까지 공제되나요?")
    assert "300만원" in gate.feed("취학 전 아동은 1인당 연 300만원까지입니다 [1]. ") + gate.close()


def test_the_models_own_refusal_fails_the_answer_as_declined():
    gate = run("The provided documents do not cover this question.")
    assert gate.text == "" and gate.failed == "declined"


def test_a_citation_quotes_the_sentence_with_the_answers_figures():
    text = "연차 > 부여\n- 입사 첫해: 최대 11일입니다.\n- 1년 근속 후: 연차 15일이 부여됩니다."
    chunk = Chunk(id="l", document_id="d", index=0, text=text, filename="manual.md")
    units = tuple(text.split("\n")[1:])
    passage = Evidence(ScoredChunk(chunk, 1.0), "연차 > 부여", units, units[0], 1.0)
    assert quote_for(passage, "1년이 지나면 연차는 15일입니다 [1].") == units[1]
    assert quote_for(passage, "연차는 근속에 따라 다릅니다 [1].") == units[0]


def test_a_figure_in_another_unit_is_unsupported():
    # the regression of issue 10's evaluation: "5 weeks of paid parental leave" from "5 days for your wedding"
    text = "Leave > Family events\n- Family event leave (paid): 5 days for your own wedding."
    chunk = Chunk(id="w", document_id="d", index=0, text=text, filename="manual.md")
    units = (text.split("\n")[1],)
    passage = Evidence(ScoredChunk(chunk, 1.0), "Leave > Family events", units, units[0], 1.0)
    gate = AnswerGate([passage], "How many weeks of parental leave?")
    assert gate.feed("Hearth Labs gives 5 weeks of paid parental leave [1]. ") + gate.close() == ""
    assert gate.failed is not None and "5 weeks" in gate.failed
    gate = AnswerGate([passage], "How many days off for my wedding?")
    assert "5 days" in gate.feed("You get 5 days for your own wedding [1]. ") + gate.close()


def test_a_copied_placeholder_fails_the_answer():
    """The 1.5B once wrote the prompt's "[n]" where the figure belonged: "The rate for rent is [n]"."""
    gate = run("The tax credit rate for rent is [n] [1].")
    assert gate.text == "" and gate.failed == "placeholder"


def test_a_figure_from_the_row_whose_condition_the_question_fails_is_rejected():
    question = "총급여가 6,000만원이면 월세 세액공제율은 몇 %인가요?"
    wrong = run("총급여 6,000만원 이하는 17%를 공제받습니다 [2].", question)
    assert wrong.text == "" and wrong.failed is not None and wrong.failed.startswith(WRONG_CONDITION)
    # the row for the question's figures, which the answer service quotes when the retry fails too
    assert (
        wrong.row is not None
        and wrong.row[0] == 1
        and "15%" in wrong.row[1]
        and "5,500만원 초과" in wrong.row[1]
    )
    right = run("총급여 6,000만원이면 15%를 공제받습니다 [2].", question)
    assert right.text == "총급여 6,000만원이면 15%를 공제받습니다 [1]." and right.failed is None
    # both rows, the right one among them: a fuller answer, not a wrong one
    both = run("5,500만원 이하는 17%, 5,500만원 초과 8,000만원 이하는 15%입니다 [2].", question)
    assert both.failed is None and both.text
    # the same figure without the question's figures: nothing to check
    assert run("월세는 17%입니다 [2].", "월세 세액공제율은?").failed is None


def test_an_answer_to_a_wh_question_without_the_figure_it_asks_for_is_no_answer():
    # the 1.5B wrote "국세상담센터 번호는 [1]입니다." for "...국세상담센터 번호가 뭔가요?" (the marker in the
    # number's place), and "표준세액공제는 ... 일정 금액을 공제합니다" for "...표준세액공제는 얼마인가요?"
    gate = run("월세 세액공제는 총급여에 따라 다릅니다 [2].", "월세 세액공제율은 몇 %인가요?")
    assert gate.text == "" and gate.empty and gate.failed == "no figure"
    # a sentence without the figure waits for the one that states it, then both go out
    gate = run(
        "월세 세액공제는 총급여에 따라 다릅니다 [2]. 5,500만원 이하는 17%입니다 [2].",
        "월세 세액공제율은 몇 %인가요?",
    )
    assert gate.text == "월세 세액공제는 총급여에 따라 다릅니다 [1]. 5,500만원 이하는 17%입니다 [1]."
    # a question that asks whether, not how much, needs no figure
    gate = run("체크카드는 신용카드보다 공제율이 높습니다 [1].", "체크카드 금액도 공제받을 수 있나요?")
    assert gate.text == "체크카드는 신용카드보다 공제율이 높습니다 [1]."


def test_a_sentence_drifting_into_chinese_fails_and_hanja_from_a_passage_stays():
    # man-ko-16 of the evaluation: "2小时" in a Korean answer
    gate = run("체크카드 공제율은 30%이며 2小时 안에 신청합니다 [1].", "체크카드 공제율은?")
    assert gate.text == "" and gate.failed is not None and "小时" in gate.failed
    text = "세법 > 용어\n근로소득(勤勞所得)은 근로를 제공하고 받는 소득입니다."
    passage = _passage(text, "세법 > 용어")
    gate = AnswerGate([passage], "근로소득이란?")
    answer = gate.feed("근로소득(勤勞所得)은 근로를 제공하고 받는 소득입니다 [1]. ") + gate.close()
    assert "勤勞所得" in answer and gate.failed is None


def test_the_gate_stops_after_its_number_of_sentences():
    text = "신용카드 사용분은 15%입니다 [1]. 체크카드는 30%입니다 [1]. 현금영수증도 30%입니다 [1]. "
    for limit, count in ((2, 2), (6, 3)):
        gate = AnswerGate(PASSAGES, "카드별 공제율의 차이를 설명해주세요.", max_sentences=limit)
        gate.feed(text)
        gate.close()
        assert gate.text.count("[1]") == count


def test_a_sentence_with_the_wrong_marker_cites_the_passage_it_came_from():
    # AutoRAG-ko: a sentence copied from one passage with the marker of another
    gate = run("월세액 한도는 연 1,000만원입니다 [1].", "월세액 한도는?")
    assert gate.failed is None and gate.text == "월세액 한도는 연 1,000만원입니다 [1]."
    assert gate.order == [1]


def test_a_korean_date_is_one_sentence_and_the_wrong_language_fails():
    text = "사건 경위 > 시점\n증상은 2017. 2. 25. 이전에 이미 발생하였다."
    passage = _passage(text, "사건 경위 > 시점")
    gate = AnswerGate([passage], "증상이 발생한 시점은 언제인가요?", language="ko")
    answer = gate.feed("증상은 2017. 2. 25. 이전에 이미 발생하였습니다 [1]. ") + gate.close()
    assert answer == "증상은 2017. 2. 25. 이전에 이미 발생하였습니다 [1]."
    gate = AnswerGate([passage], "증상이 발생한 시점은 언제인가요?", language="ko")
    assert gate.feed("The symptoms began before 2017. 2. 25 [1]. ") + gate.close() == ""
    assert gate.failed == "written in en, not ko"


def test_a_figure_in_brackets_is_a_figure_not_a_marker():
    text = "문의 > 전화\n국세상담센터는 국번 없이 126입니다."
    passage = _passage(text, "문의 > 전화")
    gate = AnswerGate([passage], "국세상담센터 번호가 뭔가요?")
    answer = gate.feed("국세상담센터 번호는 [126]입니다 [1]. ") + gate.close()
    assert answer == "국세상담센터 번호는 126입니다 [1]."


def test_the_question_copied_as_the_first_sentence_is_dropped():
    question = "신용카드와 체크카드의 공제율 차이를 설명해 주세요."
    gate = AnswerGate(PASSAGES, question, max_sentences=6)
    text = f"{question} [1]. 신용카드 사용분은 15%, 체크카드는 30%를 공제합니다 [1]. "
    assert gate.feed(text) + gate.close() == "신용카드 사용분은 15%, 체크카드는 30%를 공제합니다 [1]."
    # an answer that picks one of the question's alternatives is kept (man-x-02 of the evaluation)
    gate = AnswerGate(PASSAGES, "Are sick leave days counted in working days or in calendar days?")
    answer = gate.feed("Sick leave days are counted in calendar days. ") + gate.close()
    assert answer == "Sick leave days are counted in calendar days [1]."
    # an answer that restates the question's words and adds its own is kept
    gate = AnswerGate(PASSAGES, "체크카드 공제율은 몇 %인가요?")
    assert gate.feed("체크카드 공제율은 30%입니다 [1]. ") + gate.close() == "체크카드 공제율은 30%입니다 [1]."


def test_the_question_restated_with_the_answers_figure_is_an_answer():
    # tax-11 of the evaluation: every word but the figure is the question's
    question = "연봉(총급여)이 8,000만원인 근로자가 받는 월세 세액공제 공제율은 얼마인가요?"
    gate = AnswerGate(PASSAGES, question)
    text = "연봉(총급여)이 8,000만원인 근로자가 받는 월세 세액공제 공제율은 15%입니다"
    assert gate.feed(f"{text} [2]. ") + gate.close() == f"{text} [1]."
