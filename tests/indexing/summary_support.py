"""Helpers for the summary tests: PDFs written with PyMuPDF, sample text, and a small fake of the gateway."""

from __future__ import annotations

import textwrap
from typing import Any

import orjson
import pymupdf

from inference.catalog import Deployment, ModelCatalog
from inference.gateway import ChatRequest, ChatResult
from inference.language import has_hangul
from inference.tokens import check_budget

TEAMS = ["harbour", "logistics", "research", "finance", "safety", "training", "customer", "facilities"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October"]
KO_TEAMS = ["항만", "물류", "연구", "재무", "안전", "교육", "고객", "시설"]


def english_page(number: int, words: int = 150) -> str:
    """About ``words`` words of a fictional annual report, different on every page."""
    team, month = TEAMS[number % len(TEAMS)], MONTHS[number % len(MONTHS)]
    sentences = [
        f"Section {number}. In {month} the {team} team of Northwind Harbour reviewed its work.",
        f"The team handled {120 + number * 7} container ships and {40 + number} ferry crossings.",
        f"Costs fell by {number % 9 + 2} percent because the cranes were serviced on time.",
        f"The manager, Dana Whitfield, asked for {number % 4 + 1} new inspectors for the night shift.",
        "Storms delayed two deliveries, but no cargo was lost and nobody was hurt.",
        f"The board approved a budget of {3 + number % 5} million euros for the next quarter.",
    ]
    out: list[str] = []
    while sum(len(s.split()) for s in out) < words:
        out.append(sentences[len(out) % len(sentences)])
    return " ".join(out)


def korean_page(number: int, sentences: int = 6) -> str:
    team = KO_TEAMS[number % len(KO_TEAMS)]
    lines = [
        f"제{number}장. 노스윈드 항만의 {team} 부서는 {number % 12 + 1}월에 업무를 점검했습니다.",
        f"이 부서는 컨테이너선 {120 + number * 7}척과 여객선 {40 + number}척을 처리했습니다.",
        f"크레인 정비를 제때 마쳐서 비용이 {number % 9 + 2}퍼센트 줄었습니다.",
        "폭풍 때문에 두 번의 배송이 늦어졌지만 화물 손실이나 부상자는 없었습니다.",
        f"이사회는 다음 분기 예산으로 {3 + number % 5}억 원을 승인했습니다.",
        "관리자 김서연은 야간 근무를 위해 검사관을 더 뽑아 달라고 요청했습니다.",
    ]
    return " ".join(lines[i % len(lines)] for i in range(sentences))


def make_pdf(pages: list[str], toc: list[list[Any]] | None = None, **save: Any) -> bytes:
    """One page per entry, written line by line (``insert_textbox`` writes nothing when the text does not
    fit, and lines that run past the page are clipped); Korean pages use the bundled "korea" CJK font,
    whose Latin letters are full-width. ``toc`` as for ``Document.set_toc``. Extraction must give the
    words back."""
    pdf = pymupdf.open()
    for text in pages:
        page = pdf.new_page()
        hangul = has_hangul(text)
        y = 60.0
        for line in textwrap.wrap(text, width=45 if hangul else 90):
            assert page.insert_text((40, y), line, fontname="korea" if hangul else "helv", fontsize=9) == 1
            y += 12
        assert y < page.rect.height - 30, "the page text does not fit one page"
        assert page.get_text().split() == text.split(), "PyMuPDF did not give the text back"
    if toc:
        pdf.set_toc(toc)
    return pdf.tobytes(**save)


def fake_catalog(context_window: int, *, embedded: bool = True) -> ModelCatalog:
    deployment = Deployment(
        id="fake#0",
        model_name="fake",
        provider="openai",
        upstream_model="fake",
        api_base="http://fake.invalid/v1",
        api_key=None,
        context_window=context_window,
        tokenizer="approx",
        embedded=embedded,
    )
    return ModelCatalog(deployments=(deployment,), aliases={"default": "fake"}, router_settings={})


class FakeGateway:
    """The three calls SummaryService makes of ChatGateway. A token is a whitespace-separated word; prompts
    are checked against the context like the real gateway does; replies come from ``replies`` (a list of
    strings, used first) or from ``reply(payload)``, which answers in the prompt's language."""

    def __init__(self, context_window: int = 2000, replies: list[str] | None = None, words: int = 12) -> None:
        self.catalog = fake_catalog(context_window)
        self.replies = list(replies or [])
        self.words = words  # summary length of the default replies
        self.calls: list[dict[str, Any]] = []

    def count_tokens(self, group: str, text: str) -> int:
        return len(text.split())

    def prepare(self, payload: dict[str, Any]) -> ChatRequest:
        tokens = sum(len(m["content"].split()) + 5 for m in payload["messages"]) + 3
        check_budget(tokens, payload.get("max_tokens"), self.catalog.context_window("fake"))
        return ChatRequest(payload, "fake", tokens, False, False)

    async def complete(self, request: ChatRequest) -> ChatResult:
        self.calls.append(request.payload)
        content = self.replies.pop(0) if self.replies else self.reply(request.payload)
        usage = {
            "prompt_tokens": request.prompt_tokens,
            "completion_tokens": len(content.split()),
            "total_tokens": request.prompt_tokens + len(content.split()),
        }
        body = {"model": "fake-model", "choices": [{"message": {"content": content}}], "usage": usage}
        return ChatResult(orjson.dumps(body), usage, "fake-model", "fake#0")

    def reply(self, payload: dict[str, Any]) -> str:
        prompt = payload["messages"][0]["content"]
        korean = "Korean" in prompt.strip().rsplit("\n", 1)[-1]
        word = "요약입니다" if korean else "summary"
        schema = payload["response_format"]["json_schema"]["schema"]
        data: dict[str, Any] = {}
        if "title" in schema["properties"]:
            data["title"] = "연례 보고서" if korean else "Annual report"
        if "sections" in schema["properties"]:
            keys = schema["properties"]["sections"]["required"]
            data["sections"] = {key: f"{'부분' if korean else 'part'} {key[:2]} {word}." for key in keys}
        if "summary" in schema["properties"]:
            data["summary"] = " ".join([word] * self.words) + "."
        data["key_points"] = [
            "첫째 요점을 정리합니다." if korean else "The first point is made here.",
            "두 번째 요점도 중요합니다." if korean else "The second point differs from it.",
        ]
        return orjson.dumps(data).decode()

    def kinds(self) -> list[str]:
        """What each call was: document, map (over text or over notes: merge) or reduce."""
        out = []
        for payload in self.calls:
            prompt = payload["messages"][0]["content"]
            if prompt.startswith("Below are notes"):
                out.append("reduce")
            elif prompt.startswith("Below are consecutive sections"):
                out.append("sections")
            elif prompt.startswith("Summarise the document"):
                out.append("document")
            else:
                out.append("merge" if "\n## " in prompt else "map")
        return out
