"""Evidence selection (indexing/evidence.py) with the real Kiwi terms and the real multilingual-e5-small."""

from __future__ import annotations

import pytest

from indexing.embedders import E5Embedder
from indexing.evidence import EvidenceSelector, split_units
from indexing.sparse import SparseEncoder
from indexing.types import Chunk, ScoredChunk

CHILDBIRTH = """## 출산·입양 세액공제
해당 과세기간에 출생하거나 입양 신고한 공제대상 자녀가 있으면 다음 금액을 추가로 세액공제합니다.
- **첫째:** 연 **30만원**.
- **둘째:** 연 **50만원**.
- **셋째 이상:** 1명당 연 **70만원**.
같은 자녀에 대해 8세 이상 자녀 세액공제와 중복되지 않습니다."""

DONATIONS = """## 기부금 세액공제율
기부금은 금액 구간에 따라 공제율이 다릅니다. 특례기부금과 일반기부금을 합산해 구간을 나눕니다.
- 기부금 합계액 중 **1,000만원 이하분: 15%**.
- **1,000만원 초과분: 30%**.
정치자금기부금은 별도의 공제율을 적용합니다. 고향사랑기부금도 별도입니다."""

EXTRA = """## 추가공제
기본공제대상자가 다음에 해당하면 추가로 공제합니다. 추가공제는 기본공제를 받는 사람에 대해서만 가능합니다.
- **경로우대자 공제:** 70세 이상인 기본공제대상자 1명당 연 **100만원**.
- **장애인 공제:** 장애인인 기본공제대상자 1명당 연 **200만원**.
- **부녀자 공제:** 종합소득금액 3천만원 이하인 여성 근로자는 연 **50만원**.
직계존속은 60세 이상이어야 기본공제대상자가 됩니다. 부양가족의 나이는 과세기간 종료일 현재로 판단합니다."""


@pytest.fixture(scope="module")
def selector() -> EvidenceSelector:
    return EvidenceSelector(SparseEncoder(), max_passages=3, max_units=2)


@pytest.fixture(scope="module")
def embedder() -> E5Embedder:
    return E5Embedder()


def _hits(*texts: str) -> list[ScoredChunk]:
    return [
        ScoredChunk(
            Chunk(id=f"c{i}", document_id="guide", index=i, text=text, filename="guide.md"),
            1.0 - i / 10,
        )
        for i, text in enumerate(texts)
    ]


def _evidence_text(selector: EvidenceSelector, embedder: E5Embedder, question: str, *texts: str) -> str:
    return " ".join(passage.text for passage in selector.select([question], _hits(*texts), embedder))


def test_a_chunk_splits_into_sentences_list_items_and_table_rows() -> None:
    heading, units = split_units(
        "## 일정\n연말정산은 1월에 합니다. 서류는 회사에\n제출합니다.\n- 첫째: 30만원\n\n"
        "| 구분 | 세율 |\n|---|---|\n| 1,400만원 이하 | 6% |",
        None,
    )
    assert heading == "일정"
    texts = [unit.text for unit in units]
    assert texts == [
        "연말정산은 1월에 합니다.",
        "서류는 회사에 제출합니다.",  # a wrapped line continues its sentence
        "- 첫째: 30만원",
        "| 구분 | 세율 |",
        "| 1,400만원 이하 | 6% |",
    ]
    assert units[2].whole and units[4].table_header == "| 구분 | 세율 |"


def test_a_sentence_that_announces_a_list_is_a_lead_in() -> None:
    _, units = split_units(CHILDBIRTH, None)
    assert [unit.lead_in for unit in units][:2] == [True, False]
    assert not any(unit.lead_in for unit in units if unit.whole)


def test_the_list_item_the_question_names_is_chosen(selector: EvidenceSelector, embedder: E5Embedder) -> None:
    text = _evidence_text(
        selector, embedder, "올해 둘째 아이를 낳았는데 출산 세액공제는 얼마인가요?", CHILDBIRTH, DONATIONS
    )
    assert "50만원" in text


def test_a_chosen_lead_in_brings_its_list(embedder: E5Embedder) -> None:
    one = EvidenceSelector(SparseEncoder(), max_passages=1, max_units=1)
    passages = one.select(
        ["출생하거나 입양 신고한 자녀가 있으면 추가로 세액공제하나요?"], _hits(CHILDBIRTH), embedder
    )
    assert passages[0].quote.startswith("해당 과세기간에")
    assert all(amount in passages[0].text for amount in ("30만원", "50만원", "70만원"))
    # the quote (the citation's sentence, and the answer when the model fails) brings the list too: "다음
    # 금액을 추가로 세액공제합니다." alone says nothing
    assert all(amount in passages[0].quote for amount in ("30만원", "50만원", "70만원"))


def test_a_list_item_brings_its_short_siblings(selector: EvidenceSelector, embedder: E5Embedder) -> None:
    text = _evidence_text(
        selector, embedder, "기부금 합계액 구간별 세액공제율은 얼마인가요?", DONATIONS, CHILDBIRTH
    )
    assert "30%" in text and "15%" in text


def test_a_sibling_the_questions_figures_rule_out_stays_out(
    selector: EvidenceSelector, embedder: E5Embedder
) -> None:
    question = "기부금 합계가 1,000만원을 넘으면 넘는 부분의 세액공제율은 얼마인가요?"
    text = _evidence_text(selector, embedder, question, DONATIONS, CHILDBIRTH)
    assert "30%" in text and "15%" not in text


def test_the_questions_own_figures_point_at_their_line(
    selector: EvidenceSelector, embedder: E5Embedder
) -> None:
    text = _evidence_text(
        selector, embedder, "70세 넘은 아버지를 부양하면 추가로 받는 공제는 얼마인가요?", EXTRA
    )
    assert "100만원" in text


CARD_LIMITS = """## 신용카드 등 소득공제 한도
공제 한도는 총급여에 따라 다릅니다.
- **추가한도(총급여 7,000만원 이하):** 전통시장·대중교통 사용분은 연 **300만원**까지 추가로 공제합니다.
- **추가한도(총급여 7,000만원 초과):** 전통시장·대중교통 사용분은 연 **200만원**까지 추가로 공제합니다.
한도를 넘는 금액은 이월되지 않습니다."""


def test_a_line_the_questions_figures_rule_out_gives_way(embedder: E5Embedder) -> None:
    one = EvidenceSelector(SparseEncoder(), max_passages=1, max_units=1)
    question = "총급여가 8,000만원이면 전통시장 사용분 추가한도는 얼마인가요?"
    passages = one.select([question], _hits(CARD_LIMITS), embedder)
    assert "200만원" in passages[0].quote and "300만원" not in passages[0].text


CARDS = """## 신용카드 등 소득공제
신용카드 등 사용금액 소득공제는 본인과 가족이 쓴 신용카드, 체크카드, 현금영수증 사용액 가운데 일정 금액을 넘는
부분을 소득에서 공제하는 제도입니다. 근거는 「조세특례제한법」입니다.
### 결제 수단별 공제율
- **신용카드 사용분:** 공제율 **15%**.
- **직불카드·체크카드·선불카드 사용분과 현금영수증:** 공제율 **30%**.
- **전통시장 사용분:** 공제율 **40%**."""


def test_a_line_that_states_what_the_question_asks_for_beats_the_introduction(embedder: E5Embedder) -> None:
    """The introduction shares the question's words ("소득공제", "체크카드") but states no rate."""
    one = EvidenceSelector(SparseEncoder(), max_passages=1, max_units=1)
    passages = one.select(["체크카드 사용분의 소득공제율은 몇 %인가요?"], _hits(CARDS), embedder)
    assert "30%" in passages[0].quote
