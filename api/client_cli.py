"""``hearth ingest`` and ``hearth ask``: HTTP clients of the running server (in the embedded profile
the server process owns the vector store, so documents go in through its API like any client's)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from api.hearthignore import IGNORE_FILE, walk_documents
from configs.settings import Settings

SUPPORTED = {".pdf", ".txt", ".md", ".markdown", ".html", ".htm", ".docx"}


class CliError(Exception):
    """A one-line reason for the user."""


def server_url(settings: Settings, url: str | None) -> str:
    if url:
        return url.rstrip("/")
    if os.environ.get("HEARTH_URL"):
        return os.environ["HEARTH_URL"].rstrip("/")
    host = "127.0.0.1" if settings.server.host in ("0.0.0.0", "::") else settings.server.host
    return f"http://{host}:{settings.server.port}"


def api_key(settings: Settings, key: str | None) -> str:
    if key:
        return key
    if os.environ.get("HEARTH_API_KEY"):
        return os.environ["HEARTH_API_KEY"]
    if settings.api_keys:
        return settings.api_keys[0]
    dev = settings.data_dir / "dev-api-key"
    if dev.exists():
        return dev.read_text(encoding="utf-8").strip()
    raise CliError(
        "no API key: pass --key, set HEARTH_API_KEY, or start the server once to create data/dev-api-key"
    )


@dataclass
class Selection:
    """The files ``hearth ingest`` uploads, and those it leaves out with the reason."""

    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def expand(paths: Iterable[Path]) -> Selection:
    """Folders become their supported files, less what their ``.hearthignore`` files leave out; a named file
    of an unsupported type (a ``.jsonl`` next to the documents) is skipped rather than sent to fail."""
    selection = Selection()
    for path in paths:
        if path.is_dir():
            files, ignored = walk_documents(path, SUPPORTED)
            selection.files += files
            selection.skipped += [(p, IGNORE_FILE) for p in ignored]
        elif path.is_file() and path.suffix.lower() in SUPPORTED:
            selection.files.append(path)
        elif path.is_file():
            selection.skipped.append((path, "not PDF, TXT, Markdown, HTML or DOCX"))
        else:
            raise CliError(f"{path} does not exist")
    if not selection.files:
        raise CliError("no supported files (PDF, TXT, Markdown, HTML, DOCX) in the given paths")
    return selection


def error_message(response: httpx.Response) -> str:
    """The OpenAI-shaped error's message, or the status and the start of the body."""
    try:
        return str(response.json()["error"]["message"])
    except Exception:
        return f"HTTP {response.status_code}: {response.text[:200]}"


@dataclass
class IngestSummary:
    indexed: int = 0
    duplicates: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    chunks: int = 0
    pages: int = 0
    seconds: float = 0.0


def ingest(
    client: httpx.Client, collection: str, files: list[Path], progress: Any | None = None
) -> IngestSummary:
    summary = IngestSummary()
    started = time.monotonic()
    response = client.get(f"/v1/collections/{collection}")
    if response.status_code == 404:
        created = client.post("/v1/collections", json={"name": collection})
        if created.status_code != 201:
            raise CliError(f"cannot create the collection '{collection}': {error_message(created)}")
    elif response.status_code != 200:
        raise CliError(error_message(response))
    for path in files:
        with path.open("rb") as handle:
            response = client.post(
                f"/v1/collections/{collection}/documents", files={"file": (path.name, handle)}
            )
        if response.status_code == 202:
            response = _wait(client, collection, response.json()["document_id"])
        if response.status_code not in (200, 201):
            summary.failed.append((str(path), error_message(response)))
        else:
            body = response.json()
            if body.get("status") == "failed":
                summary.failed.append((str(path), body.get("error") or "indexing failed"))
            elif body.get("duplicate"):
                summary.duplicates += 1
            else:
                summary.indexed += 1
                summary.chunks += int(body.get("chunks", 0))
                summary.pages += int(body.get("pages", 0))
        if progress is not None:
            progress()
    summary.seconds = time.monotonic() - started
    return summary


def _wait(client: httpx.Client, collection: str, document_id: str) -> httpx.Response:
    while True:
        response = client.get(f"/v1/collections/{collection}/documents/{document_id}")
        if response.status_code != 200 or response.json().get("status") in ("indexed", "failed"):
            return response
        time.sleep(0.5)


def print_answer(body: dict[str, Any]) -> None:
    print(body["answer"])
    if body.get("citations"):
        print()
        for i, citation in enumerate(body["citations"], 1):
            page = f", p.{citation['page']}" if citation.get("page") else ""
            print(f"[{i}] {citation['filename']}{page} (score {citation['score']:.3f})")
    if body.get("session_id"):
        print(f"\nsession: {body['session_id']}", file=sys.stderr)
