"""Route conditions (``amount > 5000``, ``doc_kind in [request, report]``); pure.

A condition is ``FIELD OP VALUE`` and nothing more: a hand-written scanner reads it, so no text
from a template ever reaches ``eval``. ``parse_condition`` checks the syntax; ``check`` checks it
against a template's fields (templates.py reports both with the YAML line); ``evaluate`` decides
it for a form's stored values and never raises. Pure.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.approvals.model import CONDITION_OPS, Condition, FieldType, FormField, Template

# The pseudo-field a condition may test: the direction (上行/下行/平行) of the 文种 chosen in
# ``template.direction_field``.
DIRECTION = "direction"
DIRECTIONS = ("up", "down", "across")

MAX_CONDITION = 500  # a condition longer than this is a mistake, not a rule

ORDERING_OPS = frozenset({"<", "<=", ">", ">="})
EQUALITY_OPS = frozenset({"==", "!="})
LIST_OPS = frozenset({"in", "not in"})
assert set(CONDITION_OPS) == ORDERING_OPS | EQUALITY_OPS | LIST_OPS

_NUMERIC = frozenset({FieldType.NUMBER, FieldType.MONEY, FieldType.DATE_RANGE})
_SETS = frozenset({FieldType.CHOICE, FieldType.DEPARTMENTS})
_STRINGS = frozenset({FieldType.TEXT, FieldType.LONGTEXT, FieldType.PERSON})

# [0-9], not \d: Decimal() reads other scripts' digits too, and a rule should say what it means.
_HEAD = re.compile(
    r"\s*(?P<field>[A-Za-z_][A-Za-z0-9_]*)\s*"
    r"(?P<op><=|>=|==|!=|<|>|not\s+in(?![A-Za-z0-9_])|in(?![A-Za-z0-9_]))\s*"
)
_FIELD = re.compile(r"[a-z_][a-z0-9_]*")
_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_WORD = re.compile(r"[\w-]+")  # letters of any script (类别 names), digits, _ and -
_QUOTED = re.compile(r"\"([^\"]*)\"|'([^']*)'")


class ConditionError(ValueError):
    """An unusable condition; ``reason`` is an English sentence for the template author."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _scalar(text: str, pos: int) -> tuple[str, bool, int]:
    """The value at ``pos``: (its text, whether it was quoted, the position after it)."""
    quoted = _QUOTED.match(text, pos)
    if quoted is not None:
        return (
            quoted.group(1) if quoted.group(1) is not None else quoted.group(2),
            True,
            quoted.end(),
        )
    if pos < len(text) and text[pos] in "\"'":
        raise ConditionError("A quoted value is missing its closing quote.")
    word = _WORD.match(text, pos)
    if word is None:
        shown = text[pos : pos + 20] or "nothing"
        raise ConditionError(
            f"Expected a number, a word or a quoted value at “{shown}”; quote values that "
            "contain spaces or punctuation."
        )
    end = word.end()
    if end < len(text) and text[end] in ".(":
        # Lists of one word and one number read "5000.5" as a number before this point.
        raise ConditionError(
            "Attribute access and function calls are not allowed; a value is a number, "
            "a word or a quoted string."
        )
    return word.group(), False, end


def _skip_spaces(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _list(text: str, pos: int) -> tuple[tuple[str, ...], int]:
    """A ``[a, b, "c d"]`` list starting at ``pos`` (the ``[``): its items and the end."""
    items: list[str] = []
    pos = _skip_spaces(text, pos + 1)
    if pos < len(text) and text[pos] == "]":
        raise ConditionError("The list is empty; name at least one value.")
    while True:
        if pos >= len(text):
            raise ConditionError("The list is missing its closing “]”.")
        if text[pos] in "[]":
            raise ConditionError("Lists cannot be nested, and a list item cannot be empty.")
        if text[pos] == ",":
            raise ConditionError("A list item is empty (two commas in a row, or a leading comma).")
        number = _NUMBER.match(text, pos)
        if number is not None and not _WORD.match(text, number.end()):
            value, pos = number.group(), number.end()
        else:
            value, _, pos = _scalar(text, pos)
        items.append(value)
        pos = _skip_spaces(text, pos)
        if pos >= len(text):
            raise ConditionError("The list is missing its closing “]”.")
        if text[pos] == "]":
            return tuple(items), pos + 1
        if text[pos] != ",":
            raise ConditionError(f"Expected “,” or “]” in the list, found “{text[pos]}”.")
        pos = _skip_spaces(text, pos + 1)
        if pos < len(text) and text[pos] == "]":
            raise ConditionError("The list ends with a comma; remove it.")


def parse_condition(text: str) -> Condition:
    """``FIELD OP VALUE`` as a Condition; ConditionError if it is anything else."""
    source = text.strip()
    if not source:
        raise ConditionError("The condition is empty.")
    if len(source) > MAX_CONDITION:
        raise ConditionError(f"The condition is longer than {MAX_CONDITION} characters.")
    head = _HEAD.match(source)
    if head is None:
        first = re.match(r"\s*[A-Za-z_][A-Za-z0-9_]*\s*([.(\[])", source)
        if first is not None:
            raise ConditionError(
                "Attribute access, indexing and function calls are not allowed; write "
                "FIELD OP VALUE, for example “amount > 5000”."
            )
        raise ConditionError(
            "Write the condition as FIELD OP VALUE, for example “amount > 5000”; OP is one of "
            + ", ".join(CONDITION_OPS)
            + "."
        )
    field = head.group("field")
    if not _FIELD.fullmatch(field):
        raise ConditionError(
            f"“{field}” is not a field name: use lowercase letters, digits and underscores."
        )
    if field.startswith("__"):
        raise ConditionError(f"“{field}” is not a field name: it cannot start with “__”.")
    op = " ".join(head.group("op").split())  # "not   in" is "not in"
    pos = head.end()
    if pos >= len(source):
        raise ConditionError(f"The condition has no value after “{op}”.")

    value: Decimal | str | tuple[str, ...]
    if op in LIST_OPS:
        if source[pos] != "[":
            raise ConditionError(f"“{op}” needs a list, for example “doc_kind {op} [request]”.")
        value, pos = _list(source, pos)
    else:
        if source[pos] == "[":
            raise ConditionError(f"“{op}” compares with one value; use “in” for a list.")
        number = _NUMBER.match(source, pos)
        if number is not None and not _WORD.match(source, number.end()):
            value, pos = Decimal(number.group()), number.end()
            if pos < len(source) and source[pos] in ".(":
                raise ConditionError("A number cannot be followed by “.” or “(”.")
        else:
            value, _, pos = _scalar(source, pos)
    rest = source[pos:].strip()
    if rest:
        raise ConditionError(
            f"Unexpected text after the value: “{rest[:20]}”; a condition compares one field "
            "with one value (give several conditions as a list: all must hold)."
        )
    return Condition(field=field, op=op, value=value, source=source)


def _values(cond: Condition) -> tuple[str, ...]:
    if isinstance(cond.value, tuple):
        return cond.value
    if isinstance(cond.value, Decimal):
        return (format(cond.value, "f"),)  # str() would write 0.0000001 as 1E-7
    return (cond.value,)


def _is_number(text: str) -> bool:
    return _NUMBER.fullmatch(text) is not None


def _is_iso_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text) is not None


def check(cond: Condition, template: Template) -> None:
    """ConditionError unless ``cond`` can be decided for ``template``'s form."""
    if cond.field == DIRECTION:
        if template.direction_field is None:
            raise ConditionError(
                "“direction” can only be tested when the template names a direction_field."
            )
        if cond.op in ORDERING_OPS:
            raise ConditionError(f"“direction” is compared with ==, != or in, not “{cond.op}”.")
        bad = [v for v in _values(cond) if v not in DIRECTIONS]
        if bad:
            raise ConditionError(
                f"“{bad[0]}” is not a direction; use up (上行文), down (下行文) "
                "or across (平行文)."
            )
        return
    field = template.field(cond.field)
    if field is None:
        raise ConditionError(f"There is no field called “{cond.field}”.")
    kind = field.type
    if kind == FieldType.ATTACHMENT:
        raise ConditionError(f"“{cond.field}” is an attachment; conditions cannot test it.")
    if kind in _NUMERIC:
        if not all(_is_number(v) for v in _values(cond)):
            raise ConditionError(f"“{cond.field}” is a number, so compare it with numbers.")
        return
    if kind == FieldType.DATE:
        if not all(_is_iso_date(v) for v in _values(cond)):
            raise ConditionError(
                f"“{cond.field}” is a date, so compare it with dates written YYYY-MM-DD."
            )
        return
    if cond.op in ORDERING_OPS:
        raise ConditionError(
            f"“{cond.field}” is not a number or a date; compare it with ==, != or in."
        )
    if kind == FieldType.CHOICE:
        keys = {o.key for o in field.options}
        bad = [v for v in _values(cond) if v not in keys]
        if bad:
            raise ConditionError(
                f"“{bad[0]}” is not an option key of “{cond.field}” (options: "
                + ", ".join(o.key for o in field.options)
                + ")."
            )


def direction_of(template: Template, values: Mapping[str, object]) -> str | None:
    """The direction of the option chosen in ``template.direction_field``, if any."""
    if template.direction_field is None:
        return None
    field = template.field(template.direction_field)
    chosen = values.get(template.direction_field)
    if field is None or not isinstance(chosen, str):
        return None
    for option in field.options:
        if option.key == chosen:
            return option.direction
    return None


def _decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        return None
    try:
        number = Decimal(value) if isinstance(value, int | Decimal) else Decimal(value.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


_ORDER: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def _compare(op: str, left: Decimal | date, right: Decimal | date) -> bool:
    """``left op right`` for two values of one type (callers never mix a Decimal and a date)."""
    return bool(_ORDER[op](left, right))


def _one_of(op: str, actual: object, wanted: Iterable[object]) -> bool:
    hit = actual in set(wanted)
    if op in ("==", "in"):
        return hit
    return not hit  # "!=", "not in"


def _any_of(op: str, selected: set[str], wanted: tuple[str, ...]) -> bool:
    """Several selected (multiple choice, departments): == and in mean "any selected"."""
    hit = bool(selected & set(wanted))
    return hit if op in ("==", "in") else not hit


def _numeric(cond: Condition, actual: Decimal) -> bool:
    parsed = [_decimal(v) for v in _values(cond)]
    wanted = [w for w in parsed if w is not None]
    if len(wanted) != len(parsed):
        return False
    if cond.op in LIST_OPS:
        return _one_of(cond.op, actual, wanted)
    return _compare(cond.op, actual, wanted[0])


def _empty(value: object) -> bool:
    return value is None or value == "" or value == [] or value == ()


def _evaluate_field(cond: Condition, field: FormField, raw: object) -> bool:
    kind = field.type
    if kind in (FieldType.NUMBER, FieldType.MONEY):
        number = _decimal(raw)
        return number is not None and _numeric(cond, number)
    if kind == FieldType.DATE_RANGE:
        days = _decimal(raw.get("days")) if isinstance(raw, Mapping) else None
        return days is not None and _numeric(cond, days)
    if kind == FieldType.DATE:
        try:
            actual = date.fromisoformat(str(raw))
            wanted = [date.fromisoformat(v) for v in _values(cond)]
        except ValueError:
            return False
        if cond.op in LIST_OPS:
            return _one_of(cond.op, actual, wanted)
        return _compare(cond.op, actual, wanted[0])
    if cond.op in ORDERING_OPS:
        return False
    if kind in _SETS:
        if isinstance(raw, str):
            selected = {raw}
        elif isinstance(raw, list | tuple):
            selected = {str(item) for item in raw}
        else:
            return False
        return _any_of(cond.op, selected, _values(cond))
    if kind in _STRINGS and isinstance(raw, str):
        return _one_of(cond.op, raw, _values(cond))
    return False


def evaluate(cond: Condition, values: Mapping[str, object], template: Template) -> bool:
    """Does ``cond`` hold for these stored form values? A missing or empty value: False."""
    try:
        if cond.field == DIRECTION:
            direction = direction_of(template, values)
            if direction is None or cond.op in ORDERING_OPS:
                return False
            return _one_of(cond.op, direction, _values(cond))
        field = template.field(cond.field)
        raw = values.get(cond.field)
        if field is None or _empty(raw):
            return False
        return _evaluate_field(cond, field, raw)
    except (TypeError, ValueError, ArithmeticError):  # a stored value of the wrong shape
        return False


def evaluate_all(
    conditions: Iterable[Condition], values: Mapping[str, object], template: Template
) -> bool:
    """Do all of ``conditions`` hold (True for none, as for a node without ``when``)?"""
    return all(evaluate(cond, values, template) for cond in conditions)
