"""``.hearthignore``: the files of a folder that ``hearth ingest DIR`` leaves out.

A ``.hearthignore`` file holds gitignore-style patterns, one per line, for the folder it sits in and the
folders below it (a deeper ``.hearthignore`` adds its own):

    # the README repeats the answers; the question files are for `hearth eval`
    README.md
    *.jsonl
    drafts/          a trailing slash: folders only
    /notes.md        a slash at the start or inside: relative to this folder, not any depth
    **/old/*.pdf     ** spans folders
    !keep.md         re-includes what an earlier pattern left out

A pattern without a slash matches a file or folder name at any depth. The last matching line decides. Hidden
files and folders (``.git``, ``.hearthignore`` itself) are never ingested from a folder.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

IGNORE_FILE = ".hearthignore"


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    anchored: bool  # matched against the path from the rule's folder, not only the name
    folders_only: bool
    negated: bool

    def matches(self, relative: str, is_dir: bool) -> bool:
        if self.folders_only and not is_dir:
            return False
        subject = relative if self.anchored else relative.rsplit("/", 1)[-1]
        return bool(self.pattern.fullmatch(subject))


@dataclass(frozen=True)
class IgnoreRules:
    """The patterns of one ``.hearthignore``, relative to ``base`` (its folder)."""

    base: Path
    rules: tuple[_Rule, ...]

    @classmethod
    def read(cls, folder: Path) -> IgnoreRules | None:
        path = folder / IGNORE_FILE
        if not path.is_file():
            return None
        return cls.parse(folder, path.read_text(encoding="utf-8-sig"))

    @classmethod
    def parse(cls, base: Path, text: str) -> IgnoreRules:
        rules = [rule for line in text.splitlines() if (rule := _rule(line)) is not None]
        return cls(base, tuple(rules))

    def decision(self, path: Path, is_dir: bool) -> bool | None:
        """True (ignored), False (re-included by ``!``) or None (no pattern matches)."""
        relative = path.relative_to(self.base).as_posix()
        decided: bool | None = None
        for rule in self.rules:
            if rule.matches(relative, is_dir):
                decided = not rule.negated
        return decided


def walk_documents(root: Path, suffixes: set[str]) -> tuple[list[Path], list[Path]]:
    """The files under ``root`` with one of ``suffixes`` that no ``.hearthignore`` leaves out, sorted; and
    the files (or whole folders) the ignore files left out."""
    kept: list[Path] = []
    ignored: list[Path] = []
    inherited: dict[Path, list[IgnoreRules]] = {root: []}
    for folder_name, dirs, files in os.walk(root):
        folder = Path(folder_name)
        rules = list(inherited.pop(folder, []))
        own = IgnoreRules.read(folder)
        if own is not None:
            rules.append(own)
        for name in sorted(dirs):
            path = folder / name
            if name.startswith(".") or _ignored(rules, path, is_dir=True):
                dirs.remove(name)
                if not name.startswith("."):
                    ignored.append(path)
            else:
                inherited[path] = rules
        for name in files:
            path = folder / name
            if name.startswith(".") or path.suffix.lower() not in suffixes:
                continue
            (ignored if _ignored(rules, path, is_dir=False) else kept).append(path)
    return sorted(kept), sorted(ignored)


def _ignored(rules: list[IgnoreRules], path: Path, *, is_dir: bool) -> bool:
    decided = False
    for rule_set in rules:  # outer folders first: a deeper .hearthignore has the last word
        verdict = rule_set.decision(path, is_dir)
        if verdict is not None:
            decided = verdict
    return decided


def _rule(line: str) -> _Rule | None:
    line = line.rstrip()
    if not line or line.startswith("#"):
        return None
    negated = line.startswith("!")
    if negated:
        line = line[1:]
    if line.startswith("\\"):  # \# and \! match a leading # or ! literally
        line = line[1:]
    folders_only = line.endswith("/")
    line = line.rstrip("/")
    anchored = "/" in line  # a slash at the start or in the middle
    line = line.lstrip("/")
    if not line:
        return None
    return _Rule(re.compile(_translate(line)), anchored, folders_only, negated)


def _translate(glob: str) -> str:
    """A gitignore glob as a regular expression over a /-separated path."""
    out: list[str] = []
    i = 0
    while i < len(glob):
        char = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("/**", i) and i + 3 == len(glob):
            out.append("/.*")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[" and (end := glob.find("]", i + 2)) != -1:
            body = glob[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body[0] in "!^" else body).replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out)
