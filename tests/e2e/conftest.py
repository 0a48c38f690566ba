"""End-to-end fixtures: the loopback Bot API emulator and the real bot against it.

The bot is the production composition (handlers.app.BotRunner) pointed at the emulator via
the same settings as TELEGRAM_API_BASE_URL; tests play phones through the emulator.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import Clock, FakeClock, system_clock
from bot.config import Settings, ensure_secret_key
from bot.emulator import BotApiEmulator, Phone
from bot.people.domain import COLUMNS
from bot.services import Services
from handlers.app import BotRunner
from handlers.sender import Limits
from storage.crypto import KeyRing, install_key_ring
from storage.db import Database

TOKEN = "123456:TEST-TOKEN"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    """A fresh emulator on a free 127.0.0.1 port."""
    emu = BotApiEmulator(token=TOKEN, bot_username="govoffice_test_bot")
    await emu.start(port=0)
    try:
        yield emu
    finally:
        await emu.stop()


def bot_settings(emu: BotApiEmulator, data_dir: Path, db_url: str) -> Settings:
    """What `govbot run` would read from the environment in these tests."""
    return Settings(
        token=TOKEN,
        api_base_url=emu.base_url,
        api_file_base_url=emu.file_base_url,
        data_dir=data_dir,
        database_url=db_url,
        bot_username="govoffice_test_bot",
    )


def bot_environment(settings: Settings) -> dict[str, str]:
    """The same settings as environment variables, for a bot in a subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOVBOT_", "TELEGRAM_"))}
    env.update(
        {
            "TELEGRAM_BOT_TOKEN": settings.token or "",
            "TELEGRAM_API_BASE_URL": settings.api_base_url,
            "TELEGRAM_API_FILE_BASE_URL": settings.effective_file_base_url,
            "GOVBOT_DATA_DIR": str(settings.data_dir),
            "DATABASE_URL": settings.effective_database_url,
            "PYTHONPATH": str(ROOT),
            "GOVBOT_INBOX_LEASE_S": str(settings.inbox_lease_s),
        }
    )
    return env


CONVERSATION_LIMITS = Limits(chat_burst=50, chat_interval_s=0.0, group_limit=200)


@dataclass
class RunningBot:
    """The bot process (in this event loop), restartable; and direct access to its services."""

    settings: Settings
    emulator: BotApiEmulator
    clock: Clock = system_clock
    runner: BotRunner | None = None
    processes: list[asyncio.subprocess.Process] = field(default_factory=list)
    # The emulator enforces no flood limits unless a test turns them on, and conversations
    # would otherwise wait Telegram's one message per second per chat between replies
    # (tests/e2e/test_sender.py checks the real limits).
    sender_limits: Limits | None = field(default_factory=lambda: CONVERSATION_LIMITS)

    @property
    def services(self) -> Services:
        assert self.runner is not None and self.runner.services is not None
        return self.runner.services

    async def start(self) -> None:
        self.runner = BotRunner(self.settings, clock=self.clock, sender_limits=self.sender_limits)
        await self.runner.start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.stop()
            self.runner = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def settle(self, within: float = 10.0) -> None:
        """Wait until every stored update is handled and every queued message sent."""
        assert self.runner is not None
        assert self.runner.dispatcher is not None and self.runner.sender is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        await asyncio.sleep(0.05)
        while loop.time() < deadline:
            if (
                self.emulator.pending_updates() == 0
                and await self.runner.dispatcher.idle(max(0.1, deadline - loop.time()))
                and await self.runner.sender.drain(max(0.1, deadline - loop.time()))
            ):
                await asyncio.sleep(0.05)
                if self.emulator.pending_updates() == 0:
                    return
            await asyncio.sleep(0.05)
        raise TimeoutError("the bot did not settle")

    async def spawn(self, *, up_within: float = 60.0) -> asyncio.subprocess.Process:
        """`govbot run` in a subprocess (for tests that kill it), once it polls Telegram.

        A poll made before the spawn (the in-process bot's, a killed run's) does not count:
        a cold process takes seconds to import and open its database, and a test that sends
        before then would time the start-up, not the bot.
        """
        polls = len(self.emulator.calls("getUpdates"))
        log_path = self.settings.data_dir / "govbot-run.log"
        with log_path.open("ab") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "handlers.cli",
                "run",
                env=bot_environment(self.settings),
                cwd=str(ROOT),
                stdout=asyncio.subprocess.DEVNULL,
                # A file, not a pipe nobody reads: a full pipe would block the bot's logging.
                stderr=log,
            )
        self.processes.append(proc)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + up_within
        while len(self.emulator.calls("getUpdates")) <= polls:
            if proc.returncode is not None or loop.time() > deadline:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise AssertionError(f"govbot run did not start polling:\n{tail}")
            await asyncio.sleep(0.05)
        return proc


async def prepare_database(settings: Settings) -> None:
    """`govbot db upgrade` for the test's database."""
    install_key_ring(KeyRing(ensure_secret_key(settings)))
    db = Database(settings.effective_database_url)
    try:
        await db.upgrade()
    finally:
        await db.dispose()


@pytest.fixture
async def bot(emulator: BotApiEmulator, tmp_path: Path, db_url: str) -> AsyncIterator[RunningBot]:
    """The real bot, started against the emulator, on SQLite and on PostgreSQL."""
    settings = bot_settings(emulator, tmp_path / "data", db_url)
    await prepare_database(settings)
    running = RunningBot(settings, emulator, clock=_WallClock())
    await running.start()
    try:
        yield running
    finally:
        await running.stop()
        for proc in running.processes:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


class _WallClock(FakeClock):
    """Real time, plus whatever a test skips ahead (invite expiry, rate-limit windows)."""

    def __init__(self) -> None:
        super().__init__()
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return system_clock() + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


STAFF_HEADER = list(COLUMNS)


@dataclass
class Org:
    """A small demo organisation whose staff can be registered as phones."""

    bot: RunningBot
    counter: int = 0
    numbers: dict[str, str] = field(default_factory=dict)  # name -> employee number

    async def add_staff(
        self,
        roles: str = "staff",
        *,
        name: str | None = None,
        department: str = "办公室",
        telegram_id: int | None = None,
        language: str = "",
        superior: str = "",
    ) -> str:
        self.counter += 1
        employee_no = f"E{self.counter:04d}"
        cells = dict(
            zip(
                STAFF_HEADER,
                [
                    employee_no,
                    name or f"员工{self.counter}",
                    department,
                    roles,
                    superior,
                    str(telegram_id or ""),
                    language,
                ],
                strict=True,
            )
        )
        report = await self.bot.services.staff_import.import_staff(
            [(2, cells)], actor_id=None, partial=False
        )
        assert report.written, report.errors
        return employee_no

    async def phone(
        self,
        roles: str = "staff",
        *,
        language_code: str = "zh-hans",
        name: str | None = None,
        department: str = "办公室",
        superior: str = "",
    ) -> Phone:
        """A staff member registered the way a person does it: invite, /start, accept."""
        employee_no = await self.add_staff(
            roles, name=name, department=department, superior=superior
        )
        self.numbers[name or employee_no] = employee_no
        issued = await self.bot.services.people.create_invite(employee_no, actor_id=None)
        phone = self.bot.emulator.user(first_name=issued.name, language_code=language_code)
        await phone.command(f"/start {issued.code}")
        notice = await phone.wait_message(
            containing="隐私" if language_code.startswith("zh") else "Privacy"
        )
        await phone.press(
            "✅ 同意" if language_code.startswith("zh") else "✅ Accept", message=notice
        )
        await phone.wait_message(containing=issued.name)
        return phone

    async def bound_phone(self, roles: str = "staff") -> Phone:
        """A staff member whose Telegram id came with the directory import (no dialogue)."""
        phone = self.bot.emulator.user(first_name=secrets.token_hex(3))
        await self.add_staff(roles, telegram_id=phone.id)
        return phone


@pytest.fixture
def org(bot: RunningBot) -> Org:
    return Org(bot)


async def toast(phone: Phone, query_id: str, within: float = 10.0) -> str:
    """The text the bot answered one press with (waits for the answer)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = [t for t in phone.toasts() if t.callback_query_id == query_id]
        if found:
            return found[0].text or ""
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no answer to press {query_id}")
        await asyncio.sleep(0.05)
