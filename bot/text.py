"""Text helpers every layer may use, with no dependencies: marking translatable text, and
cleaning what people paste.

Pure domain modules (stdlib only) mark their messages with ``N_``; ``bot/i18n.py`` re-exports
it for everyone else, and ``scripts/update_catalogs.py`` extracts every ``N_("...")``.
"""

import unicodedata


def N_(message: str) -> str:
    """Mark a module-level string for extraction; translate it later with ``tr.gettext``."""
    return message


def clean(value: str) -> str:
    """NFKC (full-width digits and letters to ASCII), no invisible marks, trimmed."""
    if value.isascii() and value.isprintable():  # most cells; NFKC would change nothing
        return value.strip()
    chars = []
    for ch in unicodedata.normalize("NFKC", value):
        category = unicodedata.category(ch)
        if category == "Cf":  # zero-width spaces and stray BOMs pasted from web pages
            continue
        chars.append(" " if category == "Cc" else ch)  # Alt+Enter line breaks inside a cell
    return "".join(chars).strip()
