"""Risk signals: which computed figures count as a risk, decided by code before the model writes.

A report's Risks section names only these. The model gets the active signals (in the report's language) and
ties each risk it writes to one of them (the reply's ``signal`` field, an enum in the JSON schema); a risk
sentence is kept only when it is about its signal (:func:`about`: it uses one of the signal's words). A
signal the model left out, or wrote about badly, gets the code-written sentence below. With no active
signal, the report says so plainly instead of inventing one.

The rules (fractions, as :class:`workers.reports.indicators.Figures` holds them):

- ``high_volatility``: annualised volatility of daily log returns >= 30% (broad equity indices run at
  15-20%; above 30% daily swings of 2% and more are ordinary);
- ``deep_drawdown``: the close is 20% or more below its 52-week high (a bear-market-sized fall);
- ``near_52w_low``: the close is within 5% of its 52-week low (and no deep drawdown already says it);
- ``long_downtrend``: the close is below its 200-day average (below the 50-day one when the data is too
  short for the 200-day average);
- ``sharp_fall``: the last month (21 sessions) returned -10% or worse;
- ``overbought`` / ``oversold``: RSI 14 >= 70 / <= 30 (Wilder's zones: a pull-back or a further slide);
- ``selling_pressure``: the last session fell 3% or more on at least 1.5x its 20-day average volume;
- ``thin_volume``: the last session traded at most half its 20-day average volume (trading dries up);
- ``short_history``: the data is too short for the 200-day average or the 52-week range, so the long-run
  picture is unknown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from workers.reports.indicators import Figures
from workers.reports.language import ReportLanguage
from workers.reports.render import fmt_pct, fmt_price

MAX_RISKS = 3  # the Risks section names at most this many signals, most serious first
HIGH_VOLATILITY = 0.30
DEEP_DRAWDOWN = 0.20
NEAR_LOW = 0.05
SHARP_FALL = -0.10
OVERBOUGHT = 70.0
OVERSOLD = 30.0
SELLING_DAY = -0.03
SELLING_VOLUME = 1.5
THIN_VOLUME = 0.5


@dataclass(frozen=True)
class RiskSignal:
    code: str
    # what the figures show, for the prompt (no numbers: the model is not to copy them)
    finding: dict[ReportLanguage, str]
    # the code-written risk sentence (figures formatted here): the fallback and the model's stand-in
    sentence: dict[ReportLanguage, str]

    def words(self, language: ReportLanguage) -> re.Pattern[str]:
        return _WORDS[self.code][language]


# a risk sentence is about its signal when it uses one of these (case-insensitive)
_WORD_LISTS: dict[str, dict[ReportLanguage, str]] = {
    "high_volatility": {"en": r"volatil|swing|fluctuat", "ko": r"변동성|변동|등락|출렁"},
    "deep_drawdown": {"en": r"high|drawdown|decline|fall|fell|below", "ko": r"고점|최고|하락|낙폭"},
    "near_52w_low": {"en": r"\blow|bottom|support", "ko": r"저점|최저|지지"},
    "long_downtrend": {
        "en": r"average|trend|downtrend|below",
        "ko": r"이동평균|평균|추세|하락세|아래|하회",
    },
    "sharp_fall": {"en": r"fall|fell|drop|declin|decrease|down|loss|lost", "ko": r"하락|급락|떨어|내림|손실"},
    "overbought": {
        "en": r"overbought|stretch|pull ?back|correction|rsi|momentum",
        "ko": r"과매수|조정|과열|RSI|모멘텀",
    },
    "oversold": {"en": r"oversold|weak|rsi|momentum|slide|selling", "ko": r"과매도|약세|RSI|모멘텀|매도"},
    "selling_pressure": {"en": r"sell|volume|heavy", "ko": r"매도|거래량|매물"},
    "thin_volume": {"en": r"volume|thin|liquid|trading", "ko": r"거래량|유동성|거래"},
    "short_history": {"en": r"short|history|data|limited|unknown", "ko": r"짧|이력|데이터|자료|부족|제한"},
}
_WORDS = {
    code: {language: re.compile(pattern, re.IGNORECASE) for language, pattern in lists.items()}
    for code, lists in _WORD_LISTS.items()
}
CODES = tuple(_WORD_LISTS)


def rsi_zone(rsi: float) -> str:
    """Wilder's zones of RSI 14: "overbought" (70 and up), "oversold" (30 and down) or "neutral"."""
    return "overbought" if rsi >= OVERBOUGHT else "oversold" if rsi <= OVERSOLD else "neutral"


def active_signals(f: Figures) -> list[RiskSignal]:
    """The signals a report names: the MAX_RISKS most serious of :func:`risk_signals`."""
    return risk_signals(f)[:MAX_RISKS]


def risk_signals(f: Figures) -> list[RiskSignal]:
    """The active risk signals of ``f``, most serious first (see the module docstring for the rules)."""
    found: list[RiskSignal] = []
    if f.volatility is not None and f.volatility >= HIGH_VOLATILITY:
        vol = fmt_pct(f.volatility, signed=False)
        found.append(
            RiskSignal(
                "high_volatility",
                {"en": "Volatility is high.", "ko": "변동성이 높습니다."},
                {
                    "en": f"High volatility: the annualised volatility of daily returns is {vol}, so large "
                    "daily swings are to be expected.",
                    "ko": f"변동성이 높습니다: 일간 수익률의 연율화 변동성이 {vol}로, "
                    "하루에도 큰 폭의 등락이 나타날 수 있습니다.",
                },
            )
        )
    drawdown = None
    if f.high_52w and f.high_52w > 0:
        drawdown = 1 - f.last_close / f.high_52w
    if drawdown is not None and drawdown >= DEEP_DRAWDOWN - 1e-9:  # 1 - 80/100 is 0.19999...96
        below = fmt_pct(drawdown, signed=False)
        found.append(
            RiskSignal(
                "deep_drawdown",
                {
                    "en": "The close is far below its 52-week high.",
                    "ko": "종가가 52주 최고가보다 크게 낮습니다.",
                },
                {
                    "en": f"Deep drawdown: the close is {below} below its 52-week high of "
                    f"{fmt_price(f.high_52w)}.",
                    "ko": f"고점 대비 낙폭이 큽니다: 종가가 52주 최고가 {fmt_price(f.high_52w)}보다 {below} "
                    "낮습니다.",
                },
            )
        )
    elif f.low_52w and f.low_52w > 0 and f.last_close <= f.low_52w * (1 + NEAR_LOW):
        found.append(
            RiskSignal(
                "near_52w_low",
                {"en": "The close is near its 52-week low.", "ko": "종가가 52주 최저가 부근입니다."},
                {
                    "en": "Near the 52-week low: the close is within 5% of the low of "
                    f"{fmt_price(f.low_52w)}; a break below it would mark a new low for the year.",
                    "ko": f"52주 최저가 부근입니다: 종가가 최저가 {fmt_price(f.low_52w)}의 5% 이내에 있어, "
                    "이를 밑돌면 1년 중 최저 수준이 됩니다.",
                },
            )
        )
    long_days, long_average = (200, f.sma_200) if f.sma_200 is not None else (50, f.sma_50)
    if long_average is not None and f.last_close < long_average:
        found.append(
            RiskSignal(
                "long_downtrend",
                {
                    "en": f"The close is below its {long_days}-day average: the longer trend points down.",
                    "ko": f"종가가 {long_days}일 이동평균 아래에 있습니다: 긴 추세가 하락 쪽입니다.",
                },
                {
                    "en": f"Weak trend: the close is below its {long_days}-day average "
                    f"({fmt_price(long_average)}), a sign of a longer downtrend.",
                    "ko": f"추세가 약합니다: 종가가 {long_days}일 이동평균"
                    f"({fmt_price(long_average)}) 아래에 있어 긴 하락 추세를 시사합니다.",
                },
            )
        )
    if f.return_1m is not None and f.return_1m <= SHARP_FALL:
        month = fmt_pct(f.return_1m)
        found.append(
            RiskSignal(
                "sharp_fall",
                {
                    "en": "The price fell sharply over the last month.",
                    "ko": "최근 한 달 동안 가격이 크게 떨어졌습니다.",
                },
                {
                    "en": f"Sharp fall: the price returned {month} over the last month (21 sessions).",
                    "ko": f"최근 급락했습니다: 최근 한 달(21거래일) 수익률이 {month}입니다.",
                },
            )
        )
    zone = rsi_zone(f.rsi_14) if f.rsi_14 is not None else None
    if zone == "overbought":
        rsi = f"{f.rsi_14:.1f}"
        found.append(
            RiskSignal(
                "overbought",
                {"en": "Momentum (RSI 14) is overbought.", "ko": "모멘텀(RSI 14)이 과매수 구간입니다."},
                {
                    "en": f"Overbought momentum: RSI 14 is {rsi}, at or above 70, where rallies often "
                    "pause or pull back.",
                    "ko": f"과매수 구간입니다: RSI 14가 {rsi}로 70 이상이어서 상승이 멈추거나 조정이 올 수 "
                    "있습니다.",
                },
            )
        )
    elif zone == "oversold":
        rsi = f"{f.rsi_14:.1f}"
        found.append(
            RiskSignal(
                "oversold",
                {"en": "Momentum (RSI 14) is oversold.", "ko": "모멘텀(RSI 14)이 과매도 구간입니다."},
                {
                    "en": f"Oversold momentum: RSI 14 is {rsi}, at or below 30, a sign of strong selling "
                    "that may continue.",
                    "ko": f"과매도 구간입니다: RSI 14가 {rsi}로 30 이하여서 "
                    "강한 매도세가 이어질 수 있습니다.",
                },
            )
        )
    ratio = f.volume_ratio_20
    if (
        ratio is not None
        and f.return_1d is not None
        and f.return_1d <= SELLING_DAY
        and ratio >= SELLING_VOLUME
    ):
        day, times = fmt_pct(f.return_1d), f"{ratio:.2f}x"
        found.append(
            RiskSignal(
                "selling_pressure",
                {
                    "en": "The last session fell on heavy volume.",
                    "ko": "최근 거래일에 많은 거래량과 함께 하락했습니다.",
                },
                {
                    "en": f"Selling pressure: the last session returned {day} on {times} its 20-day average "
                    "volume.",
                    "ko": f"매도 압력이 있습니다: 최근 거래일 수익률이 {day}였고 거래량은 20일 평균의 "
                    f"{times}였습니다.",
                },
            )
        )
    elif ratio is not None and ratio <= THIN_VOLUME:
        times = f"{ratio:.2f}x"
        found.append(
            RiskSignal(
                "thin_volume",
                {
                    "en": "Trading volume has dried up.",
                    "ko": "거래량이 크게 줄었습니다.",
                },
                {
                    "en": f"Thin trading: the last session's volume was {times} its 20-day average, so "
                    "prices can move on few trades.",
                    "ko": f"거래가 줄었습니다: 최근 거래일 거래량이 20일 평균의 {times}에 그쳐 적은 거래에도 "
                    "가격이 크게 움직일 수 있습니다.",
                },
            )
        )
    if f.sma_200 is None or f.high_52w is None:
        found.append(
            RiskSignal(
                "short_history",
                {
                    "en": "The data is too short for the long-run figures.",
                    "ko": "데이터가 짧아 장기 지표를 계산할 수 없습니다.",
                },
                {
                    "en": f"Short history: {f.sessions} sessions are too few for the 200-day average or the "
                    "52-week range, so the long-run picture is unknown.",
                    "ko": f"데이터가 짧습니다: {f.sessions}거래일로는 200일 이동평균이나 "
                    "52주 범위를 계산할 수 없어 장기 흐름을 알 수 없습니다.",
                },
            )
        )
    return found


def about(signal: RiskSignal, text: str, language: ReportLanguage) -> bool:
    """Whether a risk sentence speaks of ``signal`` (one of its words)."""
    return bool(signal.words(language).search(text))


def no_risk_sentence(language: ReportLanguage) -> str:
    if language == "ko":
        return (
            "이 수치에는 위험 신호가 없습니다: 변동성, 52주 고점 대비 낙폭, 장기 이동평균, 모멘텀(RSI), "
            "거래량이 모두 정상 범위입니다. 과거 가격만으로 앞으로의 위험을 알 수는 없습니다."
        )
    return (
        "No risk signal in these figures: volatility, the drawdown from the 52-week high, the long moving "
        "average, momentum (RSI) and volume are all within normal ranges. Past prices do not rule out future "
        "risks."
    )
