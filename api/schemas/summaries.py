"""Summary shapes: ``POST /v1/summaries`` (multipart ``file``, ``language``, ``max_words``) → SummaryOut."""

from __future__ import annotations

from pydantic import BaseModel, Field

from indexing.summary_schema import SummaryResult


class SummarySectionOut(BaseModel):
    heading: str = Field(description="The PDF outline's chapter title, or the page range ('Pages 1–12')")
    summary: str
    first_page: int
    last_page: int


class SummaryUsageOut(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class SummaryOut(BaseModel):
    title: str
    summary: str = Field(description="At most max_words words (counted by whitespace)")
    key_points: list[str]
    sections: list[SummarySectionOut]
    language: str = Field(description="The summary's language: the requested one or the document's own")
    pages: int
    model: str = Field(description="The model that wrote the summary")
    usage: SummaryUsageOut = Field(description="Tokens summed over every model call of the summary")

    @classmethod
    def of(cls, result: SummaryResult) -> SummaryOut:
        return cls.model_validate(result.model_dump())
