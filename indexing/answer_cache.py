"""Which grounded answers are cached, and under which key.

An answer depends on the collection's content (its id and ``content_version``, which every ingest and
delete bumps: re-ingesting invalidates what was cached), the question, the conversation history passed in,
``top_k``, the assistant's spec, the chat model, the retrieval settings and the code of the answer path
(:data:`ANSWER_PATH`: an upgrade that changes how answers are made does not serve the old ones). A request
with a ``session_id`` is never cached: its answer depends on the stored conversation, and each turn must be
recorded. The entry holds the answer, ``found``, the citations, the usage and the search query; never a
session id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from configs.settings import RetrievalSettings
from indexing.assistants import AssistantSpec
from inference.cache import Cache, cache_key
from inference.catalog import ModelCatalog
from storage.collections import CollectionRecord

# the modules whose code decides an answer's text: a digest of their source is part of every key
_ANSWER_MODULES = ("answers", "evidence", "grounding", "numbers", "retrieval", "sparse", "chunking")
ANSWER_PATH = hashlib.sha256(
    b"".join((Path(__file__).parent / f"{name}.py").read_bytes() for name in _ANSWER_MODULES)
).hexdigest()[:16]


class AnswerCache:
    def __init__(
        self, cache: Cache, catalog: ModelCatalog, chat_model: str, settings: RetrievalSettings
    ) -> None:
        self._cache = cache
        self._catalog = catalog
        self._chat_model = chat_model
        self._settings = settings.model_dump(mode="json")

    def key(
        self,
        record: CollectionRecord,
        question: str,
        *,
        top_k: int | None,
        session_id: str | None,
        assistant: AssistantSpec | None,
        history: Sequence[tuple[str, str]] | None,
    ) -> str | None:
        """The key of an answer, or None when it must not come from the cache."""
        if not self._cache.enabled or session_id:
            return None
        group = self._catalog.resolve(self._chat_model)
        upstreams = sorted(d.upstream_model for d in self._catalog.deployments_of(group))
        return cache_key(
            "rag",
            ANSWER_PATH,
            record.id,
            record.content_version,
            record.embedder,
            question.strip(),
            top_k,
            asdict(assistant) if assistant else None,
            [list(turn) for turn in history] if history is not None else None,
            group,
            upstreams,
            self._settings,
        )

    async def load(self, key: str | None) -> dict[str, Any] | None:
        if key is None:
            return None
        raw = await self._cache.get(key)
        return orjson.loads(raw) if raw is not None else None

    async def store(self, key: str | None, entry: dict[str, Any]) -> None:
        if key is not None:
            await self._cache.set(key, orjson.dumps(entry))
