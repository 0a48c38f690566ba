"""发文字号 (document numbers): ``{机关代字}〔{YYYY}〕{n}号``, formatted and parsed; pure."""

from __future__ import annotations

import re

MAX_PREFIX = 20
OPEN, CLOSE, SUFFIX = "〔", "〕", "号"

# What people type instead of 〔〕: ASCII [] and (), full-width （）, and 【】.
_BRACKETS = "〔〕[]()（）【】"
_OPENERS = "〔[(（【"
_CLOSERS = "〕])）】"
_PARSE = re.compile(
    rf"(?P<prefix>[^{re.escape(_BRACKETS)}]+?)"
    rf"[{re.escape(_OPENERS)}](?P<year>[0-9]{{4}})[{re.escape(_CLOSERS)}]"
    rf"(?P<n>[0-9]+){SUFFIX}"
)


def _check_prefix(prefix: str) -> None:
    if not prefix or prefix != prefix.strip():
        raise ValueError("机关代字 must be non-empty, without surrounding spaces")
    if len(prefix) > MAX_PREFIX:
        raise ValueError(f"机关代字 is longer than {MAX_PREFIX} characters")
    if any(ch in _BRACKETS for ch in prefix):
        raise ValueError("机关代字 must not contain brackets")
    if prefix.isdigit():
        raise ValueError("机关代字 must not be digits only")


def _check_year(year: int) -> None:
    if not 1000 <= year <= 9999:
        raise ValueError("year must have four digits")


def format_doc_number(prefix: str, year: int, n: int) -> str:
    """``市政办〔2026〕7号``: no leading zeros; ValueError for a bad prefix, year or n."""
    _check_prefix(prefix)
    _check_year(year)
    if n < 1:
        raise ValueError("the sequence number starts at 1")
    return f"{prefix}{OPEN}{year}{CLOSE}{n}{SUFFIX}"


def parse_doc_number(text: str) -> tuple[str, int, int]:
    """``(prefix, year, n)``; also reads [] () （） 【】 as 〔〕; ValueError if malformed."""
    match = _PARSE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a document number: {text!r}")
    prefix, year_text, n_text = match.group("prefix"), match.group("year"), match.group("n")
    if n_text.startswith("0"):
        raise ValueError(f"a document number has no leading zeros: {text!r}")
    year, n = int(year_text), int(n_text)
    _check_prefix(prefix)
    _check_year(year)
    return prefix, year, n
