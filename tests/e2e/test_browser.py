"""The sandbox in a real browser: headless Chromium opens the page of a running
``govbot sandbox``, and two phones file and approve a reimbursement side by side.

Screenshots go to ``test-artifacts/sandbox/`` (``GOVBOT_TEST_ARTIFACTS`` to move it).
Needs Playwright (a dev dependency) and a Chromium the system provides: ``scripts/setup
--for-tests`` installs Debian's ``chromium`` and ``fonts-noto-cjk`` when it runs as root;
``playwright install`` is never used (it downloads a browser build of its own).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox_proc import ROOT, Sandbox, chromium_path

pytestmark = pytest.mark.slow

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')"
)
Page = playwright_api.Page
expect = playwright_api.expect

from tests.sandbox_page import (  # noqa: E402 - needs Playwright, checked just above
    TIMEOUT_MS,
    bot_message_after,
    file_reimbursement,
    last_id,
    phone,
    tap,
    type_into,
)


def artefacts() -> Path:
    """Where screenshots go (kept after the run)."""
    root = Path(os.environ.get("GOVBOT_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    folder = root / "sandbox"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        pytest.skip(
            "no Chromium on this machine: install Debian's chromium (scripts/setup --for-tests "
            "does, as root) or set GOVBOT_CHROMIUM"
        )
    with playwright_api.sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=executable, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path, reset=True)
    box.wait_ready()
    try:
        # The demo scenes play on a fresh start; let them finish (朱琳's trip reaching finance
        # is the last step) so that the test's phones are the only ones busy.
        box.wait_for(20004, lambda m: "朱琳" in m["text"] and bool(m["buttons"]), timeout=60)
        yield box
    finally:
        assert box.stop() == 0, "".join(box.output)


@pytest.fixture
def page(browser: Any, sandbox: Sandbox) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1800, "height": 1000}, locale="zh-CN")
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    opened.on(
        "console",
        lambda msg: (
            problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
        ),
    )
    opened.goto(sandbox.url)
    expect(opened.locator("body")).to_have_attribute("data-ready", "1", timeout=TIMEOUT_MS)
    yield opened
    context.close()
    assert problems == [], problems


def test_two_phones_file_and_approve_a_reimbursement(
    page: Page, sandbox: Sandbox, tmp_path: Path
) -> None:
    shots = artefacts()
    xu, wu = phone(page, 0), phone(page, 1)
    expect(xu).to_have_attribute("data-user-id", "20011")  # the page opens on the demo cast
    expect(wu).to_have_attribute("data-user-id", "20010")
    assert page.locator('[data-testid="phone"]').count() == 4
    page.screenshot(path=shots / "01-opened.png")

    # 徐丽 files a 6000元 reimbursement, one question at a time, from the page.
    invoice = tmp_path / "发票.pdf"
    invoice.write_bytes(b"%PDF-1.4\n% an invoice\n")
    status = file_reimbursement(
        xu, "6000", "赴省厅参加数字政府培训差旅费", finance=True, invoice=invoice
    )
    expect(status).to_contain_text("吴强")
    page.screenshot(path=shots / "02-submitted.png")

    # 吴强, her department head, gets the task card on the second phone and approves it.
    card = (
        wu.locator('[data-testid="message"][data-from-bot="1"]')
        .filter(has_text="徐丽")
        .filter(has_text="¥6,000.00")
    )
    expect(card).to_have_count(1, timeout=TIMEOUT_MS)
    # The invoice she uploaded from the page reaches him as a document he can open.
    tap(card, "📎")
    sent = wu.locator('[data-testid="message"][data-from-bot="1"]').filter(has_text="发票.pdf")
    link = sent.locator("a[download]").first
    expect(link).to_be_visible(timeout=TIMEOUT_MS)
    opened = page.request.get(sandbox.url + (link.get_attribute("href") or "").lstrip("/"))
    assert opened.body() == invoice.read_bytes()
    tap(card, "✅ 同意")
    expect(wu.locator('[data-testid="toast"]', has_text="已同意")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    expect(card).to_have_class(re.compile(r"\bedited\b"), timeout=TIMEOUT_MS)
    expect(card.locator('[data-testid="inline-button"]', has_text="✅ 同意")).to_have_count(0)

    # Both screens moved: her status card (edited in place) shows his approval and the next
    # step, finance.
    expect(status).to_have_class(re.compile(r"\bedited\b"), timeout=TIMEOUT_MS)
    expect(status).to_contain_text("✅")
    expect(status).to_contain_text("财务")
    page.screenshot(path=shots / "03-approved.png")

    # The traffic panel shows what the bot did for the selected phone.
    wu.click(position={"x": 20, "y": 10})
    traffic = page.locator('[data-testid="traffic"]')
    expect(
        traffic.locator('[data-testid="traffic-row"][data-method="editMessageText"]').first
    ).to_be_visible(timeout=TIMEOUT_MS)
    expect(
        traffic.locator('[data-testid="traffic-row"][data-method="answerCallbackQuery"]').first
    ).to_be_visible()


def test_a_phone_switched_to_english_gets_the_english_catalogs(
    page: Page, sandbox: Sandbox
) -> None:
    liu = phone(page, 2)
    expect(liu).to_have_attribute("data-user-id", "20004")
    liu.locator('[data-testid="lang-select"]').select_option("en")
    mark = last_id(liu)
    type_into(liu, "/menu")
    reply = bot_message_after(liu, mark)
    expect(reply).not_to_contain_text("请选择")
    liu.locator('[data-testid="commands-button"]').click()
    expect(liu.locator('[data-testid="command-item"][data-command="apply"]')).to_contain_text(
        "Start a request"
    )
    # The page's own labels follow the page language, independently of the phones.
    page.locator('[data-testid="ui-lang"]').select_option("en")
    expect(liu.locator('[data-testid="send"]')).to_have_attribute("title", "Send")
    page.screenshot(path=artefacts() / "04-english.png")
