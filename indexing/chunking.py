"""Cleaning and chunking, as LlamaIndex TransformComponents (nodes in, nodes out).

* :class:`CleanText`: NFC, control and zero-width characters out, hyphenated PDF line breaks joined,
  whitespace collapsed with paragraph breaks kept, repeated page headers/footers and page numbers dropped.
* :class:`SentenceChunker`: chunks of at most ``chunk_tokens`` tokens *of the collection's embedder*,
  cut at headings first, then paragraphs, then sentences (Kiwi for Hangul, punctuation rules otherwise);
  a sentence is cut only when it alone is over the limit. Consecutive chunks of a section share whole
  trailing sentences up to ``overlap_tokens``. Each chunk carries ``page``, ``heading`` (the path,
  "연말정산 > 의료비"), ``chunk_index`` and ``language``; its text starts with the heading path line.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from llama_index.core.schema import BaseNode, MetadataMode, NodeRelationship, TextNode, TransformComponent
from pydantic import Field

from indexing.embedders import clip_to_tokens
from indexing.types import chunk_id
from inference.language import detect_language, has_hangul

# ---- cleaning -----------------------------------------------------------------------------------------

_SPACES = re.compile(r"[\t\f\v\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200d\u2060\ufeff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_HYPHEN_BREAK = re.compile(r"([A-Za-z]{2})-\n[ ]*([a-z])")
_MULTI_SPACE = re.compile(r" {2,}")
_LINE_EDGES = re.compile(r" *\n *")
_BLANK_LINES = re.compile(r"\n{3,}")
_PAGE_NUMBER = re.compile(r"^[-–—\s]*(?:page\s*|p\.\s*)?\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?[-–—\s]*$", re.I)


def clean_text(text: str) -> str:
    """Normalise one text: NFC, no control/zero-width characters, single spaces, at most one blank line."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _SPACES.sub(" ", text)
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub("", text)
    text = _HYPHEN_BREAK.sub(r"\1\2", text)
    text = _MULTI_SPACE.sub(" ", text)
    text = _LINE_EDGES.sub("\n", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


def _furniture_key(line: str) -> str:
    return re.sub(r"\d+", "#", line.strip().lower())


def strip_page_furniture(pages: list[str], edge: int = 2) -> list[str]:
    """Drop running headers/footers (a line in the first or last ``edge`` lines of most pages, digits
    ignored) and bare page numbers at the top or bottom of a page. Needs at least three pages."""
    if len(pages) < 3:
        return pages
    lines = [page.split("\n") for page in pages]
    seen: Counter[str] = Counter()
    for page_lines in lines:
        content = [line for line in page_lines if line.strip()]
        reach = _reach(len(content), edge)
        seen.update({_furniture_key(line) for line in content[:reach] + content[-reach:]})
    threshold = max(3, int(0.6 * len(pages) + 0.5))
    repeated = {key for key, count in seen.items() if count >= threshold}
    cleaned: list[str] = []
    for page_lines in lines:
        positions = [i for i, line in enumerate(page_lines) if line.strip()]
        drop = set()
        reach = _reach(len(positions), edge)
        for i in positions[:reach] + positions[-reach:]:
            line = page_lines[i]
            if _furniture_key(line) in repeated or _PAGE_NUMBER.match(line):
                drop.add(i)
        cleaned.append("\n".join(line for i, line in enumerate(page_lines) if i not in drop))
    return cleaned


def _reach(lines: int, edge: int) -> int:
    """How many lines at each end of a page may be furniture: fewer on short pages, none on one-liners."""
    return 0 if lines < 2 else min(edge, (lines - 1) // 2)


class CleanText(TransformComponent):
    """Normalise node text in place (see :func:`clean_text`); PDF pages of one document lose their
    repeated headers, footers and page numbers first."""

    drop_page_furniture: bool = True

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        if self.drop_page_furniture:
            paged: dict[str, list[BaseNode]] = defaultdict(list)
            for node in nodes:
                if node.metadata.get("page") is not None:
                    paged[str(node.metadata.get("document_id") or node.ref_doc_id or "")].append(node)
            for group in paged.values():
                texts = strip_page_furniture([_text(node) for node in group])
                for node, text in zip(group, texts, strict=True):
                    node.set_content(text)
        for node in nodes:
            node.set_content(clean_text(_text(node)))
        return nodes


def _text(node: BaseNode) -> str:
    return node.get_content(metadata_mode=MetadataMode.NONE)


# ---- sentences ----------------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"[.!?…。！？]+[\"'”’)\]]*(?=\s)")
_KO_END = re.compile(r"(?:니다|어요|아요|에요|예요|해요|세요|죠)(?=\s)")
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "al", "fig", "figs",
    "eq", "no", "vol", "pp", "inc", "ltd", "co", "corp", "approx", "ca", "cf", "resp", "ref", "refs",
}  # fmt: skip

_kiwi: Any = None
_kiwi_lock = threading.Lock()


def _get_kiwi() -> Any:
    """The shared Kiwi instance, created on first Korean text (about 4 s), or None without kiwipiepy."""
    global _kiwi
    with _kiwi_lock:
        if _kiwi is None:
            try:
                from kiwipiepy import Kiwi

                _kiwi = Kiwi()
            except Exception:  # not installed or its model files are missing: the rules still work
                _kiwi = False
        return _kiwi or None


def split_sentences(text: str) -> list[str]:
    """Sentences of one paragraph line, each stripped; joined by spaces they give the text back."""
    if len(text) < 24:
        return [text]
    if has_hangul(text):
        kiwi = _get_kiwi()
        if kiwi is not None:
            with _kiwi_lock:
                starts = [sentence.start for sentence in kiwi.split_into_sents(text)]
            # Kiwi sometimes runs on past a polite ending with no full stop ("...입니다 다음 문장")
            return _cut(text, sorted({*starts[1:], *(m.end() for m in _KO_END.finditer(text))}))
    return _cut(text, _rule_boundaries(text))


def _rule_boundaries(text: str) -> list[int]:
    cuts: list[int] = []
    for match in _SENTENCE_END.finditer(text):
        nxt = match.end()
        while nxt < len(text) and text[nxt].isspace():
            nxt += 1
        if nxt >= len(text) or text[nxt].islower():
            continue
        if match.group().startswith(".") and len(match.group()) == 1:
            word = text[: match.start()].rsplit(None, 1)[-1] if text[: match.start()].strip() else ""
            word = word.lstrip("([\"'“‘").lower()
            if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
                continue
        cuts.append(nxt)
    if has_hangul(text):
        cuts.extend(m.end() for m in _KO_END.finditer(text))
    return sorted(set(cuts))


def _cut(text: str, cuts: list[int]) -> list[str]:
    pieces, last = [], 0
    for cut in cuts:
        if last < cut < len(text):
            pieces.append(text[last:cut].strip())
            last = cut
    pieces.append(text[last:].strip())
    return [piece for piece in pieces if piece]


# ---- chunking -----------------------------------------------------------------------------------------

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
# a line that starts a heading, list item or table row (not the continuation of a wrapped paragraph)
STRUCTURAL_LINE = re.compile(
    r"^(?:#{1,6}\s|[-*+•·▪◦※○●■□▶]\s?|\d{1,3}[.)]\s|[가-힣][.)]\s|\(\d{1,3}\)|[①-⑳]|\|)"
)
_FENCE = re.compile(r"^(```|~~~)")


@dataclass
class _Unit:
    sep: str  # what joins it to the unit before it in one chunk: " ", "\n" or "\n\n"
    text: str
    tokens: int


@dataclass
class _Section:
    path: str | None
    lines: list[tuple[str, str]]  # (separator, line) of the section's body


def _sections(text: str, heading_units: bool) -> list[_Section]:
    """Split at Markdown headings; join wrapped lines of a paragraph, keep list items and rows apart."""
    sections: list[_Section] = []
    stack: list[tuple[int, str]] = []
    current = _Section(None, [])
    fenced = False
    for paragraph in re.split(r"\n\s*\n", text):
        sep = "\n\n"
        run: list[str] = []
        for raw in paragraph.split("\n"):
            line = raw.strip()
            if not line:
                continue
            if _FENCE.match(line):
                fenced = not fenced
            heading = None if fenced else _HEADING.match(line)
            if heading:
                if run:
                    current.lines.append((sep, " ".join(run)))
                    run, sep = [], "\n"
                sections.append(current)
                level = len(heading.group(1))
                while stack and stack[-1][0] >= level:
                    stack.pop()
                stack.append((level, heading.group(2)))
                current = _Section(" > ".join(title for _, title in stack), [])
                if heading_units:
                    current.lines.append(("\n\n", line))
                sep = "\n\n"
            elif fenced or STRUCTURAL_LINE.match(line) or " | " in line:
                if run:
                    current.lines.append((sep, " ".join(run)))
                    run, sep = [], "\n"
                current.lines.append((sep, line))
                sep = "\n"
            else:
                run.append(line)
        if run:
            current.lines.append((sep, " ".join(run)))
    sections.append(current)
    return [section for section in sections if section.lines]


class SentenceChunker(TransformComponent):
    """Token-bounded chunks that respect headings, paragraphs and sentences (see the module docstring).

    ``count_tokens`` is the embedder's own counter (specials and prompt included), so a chunk is never
    truncated by the model it is embedded with. ``heading_prefix`` puts the heading path on the first
    line of every chunk of a section (Markdown ``#`` lines themselves are then left out of the body).
    """

    count_tokens: Callable[[str], int] = Field(exclude=True)
    chunk_tokens: int = 256
    overlap_tokens: int = 32
    heading_prefix: bool = True

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        if self.chunk_tokens < 16 or self.overlap_tokens < 0 or self.overlap_tokens >= self.chunk_tokens:
            raise ValueError("need chunk_tokens >= 16 and 0 <= overlap_tokens < chunk_tokens")
        base = self.count_tokens("")
        out: list[BaseNode] = []
        counters: Counter[str] = Counter()
        for node in nodes:
            document = str(node.metadata.get("document_id") or node.ref_doc_id or node.node_id)
            for path, text in self._chunk_texts(_text(node), base):
                index = counters[document]
                counters[document] += 1
                metadata = {
                    **node.metadata,
                    "heading": path,
                    "chunk_index": index,
                    "language": detect_language(text),
                }
                chunk = TextNode(
                    id_=chunk_id(document, index)
                    if node.metadata.get("document_id")
                    else f"{document}:{index}",
                    text=text,
                    metadata=metadata,
                    excluded_embed_metadata_keys=list(metadata),
                    excluded_llm_metadata_keys=list(metadata),
                )
                chunk.relationships[NodeRelationship.SOURCE] = node.as_related_node_info()
                out.append(chunk)
        return out

    def _tokens(self, text: str, base: int) -> int:
        return max(0, self.count_tokens(text) - base)

    def _chunk_texts(self, text: str, base: int) -> list[tuple[str | None, str]]:
        results: list[tuple[str | None, str]] = []
        for section in _sections(text, heading_units=not self.heading_prefix):
            prefix = self._prefix(section.path, base)
            budget = self.chunk_tokens - base - (self._tokens(prefix, base) + 1 if prefix else 0)
            units = self._units(section, budget, base)
            results.extend((section.path, chunk) for chunk in self._pack(units, prefix, budget))
        return results

    def _prefix(self, path: str | None, base: int) -> str:
        if not self.heading_prefix or not path:
            return ""
        for candidate in (path, path.rsplit(" > ", 1)[-1]):
            if self._tokens(candidate, base) <= self.chunk_tokens // 4:
                return candidate
        return ""

    def _units(self, section: _Section, budget: int, base: int) -> list[_Unit]:
        units: list[_Unit] = []
        for sep, line in section.lines:
            for k, sentence in enumerate(split_sentences(line)):
                first_sep = sep if k == 0 else " "
                tokens = self._tokens(sentence, base)
                if tokens <= budget:
                    units.append(_Unit(first_sep, sentence, tokens))
                    continue
                for j, piece in enumerate(self._hard_split(sentence, budget, base)):
                    units.append(_Unit(first_sep if j == 0 else " ", piece, self._tokens(piece, base)))
        return units

    def _hard_split(self, sentence: str, budget: int, base: int) -> list[str]:
        """One sentence over the budget: token-sized pieces, cut at a space where one is near."""
        pieces: list[str] = []
        rest = sentence
        while rest:
            if self._tokens(rest, base) <= budget:
                pieces.append(rest)
                break
            head = clip_to_tokens(rest, budget + base, self.count_tokens)
            cut = len(head)
            space = head.rfind(" ")
            if space > 0.6 * cut:
                cut = space
            cut = max(cut, 1)
            pieces.append(rest[:cut].strip())
            rest = rest[cut:].strip()
        return [piece for piece in pieces if piece]

    def _pack(self, units: list[_Unit], prefix: str, budget: int) -> list[str]:
        chunks: list[str] = []
        i, n = 0, len(units)
        previous: tuple[int, int] | None = None  # unit range of the previous chunk
        while i < n:
            overlap: list[int] = []
            if previous is not None and self.overlap_tokens:
                spent = 0
                for k in range(previous[1] - 1, previous[0] - 1, -1):
                    if spent + units[k].tokens > self.overlap_tokens:
                        break
                    spent += units[k].tokens
                    overlap.insert(0, k)
            total = sum(units[k].tokens for k in overlap)
            j = i
            while j < n and total + units[j].tokens <= budget:
                total += units[j].tokens
                j += 1
            if j == i:  # the next unit fits only alone (units are pre-split to fit the budget)
                overlap, j = [], i + 1
            text = self._join(units, overlap + list(range(i, j)), prefix)
            # the sum of sentence counts is an estimate: check the real count of what was assembled
            while self.count_tokens(text) > self.chunk_tokens and (overlap or j - i > 1):
                if overlap:
                    overlap.pop(0)
                else:
                    j -= 1
                text = self._join(units, overlap + list(range(i, j)), prefix)
            if prefix and self.count_tokens(text) > self.chunk_tokens:  # one unit plus the path is too long
                text = self._join(units, list(range(i, j)), "")
            chunks.append(text)
            previous = (overlap[0] if overlap else i, j)
            i = j
        return chunks

    @staticmethod
    def _join(units: list[_Unit], indices: list[int], prefix: str) -> str:
        body = "".join(
            units[k].text if pos == 0 else units[k].sep + units[k].text for pos, k in enumerate(indices)
        )
        return f"{prefix}\n{body}" if prefix else body
