"""Extract every translatable string and merge it into locales/*/LC_MESSAGES/messages.po.

Run after changing user-visible text: ``python scripts/update_catalogs.py``. New msgids
arrive untranslated (empty msgstr) in zh_CN; tests/unit/test_catalogs.py fails until they are
translated. The English catalog is the source text itself, so it is filled automatically.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "locales"
SOURCES = ("bot", "handlers", "knowledge")
KEYWORDS = {"N_": None, "gettext": None, "ngettext": (1, 2)}


def extract() -> Catalog:
    """A template catalog of every msgid in the sources."""
    template = Catalog(project="GovOffice Assistant", version="0.1", fuzzy=False)
    for source in SOURCES:
        for filename, lineno, message, comments, context in extract_from_dir(
            ROOT / source,
            method_map=[("**.py", "python")],
            keywords=KEYWORDS,
            comment_tags=("TRANSLATORS:",),
            strip_comment_tags=True,
        ):
            template.add(
                message,
                None,
                [(f"{source}/{filename}", lineno)],
                auto_comments=comments,
                context=context,
            )
    return template


def merge(template: Catalog, locale: str) -> Catalog:
    """The locale's catalog updated to the template (obsolete entries dropped)."""
    path = LOCALES / locale / "LC_MESSAGES" / "messages.po"
    if path.exists():
        with path.open("rb") as fh:
            catalog = read_po(fh, locale=locale)
    else:
        catalog = Catalog(locale=locale, project="GovOffice Assistant", version="0.1")
    catalog.update(template, no_fuzzy_matching=True)
    catalog.obsolete.clear()
    if locale == "en":
        for message in catalog:
            if message.id and not translated(message.string):
                message.string = message.id
    return catalog


def translated(string: str | tuple[str, ...] | list[str] | None) -> bool:
    """A msgstr (or every plural form of it) is filled in."""
    if isinstance(string, (tuple, list)):
        return bool(string) and all(string)
    return bool(string)


def main() -> int:
    template = extract()
    for locale in ("zh_CN", "en"):
        catalog = merge(template, locale)
        path = LOCALES / locale / "LC_MESSAGES" / "messages.po"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            write_po(fh, catalog, width=99, sort_output=False, include_previous=False)
        missing = [m.id for m in catalog if m.id and not translated(m.string)]
        print(f"{locale}: {len(catalog)} messages, {len(missing)} untranslated")
    with (LOCALES / "messages.pot").open("wb") as fh:
        write_po(fh, template, width=99)
    return 0


if __name__ == "__main__":
    sys.exit(main())
