"""`hearth eval` as a user runs it against a real server: the table, the JSON, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, ServerProcess, base_env, free_port

pytestmark = pytest.mark.slow

MANUAL_SET = ROOT / "examples" / "manual" / "questions.jsonl"


def hearth_cli(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=ROOT,
        env=base_env(server.log_path.parent),
        capture_output=True,
        text=True,
        timeout=900,
    )


def _questions(tmp_path: Path, *ids: str) -> Path:
    wanted = [json.loads(line) for line in MANUAL_SET.read_text(encoding="utf-8").splitlines()]
    path = tmp_path / "questions.jsonl"
    lines = [json.dumps(q, ensure_ascii=False) for q in wanted if q["id"] in ids]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def manual(hearth: ServerProcess) -> Iterator[ServerProcess]:
    """The sample manual in the collection `manual` (what the assistant manual-qa answers from)."""
    run = hearth_cli(
        hearth,
        "ingest",
        "examples/manual",
        "--collection",
        "manual",
        "--url",
        hearth.base_url,
        "--key",
        hearth.api_key,
    )
    assert run.returncode == 0, run.stderr
    assert "examples/manual/README.md (.hearthignore)" in run.stderr  # the README holds the answers
    headers = {"authorization": f"Bearer {hearth.api_key}"}
    listed = httpx.get(f"{hearth.v1}/collections/manual/documents", headers=headers, timeout=30).json()
    assert sorted(d["filename"] for d in listed["data"]) == ["manual-en.md", "manual-ko.md"]
    yield hearth


def _eval(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return hearth_cli(server, "eval", *args, "--url", server.base_url, "--key", server.api_key)


def test_eval_an_assistant_prints_a_table_and_writes_json(manual: ServerProcess, tmp_path: Path) -> None:
    questions = _questions(tmp_path, "man-en-11", "man-u6")  # an email address; a recipe (off-topic)
    out = tmp_path / "report.json"
    run = _eval(manual, str(questions), "--assistant", "manual-qa", "--out", str(out))
    assert run.returncode == 0, run.stderr
    for row in ("retrieval hit@all", "facts: all found", "false refusals", "leaks", "unsupported numbers"):
        assert row in run.stdout
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["target"] == {"assistant": "manual-qa"} and report["summary"]["questions"] == 2
    assert report["summary"]["errors"] == 0 and set(report["by_language"]) == {"en", "ko"}
    answered, refused = report["results"]
    assert answered["id"] == "man-en-11" and answered["facts"] == ["phishing@hearthlabs.example"]
    assert answered["outcome"] in ("answered", "false_refusal") and answered["latency_s"] > 0
    assert refused["outcome"] == "correct_refusal" and refused["citations"] == []
    assert report["summary"]["refusals"]["of"] == 1 and report["summary"]["facts"]["of"] == 1


def test_eval_a_collection_with_top_k_and_concurrency(manual: ServerProcess, tmp_path: Path) -> None:
    questions = _questions(tmp_path, "man-ko-13", "man-u5")
    out = tmp_path / "report.json"
    run = _eval(
        manual,
        str(questions),
        "--collection",
        "manual",
        "--top-k",
        "2",
        "--concurrency",
        "2",
        "--out",
        str(out),
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["target"] == {"collection": "manual"} and report["summary"]["retrieval"]["k"] == 2
    assert [r["id"] for r in report["results"]] == ["man-ko-13", "man-u5"]  # in the file's order
    assert all(len(r["citations"]) <= 2 for r in report["results"])


@pytest.mark.parametrize(
    ("lines", "args", "reason"),
    [
        (
            ['{"id": "a", "question": "Q?"}', '{"id": "b", "question": '],
            [],
            "questions.jsonl:2: not valid JSON",
        ),
        (['{"id": "a", "question": "Q?", "facts": "17%"}'], [], ":1: 'facts': Input should be a valid list"),
        (['{"id": "a", "question": "Q?", "answer": "x"}'], [], ":1: unknown field 'answer'"),
        ([], [], "no questions in the file"),
        (['{"id": "a", "question": "Q?"}'], ["--collection", "nope"], "the collection 'nope' does not exist"),
        (['{"id": "a", "question": "Q?"}'], ["--assistant", "nope"], "the server has no assistant 'nope'"),
        (['{"id": "a", "question": "Q?"}'], ["--collection", "a", "--assistant", "b"], "give either"),
        (['{"id": "a", "question": "Q?"}'], ["--key", "sk-wrong-key-000000"], "the server refused the key"),
    ],
)
def test_bad_input_is_a_one_line_error(
    hearth: ServerProcess, tmp_path: Path, lines: list[str], args: list[str], reason: str
) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = [] if {"--collection", "--assistant"} & set(args) else ["--collection", "manual"]
    run = hearth_cli(
        hearth, "eval", str(questions), *target, "--url", hearth.base_url, "--key", hearth.api_key, *args
    )
    assert run.returncode == 1, run.stdout
    assert run.stderr.startswith("error: ") and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert reason in run.stderr


def test_an_unreachable_server_is_a_one_line_error(hearth: ServerProcess, tmp_path: Path) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text('{"id": "a", "question": "Q?"}\n', encoding="utf-8")
    url = f"http://127.0.0.1:{free_port()}"
    run = hearth_cli(hearth, "eval", str(questions), "--collection", "manual", "--url", url, "--key", "k")
    assert run.returncode == 1
    assert run.stderr.startswith(f"error: the server at {url} does not answer")
    assert len(run.stderr.strip().splitlines()) == 1
