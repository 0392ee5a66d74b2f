"""The report's Markdown. Every figure in it is formatted here from :class:`Figures`; the model's text only
fills the Summary and Risks sections, as flattened paragraphs and bullets that cannot open a section of
their own.

    # <TICKER> report (<as_of>)              # <TICKER> 리포트 (<as_of>)
    ## Summary          ## 요약          the model's narrative (or the code-written fallback)
    ## Price action     ## 가격 동향     sentences written here from the figures
    ## Indicators       ## 지표          a table of every figure ("n/a", "자료 부족": the data is too short)
    ## Risks            ## 위험 요인     one bullet per risk signal (workers/reports/risks.py), or a plain
                                         statement that the figures show none
    ## Disclaimer       ## 고지 사항     fixed text

Korean reports (``language="ko"``) are Korean throughout; the figures are formatted alike in both.
"""

from __future__ import annotations

from collections.abc import Sequence

from workers.reports.indicators import Figures
from workers.reports.language import ReportLanguage

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


# the English sentences use _direction's and _side's own words; Korean ones these
_KO_DIRECTION = {"up": "상승", "down": "하락", "unchanged": "보합"}
_KO_SIDE = {"above": "위", "below": "아래", "at": "같은 수준"}
HEADINGS: dict[ReportLanguage, dict[str, str]] = {
    "en": {
        "title": "report",
        "summary": "Summary",
        "price_action": "Price action",
        "indicators": "Indicators",
        "indicator": "Indicator",
        "value": "Value",
        "risks": "Risks",
        "disclaimer": "Disclaimer",
    },
    "ko": {
        "title": "리포트",
        "summary": "요약",
        "price_action": "가격 동향",
        "indicators": "지표",
        "indicator": "지표",
        "value": "값",
        "risks": "위험 요인",
        "disclaimer": "고지 사항",
    },
}
DISCLAIMERS: dict[ReportLanguage, str] = {
    "en": DISCLAIMER,
    "ko": (
        "이 리포트는 자동으로 생성되었습니다. 모든 수치는 리포트 데이터에 적힌 "
        "시장 데이터로부터 소프트웨어가 계산했고, 요약과 위험 요인은 언어 모델이 "
        "그 수치를 바탕으로 썼습니다(모델의 글을 쓸 수 없을 때는 코드가 썼습니다). "
        "내용이 불완전하거나 틀릴 수 있습니다. 투자 조언이 아니며 어떤 증권의 매수나 "
        "매도를 권하는 것도 아닙니다. 과거의 성과가 미래의 수익을 보장하지 않습니다."
    ),
}
_NA = {"en": NA, "ko": "자료 부족"}


def _direction(value: float | None) -> str:
    if value is None:
        return "unchanged"
    return "up" if value > 0 else "down" if value < 0 else "unchanged"


def _side(close: float, value: float) -> str:
    return "above" if close > value else "below" if close < value else "at"


def price_action(ticker: str, period: str, f: Figures, language: ReportLanguage = "en") -> list[str]:
    """The Price action bullets, written from the figures."""
    if language == "ko":
        return _price_action_ko(ticker, period, f)
    lines: list[str] = []
    if f.return_1d is None or f.change_1d is None:
        lines.append(f"{ticker} closed at {fmt_price(f.last_close)} on {f.as_of}.")
    else:
        lines.append(
            f"{ticker} closed at {fmt_price(f.last_close)} on {f.as_of}, {_direction(f.return_1d)} "
            f"{fmt_pct(abs(f.return_1d), signed=False)} ({_change(f.change_1d)}) on the day."
        )
    lines.append(
        f"Returns: 1 week {fmt_pct(f.return_1w)}, 1 month {fmt_pct(f.return_1m)}, year to date "
        f"{fmt_pct(f.return_ytd)}, over the period ({period}, {f.sessions} sessions from {f.first_date}) "
        f"{fmt_pct(f.return_period)}."
    )
    averages = [
        f"{_side(f.last_close, value)} its {n}-day average ({fmt_price(value)})" for n, value in _averages(f)
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


def _price_action_ko(ticker: str, period: str, f: Figures) -> list[str]:
    lines: list[str] = []
    if f.return_1d is None or f.change_1d is None:
        lines.append(f"{ticker}의 {f.as_of} 종가는 {fmt_price(f.last_close)}입니다.")
    else:
        lines.append(
            f"{ticker}의 {f.as_of} 종가는 {fmt_price(f.last_close)}로, 전일 대비 "
            f"{fmt_pct(abs(f.return_1d), signed=False)} {_KO_DIRECTION[_direction(f.return_1d)]}"
            f"({_change(f.change_1d)})했습니다."
        )
    lines.append(
        f"수익률: 1주 {fmt_pct(f.return_1w)}, 1개월 {fmt_pct(f.return_1m)}, "
        f"연초 대비 {fmt_pct(f.return_ytd)}, "
        f"기간 전체({period}, {f.first_date}부터 {f.sessions}거래일) {fmt_pct(f.return_period)}."
    )
    averages = [
        f"{n}일 이동평균({fmt_price(value)}) {_KO_SIDE[_side(f.last_close, value)]}"
        for n, value in _averages(f)
    ]
    if averages:
        lines.append("종가는 " + ", ".join(averages) + "에 있습니다.")
    else:
        lines.append("데이터가 짧아 이동평균을 계산할 수 없습니다.")
    if f.high_52w is None or f.low_52w is None:
        lines.append("52주 범위: 자료 부족(데이터가 52주보다 짧습니다).")
    elif f.high_52w > 0 and f.low_52w > 0:
        lines.append(
            f"52주 범위: {fmt_price(f.low_52w)} ~ {fmt_price(f.high_52w)}. 종가는 최고가보다 "
            f"{fmt_pct(1 - f.last_close / f.high_52w, signed=False)} 낮고 최저가보다 "
            f"{fmt_pct(f.last_close / f.low_52w - 1, signed=False)} 높습니다."
        )
    else:
        lines.append(f"52주 범위: {fmt_price(f.low_52w)} ~ {fmt_price(f.high_52w)}.")
    if f.volume_ratio_20 is not None:
        lines.append(
            f"거래량은 {fmt_volume(f.last_volume)}로 20일 평균({fmt_volume(f.avg_volume_20)})의 "
            f"{fmt_ratio(f.volume_ratio_20)}였습니다."
        )
    return lines


def _change(change: float) -> str:
    return f"{change:+,.2f}" if abs(change) >= 0.01 else f"{change:+.4f}"


def _averages(f: Figures) -> list[tuple[int, float]]:
    pairs = ((20, f.sma_20), (50, f.sma_50), (200, f.sma_200))
    return [(n, value) for n, value in pairs if value is not None]


_ROW_NAMES: dict[ReportLanguage, tuple[str, ...]] = {
    "en": (
        "Last close",
        "Previous close",
        "Return 1 day",
        "Return 1 week (5 sessions)",
        "Return 1 month (21 sessions)",
        "Return year to date",
        "Return over the period ({period})",
        "SMA 20",
        "SMA 50",
        "SMA 200",
        "RSI 14 (Wilder)",
        "Volatility (annualised, daily log returns)",
        "52-week high",
        "52-week low",
        "Volume (last session)",
        "Volume 20-day average",
        "Volume / 20-day average",
    ),
    "ko": (
        "종가",
        "전일 종가",
        "1일 수익률",
        "1주 수익률 (5거래일)",
        "1개월 수익률 (21거래일)",
        "연초 대비 수익률",
        "기간 수익률 ({period})",
        "20일 이동평균",
        "50일 이동평균",
        "200일 이동평균",
        "RSI 14 (와일더)",
        "변동성 (연율화, 일간 로그 수익률)",
        "52주 최고가",
        "52주 최저가",
        "거래량 (최근 거래일)",
        "20일 평균 거래량",
        "거래량 / 20일 평균",
    ),
}


def indicator_rows(period: str, f: Figures, language: ReportLanguage = "en") -> list[tuple[str, str]]:
    values = (
        fmt_price(f.last_close),
        fmt_price(f.previous_close),
        fmt_pct(f.return_1d),
        fmt_pct(f.return_1w),
        fmt_pct(f.return_1m),
        fmt_pct(f.return_ytd),
        fmt_pct(f.return_period),
        fmt_price(f.sma_20),
        fmt_price(f.sma_50),
        fmt_price(f.sma_200),
        fmt_number(f.rsi_14),
        fmt_pct(f.volatility, signed=False),
        fmt_price(f.high_52w),
        fmt_price(f.low_52w),
        fmt_volume(f.last_volume),
        fmt_volume(f.avg_volume_20),
        fmt_ratio(f.volume_ratio_20),
    )
    na = _NA[language]
    return [
        (name.format(period=period), na if value == NA else value)
        for name, value in zip(_ROW_NAMES[language], values, strict=True)
    ]


def figures_for_prompt(ticker: str, period: str, f: Figures, language: ReportLanguage = "en") -> str:
    """The figures as the model sees them: the same formatted values as the table."""
    lines = [f"- {name}: {value}" for name, value in indicator_rows(period, f, language)]
    if language == "ko":
        return "\n".join([f"- 종목: {ticker}", f"- 마지막 종가 날짜: {f.as_of}", *lines])
    return "\n".join([f"- Ticker: {ticker}", f"- Date of the last close: {f.as_of}", *lines])


def render_report(
    ticker: str,
    period: str,
    f: Figures,
    summary: str,
    risks: Sequence[str],
    language: ReportLanguage = "en",
) -> str:
    h = HEADINGS[language]
    rows = "\n".join(f"| {name} | {value} |" for name, value in indicator_rows(period, f, language))
    bullets = "\n".join(f"- {_flatten(risk)}" for risk in risks)
    actions = "\n".join(f"- {line}" for line in price_action(ticker, period, f, language))
    return (
        f"# {ticker} {h['title']} ({f.as_of})\n\n"
        f"## {h['summary']}\n\n{_flatten(summary)}\n\n"
        f"## {h['price_action']}\n\n{actions}\n\n"
        f"## {h['indicators']}\n\n| {h['indicator']} | {h['value']} |\n|---|---|\n{rows}\n\n"
        f"## {h['risks']}\n\n{bullets}\n\n"
        f"## {h['disclaimer']}\n\n{DISCLAIMERS[language]}\n"
    )


def _flatten(text: str) -> str:
    """One paragraph that cannot open a heading, list, quote, table or HTML block of its own."""
    return " ".join(text.split()).lstrip("#>*+-|=` ").replace("<", "&lt;")


def _join(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
