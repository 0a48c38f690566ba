"""The emulator features the browser sandbox stands on: a saved world, the command menu a
client shows, live traffic events, the browser guard and file downloads."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import telegram
from telegram import BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeChat

from bot.emulator import BotApiEmulator
from bot.emulator.persist import autosave, load_state, save_state

TOKEN = "123456:TEST-TOKEN"


async def _config() -> dict[str, Any]:
    return {"hello": "世界"}


async def _running(emulator: BotApiEmulator) -> AsyncIterator[BotApiEmulator]:
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
async def emu() -> AsyncIterator[BotApiEmulator]:
    async for running in _running(BotApiEmulator()):
        yield running


@pytest.fixture
async def ui_emu() -> AsyncIterator[BotApiEmulator]:
    async for running in _running(BotApiEmulator(ui_config=_config)):
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _bot(emu: BotApiEmulator) -> telegram.Bot:
    return telegram.Bot(TOKEN, base_url=emu.base_url, base_file_url=emu.file_base_url)


# ---- persistence ----------------------------------------------------------------------------


async def test_a_saved_world_comes_back_whole(emu: BotApiEmulator, tmp_path: Path) -> None:
    phone = emu.user(first_name="徐丽", user_id=20011, language_code="zh-hans")
    other = emu.user(first_name="吴强")
    group = emu.group(title="服务台", members=[phone, other], forum=True)
    await emu.add_bot_to_group(group, phone)
    async with _bot(emu) as bot:
        joined = await bot.get_updates()
        await bot.get_updates(offset=joined[-1].update_id + 1, timeout=0)  # confirmed
        first = await bot.send_message(20011, "<b>卡片</b>", parse_mode="HTML")
        await bot.edit_message_text("卡片 v2", 20011, first.message_id)
        await bot.send_document(20011, b"%PDF-1.4 demo", filename="公文.pdf")
        topic = await bot.create_forum_topic(group.chat_id, "工单 #T1")
        await bot.set_my_commands([BotCommand("todo", "待办")], language_code="zh")
    pending = await phone.send("未处理的消息")  # the bot never fetched it
    save_state(emu.state, tmp_path)

    fresh = BotApiEmulator()
    assert fresh.load(tmp_path) is True
    restored = fresh.phone(20011)
    texts = [m.versions for m in restored.messages(include_user=True)]
    assert ["卡片", "卡片 v2"] in texts
    document = restored.messages()[-1].document
    assert document is not None and document.file_name == "公文.pdf"
    assert document.read() == b"%PDF-1.4 demo"
    assert restored.user.language_code == "zh-hans"
    assert fresh.group_by_id(group.chat_id).topics() == {topic.message_thread_id: "工单 #T1"}
    assert fresh.state.visible_commands(20011, 20011) == [
        {"command": "todo", "description": "待办"}
    ]
    await fresh.start()
    try:
        async with _bot(fresh) as bot:
            updates = await bot.get_updates()
            # The update nobody had fetched is still waiting, under its own id…
            assert [u.update_id for u in updates] == [pending]
            nxt = await restored.send("新消息")
            # …and ids, message ids and file ids go on from where they were, never reused.
            assert nxt > pending
            again = await bot.send_message(20011, "继续")
            assert again.message_id > first.message_id + 2
    finally:
        await fresh.stop()


def test_a_world_saved_for_another_bot_is_refused(tmp_path: Path) -> None:
    save_state(BotApiEmulator(token="111:A").state, tmp_path)
    with pytest.raises(ValueError, match="saved for bot 111"):
        load_state(BotApiEmulator(token="222:B").state, tmp_path)
    assert BotApiEmulator().load(tmp_path / "nothing-here") is False


async def test_autosave_writes_changes_and_a_last_save_at_stop(
    emu: BotApiEmulator, tmp_path: Path
) -> None:
    stop = asyncio.Event()
    saver = asyncio.create_task(autosave(emu.state, tmp_path, stop, every_s=0.05))
    phone = emu.user(first_name="孙浩")
    await phone.send("第一条")
    for _ in range(100):
        if (tmp_path / "state.json").exists():
            break
        await asyncio.sleep(0.02)
    assert "第一条" in (tmp_path / "state.json").read_text(encoding="utf-8")
    await phone.send("最后一条")
    stop.set()
    await saver
    assert "最后一条" in (tmp_path / "state.json").read_text(encoding="utf-8")


# ---- the command menu a client shows ----------------------------------------------------------


async def test_command_menu_follows_telegrams_scope_and_language_order(
    emu: BotApiEmulator,
) -> None:
    zh = emu.user(first_name="甲", language_code="zh-hans")
    en = emu.user(first_name="B", language_code="en")
    fr = emu.user(first_name="C", language_code="fr")
    async with _bot(emu) as bot:
        await bot.set_my_commands([BotCommand("menu", "主菜单")])
        await bot.set_my_commands([BotCommand("menu", "Main menu")], language_code="en")
        await bot.set_my_commands(
            [BotCommand("menu", "主菜单"), BotCommand("todo", "待办")],
            scope=BotCommandScopeAllPrivateChats(),
            language_code="zh",
        )
        await bot.set_my_commands(
            [BotCommand("admin", "管理")], scope=BotCommandScopeChat(fr.chat_id)
        )
    assert [c["command"] for c in zh.visible_commands()] == ["menu", "todo"]
    assert en.visible_commands() == [{"command": "menu", "description": "Main menu"}]
    assert [c["command"] for c in fr.visible_commands()] == ["admin"]
    zh.set_language("en")  # the app's language changed: the menu follows it
    assert zh.visible_commands() == [{"command": "menu", "description": "Main menu"}]


# ---- events and the control API for the page -------------------------------------------------


async def test_traffic_events_name_the_chat_and_user_messages_show_up(
    emu: BotApiEmulator, http: aiohttp.ClientSession
) -> None:
    events: list[dict[str, Any]] = []

    async def listen() -> None:
        async with http.get(f"{emu.url}/__emu/events") as resp:
            async for raw in resp.content:
                line = raw.decode().strip()
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.1)
    phone = emu.user(first_name="徐丽")
    async with _bot(emu) as bot:
        markup = telegram.InlineKeyboardMarkup(
            [[telegram.InlineKeyboardButton("同意", callback_data="ok")]]
        )
        sent = await bot.send_message(phone.chat_id, "请选择" * 40, reply_markup=markup)
        await phone.send("你好")
        await bot.get_updates()
        await bot.edit_message_reply_markup(phone.chat_id, sent.message_id)
        await bot.send_message(phone.chat_id, "x")
        with pytest.raises(telegram.error.BadRequest):
            await bot.send_message(phone.chat_id, "")
    await emu.state.wait_until(
        lambda: sum(e["type"] == "api_call" for e in events) >= 5, 3.0, lambda: str(events)
    )
    listener.cancel()
    calls = [e for e in events if e["type"] == "api_call"]
    send = next(c for c in calls if c["method"] == "sendMessage")
    assert send["chat_id"] == phone.chat_id and send["status"] == 200
    text, markup = send["payload"].split(" ", 1)
    assert text.startswith("text=请选择") and text.endswith("…") and len(text) == 5 + 80
    assert markup == "reply_markup=1 buttons" and send["latency_ms"] >= 0
    delivered = next(c for c in calls if c["method"] == "getUpdates")
    assert delivered["updates"][0]["chat_id"] == phone.chat_id
    assert delivered["updates"][0]["kind"] == "message"
    failed = [c for c in calls if c["status"] == 400]
    assert failed and "empty" in failed[0]["error_description"]
    mine = [e for e in events if e["type"] == "message" and not e["message"]["from_bot"]]
    assert [m["message"]["text"] for m in mine] == ["你好"]
    assert mine[0]["message"]["sender_name"] == "徐丽"

    async with http.get(
        f"{emu.url}/__emu/calls", params={"chat_id": phone.chat_id, "brief": "1", "limit": "2"}
    ) as resp:
        brief = (await resp.json())["result"]
    assert [c["method"] for c in brief] == ["sendMessage", "sendMessage"]
    assert set(brief[0]) >= {"method", "status", "latency_ms", "payload", "at"}


async def test_answer_callback_traffic_belongs_to_the_chat_of_the_press(
    emu: BotApiEmulator,
) -> None:
    phone = emu.user(first_name="吴强")
    async with _bot(emu) as bot:
        markup = telegram.InlineKeyboardMarkup(
            [[telegram.InlineKeyboardButton("同意", callback_data="ok")]]
        )
        await bot.send_message(phone.chat_id, "卡片", reply_markup=markup)
        query_id = await phone.press("同意")
        await bot.answer_callback_query(query_id, text="已同意")
    (answer,) = emu.calls("answerCallbackQuery")
    assert answer.chat_id == phone.chat_id


async def test_language_commands_group_upload_and_topics_over_http(
    emu: BotApiEmulator, http: aiohttp.ClientSession
) -> None:
    ctl = f"{emu.url}/__emu"
    phone = emu.user(first_name="杨帆", language_code="zh-hans")
    group = emu.group(title="服务台", members=[phone], forum=True)
    await emu.add_bot_to_group(group, phone)
    async with _bot(emu) as bot:
        await bot.set_my_commands([BotCommand("menu", "Main menu")], language_code="en")
        await bot.set_my_commands([BotCommand("menu", "主菜单")])
        topic = await bot.create_forum_topic(group.chat_id, "工单")
    async with http.post(f"{ctl}/users/{phone.id}/language", json={"language_code": "en"}) as r:
        assert (await r.json())["result"]["language_code"] == "en"
    async with http.get(f"{ctl}/users/{phone.id}/commands") as r:
        assert (await r.json())["result"] == [{"command": "menu", "description": "Main menu"}]
    payload = {
        "user_id": phone.id,
        "file_name": "截图.png",
        "data_base64": base64.b64encode(b"\x89PNG").decode(),
        "mime_type": "image/png",
        "thread_id": topic.message_thread_id,
    }
    async with http.post(f"{ctl}/groups/{group.chat_id}/upload", json=payload) as r:
        assert r.status == 200
    (posted,) = group.messages(include_user=True)
    assert posted.document is not None and posted.message_thread_id == topic.message_thread_id
    async with http.get(f"{ctl}/groups/{group.chat_id}/topics") as r:
        topics = (await r.json())["result"]
    assert [t["name"] for t in topics] == ["工单"]
    reply = {"user_id": phone.id, "text": "收到", "reply_to": posted.message_id}
    async with http.post(f"{ctl}/groups/{group.chat_id}/send", json=reply) as r:
        assert r.status == 200
    assert group.messages(include_user=True)[-1].to_json()["reply_to_message_id"] == (
        posted.message_id
    )
    async with http.post(f"{ctl}/users/{phone.id}/language", json={"language_code": 5}) as r:
        assert r.status == 400


async def test_files_open_in_place_only_when_a_browser_just_shows_them(
    emu: BotApiEmulator, http: aiohttp.ClientSession
) -> None:
    phone = emu.user(first_name="王磊")
    await phone.upload("签报.pdf", b"%PDF-1.4", mime_type="application/pdf")
    await phone.upload("evil.html", b"<script>alert(1)</script>", mime_type="text/html")
    pdf, html = (m.document for m in phone.messages(include_user=True))
    assert pdf is not None and html is not None
    async with http.get(f"{emu.url}/__emu/files/{pdf.file_id}") as r:
        assert r.headers["Content-Type"] == "application/pdf"
        assert r.headers["Content-Disposition"].startswith("inline;")
        assert "filename*=UTF-8''%E7%AD%BE%E6%8A%A5.pdf" in r.headers["Content-Disposition"]
        assert await r.read() == b"%PDF-1.4"
    async with http.get(f"{emu.url}/__emu/files/{pdf.file_id}?download=1") as r:
        assert r.headers["Content-Disposition"].startswith("attachment;")
    async with http.get(f"{emu.url}/__emu/files/{html.file_id}") as r:
        # Uploaded HTML would run as this origin's page: it only ever downloads.
        assert r.headers["Content-Disposition"].startswith("attachment;")
        assert r.headers["X-Content-Type-Options"] == "nosniff"


# ---- the page and its guard ------------------------------------------------------------------


async def test_page_config_and_static_files_are_served(
    ui_emu: BotApiEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{ui_emu.url}/__ui/config") as r:
        assert (await r.json())["result"] == {"hello": "世界"}
    async with http.get(f"{ui_emu.url}/") as r:
        assert r.status == 200 and r.content_type == "text/html"
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        assert "/__ui/static/app.js" in await r.text()
    async with http.get(f"{ui_emu.url}/__ui/static/app.js") as r:
        assert r.status == 200 and r.content_type == "text/javascript"
    async with http.get(f"{ui_emu.url}/__ui/static/..%2Fpersist.py") as r:
        assert r.status == 404


async def test_browser_guard_refuses_foreign_hosts_and_non_json_writes(
    ui_emu: BotApiEmulator, http: aiohttp.ClientSession
) -> None:
    phone = ui_emu.user(first_name="徐丽")
    url = f"{ui_emu.url}/__emu/users/{phone.id}/send"
    # DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends its own Host.
    async with http.get(f"{ui_emu.url}/__ui/config", headers={"Host": "evil.example"}) as r:
        assert r.status == 403
    # A cross-site form post (text/plain, no preflight) must not act as a user.
    async with http.post(url, data='{"text": "x"}', headers={"Content-Type": "text/plain"}) as r:
        assert r.status == 415
    async with http.post(url, json={"text": "x"}, headers={"Origin": "http://evil.example"}) as r:
        assert r.status == 403
    assert phone.messages(include_user=True) == []
    async with http.post(url, json={"text": "好"}, headers={"Origin": ui_emu.url}) as r:
        assert r.status == 200
    localhost = {"Host": f"localhost:{ui_emu.port}"}  # the same server under its other name
    async with http.get(f"{ui_emu.url}/__ui/config", headers=localhost) as r:
        assert r.status == 200
    # The bot's own API is not a browser: PTB's requests pass untouched.
    async with _bot(ui_emu) as bot:
        assert (await bot.get_me()).username == "govoffice_test_bot"
