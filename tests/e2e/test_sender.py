"""The outbox sender against the loopback Bot API emulator, with its flood limits switched on.

A real ``telegram.Bot`` on ``AiohttpRequest``, a real SQLite database and the real sender; the
emulator answers 429 whenever a send breaks its sliding windows, so "0 × 429" is the check that
the sender paces itself. To keep the file fast, most tests shrink the per-chat window (1 s →
0.2 s) and the group window (60 s → 6 s) in *both* the sender and the emulator; the global
limit (30/s, the sender uses 28) is always the real one, and one test runs every real limit.
"""

from __future__ import annotations

import asyncio
import html
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from babel.support import Translations
from sqlalchemy import update
from sqlmodel import col, select
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import NetworkError, TimedOut

from bot.clock import system_clock
from bot.emulator import ApiCall, BotApiEmulator, Phone, RateLimitConfig
from bot.i18n import Translator, translator
from bot.messaging.outgoing import Outgoing
from bot.messaging.services import (
    PRIORITY_BROADCAST,
    PRIORITY_INTERACTIVE,
    PRIORITY_NOTIFY,
    DeliveryService,
    DeliveryUnavailableError,
)
from bot.runtime import Runtime
from handlers.render import Rendered, renders
from handlers.request import AiohttpRequest
from handlers.sender import Limits, OutboxSender
from storage.crypto import KeyRing, install_key_ring
from storage.db import Database
from storage.tables.messaging import OutboxMessage
from storage.tables.people import Department, Staff

# PTB warns about its own RetryAfter(int) when it builds one from a 429 envelope.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

TOKEN = "123456:TEST-TOKEN"
TEXT = "test.sender.text"
EDIT = "test.sender.edit"
DELETE = "test.sender.delete"
CHAT_WINDOW_S = 0.2  # scaled from 1 s
GROUP_WINDOW_S = 6.0  # scaled from 60 s
SCALED = Limits(
    chat_window_s=CHAT_WINDOW_S, chat_interval_s=CHAT_WINDOW_S, group_window_s=GROUP_WINDOW_S
)
EMU_SCALED = RateLimitConfig(private_window_s=CHAT_WINDOW_S, group_window_s=GROUP_WINDOW_S)


@renders(TEXT)
def _render_text(out: Outgoing, tr: Translator) -> Rendered:
    markup = None
    if out.facts.get("button"):
        markup = InlineKeyboardMarkup(
            [[InlineKeyboardButton(str(out.facts["button"]), callback_data="faq.up:1:1")]]
        )
    return Rendered("send", text=html.escape(str(out.facts["text"])), reply_markup=markup)


@renders(EDIT)
def _render_edit(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered("edit", text=str(out.facts["text"]), message_id=int(out.facts["message_id"]))


@renders(DELETE)
def _render_delete(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered("delete", message_id=int(out.facts["message_id"]))


def _translate(locale: str) -> Translator:
    """The real translator when catalogs are compiled in; the test renderers need none."""
    try:
        return translator(locale)
    except LookupError:
        from zoneinfo import ZoneInfo

        return Translator(locale, Translations(), ZoneInfo("Asia/Shanghai"))


# -- fixtures


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[Runtime]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/t.db")
    await db.upgrade()
    ring = KeyRing(os.urandom(32))
    install_key_ring(ring)
    try:
        yield Runtime(db, ring, system_clock)
    finally:
        await db.dispose()


@asynccontextmanager
async def emulator(limits: RateLimitConfig | None = EMU_SCALED) -> AsyncIterator[BotApiEmulator]:
    emu = BotApiEmulator(token=TOKEN, rate_limits=True, limits=limits)
    await emu.start(port=0)
    emu.set_latency(0.005)
    try:
        yield emu
    finally:
        await emu.stop()


@pytest.fixture
async def emu() -> AsyncIterator[BotApiEmulator]:
    async with emulator() as e:
        yield e


@asynccontextmanager
async def telegram_bot(emu: BotApiEmulator, **request: Any) -> AsyncIterator[Bot]:
    bot = Bot(
        TOKEN,
        base_url=emu.base_url,
        base_file_url=emu.file_base_url,
        request=AiohttpRequest(connection_pool_size=32, **request),
        get_updates_request=AiohttpRequest.for_get_updates(),
    )
    await bot.initialize()
    try:
        yield bot
    finally:
        await bot.shutdown()


@pytest.fixture
async def bot(emu: BotApiEmulator) -> AsyncIterator[Bot]:
    async with telegram_bot(emu) as b:
        yield b


@pytest.fixture
def delivery(rt: Runtime) -> DeliveryService:
    return DeliveryService(rt)


@asynccontextmanager
async def running(
    bot: Bot, delivery: DeliveryService, limits: Limits | None = SCALED, **kwargs: Any
) -> AsyncIterator[OutboxSender]:
    sender = OutboxSender(bot, delivery, limits=limits, translate=_translate, **kwargs)
    await sender.start()
    try:
        yield sender
    finally:
        await sender.stop()


# -- helpers


async def enqueue(
    rt: Runtime,
    rows: Iterable[tuple[int, str]],
    *,
    priority: int = PRIORITY_NOTIFY,
    kind: str = TEXT,
    **facts: Any,
) -> list[int]:
    """Queue (chat_id, text) rows in one transaction, in order; return their ids."""
    async with rt.detached_uow() as uow:
        for chat_id, text in rows:
            await uow.outbox.add(
                chat_id=chat_id,
                kind=kind,
                now=system_clock(),
                facts={"text": text, **facts},
                priority=priority,
            )
        await uow.commit()
    async with rt.detached_uow() as uow:
        ids = await uow.session.exec(select(OutboxMessage.id).order_by(col(OutboxMessage.id)))
        return [i for i in ids if i is not None]


async def rows_by_status(rt: Runtime) -> dict[int, str]:
    async with rt.detached_uow() as uow:
        result = await uow.session.exec(select(OutboxMessage.id, OutboxMessage.status))
        return {i: s for i, s in result if i is not None}


async def row(rt: Runtime, msg_id: int) -> OutboxMessage:
    async with rt.detached_uow() as uow:
        found = await uow.outbox.get(msg_id)
        assert found is not None
        uow.session.expunge(found)  # keep its loaded values past the session
        return found


def texts(phone_or_group: Any) -> list[str]:
    return [m.text for m in phone_or_group.messages()]


def sends(emu: BotApiEmulator, chat_id: int | None = None) -> list[ApiCall]:
    return [c for c in emu.calls("sendMessage") if chat_id is None or c.chat_id == chat_id]


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def wait_for(predicate: Any, within: float) -> float:
    """Poll until ``predicate()`` is true; seconds it took (fails the test on timeout)."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > within:
            pytest.fail(f"not within {within} s")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


# -- volume and limits


async def test_volume_within_limits_in_order_without_429(
    emu: BotApiEmulator, bot: Bot, rt: Runtime, delivery: DeliveryService
) -> None:
    """60 to one private chat, 200 to distinct chats, 40 to one group: all, in order, 0 × 429."""
    alice = emu.user(first_name="张三")
    others = [emu.user(first_name=f"u{i}") for i in range(200)]
    group = emu.group(title="办公室", members=[alice])
    await emu.add_bot_to_group(group, by=alice)
    queued = [(alice.id, f"A{i}") for i in range(60)]
    queued += [(p.id, f"to {p.id}") for p in others]
    queued += [(group.id, f"G{i}") for i in range(40)]
    # interleave so the chats compete for the global window from the start
    queued.sort(key=lambda r: int(r[1][1:]) if r[1][0] in "AG" else int(r[1][3:]) % 60)
    await enqueue(rt, queued)

    started = time.monotonic()
    async with running(bot, delivery) as sender:
        assert await sender.drain(timeout=30.0)
    elapsed = time.monotonic() - started

    assert texts(alice) == [f"A{i}" for i in range(60)]
    assert texts(group) == [f"G{i}" for i in range(40)]
    assert all(texts(p) == [f"to {p.id}"] for p in others)
    assert emu.counters.get("429", 0) == 0
    assert set((await rows_by_status(rt)).values()) == {"sent"}
    calls = sends(emu)
    assert len(calls) == 300  # nothing sent twice, nothing retried
    assert max_in_window([c.at for c in calls], 1.0) <= 30
    # the group needed 3 windows (19 + 19 + 2), so it set the pace: about 2 windows long
    assert elapsed < 2 * GROUP_WINDOW_S + 4.0


async def test_every_real_limit_without_429(rt: Runtime, delivery: DeliveryService) -> None:
    """Unscaled limits: a burst of 3 then 1/s for one chat, 29 per 1.03 s over 40 others."""
    async with emulator(limits=None) as emu, telegram_bot(emu) as bot:
        bob = emu.user(first_name="李四")
        others = [emu.user(first_name=f"v{i}") for i in range(40)]
        await enqueue(rt, [(bob.id, f"B{i}") for i in range(6)])
        await enqueue(rt, [(p.id, "hi") for p in others])
        async with running(bot, delivery, limits=None) as sender:
            assert await sender.drain(timeout=15.0)
        assert texts(bob) == [f"B{i}" for i in range(6)]
        assert emu.counters.get("429", 0) == 0
        at = [c.at for c in sends(emu, bob.id)]
        # The burst of 3 (spread a little by the global pacing), then one a second: the
        # k-th call no sooner than k - 2 seconds after the first. (A call the event loop
        # sent late may be followed sooner than a second later, as in a burst: it is
        # still never more than 3 in a second, which is what Telegram counts.)
        assert max_in_window(at, 1.0) <= 3
        spread = [round(x - at[0], 3) for x in at]
        assert all(x >= (k - 2) * 1.0 for k, x in enumerate(spread) if k >= 3), spread
        assert max_in_window([c.at for c in sends(emu)], 1.0) <= 30


# -- failures


async def test_retry_after_pauses_only_that_chat(
    emu: BotApiEmulator, bot: Bot, rt: Runtime, delivery: DeliveryService
) -> None:
    a, b = emu.user(first_name="A"), emu.user(first_name="B")
    rest = [emu.user(first_name=f"w{i}") for i in range(20)]
    emu.inject_error("sendMessage", 429, retry_after=2, chat_id=a.id)
    await enqueue(rt, [(a.id, "A1"), (a.id, "A2")])
    await enqueue(rt, [(b.id, f"B{i}") for i in range(8)] + [(p.id, "x") for p in rest])

    async with running(bot, delivery) as sender:
        assert await sender.drain(timeout=10.0)

    assert texts(a) == ["A1", "A2"]
    assert texts(b) == [f"B{i}" for i in range(8)]
    a_calls = sends(emu, a.id)
    assert [c.status for c in a_calls] == [429, 200, 200]
    paused_at, resumed_at = a_calls[0].at, a_calls[1].at
    assert resumed_at - paused_at >= 2.0
    b_done = max(c.at for c in sends(emu, b.id))
    assert b_done < paused_at + 2.0  # B kept flowing while A waited
    assert all(texts(p) == ["x"] for p in rest)
    assert emu.counters.get("429", 0) == 1  # only the injected one


async def test_blocked_user_becomes_unreachable_and_others_are_unaffected(
    emu: BotApiEmulator, bot: Bot, rt: Runtime, delivery: DeliveryService
) -> None:
    carol, dave = emu.user(first_name="C"), emu.user(first_name="D")
    carol.block()
    ids = await enqueue(rt, [(carol.id, "C1"), (carol.id, "C2"), (dave.id, "D1")])
    ids += (await enqueue(rt, [(carol.id, "C3"), (dave.id, "D2")]))[-2:]

    async with running(bot, delivery) as sender:
        assert await sender.drain(timeout=10.0)
        statuses = await rows_by_status(rt)
        assert [statuses[i] for i in ids] == [
            "unreachable",
            "unreachable",
            "sent",
            "unreachable",
            "sent",
        ]
        assert len(sends(emu, carol.id)) == 1  # C2 and C3 were never attempted
        assert texts(dave) == ["D1", "D2"]

        # queued while still unreachable: dropped at claim time, never attempted
        (later,) = (await enqueue(rt, [(carol.id, "C3b")]))[-1:]
        sender.kick()
        assert await sender.drain(timeout=5.0)
        assert (await row(rt, later)).status == "unreachable"
        assert len(sends(emu, carol.id)) == 1

        # the user writes to us again: a new message reaches them
        carol.unblock()
        assert await delivery.reachable(carol.id)
        await enqueue(rt, [(carol.id, "C4")])
        sender.kick()
        assert await sender.drain(timeout=5.0)
    assert texts(carol) == ["C4"]


async def test_bad_gateway_is_retried_and_delivered_once(
    emu: BotApiEmulator, bot: Bot, rt: Runtime, delivery: DeliveryService
) -> None:
    erin = emu.user(first_name="E")
    emu.inject_error("sendMessage", 502, chat_id=erin.id)
    (msg_id,) = await enqueue(rt, [(erin.id, "E1")])
    async with running(bot, delivery) as sender:
        assert await sender.drain(timeout=10.0)
    assert texts(erin) == ["E1"]
    assert [c.status for c in sends(emu, erin.id)] == [502, 200]
    sent = await row(rt, msg_id)
    assert (sent.status, sent.attempts) == ("sent", 2)
    assert sent.sent_message_id == erin.messages()[0].message_id


async def test_connection_refused_is_retried_until_the_server_is_back(
    rt: Runtime, delivery: DeliveryService
) -> None:
    async with emulator() as emu, telegram_bot(emu) as bot:
        frank = emu.user(first_name="F")
        port = emu.port
        await emu.stop()  # the Bot API is unreachable: connection refused
        await enqueue(rt, [(frank.id, "F1"), (frank.id, "F2")])
        async with running(bot, delivery) as sender:
            await asyncio.sleep(1.2)
            first = await row(rt, 1)
            assert first.status in ("pending", "inflight") and first.attempts >= 1
            await emu.start(port=port)
            assert await sender.drain(timeout=10.0)
        assert texts(frank) == ["F1", "F2"]


async def test_bad_requests_fail_without_retry(
    emu: BotApiEmulator, bot: Bot, rt: Runtime, delivery: DeliveryService
) -> None:
    gina = emu.user(first_name="G")
    first = await bot.send_message(gina.id, "original")
    emu.inject_error(
        "editMessageText",
        400,
        "Bad Request: message is not modified: specified new message content and reply markup "
        "are exactly the same as a current content and reply markup of the message",
    )
    ids = await enqueue(rt, [(gina.id, "original")], kind=EDIT, message_id=first.message_id)
    ids = (await enqueue(rt, [(gina.id, "")], kind=DELETE, message_id=999_999))[-1:] + ids
    ids = (await enqueue(rt, [(-42, "nobody")]))[-1:] + ids  # chat not found
    ids = (await enqueue(rt, [(gina.id, "?")], kind="test.sender.unknown"))[-1:] + ids
    async with running(bot, delivery) as sender:
        assert await sender.drain(timeout=10.0)
    unknown, missing_chat, delete, edit = ids
    assert (await row(rt, edit)).status == "sent"
    assert (await row(rt, delete)).status == "failed"
    assert "message to delete not found" in ((await row(rt, delete)).error or "").lower()
    assert (await row(rt, missing_chat)).status == "failed"
    failed = await row(rt, unknown)
    assert (failed.status, failed.error) == ("failed", "no renderer")
    assert Counter(c.method for c in emu.calls() if c.status == 400) == {
        "editMessageText": 1,
        "deleteMessage": 1,
        "sendMessage": 1,
    }


class FlakyDelivery(DeliveryService):
    """The database is away for the first few claims and the first record of a send."""

    def __init__(self, rt: Runtime, *, claim_failures: int, sent_failures: int) -> None:
        super().__init__(rt)
        self.claim_failures = claim_failures
        self.sent_failures = sent_failures

    async def claim(self, **kwargs: Any) -> list[Outgoing]:
        if self.claim_failures > 0:
            self.claim_failures -= 1
            raise DeliveryUnavailableError()
        return await super().claim(**kwargs)

    async def sent(self, msg_id: int, *, message_id: int | None, kind: str | None = None) -> None:
        if self.sent_failures > 0:
            self.sent_failures -= 1
            raise DeliveryUnavailableError()
        await super().sent(msg_id, message_id=message_id, kind=kind)


async def test_a_database_outage_is_ridden_out(emu: BotApiEmulator, bot: Bot, rt: Runtime) -> None:
    jack = emu.user(first_name="J")
    (msg_id,) = await enqueue(rt, [(jack.id, "J1")])
    flaky = FlakyDelivery(rt, claim_failures=3, sent_failures=2)
    async with running(bot, flaky) as sender:
        assert await sender.drain(timeout=10.0)
    assert (flaky.claim_failures, flaky.sent_failures) == (0, 0)
    assert texts(jack) == ["J1"]  # sent once, recorded once the database was back
    assert (await row(rt, msg_id)).status == "sent"


# -- lanes, recovery


async def test_interactive_reply_overtakes_a_broadcast_backlog(
    emu: BotApiEmulator, bot: Bot, rt: Runtime, delivery: DeliveryService
) -> None:
    staff = [emu.user(first_name=f"s{i}") for i in range(300)]
    asker = emu.user(first_name="问")
    await enqueue(rt, [(p.id, "问卷") for p in staff], priority=PRIORITY_BROADCAST)
    async with running(bot, delivery) as sender:
        await asyncio.sleep(1.5)  # the broadcast is in full flow
        await enqueue(rt, [(asker.id, "答复")], priority=PRIORITY_INTERACTIVE)
        sender.kick()
        took = await wait_for(lambda: texts(asker) == ["答复"], within=2.0)
        assert took < 1.0
        await asyncio.sleep(0.5)
    done = [c for c in sends(emu) if c.status == 200]
    broadcast = [c.at for c in done if c.chat_id != asker.id]
    assert 30 <= len(broadcast) < 300  # still going when we stopped
    assert max_in_window(broadcast, 1.0) <= Limits().broadcast_limit
    assert emu.counters.get("429", 0) == 0
    statuses = Counter((await rows_by_status(rt)).values())
    assert statuses["inflight"] == 0  # stop() gave the held rows back
    assert statuses["pending"] == 300 - len(broadcast)


async def test_inflight_rows_of_a_dead_process_are_sent_again(
    emu: BotApiEmulator, bot: Bot, rt: Runtime, delivery: DeliveryService
) -> None:
    hank = emu.user(first_name="H")
    (msg_id,) = await enqueue(rt, [(hank.id, "H1")])
    async with rt.detached_uow() as uow:  # a crash between claim and completion
        await uow.session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == msg_id)
            .values(
                status="inflight",
                attempts=1,
                lease_until=system_clock() + timedelta(hours=1),
            )
        )
        await uow.commit()
    async with running(bot, delivery) as sender:
        assert sender.recovered == [msg_id]
        assert await sender.drain(timeout=5.0)
    assert texts(hank) == ["H1"]
    assert (await row(rt, msg_id)).attempts == 2


async def test_a_mass_send_row_being_sent_at_a_crash_is_not_sent_twice(
    emu: BotApiEmulator, bot: Bot, rt: Runtime, delivery: DeliveryService
) -> None:
    """A broadcast row whose call was on its way ("sending") may have arrived: it is marked
    uncertain, never sent again; one only claimed ("inflight") never left, and goes out;
    a reply caught the same way is sent again (at least once)."""
    ivy, jo, kim = (emu.user(first_name=n) for n in "IJK")
    sending, claimed = await enqueue(
        rt, [(ivy.id, "I1"), (jo.id, "J1")], priority=PRIORITY_BROADCAST
    )
    (reply,) = (await enqueue(rt, [(kim.id, "K1")], priority=PRIORITY_INTERACTIVE))[2:]
    async with rt.detached_uow() as uow:
        for msg_id, status in ((sending, "sending"), (claimed, "inflight"), (reply, "inflight")):
            await uow.session.exec(
                update(OutboxMessage)
                .where(col(OutboxMessage.id) == msg_id)
                .values(status=status, attempts=1, lease_until=system_clock() + timedelta(hours=1))
            )
        await uow.commit()
    async with running(bot, delivery) as sender:
        assert sorted(sender.recovered) == sorted([claimed, reply])
        assert await sender.drain(timeout=5.0)
    assert texts(ivy) == [] and texts(jo) == ["J1"] and texts(kim) == ["K1"]
    assert (await row(rt, sending)).status == "uncertain"


async def test_a_mass_send_row_is_marked_sending_before_its_call(
    emu: BotApiEmulator, bot: Bot, rt: Runtime, delivery: DeliveryService
) -> None:
    """What the emulator sees arrive was already "sending" in the database."""
    lee = emu.user(first_name="L")
    (msg_id,) = await enqueue(rt, [(lee.id, "L1")], priority=PRIORITY_BROADCAST)
    seen: list[str] = []
    emu.set_latency(0.3)
    async with running(bot, delivery) as sender:
        for _ in range(100):
            status = (await row(rt, msg_id)).status
            seen.append(status)
            if status == "sent":
                break
            await asyncio.sleep(0.02)
        assert await sender.drain(timeout=5.0)
    assert "sending" in seen and seen[-1] == "sent"
    assert texts(lee) == ["L1"]


async def test_locale_comes_from_staff_then_row_then_default(
    rt: Runtime, delivery: DeliveryService
) -> None:
    now = system_clock()
    async with rt.detached_uow() as uow:
        uow.session.add(Department(id=1, name="办公室", created_at=now))
        uow.session.add(
            Staff(
                id=7,
                employee_no="E7",
                name="x",
                department_id=1,
                language="en",
                created_at=now,
                updated_at=now,
            )
        )
        await uow.outbox.add(chat_id=1, kind=TEXT, now=now, staff_id=7, locale="zh_CN")
        await uow.outbox.add(chat_id=2, kind=TEXT, now=now, locale="en-US")
        await uow.outbox.add(chat_id=3, kind=TEXT, now=now)
        await uow.commit()
    claimed = await delivery.claim(limit=10, lease_s=30)
    assert {o.chat_id: o.locale for o in claimed} == {1: "en", 2: "en", 3: "zh_CN"}


# -- the transport


async def test_multipart_upload_and_json_keyboards(emu: BotApiEmulator, bot: Bot) -> None:
    ivy: Phone = emu.user(first_name="I")
    await bot.send_document(
        ivy.id, document=b"%PDF-1.4 hello", filename="通知.pdf", caption="附件"
    )
    message = ivy.messages()[-1]
    assert message.document is not None
    assert message.document.read() == b"%PDF-1.4 hello"
    assert message.document.file_name == "通知.pdf"
    assert message.caption == "附件"
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("好", callback_data="faq.up:1:1")]])
    await bot.send_message(ivy.id, "<b>粗体</b>", parse_mode="HTML", reply_markup=markup)
    assert ivy.messages()[-1].text == "粗体"
    assert ivy.messages()[-1].callback_data == [["faq.up:1:1"]]


async def test_request_timeouts_and_network_errors_map_to_ptb_errors(emu: BotApiEmulator) -> None:
    url = f"{emu.base_url}{TOKEN}/getMe"
    request = AiohttpRequest(read_timeout=0.2)
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request(url, "POST")
    async with request:
        assert (await request.post(url))["id"] == 123456  # type: ignore[index,call-overload]
        emu.set_latency(0.5)
        with pytest.raises(TimedOut):
            await request.post(url)
        assert await request.post(url, read_timeout=2.0)  # a per-call timeout wins
        emu.set_latency(0.0)
        with pytest.raises(NetworkError) as refused:
            await request.post("http://127.0.0.1:9/bot123/getMe")  # nothing listens there
        assert not isinstance(refused.value, TimedOut)
    await request.initialize()  # a shut-down instance can be used again
    assert await request.post(url)
    await request.shutdown()
    await request.shutdown()  # and shutting down twice is harmless
