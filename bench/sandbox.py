"""The sandbox (#5): time to a usable page, and how the page keeps up with four phones.

1. Start-up. ``govbot sandbox --no-browser --port 0`` is started as a process, as a user
   starts it (the package installed, nothing else warm), fresh (``--reset``) and again on the
   saved data. Measured from spawning the process: the address printed, the page served,
   and the first usable moment: headless Chromium has the page with every phone's history
   loaded and its event stream open, and the bot has answered a /menu typed on a phone.
2. Four phones. The four phone chats are filled with ``--history`` bot messages each (a
   ``/help`` answered by the real bot, over and over), the page is opened with four phones,
   and ``--rounds`` times a /menu is typed on each phone in turn: the figure is the time from
   the key press to the bot's reply drawn on that phone, plus how long the page took to load
   those histories and the main thread's long tasks (> 50 ms) during the rounds.

The figures are printed, not asserted. Needs Playwright and a system Chromium (as the browser
test does).

    python -m bench.sandbox [--starts 3] [--history 100] [--rounds 10]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.sandbox_proc import Sandbox, chromium_path

PHONES = (20011, 20010, 20004, 20001)


def _served(url: str) -> float:
    with urllib.request.urlopen(url, timeout=10) as resp:
        resp.read()
    return time.monotonic()


def _ready_page(browser: Any, url: str) -> tuple[Any, Any, float]:
    context = browser.new_context(viewport={"width": 1800, "height": 1000})
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector('body[data-ready="1"]', timeout=30_000)
    return context, page, time.monotonic()


def _menu_round_trip(page: Any, slot: int) -> float:
    """Type /menu on a phone; seconds until the reply is on that phone's screen."""
    screen = page.locator(f'[data-testid="phone"][data-slot="{slot}"]')
    before = screen.locator('[data-testid="message"][data-from-bot="1"]').count()
    box = screen.locator('[data-testid="composer-input"]')
    box.fill("/menu")
    started = time.monotonic()
    box.press("Enter")
    page.wait_for_function(
        """([slot, before]) => document.querySelectorAll(
            `[data-testid="phone"][data-slot="${slot}"] [data-testid="message"][data-from-bot="1"]`
        ).length > before""",
        arg=[slot, before],
        timeout=30_000,
        polling="raf",
    )
    return time.monotonic() - started


def startup(browser: Any, starts: int) -> None:
    data = Path(tempfile.mkdtemp(prefix="bench-sandbox-"))
    rows: dict[str, list[tuple[float, float, float, float]]] = {"fresh": [], "restart": []}
    try:
        for i in range(starts * 2):
            kind = "fresh" if i % 2 == 0 else "restart"
            box = Sandbox(data, reset=kind == "fresh")
            t0 = box.started
            url = box.wait_ready()
            printed = time.monotonic()
            served = _served(url)
            context, page, ready = _ready_page(browser, url)
            _menu_round_trip(page, 0)
            usable = time.monotonic()
            context.close()
            assert box.stop() == 0
            rows[kind].append((printed - t0, served - t0, ready - t0, usable - t0))
    finally:
        shutil.rmtree(data, ignore_errors=True)
    print("start-up, seconds from spawning `govbot sandbox` (median / max):")
    print("  run      address printed   page served   page ready   bot answered /menu")
    for kind, values in rows.items():
        cols = list(zip(*values, strict=True))
        cells = [f"{statistics.median(c):5.2f} / {max(c):5.2f}" for c in cols]
        print(f"  {kind:8} {cells[0]:>15}   {cells[1]:>11}   {cells[2]:>10}   {cells[3]:>18}")


def _fill(box: Sandbox, history: int) -> None:
    for tg in PHONES:
        for _ in range(history):
            box.post(f"__emu/users/{tg}/command", {"text": "/help"})
    for tg in PHONES:
        box.wait_for(
            tg,
            lambda _m, tg=tg: sum(m["from_bot"] for m in box.messages(tg)) >= history,
            timeout=300,
            what=f"{history} answers",
        )


def four_phones(browser: Any, history: int, rounds: int) -> None:
    data = Path(tempfile.mkdtemp(prefix="bench-sandbox-"))
    box = Sandbox(data, reset=True)
    try:
        url = box.wait_ready()
        _fill(box, history)
        total = sum(len(box.messages(tg)) for tg in PHONES)
        t0 = time.monotonic()
        context, page, ready = _ready_page(browser, url)
        page.evaluate(
            """() => { window.__long = [];
            new PerformanceObserver(
              (list) => list.getEntries().forEach((e) => window.__long.push(e.duration))
            ).observe({type: "longtask", buffered: false}); }"""
        )
        trips = [_menu_round_trip(page, slot) for _ in range(rounds) for slot in range(4)]
        long_tasks = page.evaluate("() => window.__long")
        heap = page.evaluate("() => performance.memory ? performance.memory.usedJSHeapSize : 0")
        context.close()
    finally:
        box.stop()
        shutil.rmtree(data, ignore_errors=True)
    trips_ms = sorted(t * 1000 for t in trips)
    p95 = trips_ms[max(0, int(len(trips_ms) * 0.95) - 1)]
    print(f"four phones, {total} messages in their chats ({history} bot answers each):")
    print(f"  page ready with every history drawn: {ready - t0:.2f} s")
    print(
        f"  /menu typed → reply drawn, {len(trips_ms)} round trips: median "
        f"{statistics.median(trips_ms):.0f} ms, p95 {p95:.0f} ms, max {trips_ms[-1]:.0f} ms"
    )
    print(
        f"  main-thread long tasks (> 50 ms) during the rounds: {len(long_tasks)}"
        + (f", longest {max(long_tasks):.0f} ms" if long_tasks else "")
    )
    print(f"  JS heap in use: {heap / 1e6:.1f} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--history", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    executable = chromium_path()
    if executable is None:
        print("no Chromium: install Debian's chromium or set GOVBOT_CHROMIUM", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True)
        try:
            startup(browser, args.starts)
            four_phones(browser, args.history, args.rounds)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
