"""Aggregate per-question scores into the run's figures, the terminal table and the JSON document.

Rates are over the questions each metric applies to: hit@k over answerable questions with ``expected``
documents; fact accuracy over answerable questions with ``facts``; refusal accuracy and false answers over
``unanswerable`` questions; false refusals over answerable ones; leaks and answer length over every answer the
server gave; unsupported numbers and answers whose text declines over answers with ``found: true``; latency
over every successful request not served from the server's answer cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from statistics import fmean
from typing import Any

from rich.console import Console
from rich.table import Table

from indexing.evaluation.metrics import QuestionScore, percentile
from indexing.evaluation.runner import Target


def summarise(scores: Sequence[QuestionScore], *, k: int | None = None) -> dict[str, Any]:
    """The figures of a run (or of one language's questions)."""
    done = [s for s in scores if s.ok]
    retrieval = [s for s in done if s.retrieval_evaluated]
    with_facts = [s for s in done if s.facts_correct is not None]
    unanswerable = [s for s in done if s.question.unanswerable]
    answerable = [s for s in done if not s.question.unanswerable]
    answered = [s for s in done if s.reply.found]
    latencies = [s.reply.latency_s for s in done if not s.reply.cached]  # a cache hit times no answer
    lengths = [float(len(s.reply.answer)) for s in done]
    false_answers = [s for s in unanswerable if s.outcome == "false_answer"]
    return {
        "questions": len(scores),
        "errors": len(scores) - len(done),
        "retrieval": {
            "k": k,
            **_ratio("hits", sum(s.hit_rank is not None for s in retrieval), len(retrieval)),
            "mrr": _mean([1 / s.hit_rank if s.hit_rank else 0.0 for s in retrieval]),
        },
        "facts": {
            **_ratio("correct", sum(bool(s.facts_correct) for s in with_facts), len(with_facts)),
            "partial": _mean([s.fact_share or 0.0 for s in with_facts]),
        },
        "refusals": {
            **_ratio(
                "correct_refusals",
                sum(s.outcome == "correct_refusal" for s in unanswerable),
                len(unanswerable),
            ),
            "false_answers": len(false_answers),
            "false_answers_declined_in_text": sum(s.declines_in_text for s in false_answers),
        },
        "false_refusals": _ratio(
            "count", sum(s.outcome == "false_refusal" for s in answerable), len(answerable)
        ),
        "declined_in_text": _ratio("count", sum(s.declines_in_text for s in answered), len(answered)),
        "leaks": _ratio("count", sum(bool(s.leaks) for s in done), len(done)),
        "unsupported_numbers": _ratio("count", sum(bool(s.unsupported) for s in answered), len(answered)),
        "answer_chars": {
            "mean": _mean(lengths),
            "p50": percentile(lengths, 50),
            "max": max(lengths, default=None),
        },
        "cache_hits": sum(s.reply.cached for s in done),
        "latency_s": {
            "p50": _round(percentile(latencies, 50)),
            "p95": _round(percentile(latencies, 95)),
            "max": _round(max(latencies, default=None)),
        },
    }


def by_language(scores: Sequence[QuestionScore], *, k: int | None = None) -> dict[str, dict[str, Any]]:
    """``summarise`` per question language (questions without one are left out)."""
    languages = sorted({s.question.language for s in scores if s.question.language})
    return {lang: summarise([s for s in scores if s.question.language == lang], k=k) for lang in languages}


def build_report(
    scores: Sequence[QuestionScore],
    *,
    questions_file: Path,
    target: Target,
    url: str,
    top_k: int | None,
) -> dict[str, Any]:
    """The run as one JSON-able document: what was asked where, the figures, and every answer."""
    return {
        "questions_file": str(questions_file),
        "target": {target.kind: target.name},
        "url": url,
        "top_k": top_k,
        "summary": summarise(scores, k=top_k),
        "by_language": by_language(scores, k=top_k),
        "results": [result_of(score) for score in scores],
    }


def result_of(score: QuestionScore) -> dict[str, Any]:
    """One question's line of the JSON document."""
    q, reply = score.question, score.reply
    return {
        "id": q.id,
        "question": q.question,
        "language": q.language,
        "tags": q.tags,
        "unanswerable": q.unanswerable,
        "expected": [e.model_dump() for e in q.expected],
        "facts": q.facts,
        "error": reply.error,
        "answer": reply.answer,
        "found": reply.found,
        "citations": [{"filename": c.filename, "page": c.page, "score": c.score} for c in reply.citations],
        "latency_s": round(reply.latency_s, 3),
        "cached": reply.cached,
        "outcome": score.outcome,
        "hit_rank": score.hit_rank,
        "facts_found": list(score.facts_found),
        "facts_missing": list(score.facts_missing),
        "facts_correct": score.facts_correct,
        "declines_in_text": score.declines_in_text,
        "leaks": list(score.leaks),
        "unsupported_numbers": list(score.unsupported),
        "answer_chars": len(reply.answer),
    }


def render_table(report: dict[str, Any], console: Console) -> None:
    """The report's figures as a Rich table: one column for all questions, one per language."""
    summary, languages = report["summary"], report["by_language"]
    k = summary["retrieval"]["k"]
    table = Table(title=f"hearth eval: {summary['questions']} questions, {summary['errors']} errors")
    table.add_column("metric")
    columns = {"all": summary, **languages}
    for name in columns:
        table.add_column(name, justify="right")
    rows: list[tuple[str, Any]] = [
        (f"retrieval hit@{k or 'all'}", lambda s: _cell(s["retrieval"], "hits")),
        ("retrieval MRR", lambda s: _number(s["retrieval"]["mrr"], 3)),
        ("facts: all found", lambda s: _cell(s["facts"], "correct")),
        ("facts: share found", lambda s: _percent(s["facts"]["partial"])),
        ("refusals (unanswerable)", lambda s: _cell(s["refusals"], "correct_refusals")),
        (
            "false answers (unanswerable)",
            lambda s: _count(s["refusals"]["false_answers"], s["refusals"]["of"]),
        ),
        ("false refusals (answerable)", lambda s: _cell(s["false_refusals"], "count")),
        ("found, but the text declines", lambda s: _cell(s["declined_in_text"], "count")),
        ("leaks", lambda s: _cell(s["leaks"], "count")),
        ("unsupported numbers", lambda s: _cell(s["unsupported_numbers"], "count")),
        ("answer length (chars, mean)", lambda s: _number(s["answer_chars"]["mean"], 0)),
        ("latency p50 / p95 (s, uncached)", lambda s: _latency(s["latency_s"])),
        ("answers from the server's cache", lambda s: str(s["cache_hits"])),
    ]
    for label, cell in rows:
        table.add_row(label, *(cell(figures) for figures in columns.values()))
    console.print(table)


def _ratio(name: str, count: int, of: int) -> dict[str, Any]:
    return {name: count, "of": of, "rate": round(count / of, 4) if of else None}


def _mean(values: Sequence[float]) -> float | None:
    return round(fmean(values), 4) if values else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _cell(figures: dict[str, Any], name: str) -> str:
    return _count(figures[name], figures["of"])


def _count(count: int, of: int) -> str:
    return f"{count}/{of} ({100 * count / of:.0f}%)" if of else "-"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _latency(figures: dict[str, Any]) -> str:
    if figures["p50"] is None:
        return "-"
    return f"{figures['p50']:.2f} / {figures['p95']:.2f}"
