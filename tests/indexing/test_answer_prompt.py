"""The answer prompt's layout (indexing/answers.py): chat roles, the passages numbered best first, the best
one placed right before the question, Korean amounts restated for an English answer."""

from __future__ import annotations

from typing import Any, cast

import pytest

from configs.settings import RetrievalSettings
from indexing.answers import AnswerService
from indexing.assistants import PromptLibrary
from indexing.evidence import Evidence
from indexing.types import Chunk, ScoredChunk
from tests.support import ROOT


class _Catalog:
    def resolve(self, name: str) -> str:
        return name

    def context_window(self, group: str) -> int:
        return 4096


class _Counter:
    """What _fill_prompt needs of the gateway: the catalog and a token count (characters / 2 here)."""

    catalog = _Catalog()

    def count_tokens(self, group: str, text: str) -> int:
        return len(text) // 2 + 1


def _service(**settings: Any) -> AnswerService:
    service = object.__new__(AnswerService)
    service._settings = RetrievalSettings(**settings)
    service._prompts = PromptLibrary(ROOT / "configs" / "prompts")
    service._gateway = cast(Any, _Counter())
    service._chat_model = "default"
    return service


def _evidence(name: str, text: str, score: float) -> Evidence:
    chunk = Chunk(id=name, document_id="d", index=0, text=text, filename="guide.md")
    return Evidence(ScoredChunk(chunk, score), f"안내서 > {name}", (text,), text, score)


PASSAGES = [
    _evidence("공제율", "체크카드 사용분의 공제율은 30%입니다.", 0.9),
    _evidence("최저사용금액", "총급여의 25%를 넘게 써야 공제가 시작됩니다.", 0.7),
    _evidence("안경", "안경 구입비는 1인당 연 50만원까지 공제됩니다.", 0.5),
]


@pytest.mark.parametrize("best_last", [True, False])
def test_the_best_passage_is_numbered_first_and_placed_by_the_setting(best_last: bool) -> None:
    service = _service(best_evidence_last=best_last)
    messages, used = service._fill_prompt("", PASSAGES, "체크카드 공제율은?", "ko", [], "v2")
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert used == PASSAGES  # [n] names used[n-1]: the best passage is [1] either way
    positions = [user.index(f"[{n}] {p.heading}\n") for n, p in enumerate(PASSAGES, 1)]
    assert positions == sorted(positions, reverse=best_last)
    assert user.rstrip().endswith("체크카드 공제율은?")


def test_an_english_answer_sees_korean_amounts_in_plain_won() -> None:
    messages, _ = _service()._fill_prompt("", PASSAGES, "What is the limit for glasses?", "en", [], "v2")
    assert "50만원 (= 500,000 won)" in messages[1]["content"]
    messages, _ = _service()._fill_prompt("", PASSAGES, "안경 한도는?", "ko", [], "v2")
    assert "500,000 won" not in messages[1]["content"]


def test_a_question_asking_for_an_explanation_is_asked_for_more_sentences() -> None:
    service = _service()
    short, _ = service._fill_prompt("", PASSAGES, "체크카드 공제율은?", "ko", [], "v2")
    long, _ = service._fill_prompt(
        "", PASSAGES, "카드별 공제율의 차이를 설명해주세요.", "ko", [], "v2", explanation=True
    )
    assert "one to three short sentences" in short[0]["content"]
    assert "three to six sentences" in long[0]["content"]
    assert "{answer_length}" not in long[0]["content"]
