"""Synonym groups that rewrite every variant of a term to one canonical form.

Lexical matching only sees shared tokens, so "报账" must meet "报销", "U盾" must meet "U-Key" and
an English "password" must meet a Chinese "密码". Both queries and entries are rewritten with the
same :class:`Glossary` before they are segmented. A default glossary of office and IT vocabulary
ships in ``data/glossary.csv``; the engine takes any glossary object, so trainers' own groups
(stored by the product) can extend or replace it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from knowledge.normalise import is_cjk, normalise

# An English variant also matches its common inflections ("booking", "attachments", "locked").
_SUFFIXES = ("ing", "es", "ed", "s", "d")
_LATIN_SUFFIX = "(?:" + "|".join(_SUFFIXES) + ")?"


def _is_latin_edge(char: str) -> bool:
    return char.isascii() and char.isalnum()


@dataclass(frozen=True)
class Glossary:
    """Synonym groups, each a tuple whose first term is the canonical form (all normalised)."""

    groups: tuple[tuple[str, ...], ...]
    _lookup: dict[str, str] = field(init=False, repr=False, compare=False)
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lookup: dict[str, str] = {}
        for group in self.groups:
            for term in group:
                lookup[term] = group[0]  # a later group wins a term both claim
        object.__setattr__(self, "_lookup", lookup)
        object.__setattr__(self, "_pattern", _compile(lookup))

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[str]]) -> Glossary:
        """Build from rows of terms (canonical first); terms are normalised, blanks dropped."""
        groups: list[tuple[str, ...]] = []
        for row in rows:
            terms: list[str] = []
            for raw in row:
                term = normalise(raw)
                if term and term not in terms and _usable(term):
                    terms.append(term)
            if len(terms) >= 2 or (terms and len(row) == 1):
                groups.append(tuple(terms))
        return cls(tuple(groups))

    @classmethod
    def from_csv(cls, text: str) -> Glossary:
        """Parse the CSV format of ``data/glossary.csv`` (``#`` starts a comment line)."""
        lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
        return cls.from_rows(csv.reader(io.StringIO("\n".join(lines))))

    def extended(self, other: Glossary) -> Glossary:
        """This glossary with ``other``'s groups added; ``other`` wins a term both define."""
        return Glossary(self.groups + other.groups)

    def canonical(self, term: str) -> str | None:
        """The canonical form of a term, or None if no group has it."""
        return self._lookup.get(normalise(term))

    def terms(self) -> frozenset[str]:
        """Every term of every group (for the segmenter's dictionary)."""
        return frozenset(self._lookup)

    def apply(self, text: str) -> str:
        """Rewrite each variant in a normalised text to its canonical form, longest match first."""
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda match: self._replace(match, text), text)

    def _replace(self, match: re.Match[str], text: str) -> str:
        canonical = self._lookup[_term_of(match.group(0), self._lookup)]
        # Keep a Latin canonical form from fusing with Latin letters next to it ("u盾pin").
        start, end = match.span()
        before = text[start - 1] if start > 0 else " "
        after = text[end] if end < len(text) else " "
        left = " " if _is_latin_edge(before) and _is_latin_edge(canonical[0]) else ""
        right = " " if _is_latin_edge(after) and _is_latin_edge(canonical[-1]) else ""
        return f"{left}{canonical}{right}"


def _usable(term: str) -> bool:
    """A one-character Chinese term would match inside unrelated words, so it is not used."""
    return not (len(term) == 1 and is_cjk(term))


def _term_of(matched: str, lookup: dict[str, str]) -> str:
    """The glossary term a match stands for: itself, or itself less an inflection."""
    if matched in lookup:
        return matched
    for suffix in _SUFFIXES:
        if matched.endswith(suffix) and matched[: -len(suffix)] in lookup:
            return matched[: -len(suffix)]
    raise KeyError(matched)


def _compile(lookup: dict[str, str]) -> re.Pattern[str] | None:
    """One regex matching any term, built as a trie so matching costs O(text), not O(terms).

    A plain alternation of hundreds of terms makes ``re`` try every one at every position;
    nesting shared prefixes (报(?:销|账)) keeps it linear. Longer continuations come first and
    ending at a node last, so the longest term wins. A term starting with a Latin letter must
    start a word; one ending with a Latin letter must end one (an inflection may follow).
    """
    if not lookup:
        return None
    trie: dict[str, Any] = {}
    for term in lookup:
        node = trie
        for char in term:
            node = node.setdefault(char, {})
        node[""] = {}
    word_end = _LATIN_SUFFIX + r"(?![a-z0-9])"

    def render(node: dict[str, Any], char: str) -> str:
        options = [
            re.escape(next_char) + render(child, next_char)
            for next_char, child in sorted(node.items())
            if next_char
        ]
        if "" in node:
            options.append(word_end if _is_latin_edge(char) else "")
        if len(options) == 1:
            return options[0]
        return "(?:" + "|".join(options) + ")"

    starts = []
    for char, child in sorted(trie.items()):
        head = r"(?<![a-z0-9])" if _is_latin_edge(char) else ""
        starts.append(head + re.escape(char) + render(child, char))
    return re.compile("|".join(starts))


@cache
def default_glossary() -> Glossary:
    """The glossary shipped with the package."""
    text = resources.files("knowledge").joinpath("data/glossary.csv").read_text(encoding="utf-8")
    return Glossary.from_csv(text)
