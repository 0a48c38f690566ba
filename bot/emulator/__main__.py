"""``python -m bot.emulator --port 8081``: run the emulator standalone until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from .emulator import DEFAULT_TOKEN, BotApiEmulator


async def _serve(args: argparse.Namespace) -> None:
    emu = BotApiEmulator(
        token=args.token, bot_username=args.username, rate_limits=args.rate_limits
    )
    await emu.start(port=args.port)
    for first_name in args.user or []:
        phone = emu.user(first_name=first_name)
        sys.stdout.write(f"user {first_name!r}: id {phone.id}\n")
    sys.stdout.write(
        f"Bot API emulator on {emu.url}\n"
        f"  token:         {emu.token}\n"
        f"  base_url:      {emu.base_url}\n"
        f"  base_file_url: {emu.file_base_url}\n"
        f"  control:       {emu.url}/__emu/info\n"
        f"  events (SSE):  {emu.url}/__emu/events\n"
    )
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Not available on every platform; Ctrl-C still ends asyncio.run() there.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await emu.stop()
        sys.stdout.write("emulator stopped\n")


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve."""
    parser = argparse.ArgumentParser(prog="python -m bot.emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--username", default="govoffice_test_bot")
    parser.add_argument("--rate-limits", action="store_true", help="enforce flood limits")
    parser.add_argument("--user", action="append", help="pre-create a user (repeatable)")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
