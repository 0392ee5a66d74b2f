"""The summary checks (copy rate, near-duplicates, fragments, coverage, numbers) and the repair rules."""

from __future__ import annotations

from indexing.summary_quality import (
    check_summary,
    copy_rate,
    coverage,
    heading_terms,
    is_sentence,
    near_duplicates,
    stray_characters,
    supported_sentences,
    usable_points,
)

SOURCE_EN = (
    "Annual leave at Hearth Labs follows the calendar year. Every employee receives 15 days of paid leave "
    "in the first year, and one more day for every two years of service, up to 25 days. Unused days expire "
    "on 31 March of the next year unless a manager approves a carry-over of at most 5 days."
)
SOURCE_KO = (
    "월세 세액공제는 무주택 세대주가 낸 월세의 일부를 세액에서 빼 주는 제도입니다. 총급여 5,500만원 이하이면 "
    "월세액의 17%를, 8,000만원 이하이면 15%를 공제하며, 연간 한도는 1,000만원입니다."
)


def test_copy_rate_counts_only_long_verbatim_runs() -> None:
    pasted = "Every employee receives 15 days of paid leave in the first year, and one more day."
    assert copy_rate(pasted, SOURCE_EN, "en") > 0.8
    written = "Staff start with fifteen paid days a year, rising with service to a cap of 25."
    assert copy_rate(written, SOURCE_EN, "en") == 0.0
    # seven words in a row are not a pasted span in English (eight are)
    assert copy_rate("So every employee receives 15 days of paid vacation.", SOURCE_EN, "en") == 0.0
    # Korean words carry particles: five in a row is already a pasted clause
    assert copy_rate("무주택 세대주가 낸 월세의 일부를 세액에서 빼 줍니다.", SOURCE_KO, "ko") > 0.5
    assert copy_rate("집이 없는 세대주는 월세 일부를 돌려받습니다.", SOURCE_KO, "ko") == 0.0
    assert copy_rate("짧은 글", SOURCE_KO, "ko") == 0.0


def test_near_duplicates_catch_repeats_and_contained_points() -> None:
    points = [
        "월세 세액공제율은 17%입니다.",
        "교육비 세액공제는 대학생 한 명에 900만원까지입니다.",
        "월세 세액공제율은 17%입니다.",  # word for word
        "Unused leave expires on 31 March.",
        "Unused leave expires on 31 March of the next year.",  # the earlier one, extended
    ]
    assert near_duplicates(points) == [(0, 2), (3, 4)]
    assert near_duplicates(["Leave is 15 days.", "Expenses are filed in Ledger."]) == []


def test_fragments_are_not_sentences() -> None:
    assert not is_sentence("한도의 소득 기준", "ko")
    assert not is_sentence("월세 세액공제율 17%", "ko")
    assert is_sentence("월세 세액공제율은 총급여에 따라 15% 또는 17%입니다.", "ko")
    assert is_sentence("연간 한도는 1,000만원임", "ko")
    assert is_sentence("Unused days expire on 31 March.", "en")
    assert not is_sentence("Annual leave days", "en")
    assert not is_sentence("Leave.", "en")


def test_coverage_uses_each_headings_own_words() -> None:
    headings = [
        "보험료 세액공제",
        "의료비 세액공제",
        "연말정산 준비 순서",
        "1. Annual leave",
        "2. Sick leave",
    ]
    terms = heading_terms(headings)
    assert terms[0] == ["보험료"] and terms[1] == ["의료비"]  # 세액공제 is every section's word
    assert terms[3] == ["annual"] and terms[4] == ["sick"]
    assert coverage("보험료는 12%를 공제하고 의료비는 15%입니다. Sick days are paid.", headings) == [
        True,
        True,
        False,
        False,
        True,
    ]


def test_check_summary_reports_every_finding() -> None:
    result = {
        "title": "연차와 월세",
        "language": "ko",
        "summary": (
            "월세 세액공제는 무주택 세대주가 낸 월세의 일부를 세액에서 빼 주는 제도입니다. "
            "한도는 300만원입니다."
        ),
        "key_points": ["한도의 소득 기준", "공제율은 17%입니다.", "공제율은 17%입니다."],
        "sections": [
            {"heading": "월세", "summary": "집이 없는 세대주가 돌려받는 세금입니다.", "first_page": 1}
        ],
    }
    checks = check_summary(result, SOURCE_KO, ["월세 세액공제", "연차휴가"])
    assert checks.unsupported_numbers == ["300"]
    assert checks.duplicate_points == ["공제율은 17%입니다."]
    assert checks.fragments == ["한도의 소득 기준"]
    assert 0.3 < checks.copy_rate < 0.8
    assert checks.coverage == 0.5 and checks.uncovered == ["연차휴가"]
    assert checks.language_ok
    english = dict(result, summary="The rent credit is 17 percent.")
    assert not check_summary(english, SOURCE_KO).language_ok


def test_repair_drops_unsupported_sentences_fragments_and_repeats() -> None:
    text = "공제율은 17%입니다. 한도는 300만원입니다. 무주택 세대주가 대상입니다."
    assert supported_sentences(text, SOURCE_KO) == "공제율은 17%입니다. 무주택 세대주가 대상입니다."
    points = [
        "한도의 소득 기준",
        "총급여 5,500만원 이하면 17%를 공제합니다.",
        "총급여 5,500만원 이하이면 17%를 공제합니다.",
        "연간 한도는 2,000만원입니다.",
        "연간 한도는 1,000만원입니다.",
    ]
    assert usable_points(points, SOURCE_KO, "ko") == [points[1], points[4]]


def test_a_slip_into_another_script_is_found_and_dropped() -> None:
    source = "하루 8시간, 월요일부터 금요일까지 근무합니다. 「所得稅法」을 따릅니다."
    text = "하루 8小时を 근무합니다. 주 5일 근무합니다. 「所得稅法」을 따릅니다."
    assert stray_characters(text, source) == ["を", "小", "时"]
    assert supported_sentences(text, source) == "「所得稅法」을 따릅니다."  # 5 is not in the source either


def test_a_last_sentence_cut_off_is_dropped() -> None:
    source = "Leave is 15 days a year."
    assert supported_sentences("Leave is 15 days a year. It covers the company'", source) == (
        "Leave is 15 days a year."
    )
    assert (
        supported_sentences("연차는 15일입니다. 내용은 근무 시간 등에 대한 내용을 포\ufffd", source)
        == "연차는 15일입니다."
    )
    assert supported_sentences("Leave is generous", source) == "Leave is generous"  # nothing whole before it
