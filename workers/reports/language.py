"""The language of a report: Korean or English, chosen per request, per schedule or by the ticker's market.

Every word of a report is in its language: the headings, the code-written price-action sentences, the
indicator table, the risk sentences, the disclaimer and the model's narrative (checked, see
:mod:`workers.reports.narrative`).
"""

from __future__ import annotations

from typing import Literal

ReportLanguage = Literal["ko", "en"]
# Korea Exchange listings on Yahoo Finance: KOSPI (.KS) and KOSDAQ (.KQ)
KOREAN_SUFFIXES = (".KS", ".KQ")


def default_language(ticker: str, configured: str = "auto") -> ReportLanguage:
    """``configured`` (ko or en) when set, else Korean for a Korean listing and English for the rest."""
    if configured in ("ko", "en"):
        return configured  # type: ignore[return-value]
    return "ko" if ticker.strip().upper().endswith(KOREAN_SUFFIXES) else "en"
