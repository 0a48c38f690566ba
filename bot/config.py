"""Settings from environment variables and an optional ``govbot.toml``."""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.quiet import QuietHours, parse_quiet_hours
from bot.support.sla import Policy, parse_targets

DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_API_FILE_BASE_URL = "https://api.telegram.org/file/bot"
SECRET_KEY_FILE = "secret.key"
SUPPORTED_LOCALES = ("zh_CN", "en")

# Environment variable -> settings field. The toml file uses the field names.
_ENV = {
    "TELEGRAM_BOT_TOKEN": "token",
    "TELEGRAM_API_BASE_URL": "api_base_url",
    "TELEGRAM_API_FILE_BASE_URL": "api_file_base_url",
    "DATABASE_URL": "database_url",
    "GOVBOT_DATA_DIR": "data_dir",
    "GOVBOT_SECRET_KEY": "secret_key",
    "GOVBOT_DEFAULT_LOCALE": "default_locale",
    "GOVBOT_TIMEZONE": "timezone",
    "GOVBOT_WEBHOOK_SECRET": "webhook_secret",
    "GOVBOT_INVITE_TTL_HOURS": "invite_ttl_hours",
    "GOVBOT_BOT_USERNAME": "bot_username",
    "GOVBOT_INBOX_LEASE_S": "inbox_lease_s",
    "GOVBOT_DUE_TICK_S": "due_tick_s",
    "GOVBOT_FAQ_ANSWER": "faq_answer",
    "GOVBOT_FAQ_SUGGEST": "faq_suggest",
    "GOVBOT_FAQ_DIGEST_AT": "faq_digest_at",
    "GOVBOT_FAQ_DIGEST_DAYS": "faq_digest_days",
    "GOVBOT_FAQ_EMBEDDER": "faq_embedder",
    "GOVBOT_DESK_CHAT_ID": "desk_chat_id",
    "GOVBOT_SUPPORT_AUTOCLOSE_DAYS": "support_autoclose_days",
    "GOVBOT_SUPPORT_SLA": "support_sla",
    "GOVBOT_SUPPORT_OFFICE_HOURS": "support_office_hours",
    "GOVBOT_SUPPORT_ESCALATE_MINUTES": "support_escalate_minutes",
    "GOVBOT_DESK_SUMMARY_AT": "desk_summary_at",
    "GOVBOT_HEARTBEAT_S": "heartbeat_s",
    "GOVBOT_OUTAGE_AFTER_MINUTES": "outage_after_minutes",
    "GOVBOT_QUIET_HOURS": "quiet_hours",
    "GOVBOT_SURVEY_REMIND_DAYS": "survey_remind_days",
    "GOVBOT_ANNOUNCE_REMIND_HOURS": "announce_remind_hours",
}


# Settings read as text (environment) that are numbers: the conversion, and what to say when
# it fails ("<field> must be <this>").
_TYPED: dict[str, tuple[Callable[[Any], Any], str]] = {
    "inbox_lease_s": (float, "a number of seconds"),
    "due_tick_s": (float, "a number of seconds"),
    "faq_answer": (float, "a number between 0 and 1"),
    "faq_suggest": (float, "a number between 0 and 1"),
    "desk_chat_id": (int, "a Telegram chat id (a whole number)"),
    "faq_digest_days": (int, "a whole number of days"),
    "support_autoclose_days": (float, "a number of days"),
    "support_escalate_minutes": (float, "a number of minutes"),
    "heartbeat_s": (float, "a number of seconds"),
    "outage_after_minutes": (float, "a number of minutes"),
    "survey_remind_days": (float, "a number of days"),
    "announce_remind_hours": (float, "a number of hours"),
    "invite_ttl_hours": (int, "a whole number"),
}


def _clock_time(text: str) -> time:
    """ "HH:MM" as a time of day (ValueError if it is not one)."""
    hours, _, minutes = text.partition(":")
    if not (hours.isascii() and hours.isdigit() and minutes.isascii() and minutes.isdigit()):
        raise ValueError(text)
    return time(int(hours), int(minutes))


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line for an operator."""


@dataclass(frozen=True)
class Settings:
    """Everything the process needs to know about its environment."""

    token: str | None = None
    api_base_url: str = DEFAULT_API_BASE_URL
    api_file_base_url: str | None = None
    database_url: str | None = None
    data_dir: Path = Path("data")
    secret_key: str | None = None
    default_locale: str = "zh_CN"
    timezone: str = "Asia/Shanghai"
    webhook_secret: str | None = None
    invite_ttl_hours: int = 72
    bot_username: str | None = None
    # How long a claimed update stays reserved for its worker without a renewal: after a
    # crash, another (or the restarted) worker picks it up once the lease runs out.
    inbox_lease_s: float = 30.0
    # How often due items (reminders, deadlines, escalations, the nightly purge) are run.
    due_tick_s: float = 5.0
    # Knowledge-base confidence bands (0–1): answer at or above faq_answer, offer "did you
    # mean" from faq_suggest, else "I don't know". Chosen on the labelled dev set (`govbot faq
    # eval --calibrate` prints the best answer threshold for a deployment's own set).
    faq_answer: float = 0.60
    faq_suggest: float = 0.35
    # The trainers' digest of questions the knowledge base could not answer: sent each
    # working day at this local time (HH:MM), covering the questions of the last N days.
    faq_digest_at: str = "17:00"
    faq_digest_days: int = 14
    # A resolved ticket nobody comes back to closes by itself after this long (Zendesk: 4).
    support_autoclose_days: float = 3.0
    # SLA targets per priority, first response/update/resolution, over the defaults in
    # bot/support/sla.py: "urgent=15m/1h/4h; high=1h/4h/1d".
    support_sla: str = ""
    # Categories whose SLA clocks count office hours on the work calendar (comma-separated,
    # e.g. "expenses,documents"); every other category runs 7×24.
    support_office_hours: str = ""
    # An SLA breach pages the on-call level; without an acknowledgement this many minutes
    # later, the next level.
    support_escalate_minutes: float = 5.0
    # The desk's daily summary (tickets, SLA, CSAT, FAQ self-service) in every desk group, at
    # this local time (HH:MM) every day.
    desk_summary_at: str = "08:30"
    # The outage guard: a heartbeat this often pages the on-call person when, for this many
    # minutes, Telegram holds updates none of which come in, or updates taken in wait.
    heartbeat_s: float = 60.0
    outage_after_minutes: float = 5.0
    # Survey reminders: never in these local hours; every this many days after a survey opens
    # (and one a day before it closes), at most three.
    quiet_hours: str = "22:00-08:00"
    survey_remind_days: float = 3.0
    # Announcements that require 已阅: a reminder every this many hours after sending to those
    # who have not acknowledged (and one a day before the deadline), at most three.
    announce_remind_hours: float = 24.0
    # The sentence encoder behind semantic matching: "use" (the multilingual Universal
    # Sentence Encoder shipped in its wheel), "hash" (character n-grams; for tests only), or
    # "package.module:Class" for another local model behind knowledge.Embedder.
    faq_embedder: str = "use"
    # Where tickets opened from the FAQ are announced (the support desk group); without it,
    # every active support-role staff member gets them in a private chat.
    desk_chat_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'govbot.sqlite3').resolve()}"

    @property
    def effective_file_base_url(self) -> str:
        """The file download URL; derived from the API URL when not given."""
        if self.api_file_base_url:
            return self.api_file_base_url
        if self.api_base_url.rstrip("/").endswith("/bot"):
            return self.api_base_url.rstrip("/")[: -len("/bot")] + "/file/bot"
        return DEFAULT_API_FILE_BASE_URL

    @property
    def tz(self) -> ZoneInfo:
        """The configured time zone."""
        return ZoneInfo(self.timezone)

    @property
    def faq_digest_time(self) -> time:
        """When the trainers' digest goes out, local time (ValueError if malformed)."""
        return _clock_time(self.faq_digest_at)

    @property
    def desk_summary_time(self) -> time:
        """When the desk's daily summary goes out, local time (ValueError if malformed)."""
        return _clock_time(self.desk_summary_at)

    @property
    def quiet(self) -> QuietHours:
        """The quiet hours (ValueError if malformed)."""
        return parse_quiet_hours(self.quiet_hours)

    @property
    def sla_policy(self) -> Policy:
        """The support desk's SLA targets and office-hours categories (ValueError if
        malformed)."""
        offices = frozenset(
            c.strip().lower() for c in self.support_office_hours.split(",") if c.strip()
        )
        return Policy(targets=parse_targets(self.support_sla), office_categories=offices)

    def problems(self, *, need_token: bool) -> list[str]:
        """One line per problem found in these settings."""
        found: list[str] = []
        if need_token and not self.token:
            found.append("TELEGRAM_BOT_TOKEN is not set (get one from @BotFather)")
        if self.token and ":" not in self.token:
            found.append(
                "TELEGRAM_BOT_TOKEN does not look like a bot token (expected '<id>:<secret>')"
            )
        if not self.api_base_url.startswith(("http://", "https://")):
            found.append(
                "TELEGRAM_API_BASE_URL must start with http:// or https:// "
                f"(got {self.api_base_url!r})"
            )
        if self.default_locale not in SUPPORTED_LOCALES:
            found.append(
                f"default locale {self.default_locale!r} is not one of "
                f"{', '.join(SUPPORTED_LOCALES)}"
            )
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            found.append(f"time zone {self.timezone!r} is unknown")
        if self.inbox_lease_s < 1:
            found.append("GOVBOT_INBOX_LEASE_S must be at least 1 second")
        if not self.due_tick_s > 0:
            found.append("GOVBOT_DUE_TICK_S must be a positive number of seconds")
        if self.invite_ttl_hours <= 0:
            found.append("invite_ttl_hours must be a positive number of hours")
        if not 0 <= self.faq_suggest <= self.faq_answer <= 1:
            found.append("GOVBOT_FAQ_SUGGEST ≤ GOVBOT_FAQ_ANSWER must both lie in 0…1")
        try:
            self.faq_digest_time  # noqa: B018  (raises if malformed)
        except ValueError:
            found.append(f"GOVBOT_FAQ_DIGEST_AT must be HH:MM (got {self.faq_digest_at!r})")
        if self.faq_digest_days < 1:
            found.append("GOVBOT_FAQ_DIGEST_DAYS must be at least 1 day")
        if self.support_autoclose_days <= 0:
            found.append("GOVBOT_SUPPORT_AUTOCLOSE_DAYS must be a positive number of days")
        try:
            self.sla_policy  # noqa: B018  (raises if malformed)
        except ValueError as problem:
            found.append(f"GOVBOT_SUPPORT_SLA: {problem}")
        if self.support_escalate_minutes <= 0:
            found.append("GOVBOT_SUPPORT_ESCALATE_MINUTES must be a positive number of minutes")
        try:
            self.desk_summary_time  # noqa: B018  (raises if malformed)
        except ValueError:
            found.append(f"GOVBOT_DESK_SUMMARY_AT must be HH:MM (got {self.desk_summary_at!r})")
        if not self.heartbeat_s >= 1:
            found.append("GOVBOT_HEARTBEAT_S must be at least 1 second")
        if not self.outage_after_minutes > 0:
            found.append("GOVBOT_OUTAGE_AFTER_MINUTES must be a positive number of minutes")
        try:
            parse_quiet_hours(self.quiet_hours)
        except ValueError:
            found.append(f"GOVBOT_QUIET_HOURS must be HH:MM-HH:MM (got {self.quiet_hours!r})")
        if not self.survey_remind_days > 0:
            found.append("GOVBOT_SURVEY_REMIND_DAYS must be a positive number of days")
        if self.faq_embedder not in ("use", "hash") and ":" not in self.faq_embedder:
            found.append(
                "GOVBOT_FAQ_EMBEDDER must be use, hash or package.module:Class "
                f"(got {self.faq_embedder!r})"
            )
        return found

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields changed (used by tests and the demo)."""
        return replace(self, **changes)


def load_settings(
    environ: dict[str, str] | None = None, toml_path: Path | None = None
) -> Settings:
    """Read ``govbot.toml`` (if present), then let environment variables override it."""
    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    path = toml_path or Path(env.get("GOVBOT_CONFIG", "govbot.toml"))
    if path.is_file():
        try:
            with path.open("rb") as fh:
                loaded = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        known = set(Settings.__dataclass_fields__) - {"extra"}
        values.update({k: v for k, v in loaded.items() if k in known})
        values["extra"] = {k: v for k, v in loaded.items() if k not in known}
    for var, name in _ENV.items():
        if env.get(var):
            values[name] = env[var]
    if "data_dir" in values:
        values["data_dir"] = Path(values["data_dir"])
    for name, (convert, meaning) in _TYPED.items():
        if name in values:
            try:
                values[name] = convert(values[name])
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{name} must be {meaning}") from exc
    return Settings(**values)


def ensure_secret_key(settings: Settings) -> bytes:
    """The 32-byte master key: from the setting, else the key file, created (0600) if absent."""
    if settings.secret_key:
        return _decode_key(settings.secret_key, "GOVBOT_SECRET_KEY")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / SECRET_KEY_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    os.chmod(path, 0o600)
    return _decode_key(path.read_text().strip(), str(path))


def _decode_key(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text)
    except ValueError as exc:
        raise ConfigError(f"{where}: the secret key must be 64 hex characters") from exc
    if len(key) != 32:
        raise ConfigError(f"{where}: the secret key must be 64 hex characters (32 bytes)")
    return key
