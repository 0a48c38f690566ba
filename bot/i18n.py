"""The one translation layer: gettext catalogs via babel, plus locale-aware formatting.

Catalogs are the ``.po`` files under ``locales/``; they are compiled in memory on first use,
so a plain install (or a checkout) needs no build step, and a missing translation can never
silently fall back to the msgid for a locale we claim to support.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import Translations

from bot.text import N_

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"
SUPPORTED = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
__all__ = ["DEFAULT_LOCALE", "N_", "SUPPORTED", "Translator", "negotiate", "translator"]


def negotiate(candidate: str | None, default: str = DEFAULT_LOCALE) -> str:
    """Map a stored preference or Telegram's ``language_code`` (``en-US``, ``zh-hans``) to ours."""
    if not candidate:
        return default
    code = candidate.replace("-", "_").lower()
    if code.startswith("zh"):
        return "zh_CN"
    if code.startswith("en"):
        return "en"
    return default


@dataclass(frozen=True)
class Translator:
    """A locale and its catalog; every user-visible string passes through one of these."""

    locale: str
    catalog: Translations
    tz: ZoneInfo

    def gettext(self, message: str, **values: Any) -> str:
        """Translate a whole sentence, then fill its named placeholders."""
        text = self.catalog.gettext(message)
        return text.format(**values) if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        """Translate with a plural form chosen by ``n`` (``{n}`` is filled too)."""
        text = self.catalog.ngettext(singular, plural, n)
        return text.format(n=n, **values)

    @property
    def babel_locale(self) -> Locale:
        return Locale.parse(self.locale)

    def money(self, amount: Decimal | int | float) -> str:
        """An amount in CNY as this locale writes it (¥1,234.50 / CN¥1,234.50)."""
        return format_currency(amount, "CNY", locale=self.locale)

    def number(self, value: Decimal | int | float) -> str:
        return format_decimal(value, locale=self.locale)

    def when(self, moment: datetime, fmt: str = "medium") -> str:
        """A UTC datetime shown in the configured time zone."""
        return format_datetime(moment.astimezone(self.tz), format=fmt, locale=self.locale)

    def duration(self, value: timedelta) -> str:
        """A length of time as this locale says it, in the largest unit it fills twice
        ("90 minutes", "2小时")."""
        return format_timedelta(value, threshold=2.0, locale=self.locale)

    def day(self, value: date | datetime, fmt: str = "long") -> str:
        if isinstance(value, datetime):
            value = value.astimezone(self.tz).date()
        return format_date(value, format=fmt, locale=self.locale)


@cache
def _catalog(locale: str) -> Translations:
    po_path = LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po_path.is_file():
        raise LookupError(f"no catalog for {locale}: {po_path} is missing")
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=locale, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


@cache
def translator(locale: str, timezone: str = "Asia/Shanghai") -> Translator:
    """The translator for a supported locale; raises LookupError for any other."""
    if locale not in SUPPORTED:
        raise LookupError(f"unsupported locale {locale!r}")
    return Translator(locale, _catalog(locale), ZoneInfo(timezone))
