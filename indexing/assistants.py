"""RAG assistants (``configs/assistants.yaml``) and the versioned prompt templates (``configs/prompts/``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from indexing.errors import IndexingError


class AssistantConfigError(IndexingError):
    """assistants.yaml or a prompt template is missing or invalid."""


@dataclass(frozen=True)
class AssistantSpec:
    name: str
    description: str
    collection: str
    system_prompt: str
    answer_language: Literal["auto", "ko", "en"] = "auto"
    top_k: int | None = None
    query_rewriting: Literal["none", "follow_up", "condense"] = "follow_up"
    prompt_version: str = "v1"


DEFAULT_SYSTEM_PROMPT = (
    "You answer questions using only the numbered passages provided. Answer in the language of the question "
    "and cite the passages you used as [n]."
)


def load_assistants(path: Path) -> dict[str, AssistantSpec]:
    if not path.exists():
        return {}
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise AssistantConfigError(f"{path} is not valid YAML: {exc}") from exc
    specs: dict[str, AssistantSpec] = {}
    for name, entry in (raw.get("assistants") or {}).items():
        if not isinstance(entry, dict) or not entry.get("collection"):
            raise AssistantConfigError(f"assistant '{name}' in {path.name} needs a collection")
        retrieval = entry.get("retrieval") or {}
        specs[name] = AssistantSpec(
            name=name,
            description=str(entry.get("description", "")),
            collection=str(entry["collection"]),
            system_prompt=str(entry.get("system_prompt") or DEFAULT_SYSTEM_PROMPT).strip(),
            answer_language=entry.get("answer_language", "auto"),
            top_k=retrieval.get("top_k"),
            query_rewriting=entry.get("query_rewriting", "follow_up"),
            prompt_version=str(entry.get("prompt_version", "v1")),
        )
    return specs


class PromptLibrary:
    """Templates by name and version: ``<dir>/<name>.<version>.txt`` (str.format placeholders)."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._cache: dict[str, str] = {}
        self._not_found: dict[str, str] | None = None

    def get(self, name: str, version: str = "v1") -> str:
        key = f"{name}.{version}"
        if key not in self._cache:
            path = self._dir / f"{key}.txt"
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise AssistantConfigError(f"the prompt template {path} is missing") from exc
            # header comment lines (starting with '#') document the template; they are not sent
            lines = text.splitlines()
            while lines and lines[0].startswith("#"):
                lines.pop(0)
            self._cache[key] = "\n".join(lines).strip() + "\n"
        return self._cache[key]

    def has(self, name: str, version: str = "v1") -> bool:
        return f"{name}.{version}" in self._cache or (self._dir / f"{name}.{version}.txt").is_file()

    def not_found(self, language: str, version: str = "v1") -> str:
        if self._not_found is None:
            path = self._dir / f"not_found.{version}.yaml"
            try:
                self._not_found = {
                    str(k): str(v) for k, v in (yaml.safe_load(path.read_text("utf-8")) or {}).items()
                }
            except (OSError, yaml.YAMLError) as exc:
                raise AssistantConfigError(f"the not-found answers {path} are missing or invalid") from exc
        return (
            self._not_found.get(language) or self._not_found.get("en") or "The documents do not cover this."
        )
