"""Relay throughput and latency of the support desk under Telegram's flood limits.

N requesters (registered phones) and one forum desk group, against the loopback emulator
with its flood limits on and the bot's sender pacing itself. Phase 1: every requester opens
a ticket (/support, a category, a first message): the bot creates N topics with a card each.
Phase 2: every requester sends K more messages, spread over ``--spread`` seconds; each is
timed from the send to its arrival in the ticket's topic (as a copy, or inside a merged
message). The desk group's limit (20 messages a minute) is what binds, so time is
compressed: every window of the emulator and the sender is divided by ``--time-scale`` (20:
a group's minute lasts 3 s), and times are printed both as measured and multiplied back.
The figures are printed, not asserted.

    python -m bench.support_relay [--users 500] [--messages 3] [--time-scale 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

from bot.emulator import BotApiEmulator, Group, Phone, RateLimitConfig
from handlers.app import BotRunner
from handlers.sender import Limits
from storage.crypto import KeyRing, install_key_ring
from storage.db import Database
from tests.e2e.conftest import STAFF_HEADER, bot_settings

TOKEN = re.compile(r"u(\d+)m(\d+)x")


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _pct(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100)[p - 1]


async def _watch(group: Group, arrived: dict[tuple[int, int], float], stop: asyncio.Event) -> None:
    """Note when each token first shows up in the group (copies and merged messages)."""
    seen = 0
    while not stop.is_set():
        messages = group.messages()
        now = time.perf_counter()
        for message in messages[seen:]:
            for user, n in TOKEN.findall(message.text or ""):
                arrived.setdefault((int(user), int(n)), now)
        seen = len(messages)
        await asyncio.sleep(0.02)


async def run(users: int, messages: int, scale: float, spread: float, db_url: str | None) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="govbot-bench-relay-"))
    emu = BotApiEmulator(
        token="123456:TEST-TOKEN",
        bot_username="bench_bot",
        rate_limits=True,
        limits=RateLimitConfig(
            private_window_s=1.0 / scale,
            group_window_s=60.0 / scale,
            global_window_s=1.0 / scale,
        ),
    )
    await emu.start(port=0)
    owner = emu.user(first_name="desk")
    group = emu.group(title="服务台", members=[owner], forum=True)
    await emu.add_bot_to_group(group, owner, admin=True)
    settings = bot_settings(emu, tmp / "data", db_url or f"sqlite+aiosqlite:///{tmp}/b.db")
    keys = KeyRing(bytes(32))
    install_key_ring(keys)
    settings = settings.with_overrides(secret_key=keys.current.hex(), desk_chat_id=group.id)
    db = Database(settings.effective_database_url)
    await db.upgrade()
    await db.dispose()
    base = Limits()
    limits = Limits(
        chat_window_s=base.chat_window_s / scale,
        chat_interval_s=base.chat_interval_s / scale,
        group_window_s=base.group_window_s / scale,
        global_window_s=base.global_window_s / scale,
        broadcast_window_s=base.broadcast_window_s / scale,
        slack_s=base.slack_s / scale,
    )
    runner = BotRunner(settings, sender_limits=limits)
    await runner.start()
    assert runner.services is not None
    phones: list[Phone] = [emu.user(first_name=f"u{i}", language_code="en") for i in range(users)]
    rows = [
        (
            i + 2,
            dict(
                zip(
                    STAFF_HEADER,
                    [f"R{i:05d}", f"员工{i}", "办公室", "staff", "", str(p.id), "en"],
                    strict=True,
                )
            ),
        )
        for i, p in enumerate(phones)
    ]
    await runner.services.staff_import.import_staff(rows, actor_id=None, partial=False)
    rss_before = _rss_mb()

    async def open_ticket(phone: Phone, n: int) -> None:
        await phone.command("/support")
        home = await phone.wait_message(containing="What is the new problem about?", timeout=600)
        await phone.press("Devices and network", message=home)
        await phone.wait_message(containing="describe the problem", after=home, timeout=600)
        await phone.send(f"u{n}m0x 电脑开不了机")
        await phone.wait_message(containing="is open", after=home, timeout=600)

    started = time.perf_counter()
    await asyncio.gather(*(open_ticket(p, n) for n, p in enumerate(phones)))
    opened_s = time.perf_counter() - started
    sender = runner.sender
    assert sender is not None
    await sender.drain(timeout=3600)
    cards_s = time.perf_counter() - started
    calls_before = len([c for c in emu.calls() if c.chat_id == group.id])

    arrived: dict[tuple[int, int], float] = {}
    sent_at: dict[tuple[int, int], float] = {}
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch(group, arrived, stop))
    rng = random.Random(7)

    async def write(phone: Phone, n: int) -> None:
        for k in range(1, messages + 1):
            await asyncio.sleep(rng.uniform(0, spread / messages))
            sent_at[(n, k)] = time.perf_counter()
            await phone.send(f"u{n}m{k}x 补充第{k}条")

    relay_started = time.perf_counter()
    await asyncio.gather(*(write(p, n) for n, p in enumerate(phones)))
    await sender.drain(timeout=3600)
    await asyncio.sleep(0.2)
    stop.set()
    await watcher
    relay_s = time.perf_counter() - relay_started
    group_calls = [c for c in emu.calls() if c.chat_id == group.id][calls_before:]
    refused = sum(1 for c in emu.calls() if c.status == 429)
    latencies = sorted((arrived[key] - sent_at[key]) * 1000 for key in sent_at if key in arrived)
    missing = len(sent_at) - len(latencies)
    await runner.stop()
    await emu.stop()
    total = users * messages
    real = scale  # measured seconds x scale ~ seconds at Telegram's real limits
    print(
        f"support relay: {users} requesters, one desk group, {messages} follow-ups each "
        f"({total} messages) over {spread:.0f} s, time compressed x{scale:g}, database "
        f"{settings.effective_database_url.split(':')[0]}"
    )
    print(
        f"  opening          {users} tickets: topics and cards all posted in {cards_s:6.1f} s"
        f" (≈ {cards_s * real / 60:5.1f} min at real limits; the last /support answered at "
        f"{opened_s:.1f} s)"
    )
    print(
        f"  relayed          {len(latencies)}/{total} messages in {len(group_calls)} calls to "
        f"the group ({total / max(len(group_calls), 1):.1f} messages per call), {missing} "
        f"missing, {refused} answers 429"
    )
    print(
        f"  throughput       {len(latencies) / relay_s:6.1f} messages/s measured "
        f"(≈ {len(latencies) / relay_s / real * 60:6.1f} per minute at real limits)"
    )
    if latencies:
        p50, p99 = _pct(latencies, 50), _pct(latencies, 99)
        print(
            f"  latency          p50 {p50:7.0f} ms   p99 {p99:7.0f} ms   max "
            f"{latencies[-1]:7.0f} ms measured (x{scale:g} at real limits: p50 "
            f"{p50 * real / 1000:5.0f} s, p99 {p99 * real / 1000:5.0f} s)"
        )
    print(f"  process RSS      {rss_before:6.1f} MB before, {_rss_mb():6.1f} MB after")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--messages", type=int, default=3, help="follow-ups per requester")
    parser.add_argument("--time-scale", type=float, default=20.0)
    parser.add_argument(
        "--spread", type=float, default=10.0, help="seconds the follow-ups are spread over"
    )
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(run(args.users, args.messages, args.time_scale, args.spread, args.database_url))


if __name__ == "__main__":
    main()
