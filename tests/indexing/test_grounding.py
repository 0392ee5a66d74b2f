"""The answer gate (indexing/grounding.py) on fixed passages and fixed model outputs."""

from __future__ import annotations

from indexing.evidence import Evidence
from indexing.grounding import AnswerGate
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
    assert gate.text.endswith("[1]") and gate.order == [0]


def test_an_english_answer_may_restate_a_korean_amount():
    gate = AnswerGate(PASSAGES, "What is the rent credit rate?")
    out = gate.feed("Workers earning up to 55 million won get 17% [2]. ") + gate.close()
    assert out == "Workers earning up to 55 million won get 17% [1]." and gate.failed is None
    gate = AnswerGate(PASSAGES, "What is the rent credit rate?")
    assert gate.feed("Workers earning up to 56 million won get 17% [2]. ") + gate.close() == ""
    assert gate.failed is not None
