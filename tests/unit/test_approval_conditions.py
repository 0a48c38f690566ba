"""Route conditions: the parser (no eval, only FIELD OP VALUE), the checks, exact evaluation."""

from __future__ import annotations

import contextlib
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.approvals.conditions import (
    ConditionError,
    check,
    direction_of,
    evaluate,
    evaluate_all,
    parse_condition,
)
from bot.approvals.model import (
    Condition,
    FieldType,
    FormField,
    Node,
    Option,
    Template,
    TemplateKind,
    Text,
)
from bot.approvals.templates import load_shipped

SHIPPED = load_shipped()
REIMBURSEMENT = SHIPPED["reimbursement"]
LEAVE = SHIPPED["leave"]
OUTGOING = SHIPPED["outgoing"]


def _node(template: Template, key: str) -> Node:
    return next(n for n in template.route if n.key == key)


def _label(name: str) -> Text:
    return Text(zh_CN=name, en=name)


def _template(*fields: FormField, direction_field: str | None = None) -> Template:
    return Template(
        key="t",
        version=1,
        name=_label("t"),
        kind=TemplateKind.REQUEST,
        prefix="TS",
        fields=fields,
        route=(),
        direction_field=direction_field,
    )


KINDS = FormField(
    "kinds",
    FieldType.CHOICE,
    _label("kinds"),
    required=False,
    multiple=True,
    options=(
        Option("a", _label("A"), direction="up"),
        Option("b", _label("B"), direction="down"),
        Option("c", _label("C")),
    ),
)
ONE_KIND = FormField("one", FieldType.CHOICE, _label("one"), options=KINDS.options)
FORM = _template(
    FormField("amount", FieldType.MONEY, _label("amount"), required=False),
    FormField("count", FieldType.NUMBER, _label("count"), required=False),
    FormField("period", FieldType.DATE_RANGE, _label("period"), required=False),
    FormField("start", FieldType.DATE, _label("start"), required=False),
    FormField("title", FieldType.TEXT, _label("title"), required=False),
    FormField("depts", FieldType.DEPARTMENTS, _label("depts"), required=False, multiple=True),
    FormField("who", FieldType.PERSON, _label("who"), required=False),
    FormField("files", FieldType.ATTACHMENT, _label("files"), required=False),
    KINDS,
    ONE_KIND,
    direction_field="one",
)


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field", "op", "value"),
    [
        ("amount > 5000", "amount", ">", Decimal("5000")),
        ("amount>5000.5", "amount", ">", Decimal("5000.5")),
        ("  days <= 3 ", "days", "<=", Decimal("3")),
        ("days >= -1", "days", ">=", Decimal("-1")),
        ("x < 0.01", "x", "<", Decimal("0.01")),
        ("doc_kind == request", "doc_kind", "==", "request"),
        ("doc_kind != 请示", "doc_kind", "!=", "请示"),
        ('title == "a b, c"', "title", "==", "a b, c"),
        ("title == 'it \"is\"'", "title", "==", 'it "is"'),
        ("_x == 5000abc", "_x", "==", "5000abc"),
        ("doc_kind in [request, report]", "doc_kind", "in", ("request", "report")),
        ('doc_kind in [a, b, "c d"]', "doc_kind", "in", ("a", "b", "c d")),
        ("n in [1, 2.5,3]", "n", "in", ("1", "2.5", "3")),
        ("doc_kind not in [letter]", "doc_kind", "not in", ("letter",)),
        ("doc_kind not   in[letter]", "doc_kind", "not in", ("letter",)),
        ("direction == up", "direction", "==", "up"),
    ],
)
def test_parses(text: str, field: str, op: str, value: object) -> None:
    cond = parse_condition(text)
    assert (cond.field, cond.op, cond.value, cond.source) == (field, op, value, text.strip())


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "amount",
        "amount >",
        "5000 < amount",
        "Amount > 5000",  # field names are lowercase
        "__import__('os').system('rm -rf /') == 1",
        "__import__ == 1",  # dunder names are never fields
        "__class__ in [a]",
        "amount.real > 1",  # attribute access
        "amount.__class__ == x",
        "len(amount) > 1",  # function calls
        "amount > abs(1)",
        "amount > os.system",
        "amount > 1.2.3",
        "amount[0] > 1",  # indexing
        "x in [1, 2",  # unbalanced lists
        "x in 1, 2]",
        "x in [1, [2]]",
        "x in [[1]]",
        "x in []",
        "x in [a,,b]",
        "x in [,a]",
        "x in [a,]",
        "x in [a b]",
        "x in a",  # in needs a list
        "x == [a]",  # == compares with one value
        'x == "abc',  # unclosed quote
        "x == 'abc",
        "x === 1",
        "amount >> 5",
        "amount > 5000 and 1",
        "amount > 5000 or True",
        "amount > 5000; x",
        "x == lambda: 1",
        "x == a" + "b" * 600,  # longer than any rule
    ],
)
def test_rejects(text: str) -> None:
    with pytest.raises(ConditionError) as info:
        parse_condition(text)
    assert info.value.reason.endswith(".")  # a sentence for the template author


@given(st.text())
def test_arbitrary_text_raises_only_condition_error(text: str) -> None:
    try:
        cond = parse_condition(text)
    except ConditionError:
        return
    assert cond.field and cond.op


@given(st.text(alphabet="ab_ 0123456789.,[]()<>=!'\"innotx-", max_size=40))
def test_condition_like_text_raises_only_condition_error(text: str) -> None:
    with contextlib.suppress(ConditionError):
        parse_condition(text)


# --- checking against a template ------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "amount > 5000",
        "count in [1, 2]",
        "period >= 3",
        "start < 2026-12-01",
        "title == hello",
        "who == E0001",
        "depts in [财务处]",
        "kinds in [a, b]",
        "one != c",
        "direction == up",
        "direction in [down, across]",
    ],
)
def test_check_accepts(text: str) -> None:
    check(parse_condition(text), FORM)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("nothing > 1", "no field"),
        ("amount > many", "number"),
        ("amount > 1e5", "number"),  # a word, not a number
        ("count in [1, two]", "number"),
        ("start < tomorrow", "date"),
        ("start < 2026-13-01", "date"),
        ("kinds > a", "==, != or in"),
        ("title < x", "==, != or in"),
        ("kinds == z", "not an option"),
        ("one in [a, z]", "not an option"),
        ("files == x", "attachment"),
        ("direction == sideways", "not a direction"),
        ("direction > up", "direction"),
    ],
)
def test_check_rejects(text: str, reason: str) -> None:
    with pytest.raises(ConditionError, match=reason):
        check(parse_condition(text), FORM)


def test_direction_needs_a_direction_field() -> None:
    with pytest.raises(ConditionError, match="direction_field"):
        check(parse_condition("direction == up"), _template(KINDS))


# --- evaluation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "finance", "leader"),
    [
        ("0.01", False, False),
        ("4999.99", False, False),
        ("5000", False, False),
        ("5000.00", False, False),
        ("5000.01", True, False),
        ("49999.99", True, False),
        ("50000.00", True, False),
        ("50000.01", True, True),
        ("10000000.00", True, True),
    ],
)
def test_reimbursement_route_boundaries(amount: str, finance: bool, leader: bool) -> None:
    values = {"amount": amount, "purpose": "差旅费"}
    assert evaluate_all(_node(REIMBURSEMENT, "dept_head").when, values, REIMBURSEMENT)
    assert evaluate_all(_node(REIMBURSEMENT, "finance").when, values, REIMBURSEMENT) is finance
    assert evaluate_all(_node(REIMBURSEMENT, "leader").when, values, REIMBURSEMENT) is leader


@pytest.mark.parametrize(
    ("days", "dept_head", "leader"),
    [
        ("0.5", False, False),
        ("3", False, False),
        ("3.5", True, False),
        ("7", True, False),
        ("7.5", True, True),
        ("365", True, True),
    ],
)
def test_leave_route_boundaries(days: str, dept_head: bool, leader: bool) -> None:
    values = {"leave_type": "annual", "days": days}
    assert evaluate_all(_node(LEAVE, "dept_head").when, values, LEAVE) is dept_head
    assert evaluate_all(_node(LEAVE, "leader").when, values, LEAVE) is leader


@pytest.mark.parametrize(
    ("doc_kind", "direction", "principal"),
    [
        ("request", "up", True),
        ("report", "up", True),
        ("notice", "down", False),
        ("reply", "down", False),
        ("letter", "across", False),
        ("motion", "across", False),
        (None, None, False),
        ("no_such_kind", None, False),
    ],
)
def test_direction_of_the_document_kind(
    doc_kind: str | None, direction: str | None, principal: bool
) -> None:
    values = {} if doc_kind is None else {"doc_kind": doc_kind}
    assert direction_of(OUTGOING, values) == direction
    ((cond, role),) = _node(OUTGOING, "sign").require_role_when
    assert role == "principal"
    assert evaluate(cond, values, OUTGOING) is principal


def _holds(text: str, values: dict[str, object]) -> bool:
    return evaluate(parse_condition(text), values, FORM)


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("count > 3", {"count": "3"}, False),
        ("count > 3", {"count": "3.0001"}, True),
        ("count >= 3", {"count": "3"}, True),
        ("count < 3", {"count": "2.5"}, True),
        ("count == 3", {"count": "3.00"}, True),
        ("count != 3", {"count": "3.00"}, False),
        ("count in [1, 3]", {"count": "3.0"}, True),
        ("count not in [1, 3]", {"count": "2"}, True),
        ("period > 3", {"period": {"start": "2026-12-01", "end": "2026-12-03", "days": 3}}, False),
        ("period > 3", {"period": {"start": "2026-12-01", "end": "2026-12-04", "days": 4}}, True),
        ("start < 2026-12-01", {"start": "2026-11-30"}, True),
        ("start < 2026-12-01", {"start": "2026-12-01"}, False),
        ("start in [2026-12-01]", {"start": "2026-12-01"}, True),
        ("title == hello", {"title": "hello"}, True),
        ("title != hello", {"title": "hello"}, False),
        ("who in [E1, E2]", {"who": "E2"}, True),
        ("depts in [财务处, 人事科]", {"depts": ["办公室", "人事科"]}, True),
        ("depts not in [财务处]", {"depts": ["办公室"]}, True),
        ("depts == 财务处", {"depts": ["办公室"]}, False),
        # multiple choice: == and in mean "any selected"
        ("kinds == a", {"kinds": ["a", "b"]}, True),
        ("kinds != a", {"kinds": ["a", "b"]}, False),
        ("kinds != c", {"kinds": ["a", "b"]}, True),
        ("kinds in [c, b]", {"kinds": ["a", "b"]}, True),
        ("kinds not in [c]", {"kinds": ["a", "b"]}, True),
        ("kinds not in [b]", {"kinds": ["a", "b"]}, False),
        ("one == a", {"one": "a"}, True),
        ("one in [b, c]", {"one": "a"}, False),
        ("direction == up", {"one": "a"}, True),
        ("direction == up", {"one": "b"}, False),
        ("direction != up", {"one": "c"}, False),  # no direction: nothing to compare
    ],
)
def test_evaluate(text: str, values: dict[str, object], expected: bool) -> None:
    assert _holds(text, values) is expected


@pytest.mark.parametrize(
    "text",
    [
        "amount > 5000",
        "amount != 5000",
        "count not in [1]",
        "period < 3",
        "start != 2026-01-01",
        "title != x",
        "depts not in [x]",
        "kinds not in [a]",
        "kinds != a",
        "one != a",
        "direction != up",
    ],
)
@pytest.mark.parametrize("empty", [None, "", [], "missing"])
def test_missing_or_empty_values_make_every_condition_false(text: str, empty: object) -> None:
    field = parse_condition(text).field
    values: dict[str, object] = {} if empty == "missing" else {field: empty}
    if field == "direction":
        values = {} if empty == "missing" else {"one": empty}
    assert _holds(text, values) is False


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("amount > 1", {"amount": "abc"}),
        ("amount > 1", {"amount": "NaN"}),
        ("amount > 1", {"amount": {"x": 1}}),
        ("amount > 1", {"amount": True}),
        ("period > 1", {"period": "3"}),
        ("period > 1", {"period": {"days": "lots"}}),
        ("start > 2026-01-01", {"start": "yesterday"}),
        ("start > 2026-01-01", {"start": 5}),
        ("kinds == a", {"kinds": 5}),
        ("title == a", {"title": ["a"]}),
        ("files == a", {"files": [{"file_unique_id": "x"}]}),
        ("nothing == a", {"nothing": "a"}),
    ],
)
def test_values_of_the_wrong_shape_are_false_not_errors(
    text: str, values: dict[str, object]
) -> None:
    assert evaluate(parse_condition(text), values, FORM) is False


def test_a_mismatched_condition_value_is_false() -> None:
    cond = Condition(field="amount", op=">", value="lots", source="amount > lots")
    assert evaluate(cond, {"amount": "5"}, FORM) is False


def test_integers_are_read_as_numbers() -> None:
    assert _holds("count > 2", {"count": 3})
    assert evaluate_all((), {}, FORM)
