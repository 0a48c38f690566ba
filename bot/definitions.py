"""Definitions written in YAML (approval templates, surveys, quizzes): the composed-node reader
that turns them into values with every error naming its file and line, and ``Text``, a label in
both languages. Pure: no I/O but what the caller reads.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import NoReturn, TypeVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")

STR = "tag:yaml.org,2002:str"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
BOOL = "tag:yaml.org,2002:bool"
_TRUE = frozenset({"yes", "true", "on"})

_E = TypeVar("_E", bound=StrEnum)


@dataclass(frozen=True)
class Text:
    """A label in each supported language (zh_CN required, en required)."""

    zh_CN: str
    en: str

    def get(self, locale: str) -> str:
        """The label in ``locale`` (anything but en is shown in Chinese)."""
        return self.en if locale == "en" else self.zh_CN


class DefinitionError(Exception):
    """A definition that cannot be used: where (``source``, 1-based ``line`` or None) and why."""

    def __init__(self, source: str, line: int | None, reason: str) -> None:
        super().__init__(source, line, reason)
        self.source = source
        self.line = line
        self.reason = reason

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.reason}"


def node_line(node: Node | None) -> int | None:
    """The 1-based line a node starts on."""
    if node is None or node.start_mark is None:
        return None
    return node.start_mark.line + 1


def capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def shown(values: Collection[str]) -> str:
    return ", ".join(sorted(values))


def compose(text: str, source: str, error: type[DefinitionError] = DefinitionError) -> Node:
    """The YAML text's root node; ``error`` (with the line) if it is not YAML or is empty."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as problem:
        mark = problem.problem_mark or problem.context_mark
        line = mark.line + 1 if mark is not None else None
        why = "; ".join(p for p in (problem.context, problem.problem) if p) or "unreadable"
        raise error(source, line, f"This is not valid YAML: {why}.") from None
    except ReaderError as problem:
        line = text.count("\n", 0, int(problem.position)) + 1
        raise error(
            source, line, f"The file contains a character YAML does not allow: {problem.reason}."
        ) from None
    except yaml.YAMLError as problem:
        raise error(source, None, f"This is not valid YAML: {problem}") from None
    if root is None:
        raise error(source, None, "The file is empty.")
    return root


class NodeReader:
    """Typed access to composed YAML nodes; every failure names the node's line.

    ``error`` is the exception raised (a subclass of DefinitionError, per kind of file)."""

    error: type[DefinitionError] = DefinitionError

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, node: Node | None, reason: str) -> NoReturn:
        raise self.error(self.source, node_line(node), reason)

    def mapping(
        self,
        node: Node,
        what: str,
        *,
        allowed: Collection[str],
        required: Collection[str] = (),
    ) -> dict[str, tuple[Node, Node]]:
        """The entries of a mapping node by key: (key node, value node)."""
        if not isinstance(node, MappingNode):
            self.fail(node, f"{capital(what)} must be a mapping of “key: value” lines.")
        entries: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag != STR:
                self.fail(key_node, f"The keys of {what} must be plain words.")
            key = key_node.value
            if key in entries:
                self.fail(key_node, f"“{key}” appears twice in {what}.")
            if key not in allowed:
                self.fail(key_node, f"Unknown key “{key}” in {what}; allowed: {shown(allowed)}.")
            entries[key] = (key_node, value_node)
        for key in required:
            if key not in entries:
                self.fail(node, f"“{key}” is missing from {what}.")
        return entries

    def sequence(self, node: Node, what: str, *, empty_ok: bool = False) -> list[Node]:
        if not isinstance(node, SequenceNode):
            self.fail(node, f"{what} must be a list.")
        items: list[Node] = list(node.value)
        if not items and not empty_ok:
            self.fail(node, f"{what} must not be empty.")
        return items

    def text(self, node: Node, what: str) -> str:
        if not isinstance(node, ScalarNode) or node.tag != STR:
            self.fail(node, f"{what} must be text (quote it if it looks like a number or yes/no).")
        value: str = node.value
        if not value.strip():
            self.fail(node, f"{what} must not be empty.")
        return value

    def key(self, node: Node, what: str) -> str:
        value = self.text(node, what)
        if not KEY.fullmatch(value):
            self.fail(
                node,
                f"{what} “{value}” must be lowercase letters, digits and underscores, starting "
                "with a letter (at most 40 characters).",
            )
        return value

    def code(self, node: Node, what: str) -> str:
        """An employee number: text or digits, exactly as written (YAML would read 007 as 7)."""
        if not isinstance(node, ScalarNode) or node.tag not in (STR, INT):
            self.fail(node, f"{what} must be an employee number.")
        value: str = node.value.strip()
        if not value or any(ch.isspace() for ch in value):
            self.fail(node, f"{what} must be an employee number without spaces.")
        return value

    def boolean(self, node: Node, what: str) -> bool:
        if not isinstance(node, ScalarNode) or node.tag != BOOL:
            self.fail(node, f"{what} must be true or false.")
        return str(node.value).lower() in _TRUE

    def integer(self, node: Node, what: str, *, minimum: int) -> int:
        if not isinstance(node, ScalarNode) or node.tag != INT:
            self.fail(node, f"{what} must be a whole number.")
        try:
            value = int(str(node.value).replace("_", ""), 10)
        except ValueError:
            self.fail(node, f"{what} must be a whole number written in decimal digits.")
        if value < minimum:
            self.fail(node, f"{what} must be at least {minimum}.")
        return value

    def decimal(self, node: Node, what: str) -> Decimal:
        if not isinstance(node, ScalarNode) or node.tag not in (INT, FLOAT):
            self.fail(node, f"{what} must be a number.")
        try:
            value = Decimal(str(node.value).replace("_", ""))  # the text: 0.01 is not a float
        except InvalidOperation:
            value = Decimal("NaN")
        if not value.is_finite():
            self.fail(node, f"{what} must be a number written in decimal digits.")
        return value

    def label(self, node: Node, what: str) -> Text:
        if not isinstance(node, MappingNode):
            self.fail(node, f"The label of {what} must be {{zh_CN: ..., en: ...}}.")
        entries = self.mapping(node, f"the label of {what}", allowed=("zh_CN", "en"))
        for locale in ("zh_CN", "en"):
            if locale not in entries:
                self.fail(node, f"{what} has no {locale} label; write {{zh_CN: ..., en: ...}}.")
        return Text(
            zh_CN=self.text(entries["zh_CN"][1], f"The zh_CN label of {what}"),
            en=self.text(entries["en"][1], f"The en label of {what}"),
        )

    def choice(self, node: Node, what: str, enum: type[_E]) -> _E:
        value = self.text(node, what)
        try:
            return enum(value)
        except ValueError:
            allowed = [member.value for member in enum]
            self.fail(node, f"Unknown {what} “{value}”; use one of: {', '.join(allowed)}.")
