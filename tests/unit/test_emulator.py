"""Tests for the loopback Bot API emulator, driven over real HTTP and through real PTB."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import telegram
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Conflict, Forbidden, NetworkError, RetryAfter
from telegram.ext import Application, CommandHandler, ContextTypes

from bot.emulator import (
    ApiError,
    BotApiEmulator,
    ButtonNotFound,
    Group,
    HtmlParseError,
    Phone,
    RateLimitConfig,
    RateLimiter,
    SlidingWindow,
    parse_html,
)
from bot.emulator.html import utf16_len
from bot.emulator.methods import BotApi
from bot.emulator.state import EmulatorState

TOKEN = "123456:TEST-TOKEN"
# PTB 22 warns when RetryAfter.retry_after is read as int; the tests read it on purpose.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Deprecated since version v22.2:telegram.warnings.PTBDeprecationWarning"
)


def seconds(value: object) -> int:
    """RetryAfter.retry_after in whole seconds: an int, or a timedelta with PTB_TIMEDELTA set
    (handlers/ opts in, so which one a test sees depends on what was imported first)."""
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    assert isinstance(value, int)
    return value


class FakeClock:
    """Manually advanced monotonic clock for the rate limiter."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def emu() -> AsyncIterator[BotApiEmulator]:
    emulator = BotApiEmulator(webhook_backoff_s=0.02)
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
async def bot(emu: BotApiEmulator) -> AsyncIterator[telegram.Bot]:
    ptb = telegram.Bot(TOKEN, base_url=emu.base_url, base_file_url=emu.file_base_url)
    async with ptb:
        yield ptb


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data) for text, data in row] for row in rows]
    )


# ---- raw HTTP -------------------------------------------------------------------------------


async def test_envelopes_tokens_and_unknown_methods(
    emu: BotApiEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{emu.base_url}{TOKEN}/getMe") as resp:
        body = await resp.json()
        assert resp.status == 200
        assert body["ok"] is True
        assert body["result"]["id"] == 123456
        assert body["result"]["username"] == "govoffice_test_bot"
    async with http.post(f"{emu.base_url}999:WRONG/getMe") as resp:
        assert resp.status == 401
        assert await resp.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    async with http.post(f"{emu.base_url}{TOKEN}/sendTelepathy") as resp:
        assert resp.status == 404
        assert (await resp.json())["description"] == "Not Found: method not found"


async def test_json_form_and_multipart_bodies(
    emu: BotApiEmulator, http: aiohttp.ClientSession
) -> None:
    phone = emu.user("Ann")
    url = f"{emu.base_url}{TOKEN}"
    markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    async with http.post(
        f"{url}/sendMessage", json={"chat_id": phone.id, "text": "json", "reply_markup": markup}
    ) as resp:
        assert resp.status == 200
        assert (await resp.json())["result"]["reply_markup"] == markup
    form = {"chat_id": str(phone.id), "text": "form", "reply_markup": json.dumps(markup)}
    async with http.post(f"{url}/sendMessage", data=form) as resp:
        assert resp.status == 200
    data = aiohttp.FormData()
    data.add_field("chat_id", str(phone.id))
    data.add_field("document", b"abc", filename="a.bin", content_type="application/x-test")
    async with http.post(f"{url}/sendDocument", data=data) as resp:
        result = (await resp.json())["result"]
        assert result["document"]["file_name"] == "a.bin"
        assert result["document"]["file_size"] == 3
    texts = [m.text for m in phone.messages()]
    assert texts == ["json", "form", ""]
    assert phone.messages()[1].buttons == [["Go"]]
    document = phone.messages()[2].document
    assert document is not None and document.read() == b"abc"


async def test_chat_not_found_and_invalid_json(
    emu: BotApiEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        f"{emu.base_url}{TOKEN}/sendMessage", json={"chat_id": 424242, "text": "x"}
    ) as resp:
        assert resp.status == 400
        assert (await resp.json())["description"] == "Bad Request: chat not found"
    async with http.post(
        f"{emu.base_url}{TOKEN}/sendMessage",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    ) as resp:
        assert resp.status == 400


# ---- PTB: sending and editing ---------------------------------------------------------------


async def test_get_me_via_ptb(bot: telegram.Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123456
    assert me.is_bot
    assert me.username == "govoffice_test_bot"


async def test_send_edit_not_modified_and_not_found(
    emu: BotApiEmulator, bot: telegram.Bot
) -> None:
    phone = emu.user("张三", language_code="zh-hans")
    sent = await bot.send_message(phone.id, "v1", reply_markup=keyboard([("同意", "ok")]))
    assert sent.chat.first_name == "张三"
    assert sent.from_user is not None and sent.from_user.id == 123456
    snapshot = phone.last_message()
    assert snapshot is not None and snapshot.callback_data == [["ok"]]

    edited = await bot.edit_message_text("v2", phone.id, sent.message_id)
    assert isinstance(edited, telegram.Message)
    assert edited.edit_date is not None
    new = await phone.wait_edit(snapshot)
    assert new.versions == ["v1", "v2"]
    assert new.reply_markup is None  # editMessageText without markup drops the keyboard

    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("v2", phone.id, sent.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("zzz", phone.id, 9999)

    await bot.edit_message_reply_markup(
        phone.id, sent.message_id, reply_markup=keyboard([("A", "a")])
    )
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_reply_markup(
            phone.id, sent.message_id, reply_markup=keyboard([("A", "a")])
        )
    assert await bot.delete_message(phone.id, sent.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(phone.id, sent.message_id)
    assert phone.messages()[0].deleted
    assert phone.last_message() is None


async def test_html_accepted_with_utf16_entities(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    phone = emu.user("Ann")
    html = '😀 <b>粗体</b> <a href="https://gov.example/x?a=1&amp;b=2">link</a> &lt;tag&gt;'
    msg = await bot.send_message(phone.id, html, parse_mode="HTML")
    assert msg.text == "😀 粗体 link <tag>"
    bold, link = msg.entities
    assert (bold.type, bold.offset, bold.length) == ("bold", 3, 2)  # 😀 is 2 UTF-16 units
    assert link.url == "https://gov.example/x?a=1&b=2"
    stored = phone.last_message()
    assert stored is not None and stored.html == html and stored.text == msg.text


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>"'),
        ("AT&T", 'Character "&" must be escaped'),
        ("</b>", "Unexpected end tag at byte offset 0"),
        ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler"'),
    ],
)
async def test_html_rejected(
    emu: BotApiEmulator, bot: telegram.Bot, html: str, reason: str
) -> None:
    phone = emu.user("Ann")
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(phone.id, html, parse_mode="HTML")
    with pytest.raises(ApiError) as info:
        await emu.call("sendMessage", chat_id=phone.id, text=html, parse_mode="HTML")
    assert info.value.description.startswith("Bad Request: can't parse entities: ")
    assert reason.split(" at byte")[0] in info.value.description
    assert phone.messages() == []


async def test_text_length_limits(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    phone = emu.user("Ann")
    await bot.send_message(phone.id, "x" * 4096)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(phone.id, "x" * 4097)
    # The limit applies after entity parsing: markup does not count.
    await bot.send_message(phone.id, "<b>" + "y" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(phone.id, "<b>  </b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
        await bot.send_document(phone.id, b"x", filename="x.txt", caption="c" * 1025)


async def test_callback_data_limit_is_64_bytes(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    phone = emu.user("Ann")
    await bot.send_message(phone.id, "ok", reply_markup=keyboard([("a", "x" * 64)]))
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(phone.id, "no", reply_markup=keyboard([("a", "x" * 65)]))
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(phone.id, "no", reply_markup=keyboard([("a", "中" * 22)]))
    with pytest.raises(ApiError, match=r"Text buttons are unallowed"):
        await emu.call(
            "sendMessage",
            chat_id=phone.id,
            text="t",
            reply_markup={"inline_keyboard": [[{"text": "bare"}]]},
        )


async def test_reply_keyboards(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    phone = emu.user("Ann")
    markup = telegram.ReplyKeyboardMarkup(
        [["是", "否"]], resize_keyboard=True, one_time_keyboard=True
    )
    msg = await bot.send_message(phone.id, "choose", reply_markup=markup)
    assert msg.reply_markup is None  # Telegram echoes only inline keyboards
    stored = phone.last_message()
    assert stored is not None and stored.buttons == [["是", "否"]]
    assert stored.reply_markup is not None and stored.reply_markup["one_time_keyboard"]
    await bot.send_message(phone.id, "gone", reply_markup=telegram.ReplyKeyboardRemove())
    await bot.send_message(phone.id, "reply?", reply_markup=telegram.ForceReply())


# ---- updates --------------------------------------------------------------------------------


async def test_get_updates_offset_confirmation(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    phone = emu.user("Ann")
    first = await phone.send("one")
    second = await phone.send("two")
    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [first, second]
    assert [u.update_id for u in await bot.get_updates()] == [first, second]  # unconfirmed
    updates = await bot.get_updates(offset=second)
    assert [u.update_id for u in updates] == [second]  # everything below was forgotten
    assert emu.pending_updates() == 1
    assert await bot.get_updates(offset=second + 1) == ()
    assert emu.pending_updates() == 0
    third = await phone.send("three")
    assert [u.update_id for u in await bot.get_updates(limit=1)] == [third]


async def test_long_poll_wakes_up_when_phone_sends(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    phone = emu.user("Ann")
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.1)
    assert not poll.done()
    await phone.command("/start abc")
    updates = await asyncio.wait_for(poll, 3)
    assert time.monotonic() - started < 3
    message = updates[0].message
    assert message is not None and message.text == "/start abc"
    assert message.entities[0].type == "bot_command" and message.entities[0].length == 6


async def test_redeliver_returns_same_update_id(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    phone = emu.user("Ann")
    update_id = await phone.send("pay 100")
    (_update,) = await bot.get_updates()
    assert await bot.get_updates(offset=update_id + 1) == ()
    await emu.redeliver(update_id)
    again = await bot.get_updates(offset=update_id + 1, timeout=1)
    assert [u.update_id for u in again] == [update_id]
    assert again[0].message is not None and again[0].message.text == "pay 100"
    assert await bot.get_updates(offset=update_id + 1) == ()


async def test_press_creates_callback_query_and_answers_once(
    emu: BotApiEmulator, bot: telegram.Bot
) -> None:
    phone = emu.user("Ann")
    await bot.send_message(phone.id, "old", reply_markup=keyboard([("同意", "ap.ok:1:0")]))
    sent = await bot.send_message(
        phone.id, "审批?", reply_markup=keyboard([("同意", "ap.ok:1:1"), ("拒绝", "ap.no:1:1")])
    )
    query_id = await phone.press("同意")
    (update,) = await bot.get_updates()
    query = update.callback_query
    assert query is not None and query.id == query_id
    assert query.data == "ap.ok:1:1"  # the newest message with that button
    assert query.message is not None and query.message.message_id == sent.message_id
    assert query.from_user.id == phone.id
    assert emu.unanswered_callbacks() == [query_id]

    await bot.answer_callback_query(query_id, text="已同意", show_alert=True)
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query_id)
    assert emu.unanswered_callbacks() == []
    assert [(t.text, t.show_alert) for t in phone.toasts()] == [("已同意", True)]

    forged = await phone.press_data("ap.ok:999:1", message=phone.messages()[0])
    updates = await bot.get_updates(offset=update.update_id + 1)
    assert updates[0].callback_query is not None
    assert updates[0].callback_query.data == "ap.ok:999:1"
    assert updates[0].callback_query.id == forged
    with pytest.raises(ButtonNotFound, match=r"no inline button 'nope'"):
        await phone.press("nope")
    with pytest.raises(KeyError):
        await phone.press("nope")


async def test_blocked_user_gets_forbidden(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    phone = emu.user("Ann")
    await bot.send_message(phone.id, "hi")
    phone.block()
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(phone.id, "still there?")
    assert emu.counters["403"] == 1
    phone.unblock()
    await bot.send_message(phone.id, "welcome back")
    kinds = [
        (u.my_chat_member.old_chat_member.status, u.my_chat_member.new_chat_member.status)
        for u in await bot.get_updates()
        if u.my_chat_member is not None
    ]
    assert kinds == [("member", "kicked"), ("kicked", "member")]


async def test_rate_limits_give_retry_after() -> None:
    clock = FakeClock()
    emu = BotApiEmulator(rate_limits=True, clock=clock)
    await emu.start()
    try:
        async with telegram.Bot(TOKEN, base_url=emu.base_url) as bot:
            phone = emu.user("Ann")
            for i in range(3):
                await bot.send_message(phone.id, f"burst {i}")
            with pytest.raises(RetryAfter) as info:
                await bot.send_message(phone.id, "one too many")
            assert seconds(info.value.retry_after) == 1
            # answerCallbackQuery does not count; edits do.
            clock.now += 1.01
            msg = await bot.send_message(phone.id, "after the window")
            await bot.edit_message_text("e1", phone.id, msg.message_id)
            await bot.edit_message_text("e2", phone.id, msg.message_id)
            with pytest.raises(RetryAfter):
                await bot.edit_message_text("e3", phone.id, msg.message_id)

            member = emu.user("Bob")
            group = emu.group("支持服务台", members=[member])
            await emu.add_bot_to_group(group, by=member)
            clock.now += 5
            for i in range(20):
                clock.now += 0.1  # stay under the global 30/s limit
                await bot.send_message(group.id, f"g{i}")
            with pytest.raises(RetryAfter) as info:
                await bot.send_message(group.id, "21st in a minute")
            retry_after = seconds(info.value.retry_after)
            assert 55 <= retry_after <= 60
            assert emu.counters["429"] == 3
    finally:
        await emu.stop()


def test_sliding_window_and_global_limit() -> None:
    window = SlidingWindow(limit=3, window_s=1.0)
    for t in (0.0, 0.2, 0.4):
        assert window.wait_time("c", t) == 0
        window.record("c", t)
    assert window.wait_time("c", 0.5) == pytest.approx(0.5)
    assert window.wait_time("c", 1.0) == 0  # the t=0.0 event left the trailing window
    assert window.wait_time("other", 0.5) == 0

    clock = FakeClock()
    limiter = RateLimiter(RateLimitConfig(private_limit=100), clock)
    results = [limiter.acquire(chat_id, is_group=False) for chat_id in range(31)]
    assert results[:30] == [None] * 30
    assert results[30] == 1


async def test_injected_faults_and_latency(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    phone = emu.user("Ann")
    emu.inject_error("sendMessage", 502)
    with pytest.raises(NetworkError, match=r"Bad Gateway"):
        await bot.send_message(phone.id, "x")
    await bot.send_message(phone.id, "recovered")
    emu.inject_error("sendMessage", 500, count=2)
    for _ in range(2):
        with pytest.raises(NetworkError):
            await bot.send_message(phone.id, "x")
    emu.inject_error("sendMessage", 429, retry_after=7, chat_id=phone.id)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(phone.id, "x")
    assert seconds(info.value.retry_after) == 7
    emu.set_latency(0.2)
    started = time.monotonic()
    await bot.get_me()
    assert time.monotonic() - started >= 0.2
    emu.set_latency(0)
    statuses = [c.status for c in emu.calls("sendMessage")]
    assert statuses == [502, 200, 500, 500, 429]
    assert emu.calls("getMe")[-1].latency_s >= 0.2
    assert [m.text for m in phone.messages()] == ["recovered"]


# ---- files ----------------------------------------------------------------------------------


async def test_phone_upload_get_file_and_download(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    phone = emu.user("Ann")
    content = "工号,姓名\n1,张三\n".encode()
    await phone.upload("staff.csv", content, mime_type="text/csv", caption="名单")
    (update,) = await bot.get_updates()
    message = update.message
    assert message is not None and message.document is not None
    assert message.caption == "名单"
    assert message.document.file_name == "staff.csv"
    assert message.document.mime_type == "text/csv"
    file = await message.document.get_file()
    assert file.file_size == len(content)
    assert bytes(await file.download_as_bytearray()) == content


async def test_big_file_is_too_big_for_get_file(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    phone = emu.user("Ann")
    await phone.upload("big.bin", b"\0" * (20 * 1024 * 1024 + 1))
    (update,) = await bot.get_updates()
    assert update.message is not None and update.message.document is not None
    with pytest.raises(BadRequest, match=r"(?i)file is too big"):
        await update.message.document.get_file()


async def test_bot_send_document_and_resend_by_file_id(
    emu: BotApiEmulator, bot: telegram.Bot
) -> None:
    phone = emu.user("Ann")
    sent = await bot.send_document(
        phone.id, b"report-bytes", filename="report.txt", caption="<b>月报</b>", parse_mode="HTML"
    )
    assert sent.document is not None and sent.caption == "月报"
    assert sent.caption_entities[0].type == "bold"
    again = await bot.send_document(phone.id, sent.document.file_id)
    assert again.document is not None
    assert again.document.file_unique_id == sent.document.file_unique_id
    docs = [m.document for m in phone.messages()]
    assert [d.file_name for d in docs if d] == ["report.txt", "report.txt"]
    assert docs[0] is not None and docs[0].read() == b"report-bytes"
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        await bot.send_document(phone.id, "no-such-file-id")
    photo = await bot.send_photo(phone.id, b"\x89PNG fake", caption="pic")
    assert photo.photo and photo.photo[-1].file_size == 9


async def test_bot_send_media_group(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    phone = emu.user("Ann")
    album = [
        telegram.InputMediaPhoto(
            telegram.InputFile(f"png-{i}".encode(), filename=f"c{i}.png", attach=True),
            caption=f"<b>图{i}</b>",
            parse_mode="HTML",
        )
        for i in range(3)
    ]
    sent = await bot.send_media_group(phone.id, album)
    assert len(sent) == 3 and len({m.media_group_id for m in sent}) == 1
    assert sent[0].media_group_id and sent[1].caption == "图1"
    shown = [m for m in phone.messages() if m.kind == "photo"]
    assert [m.caption for m in shown] == ["图0", "图1", "图2"]
    assert shown[2].document is not None and shown[2].document.read() == b"png-2"
    # Again by file id; one item, eleven, or documents mixed with photos are refused.
    again = await bot.send_media_group(
        phone.id, [telegram.InputMediaPhoto(m.photo[-1].file_id) for m in sent[:2]]
    )
    assert len(again) == 2
    one = [telegram.InputMediaPhoto(sent[0].photo[-1].file_id)]
    with pytest.raises(BadRequest, match=r"(?i)wrong number of messages"):
        await bot.send_media_group(phone.id, one)
    with pytest.raises(BadRequest, match=r"(?i)wrong number of messages"):
        await bot.send_media_group(phone.id, one * 11)
    mixed = [*one, telegram.InputMediaDocument(telegram.InputFile(b"x", filename="x.txt"))]
    with pytest.raises(BadRequest):
        await bot.send_media_group(phone.id, mixed)


# ---- webhook --------------------------------------------------------------------------------


async def test_webhook_delivery_secret_retry_and_per_chat_order(
    emu: BotApiEmulator, bot: telegram.Bot
) -> None:
    received: list[tuple[int, str]] = []
    secrets_seen: set[str | None] = set()
    in_flight: dict[int, int] = {}
    overlap: list[int] = []
    failed_once: list[bool] = []

    async def hook(request: web.Request) -> web.Response:
        secrets_seen.add(request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        update = await request.json()
        message = update["message"]
        chat_id = message["chat"]["id"]
        if not failed_once:
            failed_once.append(True)
            return web.Response(status=500)
        in_flight[chat_id] = in_flight.get(chat_id, 0) + 1
        if in_flight[chat_id] > 1:
            overlap.append(chat_id)
        await asyncio.sleep(0.02)
        received.append((chat_id, message["text"]))
        in_flight[chat_id] -= 1
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        a, b = emu.user("A"), emu.user("B")
        for i in range(4):
            await a.send(f"a{i}")
            await b.send(f"b{i}")
        await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
        with pytest.raises(Conflict, match=r"(?i)webhook is active"):
            await bot.get_updates()
        await emu.state.wait_until(lambda: len(received) == 8, 5.0, lambda: str(received))
        assert secrets_seen == {"s3cret"}
        assert [t for c, t in received if c == a.id] == ["a0", "a1", "a2", "a3"]
        assert [t for c, t in received if c == b.id] == ["b0", "b1", "b2", "b3"]
        assert overlap == []
        assert emu.webhooks.failures >= 1
        info = await bot.get_webhook_info()
        assert info.url.endswith("/hook") and info.pending_update_count == 0
        assert info.last_error_message is not None
        await bot.delete_webhook()
        assert await bot.get_updates() == ()
    finally:
        await runner.cleanup()


# ---- commands, chats, groups ----------------------------------------------------------------


async def test_set_my_commands_per_scope_and_language(
    emu: BotApiEmulator, bot: telegram.Bot
) -> None:
    await bot.set_my_commands([("start", "Start"), ("help", "Help")])
    await bot.set_my_commands([("start", "开始")], language_code="zh")
    await bot.set_my_commands(
        [("admin", "Admin")], scope=telegram.BotCommandScopeAllChatAdministrators()
    )
    assert [c["command"] for c in emu.commands()] == ["start", "help"]
    assert emu.commands(language_code="zh") == [{"command": "start", "description": "开始"}]
    assert emu.commands("all_chat_administrators")[0]["command"] == "admin"
    fetched = await bot.get_my_commands(language_code="zh")
    assert [(c.command, c.description) for c in fetched] == [("start", "开始")]
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([("Bad-Command", "x")])
    await bot.delete_my_commands(language_code="zh")
    assert emu.commands(language_code="zh") == []


async def test_chat_queries_and_actions(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    phone = emu.user("Ann", last_name="Lee", username="ann")
    chat = await bot.get_chat(phone.id)
    assert chat.type == "private" and chat.username == "ann"
    member = await bot.get_chat_member(phone.id, phone.id)
    assert member.status == "member"
    await bot.send_chat_action(phone.id, "typing")
    assert emu.chat_actions(phone.id) == ["typing"]
    await bot.set_chat_menu_button(phone.id, telegram.MenuButtonCommands())
    assert await bot.log_out() is True


async def test_groups_forum_topics_and_my_chat_member(
    emu: BotApiEmulator, bot: telegram.Bot
) -> None:
    alice, bob = emu.user("Alice"), emu.user("Bob")
    group = emu.group("支持服务台", members=[alice, bob], forum=True)
    with pytest.raises(Forbidden, match=r"(?i)not a member"):
        await bot.send_message(group.id, "hello?")
    await emu.add_bot_to_group(group, by=alice, admin=True)
    (added,) = await bot.get_updates()
    assert added.my_chat_member is not None
    assert added.my_chat_member.new_chat_member.status == "administrator"
    assert added.my_chat_member.chat.type == "supergroup"

    topic = await bot.create_forum_topic(group.id, "工单 #1")
    sent = await bot.send_message(group.id, "in topic", message_thread_id=topic.message_thread_id)
    assert sent.message_thread_id == topic.message_thread_id and sent.is_topic_message
    with pytest.raises(BadRequest, match=r"(?i)message thread not found"):
        await bot.send_message(group.id, "x", message_thread_id=99999)
    await bot.edit_forum_topic(group.id, topic.message_thread_id, name="工单 #1 (已处理)")
    assert group.topics() == {topic.message_thread_id: "工单 #1 (已处理)"}

    await group.send(bob, "我也有问题", thread_id=topic.message_thread_id)
    updates = await bot.get_updates(offset=added.update_id + 1)
    message = updates[0].message
    assert message is not None and message.from_user is not None
    assert message.from_user.id == bob.id
    assert message.message_thread_id == topic.message_thread_id
    assert (await group.wait_message("in topic")).message_thread_id == topic.message_thread_id
    owner = await bot.get_chat_member(group.id, alice.id)
    assert owner.status == "creator"
    await bot.delete_forum_topic(group.id, topic.message_thread_id)
    assert group.messages()[0].deleted


async def test_wait_message_after_and_timeout_dump(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    phone = emu.user("Ann")
    first = await bot.send_message(phone.id, "欢迎 welcome")

    async def later() -> None:
        await asyncio.sleep(0.05)
        await bot.send_message(phone.id, "欢迎 again")

    task = asyncio.create_task(later())
    newer = await phone.wait_message("欢迎", after=first.message_id, timeout=2)
    await task
    assert newer.text == "欢迎 again"
    assert (await phone.wait_message("欢迎")).message_id == first.message_id
    with pytest.raises(TimeoutError, match=r"欢迎 again"):
        await phone.wait_message("nothing like this", timeout=0.1)


async def test_ptb_application_polling_end_to_end(emu: BotApiEmulator) -> None:
    async def start(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_html(
            f"<b>你好</b> {context.args}", reply_markup=keyboard([("继续", "next")])
        )

    app = (
        Application.builder()
        .token(TOKEN)
        .base_url(emu.base_url)
        .base_file_url(emu.file_base_url)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=5)
        phone = emu.user("张三")
        await phone.command("/start abc")
        reply = await phone.wait_reply("你好", timeout=5)
        assert reply.text == "你好 ['abc']"
        assert reply.buttons == [["继续"]]
        await app.updater.stop()
        await app.stop()
    assert emu.pending_updates() == 0


# ---- control HTTP API and events ------------------------------------------------------------


async def test_control_api_and_event_stream(
    emu: BotApiEmulator, bot: telegram.Bot, http: aiohttp.ClientSession
) -> None:
    ctl = f"{emu.url}/__emu"
    events: list[dict[str, Any]] = []

    async def listen() -> None:
        async with http.get(f"{ctl}/events") as resp:
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            async for raw in resp.content:
                line = raw.decode().strip()
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))

    listener = asyncio.create_task(listen())
    async with http.post(f"{ctl}/users", json={"first_name": "李四"}) as resp:
        assert resp.status == 201
        user_id = (await resp.json())["result"]["id"]
    async with http.post(f"{ctl}/users/{user_id}/send", json={"text": "hi"}) as resp:
        update_id = (await resp.json())["result"]["update_id"]
    (update,) = await bot.get_updates()
    assert update.update_id == update_id
    sent = await bot.send_message(user_id, "pick", reply_markup=keyboard([("好", "good")]))
    async with http.post(f"{ctl}/users/{user_id}/press", json={"text": "好"}) as resp:
        query_id = (await resp.json())["result"]["callback_query_id"]
    await bot.answer_callback_query(query_id, text="收到")
    await bot.edit_message_text("picked", user_id, sent.message_id)
    payload = {"file_name": "a.txt", "data_base64": base64.b64encode(b"abc").decode()}
    async with http.post(f"{ctl}/users/{user_id}/upload", json=payload) as resp:
        assert resp.status == 200
    async with http.get(f"{ctl}/chats/{user_id}/messages") as resp:
        messages = (await resp.json())["result"]
        assert [m["versions"] for m in messages] == [["pick", "picked"]]
    async with http.get(f"{ctl}/calls", params={"method": "sendMessage"}) as resp:
        assert len((await resp.json())["result"]) == 1
    async with http.post(f"{ctl}/faults", json={"method": "getMe", "status": 502}) as resp:
        assert resp.status == 200
    with pytest.raises(NetworkError):
        await bot.get_me()
    async with http.post(f"{ctl}/users/{user_id}/block") as resp:
        assert resp.status == 200
    with pytest.raises(Forbidden):
        await bot.send_message(user_id, "x")
    async with http.post(f"{ctl}/redeliver", json={"update_id": update_id}) as resp:
        assert resp.status == 200
    async with http.post(f"{ctl}/users/999999/send", json={"text": "x"}) as resp:
        assert resp.status == 404
    async with http.get(f"{ctl}/callbacks/unanswered") as resp:
        assert (await resp.json())["result"] == []

    await emu.state.wait_until(
        lambda: {"message", "edit", "callback_answer"} <= {e["type"] for e in events},
        3.0,
        lambda: str(events),
    )
    listener.cancel()
    kinds = [e["type"] for e in events]
    assert kinds.index("message") < kinds.index("callback_answer") < kinds.index("edit")
    answer = next(e for e in events if e["type"] == "callback_answer")
    assert answer["text"] == "收到"


# ---- HTML parser properties -----------------------------------------------------------------

SIMPLE_TAGS = ["b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "tg-spoiler", "code"]
text_chars = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="<>&"),
    max_size=12,
)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@st.composite
def valid_html(draw: st.DrawFn, depth: int = 0) -> tuple[str, str]:
    """(html, expected plain text before trimming) built only from allowed constructs."""
    parts: list[tuple[str, str]] = []
    for _ in range(draw(st.integers(0, 3))):
        choice = draw(st.integers(0, 5 if depth < 3 else 1))
        if choice <= 1:
            text = draw(text_chars)
            parts.append((_escape(text), text))
        elif choice == 2:
            tag = draw(st.sampled_from(SIMPLE_TAGS))
            inner, plain = draw(valid_html(depth + 1))
            parts.append((f"<{tag}>{inner}</{tag}>", plain))
        elif choice == 3:
            inner, plain = draw(valid_html(depth + 1))
            parts.append((f'<a href="https://example.org/?q=1&amp;r=2">{inner}</a>', plain))
        elif choice == 4:
            inner, plain = draw(valid_html(depth + 1))
            parts.append((f'<span class="tg-spoiler">{inner}</span>', plain))
        else:
            code = draw(text_chars)
            parts.append((f'<pre><code class="language-py">{_escape(code)}</code></pre>', code))
    return "".join(p[0] for p in parts), "".join(p[1] for p in parts)


@settings(max_examples=150, deadline=None)
@given(valid_html())
def test_valid_html_round_trips(sample: tuple[str, str]) -> None:
    html, expected = sample
    parsed = parse_html(html)
    assert parsed.text == expected.strip()
    assert len(parsed.text) <= len(html)
    total = utf16_len(parsed.text)
    for entity in parsed.entities:
        assert entity["length"] > 0
        assert entity["offset"] >= 0 and entity["offset"] + entity["length"] <= total


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from([*list("<>&/;#x abi=\"'-"), "b", "a", "é", "😀"])))
def test_random_html_never_crashes(source: str) -> None:
    try:
        parsed = parse_html(source)
    except HtmlParseError as exc:
        assert "at byte offset" in str(exc) or "Can't find end tag" in str(exc)
    else:
        assert len(parsed.text) <= len(source)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=60))
def test_random_text_through_api_is_accepted_or_400(source: str) -> None:
    state = EmulatorState(123456, "govoffice_test_bot", "Bot")
    state.add_user("Ann", user_id=1000)
    api = BotApi(state, TOKEN, limiter=RateLimiter())
    loop = asyncio.new_event_loop()
    try:
        status, body = loop.run_until_complete(
            api.dispatch(
                TOKEN, "sendMessage", {"chat_id": 1000, "text": source, "parse_mode": "HTML"}
            )
        )
    finally:
        loop.close()
    assert status in (200, 400), body
    if status == 400:
        assert body["description"].startswith("Bad Request: ")


async def test_copy_and_forward(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    alice, bob = emu.user("Alice"), emu.user("Bob")
    await alice.upload("form.pdf", b"%PDF-1.4", mime_type="application/pdf", caption="表格")
    (update,) = await bot.get_updates()
    assert update.message is not None
    copied = await bot.copy_message(bob.id, alice.id, update.message.message_id)
    forwarded = await bot.forward_message(bob.id, alice.id, update.message.message_id)
    assert forwarded.forward_origin is not None
    assert forwarded.forward_origin.type == "user"
    first, second = bob.messages()
    assert first.message_id == copied.message_id
    assert first.document is not None and first.document.read() == b"%PDF-1.4"
    assert first.text == second.text == "表格"
    with pytest.raises(BadRequest, match=r"(?i)message to copy not found"):
        await bot.copy_message(bob.id, alice.id, 777)


async def forum_with_bot(emu: BotApiEmulator, *members: Phone) -> Group:
    """A forum supergroup of ``members`` where the bot is an administrator."""
    group = emu.group("支持服务台", members=list(members), forum=True)
    await emu.add_bot_to_group(group, by=members[0], admin=True)
    return group


async def test_copy_messages_keeps_album_in_forum_topic(
    emu: BotApiEmulator, bot: telegram.Bot, tmp_path: Path
) -> None:
    alice, agent = emu.user("Alice"), emu.user("Agent")
    photos = [(f"p{i}.jpg", bytes([i]) * 8) for i in range(3)]
    await alice.upload_album(photos, caption="三张照片")
    await alice.send("还有一句话")
    sent = [u.message for u in await bot.get_updates() if u.message is not None]
    album = {m.media_group_id for m in sent[:3]}
    assert len(sent) == 4 and len(album) == 1 and None not in album
    assert sent[3].media_group_id is None
    group = await forum_with_bot(emu, agent)
    topic = await bot.create_forum_topic(group.id, "工单 #7")
    thread = topic.message_thread_id

    ids = [m.message_id for m in sent]
    copies = await bot.copy_messages(group.id, alice.id, ids, message_thread_id=thread)
    shown = group.messages()
    assert [c.message_id for c in copies] == [m.message_id for m in shown]
    assert [m.kind for m in shown] == ["photo", "photo", "photo", "text"]
    assert {m.message_thread_id for m in shown} == {thread}
    assert [m.text for m in shown] == ["三张照片", "", "", "还有一句话"]
    assert shown[0].document is not None and shown[0].document.read() == bytes([0]) * 8
    copied_album = {m.media_group_id for m in shown[:3]}
    assert len(copied_album) == 1 and copied_album.isdisjoint(album | {None})
    assert shown[3].media_group_id is None
    (call,) = emu.calls("copyMessages")
    assert (call.method, call.chat_id, call.status) == ("copyMessages", group.id, 200)

    # Again without captions: a new album of its own; one item of an album is no album.
    await bot.copy_messages(
        group.id, alice.id, ids[:3], message_thread_id=thread, remove_caption=True
    )
    await bot.copy_messages(group.id, alice.id, ids[:1], message_thread_id=thread)
    again, single = group.messages()[4:7], group.messages()[7]
    assert [m.text for m in again] == ["", "", ""]
    again_album = {m.media_group_id for m in again}
    assert len(again_album) == 1 and again_album.isdisjoint(copied_album | album | {None})
    assert single.media_group_id is None and single.text == "三张照片"

    with pytest.raises(BadRequest, match=r"(?i)message thread not found"):
        await bot.copy_messages(group.id, alice.id, ids, message_thread_id=99999)
    await emu.remove_bot_from_group(group, by=agent)
    with pytest.raises(Forbidden, match=r"(?i)bot was kicked"):
        await bot.copy_messages(group.id, alice.id, ids, message_thread_id=thread)
    assert len(group.messages()) == 8

    emu.save(tmp_path)
    restored = BotApiEmulator()
    assert restored.load(tmp_path)
    assert [m.media_group_id for m in restored.group_by_id(group.id).messages()] == [
        m.media_group_id for m in group.messages()
    ]


@pytest.mark.parametrize(
    ("message_ids", "description"),
    [
        ([2, 1], "message identifiers must be in a strictly increasing order"),
        ([1, 1], "message identifiers must be in a strictly increasing order"),
        (list(range(1, 102)), "too many message identifiers specified"),
        ([], "message identifiers are not specified"),
        ({"id": 1}, "expected an Array of message identifiers"),
        ([1, None], "message identifier must be a Number"),
        (["1", "x"], "can't parse message identifier as a Number"),
        ([2**31], "can't parse message identifier as a Number"),
        ([0, 1], "invalid message identifier specified"),
    ],
)
async def test_copy_messages_rejects_bad_message_ids(
    emu: BotApiEmulator, message_ids: Any, description: str
) -> None:
    alice, bob = emu.user("Alice"), emu.user("Bob")
    for i in range(3):
        await alice.send(f"m{i}")
    with pytest.raises(ApiError) as info:
        await emu.call(
            "copyMessages", chat_id=bob.id, from_chat_id=alice.id, message_ids=message_ids
        )
    assert (info.value.status, info.value.description) == (400, f"Bad Request: {description}")
    assert bob.messages() == []


async def test_copy_messages_over_http_rejects_unordered_ids(
    emu: BotApiEmulator, bot: telegram.Bot
) -> None:
    alice, bob = emu.user("Alice"), emu.user("Bob")
    await alice.send("a")
    await alice.send("b")
    with pytest.raises(BadRequest, match=r"(?i)strictly increasing order"):
        await bot.copy_messages(bob.id, alice.id, [2, 1])
    assert [c.message_id for c in await bot.copy_messages(bob.id, alice.id, [1, 2])] == [1, 2]
    # The Bot API server also takes the ids as strings.
    copied = await emu.call(
        "copyMessages", chat_id=bob.id, from_chat_id=alice.id, message_ids=["1", "2"]
    )
    assert copied == [{"message_id": 3}, {"message_id": 4}]


async def test_copy_messages_skips_missing_deleted_and_service_messages(
    emu: BotApiEmulator, bot: telegram.Bot
) -> None:
    alice, bob = emu.user("Alice"), emu.user("Bob")
    group = await forum_with_bot(emu, alice)
    topic = await bot.create_forum_topic(group.id, "工单 #8")  # its service message is #1
    thread = topic.message_thread_id
    await group.send(alice, "第一条", thread_id=thread)
    await group.send(alice, "第二条", thread_id=thread)
    gone = await bot.send_message(group.id, "撤回了", message_thread_id=thread)
    await bot.delete_message(group.id, gone.message_id)

    copies = await bot.copy_messages(bob.id, group.id, [thread, 2, 3, gone.message_id, 500])
    assert [m.text for m in bob.messages()] == ["第一条", "第二条"]
    assert [c.message_id for c in copies] == [m.message_id for m in bob.messages()]
    assert bob.messages()[0].message_thread_id is None
    with pytest.raises(BadRequest, match=r"(?i)^there are no messages to forward$"):
        await bot.copy_messages(bob.id, group.id, [gone.message_id, 500])
    with pytest.raises(BadRequest, match=r"(?i)^messages can't be forwarded$"):
        await bot.copy_messages(bob.id, group.id, [thread])
    assert len(bob.messages()) == 2


async def test_copy_messages_counts_every_copy_toward_rate_limits() -> None:
    clock = FakeClock()
    limits = RateLimitConfig(group_limit=5, group_window_s=60.0, global_limit=100)
    emu = BotApiEmulator(rate_limits=True, limits=limits, clock=clock)
    await emu.start()
    try:
        async with telegram.Bot(TOKEN, base_url=emu.base_url) as bot:
            alice, agent = emu.user("Alice"), emu.user("Agent")
            for i in range(6):
                await alice.send(f"m{i}")
            group = await forum_with_bot(emu, agent)
            assert len(await bot.copy_messages(group.id, alice.id, [1, 2, 3, 4])) == 4
            with pytest.raises(RetryAfter) as info:
                await bot.copy_messages(group.id, alice.id, [5, 6])  # 4 + 2 > 5
            assert seconds(info.value.retry_after) == 60
            await bot.send_message(group.id, "the refused copies took no slot")
            with pytest.raises(RetryAfter):
                await bot.copy_messages(group.id, alice.id, [5])
            clock.now += 60.01
            # More than the whole window waits for an empty one, then fills it.
            assert len(await bot.copy_messages(group.id, alice.id, [1, 2, 3, 4, 5, 6])) == 6
            with pytest.raises(RetryAfter):
                await bot.send_message(group.id, "over the limit")
            assert [c.status for c in emu.calls("copyMessages")] == [200, 429, 429, 200]
            assert len(group.messages()) == 11
    finally:
        await emu.stop()


def test_rate_limiter_counts_a_batch_whole() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimitConfig(group_limit=5, group_window_s=10.0), clock)
    assert limiter.acquire(-1, is_group=True, count=3) is None
    clock.now += 4
    assert limiter.acquire(-1, is_group=True, count=3) == 6  # when the first 3 leave
    assert limiter.acquire(-1, is_group=True, count=2) is None  # the refusal took nothing
    assert limiter.acquire(-1, is_group=True) == 6
    clock.now += 6
    assert limiter.acquire(-1, is_group=True, count=4) == 4  # the first 3 left, 2 remain
    assert limiter.acquire(-1, is_group=True, count=3) is None
    clock.now += 100
    assert limiter.acquire(-1, is_group=True, count=8) is None  # too many: an empty window
    assert limiter.acquire(-1, is_group=True) == 10
    with pytest.raises(ValueError, match="count"):
        limiter.acquire(-1, is_group=True, count=0)


async def test_concurrent_get_updates_conflict_and_allowed_updates(emu: BotApiEmulator) -> None:
    phone = emu.user("Ann")
    first = asyncio.create_task(emu.call("getUpdates", timeout=5))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(emu.call("getUpdates", timeout=5))
    with pytest.raises(ApiError, match="terminated by other getUpdates request") as info:
        await asyncio.wait_for(first, 2)
    assert info.value.status == 409
    await phone.send("hi")
    assert len(await asyncio.wait_for(second, 2)) == 1

    await emu.call("sendMessage", chat_id=phone.id, text="t")
    await phone.press_data("cb")
    await phone.send("only messages please")
    updates = await emu.call("getUpdates", allowed_updates=["message"])
    # "hi" is still unconfirmed; the callback_query was dropped, as Telegram does.
    assert [next(k for k in u if k != "update_id") for u in updates] == ["message", "message"]
    assert emu.unanswered_callbacks()  # the query exists, the bot just never saw it
