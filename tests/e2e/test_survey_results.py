"""Survey results in the chat (#8), through the emulator: a trainer publishes a survey file
(YAML, and an XLSX workbook), staff answer, the author asks for the results and gets the
summary, the charts (PNG, an album) and the CSV and XLSX files; someone else is refused the
same way for another's survey as for one that does not exist."""

from __future__ import annotations

import asyncio
import io
import re

import pytest
from openpyxl import load_workbook

from bot.emulator.phones import Phone, SentMessage
from bot.surveys.definitions import parse_survey
from bot.surveys.sheets import survey_workbook
from tests.e2e.conftest import Org, RunningBot

pytestmark = pytest.mark.asyncio

PNG = b"\x89PNG\r\n\x1a\n"
REFUSED = "没有该编号的问卷，或您无权查看其结果"

CANTEEN = """\
key: canteen
version: 1
title: {zh_CN: 食堂满意度, en: Canteen}
welcome: {zh_CN: 请花一分钟, en: One minute please}
closing: {zh_CN: 谢谢您的反馈, en: Thank you}
anonymous: ANONYMOUS
questions:
  - key: recommend
    type: nps
    text: {zh_CN: 您会向同事推荐食堂吗？, en: "Would you recommend the canteen?"}
  - key: dish
    type: single
    text: {zh_CN: 最常吃什么？, en: "What do you eat most?"}
    choices:
      - {key: rice, label: {zh_CN: 米饭, en: Rice}}
      - {key: noodles, label: {zh_CN: 面条, en: Noodles}}
      - {key: porridge, label: {zh_CN: 粥, en: Porridge}}
  - key: wish
    type: text
    text: {zh_CN: 希望增加什么菜？, en: "Which dish should we add?"}
"""


def _yaml(anonymous: bool) -> bytes:
    return CANTEEN.replace("ANONYMOUS", "true" if anonymous else "false").encode()


async def _answer(phone: Phone, score: int, dish: str, wish: str) -> None:
    invitation = await phone.wait_message(containing="新问卷：食堂满意度", timeout=20)
    await phone.press("▶️ 开始填写", message=invitation)
    card = await phone.wait_message(containing="第1/3题", after=invitation, timeout=20)
    await phone.press(str(score), message=card)
    card = await phone.wait_edit(card, where=lambda m: "第2/3题" in m.text, timeout=20)
    await phone.press(dish, message=card)
    card = await phone.wait_edit(card, where=lambda m: "第3/3题" in m.text, timeout=20)
    await phone.send(wish)
    card = await phone.wait_message(containing="全部3道题已作答", after=card, timeout=20)
    await phone.press("✅ 提交", message=card)
    await phone.wait_message(containing="谢谢您的反馈", after=card, timeout=20)


async def _publish(author: Phone, name: str, data: bytes) -> tuple[int, SentMessage]:
    start = author.last_message()
    await author.upload(name, data, caption="/publish dept:办公室")
    done = await author.wait_message(containing="已发布", after=start, timeout=20)
    found = re.search(r"问卷 #(\d+)", done.text)
    assert found, done.text
    return int(found.group(1)), done


def _photos(phone: Phone, after: SentMessage) -> list[SentMessage]:
    return [m for m in phone.messages() if m.kind == "photo" and m.message_id > after.message_id]


async def _wait_photos(phone: Phone, after: SentMessage, count: int) -> list[SentMessage]:
    for _ in range(300):
        photos = _photos(phone, after)
        if len(photos) >= count:
            return photos
        await asyncio.sleep(0.1)
    raise AssertionError(f"{len(_photos(phone, after))} photos, expected {count}")


async def test_the_author_gets_summary_charts_and_files_others_are_refused(
    bot: RunningBot, org: Org
) -> None:
    author = await org.bound_phone("trainer;staff")
    staff = [await org.bound_phone("staff") for _ in range(6)]
    survey_id, published = await _publish(author, "canteen.yaml", _yaml(anonymous=True))
    assert "📊 结果" in [b for row in published.buttons for b in row]
    answers = [
        (10, "米饭", "多做点青菜"),
        (9, "米饭", "红烧肉"),
        (9, "面条", "麻辣烫"),
        (7, "面条", "饺子"),
        (3, "粥", "凉菜"),
        (6, "米饭", "水果"),
    ]
    await asyncio.gather(*(_answer(p, *a) for p, a in zip(staff, answers, strict=True)))
    await bot.settle()

    # The author asks from the "published" message's button.
    await author.press("📊 结果", message=published)
    summary = await author.wait_message(containing="统计结果", after=published, timeout=20)
    text = summary.text
    assert f"问卷 #{survey_id}“食堂满意度”统计结果" in text
    assert "已收回 6 份，共邀请 7 人（回收率 86%）" in text and "匿名" in text
    assert "办公室 6/7（86%）" in text
    assert "NPS +17" in text  # 3 promoters, 2 detractors of 6
    assert "米饭 3（50%）；面条 2（33%）；粥 1（17%）" in text
    assert "多做点青菜" in text and "红烧肉" in text
    for phone in staff:  # anonymous: no name beside a free text
        assert (phone.user.first_name or "") not in text
    assert "随后发送2张统计图" in text
    album = await _wait_photos(author, summary, 2)
    assert len({m.media_group_id for m in album}) == 1 and album[0].media_group_id
    for photo in album:
        assert photo.document is not None and photo.document.read().startswith(PNG)
    assert "您会向同事推荐食堂吗" in album[0].caption
    assert "最常吃什么" in album[1].caption

    # The files, from the summary's buttons: every response, the Chinese questions as headers.
    await author.press("📄 CSV 文件", message=summary)
    csv_message = await author.wait_message(
        where=lambda m: (
            m.kind == "document"
            and (m.document is not None)
            and (m.document.file_name or "").endswith(".csv")
        ),
        after=summary,
        timeout=20,
    )
    assert csv_message.document is not None
    data = csv_message.document.read()
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("您会向同事推荐食堂吗？") and len(lines) == 7
    assert "共6份答卷" in csv_message.caption
    await author.press("📗 XLSX 文件", message=summary)
    xlsx_message = await author.wait_message(
        where=lambda m: (
            m.kind == "document"
            and (m.document is not None)
            and (m.document.file_name or "").endswith(".xlsx")
        ),
        after=summary,
        timeout=20,
    )
    assert xlsx_message.document is not None
    sheet = load_workbook(io.BytesIO(xlsx_message.document.read())).active
    assert sheet is not None and sheet.max_row == 7

    # /results: the command, and the list of one's own surveys.
    start = author.last_message()
    await author.command(f"/results {survey_id}")
    await author.wait_message(containing="统计结果", after=start, timeout=20)
    start = author.last_message()
    await author.command("/results")
    listing = await author.wait_message(containing="问卷结果", after=start, timeout=20)
    assert f"📊 结果：#{survey_id} 食堂满意度" in [b for r in listing.buttons for b in r]

    # A plain member of staff: refused, for this survey as for one that does not exist.
    other = staff[0]
    start = other.last_message()
    await other.command(f"/results {survey_id}")
    refused = await other.wait_message(containing=REFUSED, after=start, timeout=20)
    await other.command(f"/results {survey_id + 999}")
    again = await other.wait_message(containing=REFUSED, after=refused, timeout=20)
    assert again.text == refused.text
    assert not _photos(other, start)
    # ... also with a forged button.
    start = other.last_message()
    await other.press_data(f"sv.res:{survey_id}:1")
    await bot.settle()
    assert not [m for m in other.messages() if m.kind == "document"]

    # The office sees any survey's results.
    office = await org.bound_phone("office;staff")
    start = office.last_message()
    await office.command(f"/results {survey_id}")
    await office.wait_message(containing="已收回 6 份", after=start, timeout=20)


async def test_a_workbook_published_in_chat_and_its_named_results(
    bot: RunningBot, org: Org
) -> None:
    author = await org.bound_phone("trainer;staff")
    staff = [await org.bound_phone("staff") for _ in range(5)]
    definition = parse_survey(_yaml(anonymous=False).decode(), source="canteen.yaml")
    book = survey_workbook(definition)
    # A mistake in a cell: refused naming the sheet and the cell.
    workbook = load_workbook(io.BytesIO(book))
    workbook["questions"]["B3"] = "stars"
    broken = io.BytesIO()
    workbook.save(broken)
    start = author.last_message()
    await author.upload("canteen.xlsx", broken.getvalue(), caption="/publish dept:办公室")
    refused = await author.wait_message(containing="未发布", after=start, timeout=20)
    assert "canteen.xlsx questions!B3" in refused.text and "stars" in refused.text
    start = author.last_message()
    await author.upload("canteen.xlsx", b"PK\x03\x04 broken", caption="/publish all")
    refused = await author.wait_message(containing="未发布", after=start, timeout=20)
    assert "canteen.xlsx" in refused.text

    survey_id, _ = await _publish(author, "canteen.xlsx", book)
    answers = [(10, "米饭", "青菜"), (8, "面条", "饺子"), (2, "粥", "包子")]
    await asyncio.gather(*(_answer(p, *a) for p, a in zip(staff, answers, strict=False)))
    await bot.settle()

    start = author.last_message()
    await author.command("/survey")  # the author's own surveys have a results button there
    listing = await author.wait_message(containing="问卷", after=start, timeout=20)
    await author.press(f"📊 结果：#{survey_id} 食堂满意度", message=listing)
    summary = await author.wait_message(containing="统计结果", after=listing, timeout=20)
    assert "已收回 3 份，共邀请 6 人" in summary.text
    assert "米饭 1（33%）；面条 1（33%）；粥 1（33%）" in summary.text  # named: nothing hidden
    # Named: each free text with who wrote it.
    async with bot.services.runtime.detached_uow() as uow:
        first = await uow.people.by_telegram_id(staff[0].id)
    assert first is not None and f"{first.name}：青菜" in summary.text
    await _wait_photos(author, summary, 2)
