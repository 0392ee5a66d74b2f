"""inference.language: one rule for Korean or English, in words, blind to code, acronyms and quotes."""

from __future__ import annotations

import pytest

from inference.language import detect_language, has_hangul


@pytest.mark.parametrize(
    "text",
    [
        "의료비 세액공제를 받으려면 영수증이 필요합니다",
        "Hearth의 AI 서비스 설정 방법",
        "연말정산 의료비 세액공제 (medical expenses)",
        "IRP와 ETF의 세액공제 한도는 얼마인가요?",
        "ETF IRP ISA 계좌 비교",  # acronyms say nothing: the two Korean words decide
        "Docker 설치",  # a tie goes to Korean
        '"Annual leave policy" 문서에서 연차 일수를 찾아줘',  # the quoted English title does not count
        "다음 코드는 `for item in items: print(item)` 를 실행합니다",  # nor does code
        "월세 세액공제율은 17%인가요? https://www.nts.go.kr/nts/main.do 참고",
        "ㅋㅋㅋ 진짜요?",
        "「의료비 세액공제」",  # nothing but a quote: the quote itself decides
    ],
)
def test_korean(text: str) -> None:
    assert detect_language(text) == "ko"


@pytest.mark.parametrize(
    "text",
    [
        "What is the capital of France?",
        "Annual leave policy",
        "What does 연말정산 mean?",  # one Korean word in an English question
        "What is 연말정산?",
        'The deduction is called "의료비 세액공제" on the form.',  # a quoted Korean term
        "Ask for “연말정산 간소화 서비스 자료”.",
        "Year-end tax settlement (연말정산) is filed in January with the employer.",
        "Run `echo 안녕하세요 세계` in a terminal to print a greeting.",
        'The passage says: "의료비는 총급여액의 3%를 초과하는 금액에 대해 15%를 공제합니다." So you can '
        "deduct 15% of the medical costs above 3% of your salary.",
        "ETF",  # acronyms alone are written in Latin letters
    ],
)
def test_english(text: str) -> None:
    assert detect_language(text) == "en"


@pytest.mark.parametrize("text", ["", "12345 !!!", "12345 %%%", "```\nprint(1)\n```", "東京は日本の首都です"])
def test_undetermined(text: str) -> None:
    assert detect_language(text) == "und"


def test_has_hangul() -> None:
    assert has_hangul("Hearth의") and has_hangul("ㅋㅋ") and has_hangul("\u1100")
    assert not has_hangul("Hearth 12345 東京")
