"""The question file: JSON Lines, one question per line.

    {"id": "tax-01", "question": "...", "expected": [{"document": "yearend-guide-ko.md", "page": null}],
     "facts": ["17%", "1,000만원"], "unanswerable": false, "language": "ko", "tags": ["cross-lingual"]}

``id`` and ``question`` are required. ``expected`` names the documents (and, for PDFs, pages) that hold the
answer; ``facts`` are the strings the answer must contain (matched with number boundaries, see
:func:`indexing.numbers.contains_number_phrase`); ``unanswerable: true`` means the documents do not cover the
question and the server must answer ``found: false``. Blank lines are skipped; anything else that is not a
valid question stops the run with the line number and the reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from indexing.evaluation.errors import DatasetError

NonEmpty = Annotated[str, Field(min_length=1)]


class ExpectedDocument(BaseModel):
    """A document that holds the answer; ``page`` only where the document has pages (PDF)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    document: NonEmpty
    page: int | None = None


class Question(BaseModel):
    """One line of the question file."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    id: NonEmpty
    question: NonEmpty
    expected: list[ExpectedDocument] = Field(default_factory=list)
    facts: list[NonEmpty] = Field(default_factory=list)
    unanswerable: bool = False
    language: str | None = None
    tags: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _nothing_expected_of_a_refusal(self) -> Question:
        if self.unanswerable and (self.facts or self.expected):
            raise ValueError("an unanswerable question cannot list facts or expected documents")
        return self


def load_questions(path: Path) -> list[Question]:
    """Read and validate ``path``, or raise DatasetError naming the first bad line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read it ({exc})") from exc
    questions: list[Question] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        question = parse_line(line, f"{path}:{number}")
        if question.id in first_line:
            raise DatasetError(
                f"{path}:{number}: duplicate id '{question.id}' (first on line {first_line[question.id]})"
            )
        first_line[question.id] = number
        questions.append(question)
    if not questions:
        raise DatasetError(f"{path}: no questions in the file")
    return questions


def parse_line(line: str, where: str) -> Question:
    """One JSONL line as a Question; ``where`` (file:line) starts the error message."""
    try:
        data: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{where}: expected a JSON object, got {_json_type(data)}")
    try:
        return Question.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        # a misspelt field name also shows as the real one missing: name the misspelling
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        raise DatasetError(f"{where}: {_reason(first)}") from None


def _reason(error: Any) -> str:
    location = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        known = ", ".join(Question.model_fields) if len(error["loc"]) == 1 else "document, page"
        return f"unknown field '{location}' (known: {known})"
    if kind == "missing":
        return f"missing required field '{location}'"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if location:
        return f"'{location}': {error['msg']}, got {_json_type(error['input'])}"
    return str(error["msg"])


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number"}
    if value is None:
        return "null"
    return names.get(type(value), "a number" if isinstance(value, float) else type(value).__name__)
