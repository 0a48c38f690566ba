"""The database goes away for a while: nothing is lost, nothing is done twice (#3)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.emulator import BotApiEmulator
from tests.e2e.conftest import Org, RunningBot, bot_settings, prepare_database
from tests.pg import LocalCluster, PostgresUnavailableError, find_bindir

pytestmark = [pytest.mark.asyncio, pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
async def own_cluster() -> AsyncIterator[tuple[LocalCluster, str]]:
    """A PostgreSQL server of this test's own, so it can be stopped and started."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb) found; install postgresql-15")
    try:
        cluster = LocalCluster(bindir)
        server = cluster.start()
    except PostgresUnavailableError as exc:
        pytest.skip(str(exc))
    try:
        name = await server.create_database()
        yield cluster, server.url_for(name)
    finally:
        cluster.stop()


async def test_a_brief_database_outage_delays_but_loses_nothing(
    emulator: BotApiEmulator, tmp_path: Path, own_cluster: tuple[LocalCluster, str]
) -> None:
    cluster, url = own_cluster
    settings = bot_settings(emulator, tmp_path / "data", url)
    await prepare_database(settings)
    bot = RunningBot(settings, emulator)
    await bot.start()
    try:
        phone = await Org(bot).bound_phone("staff")
        await phone.command("/help")
        await phone.wait_message(containing="我能做什么")
        cluster.pause()
        await phone.command("/menu")
        await phone.send("你好")
        await asyncio.sleep(3)
        assert phone.messages()[-1].text.startswith("我能做什么")  # nothing new yet
        cluster.resume()
        await phone.wait_message(where=lambda m: m.text == "主菜单", timeout=45)
        await phone.wait_message(containing="您好！", timeout=15)
        await bot.settle(within=20)
        texts = [m.text for m in phone.messages()]
        assert texts.count("主菜单") == 1
        assert sum("您好！" in t for t in texts) == 1
    finally:
        await bot.stop()
