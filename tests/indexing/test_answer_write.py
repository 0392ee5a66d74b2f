"""The answer service's writing step (indexing/answers.py `_write`) with a scripted model: the retry after a
rejected first sentence, the row quote after two wrong-row tries, the evidence quote, and the refusal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import pytest

from configs.settings import RetrievalSettings
from indexing.answers import AnswerService, _Prepared
from indexing.assistants import PromptLibrary
from indexing.evidence import Evidence
from indexing.types import Chunk, ScoredChunk
from tests.support import ROOT

RENT = "총급여 5,500만원 이하인 근로자는 월세액의 17%를 세액공제합니다. 총급여 5,500만원 초과는 15%입니다."


def _evidence(text: str, heading: str, coverage: float) -> Evidence:
    chunk = Chunk(id="c0", document_id="d", index=0, text=f"{heading}\n{text}", filename="guide.md")
    units = tuple(part if part.endswith(".") else part + "." for part in text.split(". "))
    return Evidence(ScoredChunk(chunk, 1.0), heading, units, units[0], 1.0, units, coverage)


class _Scripted(AnswerService):
    """The service with the model replaced by one scripted reply per attempt."""

    def __init__(self, replies: Sequence[str], **settings: Any) -> None:
        self._settings = RetrievalSettings(**settings)
        self._prompts = PromptLibrary(ROOT / "configs" / "prompts")
        self._replies = list(replies)
        self.prompts: list[list[dict[str, str]]] = []

    async def _stream(  # type: ignore[override]
        self, messages: list[dict[str, str]], max_tokens: int
    ) -> AsyncGenerator[tuple[str, dict[str, int]], None]:
        self.prompts.append(messages)
        reply = self._replies.pop(0)
        for start in range(0, len(reply), 5):  # in small deltas, as a stream
            yield reply[start : start + 5], {}
        yield "", {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}


def _write(
    service: _Scripted, question: str, evidence: list[Evidence], *, cross_lingual: bool = False
) -> tuple[str, _Prepared]:
    messages = [{"role": "system", "content": "rules"}, {"role": "user", "content": question}]
    language = "en" if cross_lingual else "ko"
    prepared = _Prepared(question, question, language, evidence, messages, None, {})
    prepared.cross_lingual = cross_lingual

    async def run() -> str:
        return "".join([piece async for piece in service._write(prepared)]).strip()

    return asyncio.run(run()), prepared


def test_a_rejected_first_answer_is_retried_with_a_reminder() -> None:
    service = _Scripted(["월세 공제율은 20%입니다 [1].", "월세 공제율은 17%입니다 [1]."])
    rent = _evidence(RENT, "월세 > 공제율", 0.9)
    text, prepared = _write(service, "총급여 4,000만원이면 월세 공제율은 몇 %인가요?", [rent])
    assert text == "월세 공제율은 17%입니다 [1]."
    assert prepared.found and prepared.cited == [rent] and prepared.usage["total_tokens"] == 30
    assert "위 문단에 적힌 숫자만" in service.prompts[1][-1]["content"]


def test_two_answers_from_the_wrong_row_become_a_quote_of_the_right_row() -> None:
    wrong = "총급여 4,000만원이면 월세 공제율은 15%입니다 [1]."
    service = _Scripted([wrong, wrong])
    # too little of the question's wording for the evidence quote: only the row quote answers
    rent = _evidence(RENT, "월세 > 공제율", 0.3)
    text, prepared = _write(service, "총급여 4,000만원이면 월세 공제율은 몇 %인가요?", [rent])
    assert "17%" in text and "15%" not in text and text.startswith("문서에는 다음과 같이 나와 있습니다")
    assert prepared.found
    # the retry named the mistake
    assert "조건의 숫자를 쓰세요" in service.prompts[1][-1]["content"]


@pytest.mark.parametrize(
    ("coverage", "quoted"),
    [(0.9, True), (0.3, False)],  # the best evidence plainly answers (most of the question's words) or not
)
def test_two_unsupported_answers_quote_the_evidence_only_when_it_plainly_answers(
    coverage: float, quoted: bool
) -> None:
    service = _Scripted(["월세 공제율은 20%입니다 [1].", "월세 공제율은 25%입니다 [1]."])
    rent = _evidence(RENT, "월세 > 공제율", coverage)
    text, prepared = _write(service, "월세 공제율은 몇 %인가요?", [rent])
    if quoted:
        assert text == f"문서에는 다음과 같이 나와 있습니다: “{rent.quote}” [1]" and prepared.found
    else:
        assert text == "제공된 문서에는 이 질문에 대한 내용이 없습니다." and not prepared.found
        assert prepared.cited == []


def test_the_refuse_setting_never_quotes() -> None:
    service = _Scripted(
        ["월세 공제율은 20%입니다 [1].", "월세 공제율은 25%입니다 [1]."], unsupported_fallback="refuse"
    )
    text, prepared = _write(service, "월세 공제율은 몇 %인가요?", [_evidence(RENT, "월세 > 공제율", 0.9)])
    assert not prepared.found and text == "제공된 문서에는 이 질문에 대한 내용이 없습니다."


def test_the_models_own_refusal_is_not_retried() -> None:
    service = _Scripted(["제공된 문서에는 이 질문에 대한 내용이 없습니다.", "unused"])
    text, prepared = _write(service, "월세 공제율은 몇 %인가요?", [_evidence(RENT, "월세 > 공제율", 0.3)])
    assert len(service.prompts) == 1 and not prepared.found


def test_across_languages_only_a_question_for_a_figure_is_quoted() -> None:
    """No shared word shows that a sentence is about an English question on Korean passages: the quote
    fallback needs a question that asks for a figure and a sentence that states one ("What is the
    inheritance tax exemption for a spouse?" had quoted a sentence on who claims the children)."""
    spouses = _evidence("자녀의 기본공제와 자녀세액공제는 부부 중 한 명만 받을 수 있습니다.", "맞벌이", 0.0)
    service = _Scripted(["The exemption is 10% of the estate [1].", "It is 10% [1]."])
    text, prepared = _write(
        service, "What is the inheritance tax exemption for a spouse?", [spouses], cross_lingual=True
    )
    assert not prepared.found and text == "The provided documents do not cover this question."
    rent = _evidence(RENT, "월세 > 공제율", 0.0)
    service = _Scripted(["The rate is 20% [1].", "The rate is 25% [1]."])
    question = "What tax credit rate applies to monthly rent?"
    text, prepared = _write(service, question, [rent], cross_lingual=True)
    assert prepared.found and text.startswith("The document says: “") and "17%" in text
