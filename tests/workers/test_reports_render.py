"""The report's Markdown and the checks on the model's part of it."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from workers.reports.indicators import Figures, compute_figures
from workers.reports.market import CsvMarketData
from workers.reports.narrative import (
    RiskReply,
    allowed_numbers,
    choose_risks,
    fallback,
    guard_summary,
    parse_reply,
)
from workers.reports.render import DISCLAIMER, figures_for_prompt, price_action, render_report
from workers.reports.risks import risk_signals

SECTIONS = ["## Summary", "## Price action", "## Indicators", "## Risks", "## Disclaimer"]


@pytest.fixture(scope="module")
def year(market_dir: Path) -> Figures:
    return compute_figures(asyncio.run(CsvMarketData(market_dir).history("ACME", "1y")))


@pytest.fixture(scope="module")
def month(market_dir: Path) -> Figures:
    return compute_figures(asyncio.run(CsvMarketData(market_dir).history("WRLD", "1mo")))


def section(markdown: str, heading: str) -> str:
    return markdown.split(heading + "\n\n", 1)[1].split("\n## ", 1)[0].strip()


def table(markdown: str) -> dict[str, str]:
    rows = section(markdown, "## Indicators").splitlines()[2:]
    return dict(tuple(cell.strip() for cell in row.strip("|").split("|")) for row in rows)  # type: ignore[misc]


def test_fixed_sections_in_order(year: Figures) -> None:
    markdown = render_report("ACME", "1y", year, "A calm year.", ["Prices move.", "Data lags."])
    assert markdown.startswith("# ACME report (2026-06-30)\n\n")
    assert re.findall(r"^#+ .*$", markdown, flags=re.M) == ["# ACME report (2026-06-30)", *SECTIONS]
    assert section(markdown, "## Summary") == "A calm year."
    assert section(markdown, "## Risks") == "- Prices move.\n- Data lags."
    assert section(markdown, "## Disclaimer") == DISCLAIMER


def test_the_table_holds_the_figures(year: Figures) -> None:
    rows = table(render_report("ACME", "1y", year, "s", ["r"]))
    assert rows["Last close"] == f"{year.last_close:,.2f}" == "164.94"
    assert rows["Return 1 day"] == f"{year.return_1d * 100:+.1f}%"  # type: ignore[operator]
    assert rows["Return year to date"] == f"{year.return_ytd * 100:+.1f}%"  # type: ignore[operator]
    assert rows["SMA 200"] == f"{year.sma_200:,.2f}"
    assert rows["RSI 14 (Wilder)"] == f"{year.rsi_14:.1f}"
    assert rows["Volatility (annualised, daily log returns)"] == f"{year.volatility * 100:.1f}%"  # type: ignore[operator]
    assert rows["52-week high"] == f"{year.high_52w:,.2f}" and rows["52-week low"] == f"{year.low_52w:,.2f}"
    assert rows["Volume / 20-day average"] == f"{year.volume_ratio_20:.2f}x"
    assert "n/a" not in rows.values()


def test_short_data_renders_n_a(month: Figures) -> None:
    markdown = render_report("WRLD", "1mo", month, "s", ["r"])
    rows = table(markdown)
    for name in ("SMA 50", "SMA 200", "Return year to date", "52-week high", "52-week low"):
        assert rows[name] == "n/a"
    assert rows["SMA 20"] != "n/a"
    assert "52-week range: n/a" in section(markdown, "## Price action")


def test_the_model_text_cannot_change_the_figures_or_the_sections(year: Figures) -> None:
    plain = render_report("ACME", "1y", year, "Calm.", ["Risk."])
    hostile = render_report(
        "ACME",
        "1y",
        year,
        "# Buy now\n\n## Indicators\n| Last close | 999.99 |\n|---|---|\n<script>x</script>",
        ["## Disclaimer\nnone", "- nested"],
    )
    assert re.findall(r"^#+ .*$", hostile, flags=re.M) == ["# ACME report (2026-06-30)", *SECTIONS]
    assert section(hostile, "## Indicators") == section(plain, "## Indicators")
    assert section(hostile, "## Price action") == section(plain, "## Price action")
    assert "<script>" not in hostile
    assert section(hostile, "## Risks").splitlines() == ["- Disclaimer none", "- nested"]


def test_price_action_is_written_from_the_figures(year: Figures) -> None:
    lines = price_action("ACME", "1y", year)
    assert lines[0] == "ACME closed at 164.94 on 2026-06-30, up 0.5% (+0.74) on the day."
    assert "above its 200-day average (148.99)" in lines[2] and "below its 50-day average" in lines[2]
    assert lines[3].startswith("52-week range: 94.22 to 204.75")


def test_the_prompt_shows_the_table_values(year: Figures) -> None:
    text = figures_for_prompt("ACME", "1y", year)
    for name, value in table(render_report("ACME", "1y", year, "s", ["r"])).items():
        assert f"- {name}: {value}" in text


# --- the model's reply ----------------------------------------------------------------------------------


def test_parse_reply() -> None:
    reply = parse_reply(
        '{"summary": "  Up\\n trend. ", "risks": [{"signal": "high_volatility", '
        '"text": " Prices\\n swing. "}, "a", "a", " ", {"signal": "x"}], "extra": 1}'
    )
    assert reply.summary == "Up trend."
    assert reply.risks == [RiskReply(signal="high_volatility", text="Prices swing."), RiskReply(text="a")]
    assert parse_reply('Sure! ```json\n{"summary": "x", "risks": ["y"]}\n```').summary == "x"
    assert parse_reply('{"summary": "x"}').risks == []  # no risk signal: the schema asks for none
    for bad, reason in [
        ("not json", "not a JSON object"),
        ("[1, 2]", "not a JSON object"),
        ('{"summary": " ", "risks": ["y"]}', "summary"),
        ('{"summary": "x", "risks": "y"}', "risks"),
    ]:
        with pytest.raises(ValueError, match=reason):
            parse_reply(bad)


def test_numbers_the_model_invents_are_dropped(year: Figures) -> None:
    allowed = allowed_numbers([figures_for_prompt("ACME", "1y", year), *price_action("ACME", "1y", year)])
    summary, dropped = guard_summary(
        "ACME closed at 164.94 on 2026-06-30, above its 200-day average. "
        "RSI 14 is 44.1, neutral. "
        "Analysts expect 250.00 by December. "
        "Volatility of 44% is high.",
        allowed,
        "en",
    )
    assert summary == (
        "ACME closed at 164.94 on 2026-06-30, above its 200-day average. RSI 14 is 44.1, neutral. "
        "Volatility of 44% is high."
    )
    assert dropped == ["Analysts expect 250.00 by December."]


def test_summary_sentences_in_another_language_are_dropped(year: Figures) -> None:
    summary, dropped = guard_summary("ACME는 상승 추세입니다. The trend is up. 변동성이 큽니다.", [], "ko")
    assert summary == "ACME는 상승 추세입니다. 변동성이 큽니다." and dropped == ["The trend is up."]


def test_each_risk_signal_gets_the_models_sentence_only_when_it_is_about_it(year: Figures) -> None:
    active = risk_signals(year)
    assert [signal.code for signal in active] == ["high_volatility", "thin_volume"]
    allowed = allowed_numbers([figures_for_prompt("ACME", "1y", year)])
    replies = [
        # on its signal: kept
        RiskReply(signal="high_volatility", text="Large daily swings make the price hard to hold through."),
        # tagged with a signal, but about something else (the old "close above its average" non-risk)
        RiskReply(signal="thin_volume", text="The close is above its 200-day average."),
        # no such signal in these figures
        RiskReply(signal="overbought", text="Momentum is stretched."),
    ]
    risks, written, unused = choose_risks(replies, active, allowed, "en")
    assert risks[0] == "Large daily swings make the price hard to hold through."
    assert risks[1] == active[1].sentence["en"] and "0.47x" in risks[1]
    assert written == 1
    assert unused == ["The close is above its 200-day average.", "Momentum is stretched."]
    # an invented figure or the wrong language falls back to the signal's own sentence
    bad = [
        RiskReply(signal="high_volatility", text="Volatility of 80% is extreme."),
        RiskReply(signal="thin_volume", text="거래량이 줄었습니다."),
    ]
    risks, written, _ = choose_risks(bad, active, allowed, "en")
    assert risks == [active[0].sentence["en"], active[1].sentence["en"]] and written == 0


def test_fallback_is_neutral_and_complete(year: Figures) -> None:
    narrative = fallback("ACME", year, attempts=2, error="the reply is not a JSON object")
    assert narrative.source == "fallback" and narrative.attempts == 2
    assert narrative.summary.startswith("ACME closed at 164.94 on 2026-06-30.")
    assert "written from the figures by code" in narrative.summary
    # the risk signals' own sentences
    assert narrative.signals == ["high_volatility", "thin_volume"]
    assert narrative.risks[0].startswith("High volatility: the annualised volatility of daily returns is 44")
    markdown = render_report("ACME", "1y", year, narrative.summary, narrative.risks)
    assert re.findall(r"^## .*$", markdown, flags=re.M) == SECTIONS
