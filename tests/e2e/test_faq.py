"""Staff asking the knowledge base (#6), played on phones against the emulator with the real bot
and the real sentence encoder: each band, feedback, follow-ups, and 👎 → a support ticket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from bot.emulator import BotApiEmulator, Phone
from bot.emulator.state import SentMessage
from bot.faq.content import Attachment, EntryContent
from bot.faq.files import write_file
from storage.tables.faq import FaqQuestion
from tests.e2e.conftest import Org, RunningBot, _WallClock, bot_settings, prepare_database, toast

pytestmark = pytest.mark.asyncio

KB = Path(__file__).resolve().parents[2] / "handlers" / "sandbox" / "faq_kb.yaml"


async def _start(
    emulator: BotApiEmulator, tmp_path: Path, db_url: str, **overrides: Any
) -> RunningBot:
    settings = bot_settings(emulator, tmp_path / "data", db_url).with_overrides(**overrides)
    await prepare_database(settings)
    running = RunningBot(settings, emulator, clock=_WallClock())
    await running.start()
    await running.services.knowledge.apply_import(
        KB.read_bytes(), KB.name, tg_id=None, publish=True
    )
    return running


@pytest.fixture
async def kb_bot(
    emulator: BotApiEmulator, tmp_path: Path, db_url: str
) -> AsyncIterator[RunningBot]:
    """The bot with the demo knowledge base published, default thresholds."""
    running = await _start(emulator, tmp_path, db_url)
    try:
        yield running
    finally:
        await running.stop()


def _labels(message: SentMessage) -> list[str]:
    return [b for row in message.buttons for b in row]


async def _hand_over(phone: Phone, after: SentMessage | None) -> str:
    """Whatever band the question fell in, get it to a person; the ticket number."""
    card = await phone.wait_message(where=lambda m: bool(m.buttons), after=after, timeout=60)
    if "👎 Not solved" in _labels(card):
        await phone.press("👎 Not solved", message=card)
        card = await phone.wait_edit(card)
    label = next(b for b in _labels(card) if "ask a person" in b.lower())
    await phone.press(label, message=card)
    opened = await phone.wait_message(containing="is open", after=card)
    return opened.text.split("Ticket ", 1)[1].split(" ", 1)[0]


async def _questions(bot: RunningBot) -> list[Any]:
    async with bot.services.runtime.detached_uow() as uow:
        rows = await uow.session.exec(select(FaqQuestion).order_by(col(FaqQuestion.id)))
        return list(rows.all())


async def test_confident_answer_with_feedback(kb_bot: RunningBot) -> None:
    org = Org(kb_bot)
    phone = await org.phone(language_code="en")
    start = phone.last_message()
    await phone.send("OA密码忘了怎么办")
    answer = await phone.wait_message(containing="忘记密码", after=start, timeout=60)
    assert "Did this answer your question?" in answer.text
    assert [b for row in answer.buttons for b in row][:2] == ["👍 Solved", "👎 Not solved"]
    await phone.press("👍 Solved", message=answer)
    edited = await phone.wait_edit(answer)
    assert "Glad it helped" in edited.text
    assert not any("Solved" in b for row in edited.buttons for b in row)
    asked = await _questions(kb_bot)
    assert [(q.band, q.entry_key, q.feedback) for q in asked] == [
        ("answer", "oa-password-reset", "up")
    ]
    assert asked[0].text == "OA密码忘了怎么办"
    # A second 👍 on the same answer (another phone's stale copy, a double tap) counts once.
    pressed = await phone.press_data(f"kb.up:{asked[0].id}:0", message=answer)
    assert await toast(phone, pressed) == "You already told us, thank you."


async def test_unknown_question_hands_over_to_support(kb_bot: RunningBot) -> None:
    org = Org(kb_bot)
    agent = await org.phone("support;staff", name="杨帆", language_code="en")
    phone = await org.phone(name="孙浩", department="城市建设科", language_code="en")
    start = phone.last_message()
    await phone.send("食堂今天中午吃什么菜")
    unknown = await phone.wait_message(containing="I don't know", after=start, timeout=60)
    await phone.press("🛟 Ask a person", message=unknown)
    opened = await phone.wait_message(containing="is open", after=unknown)
    number = opened.text.split("Ticket ", 1)[1].split(" ", 1)[0]
    assert number.startswith("T20") and number.endswith("-000001")
    edited = await phone.wait_edit(unknown)
    assert number in edited.text and not edited.buttons
    notice = await agent.wait_message(containing=number)
    assert "孙浩" in notice.text and "城市建设科" in notice.text
    assert "食堂今天中午吃什么菜" in notice.text and "no answer" in notice.text
    # Pressing again (a stale copy of the card) opens no second ticket.
    asked = await _questions(kb_bot)
    await phone.press_data(f"kb.ask:{asked[0].id}:0", message=unknown)
    again = await phone.wait_message(containing="already with the support desk", after=opened)
    assert number in again.text
    async with kb_bot.services.runtime.detached_uow() as uow:
        ticket = await uow.support.ticket_by_number(number)
        assert ticket is not None and ticket.status == "new" and ticket.source == "faq"
        assert ticket.subject == "食堂今天中午吃什么菜"
        messages = await uow.support.messages(ticket.id or 0)
    assert [m.author for m in messages] == ["user", "bot"]
    assert "band=unknown" in messages[1].body


async def test_not_solved_opens_a_ticket_with_the_answer_shown(kb_bot: RunningBot) -> None:
    org = Org(kb_bot)
    agent = await org.phone("support;staff", language_code="en")
    phone = await org.phone(language_code="en")
    start = phone.last_message()
    await phone.send("U盾的PIN码输错被锁了怎么办")
    answer = await phone.wait_message(
        where=lambda m: any("Solved" in b for row in m.buttons for b in row),
        after=start,
        timeout=60,
    )
    await phone.press("👎 Not solved", message=answer)
    answer = await phone.wait_edit(answer)
    assert "Sorry this did not solve it" in answer.text
    await phone.press("🛟 Ask a person", message=answer)
    await phone.wait_message(containing="is open", after=start)
    notice = await agent.wait_message(containing="did not solve the problem")
    asked = (await _questions(kb_bot))[0]
    assert asked.feedback == "down" and asked.ticket is not None
    assert asked.entry_key in notice.text and f"{asked.score:.0%}" in notice.text
    final = await phone.wait_edit(answer)
    assert asked.ticket in final.text and not final.buttons


async def test_did_you_mean_then_a_follow_up(
    emulator: BotApiEmulator, tmp_path: Path, db_url: str
) -> None:
    """With a very high answer threshold every match is a suggestion: the band's behaviour."""
    bot = await _start(emulator, tmp_path, db_url, faq_answer=0.999, faq_suggest=0.05)
    try:
        library = bot.services.knowledge
        # Give the reset entry a follow-up to the SMS-code entry, published as version 2.
        views = {v.key: v for v in await library.entries()}
        content = views["oa-password-reset"].content
        data = write_file([replace(content, follow_ups=("oa-2fa-sms-code",))], "yaml")
        await library.apply_import(data, "follow.yaml", tg_id=None, publish=True)
        org = Org(bot)
        phone = await org.phone(language_code="en")
        start = phone.last_message()
        await phone.send("忘记OA密码")
        card = await phone.wait_message(containing="Did you mean", after=start, timeout=60)
        labels = [b for row in card.buttons for b in row]
        assert len(labels) == 4 and labels[-1] == "None of these: ask a person"
        assert content.question in labels
        await phone.press(content.question, message=card)
        answer = await phone.wait_edit(card)  # the suggestion card becomes the answer
        assert "忘记密码" in answer.text and "Did this answer your question?" in answer.text
        asked = await _questions(bot)
        assert [(q.band, q.chosen) for q in asked] == [("suggest", "oa-password-reset")]
        follow = next(b for row in answer.buttons for b in row if b.startswith("➡️"))
        await phone.press(follow, message=answer)
        sms = await phone.wait_message(containing="二次验证", after=answer)
        assert "Did this answer your question?" in sms.text
        asked = await _questions(bot)
        assert [(q.band, q.entry_key) for q in asked][1] == ("follow", "oa-2fa-sms-code")
    finally:
        await bot.stop()


async def test_someone_elses_question_and_forged_buttons(kb_bot: RunningBot) -> None:
    org = Org(kb_bot)
    phone = await org.phone(language_code="en")
    other = await org.phone(language_code="en")
    start = phone.last_message()
    await phone.send("OA密码忘了怎么办")
    await phone.wait_message(containing="忘记密码", after=start, timeout=60)
    asked = (await _questions(kb_bot))[0]
    # Another person cannot give feedback on, or open tickets for, someone else's question.
    for data in (f"kb.down:{asked.id}:0", f"kb.ask:{asked.id}:0"):
        pressed = await other.press_data(data)
        assert await toast(other, pressed) == "You are not allowed to do that."
    pressed = await other.press_data("kb.up:999999:0")
    assert await toast(other, pressed) == "This button is not valid. Please use /menu."
    await other.press_data("kb.open:999999:0")
    await other.wait_message(containing="no longer available")
    pressed = await other.press_data("kb.open:1:x")
    assert await toast(other, pressed) == "This button is not valid. Please use /menu."
    refreshed = (await _questions(kb_bot))[0]
    assert refreshed.feedback is None and refreshed.ticket is None


async def test_menu_item_and_publish_reaches_the_next_question(kb_bot: RunningBot) -> None:
    org = Org(kb_bot)
    phone = await org.phone(language_code="en")
    start = phone.last_message()
    await phone.command("/menu")
    menu = await phone.wait_message(containing="Main menu", after=start)
    await phone.press("📚 Ask a question", message=menu)
    await phone.wait_message(containing="in your own words", after=menu)
    # A trainer publishes a new entry (here through the library, as an import would): the
    # next question finds it without a restart.
    library = kb_bot.services.knowledge
    new = EntryContent(
        key="canteen-hours",
        question="机关食堂几点开饭？",
        answer="早餐7:00—8:30，午餐11:30—13:00，晚餐17:30—18:30。",
        alternatives=("食堂开放时间",),
    )
    await library.apply_import(write_file([new], "yaml"), "new.yaml", tg_id=None, publish=True)
    before = phone.last_message()
    await phone.send("机关食堂几点开饭")
    answer = await phone.wait_message(containing="午餐11:30", after=before, timeout=60)
    assert "机关食堂几点开饭" in answer.text


async def test_tickets_go_to_the_desk_group_when_there_is_one(
    emulator: BotApiEmulator, tmp_path: Path, db_url: str
) -> None:
    owner = emulator.user(first_name="杨帆")
    desk = emulator.group(title="信息中心服务台", members=[owner], forum=True, chat_id=-1009)
    await emulator.add_bot_to_group(desk, owner, admin=True)
    bot = await _start(emulator, tmp_path, db_url, desk_chat_id=desk.id)
    try:
        org = Org(bot)
        agent = await org.phone("support;staff", language_code="en")
        first = await org.phone(name="孙浩", language_code="en")
        second = await org.phone(name="朱琳", language_code="en")
        numbers = []
        for phone, text in ((first, "视频会议怎么开"), (second, "打印机卡纸了")):
            start = phone.last_message()
            await phone.send(text)
            numbers.append(await _hand_over(phone, start))
        year = numbers[0][1:5]
        assert numbers == [f"T{year}-000001", f"T{year}-000002"]  # gap-free, in order
        posted = [await desk.wait_message(containing=n) for n in numbers]
        assert "孙浩" in posted[0].text and "朱琳" in posted[1].text
        assert not [m for m in agent.messages() if "T" + year in m.text]  # the desk, not DMs
    finally:
        await bot.stop()


async def test_an_answer_sends_its_attachments(kb_bot: RunningBot) -> None:
    record = kb_bot.emulator.state.store_file(
        b"%PDF-1.4 guide", "document", "VPN申请表.pdf", "application/pdf"
    )
    library = kb_bot.services.knowledge
    views = {v.key: v for v in await library.entries()}
    vpn = replace(
        views["vpn-apply"].content, attachments=(Attachment("VPN申请表.pdf", record.file_id),)
    )
    await library.apply_import(write_file([vpn], "yaml"), "att.yaml", tg_id=None, publish=True)
    phone = await Org(kb_bot).phone(language_code="en")
    start = phone.last_message()
    await phone.send(vpn.question)
    answer = await phone.wait_message(where=lambda m: bool(m.buttons), after=start, timeout=60)
    assert "📎 VPN申请表.pdf" in answer.text
    document = await phone.wait_message(where=lambda m: m.document is not None, after=answer)
    assert document.document is not None and document.document.file_id == record.file_id
    # Feedback edits the answer in place and does not send the document again.
    await phone.press("👍 Solved", message=answer)
    await phone.wait_edit(answer)
    assert [m.message_id for m in phone.messages() if m.document is not None] == [
        document.message_id
    ]


async def test_small_talk_is_not_a_question(kb_bot: RunningBot) -> None:
    phone = await Org(kb_bot).phone(language_code="en")
    start = phone.last_message()
    await phone.send("你好！")
    await phone.wait_message(containing="Hello! Type a question", after=start, timeout=30)
    before = phone.last_message()
    await phone.send("Thanks")
    await phone.wait_message(containing="You're welcome", after=before)
    assert await _questions(kb_bot) == []  # nothing logged, nothing for the trainers
