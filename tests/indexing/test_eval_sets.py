"""The evaluation sets shipped with the examples: valid, varied, and every fact stated in its documents."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from indexing.evaluation.dataset import load_questions
from indexing.numbers import contains_number_phrase
from tests.support import ROOT

SETS = [ROOT / "examples" / "tax" / "questions.jsonl", ROOT / "examples" / "manual" / "questions.jsonl"]


@pytest.mark.parametrize("path", SETS, ids=lambda p: p.parent.name)
def test_every_fact_is_stated_in_an_expected_document(path: Path) -> None:
    for question in load_questions(path):
        texts = [(path.parent / e.document).read_text(encoding="utf-8") for e in question.expected]
        assert question.unanswerable or question.expected, question.id
        for fact in question.facts:
            assert any(contains_number_phrase(text, fact) for text in texts), (question.id, fact)


def test_the_sets_cover_languages_refusals_and_cross_lingual_questions() -> None:
    questions = [q for path in SETS for q in load_questions(path)]
    tags = Counter(tag for q in questions for tag in q.tags)
    languages = Counter(q.language for q in questions)
    assert len(questions) >= 40 and languages["ko"] >= 15 and languages["en"] >= 15
    assert sum(q.unanswerable for q in questions) >= 8 and tags["off-topic"] >= 2
    assert tags["cross-lingual"] >= 6 and tags["paraphrase"] >= 10
