"""Announcements (#8) through the emulator: an office clerk composes one in chat with
formatting and a photo, previews it, sends it; recipients get it with ✅ 已阅; one
acknowledges (once, however often they tap); the clerk's counts per department say so; a
forged or foreign tap is refused; a restart in the middle of sending sends nobody a second
one."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta

import pytest

from bot.emulator.phones import Phone, SentMessage
from bot.quiet import QuietHours
from tests.e2e.conftest import Org, RunningBot, _WallClock, toast

pytestmark = pytest.mark.asyncio

CAPTION = "请各科室于本周五前完成自查，务必按时上报。"
BOLD = "务必按时上报"


async def _staff(bot: RunningBot, org: Org, roles: str, department: str) -> Phone:
    phone = bot.emulator.user(first_name=f"{department}{org.counter + 1}")
    await org.add_staff(roles, department=department, telegram_id=phone.id)
    return phone


def _daytime(bot: RunningBot) -> None:
    """Move the bot's clock out of the quiet hours (22:00–08:00 local), to 10:00 if need be."""
    clock = bot.clock
    assert isinstance(clock, _WallClock)
    tz = bot.settings.tz
    now = clock()
    if not QuietHours().contains(now, tz):
        return
    local = now.astimezone(tz)
    target = datetime.combine(local.date(), time(10, 0), tzinfo=tz)
    if target <= local:
        target += timedelta(days=1)
    clock.advance(target - now)


def _labels(message: SentMessage) -> list[str]:
    return [b for row in message.buttons for b in row]


async def test_compose_send_acknowledge_and_count(bot: RunningBot, org: Org) -> None:
    clerk = await _staff(bot, org, "office;staff", "办公室")
    office = [await _staff(bot, org, "staff", "办公室") for _ in range(2)]
    finance = [await _staff(bot, org, "staff", "财务处") for _ in range(2)]
    outsider = await _staff(bot, org, "staff", "人事处")

    # Plain staff may not announce.
    await outsider.command("/announce")
    assert "您无权进行此操作" in (await outsider.wait_message(containing="无权")).text

    await clerk.command("/announce")
    await clerk.wait_message(containing="第1/4步")
    start = clerk.last_message()
    await clerk.send("关于开展安全自查的通知")
    await clerk.wait_message(containing="第2/4步", after=start)
    start = clerk.last_message()
    offset = CAPTION.index(BOLD)  # all in the BMP: UTF-16 offsets are string indexes
    await clerk.upload_photo(
        b"\xff\xd8\xff\xe0 a photo",
        caption=CAPTION,
        caption_entities=[{"type": "bold", "offset": offset, "length": len(BOLD)}],
    )
    await clerk.wait_message(containing="第3/4步", after=start)
    start = clerk.last_message()
    await clerk.send("dept:办公室,dept:档案室")
    refused = await clerk.wait_message(containing="档案室", after=start)
    assert "没有名为“档案室”的部门" in refused.text and "第3/4步" in refused.text
    start = clerk.last_message()
    await clerk.send("dept:办公室，dept:财务处")
    ask = await clerk.wait_message(containing="第4/4步", after=start)
    assert "共 5 人" in ask.text
    start = clerk.last_message()
    await clerk.press("✅ 需要确认已阅", message=ask)
    deadline = await clerk.wait_message(containing="不设截止时间", after=start)
    start = clerk.last_message()
    await clerk.send("13月1日")
    await clerk.wait_message(containing="“13月1日”不是有效日期", after=start)
    start = clerk.last_message()
    await clerk.send("2099-12-31 17:00")
    card = await clerk.wait_message(containing="尚未发送", after=start)
    assert "将发送给 5 人" in card.text and "财务处 2" in card.text and "办公室 3" in card.text
    assert "2099" in card.text
    preview = next(m for m in clerk.messages() if "预览" in m.text)
    assert preview.kind == "photo" and f"<b>{BOLD}</b>" in (preview.html or "")
    assert preview.buttons == []
    assert not any(
        "关于开展安全自查的通知" in m.text for p in office + finance for m in p.messages()
    )
    assert deadline  # the button was offered

    await clerk.press("📤 发送", message=card)
    card = await clerk.wait_edit(card, where=lambda m: "已发送" in m.text)
    assert _labels(card) == ["📊 阅知情况"]
    # The author's progress card (bot/messaging/progress.py) counts this announcement's rows.
    await clerk.wait_message(containing="《关于开展安全自查的通知》", after=card)
    received = {}
    for phone in [clerk, *office, *finance]:
        message = await phone.wait_message(containing="关于开展安全自查的通知", after=None)
        if phone is clerk:
            message = [m for m in phone.messages() if "请于" in m.text and m.buttons][-1]
        assert message.kind == "photo" and f"<b>{BOLD}</b>" in (message.html or "")
        assert "请于" in message.text and "—— 办公室" in message.text
        assert _labels(message) == ["✅ 已阅"]
        received[phone.id] = message
    assert not any("安全自查" in m.text for m in outsider.messages())

    # One acknowledges: the tap is answered, the message says when, the button is gone.
    reader = finance[0]
    message = received[reader.id]
    first = await reader.press("✅ 已阅", message=message)
    assert await toast(reader, first) == "已记录：已阅。"
    edited = await reader.wait_edit(message, where=lambda m: "✅ 已阅" in m.text)
    assert edited.buttons == [] and f"<b>{BOLD}</b>" in (edited.html or "")
    # The old button again, twice at once: counted once, answered each time.
    data = message.callback_data[0][0]
    assert data is not None
    again = await asyncio.gather(
        reader.press_data(data, message), reader.press_data(data, message)
    )
    for query in again:
        assert "您已于" in await toast(reader, query)
    # Somebody it was not sent to, and a forged button: refused.
    forged = await outsider.press_data(data)
    assert await toast(outsider, forged) == "这条通知不是发给您的。"
    forged = await reader.press_data("an.ack:99999:0")
    assert await toast(reader, forged) == "这条通知不是发给您的。"
    forged = await reader.press_data("an.ack:1:x")
    assert "按钮无效" in await toast(reader, forged)
    await bot.settle()

    start = clerk.last_message()
    await clerk.press("📊 阅知情况", message=card)
    status = await clerk.wait_message(containing="📊", after=start)
    assert "财务处：接收人 2，已送达 2，已阅 1，未阅 1" in status.text
    assert "办公室：接收人 3，已送达 3，已阅 0，未阅 3" in status.text
    assert "合计：接收人 5，已送达 5，已阅 1，未阅 4" in status.text
    assert "尚未确认已阅" in status.text and "财务处" in status.text
    # Somebody else acknowledges; 🔄 redraws the same card.
    await clerk.press("✅ 已阅", message=received[clerk.id])
    await bot.settle()
    await clerk.press("🔄 刷新", message=status)
    status = await clerk.wait_edit(status, where=lambda m: "已阅 2" in m.text)
    assert "办公室：接收人 3，已送达 3，已阅 1，未阅 2" in status.text
    # 催阅 by hand (in the daytime: the quiet hours would hold it until 08:00).
    _daytime(bot)
    nudge = await clerk.press("⏰ 催阅（提醒未阅人员）", message=status)
    assert await toast(clerk, nudge) == "正在提醒 3 位未阅人员。"
    nudge = await clerk.press("⏰ 催阅（提醒未阅人员）", message=status)
    assert "后可再次催阅" in await toast(clerk, nudge)
    late = office[0]
    reminder = await late.wait_message(containing="⏰ 请于", timeout=15)
    assert reminder.reply_to_message_id == received[late.id].message_id
    assert not any("⏰" in m.text for m in reader.messages())  # acknowledged already
    await late.press("✅ 已阅", message=reminder)  # from the reminder: the announcement changes
    await late.wait_edit(received[late.id], where=lambda m: "✅ 已阅" in m.text)
    await bot.settle()
    # The per-person CSV, in chat.
    start = clerk.last_message()
    await clerk.press("📥 导出明细", message=status)
    sheet = await clerk.wait_message(containing="阅知明细", after=start)
    assert sheet.document is not None and sheet.document.file_name == "announcement-1.csv"
    lines = sheet.document.data.decode("utf-8-sig").splitlines()
    assert lines[0] == "工号,姓名,部门,送达时间,已阅时间" and len(lines) == 6
    assert sum(1 for line in lines[1:] if line.split(",")[4]) == 3
    # The outsider may not see the counts.
    start = outsider.last_message()
    await outsider.command("/announce status 1")
    assert "无权" in (await outsider.wait_message(containing="无权", after=start)).text
    await bot.settle()
    assert bot.emulator.unanswered_callbacks() == []


async def test_formatted_text_without_acknowledgement_and_cancel(
    bot: RunningBot, org: Org
) -> None:
    trainer = await _staff(bot, org, "trainer;staff", "培训中心")
    staff = await _staff(bot, org, "staff", "培训中心")
    start = staff.last_message()
    await staff.command("/menu")
    menu = await staff.wait_message(containing="主菜单", after=start)
    assert "📢 发布通知" not in _labels(menu)  # plain staff do not announce
    for title in ("第一次", "第二次"):
        start = trainer.last_message()
        if title == "第一次":  # from the main menu
            await trainer.command("/menu")
            menu = await trainer.wait_message(containing="主菜单", after=start)
            await trainer.press("📢 发布通知", message=menu)
        else:
            await trainer.command("/announce")
        await trainer.wait_message(containing="第1/4步", after=start)
        start = trainer.last_message()
        await trainer.send(title)
        await trainer.wait_message(containing="第2/4步", after=start)
        start = trainer.last_message()
        text = "下周一培训，地点见链接。"
        await trainer.send(
            text,
            entities=[
                {"type": "italic", "offset": 0, "length": 4},
                {
                    "type": "text_link",
                    "offset": text.index("链接"),
                    "length": 2,
                    "url": "https://example.org/",
                },
            ],
        )
        await trainer.wait_message(containing="第3/4步", after=start)
        start = trainer.last_message()
        await trainer.send("all")
        ask = await trainer.wait_message(containing="第4/4步", after=start)
        start = trainer.last_message()
        await trainer.send("好的")  # a button is expected here
        await trainer.wait_message(containing="请使用下方按钮", after=start)
        start = trainer.last_message()
        await trainer.press("无需确认，仅供知悉", message=ask)
        card = await trainer.wait_message(containing="尚未发送", after=start)
        assert "仅供知悉" in card.text
        preview = next(m for m in trainer.messages() if "预览" in m.text and title in m.text)
        assert "<i>下周一培</i>" in (preview.html or "")
        assert '<a href="https://example.org/">链接</a>' in (preview.html or "")
        if title == "第一次":
            await trainer.press("✖️ 取消", message=card)
            await trainer.wait_edit(card, where=lambda m: "已取消" in m.text)
            stale = await trainer.press_data(card.callback_data[0][0] or "", card)
            assert await toast(trainer, stale) == "这条通知已经发送或已取消。"
        else:
            await trainer.press("📤 发送", message=card)
            await trainer.wait_edit(card, where=lambda m: "已发送" in m.text)
    got = await staff.wait_message(containing="第二次")
    assert got.buttons == [] and "请于" not in got.text
    await bot.settle()
    assert not any("第一次" in m.text for m in staff.messages())


async def test_a_restart_in_the_middle_of_sending_sends_nobody_a_second(
    bot: RunningBot, org: Org
) -> None:
    phones = [await _staff(bot, org, "staff", "综合科") for _ in range(40)]
    bot.emulator.set_latency(0.02)
    sent = await bot.services.announcements.announce(
        title="停电通知",
        body_html="明日 9:00–12:00 <b>机房停电</b>。",
        audience="dept:综合科",
        ack_required=True,
    )
    assert sent.messaged == 40

    def received() -> int:
        return sum(1 for p in phones if any("停电通知" in m.text for m in p.messages()))

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while loop.time() < deadline:
        if received() >= 5:
            break
        await asyncio.sleep(0.02)
    await bot.restart()  # about 24 a second: most are still waiting
    at_restart = received()
    assert 5 <= at_restart < 40
    await bot.settle(within=30)
    for phone in phones:
        assert len([m for m in phone.messages() if "停电通知" in m.text]) == 1
    status = await bot.services.announcements.status(sent.announcement_id)
    assert status is not None and status.total.delivered == 40


async def test_a_document_with_its_caption_acknowledged_by_caption_edit(
    bot: RunningBot, org: Org
) -> None:
    admin = await _staff(bot, org, "admin", "办公室")
    reader = await _staff(bot, org, "staff", "财务处")
    reader_no = f"E{org.counter:04d}"  # the employee number Org gave the last one added
    await admin.command("/announce")
    await admin.wait_message(containing="第1/4步")
    start = admin.last_message()
    await admin.send("2027年度预算编制通知")
    await admin.wait_message(containing="第2/4步", after=start)
    start = admin.last_message()
    await admin.upload("预算表.xlsx", b"PK\x03\x04 budget", caption="字" * 801)
    refused = await admin.wait_message(containing="最多 800 个字", after=start)
    assert "当前为 801 个字" in refused.text
    start = admin.last_message()
    await admin.upload("预算表.xlsx", b"PK\x03\x04 budget", caption="请按附表格式填报。")
    await admin.wait_message(containing="第3/4步", after=start)
    start = admin.last_message()
    await admin.send(f"staff:{reader_no}")
    ask = await admin.wait_message(containing="共 1 人", after=start)
    start = admin.last_message()
    await admin.press("✅ 需要确认已阅", message=ask)
    await admin.wait_message(containing="不设截止时间", after=start)
    start = admin.last_message()
    await admin.press("不设截止时间")
    card = await admin.wait_message(containing="尚未发送", after=start)
    await admin.press("📤 发送", message=card)
    message = await reader.wait_message(containing="2027年度预算编制通知")
    assert message.kind == "document" and message.document is not None
    assert message.document.file_name == "预算表.xlsx" and "请按附表格式填报" in message.text
    await reader.press("✅ 已阅", message=message)
    edited = await reader.wait_edit(message, where=lambda m: "✅ 已阅" in m.text)
    assert edited.buttons == [] and edited.kind == "document"
    await bot.settle()
    status = await bot.services.announcements.status(1)
    assert status is not None and status.total.acknowledged == 1
