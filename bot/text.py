"""Marking translatable text without importing the translation machinery.

Pure domain modules (stdlib only) mark their messages with ``N_``; ``bot/i18n.py`` re-exports
it for everyone else, and ``scripts/update_catalogs.py`` extracts every ``N_("...")``.
"""


def N_(message: str) -> str:
    """Mark a module-level string for extraction; translate it later with ``tr.gettext``."""
    return message
