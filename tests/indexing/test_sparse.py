"""SparseEncoder with the real Kiwi model and Snowball stemmer."""

from __future__ import annotations

import threading

import pytest

from indexing.sparse import K1, SparseEncoder, term_id


@pytest.fixture(scope="module")
def encoder() -> SparseEncoder:
    return SparseEncoder()


def test_korean_text_becomes_content_morphemes(encoder: SparseEncoder) -> None:
    terms = encoder.terms("의료비 세액공제를 받으려면")
    assert {"의료비", "세액", "공제", "받"} <= set(terms)
    assert "를" not in terms and "으려면" not in terms  # particles and endings are dropped


def test_english_is_lowercased_stemmed_and_stopworded(encoder: SparseEncoder) -> None:
    assert encoder.terms("The Deductions are running") == ["deduct", "run"]


def test_latin_words_inside_korean_match_the_english_path(encoder: SparseEncoder) -> None:
    assert {"ai", "deduct", "15"} <= set(encoder.terms("연말정산 AI deductions 15% 공제"))
    assert set(encoder.terms("AI deductions")) <= set(encoder.terms("연말정산 AI deductions 공제"))


def test_query_vector_weighs_each_distinct_term_once(encoder: SparseEncoder) -> None:
    vector = encoder.encode_query("tax tax deduction")
    assert vector.indices == sorted({term_id("tax"), term_id("deduct")})
    assert vector.values == [1.0, 1.0]


def test_document_weights_saturate_with_term_frequency(encoder: SparseEncoder) -> None:
    once, many = encoder.encode_documents(["tax rules apply", "tax tax tax tax rules apply"])
    weight = dict(zip(once.indices, once.values, strict=True))[term_id("tax")]
    weight_many = dict(zip(many.indices, many.values, strict=True))[term_id("tax")]
    assert 0 < weight < weight_many < K1 + 1  # bounded by k1 + 1
    assert once.indices == sorted(once.indices)


def test_empty_and_symbol_only_texts_give_empty_vectors(encoder: SparseEncoder) -> None:
    assert encoder.encode_query("   ").indices == []
    assert encoder.encode_documents(["?!"])[0].indices == []


def test_term_ids_are_stable_31_bit() -> None:
    assert term_id("공제") == term_id("공제")
    assert 0 <= term_id("deduct") < 2**31


def test_concurrent_korean_encoding_is_safe(encoder: SparseEncoder) -> None:
    expected = encoder.terms("연말정산 의료비 공제 한도")
    results: list[list[str]] = []

    def work() -> None:
        for _ in range(20):
            results.append(encoder.terms("연말정산 의료비 공제 한도"))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 80 and all(r == expected for r in results)


def test_ordinals_are_terms_but_figure_units_are_not(encoder: SparseEncoder) -> None:
    """ "둘째" names a list item ("- 둘째: 연 50만원"); the "만" of "50만원" is part of a figure."""
    terms = encoder.terms("- **둘째:** 연 **50만원**.")
    assert "둘째" in terms and "만" not in terms
    assert "둘째" in encoder.terms("올해 둘째 아이를 낳았는데 출산 세액공제는 얼마인가요?")


def test_topic_terms_leave_out_question_words_verb_stems_and_numbers(encoder: SparseEncoder) -> None:
    topic = encoder.topic_terms("70세 넘은 아버지를 부양하면 추가로 받는 공제는 얼마인가요?")
    assert {"아버지", "부양", "추가", "공제"} <= topic
    assert not topic & {"70", "세", "넘", "받", "얼마"}
    # compounds and ordinals stay: they name what the question is about
    assert {"현금영수증", "소득공제"} <= encoder.topic_terms("현금영수증의 소득공제율은 몇 %인가요?")
    assert "둘째" in encoder.topic_terms("둘째 아이를 낳으면 출산 세액공제는 얼마인가요?")
    # English keeps its stems (stopwords are already out); numbers go
    assert encoder.topic_terms("Leave after 3 years?") == {"leav", "year"}
