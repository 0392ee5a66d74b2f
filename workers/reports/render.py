"""The report's Markdown. Every figure in it is formatted here from :class:`Figures`; the model's text only
fills the Summary and Risks sections, as flattened paragraphs and bullets that cannot open a section of
their own.

    # <TICKER> report (<as_of>)
    ## Summary          the model's narrative (or the code-written fallback)
    ## Price action     sentences written here from the figures
    ## Indicators       a table of every figure ("n/a" where the data is too short)
    ## Risks            the model's bullets (or the fallback's)
    ## Disclaimer       fixed text
"""

from __future__ import annotations

from collections.abc import Sequence

from workers.reports.indicators import Figures

DISCLAIMER = (
    "This report was generated automatically. Every figure in it was computed by software from the market "
    "data named in the report's data; the Summary and Risks were written by a language model from those "
    "figures (or by code, when the model's text could not be used) and may be incomplete or wrong. It is "
    "not investment advice, an offer or a recommendation to buy or sell any security. Past performance "
    "does not predict future results."
)

NA = "n/a"


def fmt_price(value: float | None) -> str:
    if value is None:
        return NA
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.4f}"


def fmt_pct(value: float | None, signed: bool = True) -> str:
    """A fraction as a percentage with one decimal: 0.0123 → "+1.2%"."""
    if value is None:
        return NA
    return f"{value * 100:+.1f}%" if signed else f"{value * 100:.1f}%"


def fmt_number(value: float | None, decimals: int = 1) -> str:
    return NA if value is None else f"{value:,.{decimals}f}"


def fmt_volume(value: float | None) -> str:
    return NA if value is None else f"{value:,.0f}"


def fmt_ratio(value: float | None) -> str:
    return NA if value is None else f"{value:.2f}x"


def _direction(value: float | None) -> str:
    if value is None:
        return "unchanged"
    return "up" if value > 0 else "down" if value < 0 else "unchanged"


def price_action(ticker: str, period: str, f: Figures) -> list[str]:
    """The Price action bullets, written from the figures."""
    lines: list[str] = []
    if f.return_1d is None or f.change_1d is None:
        lines.append(f"{ticker} closed at {fmt_price(f.last_close)} on {f.as_of}.")
    else:
        change = f"{f.change_1d:+,.2f}" if abs(f.change_1d) >= 0.01 else f"{f.change_1d:+.4f}"
        lines.append(
            f"{ticker} closed at {fmt_price(f.last_close)} on {f.as_of}, {_direction(f.return_1d)} "
            f"{fmt_pct(abs(f.return_1d), signed=False)} ({change}) on the day."
        )
    lines.append(
        f"Returns: 1 week {fmt_pct(f.return_1w)}, 1 month {fmt_pct(f.return_1m)}, year to date "
        f"{fmt_pct(f.return_ytd)}, over the period ({period}, {f.sessions} sessions from {f.first_date}) "
        f"{fmt_pct(f.return_period)}."
    )
    averages = [
        f"{'above' if f.last_close > value else 'below' if f.last_close < value else 'at'} its {n}-day "
        f"average ({fmt_price(value)})"
        for n, value in ((20, f.sma_20), (50, f.sma_50), (200, f.sma_200))
        if value is not None
    ]
    if averages:
        lines.append("The close is " + _join(averages) + ".")
    else:
        lines.append("The data is too short for moving averages.")
    if f.high_52w is None or f.low_52w is None:
        lines.append("52-week range: n/a (the data covers less than 52 weeks).")
    elif f.high_52w > 0 and f.low_52w > 0:
        lines.append(
            f"52-week range: {fmt_price(f.low_52w)} to {fmt_price(f.high_52w)}; the close is "
            f"{fmt_pct(1 - f.last_close / f.high_52w, signed=False)} below the high and "
            f"{fmt_pct(f.last_close / f.low_52w - 1, signed=False)} above the low."
        )
    else:  # a source with zero lows: no percentages of it
        lines.append(f"52-week range: {fmt_price(f.low_52w)} to {fmt_price(f.high_52w)}.")
    if f.volume_ratio_20 is not None:
        lines.append(
            f"Volume of {fmt_volume(f.last_volume)} was {fmt_ratio(f.volume_ratio_20)} its 20-day average "
            f"({fmt_volume(f.avg_volume_20)})."
        )
    return lines


def indicator_rows(period: str, f: Figures) -> list[tuple[str, str]]:
    return [
        ("Last close", fmt_price(f.last_close)),
        ("Previous close", fmt_price(f.previous_close)),
        ("Return 1 day", fmt_pct(f.return_1d)),
        ("Return 1 week (5 sessions)", fmt_pct(f.return_1w)),
        ("Return 1 month (21 sessions)", fmt_pct(f.return_1m)),
        ("Return year to date", fmt_pct(f.return_ytd)),
        (f"Return over the period ({period})", fmt_pct(f.return_period)),
        ("SMA 20", fmt_price(f.sma_20)),
        ("SMA 50", fmt_price(f.sma_50)),
        ("SMA 200", fmt_price(f.sma_200)),
        ("RSI 14 (Wilder)", fmt_number(f.rsi_14)),
        ("Volatility (annualised, daily log returns)", fmt_pct(f.volatility, signed=False)),
        ("52-week high", fmt_price(f.high_52w)),
        ("52-week low", fmt_price(f.low_52w)),
        ("Volume (last session)", fmt_volume(f.last_volume)),
        ("Volume 20-day average", fmt_volume(f.avg_volume_20)),
        ("Volume / 20-day average", fmt_ratio(f.volume_ratio_20)),
    ]


def figures_for_prompt(ticker: str, period: str, f: Figures) -> str:
    """The figures as the model sees them: the same formatted values as the table."""
    lines = [f"- {name}: {value}" for name, value in indicator_rows(period, f)]
    return "\n".join([f"- Ticker: {ticker}", f"- Date of the last close: {f.as_of}", *lines])


def render_report(ticker: str, period: str, f: Figures, summary: str, risks: Sequence[str]) -> str:
    rows = "\n".join(f"| {name} | {value} |" for name, value in indicator_rows(period, f))
    bullets = "\n".join(f"- {_flatten(risk)}" for risk in risks)
    return (
        f"# {ticker} report ({f.as_of})\n\n"
        f"## Summary\n\n{_flatten(summary)}\n\n"
        "## Price action\n\n" + "\n".join(f"- {line}" for line in price_action(ticker, period, f)) + "\n\n"
        "## Indicators\n\n| Indicator | Value |\n|---|---|\n" + rows + "\n\n"
        f"## Risks\n\n{bullets}\n\n"
        f"## Disclaimer\n\n{DISCLAIMER}\n"
    )


def _flatten(text: str) -> str:
    """One paragraph that cannot open a heading, list, quote, table or HTML block of its own."""
    return " ".join(text.split()).lstrip("#>*+-|=` ").replace("<", "&lt;")


def _join(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
