"""A terminal console for the sandbox's phones (``govbot sandbox --console``).

Type ``<user id> <text>``, ``<user id> press <button>``, ``<user id> upload <file>`` or
``<user id> show``: the same phones the web page plays, for a machine with no browser.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bot.emulator import BotApiEmulator, Phone

from .people import DEMO_STAFF

USAGE = (
    "usage: <user id> <text> | <user id> press <button> | <user id> upload <file>"
    " | <user id> show\n"
)


def intro() -> str:
    """What the console accepts, and who can be played."""
    lines = ["Console: type  <user id> <text>  e.g.  20011 /menu   (also: press, upload, show)"]
    for person in DEMO_STAFF:
        lines.append(
            f"  {person.tg_id}  {person.employee_no}  {person.name}  {person.department}"
            f"  [{';'.join(person.roles)}]"
        )
    return "\n".join(lines) + "\n"


def phones(emu: BotApiEmulator) -> dict[int, Phone]:
    """The demo staff's phones by Telegram id."""
    return {person.tg_id: emu.phone(person.tg_id) for person in DEMO_STAFF}


def _read_upload(typed: str) -> tuple[str, bytes]:
    path = Path(typed.strip()).expanduser()
    return path.name, path.read_bytes()


def _show(phone: Phone) -> str:
    lines = []
    for message in phone.messages(include_user=True)[-8:]:
        who = "bot" if message.from_bot else "you"
        lines.append(f"[{who}] {message.text}")
        for row in message.buttons:
            lines.append("      " + " | ".join(f"[{b}]" for b in row))
    return "\n".join(lines) + "\n"


async def console(phones: dict[int, Phone], stop: asyncio.Event) -> None:
    """Read typed lines from the terminal and act them out, until ``stop`` or end of input."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str] = asyncio.Queue()
    # A reader callback, not a thread: Ctrl-C must not wait for someone to press Enter.
    loop.add_reader(sys.stdin.fileno(), lambda: lines.put_nowait(sys.stdin.readline()))
    try:
        await _read_lines(phones, lines, stop)
    finally:
        loop.remove_reader(sys.stdin.fileno())


async def _read_lines(
    phones: dict[int, Phone], lines: asyncio.Queue[str], stop: asyncio.Event
) -> None:
    while not stop.is_set():
        line = await lines.get()
        if not line:
            return
        parts = line.strip().split(maxsplit=1)
        if len(parts) < 2 or not parts[0].isdigit() or int(parts[0]) not in phones:
            sys.stdout.write(USAGE)
            continue
        phone, rest = phones[int(parts[0])], parts[1]
        try:
            if rest == "show":
                pass
            elif rest.startswith("press "):
                await phone.press(rest[len("press ") :].strip())
            elif rest.startswith("upload "):
                name, data = await asyncio.to_thread(_read_upload, rest[len("upload ") :])
                await phone.upload(name, data)
            elif rest.startswith("/"):
                await phone.command(rest)
            else:
                await phone.send(rest)
            await asyncio.sleep(0.6)
            sys.stdout.write(_show(phone))
        except (KeyError, RuntimeError, OSError) as exc:
            sys.stdout.write(f"{exc}\n")
        sys.stdout.flush()
