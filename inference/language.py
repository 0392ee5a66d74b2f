"""Which language a text is written in, Korean or English: the one rule every feature uses.

The unit is the word, not the letter: a Korean word (eojeol) is a noun with its particle or a verb with its
ending, two to four syllables, while an English word is about five letters, so letter counts need a
fudge factor and still tip over on a short English question with one Korean term. Words are counted after
dropping what says nothing about the writer's language:

* code (fenced blocks and `inline spans`), URLs and e-mail addresses, digits and punctuation;
* acronyms in capitals ("IRP", "ETF", "AI"): Korean writes them as English does;
* quoted text, when the rest says anything: an English answer quoting "의료비 세액공제" is English, and a
  Korean question about "Annual leave policy" is Korean.

A word with any Hangul is Korean ("IRP와" carries a Korean particle); a word of Latin letters is English.
More Korean words than English ones, or as many, is "ko" (ties go to Korean: a Korean question naming a
product, "Docker 설치", is common; an English one with as many Korean words as English, rare). Neither
script, or mostly another one (Japanese, Chinese, Cyrillic), is "und"; acronyms alone are "en".
"""

from __future__ import annotations

import re
from typing import Literal

Language = Literal["ko", "en", "und"]

# syllables, jamo, compatibility jamo, jamo extended A and B
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\ud7b0-\ud7ff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_NOISE = re.compile(
    r"```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)|`[^`\n]*`"  # code
    r"|\b(?:https?://|www\.)\S+|[\w.+-]+@[\w-]+\.[\w.]+",  # URLs, e-mail addresses
    re.DOTALL,
)
_QUOTED = re.compile(r'"[^"\n]*"|“[^”\n]*”|「[^」\n]*」|『[^』\n]*』|«[^»\n]*»')
_WORD = re.compile(r"[^\W\d_]+")  # a run of letters, any script


def has_hangul(text: str) -> bool:
    """Whether ``text`` has any Hangul (syllables or jamo)."""
    return _HANGUL.search(text) is not None


def detect_language(text: str) -> Language:
    """ "ko" or "en" by the words of ``text`` (see the module docstring), "und" when neither script says."""
    text = _NOISE.sub(" ", text)
    outside = _counts(_QUOTED.sub(" ", text))
    ko, en, acronyms, other = outside if any(outside[:2]) or outside[3] else _counts(text)
    if ko and ko >= en and ko >= other:
        return "ko"
    if en and en >= other:
        return "en"
    if not (ko or en or other) and acronyms:
        return "en"
    return "und"


def _counts(text: str) -> tuple[int, int, int, int]:
    """(Korean words, English words, acronyms, words of other scripts)."""
    ko = en = acronyms = other = 0
    for word in _WORD.findall(text):
        if _HANGUL.search(word):
            ko += 1
        elif not _LATIN.search(word):
            other += 1
        elif len(word) > 1 and word.isupper():
            acronyms += 1
        else:
            en += 1
    return ko, en, acronyms, other
