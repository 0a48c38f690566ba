"""The trainers' tools (#6) played on phones against the emulator with the real bot: create an
entry step by step, preview it as staff will see it, publish, edit and roll back, import and
export files, and the failures (a forged button, a broken file, a stale card)."""

from __future__ import annotations

import pytest

from bot.emulator import Phone
from bot.emulator.state import SentMessage
from bot.faq.content import EntryContent
from bot.faq.files import write_file
from tests.e2e.conftest import Org, RunningBot

pytestmark = pytest.mark.asyncio

LOGIN = EntryContent(
    key="oa-login",
    question="第一次登录OA用什么密码？",
    answer="初始密码见<b>短信</b>。",
    alternatives=("OA初始密码是什么",),
    category="账号",
)
LEAVE = EntryContent(
    key="leave", question="怎么请假？", answer="在OA提交请假申请。", category="人事"
)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def seed(bot: RunningBot, *entries: EntryContent) -> None:
    data = write_file(list(entries), "yaml")
    await bot.services.knowledge.apply_import(data, "kb.yaml", tg_id=None, publish=True)


async def staff_id(bot: RunningBot, phone: Phone) -> int:
    async with bot.services.runtime.detached_uow() as uow:
        staff = await uow.people.by_telegram_id(phone.id)
    assert staff is not None and staff.id is not None
    return staff.id


async def audit(bot: RunningBot) -> list[tuple[str, str, int | None]]:
    async with bot.services.runtime.detached_uow() as uow:
        return [(e.action, e.object, e.actor_id) async for e in uow.audit.iterate()]


async def home(phone: Phone) -> SentMessage:
    start = phone.last_message()
    await phone.command("/kb")
    return await phone.wait_message(containing="Knowledge base editing", after=start)


def button(message: SentMessage, containing: str) -> str:
    """The label of the message's button that contains a text."""
    return next(label for row in message.buttons for label in row if containing in label)


async def open_by_search(phone: Phone, words: str, question: str) -> SentMessage:
    card = await home(phone)
    await phone.press("🔎 Search", message=card)
    ask = await phone.wait_message(containing="Type words to search for", after=card)
    await phone.send(words)
    found = await phone.wait_message(containing="found", after=ask)
    await phone.press(button(found, question), message=found)
    return await phone.wait_message(containing="Answer:", after=found)


async def test_a_trainer_creates_previews_and_publishes_an_entry(
    bot: RunningBot, org: Org
) -> None:
    await seed(bot, LOGIN)
    trainer = await org.phone("trainer", language_code="en", name="Trainer Tan")
    start = trainer.last_message()
    await trainer.command("/menu")
    menu = await trainer.wait_message(containing="Main menu", after=start)
    await trainer.press("🧑‍🏫 Knowledge base editing", message=menu)
    card = await trainer.wait_message(containing="Entries: 1 published", after=menu)
    await trainer.press("➕ New entry", message=card)
    ask = await trainer.wait_message(containing="step 1 of 4", after=card)
    await trainer.send("忘记VPN密码怎么办？")
    ask = await trainer.wait_message(containing="step 2 of 4", after=ask)
    await trainer.send("VPN密码忘了")
    ask = await trainer.wait_message(containing="Phrasings so far: 1", after=ask)
    await trainer.send("OA初始密码是什么")  # another entry's phrasing: refused, with why
    ask = await trainer.wait_message(containing="already leads to entry oa-login", after=ask)
    await trainer.press("✅ Finished", message=ask)
    ask = await trainer.wait_message(containing="step 3 of 4", after=ask)
    await trainer.send("在<b>VPN客户端点“忘记密码”")
    ask = await trainer.wait_message(containing="Telegram would refuse", after=ask)
    await trainer.send("在<b>VPN客户端</b>点“忘记密码”。")
    ask = await trainer.wait_message(containing="step 4 of 4", after=ask)
    await trainer.press("账号", message=ask)
    preview = await trainer.wait_message(containing="Preview", after=ask)
    assert "在VPN客户端点“忘记密码”。" in preview.text and "<b>VPN客户端</b>" in (
        preview.html or ""
    )
    assert preview.buttons == [] and "Did this answer" not in preview.text
    card = await trainer.wait_message(containing="New entry saved as a draft", after=ask)
    assert "wang-ji-vpn-mi-ma-zen" in card.text and "VPN密码忘了" in card.text
    assert await bot.services.knowledge.published_content() != []
    assert "wang-ji-vpn-mi-ma-zen" not in [
        c.key for c, _ in await bot.services.knowledge.published_content()
    ]
    await trainer.press("🚀 Publish", message=card)
    done = await trainer.wait_message(containing="Published as version 1", after=card)
    assert "Published" in done.text
    history = await bot.services.knowledge.versions("wang-ji-vpn-mi-ma-zen")
    trainer_id = await staff_id(bot, trainer)
    assert [(v["version"], v["published_by"]) for v in history] == [(1, trainer_id)]
    trail = await audit(bot)
    assert ("faq.create", "faq:wang-ji-vpn-mi-ma-zen", trainer_id) in trail
    assert ("faq.publish", "faq:wang-ji-vpn-mi-ma-zen", trainer_id) in trail
    assert (await bot.services.audit.verify()).ok
    await bot.settle()
    assert bot.emulator.unanswered_callbacks() == []


async def test_edit_publish_and_roll_back(bot: RunningBot, org: Org) -> None:
    await seed(bot, LOGIN, LEAVE)
    trainer = await org.phone("trainer", language_code="en")
    card = await open_by_search(trainer, "初始密码", "第一次登录")
    await trainer.press("✏️ Answer", message=card)
    ask = await trainer.wait_message(containing="Type the new answer for oa-login", after=card)
    assert "初始密码见<b>短信</b>。" in ask.text  # the raw answer, to copy and change
    await trainer.send("初始密码是工号后六位。")
    card = await trainer.wait_message(containing="Saved as a draft", after=ask)
    assert "a draft is waiting to be published" in card.text
    await trainer.press("🚀 Publish", message=card)
    card = await trainer.wait_message(containing="Published as version 2", after=card)
    await trainer.press("🕘 Versions", message=card)
    listing = await trainer.wait_message(containing="Versions of oa-login", after=card)
    await trainer.press("↩️ Roll back to v1", message=listing)
    confirm = await trainer.wait_message(
        containing="Publish the words of version 1", after=listing
    )
    await trainer.press("↩️ Roll back", message=confirm)
    card = await trainer.wait_message(containing="published again as version 3", after=confirm)
    assert "短信" in card.text
    words = {c.key: (c.answer, v) for c, v in await bot.services.knowledge.published_content()}
    assert words["oa-login"] == (LOGIN.answer, 3)
    edits = [a for a in await audit(bot) if a[0] == "faq.edit"]
    trainer_id = await staff_id(bot, trainer)
    assert edits and all(a[2] == trainer_id for a in edits)


async def test_a_stale_card_is_shown_again_and_changes_nothing(bot: RunningBot, org: Org) -> None:
    await seed(bot, LOGIN)
    first = await org.phone("trainer", language_code="en")
    second = await org.phone("trainer", language_code="en")
    old = await open_by_search(first, "oa-login", "第一次登录")
    card = await open_by_search(second, "oa-login", "第一次登录")
    await second.press("➕ Phrasing", message=card)
    ask = await second.wait_message(containing="Type another way staff ask", after=card)
    await second.send("OA默认密码是什么")
    await second.wait_message(containing="Saved as a draft", after=ask)
    await first.press("➕ Phrasing", message=old)  # drawn before the second trainer's edit
    again = await first.wait_message(containing="changed after that card was shown", after=old)
    assert "OA默认密码是什么" in again.text
    await first.press("✏️ Question", message=old)
    await first.wait_message(containing="changed after that card was shown", after=again)
    # The fresh card works, and what the other trainer added is still there.
    await first.press("🚀 Publish", message=again)
    await first.wait_message(containing="Published as version 2", after=again)
    [(content, _)] = await bot.services.knowledge.published_content()
    assert content.alternatives == ("OA初始密码是什么", "OA默认密码是什么")


async def test_a_forged_button_from_a_non_trainer_is_refused(bot: RunningBot, org: Org) -> None:
    await seed(bot, LOGIN)
    clerk = await org.phone("staff", language_code="en")
    async with bot.services.runtime.detached_uow() as uow:
        entry = await uow.faq.entry_by_key("oa-login")
    assert entry is not None
    await clerk.press_data(f"ke.open:{entry.id}:0")
    await clerk.press_data(f"ke.pub:{entry.id}:{entry.revision}")
    await clerk.press_data("ke.zzz:1:1")
    await clerk.command("/kb")
    await clerk.wait_message(containing="You are not allowed to do that")
    await bot.settle()
    toasts = [t.text for t in clerk.toasts()][-3:]  # the earlier one accepted the notice
    assert toasts == ["You are not allowed to do that."] * 2 + [
        "This button is not valid. Please use /menu."
    ]
    assert not any("oa-login" in m.text for m in clerk.messages())
    assert [v["version"] for v in await bot.services.knowledge.versions("oa-login")] == [1]


async def test_imports_report_first_and_export_import_changes_nothing(
    bot: RunningBot, org: Org
) -> None:
    await seed(bot, LOGIN)
    trainer = await org.phone("trainer", language_code="en")
    card = await home(trainer)
    await trainer.press("📥 Import a file", message=card)
    ask = await trainer.wait_message(containing="Send the knowledge-base file", after=card)
    dup = EntryContent(key="dup", question="第一次登录OA用什么密码?", answer="另一个答案")
    await trainer.upload("kb.xlsx", write_file([LEAVE, dup], "xlsx"), mime_type=XLSX)
    report = await trainer.wait_message(containing="Check of kb.xlsx", after=ask)
    assert "Line 3: the phrasing “第一次登录OA用什么密码?” already leads to entry oa-login" in (
        report.text
    )
    assert "Nothing was changed" in report.text and report.buttons == [["Cancel"]]
    assert [v.key for v in await bot.services.knowledge.entries()] == ["oa-login"]

    await trainer.upload("kb.pdf", b"%PDF-1.4", mime_type="application/pdf")
    error = await trainer.wait_message(containing=".xlsx, .csv or .yaml", after=report)
    await trainer.upload("kb.xlsx", b"not a workbook", mime_type=XLSX)
    error = await trainer.wait_message(containing="could not be read", after=error)

    good = write_file([LOGIN, LEAVE], "csv")
    await trainer.upload("kb.csv", good, mime_type="text/csv")
    report = await trainer.wait_message(containing="Check of kb.csv", after=error)
    assert "2 entries: 1 new, 0 changed, 1 unchanged" in report.text
    await trainer.press("🚀 Publish all", message=report)
    done = await trainer.wait_message(containing="1 entry published", after=report)
    assert "kb.csv" in done.text
    published = {c.key: v for c, v in await bot.services.knowledge.published_content()}
    assert published == {"leave": 1, "oa-login": 1}
    await trainer.press("🚀 Publish all", message=report)  # the same report again: gone
    await bot.settle()
    assert trainer.toasts()[-1].text == "This card is out of date. Please open it again."

    card = await home(trainer)
    await trainer.press("📤 Export XLSX", message=card)
    exported = await trainer.wait_message(containing="Knowledge base: 2 entries", after=card)
    assert exported.document is not None and exported.document.file_name is not None
    assert exported.document.file_name.endswith(".xlsx")
    await trainer.press("📥 Import a file", message=card)
    ask = await trainer.wait_message(containing="Send the knowledge-base file", after=exported)
    await trainer.upload("kb.xlsx", exported.document.read(), mime_type=XLSX)
    report = await trainer.wait_message(containing="Check of kb.xlsx", after=ask)
    assert "2 entries: 0 new, 0 changed, 2 unchanged" in report.text
    assert "there is nothing to change" in report.text
    assert {c.key: v for c, v in await bot.services.knowledge.published_content()} == published
    await bot.settle()
    assert bot.emulator.unanswered_callbacks() == []


PDF, DOCX = (
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
)


async def documents(phone: Phone, after: SentMessage, n: int) -> list[SentMessage]:
    """The next n documents the bot sends after a message."""
    found: list[SentMessage] = []
    for _ in range(n):
        found.append(await phone.wait_message(where=lambda m: m.document is not None, after=after))
        after = found[-1]
    return found


async def test_attachments_reach_the_preview_and_staff(bot: RunningBot, org: Org) -> None:
    await seed(bot, LOGIN, LEAVE)
    trainer = await org.phone("trainer", language_code="en")
    clerk = await org.phone("staff", language_code="en")
    card = first = await open_by_search(trainer, "初始密码", "第一次登录")
    await trainer.press("📎 Attachments", message=card)
    step = await trainer.wait_message(containing="Attachments of oa-login", after=card)
    assert "No attachments yet" in step.text and step.buttons == [["✅ Finished"]]
    files = {"OA操作手册.pdf": (b"%PDF-1.4 guide", PDF), "申请表.docx": (b"PK\x03\x04", DOCX)}
    for name, (data, mime) in files.items():
        await trainer.upload(name, data, mime_type=mime)
        step = await trainer.wait_message(containing=f"Added {name}", after=step)
    assert step.buttons == [["➖ OA操作手册.pdf"], ["➖ 申请表.docx"], ["✅ Finished"]]
    await trainer.upload_photo(b"\xff\xd8\xff photo")  # a photo is asked for as a document
    asked = await trainer.wait_message(containing="as a document", after=step)
    await trainer.press("✅ Finished", message=asked)
    card = await trainer.wait_message(containing="Attachments (2):", after=asked)
    assert "📎 OA操作手册.pdf" in card.text and "a draft is waiting" in card.text
    await trainer.press("📎 Attachments", message=first)  # drawn before the documents
    stale = await trainer.wait_message(containing="changed after that card was shown", after=card)
    assert "Attachments (2):" in stale.text

    # The preview is what staff will get: the 📎 list, then the documents themselves.
    await trainer.press("👁 Preview", message=card)
    preview = await trainer.wait_message(containing="Preview", after=stale)
    assert "📎 OA操作手册.pdf\n📎 申请表.docx" in preview.text
    sent = [m.document for m in await documents(trainer, preview, 2)]
    assert [(d.file_name, d.read()) for d in sent if d is not None] == [
        (name, data) for name, (data, _) in files.items()
    ]
    await trainer.press("🚀 Publish", message=card)
    card = await trainer.wait_message(containing="Published as version 2", after=preview)

    start = clerk.last_message()
    await clerk.send(LOGIN.question)
    answer = await clerk.wait_message(containing="📎 申请表.docx", after=start, timeout=60)
    assert "Did this answer your question?" in answer.text
    got = [m.document for m in await documents(clerk, answer, 2)]
    assert [d.read() for d in got if d is not None] == [data for data, _ in files.values()]

    # Remove one, fill up to five, and a sixth is refused.
    await trainer.press("📎 Attachments", message=card)
    step = await trainer.wait_message(containing="Attachments of oa-login", after=card)
    await trainer.press("➖ 申请表.docx", message=step)
    step = await trainer.wait_message(containing="Removed 申请表.docx", after=step)
    assert step.buttons == [["➖ OA操作手册.pdf"], ["✅ Finished"]]
    for n in range(2, 7):
        await trainer.upload(f"表{n}.pdf", b"%PDF-1.4 form", mime_type=PDF)
        step = await trainer.wait_message(containing="Attachments of oa-login", after=step)
    assert "at most 5 attachments. Remove one before attaching another" in step.text
    assert "表6.pdf" not in step.text.split("\n\n", 1)[1]
    await trainer.press("✅ Finished", message=step)
    card = await trainer.wait_message(containing="Attachments (5):", after=step)

    # Once the step is over a document is no attachment: a trainer is not the staff import's,
    # and the knowledge-base import still takes its file.
    await trainer.upload("kb.yaml", write_file([LEAVE], "yaml"), mime_type="application/yaml")
    await trainer.wait_message(containing="You are not allowed to do that", after=card)
    home_card = await home(trainer)
    await trainer.press("📥 Import a file", message=home_card)
    ask = await trainer.wait_message(containing="Send the knowledge-base file", after=home_card)
    await trainer.upload("kb.yaml", write_file([LEAVE], "yaml"), mime_type="application/yaml")
    await trainer.wait_message(containing="Check of kb.yaml", after=ask)
    async with bot.services.runtime.detached_uow() as uow:
        entry = await uow.faq.entry_by_key("oa-login")
    assert entry is not None and entry.draft is not None
    draft = EntryContent.from_json(entry.draft)
    assert [a.name for a in draft.attachments] == ["OA操作手册.pdf"] + [
        f"表{n}.pdf" for n in range(2, 6)
    ]
    trainer_id = await staff_id(bot, trainer)
    edits = [a for a in await audit(bot) if a[0] == "faq.edit"]
    assert len(edits) == 7 and all(a[2] == trainer_id for a in edits)
    await bot.settle()
    assert bot.emulator.unanswered_callbacks() == []


async def test_tags_and_follow_ups_in_chat(bot: RunningBot, org: Org) -> None:
    await seed(bot, LOGIN, LEAVE)
    trainer = await org.phone("trainer", language_code="en")
    card = await open_by_search(trainer, "初始密码", "第一次登录")
    await trainer.press("🔖 Tags", message=card)
    ask = await trainer.wait_message(containing="Type the tags of oa-login", after=card)
    await trainer.send(", ".join(f"标签{i}" for i in range(21)))
    ask = await trainer.wait_message(containing="at most 20 tags", after=ask)
    await trainer.send("密码, 账号、新员工")
    card = await trainer.wait_message(containing="Saved as a draft", after=ask)
    assert "Tags: 密码｜账号｜新员工" in card.text

    await trainer.press("🔗 Follow-ups", message=card)
    step = await trainer.wait_message(containing="Follow-ups of oa-login", after=card)
    assert "No follow-ups yet" in step.text
    await trainer.send("请假")
    found = await trainer.wait_message(containing="Search “请假”: 1 found", after=step)
    assert found.buttons == [["➕ 1. 怎么请假？"], ["✅ Finished"]]
    await trainer.press("➕ 1. 怎么请假？", message=found)
    step = await trainer.wait_message(containing="Added leave", after=found)
    assert "1. 怎么请假？ leave" in step.text and step.buttons[0] == ["➖ 怎么请假？"]
    await trainer.press("➕ 1. 怎么请假？", message=found)  # again: it is one already
    step = await trainer.wait_message(containing="already a follow-up", after=step)
    async with bot.services.runtime.detached_uow() as uow:
        login = await uow.faq.entry_by_key("oa-login")
    assert login is not None
    await trainer.press_data(f"ke.fuadd:{login.id}:{login.id}", message=step)  # forged: itself
    step = await trainer.wait_message(containing="cannot be its own follow-up", after=step)
    await trainer.press("✅ Finished", message=step)
    card = await trainer.wait_message(containing="Follow-ups (1):", after=step)
    assert "怎么请假？ leave" in card.text
    await trainer.press("👁 Preview", message=card)
    preview = await trainer.wait_message(containing="Preview", after=card)
    assert preview.buttons == [["➡️ 怎么请假？"]]
    await trainer.press("🚀 Publish", message=card)
    await trainer.wait_message(containing="Published as version 2", after=preview)
    [(content, _)] = [
        (c, v) for c, v in await bot.services.knowledge.published_content() if c.key == "oa-login"
    ]
    assert (content.tags, content.follow_ups) == (("密码", "账号", "新员工"), ("leave",))
    await bot.settle()
    assert bot.emulator.unanswered_callbacks() == []


async def test_forged_edit_buttons_from_a_non_trainer_are_refused(
    bot: RunningBot, org: Org
) -> None:
    await seed(bot, LOGIN, LEAVE)
    clerk = await org.phone("staff", language_code="en")
    async with bot.services.runtime.detached_uow() as uow:
        login = await uow.faq.entry_by_key("oa-login")
        leave = await uow.faq.entry_by_key("leave")
    assert login is not None and leave is not None
    forged = [
        f"ke.files:{login.id}:{login.revision}",
        "ke.rmfile:1:1",
        f"ke.tags:{login.id}:{login.revision}",
        f"ke.notags:{login.id}:0",
        f"ke.fups:{login.id}:{login.revision}",
        f"ke.fuadd:{login.id}:{leave.id}",
        "ke.furm:1:1",
    ]
    for data in forged:
        await clerk.press_data(data)
    await bot.settle()
    toasts = [t.text for t in clerk.toasts()][-len(forged) :]
    assert toasts == ["You are not allowed to do that."] * len(forged)
    async with bot.services.runtime.detached_uow() as uow:
        after = await uow.faq.entry_by_key("oa-login")
    assert after is not None and (after.revision, after.draft) == (login.revision, None)
    # A document from them is the staff import's as before (which refuses them too).
    start = clerk.last_message()
    await clerk.upload("guide.pdf", b"%PDF-1.4", mime_type=PDF)
    await clerk.wait_message(containing="You are not allowed to do that", after=start)
