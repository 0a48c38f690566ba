"""``BotApiEmulator``: the in-process facade tests use (server lifecycle + test-side API)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

from .control import add_control_routes
from .limits import Clock, RateLimitConfig, RateLimiter
from .methods import BotApi, Fault
from .persist import load_state, save_state
from .phones import Group, Phone
from .server import MAX_REQUEST_BYTES, add_bot_routes
from .state import ApiCall, ApiError, EmulatorState, JsonDict, chat_member_json
from .webhook import WebhookDispatcher
from .webui import UiConfig, add_webui_routes, browser_guard

__all__ = ["DEFAULT_TOKEN", "ApiError", "BotApiEmulator"]

DEFAULT_TOKEN = "123456:TEST-TOKEN"
HOST = "127.0.0.1"  # loopback only: the emulator has no authentication of its own


class BotApiEmulator:
    """A loopback Telegram Bot API server with a scriptable world of users and groups."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "govoffice_test_bot",
        *,
        bot_first_name: str = "GovOffice Assistant",
        rate_limits: bool = False,
        limits: RateLimitConfig | None = None,
        clock: Clock | None = None,
        strict_html: bool = True,
        webhook_backoff_s: float = 0.05,
        webhook_timeout_s: float = 10.0,
        ui_config: UiConfig | None = None,
    ) -> None:
        head = token.split(":", 1)[0]
        bot_id = int(head) if head.isdigit() else 123456
        self.token = token
        self.state = EmulatorState(bot_id, bot_username, bot_first_name)
        self.limiter = RateLimiter(limits, clock)
        self.api = BotApi(
            self.state,
            token,
            limiter=self.limiter,
            rate_limits=rate_limits,
            strict_html=strict_html,
        )
        self.webhooks = WebhookDispatcher(
            self.state,
            request_timeout_s=webhook_timeout_s,
            backoff_initial_s=webhook_backoff_s,
        )
        self.api.on_webhook_change = self.webhooks.refresh
        self.port = 0
        self._ui_config = ui_config
        self._runner: web.AppRunner | None = None
        self._phones: dict[int, Phone] = {}
        self._groups: dict[int, Group] = {}

    # ---- lifecycle ----------------------------------------------------------------------

    def build_app(self) -> web.Application:
        """The aiohttp application (bot API, file downloads, /__emu control)."""
        if self._ui_config is None:
            app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        else:
            guard = browser_guard(lambda: self.port)
            app = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=[guard])
            add_webui_routes(app, self._ui_config)
        add_bot_routes(app, self.api, self.state)
        add_control_routes(app, self)
        return app

    def load(self, directory: Path) -> bool:
        """Restore a world saved with ``save`` (before ``start``); False if none was saved."""
        if self._runner is not None:
            raise RuntimeError("load the saved world before starting the emulator")
        return load_state(self.state, directory)

    def save(self, directory: Path) -> None:
        """Write the world (chats, files, pending updates, ids) to ``directory``."""
        save_state(self.state, directory)

    async def start(self, port: int = 0) -> None:
        """Serve on 127.0.0.1:``port`` (0 picks a free port, see ``self.port``)."""
        if self._runner is not None:
            raise RuntimeError("emulator already started")
        self.state.closing = False
        runner = web.AppRunner(self.build_app(), shutdown_timeout=1.0, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, HOST, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()  # e.g. port in use: do not leak the runner
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        if self.state.webhook is not None:
            self.webhooks.refresh()

    async def stop(self) -> None:
        """Stop serving; waiting long polls return and event streams end."""
        self.state.closing = True
        self.state.updates_signal.notify()
        self.state.close_subscribers()
        await self.webhooks.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotApiEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """Root URL, e.g. http://127.0.0.1:8081."""
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """Value for PTB's ``base_url`` (the token is appended by PTB)."""
        return f"{self.url}/bot"

    @property
    def file_base_url(self) -> str:
        """Value for PTB's ``base_file_url``."""
        return f"{self.url}/file/bot"

    # ---- world building -----------------------------------------------------------------

    def user(
        self,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
        user_id: int | None = None,
    ) -> Phone:
        """Create a user (and its private chat with the bot); ids auto-assigned from 1000."""
        record = self.state.add_user(first_name, last_name, username, language_code, user_id)
        phone = Phone(self.state, record)
        self._phones[record.id] = phone
        return phone

    def phone(self, user_id: int) -> Phone:
        """The Phone of an existing user (also one restored by ``load``)."""
        phone = self._phones.get(user_id)
        if phone is None:
            record = self.state.users.get(user_id)
            if record is None:
                raise KeyError(f"no such user {user_id}; create it with emu.user()")
            phone = self._phones[user_id] = Phone(self.state, record)
        return phone

    def has_user(self, user_id: int) -> bool:
        """Whether the world has this user."""
        return user_id in self.state.users

    def group(
        self,
        title: str = "Test group",
        members: Iterable[Phone] = (),
        forum: bool = False,
        chat_id: int | None = None,
        *,
        supergroup: bool = False,
    ) -> Group:
        """Create a group (a supergroup if ``forum`` or ``supergroup``); the bot is not in it."""
        record = self.state.add_group(
            title, [p.id for p in members], forum=forum, chat_id=chat_id, supergroup=supergroup
        )
        group = Group(self.state, record)
        self._groups[record.id] = group
        return group

    def group_by_id(self, chat_id: int) -> Group:
        """The Group of an existing chat id (also one restored by ``load``)."""
        group = self._groups.get(chat_id)
        if group is None:
            chat = self.state.chats.get(chat_id)
            if chat is None or not chat.is_group:
                raise KeyError(f"no such group {chat_id}")
            group = self._groups[chat_id] = Group(self.state, chat)
        return group

    def groups(self) -> list[Group]:
        """Every group and supergroup of the world."""
        return [self.group_by_id(c.id) for c in self.state.chats.values() if c.is_group]

    async def add_bot_to_group(self, group: Group, by: Phone, admin: bool = True) -> int:
        """``by`` adds the bot to ``group``; emits my_chat_member; returns the update_id."""
        chat = self.state.require_chat(group.chat_id)
        old = chat.bot_status
        chat.bot_status = "administrator" if admin else "member"
        if by.id not in chat.member_ids:
            chat.member_ids.append(by.id)
        return self._bot_member_update(group, by, old, chat.bot_status)

    async def remove_bot_from_group(self, group: Group, by: Phone) -> int:
        """``by`` removes the bot from ``group``; emits my_chat_member (kicked)."""
        chat = self.state.require_chat(group.chat_id)
        old = chat.bot_status
        chat.bot_status = "kicked"
        return self._bot_member_update(group, by, old, "kicked")

    def _bot_member_update(self, group: Group, by: Phone, old: str, new: str) -> int:
        chat = self.state.require_chat(group.chat_id)
        bot = self.state.bot_json()
        payload: JsonDict = {
            "chat": self.state.chat_json(chat),
            "from": by.user.to_json(),
            "date": int(time.time()),
            "old_chat_member": chat_member_json(old, bot),
            "new_chat_member": chat_member_json(new, bot),
        }
        update = self.state.push_update("my_chat_member", payload, f"chat:{chat.id}")
        return update.update_id

    # ---- inspection & control -----------------------------------------------------------

    async def redeliver(self, update_id: int) -> None:
        """Queue an already delivered (even confirmed) update again with the same update_id."""
        self.state.redeliver(update_id)

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """Bot API calls served so far (optionally of one method, case-insensitive)."""
        if method is None:
            return list(self.state.calls_log)
        wanted = method.lower()
        return [c for c in self.state.calls_log if c.method.lower() == wanted]

    def clear_calls(self) -> None:
        """Forget the call log (long benchmarks)."""
        self.state.calls_log.clear()

    def unanswered_callbacks(self) -> list[str]:
        """Ids of callback queries the bot has not answered yet."""
        return [c.id for c in self.state.callbacks.values() if not c.answered]

    def commands(
        self,
        scope_type: str = "default",
        language_code: str = "",
        *,
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> list[JsonDict]:
        """Commands the bot stored with setMyCommands for exactly this scope + language."""
        key = (scope_type, chat_id, user_id, language_code)
        return [dict(c) for c in self.state.commands.get(key, [])]

    @property
    def counters(self) -> dict[str, int]:
        """Responses served by HTTP status (as strings: "200", "429", ...)."""
        return dict(self.state.counters)

    def pending_updates(self) -> int:
        """Updates the bot has not confirmed yet."""
        return len(self.state.pending)

    def hold_updates(self, holding: bool = True) -> None:
        """Keep every update (new ones too) but hand none to the bot, as when Telegram's
        delivery to it is broken; ``hold_updates(False)`` delivers them again."""
        self.state.holding = holding
        self.state.updates_signal.notify()

    def chat_actions(self, chat_id: int | None = None) -> list[str]:
        """Chat actions (typing, upload_document, …) the bot sent, optionally for one chat."""
        return [a for c, a in self.state.chat_actions if chat_id is None or c == chat_id]

    def inject_error(
        self,
        method: str,
        status: int,
        description: str | None = None,
        count: int = 1,
        retry_after: int | None = None,
        chat_id: int | None = None,
    ) -> Fault:
        """Make the next ``count`` calls of ``method`` ("*" = any) fail with this error."""
        return self.api.inject(method, status, description, count, retry_after, chat_id)

    def clear_faults(self) -> None:
        """Drop all pending injected faults."""
        self.api.faults.clear()

    def set_latency(self, seconds: float) -> None:
        """Delay every bot call by ``seconds``."""
        self.api.latency_s = max(0.0, seconds)

    @property
    def rate_limits(self) -> bool:
        """Whether Telegram's flood limits are enforced."""
        return self.api.rate_limits

    @rate_limits.setter
    def rate_limits(self, enabled: bool) -> None:
        self.api.rate_limits = enabled

    async def call(self, method: str, **params: Any) -> Any:
        """Call a Bot API method in-process (no HTTP); raises ApiError on failure."""
        return await self.api.call(method, params)

    def webhook_url(self) -> str | None:
        """Currently registered webhook URL."""
        return self.state.webhook.url if self.state.webhook else None
