"""Settings, the secret key file, and the encryption of columns."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bot.config import ConfigError, ensure_secret_key, load_settings
from storage.crypto import DecryptionError, KeyRing


def test_environment_overrides_toml(tmp_path: Path) -> None:
    toml = tmp_path / "govbot.toml"
    toml.write_text('token = "1:from-file"\ndefault_locale = "en"\ninvite_ttl_hours = 24\n')
    settings = load_settings({"TELEGRAM_BOT_TOKEN": "2:from-env"}, toml)
    assert settings.token == "2:from-env"
    assert settings.default_locale == "en" and settings.invite_ttl_hours == 24
    assert settings.api_base_url == "https://api.telegram.org/bot"
    assert settings.effective_file_base_url == "https://api.telegram.org/file/bot"
    assert settings.effective_database_url.startswith("sqlite+aiosqlite:///")


def test_problems_are_one_line_each(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "TELEGRAM_API_BASE_URL": "ftp://x",
            "GOVBOT_TIMEZONE": "Mars/Base",
            "GOVBOT_DEFAULT_LOCALE": "fr",
        },
        tmp_path / "none.toml",
    )
    problems = settings.problems(need_token=True)
    assert len(problems) == 4 and all("\n" not in p for p in problems)
    assert any("TELEGRAM_BOT_TOKEN" in p for p in problems)
    with pytest.raises(ConfigError):
        load_settings({"GOVBOT_INVITE_TTL_HOURS": "soon"}, tmp_path / "none.toml")


def test_support_sla_settings_are_read_and_checked(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "GOVBOT_SUPPORT_SLA": "urgent=10m/30m/2h",
            "GOVBOT_SUPPORT_OFFICE_HOURS": "Expenses, documents",
            "GOVBOT_SUPPORT_ESCALATE_MINUTES": "2",
        },
        tmp_path / "none.toml",
    )
    policy = settings.sla_policy
    assert policy.targets["urgent"].update.total_seconds() == 1800
    assert policy.office_categories == {"expenses", "documents"}
    assert settings.support_escalate_minutes == 2 and not settings.problems(need_token=False)
    bad = settings.with_overrides(support_sla="vip=1m/1m/1m", support_escalate_minutes=0)
    problems = bad.problems(need_token=False)
    assert any(p.startswith("GOVBOT_SUPPORT_SLA: unknown priority") for p in problems)
    assert any("GOVBOT_SUPPORT_ESCALATE_MINUTES" in p for p in problems)


@pytest.mark.parametrize(
    ("var", "text", "message"),
    [
        ("GOVBOT_INBOX_LEASE_S", "soon", "inbox_lease_s must be a number of seconds"),
        ("GOVBOT_FAQ_ANSWER", "high", "faq_answer must be a number between 0 and 1"),
        ("GOVBOT_DESK_CHAT_ID", "desk", "desk_chat_id must be a Telegram chat id"),
        ("GOVBOT_FAQ_DIGEST_DAYS", "1.5", "faq_digest_days must be a whole number of days"),
    ],
)
def test_numbers_that_are_not_numbers_are_named(
    tmp_path: Path, var: str, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({var: text}, tmp_path / "none.toml")
    good = {
        "GOVBOT_INBOX_LEASE_S": "2.5",
        "GOVBOT_DESK_CHAT_ID": "-1001",
        "GOVBOT_FAQ_DIGEST_DAYS": "7",
    }
    settings = load_settings(good, tmp_path / "none.toml")
    assert (settings.inbox_lease_s, settings.desk_chat_id, settings.faq_digest_days) == (
        2.5,
        -1001,
        7,
    )


def test_secret_key_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    settings = load_settings({"GOVBOT_DATA_DIR": str(tmp_path / "d")}, tmp_path / "none.toml")
    first = ensure_secret_key(settings)
    mode = stat.S_IMODE(os.stat(tmp_path / "d" / "secret.key").st_mode)
    assert len(first) == 32 and mode == 0o600
    assert ensure_secret_key(settings) == first
    bad = load_settings({"GOVBOT_SECRET_KEY": "abc"}, tmp_path / "none.toml")
    with pytest.raises(ConfigError):
        ensure_secret_key(bad)


def test_encryption_round_trip_tamper_and_rotation() -> None:
    old, new = os.urandom(32), os.urandom(32)
    ring = KeyRing(old)
    blob = ring.encrypt("张三的消息".encode(), purpose="inbox")
    assert "张三".encode() not in blob
    assert ring.decrypt(blob, purpose="inbox").decode() == "张三的消息"
    with pytest.raises(DecryptionError):  # a key per purpose: a column key is not another's
        ring.decrypt(blob, purpose="outbox")
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(DecryptionError):
        ring.decrypt(tampered, purpose="inbox")
    rotated = KeyRing(new, previous=(old,))
    assert rotated.decrypt(blob, purpose="inbox").decode() == "张三的消息"
    with pytest.raises(DecryptionError):
        KeyRing(new).decrypt(blob, purpose="inbox")
    assert ring.mac(b"x") != KeyRing(new).mac(b"x")
