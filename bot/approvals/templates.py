"""Approval templates: YAML parsed and validated into ``model.Template``; no I/O but reading.

Every error names the file and the line of the offending YAML node (``TemplateError``), so an
administrator can fix a template without reading Python. ``load_dir`` is all-or-nothing.

The format (one template per file; ``shipped/*.yaml`` are complete examples)::

    key: reimbursement            # [a-z][a-z0-9_]*, unique across the directory
    version: 1                    # integer >= 1; bump it when the form or route changes
    name: {zh_CN: 费用报销, en: Expense reimbursement}    # every label needs both languages
    description: {zh_CN: ..., en: ...}                   # optional
    kind: request                 # request | outgoing (发文) | incoming (收文)
    prefix: BX                    # request numbers BX-YYYYMMDD-nnnn: [A-Z]{2,6}, unique
    roles: [staff]                # who may apply (any of); default [staff]
    withdraw: before_first_decision     # | while_running | never
    resubmit_from_return: true
    revoke_days: 0                # 通过后撤销: days after approval the submitter may revoke
    doc_prefix: 市府办发          # outgoing only: the 机关代字 of the 发文字号
    urgency_field: urgency        # a choice field with keys among normal/urgent/most_urgent
    direction_field: doc_kind     # a choice field whose options carry direction up/down/across
    classification_field: classification   # a choice field; its refuse options stop the form
    summary_fields: [amount, purpose]      # any fields; shown on cards
    fields:                       # the questions, in order
      - key: amount               # [a-z][a-z0-9_]*; "direction" is reserved
        type: money               # text longtext number money date date_range choice
                                  # departments person attachment
        label: {zh_CN: 金额, en: Amount}
        hint: {zh_CN: ..., en: ...}        # optional
        required: true            # default true
        min: 0.01                 # number/money: value; text/longtext: length;
        max: 10000000             #   date_range: days
        substantive: true         # does a change after 签发 void the signature (default true)
        # choice: options (key, label, optional direction), multiple, refuse: [keys]
        # departments: multiple;  attachment: max_files (default 5)
    route:                        # the nodes, in order
      - key: finance
        name: {zh_CN: 财务审核, en: Finance review}
        kind: any                 # sequential (default) | all (会签) | any (或签) | quorum
        quorum: 2                 # kind quorum only, >= 1
        action: approve           # approve (default) | sign | number | handle | archive
        when: "amount > 5000"     # one condition or a list (all must hold); see conditions.py
        rule: {zh_CN: 金额 > 5000 → 财务, en: ...}   # the "why me" line; optional
        approvers:                # one-key mappings, at least one
          - superior: true
          - dept_head: true       # or a named department: dept_head: 办公室
          - dept_heads_of_field: co_departments   # a departments field
          - role: finance         # staff dept_head finance leader office trainer support
                                  # admin principal
          - person: E0001
          - chosen: reviewer      # a person field
        if_empty: admin           # admin (default) | auto_pass | person | reject
        empty_person: E0001       # required with if_empty: person, only then
        dedupe: true
        allow_self: false
        sla: {hours: 16, urgent_hours: 8, most_urgent_hours: 4,
              remind_before_hours: 2, escalate_after: 1, repeat_hours: 4}  # working hours
        require_role:             # the approver must also hold role when the condition holds
          - {when: "direction == up", role: principal}
    cc:
      - approvers: [{role: finance}]       # as for a node
        moment: finish            # submit | finish (default) | both
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from yaml.nodes import Node, ScalarNode, SequenceNode

from bot.approvals import conditions
from bot.approvals.conditions import DIRECTION, DIRECTIONS, ConditionError, parse_condition
from bot.approvals.model import (
    ApproverSource,
    ApproverSpec,
    Cc,
    CcMoment,
    Condition,
    EmptyPolicy,
    FieldType,
    FormField,
    NodeAction,
    NodeKind,
    Option,
    Sla,
    Template,
    TemplateKind,
    WithdrawRule,
)
from bot.approvals.model import Node as RouteNode
from bot.approvals.numbering import format_doc_number
from bot.definitions import (
    BOOL,
    DefinitionError,
    NodeReader,
    compose,
    node_line,
    shown,
)
from bot.people.domain import ALL_ROLES

# 主要负责人: 重要公文和上行文由机关主要负责人签发 (条例 第二十二条).
PRINCIPAL = "principal"
ROLES: frozenset[str] = ALL_ROLES | {PRINCIPAL}
URGENCY_KEYS = ("normal", "urgent", "most_urgent")  # 普通 / 加急 / 特急 (条例 第九条)

_PREFIX = re.compile(r"[A-Z]{2,6}")


_TOP_KEYS = (
    "key",
    "version",
    "name",
    "description",
    "kind",
    "prefix",
    "roles",
    "withdraw",
    "resubmit_from_return",
    "revoke_days",
    "doc_prefix",
    "urgency_field",
    "direction_field",
    "classification_field",
    "summary_fields",
    "fields",
    "route",
    "cc",
)
_FIELD_KEYS = (
    "key",
    "type",
    "label",
    "hint",
    "required",
    "substantive",
    "options",
    "multiple",
    "refuse",
    "min",
    "max",
    "max_files",
)
_FIELD_ONLY: dict[str, frozenset[FieldType]] = {
    "options": frozenset({FieldType.CHOICE}),
    "refuse": frozenset({FieldType.CHOICE}),
    "multiple": frozenset({FieldType.CHOICE, FieldType.DEPARTMENTS}),
    "min": frozenset(
        {
            FieldType.NUMBER,
            FieldType.MONEY,
            FieldType.TEXT,
            FieldType.LONGTEXT,
            FieldType.DATE_RANGE,
        }
    ),
    "max_files": frozenset({FieldType.ATTACHMENT}),
}
_FIELD_ONLY["max"] = _FIELD_ONLY["min"]
_NODE_KEYS = (
    "key",
    "name",
    "kind",
    "action",
    "approvers",
    "quorum",
    "when",
    "rule",
    "if_empty",
    "empty_person",
    "dedupe",
    "allow_self",
    "sla",
    "require_role",
    "inputs",
    "inputs_when",
)
_SLA_KEYS = (
    "hours",
    "urgent_hours",
    "most_urgent_hours",
    "remind_before_hours",
    "escalate_after",
    "repeat_hours",
)
_APPROVER_KEYS = tuple(source.value for source in ApproverSource)

_T = TypeVar("_T")


class TemplateError(DefinitionError):
    """A template that cannot be used: where (``source``, 1-based ``line`` or None) and why."""


class TemplateErrors(TemplateError):
    """Every bad file of a directory (``errors``, at least one); reads as the first of them."""

    def __init__(self, errors: Sequence[TemplateError]) -> None:
        first = errors[0]
        super().__init__(first.source, first.line, first.reason)
        self.errors = list(errors)

    def __str__(self) -> str:
        return "\n".join(TemplateError.__str__(error) for error in self.errors)


class _Reader(NodeReader):
    """The node reader, raising TemplateError, with the approvals' own kinds of value."""

    error = TemplateError

    def role(self, node: Node, what: str) -> str:
        value = self.text(node, what)
        if value not in ROLES:
            self.fail(node, f"Unknown role “{value}” in {what}; roles are {shown(ROLES)}.")
        return value

    def condition(self, node: Node, what: str, template: Template) -> Condition:
        text = self.text(node, what)
        try:
            cond = parse_condition(text)
            conditions.check(cond, template)
        except ConditionError as error:
            self.fail(node, f"Bad condition “{text.strip()}” in {what}: {error.reason}")
        return cond


def _field_of(
    r: _Reader, node: Node, what: str, fields: dict[str, FormField], *types: FieldType
) -> FormField:
    key = r.text(node, what)
    field = fields.get(key)
    if field is None:
        r.fail(node, f"{what} names “{key}”, which is not a field of this template.")
    if types and field.type not in types:
        wanted = " or ".join(t.value for t in types)
        r.fail(node, f"{what} must name a {wanted} field; “{key}” is a {field.type.value} field.")
    return field


def _options(r: _Reader, node: Node, what: str) -> tuple[Option, ...]:
    options: list[Option] = []
    seen: set[str] = set()
    for item in r.sequence(node, f"The options of {what}"):
        entries = r.mapping(
            item, f"an option of {what}", allowed=("key", "label", "direction"), required=("key",)
        )
        key_node = entries["key"][1]
        key = r.key(key_node, "An option key")
        if key in seen:
            r.fail(key_node, f"Option “{key}” appears twice in {what}.")
        seen.add(key)
        if "label" not in entries:
            r.fail(item, f"Option “{key}” of {what} has no label.")
        direction = None
        if "direction" in entries:
            direction_node = entries["direction"][1]
            direction = r.text(direction_node, "A direction")
            if direction not in DIRECTIONS:
                r.fail(
                    direction_node,
                    f"Unknown direction “{direction}”; use up (上行文), down (下行文) "
                    "or across (平行文).",
                )
        label = r.label(entries["label"][1], f"option “{key}”")
        options.append(Option(key=key, label=label, direction=direction))
    return tuple(options)


def _field(r: _Reader, node: Node) -> tuple[FormField, Node]:
    entries = r.mapping(node, "a field", allowed=_FIELD_KEYS, required=("key", "type", "label"))
    key_node = entries["key"][1]
    key = r.key(key_node, "A field key")
    if key == DIRECTION:
        r.fail(key_node, "“direction” is reserved for the direction of the direction_field.")
    what = f"field “{key}”"
    kind = r.choice(entries["type"][1], "field type", FieldType)
    for name, (name_node, _) in entries.items():
        only = _FIELD_ONLY.get(name)
        if only is not None and kind not in only:
            r.fail(name_node, f"“{name}” does not apply to a {kind.value} field ({what}).")

    label = r.label(entries["label"][1], what)
    hint = r.label(entries["hint"][1], f"the hint of {what}") if "hint" in entries else None
    required = r.boolean(entries["required"][1], "required") if "required" in entries else True
    substantive = (
        r.boolean(entries["substantive"][1], "substantive") if "substantive" in entries else True
    )
    multiple = r.boolean(entries["multiple"][1], "multiple") if "multiple" in entries else False

    options: tuple[Option, ...] = ()
    if kind == FieldType.CHOICE:
        if "options" not in entries:
            r.fail(node, f"The choice {what} needs options.")
        options = _options(r, entries["options"][1], what)
    refuse: list[str] = []
    if "refuse" in entries:
        keys = {o.key for o in options}
        for item in r.sequence(entries["refuse"][1], f"refuse of {what}"):
            value = r.text(item, "A refused option")
            if value not in keys:
                r.fail(item, f"refuse names “{value}”, which is not an option of {what}.")
            refuse.append(value)

    bounds: dict[str, Decimal] = {}
    for name in ("min", "max"):
        if name not in entries:
            continue
        bound_node = entries[name][1]
        bound = r.decimal(bound_node, f"{name} of {what}")
        if kind in (FieldType.TEXT, FieldType.LONGTEXT, FieldType.DATE_RANGE) and (
            bound != bound.to_integral_value() or bound < 0
        ):
            r.fail(bound_node, f"{name} of {what} counts characters or days: a whole number >= 0.")
        if kind == FieldType.MONEY and (bound * 100) != (bound * 100).to_integral_value():
            r.fail(bound_node, f"{name} of {what} is an amount: at most two decimal places.")
        bounds[name] = bound
    if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
        r.fail(entries["max"][1], f"max of {what} is below its min.")

    max_files = 5
    if "max_files" in entries:
        max_files = r.integer(entries["max_files"][1], f"max_files of {what}", minimum=1)

    field = FormField(
        key=key,
        type=kind,
        label=label,
        required=required,
        hint=hint,
        options=options,
        multiple=multiple,
        min=bounds.get("min"),
        max=bounds.get("max"),
        max_files=max_files,
        refuse=tuple(refuse),
        substantive=substantive,
    )
    return field, key_node


def _approvers(
    r: _Reader, node: Node, what: str, fields: dict[str, FormField]
) -> tuple[ApproverSpec, ...]:
    specs: list[ApproverSpec] = []
    for item in r.sequence(node, f"The approvers of {what}"):
        entries = r.mapping(item, f"an approver of {what}", allowed=_APPROVER_KEYS)
        if len(entries) != 1:
            r.fail(
                item,
                "Each approver is one “source: value” pair, for example “- role: finance”.",
            )
        ((name, (_, value_node)),) = entries.items()
        source = ApproverSource(name)
        if source == ApproverSource.SUPERIOR:
            if not r.boolean(value_node, "superior"):
                r.fail(value_node, "Write “superior: true” (or leave the approver out).")
            specs.append(ApproverSpec(source))
        elif source == ApproverSource.DEPT_HEAD:
            if isinstance(value_node, ScalarNode) and value_node.tag == BOOL:
                if not r.boolean(value_node, "dept_head"):
                    r.fail(value_node, "Write “dept_head: true” or name a department.")
                specs.append(ApproverSpec(source))
            else:
                department = r.text(value_node, "dept_head (a department name, or true)")
                specs.append(ApproverSpec(source, department=department.strip()))
        elif source == ApproverSource.DEPT_HEADS_OF_FIELD:
            field = _field_of(r, value_node, "dept_heads_of_field", fields, FieldType.DEPARTMENTS)
            specs.append(ApproverSpec(source, field=field.key))
        elif source == ApproverSource.ROLE:
            specs.append(ApproverSpec(source, role=r.role(value_node, what)))
        elif source == ApproverSource.PERSON:
            specs.append(ApproverSpec(source, employee_no=r.code(value_node, "person")))
        else:  # CHOSEN
            field = _field_of(r, value_node, "chosen", fields, FieldType.PERSON)
            specs.append(ApproverSpec(source, field=field.key))
    return tuple(specs)


def _sla(r: _Reader, node: Node, what: str) -> Sla:
    entries = r.mapping(node, f"the sla of {what}", allowed=_SLA_KEYS, required=("hours",))
    minimum = {"remind_before_hours": 0, "escalate_after": 0}
    values = {
        name: r.integer(value_node, f"{name} of {what}", minimum=minimum.get(name, 1))
        for name, (_, value_node) in entries.items()
    }
    hours = values["hours"]
    urgent = values.get("urgent_hours")
    if urgent is not None and urgent > hours:
        r.fail(entries["urgent_hours"][1], f"urgent_hours of {what} is longer than hours.")
    most_urgent = values.get("most_urgent_hours")
    if most_urgent is not None and most_urgent > (urgent or hours):
        r.fail(
            entries["most_urgent_hours"][1],
            f"most_urgent_hours of {what} is longer than urgent_hours (or hours).",
        )
    return Sla(**values)


def _conditions(r: _Reader, node: Node, what: str, template: Template) -> tuple[Condition, ...]:
    items = r.sequence(node, f"when of {what}") if isinstance(node, SequenceNode) else [node]
    return tuple(r.condition(item, f"when of {what}", template) for item in items)


def _node(r: _Reader, node: Node, template: Template) -> tuple[RouteNode, Node]:
    entries = r.mapping(
        node, "a route node", allowed=_NODE_KEYS, required=("key", "name", "approvers")
    )
    key_node = entries["key"][1]
    key = r.key(key_node, "A node key")
    what = f"node “{key}”"
    fields = {f.key: f for f in template.fields}

    def optional(name: str, read: Callable[[Node], _T], default: _T) -> _T:
        return read(entries[name][1]) if name in entries else default

    kind = optional("kind", lambda n: r.choice(n, "node kind", NodeKind), NodeKind.SEQUENTIAL)
    action = optional(
        "action", lambda n: r.choice(n, "node action", NodeAction), NodeAction.APPROVE
    )
    quorum: int | None = None
    if "quorum" in entries:
        quorum_node = entries["quorum"][1]
        if kind != NodeKind.QUORUM:
            r.fail(quorum_node, f"quorum is only for “kind: quorum” ({what} is {kind.value}).")
        quorum = r.integer(quorum_node, f"quorum of {what}", minimum=1)
    elif kind == NodeKind.QUORUM:
        r.fail(node, f"{what} has kind quorum but no quorum (approvals needed).")

    if_empty = optional(
        "if_empty", lambda n: r.choice(n, "if_empty policy", EmptyPolicy), EmptyPolicy.ADMIN
    )
    empty_person: str | None = None
    if "empty_person" in entries:
        person_node = entries["empty_person"][1]
        if if_empty != EmptyPolicy.PERSON:
            r.fail(person_node, "empty_person is only used with “if_empty: person”.")
        empty_person = r.code(person_node, "empty_person")
    elif if_empty == EmptyPolicy.PERSON:
        r.fail(entries["if_empty"][1], "“if_empty: person” needs empty_person.")

    require_role: list[tuple[Condition, str]] = []
    if "require_role" in entries:
        for item in r.sequence(entries["require_role"][1], f"require_role of {what}"):
            rule = r.mapping(
                item,
                f"a require_role entry of {what}",
                allowed=("when", "role"),
                required=("when", "role"),
            )
            cond = r.condition(rule["when"][1], f"require_role of {what}", template)
            require_role.append((cond, r.role(rule["role"][1], f"require_role of {what}")))

    inputs: list[str] = []
    if "inputs" in entries:
        for item in r.sequence(entries["inputs"][1], f"inputs of {what}"):
            field_key = r.key(item, f"An input of {what}")
            if field_key not in fields:
                r.fail(item, f"{what} asks for “{field_key}”, which is not a field of the form.")
            if fields[field_key].type == FieldType.ATTACHMENT:
                r.fail(item, f"{what} cannot ask for an attachment while deciding.")
            inputs.append(field_key)
    if "inputs_when" in entries and not inputs:
        r.fail(entries["inputs_when"][1], f"inputs_when of {what} needs inputs.")

    route_node = RouteNode(
        key=key,
        name=r.label(entries["name"][1], what),
        kind=kind,
        action=action,
        approvers=_approvers(r, entries["approvers"][1], what, fields),
        quorum=quorum,
        when=optional("when", lambda n: _conditions(r, n, what, template), ()),
        rule=optional("rule", lambda n: r.label(n, f"the rule of {what}"), None),
        if_empty=if_empty,
        empty_person=empty_person,
        dedupe=optional("dedupe", lambda n: r.boolean(n, "dedupe"), True),
        allow_self=optional("allow_self", lambda n: r.boolean(n, "allow_self"), False),
        sla=optional("sla", lambda n: _sla(r, n, what), None),
        require_role_when=tuple(require_role),
        inputs=tuple(inputs),
        inputs_when=optional("inputs_when", lambda n: _conditions(r, n, what, template), ()),
    )
    if action == NodeAction.NUMBER and template.doc_prefix is None:
        r.fail(
            entries["action"][1],
            f"{what} assigns the 发文字号 (action: number) but the template has no doc_prefix.",
        )
    return route_node, key_node


def _cc(r: _Reader, node: Node, fields: dict[str, FormField]) -> tuple[Cc, ...]:
    result: list[Cc] = []
    for item in r.sequence(node, "cc", empty_ok=True):
        entries = r.mapping(
            item, "a cc entry", allowed=("approvers", "moment"), required=("approvers",)
        )
        moment = CcMoment.FINISH
        if "moment" in entries:
            moment = r.choice(entries["moment"][1], "cc moment", CcMoment)
        result.append(
            Cc(approvers=_approvers(r, entries["approvers"][1], "cc", fields), moment=moment)
        )
    return tuple(result)


def _choice_field(r: _Reader, node: Node, what: str, fields: dict[str, FormField]) -> FormField:
    field = _field_of(r, node, what, fields, FieldType.CHOICE)
    if field.multiple:
        r.fail(node, f"{what} must name a single-choice field; “{field.key}” is multiple.")
    return field


def _parse(text: str, source: str) -> tuple[Template, Node, Node]:
    """The template, and the nodes of its key and prefix (for cross-file errors)."""
    r = _Reader(source)
    root = compose(text, source, TemplateError)
    top = r.mapping(
        root,
        "the template",
        allowed=_TOP_KEYS,
        required=("key", "version", "name", "kind", "prefix", "fields", "route"),
    )
    key_node, prefix_node = top["key"][1], top["prefix"][1]
    key = r.key(key_node, "The template key")
    kind = r.choice(top["kind"][1], "template kind", TemplateKind)
    prefix = r.text(prefix_node, "prefix")
    if not _PREFIX.fullmatch(prefix):
        r.fail(prefix_node, f"prefix “{prefix}” must be 2 to 6 capital letters (A-Z).")

    fields: dict[str, FormField] = {}
    for item in r.sequence(top["fields"][1], "fields"):
        field, field_key_node = _field(r, item)
        if field.key in fields:
            r.fail(field_key_node, f"Field “{field.key}” appears twice.")
        fields[field.key] = field

    roles = frozenset({"staff"})
    if "roles" in top:
        roles = frozenset(r.role(item, "roles") for item in r.sequence(top["roles"][1], "roles"))

    doc_prefix: str | None = None
    if "doc_prefix" in top:
        doc_node = top["doc_prefix"][1]
        if kind != TemplateKind.OUTGOING:
            r.fail(doc_node, "doc_prefix (the 机关代字) is only for “kind: outgoing” templates.")
        doc_prefix = r.text(doc_node, "doc_prefix")
        try:
            format_doc_number(doc_prefix, 2026, 1)
        except ValueError as error:
            r.fail(doc_node, f"doc_prefix “{doc_prefix}” cannot make a 发文字号: {error}.")

    urgency_field: str | None = None
    if "urgency_field" in top:
        urgency_node = top["urgency_field"][1]
        urgency = _choice_field(r, urgency_node, "urgency_field", fields)
        odd = [o.key for o in urgency.options if o.key not in URGENCY_KEYS]
        if odd:
            r.fail(
                urgency_node,
                f"The urgency field “{urgency.key}” has option “{odd[0]}”; its options must "
                f"be among {', '.join(URGENCY_KEYS)}.",
            )
        urgency_field = urgency.key
    direction_field: str | None = None
    if "direction_field" in top:
        direction_node = top["direction_field"][1]
        direction = _choice_field(r, direction_node, "direction_field", fields)
        if not any(o.direction for o in direction.options):
            r.fail(direction_node, f"No option of “{direction.key}” has a direction.")
        direction_field = direction.key
    classification_field: str | None = None
    if "classification_field" in top:
        classification_field = _choice_field(
            r, top["classification_field"][1], "classification_field", fields
        ).key
    summary: list[str] = []
    if "summary_fields" in top:
        for item in r.sequence(top["summary_fields"][1], "summary_fields"):
            summary.append(_field_of(r, item, "summary_fields", fields).key)

    template = Template(
        key=key,
        version=r.integer(top["version"][1], "version", minimum=1),
        name=r.label(top["name"][1], "the template name"),
        kind=kind,
        prefix=prefix,
        fields=tuple(fields.values()),
        route=(),
        description=(
            r.label(top["description"][1], "the description") if "description" in top else None
        ),
        roles=roles,
        withdraw=(
            r.choice(top["withdraw"][1], "withdraw rule", WithdrawRule)
            if "withdraw" in top
            else WithdrawRule.BEFORE_FIRST_DECISION
        ),
        urgency_field=urgency_field,
        summary_fields=tuple(dict.fromkeys(summary)),
        doc_prefix=doc_prefix,
        direction_field=direction_field,
        classification_field=classification_field,
        resubmit_from_return=(
            r.boolean(top["resubmit_from_return"][1], "resubmit_from_return")
            if "resubmit_from_return" in top
            else True
        ),
        revoke_days=(
            r.integer(top["revoke_days"][1], "revoke_days", minimum=0)
            if "revoke_days" in top
            else 0
        ),
    )

    route: dict[str, RouteNode] = {}
    for item in r.sequence(top["route"][1], "route"):
        route_node, node_key_node = _node(r, item, template)
        if route_node.key in route:
            r.fail(node_key_node, f"Node “{route_node.key}” appears twice in the route.")
        route[route_node.key] = route_node
    cc = _cc(r, top["cc"][1], fields) if "cc" in top else ()
    return replace(template, route=tuple(route.values()), cc=cc), key_node, prefix_node


def parse_template(text: str, *, source: str) -> Template:
    """The template a YAML text declares; TemplateError (with the line) if it is not valid."""
    return _parse(text, source)[0]


def load_dir(path: Path) -> dict[str, Template]:
    """Every ``*.yaml`` / ``*.yml`` in ``path`` by template key; all or nothing.

    Raises TemplateErrors (a TemplateError that reads as the first error) listing one error
    per bad file, and one per key or prefix that another file already uses.
    """
    if not path.is_dir():
        raise TemplateErrors([TemplateError(str(path), None, "This is not a directory.")])
    files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    errors: list[TemplateError] = []
    templates: dict[str, Template] = {}
    key_owner: dict[str, str] = {}
    prefix_owner: dict[str, str] = {}
    for file in files:
        source = str(file)
        try:
            template, key_node, prefix_node = _parse(file.read_text(encoding="utf-8"), source)
        except TemplateError as error:
            errors.append(error)
            continue
        except (OSError, UnicodeDecodeError) as error:
            errors.append(TemplateError(source, None, f"The file cannot be read: {error}."))
            continue
        if template.key in key_owner:
            errors.append(
                TemplateError(
                    source,
                    node_line(key_node),
                    f"Template key “{template.key}” is also used by {key_owner[template.key]}.",
                )
            )
            continue
        if template.prefix in prefix_owner:
            errors.append(
                TemplateError(
                    source,
                    node_line(prefix_node),
                    f"prefix “{template.prefix}” is also used by {prefix_owner[template.prefix]}.",
                )
            )
            continue
        key_owner[template.key] = source
        prefix_owner[template.prefix] = source
        templates[template.key] = template
    if errors:
        raise TemplateErrors(errors)
    return templates


def shipped_dir() -> Path:
    """The templates that ship with the bot (``bot/approvals/shipped``)."""
    return Path(__file__).resolve().parent / "shipped"


def load_shipped() -> dict[str, Template]:
    """The shipped templates by key."""
    return load_dir(shipped_dir())
