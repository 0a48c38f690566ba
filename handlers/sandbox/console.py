"""``govbot demo``: the real bot against the built-in emulator, with a demo city government.

No token and no internet: the emulator plays Telegram on 127.0.0.1, the demo staff are
already registered, and a small console (or the emulator's HTTP control API) lets you talk
to the bot as any of them. The browser sandbox (#5) will build on the same pieces.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import sys
from dataclasses import replace
from pathlib import Path

from bot.bootstrap import upgrade_schema
from bot.config import Settings
from bot.emulator import BotApiEmulator, Phone
from handlers.app import BotRunner, configure_logging

DEMO_TOKEN = "100000:DEMO-TOKEN"
DEMO_BOT = "govoffice_demo_bot"

# employee_no, name, department, roles, superior, telegram id (the emulator user id)
DEMO_STAFF: tuple[tuple[str, str, str, str, str, int], ...] = (
    ("D001", "张建国", "局领导", "leader;principal;staff", "", 20001),
    ("D002", "李秀英", "办公室", "office;dept_head;staff", "D001", 20002),
    ("D003", "王磊", "办公室", "office;staff", "D002", 20003),
    ("D004", "刘洋", "财务科", "finance;dept_head;staff", "D001", 20004),
    ("D005", "陈静", "财务科", "finance;staff", "D004", 20005),
    ("D006", "杨帆", "信息中心", "admin;dept_head;staff", "D001", 20006),
    ("D007", "赵敏", "信息中心", "support;staff", "D006", 20007),
    ("D008", "黄伟", "信息中心", "support;staff", "D006", 20008),
    ("D009", "周婷", "信息中心", "trainer;staff", "D006", 20009),
    ("D010", "吴强", "政务服务科", "dept_head;staff", "D001", 20010),
    ("D011", "徐丽", "政务服务科", "staff", "D010", 20011),
    ("D012", "孙浩", "政务服务科", "staff", "D010", 20012),
    ("D013", "马超", "城市建设科", "dept_head;staff", "D001", 20013),
    ("D014", "朱琳", "城市建设科", "staff", "D013", 20014),
    ("D015", "胡军", "城市建设科", "staff", "D013", 20015),
    ("D016", "郑伟", "局领导", "leader;staff", "D001", 20016),
)
HEADER = ("employee_no", "name", "department", "roles", "superior", "telegram_id", "language")


async def _prepare(settings: Settings, reset: bool) -> None:
    if reset and settings.data_dir.exists():
        shutil.rmtree(settings.data_dir)
    await upgrade_schema(settings)


async def _seed(runner: BotRunner) -> None:
    assert runner.services is not None
    rows = [
        (i + 2, dict(zip(HEADER, (*row[:5], str(row[5]), ""), strict=True)))
        for i, row in enumerate(DEMO_STAFF)
    ]
    report = await runner.services.staff_import.import_staff(rows, actor_id=None, partial=False)
    if report.errors:
        raise RuntimeError(f"demo data rejected: {report.errors[:3]}")


def _phones(emu: BotApiEmulator) -> dict[int, Phone]:
    return {
        tg: emu.user(first_name=name, user_id=tg, language_code="zh-hans")
        for _, name, _, _, _, tg in DEMO_STAFF
    }


def _print_intro(emu: BotApiEmulator) -> None:
    out = sys.stdout
    out.write(f"\nGovOffice Assistant demo — the real bot against the emulator at {emu.url}\n\n")
    out.write("Demo staff (already registered):\n")
    for no, name, dept, roles, _, tg in DEMO_STAFF:
        out.write(f"  {tg}  {no}  {name}  {dept}  [{roles}]\n")
    out.write(
        "\nType in this console:  <user id> <text>   e.g.  20011 /menu\n"
        "                       <user id> press <button text>\n"
        "                       <user id> upload <file>   (a document, e.g. a 发文 draft)\n"
        "                       <user id> show   (what that phone sees)\n"
        "Or drive it over HTTP, e.g.\n"
        f'  curl -s -XPOST {emu.url}/__emu/users/20011/command -d \'{{"text":"/menu"}}\'\n'
        f"  curl -s {emu.url}/__emu/chats/20011/messages\n"
        "Ctrl-C stops everything; data stays in the data directory (--reset starts over).\n\n"
        "Walk a reimbursement end to end (approvals, #4):\n"
        "  20011 /apply · 20011 press 费用报销 · 20011 6000 · 20011 差旅费 · 20011 press 跳过 ·\n"
        "  20011 press 跳过 · 20011 press ✅ 提交   (徐丽 asks; 6000 > 5000 adds finance)\n"
        "  20010 press ✅ 同意   (吴强, her department head)\n"
        "  20004 press ✅ 同意   (刘洋, finance)\n"
        "Walk a 发文: 20014 /apply · press 发文审批 · answer each question (the draft:\n"
        "  20014 upload draft.pdf) · 核稿 by 20003 (王磊, office) · 签发 by 20001\n"
        "  (张建国; type the opinion, then confirm) · 编号 and 归档 by 20003, who gets the\n"
        "  发文字号 with his toast.  /todo, /mine and /find work for everyone.\n\n"
    )
    out.flush()


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


async def _console(phones: dict[int, Phone], stop: asyncio.Event) -> None:
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
            sys.stdout.write(
                "usage: <user id> <text> | <user id> press <button> | <user id> upload <file>"
                " | <user id> show\n"
            )
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


async def run_demo(settings: Settings, *, port: int, reset: bool) -> None:
    """Start the emulator, the bot and the console; stop everything on Ctrl-C."""
    configure_logging()
    emu = BotApiEmulator(token=DEMO_TOKEN, bot_username=DEMO_BOT)
    await emu.start(port=port)
    phones = _phones(emu)
    demo_settings = replace(
        settings,
        token=DEMO_TOKEN,
        api_base_url=emu.base_url,
        api_file_base_url=emu.file_base_url,
        bot_username=DEMO_BOT,
    )
    await _prepare(demo_settings, reset)
    runner = BotRunner(demo_settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await runner.start()
        await _seed(runner)
        _print_intro(emu)
        console = asyncio.create_task(_console(phones, stop)) if sys.stdin.isatty() else None
        await stop.wait()
        if console is not None:
            console.cancel()
    finally:
        await runner.stop()
        await emu.stop()
