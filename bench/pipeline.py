"""Throughput and latency of the whole update path against the loopback emulator.

update stored in the inbox → PTB handler → unit of work (effects + outbox + inbox done) →
outbox sender → sendMessage. N registered phones each send M commands in a closed loop
(the next one after the previous reply arrives); the figures are printed, not asserted.

    python -m bench.pipeline [--phones 50] [--messages 20] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from bot.emulator import BotApiEmulator, Phone
from handlers.app import BotRunner
from handlers.sender import Limits
from storage.crypto import KeyRing, install_key_ring
from storage.db import Database
from tests.e2e.conftest import STAFF_HEADER, bot_settings


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def _loop_lag(stop: asyncio.Event, samples: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        start = loop.time()
        await asyncio.sleep(0.01)
        samples.append(max(0.0, loop.time() - start - 0.01) * 1000)


async def run(
    phones_n: int, messages: int, database_url: str | None, latency: float, limits: bool
) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="govbot-bench-"))
    emu = BotApiEmulator(token="123456:TEST-TOKEN", bot_username="bench_bot")
    await emu.start(port=0)
    settings = bot_settings(emu, tmp / "data", database_url or f"sqlite+aiosqlite:///{tmp}/b.db")
    keys = KeyRing(bytes(32))
    install_key_ring(keys)
    settings = settings.with_overrides(secret_key=keys.current.hex())
    db = Database(settings.effective_database_url)
    await db.upgrade()
    await db.dispose()
    lifted = Limits(
        chat_burst=10_000,
        group_limit=10_000,
        global_limit=10_000,
        global_burst=10_000,
        broadcast_limit=10_000,
        broadcast_burst=10_000,
    )
    runner = BotRunner(settings, sender_limits=None if limits else lifted)
    await runner.start()
    assert runner.services is not None
    phones: list[Phone] = [emu.user(first_name=f"p{i}") for i in range(phones_n)]
    rows = [
        (
            i + 2,
            dict(
                zip(
                    STAFF_HEADER,
                    [f"B{i:05d}", f"员工{i}", "办公室", "staff", "", str(p.id), ""],
                    strict=True,
                )
            ),
        )
        for i, p in enumerate(phones)
    ]
    await runner.services.staff_import.import_staff(rows, actor_id=None, partial=False)
    emu.set_latency(latency)
    latencies: list[float] = []
    lag: list[float] = []
    stop = asyncio.Event()
    lagger = asyncio.create_task(_loop_lag(stop, lag))

    async def user(phone: Phone) -> None:
        for _ in range(messages):
            start = time.perf_counter()
            await phone.command("/help")
            await phone.wait_reply(timeout=60)
            latencies.append((time.perf_counter() - start) * 1000)

    rss_before = _rss_mb()
    started = time.perf_counter()
    await asyncio.gather(*(user(p) for p in phones))
    elapsed = time.perf_counter() - started
    stop.set()
    await lagger
    await runner.stop()
    await emu.stop()
    total = phones_n * messages
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    print(
        f"pipeline: {phones_n} phones x {messages} commands = {total} updates, "
        f"API latency {latency * 1000:.0f} ms, database "
        f"{settings.effective_database_url.split(':')[0]}, "
        f"Telegram's limits {'on' if limits else 'lifted'}"
    )
    print(f"  throughput      {total / elapsed:8.1f} updates/s ({elapsed:.1f} s)")
    print(
        f"  reply latency   p50 {q[49]:6.1f} ms   p99 {q[98]:6.1f} ms   "
        f"max {latencies[-1]:6.1f} ms"
    )
    print(
        f"  event-loop lag  p99 {statistics.quantiles(lag, n=100)[98]:6.1f} ms   "
        f"max {max(lag):6.1f} ms"
    )
    print(
        f"  process RSS     {rss_before:6.1f} MB before, {_rss_mb():6.1f} MB after "
        "(emulator and bot share the process)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--phones", type=int, default=50)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.0, help="emulated API latency, s")
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--telegram-limits",
        action="store_true",
        help="keep the sender's Telegram limits (replies then cap at ~28/s)",
    )
    args = parser.parse_args()
    asyncio.run(
        run(args.phones, args.messages, args.database_url, args.latency, args.telegram_limits)
    )


if __name__ == "__main__":
    main()
