"""``hearth ingest DIR`` leaves out what the folder's ``.hearthignore`` lists, and files it cannot index."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.client_cli import SUPPORTED, CliError, expand
from api.hearthignore import IgnoreRules, walk_documents
from tests.support import ROOT


def _tree(root: Path, *files: str) -> None:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x", encoding="utf-8")


def _names(root: Path, paths: list[Path]) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def test_the_examples_ingest_their_documents_only() -> None:
    """Regression: `hearth ingest examples/tax` indexed the README, which holds the answers."""
    tax = expand([ROOT / "examples" / "tax"])
    assert [p.name for p in tax.files] == ["yearend-guide-ko.md"]
    assert (ROOT / "examples" / "tax" / "README.md", ".hearthignore") in tax.skipped
    manual = expand([ROOT / "examples" / "manual"])
    assert [p.name for p in manual.files] == ["manual-en.md", "manual-ko.md"]


def test_patterns_comments_negation_and_folders(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        "README.md",
        "guide.md",
        "notes.md",
        "keep.md",
        "docs/README.md",
        "docs/a.pdf",
        "docs/notes.md",
        "drafts/x.md",
        "old/2023/report.pdf",
        "old/2024/report.txt",
        ".git/config.txt",
        ".hidden.md",
    )
    (tmp_path / ".hearthignore").write_text(
        "# comment\n\nREADME.md\n/notes.md\ndrafts/\nold/**/*.pdf\n*.md\n!keep.md\n!guide.md\n",
        encoding="utf-8",
    )
    kept, ignored = walk_documents(tmp_path, SUPPORTED)
    assert _names(tmp_path, kept) == ["docs/a.pdf", "guide.md", "keep.md", "old/2024/report.txt"]
    assert "drafts" in _names(tmp_path, ignored) and "README.md" in _names(tmp_path, ignored)


def test_a_deeper_ignore_file_adds_its_own_rules(tmp_path: Path) -> None:
    _tree(tmp_path, "a.md", "sub/a.md", "sub/b.md", "other/b.md")
    (tmp_path / ".hearthignore").write_text("b.md\n", encoding="utf-8")
    (tmp_path / "sub" / ".hearthignore").write_text("a.md\n!b.md\n", encoding="utf-8")
    kept, _ = walk_documents(tmp_path, SUPPORTED)
    assert _names(tmp_path, kept) == ["a.md", "sub/b.md"]


@pytest.mark.parametrize(
    ("pattern", "path", "is_dir", "ignored"),
    [
        ("*.jsonl", "questions.jsonl", False, True),
        ("*.jsonl", "deep/down/q.jsonl", False, True),
        ("/README.md", "sub/README.md", False, None),
        ("docs/*.md", "docs/a.md", False, True),
        ("docs/*.md", "docs/sub/a.md", False, None),
        ("docs/**/*.md", "docs/sub/a.md", False, True),
        ("build/", "build", False, None),
        ("build/", "build", True, True),
        ("report-[0-9].pdf", "report-7.pdf", False, True),
        ("report-[!0-9].pdf", "report-7.pdf", False, None),
        ("\\#x.md", "#x.md", False, True),
    ],
)
def test_one_pattern(pattern: str, path: str, is_dir: bool, ignored: bool | None) -> None:
    rules = IgnoreRules.parse(Path("/base"), pattern)
    assert rules.decision(Path("/base") / path, is_dir) is ignored


def test_unsupported_files_are_skipped_not_failed(tmp_path: Path) -> None:
    _tree(tmp_path, "doc.md", "questions.jsonl", "image.png")
    selection = expand([tmp_path, tmp_path / "questions.jsonl", tmp_path / "doc.md"])
    assert _names(tmp_path, selection.files) == ["doc.md", "doc.md"]
    assert [(p.name, why) for p, why in selection.skipped] == [
        ("questions.jsonl", "not PDF, TXT, Markdown, HTML or DOCX")
    ]
    with pytest.raises(CliError, match="no supported files"):
        expand([tmp_path / "questions.jsonl"])
    with pytest.raises(CliError, match="does not exist"):
        expand([tmp_path / "missing.md"])
