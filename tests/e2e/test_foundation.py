"""Conversations of issue #3, played on phones against the emulator with the real bot."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import text

from bot.emulator import BotApiEmulator
from tests.e2e.conftest import Org, RunningBot

pytestmark = pytest.mark.asyncio


async def test_registration_with_invite_code_shows_menu_by_role(bot: RunningBot, org: Org) -> None:
    clerk = await org.phone("staff", name="李明")
    admin = await org.phone("admin;staff", name="王芳")
    clerk_menu = clerk.last_message()
    admin_menu = admin.last_message()
    assert "欢迎，李明" in clerk_menu.text
    flat = [b for row in clerk_menu.buttons for b in row]
    assert "📝 审批" in flat and "⚙️ 系统管理" not in flat
    assert "⚙️ 系统管理" in [b for row in admin_menu.buttons for b in row]
    # The notice's buttons are gone and it says what was accepted.
    notice = clerk.messages()[0]
    assert notice.buttons == [] and "已同意" in notice.text
    async with bot.services.runtime.detached_uow() as uow:
        consents = (await uow.session.exec(text("SELECT notice_version FROM consent"))).all()  # type: ignore[call-overload]
        actions = [e.action async for e in uow.audit.iterate()]
    assert len(consents) == 2 and consents[0][0]
    assert actions.count("staff.registered") == 2 and actions.count("invite.created") == 2
    assert (await bot.services.audit.verify()).ok


async def test_unregistered_user_gets_a_polite_explanation_and_nothing_else(
    bot: RunningBot, emulator: BotApiEmulator, org: Org
) -> None:
    await org.phone("admin")  # an organisation exists; the stranger is not in it
    stranger = emulator.user(first_name="Mallory", language_code="zh-hans")
    await stranger.send("你好")
    await stranger.command("/menu")
    await stranger.command("/help")
    await bot.settle()
    texts = [m.text for m in stranger.messages()]
    assert len(texts) == 1, texts  # one explanation a minute, not one per message
    assert "仅供已登记" in texts[0]
    assert stranger.messages()[0].buttons == []
    english = emulator.user(first_name="Eve", language_code="en")
    await english.command("/start")
    await bot.settle()
    assert "registered government staff only" in english.last_message().text


async def test_invite_code_problems_are_explained(
    bot: RunningBot, org: Org, emulator: BotApiEmulator
) -> None:
    employee_no = await org.add_staff("staff", name="赵强")
    issued = await bot.services.people.create_invite(employee_no, actor_id=None)
    guesser = emulator.user(first_name="Guess")
    await guesser.command("/start WRONGCODE123")
    await guesser.wait_message(containing="邀请码无效")
    # The real owner registers; a second account with the same code is told it is used.
    owner = emulator.user(first_name="赵强")
    await owner.command(f"/start {issued.code}")
    await owner.press("✅ 同意", message=await owner.wait_message(containing="隐私说明"))
    await owner.wait_message(containing="欢迎，赵强")
    thief = emulator.user(first_name="Thief")
    await thief.command(f"/start {issued.code}")
    await thief.wait_message(containing="已被使用")
    # An expired code.
    late_no = await org.add_staff("staff", name="钱六")
    late = await bot.services.people.create_invite(late_no, actor_id=None)
    bot.clock.advance(timedelta(hours=bot.settings.invite_ttl_hours + 1))  # type: ignore[attr-defined]
    latecomer = emulator.user(first_name="钱六")
    await latecomer.command(f"/start {late.code}")
    await latecomer.wait_message(containing="已过期")
    # Guessing is rate limited: after 5 failures in 15 minutes the account must wait (the
    # first wrong guess is outside the window now: the clock moved past the expiry).
    for i in range(6):
        await guesser.command(f"/start NOPE{i:08d}")
    await guesser.wait_message(containing="尝试次数过多")


async def test_language_switch_and_commands_in_both_languages(
    bot: RunningBot, org: Org, emulator: BotApiEmulator
) -> None:
    phone = await org.phone("staff")
    await phone.command("/language")
    picker = await phone.wait_message(containing="选择语言")
    await phone.press("English", message=picker)
    edited = await phone.wait_edit(picker)
    assert "Language set to English" in edited.text
    await phone.wait_message(containing="Main menu")
    await phone.command("/help")
    await phone.wait_message(containing="What I can do")
    zh = {c["command"]: c["description"] for c in emulator.commands(language_code="zh")}
    en = {c["command"]: c["description"] for c in emulator.commands(language_code="en")}
    assert zh["menu"] == "主菜单" and en["menu"] == "Main menu"
    assert set(zh) == set(en) == {
        "menu", "help", "language", "cancel", "start", "apply", "todo", "mine", "find",
        "delegate", "register", "overdue", "ask", "kb", "digest", "support", "survey",
        "newsurvey", "results", "quiz", "course", "announce",
    }  # fmt: skip
    assert zh["survey"] == "待我填写的问卷"
    assert zh["quiz"] == "待完成的保密安全测试"


async def test_forged_and_foreign_buttons_are_refused(
    bot: RunningBot, org: Org, emulator: BotApiEmulator
) -> None:
    clerk = await org.phone("staff")
    menu = clerk.last_message()
    earlier = len(clerk.toasts())  # the press that accepted the privacy notice
    for data in (
        "mn.open:99:0",
        "zz.top:1:1",
        "mn.open:１:0",
        "x" * 64,
        "st.part:1:0",
        "mn.open:10:0",
    ):  # 10 = administration: the clerk's menu has no such button
        await clerk.press_data(data, message=menu)
    await bot.settle()
    toasts = [t.text or "" for t in clerk.toasts()[earlier:]]
    # One answer per press, in the order pressed (one chat's updates are handled in order).
    assert [("按钮无效" in t, "无权" in t) for t in toasts] == [(True, False)] * 4 + [
        (False, True)
    ] * 2
    assert emulator.unanswered_callbacks() == []
    # Nothing happened: no admin text was sent to the clerk.
    assert not any("系统管理" in m.text for m in clerk.messages())


async def test_restart_in_the_middle_of_registration(
    bot: RunningBot, org: Org, emulator: BotApiEmulator
) -> None:
    employee_no = await org.add_staff("staff", name="孙丽")
    issued = await bot.services.people.create_invite(employee_no, actor_id=None)
    phone = emulator.user(first_name="孙丽")
    await phone.command(f"/start {issued.code}")
    notice = await phone.wait_message(containing="隐私说明")
    await bot.restart()  # the flow lives in the database, not in the process
    await phone.press("✅ 同意", message=notice)
    await phone.wait_message(containing="欢迎，孙丽")


async def test_redelivered_update_has_no_second_effect(
    bot: RunningBot, org: Org, emulator: BotApiEmulator
) -> None:
    phone = await org.phone("staff")
    before = len(phone.messages())
    update_id = await phone.command("/menu")
    await phone.wait_message(containing="主菜单", after=phone.messages()[-1].message_id)
    await bot.settle()
    await emulator.redeliver(update_id)
    await emulator.redeliver(update_id)
    await bot.settle()
    assert len(phone.messages()) == before + 1


async def test_429_pauses_only_the_chat_it_concerns(
    bot: RunningBot, org: Org, emulator: BotApiEmulator
) -> None:
    slow, fast = await org.phone("staff"), await org.phone("staff")
    await bot.settle()
    emulator.inject_error(
        "sendMessage", 429, "Too Many Requests: retry after 2", retry_after=2, chat_id=slow.id
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    await slow.command("/help")
    await fast.command("/help")
    await fast.wait_message(containing="我能做什么")
    fast_at = loop.time() - started
    await slow.wait_message(containing="我能做什么", timeout=10)
    slow_at = loop.time() - started
    assert fast_at < 1.5 and slow_at >= 2.0
    assert emulator.counters["429"] >= 1


async def test_403_marks_the_user_unreachable_until_they_come_back(
    bot: RunningBot, org: Org, emulator: BotApiEmulator
) -> None:
    phone = await org.phone("staff")
    await bot.settle()
    phone.block()
    await bot.services.people.tell(
        tg_id=phone.id, chat_id=phone.id, language_code=None, kind="menu.help"
    )
    bot.runner.sender.kick()  # type: ignore[union-attr]
    await bot.settle()
    assert emulator.counters["403"] >= 1
    calls_before = len(emulator.calls("sendMessage"))
    await bot.services.people.tell(
        tg_id=phone.id, chat_id=phone.id, language_code=None, kind="menu.help"
    )
    await bot.settle()
    assert len(emulator.calls("sendMessage")) == calls_before  # not even tried
    phone.unblock()
    await phone.command("/menu")
    await phone.wait_message(containing="主菜单", after=phone.messages()[-1].message_id)


async def test_disabling_takes_effect_immediately(bot: RunningBot, org: Org) -> None:
    admin = await org.phone("admin")
    clerk = await org.phone("staff", name="周八")
    await admin.command("/disable E0002")
    await admin.wait_message(containing="已停用")
    await clerk.command("/menu")
    await clerk.wait_message(containing="账户已被停用")
    async with bot.services.runtime.detached_uow() as uow:
        actions = [e.action async for e in uow.audit.iterate()]
    assert "staff.disabled" in actions


async def test_admin_uploads_a_staff_file_with_an_error_then_imports_valid_rows(
    bot: RunningBot, org: Org
) -> None:
    admin = await org.phone("admin")
    csv = (
        "employee_no,name,department,roles,superior,telegram_id,language\n"
        "A100,陈一,财务科,finance,,,\n"
        "A101,林二,财务科,wizard,,,\n"
    ).encode()
    await admin.upload("staff.csv", csv, mime_type="text/csv")
    report = await admin.wait_message(containing="人员导入")
    assert "第 3 行" in report.text and "未写入" in report.text
    await admin.press("导入有效行", message=report)
    done = await admin.wait_message(containing="通讯录已更新")
    assert "新增 1" in done.text
    # A non-admin's upload is refused and nothing is imported.
    clerk = await org.phone("staff")
    await clerk.upload("staff.csv", csv, mime_type="text/csv")
    await clerk.wait_message(containing="无权")


async def test_webhook_mode_checks_the_secret_and_serves_healthz(
    emulator: BotApiEmulator,
    tmp_path,
    db_url: str,  # type: ignore[no-untyped-def]
) -> None:
    import socket

    import aiohttp

    from handlers.app import BotRunner
    from tests.e2e.conftest import bot_settings, prepare_database

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = bot_settings(emulator, tmp_path / "data", db_url)
    await prepare_database(settings)
    runner = BotRunner(
        settings, webhook_url=f"http://127.0.0.1:{port}", listen=("127.0.0.1", port)
    )
    await runner.start()
    try:
        stranger = emulator.user(first_name="Web")
        await stranger.command("/start")
        await stranger.wait_message(containing="仅供已登记")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                assert resp.status == 200 and (await resp.json())["ok"] is True
            hook = emulator.webhook_url()
            async with http.post(
                hook, json={"update_id": 1}, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}
            ) as resp:
                assert resp.status == 403
    finally:
        await runner.stop()


async def test_admin_invites_in_chat_and_the_link_registers(
    bot: RunningBot, org: Org, emulator: BotApiEmulator
) -> None:
    admin = await org.phone("admin")
    employee_no = await org.add_staff("staff", name="郑九")
    await admin.command("/invite")
    await admin.wait_message(containing="用法：/invite 工号")
    await admin.command(f"/invite {employee_no}")
    card = await admin.wait_message(containing="郑九")
    link = next(w for w in card.text.split() if w.startswith("https://t.me/"))
    assert link.startswith("https://t.me/govoffice_test_bot?start=")
    code = link.split("start=", 1)[1]
    newcomer = emulator.user(first_name="郑九")
    await newcomer.command(f"/start {code}")
    await newcomer.press("✅ 同意", message=await newcomer.wait_message(containing="隐私说明"))
    await newcomer.wait_message(containing="欢迎，郑九")
    clerk = await org.phone("staff")
    await clerk.command(f"/invite {employee_no}")
    await clerk.wait_message(containing="无权")


async def test_editing_a_sent_command_runs_nothing_again(
    bot: RunningBot, org: Org, emulator: BotApiEmulator
) -> None:
    phone = await org.phone("staff")
    update_id = await phone.command("/help")
    await phone.wait_message(containing="我能做什么")
    await bot.settle()
    before = len(phone.messages())
    sent = [m for m in phone.messages(include_user=True) if not m.from_bot][-1]
    await phone.edit(sent.message_id, "/menu")
    await bot.settle()
    assert update_id and len(phone.messages()) == before
