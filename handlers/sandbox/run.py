"""Start and stop the sandbox: emulator + web page, the real bot, the demo city, autosave."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import time
import webbrowser
from dataclasses import replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.bootstrap import upgrade_schema
from bot.clock import system_clock
from bot.config import Settings
from bot.courses.demo import publish_demo_course
from bot.emulator import BotApiEmulator
from bot.emulator.persist import autosave
from bot.i18n import Translator, translator
from handlers.app import BotRunner, configure_logging

from . import seed
from .console import console, intro, phones
from .page import ui_config
from .people import DEMO_BOT, DEMO_TOKEN, DESK_CHAT_ID

logger = logging.getLogger(__name__)

EMULATOR_DIR = "emulator"
SEEDED_MARK = "sandbox-seeded"  # written once the demo city and its content are in place


class SandboxError(RuntimeError):
    """The sandbox cannot start (e.g. its port is taken); the message says what to do."""


def sandbox_settings(settings: Settings, data_dir: Path, emu: BotApiEmulator) -> Settings:
    """Production settings, pointed at the emulator and the sandbox's own data directory."""
    return replace(
        settings,
        token=DEMO_TOKEN,
        api_base_url=emu.base_url,
        api_file_base_url=emu.file_base_url,
        bot_username=DEMO_BOT,
        data_dir=data_dir,
        database_url=None,  # the embedded default: SQLite in data_dir
        desk_chat_id=DESK_CHAT_ID,  # tickets from the FAQ arrive in the desk group
    )


async def _start_emulator(emu: BotApiEmulator, port: int, tr: Translator) -> None:
    try:
        await emu.start(port=port)
    except OSError as exc:
        raise SandboxError(
            tr.gettext(
                "Port {port} on 127.0.0.1 is not free ({reason}); choose another with --port."
            ).format(port=port, reason=exc.strerror or exc)
        ) from exc


async def _content(emu: BotApiEmulator, timezone: str) -> None:
    """Each capability's demo scenes; a failed scene is logged, never fatal."""
    today = system_clock().astimezone(ZoneInfo(timezone)).date()
    try:
        await seed.demo_content(emu, today)
    except seed.SeedError:
        logger.exception("demo content could not be prepared; the sandbox works without it")


async def run_sandbox(
    settings: Settings,
    *,
    data_dir: Path,
    port: int,
    open_browser: bool,
    reset: bool,
    with_console: bool = False,
) -> None:
    """Run until Ctrl-C (or SIGTERM); the next start continues with the same data."""
    configure_logging()
    started = time.monotonic()
    emu: BotApiEmulator
    # Telegram's limits are on, as in production: the traffic panel shows what a real chat would.
    emu = BotApiEmulator(
        token=DEMO_TOKEN, bot_username=DEMO_BOT, rate_limits=True, ui_config=lambda: _config(emu)
    )
    tr = translator(settings.default_locale)
    try:
        restored, first_start = await asyncio.to_thread(_prepare, data_dir, reset, emu)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SandboxError(
            tr.gettext(
                "The saved sandbox in {path} cannot be read ({reason}); start a fresh one "
                "with --reset."
            ).format(path=data_dir, reason=exc)
        ) from exc
    seed.ensure_accounts(emu)
    await _start_emulator(emu, port, tr)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    runner: BotRunner | None = None
    saver: asyncio.Task[None] | None = None
    tasks: list[asyncio.Task[None]] = []
    try:
        bot_settings = sandbox_settings(settings, data_dir, emu)
        await upgrade_schema(bot_settings)
        runner = BotRunner(bot_settings, freeze_heap=True)
        await runner.start()
        assert runner.services is not None
        if first_start:
            await seed.import_directory(runner.services)
            await seed.import_knowledge(runner.services)
            today = system_clock().astimezone(ZoneInfo(settings.timezone)).date()
            await seed.on_call_roster(runner.services, today)
            await seed.demo_surveys(runner.services, today, ZoneInfo(settings.timezone))
            await runner.services.quiz_campaigns.open_demo()  # the security quizzes, for all
            await publish_demo_course(runner.services.course_publishing, tg_id=seed.TRAINER)
            await seed.demo_announcement(runner.services, today, ZoneInfo(settings.timezone))
            # Marked before the scenes play: a sandbox stopped halfway through them must not
            # play them again (孙浩 would ask for the same leave twice).
            mark = data_dir / SEEDED_MARK
            await asyncio.to_thread(mark.write_text, "demo city seeded\n", encoding="utf-8")
        await seed.ensure_desk(emu)
        saver = asyncio.create_task(autosave(emu.state, data_dir / EMULATOR_DIR, stop))
        url = f"{emu.url}/"
        _announce(tr, url, time.monotonic() - started, restored, data_dir, with_console)
        if first_start:
            tasks.append(asyncio.create_task(_content(emu, settings.timezone)))
        if open_browser:
            tasks.append(asyncio.create_task(asyncio.to_thread(_open, url)))
        if with_console and sys.stdin.isatty():
            tasks.append(asyncio.create_task(console(phones(emu), stop)))
        await stop.wait()
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        if runner is not None:
            await runner.stop()
        if saver is not None:
            await saver  # the last save, after the bot stopped
        await emu.stop()


def _prepare(data_dir: Path, reset: bool, emu: BotApiEmulator) -> tuple[bool, bool]:
    """Reset if asked, restore the saved world; (restored, demo city still to be seeded)."""
    if reset and data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    restored = emu.load(data_dir / EMULATOR_DIR)
    return restored, not (data_dir / SEEDED_MARK).exists()


async def _config(emu: BotApiEmulator) -> dict[str, Any]:
    return ui_config(emu)


def _open(url: str) -> None:
    """Open the page in the desktop's browser; on a machine without a desktop, do nothing
    (Python would otherwise start a text-mode browser in this very terminal)."""
    desktop = sys.platform in ("darwin", "win32") or any(
        os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY")
    )
    if not desktop:
        return
    with contextlib.suppress(webbrowser.Error):
        webbrowser.open(url)


def _announce(
    tr: Translator, url: str, took_s: float, restored: bool, data_dir: Path, with_console: bool
) -> None:
    out = sys.stdout
    if restored:
        head = tr.gettext("GovOffice Assistant sandbox: continuing the saved sandbox")
    else:
        head = tr.gettext("GovOffice Assistant sandbox: a fresh demo city")
    out.write(
        "\n"
        + head
        + "\n  "
        + tr.gettext("Ready in {seconds} s. Open {url}").format(seconds=f"{took_s:.1f}", url=url)
        + "\n  "
        + tr.gettext("Data: {path} (--reset starts over). Ctrl-C stops everything.").format(
            path=data_dir.resolve()
        )
        + "\n\n"
    )
    if with_console:
        out.write(intro())
    out.flush()
