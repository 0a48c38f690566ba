"""Loopback Telegram Bot API emulator for end-to-end tests, the sandbox and benchmarks.

Stands alone: imports only the standard library and aiohttp (not ``telegram``, not the rest
of the project), and binds 127.0.0.1 only.

    emu = BotApiEmulator()
    await emu.start()                      # emu.base_url / emu.file_base_url for PTB
    phone = emu.user(first_name="张三", language_code="zh-hans")
    await phone.command("/start")
    reply = await phone.wait_reply("欢迎")
    await phone.press("同意")              # inline button by its text
    await emu.stop()

Layers: ``state`` (world model, no aiohttp) ← ``methods`` (Bot API semantics) ← ``server``
(bot HTTP) / ``control`` (``/__emu`` JSON + SSE); ``phones`` drives ``state`` as the users.
"""

from .emulator import DEFAULT_TOKEN, BotApiEmulator
from .html import HtmlParseError, ParsedText, parse_html
from .limits import RateLimitConfig, RateLimiter, SlidingWindow
from .phones import ButtonNotFound, Group, Phone
from .state import ApiCall, ApiError, CallbackAnswer, SentDocument, SentMessage

__all__ = [
    "DEFAULT_TOKEN",
    "ApiCall",
    "ApiError",
    "BotApiEmulator",
    "ButtonNotFound",
    "CallbackAnswer",
    "Group",
    "HtmlParseError",
    "ParsedText",
    "Phone",
    "RateLimitConfig",
    "RateLimiter",
    "SentDocument",
    "SentMessage",
    "SlidingWindow",
    "parse_html",
]
