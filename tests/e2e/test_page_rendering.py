"""The sandbox page as a Telegram client, without the bot: the test plays the bot through the
emulator's Bot API and checks what headless Chromium shows and sends back.

The emulator (with the sandbox's real page configuration) runs on its own event loop in a
thread; Playwright's synchronous API drives the browser from the test.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from bot.emulator import BotApiEmulator
from handlers.sandbox import seed
from handlers.sandbox.page import ui_config
from tests.sandbox_proc import chromium_path

pytestmark = pytest.mark.slow

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')"
)
expect = playwright_api.expect
T = TypeVar("T")
XU_LI, YANG_FAN = 20011, 20006
TIMEOUT_MS = 10_000


class World:
    """An emulator with the demo accounts, on a loop of its own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def config() -> dict[str, Any]:
            return ui_config(self.emu)

        self.emu = BotApiEmulator(token="100000:DEMO-TOKEN", ui_config=config)
        seed.ensure_accounts(self.emu)
        self.run(self.emu.start())
        self.desk = self.run(self._desk())

    async def _desk(self) -> int:
        group = self.emu.group(
            title="信息中心服务台",
            members=[self.emu.phone(YANG_FAN), self.emu.phone(20007)],
            supergroup=True,
        )
        await self.emu.add_bot_to_group(group, self.emu.phone(YANG_FAN))
        return group.chat_id

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def bot(self, method: str, **params: Any) -> Any:
        """A Bot API call, as the bot would make it."""
        return self.run(self.emu.call(method, **params))

    def wait(self, ready: Callable[[], bool], what: str) -> None:
        """Until the emulator's world satisfies ``ready``."""
        self.run(self.emu.state.wait_until(ready, 5, lambda: what))

    def close(self) -> None:
        self.run(self.emu.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def world() -> Iterator[World]:
    made = World()
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def page(world: World) -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium on this machine (scripts/setup --for-tests installs it)")
    problems: list[str] = []
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True)
        opened = browser.new_page(viewport={"width": 1800, "height": 1000})
        opened.on("pageerror", lambda exc: problems.append(str(exc)))
        opened.on(
            "console",
            lambda m: problems.append(m.text) if m.type == "error" else None,
        )
        opened.goto(world.emu.url + "/")
        expect(opened.locator("body")).to_have_attribute("data-ready", "1", timeout=TIMEOUT_MS)
        yield opened
        browser.close()
    assert problems == []


def xu(page: Any) -> Any:
    return page.locator(f'[data-testid="phone"][data-user-id="{XU_LI}"]')


def test_formatting_is_drawn_and_unsafe_links_are_not_links(world: World, page: Any) -> None:
    world.bot(
        "sendMessage",
        chat_id=XU_LI,
        parse_mode="HTML",
        text=(
            "<b>费用报销</b> <i>待审批</i> <u>下划线</u> <s>删除</s> <code>BX-0001</code>\n"
            '<a href="https://www.gov.cn/">中国政府网</a> <tg-spoiler>秘密</tg-spoiler>\n'
            "<blockquote>请于本周五前办理</blockquote><pre>x = 1</pre> &lt;script&gt;"
        ),
    )
    entities = [{"type": "text_link", "offset": 0, "length": 4, "url": "javascript:alert(1)"}]
    world.bot("sendMessage", chat_id=XU_LI, text="点这里看", entities=json.dumps(entities))
    screen = xu(page)
    first = screen.locator('[data-testid="message"]').first
    expect(first.locator("strong")).to_have_text("费用报销")
    expect(first.locator("em")).to_have_text("待审批")
    expect(first.locator("u")).to_have_text("下划线")
    expect(first.locator("s")).to_have_text("删除")
    expect(first.locator("code").first).to_have_text("BX-0001")
    expect(first.locator('a[href="https://www.gov.cn/"]')).to_have_text("中国政府网")
    expect(first.locator("blockquote")).to_have_text("请于本周五前办理")
    expect(first.locator("pre")).to_contain_text("x = 1")
    expect(first).to_contain_text("<script>")  # text, not markup
    assert first.locator("script").count() == 0
    spoiler = first.locator(".spoiler")
    expect(spoiler).not_to_have_class("spoiler revealed")
    spoiler.click()
    expect(spoiler).to_have_class("spoiler revealed")
    second = screen.locator('[data-testid="message"]').nth(1)
    expect(second).to_contain_text("点这里看")
    assert second.locator("a[href]").count() == 0  # javascript: never becomes a link


def test_reply_keyboard_alerts_edits_deletes_and_photos(world: World, page: Any) -> None:
    screen = xu(page)
    keyboard = {
        "keyboard": [["同意", "不同意"]],
        "resize_keyboard": True,
        "one_time_keyboard": True,
    }
    world.bot("sendMessage", chat_id=XU_LI, text="是否同意？", reply_markup=json.dumps(keyboard))
    screen.locator('[data-testid="reply-button"]', has_text="不同意").click()
    phone = world.emu.phone(XU_LI)

    def mine() -> list[str]:
        return [m.text for m in phone.messages(include_user=True) if not m.from_bot]

    world.wait(lambda: bool(mine()), "the reply-keyboard tap")
    assert mine() == ["不同意"]  # the button's text, sent as her message
    # A one-time keyboard folds away after use (its toggle can bring it back).
    expect(screen.locator('[data-testid="reply-button"]').first).to_be_hidden()

    inline = {"inline_keyboard": [[{"text": "提交", "callback_data": "ap.submit:1"}]]}
    sent = world.bot("sendMessage", chat_id=XU_LI, text="请核对", reply_markup=json.dumps(inline))
    screen.locator('[data-testid="inline-button"]', has_text="提交").click()
    world.wait(lambda: bool(world.emu.state.callbacks), "the inline tap")
    (query_id,) = world.emu.state.callbacks
    assert world.emu.state.callbacks[query_id].data == "ap.submit:1"
    world.bot(
        "answerCallbackQuery", callback_query_id=query_id, text="该申请已撤回", show_alert=True
    )
    alert = screen.locator('[data-testid="alert"]')
    expect(alert).to_contain_text("该申请已撤回")
    screen.locator('[data-testid="alert-ok"]').click()
    expect(alert).to_have_count(0)

    world.bot("editMessageText", chat_id=XU_LI, message_id=sent["message_id"], text="已提交")
    card = screen.locator(f'[data-testid="message"][data-message-id="{sent["message_id"]}"]')
    expect(card).to_contain_text("已提交")
    expect(card).to_have_class(re.compile(r"\bedited\b"))
    expect(card.locator('[data-testid="inline-button"]')).to_have_count(0)
    world.bot("deleteMessage", chat_id=XU_LI, message_id=sent["message_id"])
    expect(card).to_have_count(0)

    png = (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
        b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff"
        b"\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
    )
    photo = world.emu.state.store_file(png, "photo", mime_type="image/png")  # uploaded before
    world.bot("sendPhoto", chat_id=XU_LI, photo=photo.file_id, caption="现场照片")
    image = screen.locator('[data-testid="message"] img').last
    expect(image).to_be_visible()
    src = image.get_attribute("src") or ""
    assert page.request.get(world.emu.url + src).body() == png


def test_a_group_opens_on_a_members_phone_with_sender_names(world: World, page: Any) -> None:
    yang = page.locator('[data-testid="phone"][data-slot="0"]')
    yang.locator('[data-testid="persona-select"]').select_option(str(YANG_FAN))
    expect(yang).to_have_attribute("data-user-id", str(YANG_FAN))
    chats = yang.locator('[data-testid="chat-select"] option')
    expect(chats).to_have_count(2)  # the chat with the bot, and the desk he is in
    yang.locator('[data-testid="chat-select"]').select_option(str(world.desk))
    expect(yang).to_have_attribute("data-chat-id", str(world.desk))
    world.run(world.emu.group_by_id(world.desk).send(world.emu.phone(20007), "收到，马上处理"))
    expect(yang.locator('[data-testid="message"]')).to_contain_text("收到，马上处理")
    expect(yang).to_contain_text("赵敏")  # whose message it is, as a group shows
    box = yang.locator('[data-testid="composer-input"]')
    box.fill("请赵敏跟进")
    box.press("Enter")
    group = world.emu.group_by_id(world.desk)
    world.wait(
        lambda: any(m.text == "请赵敏跟进" for m in group.messages(include_user=True)),
        "his message in the group",
    )
    posted = next(m for m in group.messages(include_user=True) if m.text == "请赵敏跟进")
    assert posted.to_json()["sender_id"] == YANG_FAN
    # 徐丽 is not in the desk group: her phone cannot open it.
    other = page.locator('[data-testid="phone"][data-slot="1"]')
    other.locator('[data-testid="persona-select"]').select_option(str(XU_LI))
    expect(other.locator('[data-testid="chat-select"] option')).to_have_count(1)
