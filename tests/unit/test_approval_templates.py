"""Approval templates: the shipped YAML loads, and every mistake names its line."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from bot.approvals.conditions import direction_of
from bot.approvals.model import (
    ApproverSource,
    ApproverSpec,
    CcMoment,
    EmptyPolicy,
    FieldType,
    NodeAction,
    NodeKind,
    Sla,
    TemplateKind,
    Text,
    WithdrawRule,
)
from bot.approvals.numbering import format_doc_number
from bot.approvals.templates import (
    ROLES,
    TemplateError,
    TemplateErrors,
    load_dir,
    load_shipped,
    parse_template,
    shipped_dir,
)
from bot.people.domain import ALL_ROLES

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = load_shipped()

# A small valid template; the error cases below change one line of it (marked "# <-").
BASE = """\
key: t
version: 1
name: {zh_CN: 测试, en: Test}
kind: request
prefix: TS
fields:
  - key: amount
    type: money
    label: {zh_CN: 金额, en: Amount}
  - key: who
    type: person
    label: {zh_CN: 审核人, en: Reviewer}
  - key: depts
    type: departments
    label: {zh_CN: 部门, en: Departments}
    multiple: true
    required: false
  - key: sort
    type: choice
    label: {zh_CN: 类别, en: Sort}
    options:
      - {key: a, label: {zh_CN: 甲, en: A}, direction: up}
      - {key: b, label: {zh_CN: 乙, en: B}}
route:
  - key: first
    name: {zh_CN: 第一步, en: First}
    approvers:
      - role: finance
"""

ROUTE = BASE[BASE.index("route:\n") :]
SORT = BASE[BASE.index("  - key: sort\n") : BASE.index("route:\n")]


def _edit(old: str, new: str) -> str:
    assert BASE.count(old) == 1, old
    return BASE.replace(old, new)


def _marked_line(text: str) -> int:
    (line,) = [i for i, row in enumerate(text.splitlines(), start=1) if "# <-" in row]
    return line


def test_the_base_template_is_valid() -> None:
    template = parse_template(BASE, source="base.yaml")
    assert template.key == "t" and template.version == 1 and template.prefix == "TS"
    assert template.name == Text("测试", "Test")
    assert [f.type for f in template.fields] == [
        FieldType.MONEY,
        FieldType.PERSON,
        FieldType.DEPARTMENTS,
        FieldType.CHOICE,
    ]
    assert template.roles == frozenset({"staff"})
    assert template.withdraw == WithdrawRule.BEFORE_FIRST_DECISION
    (node,) = template.route
    assert node.kind == NodeKind.SEQUENTIAL and node.action == NodeAction.APPROVE
    assert node.approvers == (ApproverSpec(ApproverSource.ROLE, role="finance"),)
    assert node.if_empty == EmptyPolicy.ADMIN and node.when == () and node.sla is None


def test_a_full_node() -> None:
    text = _edit(
        "    approvers:\n      - role: finance\n",
        """\
    kind: quorum
    quorum: 2
    action: handle
    when: ["amount > 5000", "sort in [a, b]"]
    rule: {zh_CN: 大额, en: Large}
    if_empty: person
    empty_person: 007
    dedupe: false
    allow_self: true
    sla: {hours: 16, urgent_hours: 8, most_urgent_hours: 4, remind_before_hours: 0,
          escalate_after: 2, repeat_hours: 8}
    require_role:
      - {when: "sort == a", role: principal}
    approvers:
      - superior: true
      - dept_head: true
      - dept_head: 办公室
      - dept_heads_of_field: depts
      - role: leader
      - person: 007
      - chosen: who
""",
    )
    (node,) = parse_template(text, source="full.yaml").route
    assert (node.kind, node.quorum, node.action) == (NodeKind.QUORUM, 2, NodeAction.HANDLE)
    assert [c.source for c in node.when] == ["amount > 5000", "sort in [a, b]"]
    assert node.rule == Text("大额", "Large")
    assert (node.if_empty, node.empty_person) == (EmptyPolicy.PERSON, "007")  # not 7
    assert (node.dedupe, node.allow_self) == (False, True)
    assert node.sla == Sla(16, 8, 4, remind_before_hours=0, escalate_after=2, repeat_hours=8)
    ((cond, role),) = node.require_role_when
    assert (cond.source, role) == ("sort == a", "principal")
    assert node.approvers == (
        ApproverSpec(ApproverSource.SUPERIOR),
        ApproverSpec(ApproverSource.DEPT_HEAD),
        ApproverSpec(ApproverSource.DEPT_HEAD, department="办公室"),
        ApproverSpec(ApproverSource.DEPT_HEADS_OF_FIELD, field="depts"),
        ApproverSpec(ApproverSource.ROLE, role="leader"),
        ApproverSpec(ApproverSource.PERSON, employee_no="007"),
        ApproverSpec(ApproverSource.CHOSEN, field="who"),
    )


def test_bounds_are_exact_decimals() -> None:
    text = _edit("    type: money\n", "    type: money\n    min: 0.01\n    max: 1_000_000.10\n")
    amount = parse_template(text, source="x.yaml").fields[0]
    assert (amount.min, amount.max) == (Decimal("0.01"), Decimal("1000000.10"))


def test_principal_is_a_role() -> None:
    assert {"principal"} | ALL_ROLES == ROLES


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        # unknown keys, at every level
        ("prefix: TS\n", "prefix: TS\ncolour: red  # <-\n", "Unknown key “colour”"),
        ("    type: money\n", "    type: money\n    colour: red  # <-\n", "Unknown key"),
        ("      - role: finance\n", "      - role: finance\n    colour: red  # <-\n", "Unknown"),
        (
            "      - {key: b, label: {zh_CN: 乙, en: B}}\n",
            "      - {key: b, label: {zh_CN: 乙, en: B}, colour: red}  # <-\n",
            "Unknown key",
        ),
        ("      - role: finance\n", "      - boss: true  # <-\n", "Unknown key “boss”"),
        # wrong types
        ("version: 1\n", "version: one  # <-\n", "whole number"),
        ("version: 1\n", "version: 0  # <-\n", "at least 1"),
        ("prefix: TS\n", "prefix: TS\nroles: staff  # <-\n", "must be a list"),
        ("    multiple: true\n", "    multiple: yes please  # <-\n", "true or false"),
        ("    type: money\n", "    type: money\n    min: lots  # <-\n", "must be a number"),
        ("    type: money\n", "    type: money\n    min: 0.001  # <-\n", "two decimal"),
        ("    type: money\n", "    type: money\n    min: 5\n    max: 4  # <-\n", "below its min"),
        (ROUTE, "route: []  # <-\n", "must not be empty"),
        (ROUTE, "route: first  # <-\n", "must be a list"),
        ("name: {zh_CN: 测试, en: Test}\n", "name: 测试  # <-\n", "{zh_CN: ..., en: ...}"),
        # labels
        ("name: {zh_CN: 测试, en: Test}\n", "name: {zh_CN: 测试}  # <-\n", "no en label"),
        ("name: {zh_CN: 测试, en: Test}\n", "name: {en: Test}  # <-\n", "no zh_CN label"),
        ("name: {zh_CN: 测试, en: Test}\n", "name: {zh_CN: 测试, en: ''}  # <-\n", "empty"),
        ("name: {zh_CN: 测试, en: Test}\n", "name: {zh_CN: 测试, en: No}  # <-\n", "quote it"),
        # duplicates
        ("    type: money\n", "    type: money\n    type: text  # <-\n", "appears twice"),
        ("  - key: who\n", "  - key: amount  # <-\n", "Field “amount” appears twice"),
        (
            "      - role: finance\n",
            "      - role: finance\n  - key: first  # <-\n    name: {zh_CN: 二, en: Two}\n"
            "    approvers: [{role: office}]\n",
            "Node “first” appears twice",
        ),
        (
            "      - {key: b, label: {zh_CN: 乙, en: B}}\n",
            "      - {key: a, label: {zh_CN: 乙, en: B}}  # <-\n",
            "Option “a” appears twice",
        ),
        # keys and prefixes
        ("key: t\n", "key: T-1  # <-\n", "lowercase"),
        ("  - key: who\n", "  - key: direction  # <-\n", "reserved"),
        ("prefix: TS\n", "prefix: ts  # <-\n", "capital letters"),
        ("prefix: TS\n", "prefix: ABCDEFG  # <-\n", "capital letters"),
        ("prefix: TS\n", "prefix: T  # <-\n", "capital letters"),
        (
            "kind: request\n",
            "kind: outgoing\ndoc_prefix: 市〔府  # <-\n",
            "cannot make a 发文字号",
        ),
        ("kind: request\n", "kind: outgoing\ndoc_prefix: '2026'  # <-\n", "digits"),
        ("kind: request\n", "kind: request\ndoc_prefix: 市府办发  # <-\n", "only for"),
        (
            "      - role: finance\n",
            "      - role: finance\n    action: number  # <-\n",
            "no doc_prefix",
        ),
        # unknown names
        ("    type: money\n", "    type: money2  # <-\n", "Unknown field type “money2”"),
        ("kind: request\n", "kind: memo  # <-\n", "Unknown template kind"),
        ("    approvers:\n", "    kind: parallel  # <-\n    approvers:\n", "Unknown node kind"),
        ("    approvers:\n", "    action: stamp  # <-\n    approvers:\n", "Unknown node action"),
        ("    approvers:\n", "    if_empty: nobody  # <-\n    approvers:\n", "Unknown if_empty"),
        ("prefix: TS\n", "prefix: TS\nwithdraw: always  # <-\n", "Unknown withdraw rule"),
        ("      - role: finance\n", "      - role: boss  # <-\n", "Unknown role “boss”"),
        ("prefix: TS\n", "prefix: TS\nroles: [staff, boss]  # <-\n", "Unknown role"),
        (
            "      - {key: a, label: {zh_CN: 甲, en: A}, direction: up}\n",
            "      - {key: a, label: {zh_CN: 甲, en: A}, direction: sideways}  # <-\n",
            "Unknown direction",
        ),
        # conditions
        ("    approvers:\n", '    when: "amount >> 5"  # <-\n    approvers:\n', "Bad condition"),
        ("    approvers:\n", '    when: "nothing > 5"  # <-\n    approvers:\n', "no field"),
        ("    approvers:\n", '    when: "amount > lots"  # <-\n    approvers:\n', "numbers"),
        ("    approvers:\n", '    when: "sort == c"  # <-\n    approvers:\n', "option key"),
        ("    approvers:\n", '    when: "direction == up"  # <-\n    approvers:\n', "direction"),
        (
            "    approvers:\n",
            '    when:\n      - "amount > 5"\n      - "__import__(1)"  # <-\n    approvers:\n',
            "not allowed",
        ),
        (
            "    approvers:\n",
            '    require_role:\n      - {when: "x == 1", role: principal}  # <-\n    approvers:\n',
            "no field",
        ),
        (
            "    approvers:\n",
            '    require_role:\n      - {when: "sort == a", role: pope}  # <-\n    approvers:\n',
            "Unknown role",
        ),
        (
            "    approvers:\n",
            "    require_role:\n      - {role: principal}  # <-\n    approvers:\n",
            "“when” is missing",
        ),
        # approvers that name fields
        ("      - role: finance\n", "      - chosen: nobody  # <-\n", "not a field"),
        ("      - role: finance\n", "      - chosen: amount  # <-\n", "must name a person field"),
        (
            "      - role: finance\n",
            "      - dept_heads_of_field: who  # <-\n",
            "must name a departments field",
        ),
        ("      - role: finance\n", "      - superior: false  # <-\n", "superior: true"),
        ("      - role: finance\n", "      - {role: finance, person: E1}  # <-\n", "one"),
        ("    approvers:\n      - role: finance\n", "    approvers: []  # <-\n", "empty"),
        # quorum
        (
            "    approvers:\n",
            "    kind: quorum\n    quorum: 0  # <-\n    approvers:\n",
            "at least 1",
        ),
        ("    approvers:\n", "    kind: any\n    quorum: 2  # <-\n    approvers:\n", "only for"),
        ("  - key: first\n", "  - key: first  # <-\n    kind: quorum\n", "no quorum"),
        # empty policy
        (
            "    approvers:\n",
            "    if_empty: person  # <-\n    approvers:\n",
            "needs empty_person",
        ),
        (
            "    approvers:\n",
            "    empty_person: E0001  # <-\n    approvers:\n",
            "only used with",
        ),
        # sla
        ("    approvers:\n", "    sla: {urgent_hours: 4}  # <-\n    approvers:\n", "“hours”"),
        (
            "    approvers:\n",
            "    sla: {hours: 8, urgent_hours: 16}  # <-\n    approvers:\n",
            "longer than hours",
        ),
        ("    approvers:\n", "    sla: {hours: 0}  # <-\n    approvers:\n", "at least 1"),
        # fields named by the template
        ("prefix: TS\n", "prefix: TS\nurgency_field: amount  # <-\n", "choice field"),
        ("prefix: TS\n", "prefix: TS\nurgency_field: sort  # <-\n", "normal, urgent"),
        ("prefix: TS\n", "prefix: TS\ndirection_field: nothing  # <-\n", "not a field"),
        ("prefix: TS\n", "prefix: TS\nclassification_field: who  # <-\n", "choice field"),
        ("prefix: TS\n", "prefix: TS\nsummary_fields: [amount, x]  # <-\n", "not a field"),
        # options that do not fit the field type
        ("    type: money\n", "    type: money\n    options: []  # <-\n", "does not apply"),
        ("    type: money\n", "    type: money\n    multiple: true  # <-\n", "does not apply"),
        ("    type: money\n", "    type: money\n    max_files: 3  # <-\n", "does not apply"),
        (
            SORT,
            "  - key: sort  # <-\n    type: choice\n    label: {zh_CN: 类, en: S}\n",
            "options",
        ),
        (
            "    type: choice\n",
            "    type: choice\n    refuse: [z]  # <-\n",
            "not an option",
        ),
        (
            "    type: person\n",
            "    type: person\n    min: 1  # <-\n",
            "does not apply",
        ),
        ("    type: money\n", "    type: text\n    min: 1.5  # <-\n", "whole number"),
    ],
)
def test_errors_name_the_line(old: str, new: str, reason: str) -> None:
    text = _edit(old, new)
    with pytest.raises(TemplateError) as info:
        parse_template(text, source="bad.yaml")
    error = info.value
    assert reason in error.reason
    assert error.source == "bad.yaml"
    assert error.line == _marked_line(text), error.reason
    assert str(error) == f"bad.yaml:{error.line}: {error.reason}"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("key: t\nversion: 1\nname: {zh_CN: 测试, en: Test\nkind: request\n", 4),
        ("key: t\nversion: 1\n  bad: indent\n", 3),
        ("key: t\n\tversion: 1\n", 2),
        ("key: t\n---\nkey: u\n", 2),
        ("key: t\nname: \x07\n", 2),
        ("key: t\nkey: u\n", 2),
        ("- a\n- b\n", 1),
        ("key: !!python/object/apply:os.system [ls]\n", 1),
        ("", None),
        ("# nothing but a comment\n", None),
    ],
)
def test_malformed_yaml(text: str, line: int | None) -> None:
    with pytest.raises(TemplateError) as info:
        parse_template(text, source="bad.yaml")
    assert info.value.line == line, info.value.reason


def test_missing_top_level_keys() -> None:
    with pytest.raises(TemplateError, match="“route” is missing") as info:
        parse_template(BASE.split("route:")[0], source="x.yaml")
    assert info.value.line == 1


# --- directories -----------------------------------------------------------------------------


def _write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(text, encoding="utf-8")


def test_load_dir(tmp_path: Path) -> None:
    _write(tmp_path, "one.yaml", BASE)
    _write(tmp_path, "two.yml", BASE.replace("key: t\n", "key: u\n").replace("TS", "TU"))
    _write(tmp_path, "notes.txt", "not a template")
    assert sorted(load_dir(tmp_path)) == ["t", "u"]


def test_load_dir_is_all_or_nothing(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", BASE)
    _write(tmp_path, "b.yaml", BASE.replace("version: 1", "version: x"))
    _write(tmp_path, "c.yaml", "key: [")
    _write(tmp_path, "d.yaml", BASE.replace("TS", "TD"))  # the key of a.yaml again
    _write(tmp_path, "e.yaml", BASE.replace("key: t\n", "key: e\n"))  # the prefix of a.yaml
    with pytest.raises(TemplateErrors) as info:
        load_dir(tmp_path)
    errors = info.value.errors
    assert [(Path(e.source).name, e.line) for e in errors] == [
        ("b.yaml", 2),
        ("c.yaml", 1),
        ("d.yaml", 1),
        ("e.yaml", 5),
    ]
    assert "also used by" in errors[2].reason and "a.yaml" in errors[2].reason
    assert "prefix “TS”" in errors[3].reason
    assert isinstance(info.value, TemplateError)  # reads as the first error
    assert (info.value.source, info.value.line) == (errors[0].source, 2)
    assert str(info.value).count("\n") == 3


def test_load_dir_needs_a_directory(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="not a directory"):
        load_dir(tmp_path / "missing")
    _write(tmp_path, "bad.yaml", "key: t\n")
    (tmp_path / "bad.yaml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(TemplateError, match="cannot be read"):
        load_dir(tmp_path)


# --- the shipped templates -------------------------------------------------------------------


def test_every_shipped_template_loads() -> None:
    files = sorted(p.name for p in shipped_dir().iterdir())
    assert files == [
        "incoming.yaml",
        "leave.yaml",
        "outgoing.yaml",
        "reimbursement.yaml",
        "seal.yaml",
    ]
    assert {k: t.prefix for k, t in SHIPPED.items()} == {
        "incoming": "SW",
        "leave": "QJ",
        "outgoing": "FW",
        "reimbursement": "BX",
        "seal": "YY",
    }
    for template in SHIPPED.values():
        for text in [template.name, *(f.label for f in template.fields)]:
            assert text.zh_CN and text.en
        for node in template.route:
            assert node.approvers and node.sla is not None


def test_shipped_yaml_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "shipped/*.yaml" in config["tool"]["setuptools"]["package-data"]["bot.approvals"]


def test_reimbursement() -> None:
    template = SHIPPED["reimbursement"]
    assert template.kind == TemplateKind.REQUEST
    amount = template.field("amount")
    assert amount is not None and amount.type == FieldType.MONEY
    assert (amount.min, amount.max) == (Decimal("0.01"), Decimal("10000000"))
    assert [(n.key, [c.source for c in n.when]) for n in template.route] == [
        ("dept_head", []),
        ("finance", ["amount > 5000"]),
        ("leader", ["amount > 50000"]),
    ]
    assert [n.approvers[0] for n in template.route] == [
        ApproverSpec(ApproverSource.DEPT_HEAD),
        ApproverSpec(ApproverSource.ROLE, role="finance"),
        ApproverSpec(ApproverSource.ROLE, role="leader"),
    ]
    assert all(n.sla is not None and n.sla.hours == 16 for n in template.route)
    ((cc),) = template.cc
    assert cc.moment == CcMoment.FINISH and cc.approvers[0].role == "finance"


def test_leave() -> None:
    template = SHIPPED["leave"]
    leave_type = template.field("leave_type")
    assert leave_type is not None
    assert [o.label.zh_CN for o in leave_type.options] == [
        "年休假",
        "事假",
        "病假",
        "婚假",
        "产假",
        "丧假",
        "调休",
    ]
    days = template.field("days")
    assert days is not None and (days.min, days.max) == (Decimal("0.5"), Decimal("365"))
    superior, dept_head, leader = template.route
    assert superior.approvers == (ApproverSpec(ApproverSource.SUPERIOR),)
    assert superior.if_empty == EmptyPolicy.ADMIN and superior.when == ()
    assert [c.source for c in dept_head.when] == ["days > 3"]
    assert [c.source for c in leader.when] == ["days > 7"]


def test_seal() -> None:
    template = SHIPPED["seal"]
    seal_type = template.field("seal_type")
    assert seal_type is not None
    assert [o.label.zh_CN for o in seal_type.options] == [
        "单位公章",
        "合同专用章",
        "财务专用章",
        "法人章",
    ]
    _, office = template.route
    assert office.kind == NodeKind.ANY and office.approvers[0].role == "office"


# 条例 第八条, in its order, and the direction each goes.
DOC_KINDS = [
    ("决议", "down"),
    ("决定", "down"),
    ("命令（令）", "down"),
    ("公报", "down"),
    ("公告", "down"),
    ("通告", "down"),
    ("意见", "down"),
    ("通知", "down"),
    ("通报", "down"),
    ("报告", "up"),
    ("请示", "up"),
    ("批复", "down"),
    ("议案", "across"),
    ("函", "across"),
    ("纪要", "down"),
]


def test_outgoing() -> None:
    template = SHIPPED["outgoing"]
    assert template.kind == TemplateKind.OUTGOING
    assert template.doc_prefix is not None
    assert format_doc_number(template.doc_prefix, 2026, 1) == f"{template.doc_prefix}〔2026〕1号"
    doc_kind = template.field("doc_kind")
    assert doc_kind is not None
    assert [(o.label.zh_CN, o.direction) for o in doc_kind.options] == DOC_KINDS
    assert direction_of(template, {"doc_kind": "request"}) == "up"
    urgency = template.field("urgency")
    assert urgency is not None
    assert [(o.key, o.label.zh_CN) for o in urgency.options] == [
        ("normal", "普通"),
        ("urgent", "加急"),
        ("most_urgent", "特急"),
    ]
    classification = template.field("classification")
    assert classification is not None
    assert [o.label.zh_CN for o in classification.options] == [
        "非密",
        "内部",
        "秘密",
        "机密",
        "绝密",
    ]
    assert classification.refuse == ("secret", "confidential", "top_secret")
    assert (template.urgency_field, template.direction_field, template.classification_field) == (
        "urgency",
        "doc_kind",
        "classification",
    )
    co = template.field("co_departments")
    assert co is not None and co.multiple and not co.required
    body = template.field("body")
    assert body is not None and body.type == FieldType.ATTACHMENT and body.required
    review, countersign, sign, number, archive = template.route
    assert [n.key for n in template.route] == [
        "review",
        "countersign",
        "sign",
        "number",
        "archive",
    ]
    assert review.approvers == (ApproverSpec(ApproverSource.ROLE, role="office"),)
    assert countersign.kind == NodeKind.ALL and countersign.if_empty == EmptyPolicy.AUTO_PASS
    assert countersign.approvers == (
        ApproverSpec(ApproverSource.DEPT_HEADS_OF_FIELD, field="co_departments"),
    )
    assert sign.action == NodeAction.SIGN and sign.kind == NodeKind.ANY and not sign.allow_self
    assert [(c.source, role) for c, role in sign.require_role_when] == [
        ("direction == up", "principal")
    ]
    assert (number.action, archive.action) == (NodeAction.NUMBER, NodeAction.ARCHIVE)
    assert template.withdraw == WithdrawRule.BEFORE_FIRST_DECISION


def test_incoming() -> None:
    template = SHIPPED["incoming"]
    assert template.kind == TemplateKind.INCOMING
    assert template.roles == frozenset({"office"})
    assert [n.key for n in template.route] == ["propose", "instruct", "handle", "close", "archive"]
    handle = template.route[2]
    assert handle.action == NodeAction.HANDLE
    assert handle.approvers == (
        ApproverSpec(ApproverSource.DEPT_HEADS_OF_FIELD, field="handling_department"),
    )
    department = template.field("handling_department")
    assert department is not None and not department.multiple
    deadline = template.field("deadline")
    assert deadline is not None and deadline.type == FieldType.DATE and not deadline.required
    classification = template.field("classification")
    assert classification is not None
    assert classification.refuse == ("secret", "confidential", "top_secret")
