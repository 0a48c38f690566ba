"""Knowledge-base content as trainers write it: the checks an import runs, and the file round
trip (XLSX, CSV, YAML) that must change nothing."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import Workbook

from bot.errors import ImportFileError
from bot.faq.content import MAX_ANSWER, Attachment, EntryContent, check
from bot.faq.files import read_file, write_file
from bot.i18n import translator

DEV_KB = Path(__file__).resolve().parents[3] / "shared" / "eval" / "faq" / "dev_kb.yaml"
LOGIN = EntryContent(
    key="oa-login",
    question="第一次登录OA用什么密码？",
    alternatives=("OA初始密码在哪里看", "首次登录OA"),
    answer="<b>账号</b>是工号，初始密码见短信。",
    category="登录",
    tags=("OA", "密码"),
    follow_ups=("oa-reset",),
)
RESET = EntryContent(
    key="oa-reset",
    question="忘记OA密码怎么办？",
    answer="在登录页点“忘记密码”。\n=不是公式\n-也不是",
    alternatives=("OA密码忘了", "+86 手机收不到验证码"),
    attachments=(
        Attachment("密码重置指南.pdf", "BQACAgUAAxkBAAIBQ2X_reset-guide"),
        Attachment("账号申请表 (2026).docx", "BQACAgUAAxkBAAIBRGX_form_2026"),
    ),
)


def codes(entries: list[EntryContent]) -> list[tuple[int, str]]:
    return [(p.line, p.code) for p in check(entries).problems]


def test_a_clean_set_passes() -> None:
    checked = check([LOGIN, RESET])
    assert checked.ok and checked.lines == (1, 2)


def test_every_problem_is_named_with_its_line_and_nothing_passes() -> None:
    dup_traditional = EntryContent(key="x", question="忘記OA密碼怎麼辦？", answer="答")
    problems = codes(
        [
            LOGIN,
            RESET,
            dup_traditional,  # the same question as RESET once Traditional is folded
            EntryContent(key="oa-reset", question="另一个", answer="答"),
            EntryContent(key="Bad Key!", question="问", answer=""),
            EntryContent(key="long", question="问题甲", answer="字" * (MAX_ANSWER + 1)),
            EntryContent(key="html", question="问题乙", answer="<b>没关上"),
            EntryContent(key="follow", question="问题丙", answer="答", follow_ups=("nowhere",)),
            EntryContent(key="lang", question="问题丁", answer="答", locale="fr"),
        ]
    )
    assert problems == [
        (3, "duplicate_phrasing"),
        (4, "duplicate_key"),
        (5, "bad_key"),
        (5, "empty_answer"),
        (6, "long_answer"),
        (7, "bad_html"),
        (8, "broken_follow_up"),
        (9, "bad_locale"),
    ]


def test_problems_read_well_in_both_languages() -> None:
    entries = [LOGIN, RESET, EntryContent(key="x", question="OA密码忘了", answer="答")]
    (problem,) = check(entries).problems
    zh = problem.message(translator("zh_CN").gettext)
    en = problem.message(translator("en").gettext)
    assert "第 3 行" in zh and "第 2 行" in zh and "oa-reset" in zh
    assert en.startswith("Line 3:") and "line 2" in en and "oa-reset" in en


def test_follow_ups_may_point_at_entries_that_stay() -> None:
    lone = EntryContent(key="a", question="问", answer="答", follow_ups=("kept",))
    assert not check([lone]).ok
    assert check([lone], others=[EntryContent(key="kept", question="另一问", answer="答")]).ok


def test_a_phrasing_taken_by_an_entry_that_stays_is_refused() -> None:
    (problem,) = check(
        [EntryContent(key="new", question="OA密碼忘了", answer="答")], others=[RESET]
    ).problems
    assert (problem.code, problem.entry) == ("existing_phrasing", "oa-reset")


@pytest.mark.parametrize("fmt", ["xlsx", "csv", "yaml"])
def test_export_then_import_changes_nothing(fmt: str) -> None:
    entries = [LOGIN, RESET]
    data = write_file(entries, fmt)
    back, lines = read_file(data, f"kb.{fmt}")
    assert back == entries
    assert write_file(back, fmt) == data or fmt == "xlsx"  # xlsx zips carry a timestamp
    assert len(lines) == 2 and lines[0] < lines[1]


def test_the_dev_knowledge_base_loads_and_passes_the_checks() -> None:
    if not DEV_KB.exists():
        pytest.skip(f"no {DEV_KB}")
    entries, lines = read_file(DEV_KB.read_bytes(), DEV_KB.name)
    assert len(entries) >= 30 and lines[0] >= 1
    assert check(entries, lines).ok, check(entries, lines).problems[:3]
    assert {e.locale for e in entries} <= {"zh", "en"}


def test_a_spreadsheet_with_chinese_headers_and_a_title_row() -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["青岚市政务办公培训知识库（2026）"])
    sheet.append(["编号", "问题", "相似问法", "答案", "语言", "标签"])
    sheet.append(["", "VPN连不上怎么办", "vpn连不上｜VPN 登录失败", "检查网络。", "中文", "VPN"])
    buffer = io.BytesIO()
    book.save(buffer)
    (entry,), (line,) = read_file(buffer.getvalue(), "知识库.xlsx")
    assert line == 3 and entry.key == "faq-00003" and entry.locale == "zh"
    assert entry.alternatives == ("vpn连不上", "VPN 登录失败") and entry.tags == ("VPN",)


def test_unusable_files_are_refused_as_a_whole() -> None:
    with pytest.raises(ImportFileError) as caught:
        read_file(b"- just: [unclosed", "kb.yaml")
    assert caught.value.reason == "unreadable"
    with pytest.raises(ImportFileError) as caught:
        read_file(b"id,question\nx,y\n", "kb.csv")
    assert caught.value.reason == "missing_columns:answer"
    with pytest.raises(ImportFileError) as caught:
        read_file(b"whatever", "kb.docx")
    assert caught.value.reason == "unsupported_format"


def test_attachments_are_checked() -> None:
    bad = EntryContent(
        key="bad",
        question="有附件吗？",
        answer="有。",
        attachments=(
            Attachment.parse("只有名字"),
            Attachment.parse("名字 <not a file id!>"),
            *(Attachment(f"f{i}.pdf", f"BQACAgUAAxkB{i:04d}") for i in range(5)),
        ),
    )
    found = check([bad]).problems
    assert [p.code for p in found] == ["bad_attachment", "bad_attachment", "too_many_attachments"]
    assert [p.value for p in found[:2]] == ["只有名字", "名字 <not a file id!>"]
    assert Attachment.parse(" 指南.pdf <BQACAgUAAxkBAAIB> ") == Attachment(
        "指南.pdf", "BQACAgUAAxkBAAIB"
    )
    assert EntryContent.from_json(RESET.to_json()) == RESET
