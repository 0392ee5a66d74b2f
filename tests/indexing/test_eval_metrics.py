"""``hearth eval``'s pure parts: the question file, the per-question checks and the aggregate figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from indexing.evaluation.dataset import ExpectedDocument, Question, load_questions
from indexing.evaluation.errors import DatasetError
from indexing.evaluation.metrics import (
    COPY_MIN_PASSAGE,
    COPY_RUN_CHARS,
    Passage,
    Reply,
    declines,
    leaks,
    longest_copied_run,
    matched_facts,
    outcome,
    percentile,
    retrieval_rank,
    score,
)
from indexing.evaluation.report import build_report, render_table, summarise
from indexing.evaluation.runner import Target

GUIDE = "yearend-guide-ko.md"
RENT = "총급여 5,500만원 이하: 월세액의 17%. 공제 대상 월세액 한도는 연 1,000만원입니다."


def _question(**fields: object) -> Question:
    return Question.model_validate({"id": "q", "question": "월세 세액공제율은?", **fields})


def _write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# the question file


def test_a_valid_file_loads_with_defaults(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        json.dumps(
            {"id": "a", "question": "Q?", "expected": [{"document": GUIDE, "page": None}], "facts": ["17%"]}
        ),
        "",
        json.dumps(
            {"id": "b", "question": "Off topic?", "unanswerable": True, "language": "en", "tags": ["x"]}
        ),
    )
    first, second = load_questions(path)
    assert first.expected == [ExpectedDocument(document=GUIDE)] and first.facts == ["17%"]
    assert not first.unanswerable and first.language is None and first.tags == []
    assert second.unanswerable and second.language == "en"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"id": "a", "question": "Q?"', "line 2: not valid JSON"),
        ('["a", "Q?"]', "line 2: expected a JSON object, got a list"),
        ('{"question": "Q?"}', "line 2: missing required field 'id'"),
        ('{"id": "a", "question": "Q?", "answer": "x"}', "line 2: unknown field 'answer'"),
        (
            '{"id": "a", "question": "Q?", "facts": "17%"}',
            "line 2: 'facts': Input should be a valid list, got a string",
        ),
        ('{"id": "a", "question": "Q?", "unanswerable": "yes"}', "line 2: 'unanswerable'"),
        (
            '{"id": "a", "question": "Q?", "expected": [{"document": "x.md", "page": "3"}]}',
            "'expected.0.page'",
        ),
        ('{"id": "a", "question": "Q?", "expected": [{"doc": "x.md"}]}', "unknown field 'expected.0.doc'"),
        ('{"id": "a", "question": ""}', "line 2: 'question'"),
        ('{"id": "a", "question": "Q?", "unanswerable": true, "facts": ["1"]}', "cannot list facts"),
        ('{"id": "first", "question": "again"}', "line 2: duplicate id 'first' (first on line 1)"),
    ],
)
def test_a_bad_line_names_its_line_and_reason(tmp_path: Path, line: str, reason: str) -> None:
    path = _write(tmp_path, '{"id": "first", "question": "Q?"}', line)
    with pytest.raises(DatasetError) as caught:
        load_questions(path)
    message = caught.value.message
    assert message.startswith(f"{path}:2: " if "line 2" in reason else str(path)), message
    assert reason.replace("line 2: ", "") in message and "\n" not in message


def test_a_missing_or_empty_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        load_questions(tmp_path / "nope.jsonl")
    with pytest.raises(DatasetError, match="no questions"):
        load_questions(_write(tmp_path, "", "  "))


# the checks


def test_retrieval_rank_matches_file_name_and_page_within_k() -> None:
    citations = [Passage("other.md", None, ""), Passage("docs/Guide.pdf", 3, ""), Passage(GUIDE, None, "")]
    assert retrieval_rank([ExpectedDocument(document=GUIDE)], citations) == 3
    assert retrieval_rank([ExpectedDocument(document=GUIDE)], citations, k=2) is None
    assert retrieval_rank([ExpectedDocument(document="guide.pdf", page=3)], citations) == 2
    assert retrieval_rank([ExpectedDocument(document="guide.pdf", page=4)], citations) is None
    assert retrieval_rank([ExpectedDocument(document=GUIDE)], []) is None


def test_facts_need_number_boundaries() -> None:
    found, missing = matched_facts("한도는 연 1,000,000원이고 공제율은 17%입니다.", ["17%", "1,000"])
    assert found == ["17%"] and missing == ["1,000"]


def test_outcomes_separate_false_refusals_from_false_answers() -> None:
    assert outcome(unanswerable=False, found=True) == "answered"
    assert outcome(unanswerable=False, found=False) == "false_refusal"
    assert outcome(unanswerable=True, found=False) == "correct_refusal"
    assert outcome(unanswerable=True, found=True) == "false_answer"
    assert declines("The provided documents do not cover this question.")
    assert declines("제공된 문서에는 이 질문에 대한 내용이 없습니다.")
    assert not declines("월세 세액공제율은 17%입니다 [1].")


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("Question: 월세 세액공제율은?\nAnswer: 17%입니다.", "scaffold line 'Question:'"),
        ("**답변:** 17%입니다.", "scaffold line '**답변:'"),
        ("질문: 월세\n17%", "scaffold line '질문:'"),
        ("Rules:\n1. Use only the passages above.", "prompt rule 'use only the passages'"),
        ("[1] (yearend-guide-ko.md) 월세액의 17%", "passage header '(yearend-guide-ko.md)'"),
        ("근거는 (guide.pdf, p.3) 입니다", "passage header '(guide.pdf, p.3)'"),
    ],
)
def test_prompt_scaffolding_is_a_leak(answer: str, reason: str) -> None:
    assert reason in leaks(answer)


def test_a_clean_answer_does_not_leak() -> None:
    answer = "총급여 5,500만원 이하이면 월세액의 17%를 세액공제하며, 한도는 연 1,000만원입니다 [1]."
    assert leaks(answer, [Passage(GUIDE, None, RENT)]) == []


def test_a_copied_passage_is_a_leak() -> None:
    long_passage = (
        RENT
        + " 따라서 최대 세액공제액은 17% 적용 시 170만원, 15% 적용 시 150만원입니다."
        + " 관리비는 월세액에 포함되지 않습니다."
    )
    copied = f"답: {long_passage[:130]} [1]"
    assert longest_copied_run(copied, long_passage) >= COPY_RUN_CHARS
    assert any(r.startswith("copied ") for r in leaks(copied, [Passage(GUIDE, None, long_passage)]))
    # most of a short passage, with its Markdown emphasis dropped and spacing changed
    short = (
        "Laptops are replaced every **3 years**, or earlier if broken. Return all equipment on your last day."
    )
    answer = "Laptops are replaced every 3 years,   or earlier if broken. Return all equipment on your [1]"
    assert len(short.replace("*", "")) >= COPY_MIN_PASSAGE
    assert any(r.startswith("copied ") for r in leaks(answer, [Passage(GUIDE, None, short)]))


def test_percentile_interpolates() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([float(i) for i in range(1, 101)], 95) == pytest.approx(95.05)


def test_score_of_a_good_answer() -> None:
    question = _question(expected=[{"document": GUIDE}], facts=["17%", "1,000만원"])
    reply = Reply(
        "월세액의 17%[1], 한도 연 1,000만원[1]. 2026년부터 바뀝니다.",
        True,
        (Passage(GUIDE, None, RENT),),
        1.5,
    )
    result = score(question, reply)
    assert result.hit_rank == 1 and result.facts_correct and result.fact_share == 1.0
    assert result.outcome == "answered" and result.leaks == () and result.unsupported == ("2026",)


def test_numbers_the_question_states_are_not_unsupported() -> None:
    question = _question(question="총급여가 4,800만원이면 월세 세액공제율은?")
    reply = Reply("총급여 4,800만원이면 17%입니다 [1].", True, (Passage(GUIDE, None, RENT),))
    assert score(question, reply).unsupported == ()


def test_a_failed_request_is_scored_as_an_error_only() -> None:
    result = score(_question(facts=["17%"]), Reply(error="HTTP 500: boom"))
    assert not result.ok and result.outcome is None and result.facts_correct is None


# the figures


def _scores() -> list:
    answerable = _question(expected=[{"document": GUIDE}], facts=["17%", "1,000만원"], language="ko")
    other = Question(
        id="b", question="Rate?", expected=[ExpectedDocument(document=GUIDE)], facts=["30%"], language="en"
    )
    refusal = Question(id="c", question="Capital gains?", unanswerable=True, language="en")
    passage = (Passage(GUIDE, None, RENT),)
    return [
        score(answerable, Reply("17%, 1,000만원 [1]", True, passage, 1.0, cached=True)),
        score(other, Reply("It is 17% [1] per 2026.", True, passage, 2.0)),  # wrong fact, invented number
        score(
            refusal, Reply("The documents do not cover this question.", True, passage, 3.0)
        ),  # false answer
        score(refusal.model_copy(update={"id": "d"}), Reply("", False, (), 4.0)),
        score(other.model_copy(update={"id": "e"}), Reply("not found", False, (), 5.0)),  # false refusal
        score(other.model_copy(update={"id": "f"}), Reply(error="timed out")),
    ]


def test_summary_counts_each_metric_over_the_questions_it_applies_to() -> None:
    summary = summarise(_scores(), k=5)
    assert summary["questions"] == 6 and summary["errors"] == 1
    assert summary["retrieval"] == {"k": 5, "hits": 2, "of": 3, "rate": 0.6667, "mrr": 0.6667}
    assert summary["facts"] == {"correct": 1, "of": 3, "rate": 0.3333, "partial": 0.3333}
    assert summary["refusals"]["correct_refusals"] == 1 and summary["refusals"]["of"] == 2
    assert summary["refusals"]["false_answers"] == 1
    assert summary["refusals"]["false_answers_declined_in_text"] == 1
    assert summary["false_refusals"] == {"count": 1, "of": 3, "rate": 0.3333}
    assert summary["unsupported_numbers"] == {"count": 1, "of": 3, "rate": 0.3333}
    assert summary["declined_in_text"] == {"count": 1, "of": 3, "rate": 0.3333}
    # the cached answer's time is no answer's time
    assert summary["cache_hits"] == 1 and summary["latency_s"] == {"p50": 3.5, "p95": 4.85, "max": 5.0}


def test_report_has_languages_results_and_a_table() -> None:
    report = build_report(
        _scores(), questions_file=Path("q.jsonl"), target=Target("collection", "tax"), url="http://x", top_k=5
    )
    assert set(report["by_language"]) == {"en", "ko"}
    assert report["target"] == {"collection": "tax"} and len(report["results"]) == 6
    assert report["results"][1]["facts_missing"] == ["30%"]
    assert report["results"][1]["unsupported_numbers"] == ["2026"]
    json.dumps(report)  # JSON-able as it is
    console = Console(record=True, width=120)
    render_table(report, console)
    text = console.export_text()
    assert "retrieval hit@5" in text and "2/3 (67%)" in text and "false refusals" in text
