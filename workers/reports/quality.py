"""Automatic checks of a stored report, for ``bench/reports.py`` and the tests: what a reviewer would check.

From the report's Markdown and its stored ``data`` alone (nothing the service kept to itself):

* ``language_ok``: the headings are the report language's, and the Summary and every Risk read as it;
* ``model_narrative``: the Summary is the model's (``data.narrative`` is model or mixed), not the fallback;
* ``unsupported_numbers``: numbers in the Summary and the Risks that appear nowhere in the code-written
  part (title, Price action, Indicators) nor in the risk signals' own sentences, which code writes;
* ``unbacked_risks``: Risk bullets about none of the risk signals the stored figures raise (or, with no
  signal, anything but the plain statement that there is none);
* ``figures_ok``: every Indicators value equals the one formatted from the stored figures;
* ``copied_sentences``: Summary sentences that paste one of the readings the model was given (a list of
  readings is not an analyst's prose).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from inference.language import detect_language
from workers.reports.indicators import Figures
from workers.reports.language import ReportLanguage
from workers.reports.narrative import NUMBER, SENTENCE_END, allowed_numbers, fallback_summary, signals
from workers.reports.render import HEADINGS, indicator_rows
from workers.reports.risks import about, active_signals, no_risk_sentence


@dataclass
class ReportChecks:
    language: ReportLanguage
    language_ok: bool
    model_narrative: bool
    unsupported_numbers: list[str] = field(default_factory=list)
    unbacked_risks: list[str] = field(default_factory=list)
    figures_ok: bool = True
    risks: int = 0
    risk_signals: list[str] = field(default_factory=list)
    summary_sentences: int = 0
    copied_sentences: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "language_ok": self.language_ok,
            "model_narrative": self.model_narrative,
            "unsupported_numbers": self.unsupported_numbers,
            "unbacked_risks": self.unbacked_risks,
            "figures_ok": self.figures_ok,
            "risks": self.risks,
            "risk_signals": self.risk_signals,
            "summary_sentences": self.summary_sentences,
            "copied_sentences": self.copied_sentences,
        }


def sections(markdown: str) -> dict[str, str]:
    """The report's ``##`` sections by heading, and its title under ``"#"``."""
    out: dict[str, str] = {}
    title, _, rest = markdown.partition("\n")
    out["#"] = title.removeprefix("# ")
    for block in ("\n" + rest).split("\n## ")[1:]:
        heading, _, body = block.partition("\n")
        out[heading.strip()] = body.strip()
    return out


def check_report(markdown: str, data: dict[str, Any]) -> ReportChecks:
    language: ReportLanguage = data.get("language", "en")
    h = HEADINGS[language]
    parts = sections(markdown)
    figures = Figures(**data["figures"])
    active = active_signals(figures)
    summary = parts.get(h["summary"], "")
    risks = [line[2:].strip() for line in parts.get(h["risks"], "").splitlines() if line.startswith("- ")]
    wanted = [h[key] for key in ("summary", "price_action", "indicators", "risks", "disclaimer")]
    language_ok = [key for key in parts if key != "#"] == wanted and all(
        detect_language(text) == language for text in [summary, *risks] if text
    )
    code_written = [
        parts["#"],
        parts.get(h["price_action"], ""),
        parts.get(h["indicators"], ""),
        *(signal.sentence[language] for signal in active),
        fallback_summary(data.get("ticker", ""), figures, language),
    ]
    allowed = set(allowed_numbers(code_written))
    unsupported = [
        raw
        for text in [summary, *risks]
        for raw in NUMBER.findall(text)
        if float(raw.replace(",", "")) not in allowed
    ]
    if active:
        unbacked = [risk for risk in risks if not any(about(s, risk, language) for s in active)]
    else:
        unbacked = [risk for risk in risks if risk != no_risk_sentence(language)]
    table: dict[str, str] = {}
    for row in parts.get(h["indicators"], "").splitlines()[2:]:
        name, _, value = row.strip("|").partition("|")
        table[name.strip()] = value.strip()
    expected = dict(indicator_rows(data.get("period", ""), figures, language))
    sentences = [s for s in SENTENCE_END.split(summary) if s.strip()]
    readings = [_plain(line) for line in signals(figures, language)]
    copied = [s for s in sentences if any(reading in _plain(s) for reading in readings)]
    return ReportChecks(
        language=language,
        language_ok=language_ok,
        model_narrative=data.get("narrative") in ("model", "mixed"),
        unsupported_numbers=unsupported,
        unbacked_risks=unbacked,
        figures_ok=table == expected,
        risks=len(risks),
        risk_signals=[signal.code for signal in active],
        summary_sentences=len(sentences),
        copied_sentences=copied,
    )


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text).split()).lower()
