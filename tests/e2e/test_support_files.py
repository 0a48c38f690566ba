"""Files and awkward content at the support desk (#7), on phones against the emulator: a file
the requester sends is relayed and archived (encrypted) with the ticket; one over the 20 MB a
bot may download is relayed all the same and marked not archived, in the record and the
topic; an album arrives as an album in one call; a message Telegram refuses to copy leaves a
placeholder (or the document sent again by its file id), never silence."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from bot.emulator import BotApiEmulator
from tests.e2e import test_support_desk
from tests.e2e.conftest import bot_environment
from tests.e2e.test_support_desk import Desk, _open_ticket, _topic

pytestmark = pytest.mark.asyncio

desk = test_support_desk.desk  # the same desk group, agents and requester
ROOT = Path(__file__).resolve().parents[2]


async def _attachments(desk: Desk, number: str) -> list[tuple[str, str, int | None, str | None]]:
    async with desk.bot.services.runtime.detached_uow() as uow:
        ticket = await uow.support.ticket_by_number(number)
        assert ticket is not None and ticket.id is not None
        return [
            (a.kind, a.file_name, len(a.data) if a.data is not None else None, a.not_archived)
            for a in await uow.support.attachments(ticket.id)
        ]


async def test_files_are_archived_and_one_over_the_limit_is_relayed_not_archived(
    desk: Desk, tmp_path: Path
) -> None:
    group, user = desk.group, desk.user
    number = await _open_ticket(user, "打印机一直卡纸怎么办")
    thread = await _topic(group, number)
    await user.upload("报修单.pdf", b"%PDF-1.4 the repair form", mime_type="application/pdf")
    small = await group.wait_message(where=lambda m: m.kind == "document", timeout=10)
    assert small.message_thread_id == thread
    big_data = b"\0" * (21 * 1024 * 1024)
    await user.upload("扫描件.zip", big_data, mime_type="application/zip")
    big = await group.wait_message(
        where=lambda m: m.kind == "document" and m.message_id > small.message_id, timeout=20
    )
    assert big.message_thread_id == thread  # relayed all the same
    marked = await group.wait_message(containing="扫描件.zip", after=big, timeout=10)
    assert "21.0 MB" in marked.text and "未存档" in marked.text
    await desk.bot.settle()
    assert await _attachments(desk, number) == [
        ("document", "报修单.pdf", len(b"%PDF-1.4 the repair form"), None),
        ("document", "扫描件.zip", None, "too_big"),
    ]
    async with desk.bot.services.runtime.detached_uow() as uow:
        ticket = await uow.support.ticket_by_number(number)
        assert ticket is not None and ticket.id is not None
        history = [m.body for m in await uow.support.messages(ticket.id)]
    assert any("扫描件.zip (21.0 MB): not archived (too_big)" in line for line in history)

    # The operator takes the archived files out; the one not archived is listed.
    out = tmp_path / "files"
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "handlers.cli", "ticket", "files", number, "--out", str(out)],
        env={**bot_environment(desk.bot.settings), "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (out / "001-报修单.pdf").read_bytes() == b"%PDF-1.4 the repair form"
    assert "扫描件.zip" in result.stdout and "too_big" in result.stdout


async def test_an_album_arrives_as_an_album_in_one_call(
    desk: Desk, emulator: BotApiEmulator
) -> None:
    group, user = desk.group, desk.user
    number = await _open_ticket(user, "显示器花屏")
    thread = await _topic(group, number)
    await desk.bot.settle()
    await user.upload_album(
        [("1.jpg", b"\xff\xd8 one"), ("2.jpg", b"\xff\xd8 two"), ("3.jpg", b"\xff\xd8 three")],
        caption="三个角度",
    )
    await desk.bot.settle()
    photos = [m for m in group.messages() if m.kind == "photo" and m.message_thread_id == thread]
    assert len(photos) == 3
    assert len({m.media_group_id for m in photos}) == 1 and photos[0].media_group_id
    copies = [c for c in emulator.calls("copyMessages") if c.chat_id == group.id]
    assert len(copies) == 1 and not emulator.calls("copyMessage")
    assert [a[0] for a in await _attachments(desk, number)] == ["photo", "photo", "photo"]


async def test_a_message_that_cannot_be_copied_leaves_a_placeholder(
    desk: Desk, emulator: BotApiEmulator
) -> None:
    group, user = desk.group, desk.user
    number = await _open_ticket(user, "系统报错截图发不过去")
    thread = await _topic(group, number)
    await desk.bot.settle()
    emulator.inject_error(
        "copyMessage", 400, "Bad Request: message can't be copied", chat_id=group.id
    )
    await user.upload_photo(b"\xff\xd8 a screenshot", caption="报错窗口")
    placeholder = await group.wait_message(containing="无法复制", timeout=10)
    assert placeholder.message_thread_id == thread and "报错窗口" in placeholder.text
    # A document refused the same way is sent again by its file id.
    emulator.inject_error(
        "copyMessage", 400, "Bad Request: message to copy not found", chat_id=group.id
    )
    await user.upload("日志.txt", b"ERROR 500 at 09:12", mime_type="text/plain")
    resent = await group.wait_message(where=lambda m: m.kind == "document", timeout=10)
    assert resent.message_thread_id == thread
    assert emulator.calls("sendDocument")
