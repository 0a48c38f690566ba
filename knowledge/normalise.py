"""One canonical spelling of a text before anything is matched against it.

Staff type the same question in full-width or half-width characters, in Traditional or
Simplified Chinese, in upper or lower case and with any punctuation; entries are written the
same varied way. Both sides go through :func:`normalise`, so none of that can make two texts
differ. It is deterministic and cheap (the OpenCC converter is built once).
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import Protocol


class _Converter(Protocol):
    def convert(self, text: str) -> str: ...


@cache
def _t2s() -> _Converter:
    import opencc  # imported here: the converter loads its dictionaries on first use

    converter: _Converter = opencc.OpenCC("t2s")
    return converter


# Characters kept inside a token: a decimal point or a colon between digits ("2.5", "8:30").
_KEEP_BETWEEN_DIGITS = re.compile(r"(?<=\d)[.:](?=\d)")
_SPACES = re.compile(r"\s+")
# An apostrophe inside an English word joins it ("what's" → "whats"), like a search engine does.
_APOSTROPHE = re.compile(r"(?<=[a-z])['’](?=[a-z])|(?<=[a-z]s)['’]")
_PLACEHOLDER = "\x00"


def _is_separator(char: str) -> bool:
    """Punctuation and symbols split tokens; letters, digits and marks do not."""
    category = unicodedata.category(char)
    return category[0] in "PSZC" and char != _PLACEHOLDER


def to_simplified(text: str) -> str:
    """Traditional → Simplified Chinese (characters and common phrases), via OpenCC t2s."""
    return _t2s().convert(text)


def normalise(text: str) -> str:
    """NFKC (full-width → half-width), Traditional → Simplified, case-folded, one space apart."""
    text = unicodedata.normalize("NFKC", text)
    text = to_simplified(text).casefold()
    text = _APOSTROPHE.sub("", text)
    text = _KEEP_BETWEEN_DIGITS.sub(_PLACEHOLDER, text)
    out = [" " if _is_separator(char) else char for char in text]
    text = "".join(out).replace(_PLACEHOLDER, ".")
    return _SPACES.sub(" ", text).strip()


def is_cjk(char: str) -> bool:
    """True for a CJK unified ideograph (the basic block and extension A)."""
    code = ord(char)
    return 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF


def has_cjk(text: str) -> bool:
    """True if the text has at least one Chinese character."""
    return any(is_cjk(char) for char in text)


def cjk_share(text: str) -> float:
    """Fraction of the text's letters (CJK or Latin) that are Chinese characters."""
    cjk = sum(1 for char in text if is_cjk(char))
    latin = sum(1 for char in text if char.isascii() and char.isalpha())
    return cjk / (cjk + latin) if cjk + latin else 0.0
