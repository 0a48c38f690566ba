"""Driving the sandbox page's phones with Playwright (the browser test, the bench and the
README screenshot share these)."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

TIMEOUT_MS = 20_000


def phone(page: Page, slot: int) -> Locator:
    return page.locator(f'[data-testid="phone"][data-slot="{slot}"]')


def last_id(screen: Locator) -> int:
    ids = screen.locator('[data-testid="message"]').evaluate_all(
        "els => els.map(e => Number(e.dataset.messageId))"
    )
    return max(ids, default=0)


def bot_message_after(screen: Locator, after: int, containing: str | None = None) -> Locator:
    """The bot's first message newer than ``after`` (optionally containing a text)."""
    found = screen.locator('[data-testid="message"][data-from-bot="1"]').filter(
        has_text=containing or re.compile(".")
    )
    for _ in range(TIMEOUT_MS // 100):
        ids = found.evaluate_all("els => els.map(e => Number(e.dataset.messageId))")
        newer = [i for i in ids if i > after]
        if newer:
            return screen.locator(f'[data-testid="message"][data-message-id="{min(newer)}"]')
        screen.page.wait_for_timeout(100)
    raise AssertionError(f"no bot message after #{after} containing {containing!r}")


def type_into(screen: Locator, text: str) -> None:
    box = screen.locator('[data-testid="composer-input"]')
    box.fill(text)
    box.press("Enter")


def tap(message: Locator, label: str) -> None:
    message.locator('[data-testid="inline-button"]', has_text=label).first.click()


def file_reimbursement(
    screen: Locator, amount: str, purpose: str, *, finance: bool, invoice: Path | None = None
) -> Locator:
    """/apply → 费用报销 on a phone: answer, skip the details, attach ``invoice`` with the
    paper clip (or skip it), submit; the status card (a locator that follows its edits)."""
    mark = last_id(screen)
    type_into(screen, "/apply")
    menu = bot_message_after(screen, mark, "费用报销")
    tap(menu, "费用报销")
    question = bot_message_after(screen, mark, "金额")
    type_into(screen, amount)
    question = bot_message_after(screen, _id(question), "事由")
    type_into(screen, purpose)
    question = bot_message_after(screen, _id(question), "费用明细")
    tap(question, "跳过")
    question = bot_message_after(screen, _id(question), "发票")
    if invoice is None:
        tap(question, "跳过")
    else:  # the page's paper clip sends the file as a document
        screen.locator('[data-testid="file-input"]').set_input_files(invoice)
        question = bot_message_after(screen, _id(question), "已收到 1 个")
        tap(question, "完成")
    summary = bot_message_after(screen, _id(question), "提交")
    if finance:  # above 5000元 the route shows finance
        expect(summary).to_contain_text("财务")
    tap(summary, "✅ 提交")
    return bot_message_after(screen, mark, "审批中")


def _id(message: Locator) -> int:
    return int(message.get_attribute("data-message-id") or 0)
