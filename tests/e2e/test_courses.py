"""Training courses (#8) through the emulator: a trainer's file refused in chat with its line,
the course assigned as `govbot course publish` does it; a person reads two lessons, the bot
restarts, /course resumes at lesson 3, the last lesson's help sheet is uploaded once and sent
by its file id after; old and forged buttons are refused; the trainer sees completion by
department."""

from __future__ import annotations

import secrets

import pytest

from bot.courses.definitions import shipped_dir
from bot.emulator.phones import Phone, SentMessage
from bot.surveys.publishing import parse_audience
from tests.e2e.conftest import Org, RunningBot, toast

pytestmark = pytest.mark.asyncio
SHIPPED = shipped_dir() / "digital_office.yaml"
TITLE = "政务办公系统上线培训"


async def _person(org: Org, roles: str, department: str) -> Phone:
    phone = org.bot.emulator.user(first_name=secrets.token_hex(3))
    await org.add_staff(roles, department=department, telegram_id=phone.id)
    return phone


def _labels(message: SentMessage) -> list[str]:
    return [b for row in message.buttons for b in row]


async def _card(phone: Phone, containing: str, after: SentMessage | None = None) -> SentMessage:
    return await phone.wait_message(containing=containing, after=after, timeout=15)


async def test_a_course_taken_across_a_restart(bot: RunningBot, org: Org) -> None:
    trainer = await _person(org, "trainer;staff", "培训处")
    me = await _person(org, "staff", "办公室")
    colleague = await _person(org, "staff", "办公室")
    other = await _person(org, "staff", "财务处")  # assigned, never starts
    outsider = await _person(org, "staff", "档案室")

    # In chat, a lesson file given by path cannot be read: refused with its line.
    start = trainer.last_message()
    await trainer.upload(
        "digital_office.yaml", SHIPPED.read_bytes(), caption="/course publish all 2099-12-31"
    )
    refused = await _card(trainer, "课程未下发", after=start)
    assert "digital_office.yaml:68" in refused.text and "help_contacts.txt" in refused.text

    # Without files it is assigned from the chat: the trainer is told, 财务处 is invited.
    start = trainer.last_message()
    small = SHIPPED.read_text(encoding="utf-8").replace(
        "    media: {document: help_contacts.txt}\n", ""
    )
    await trainer.upload(
        "small.yaml", small.encode(), caption="/course publish dept:财务处 2099-12-31"
    )
    told = await _card(trainer, "已下发", after=start)
    assert "应学 1 人，已向 1 人发送通知" in told.text
    assert "前完成" in (await _card(other, "新培训课程")).text

    # As the CLI publishes it (the help sheet read from beside the file).
    published = await bot.services.course_publishing.publish(
        text=SHIPPED.read_text(encoding="utf-8"),
        source=SHIPPED.name,
        audience=parse_audience("dept:办公室,dept:财务处"),
        due_on=bot.services.course_publishing.local_today().replace(year=2099),
        base_dir=shipped_dir(),
    )
    cid = published.course_id
    assert published.messaged == 3
    invitation = await _card(me, f"新培训课程：{TITLE}")
    assert "共6课" in invitation.text and _labels(invitation) == ["▶️ 开始学习"]

    await me.press("▶️ 开始学习", message=invitation)
    first = await _card(me, "第1/6课", after=invitation)
    assert "欢迎使用政务办公系统" in first.text and _labels(first) == ["下一课 ▶️"]
    await me.press("下一课 ▶️", message=first)
    second = await _card(me, "第2/6课", after=first)
    assert _labels(second) == ["◀️ 上一课", "下一课 ▶️"]
    first = await me.wait_edit(first, where=lambda m: m.buttons == [])  # not pressable now
    await me.press("下一课 ▶️", message=second)
    third = await _card(me, "第3/6课", after=second)
    await me.wait_edit(second, where=lambda m: m.buttons == [])

    await bot.restart()  # the process goes away; the progress is in the database

    start = me.last_message()
    await me.command("/course")
    listing = await _card(me, "我的培训课程", after=start)
    assert "2/6 课" in listing.text and "前完成" in listing.text
    await me.press(f"▶️ 继续学习：{TITLE}：移动办公安全入门", message=listing)
    resumed = await _card(me, "第3/6课", after=listing)
    assert "在手机上办理审批" in resumed.text
    await me.wait_edit(third, where=lambda m: m.buttons == [])

    # An old card's button and a forged one are refused; so is someone else's course.
    pressed = await me.press_data(f"cr.next:{cid}:0", message=resumed)
    assert "已过期" in await toast(me, pressed)
    await outsider.command("/course")
    nothing = await _card(outsider, "目前没有分配给您的培训课程")
    pressed = await outsider.press_data(f"cr.open:{cid}:0", message=nothing)
    assert "未分配给您" in await toast(outsider, pressed)
    pressed = await me.press_data(f"cr.next:{cid}:99", message=resumed)
    assert "已过期" in await toast(me, pressed)

    card = resumed
    for number in (4, 5, 6):
        await me.press("下一课 ▶️", message=card)
        card = await _card(me, f"第{number}/6课", after=card)
    assert card.kind == "document" and card.document is not None
    assert card.document.file_name == "help_contacts.txt"
    assert _labels(card) == ["◀️ 上一课", "✅ 完成课程"]
    await me.press("✅ 完成课程", message=card)
    done = await _card(me, "课程已完成", after=card)
    assert TITLE in done.text

    # The help sheet was uploaded once: the colleague's copy goes by its file id.
    await colleague.press("▶️ 开始学习", message=await _card(colleague, "新培训课程"))
    lesson = await _card(colleague, "第1/6课")
    for number in range(2, 7):
        await colleague.press("下一课 ▶️", message=lesson)
        lesson = await _card(colleague, f"第{number}/6课", after=lesson)
    uploads = [c for c in bot.emulator.calls("sendDocument") if c.chat_id in (me.id, colleague.id)]
    assert len(uploads) == 2 and isinstance(uploads[1].params.get("document"), str)
    assert lesson.document is not None and card.document is not None
    assert lesson.document.file_unique_id == card.document.file_unique_id

    # The trainer's view: completion by department.
    start = trainer.last_message()
    await trainer.command(f"/course progress {cid}")
    report = await _card(trainer, "各科室完成情况", after=start)
    assert "办公室：已完成 1/2（50%），已开始 2，逾期 0" in report.text
    assert "财务处：已完成 0/1（0%），已开始 0" in report.text
    assert "合计：已完成 1/3（33%）" in report.text
    start = me.last_message()
    await me.command(f"/course progress {cid}")
    assert "无权" in (await _card(me, "", after=start)).text
    await bot.settle()
    assert bot.emulator.unanswered_callbacks() == []
