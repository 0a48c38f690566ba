"""The composition root: settings → database → services → PTB Application → running bot."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from telegram import BotCommand, BotCommandScopeDefault
from telegram.ext import Application, ApplicationBuilder, ContextTypes, SimpleUpdateProcessor

from bot.bootstrap import (
    Database,
    KeyRing,
    check_schema,
    open_database,
    open_keys,
)
from bot.clock import Clock, system_clock
from bot.config import Settings
from bot.i18n import N_, translator
from bot.runtime import Runtime
from bot.services import Services, build_services
from bot.support.health import Pulse
from handlers import announcements as announcement_handlers
from handlers import approvals as approval_handlers
from handlers import approvals_office as approval_office_handlers
from handlers import courses as course_handlers
from handlers import faq as faq_handlers
from handlers import faq_digest as faq_digest_handlers
from handlers import faq_trainer as faq_trainer_handlers
from handlers import people as people_handlers
from handlers import quizzes as quiz_handlers
from handlers import render  # noqa: F401  (registers renderers)
from handlers import staff as staff_handlers
from handlers import support as support_handlers
from handlers import surveys as survey_handlers
from handlers.context import Ctx
from handlers.errors import on_error
from handlers.inbox import (
    ALLOWED_UPDATES,
    Dispatcher,
    PollingReceiver,
    WebhookServer,
)
from handlers.render import announcements as _announcement_renderers  # noqa: F401
from handlers.render import approvals as _approval_renderers  # noqa: F401
from handlers.render import approvals_office as _approval_office_renderers  # noqa: F401
from handlers.render import courses as _course_renderers  # noqa: F401
from handlers.render import faq as _faq_renderers  # noqa: F401
from handlers.render import faq_digest as _faq_digest_renderers  # noqa: F401
from handlers.render import faq_trainer as _faq_trainer_renderers  # noqa: F401
from handlers.render import people as _people_renderers  # noqa: F401
from handlers.render import progress as _progress_renderers  # noqa: F401
from handlers.render import quizzes as _quiz_renderers  # noqa: F401
from handlers.render import staff as _staff_renderers  # noqa: F401
from handlers.render import support as _support_renderers  # noqa: F401
from handlers.render import survey_authoring as _survey_authoring_renderers  # noqa: F401
from handlers.render import surveys as _survey_renderers  # noqa: F401
from handlers.request import AiohttpRequest
from handlers.sender import Limits, OutboxSender

logger = logging.getLogger(__name__)

CONCURRENT_UPDATES = 64
FAQ_WARM_GRACE_S = 15.0  # how long stop() waits for the FAQ index's first load
GUARD_CHECK_S = 600.0  # how often the due tick makes sure the outage guard's heartbeat is alive

# (command, English description) — descriptions are translated per language for setMyCommands.
COMMANDS = (
    ("menu", N_("Main menu")),
    ("help", N_("What I can do")),
    ("language", N_("Language: 中文 / English")),
    ("ask", N_("Ask the knowledge base a question")),
    ("support", N_("Contact the support desk")),
    ("survey", N_("Surveys waiting for me")),
    ("course", N_("My training courses")),
    ("announce", N_("Send an announcement (office, trainers)")),
    ("results", N_("Results of my surveys")),
    ("quiz", N_("Security quizzes waiting for me")),
    ("apply", N_("Start a request")),
    ("todo", N_("What waits for me")),
    ("mine", N_("My requests")),
    ("find", N_("Find a request by its number")),
    ("delegate", N_("Let a colleague approve for me while I am away")),
    ("register", N_("Export the outgoing or incoming register (office)")),
    ("overdue", N_("Overdue documents by department (office)")),
    ("digest", N_("Questions the knowledge base could not answer (trainers)")),
    ("kb", N_("Edit the knowledge base (trainers)")),
    ("newsurvey", N_("Write and publish a survey (trainers)")),
    ("cancel", N_("Stop what you are doing")),
    ("start", N_("Register with your invite link")),
)


def configure_logging(level: int = logging.INFO) -> None:
    """Logging is configured once, here; modules only call getLogger(__name__)."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "apscheduler", "aiohttp.access", "telegram.ext.Application", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def build_application(
    settings: Settings, services: Services
) -> Application[Any, Ctx, Any, Any, Any, Any]:
    """The real PTB Application (no updater: our inbox receives updates)."""
    if not settings.token:
        raise ValueError("a bot token is required")
    app = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.api_base_url)
        .base_file_url(settings.effective_file_base_url)
        .request(AiohttpRequest(connection_pool_size=64))
        .get_updates_request(AiohttpRequest(connection_pool_size=2, read_timeout=40.0))
        .updater(None)
        # Concurrent across chats; the dispatcher keeps each chat's updates in order.
        .concurrent_updates(SimpleUpdateProcessor(CONCURRENT_UPDATES))
        .context_types(ContextTypes(context=Ctx))
        .build()
    )
    app.bot_data["services"] = services
    for group, handler in (
        people_handlers.handlers()
        + approval_handlers.handlers()
        + approval_office_handlers.handlers()
        + faq_trainer_handlers.handlers()
        + staff_handlers.handlers()
        + faq_handlers.handlers()
        + faq_digest_handlers.handlers()
        + support_handlers.handlers()
        + survey_handlers.handlers()
        + quiz_handlers.handlers()
        + course_handlers.handlers()
        + announcement_handlers.handlers()
    ):
        app.add_handler(handler, group=group)
    for group, handler in people_handlers.fallback_handlers():
        app.add_handler(handler, group=group)
    app.add_error_handler(on_error)
    return app


def webhook_secret(keys: KeyRing, settings: Settings) -> str:
    """The secret Telegram sends back in a header; stable across restarts."""
    if settings.webhook_secret:
        return settings.webhook_secret
    return hashlib.sha256(b"govbot-webhook" + keys.current).hexdigest()


async def register_commands(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """setMyCommands in each language (the default scope shows Chinese)."""
    for code, locale in (("zh", "zh_CN"), ("en", "en"), (None, "zh_CN")):
        tr = translator(locale)
        commands = [BotCommand(name, tr.gettext(desc)) for name, desc in COMMANDS]
        await app.bot.set_my_commands(commands, scope=BotCommandScopeDefault(), language_code=code)


@dataclass
class BotRunner:
    """Starts and stops everything the bot process runs."""

    settings: Settings
    clock: Clock = system_clock
    webhook_url: str | None = None
    listen: tuple[str, int] | None = None
    db: Database | None = None
    services: Services | None = None
    app: Application[Any, Any, Any, Any, Any, Any] | None = None
    sender: OutboxSender | None = None
    dispatcher: Dispatcher | None = None
    _receiver: PollingReceiver | None = None
    _webhook: WebhookServer | None = None
    _stopped: asyncio.Event = field(default_factory=asyncio.Event)
    _faq_warm: asyncio.Task[None] | None = None
    _guard_check_at: float = 0.0
    webhook_port: int | None = None
    # Benchmarks lift Telegram's limits to measure the update path itself.
    sender_limits: Limits | None = None
    # The service process (govbot run) freezes its warmed-up heap; see _warm_faq.
    freeze_heap: bool = False

    async def start(self) -> None:
        """Open the database, check its schema, build the app and start every loop."""
        keys = open_keys(self.settings)
        self.db = open_database(self.settings)
        await check_schema(self.db)
        rt = Runtime(self.db, keys, self.clock)
        self.services = build_services(self.settings, rt)
        self.app = build_application(self.settings, self.services)
        await self.app.initialize()
        await register_commands(self.app)
        if self.db.dialect == "sqlite":
            # One process owns a SQLite database: leases left by a killed run are ours.
            await self.services.inbox.release_leases()
        self.sender = OutboxSender(self.app.bot, self.services.delivery, limits=self.sender_limits)
        await self.sender.start()
        self.dispatcher = Dispatcher(self.app, self.services.inbox, after_update=self.sender.kick)
        await self.services.due.ensure_maintenance()
        await self.services.approvals.catalog.ensure_shipped()
        await self.services.calendar.calendar()  # seeds a fresh database, warms the cache
        await self.services.faq_digest.ensure_schedule()
        await self.services.support_summary.ensure_schedule()
        self.services.outage_guard.attach(self._pulse)
        await self.services.outage_guard.ensure_schedule()
        # The FAQ index loads (or builds) in the background; the first question waits for it.
        self._faq_warm = asyncio.create_task(self._warm_faq())
        if self.app.job_queue is not None:
            self.app.job_queue.run_repeating(
                self._due_tick,
                interval=self.settings.due_tick_s,
                first=min(1.0, self.settings.due_tick_s),
            )
        await self.app.start()
        await self.dispatcher.start()
        if self.webhook_url:
            secret = webhook_secret(keys, self.settings)
            host, port = self.listen or ("127.0.0.1", 8080)
            path = "/telegram/" + hashlib.sha256(secret.encode()).hexdigest()[:16]
            self._webhook = WebhookServer(
                self.services.inbox,
                secret=secret,
                path=path,
                on_stored=self.dispatcher.kick,
                health=self.health,
            )
            self.webhook_port = await self._webhook.start(host, port)
            await self.app.bot.set_webhook(
                self.webhook_url.rstrip("/") + path,
                secret_token=secret,
                allowed_updates=ALLOWED_UPDATES,
            )
        else:
            self._receiver = PollingReceiver(
                self.app.bot, self.services.inbox, on_stored=self.dispatcher.kick
            )
            await self._receiver.start()
        logger.info(
            "bot @%s running (%s)",
            self.app.bot.username,
            "webhook" if self.webhook_url else "polling",
        )

    async def _warm_faq(self) -> None:
        assert self.services is not None
        try:
            await self.services.faq.live.refresh()
        except Exception:  # the next question tries again
            logger.exception("could not build the FAQ index")
        if self.freeze_heap:
            # What start-up built (the FAQ index, the segmenter's dictionary, the catalogs:
            # some 230,000 objects) lives as long as the process. Left to the collector,
            # each full collection walked all of it, 130-190 ms in which nothing else ran
            # (the slowest replies during a broadcast); frozen, it is skipped.
            gc.collect()
            gc.freeze()
            logger.info("start-up heap frozen (%d objects)", gc.get_freeze_count())

    async def _pulse(self) -> Pulse:
        """Telegram's side of the update stream, for the outage guard."""
        assert self.app is not None
        info = await self.app.bot.get_webhook_info()
        return Pulse(info.pending_update_count, info.last_error_message)

    async def _due_tick(self, _context: Any) -> None:
        assert self.services is not None
        try:
            if await self.services.due.tick():
                assert self.sender is not None
                self.sender.kick()
            if time.monotonic() >= self._guard_check_at:
                # A heartbeat that failed past its retries (the database down for long)
                # ends its chain: start it again once the database answers.
                self._guard_check_at = time.monotonic() + GUARD_CHECK_S
                await self.services.outage_guard.ensure_schedule()
        except Exception:
            logger.exception("due-item tick failed")

    async def health(self) -> dict[str, Any]:
        """Database reachable, and the inbox/outbox backlog (for /healthz)."""
        assert self.db is not None and self.services is not None
        await self.db.ping()
        return {
            "ok": True,
            "inbox": await self.services.inbox.stats(),
            "outbox": await self.services.delivery.stats(),
        }

    async def wait(self) -> None:
        """Until stop() is called or polling ends with a fatal error."""
        waiters = [asyncio.create_task(self._stopped.wait())]
        if self._receiver is not None and self._receiver.task is not None:
            waiters.append(self._receiver.task)  # type: ignore[arg-type]
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            # A receiver cancelled by stop() is the normal end, not an error.
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def stop(self) -> None:
        """Stop receiving, finish handlers, flush what can be sent, close everything."""
        self._stopped.set()
        if self._receiver is not None:
            await self._receiver.stop()
        if self._webhook is not None:
            await self._webhook.stop()
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        if self._faq_warm is not None:
            # Let it finish its database work: a task cancelled inside a transaction would
            # leave SQLite's write lock to the next process. Only a long build is cut short.
            await asyncio.wait({self._faq_warm}, timeout=FAQ_WARM_GRACE_S)
            self._faq_warm.cancel()
            with contextlib.suppress(BaseException):
                await self._faq_warm
        if self.services is not None:
            self.services.faq.live.close()
        if self.sender is not None:
            await self.sender.stop()
        if self.app is not None:
            with contextlib.suppress(Exception):
                if self.app.running:
                    await self.app.stop()
                await self.app.shutdown()
        if self.db is not None:
            await self.db.dispose()
