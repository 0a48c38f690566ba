"""Every extracted message is translated in zh_CN and en, with the same placeholders."""

from __future__ import annotations

import importlib.util
import re
import string
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.i18n import SUPPORTED, translator

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "update_catalogs", ROOT / "scripts" / "update_catalogs.py"
)
assert _spec is not None and _spec.loader is not None
catalogs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(catalogs)


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _load(locale: str):  # type: ignore[no-untyped-def]
    with (ROOT / "locales" / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=locale)


TEMPLATE = catalogs.extract()


@pytest.mark.parametrize("locale", SUPPORTED)
def test_every_extracted_message_is_translated(locale: str) -> None:
    catalog = _load(locale)
    missing = []
    for message in TEMPLATE:
        if not message.id:
            continue
        found = catalog.get(message.id)
        if found is None or not catalogs.translated(found.string):
            missing.append(message.id)
    assert missing == [], f"{locale}: {len(missing)} untranslated, run scripts/update_catalogs.py"


@pytest.mark.parametrize("locale", SUPPORTED)
def test_translations_keep_the_placeholders(locale: str) -> None:
    for message in _load(locale):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set().union(*(_fields(i) for i in ids))
        for text in strings:
            assert _fields(text) <= wanted | {"n"}, (message.id, text)
            assert _fields(text) >= _fields(ids[0]) - {"n"}, (message.id, text)


def test_html_in_translations_is_balanced() -> None:
    tag = re.compile(r"</?(b|i|u|s|code|pre)>")
    for message in _load("zh_CN"):
        if not message.id or isinstance(message.id, tuple):
            continue
        assert tag.findall(message.id) == tag.findall(message.string), message.id


def test_translator_refuses_unknown_locales_and_formats_money() -> None:
    with pytest.raises(LookupError):
        translator("fr")
    assert translator("zh_CN").money(1234.5) == "¥1,234.50"
    assert translator("en").money(1234.5) == "CN¥1,234.50"
