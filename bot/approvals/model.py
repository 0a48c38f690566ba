"""Approval templates as values: what a YAML file declares once it has been validated; pure.

``bot/approvals/templates.py`` turns YAML into these; the route engine (``engine.py``) and the
services read them. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from bot.definitions import Text as Text  # the labels of templates, re-exported


class FieldType(StrEnum):
    """The kinds of form field a template may declare."""

    TEXT = "text"  # one line
    LONGTEXT = "longtext"
    NUMBER = "number"  # integer or decimal, no unit
    MONEY = "money"  # CNY, two decimals
    DATE = "date"
    DATE_RANGE = "date_range"  # start and end date, inclusive; value carries the day count
    CHOICE = "choice"  # one (or several, ``multiple``) of ``options``
    DEPARTMENTS = "departments"  # one or several departments of the directory (会签 units)
    PERSON = "person"  # a staff member by employee number (the submitter's choice)
    ATTACHMENT = "attachment"  # documents or photos sent in chat


class NodeKind(StrEnum):
    """How the approvers of one node decide together."""

    SEQUENTIAL = "sequential"  # 依次: one after another, in order
    ALL = "all"  # 会签: everyone must approve; one rejection ends the node
    ANY = "any"  # 或签: the first decision settles the node
    QUORUM = "quorum"  # N-of-M: ``quorum`` approvals pass it; too many rejections fail it


class NodeAction(StrEnum):
    """What an approver does at a node (the buttons a card shows)."""

    APPROVE = "approve"  # 同意 / 拒绝 / 退回 ...
    SIGN = "sign"  # 签发: opinion + name + full date, confirmed; never self-approved
    NUMBER = "number"  # 编号: the office assigns the 发文字号
    HANDLE = "handle"  # 承办 / 办结: the handler reports it done
    ARCHIVE = "archive"  # 归档


class ApproverSource(StrEnum):
    """Where a node's approvers come from."""

    SUPERIOR = "superior"  # the submitter's superior
    DEPT_HEAD = "dept_head"  # head(s) of the submitter's department, or of ``department``
    DEPT_HEADS_OF_FIELD = "dept_heads_of_field"  # heads of the departments chosen in ``field``
    ROLE = "role"  # everyone holding ``role`` (finance, leader, office, ...)
    PERSON = "person"  # a named person, by employee number
    CHOSEN = "chosen"  # the person the submitter chose in the PERSON field ``field``


class EmptyPolicy(StrEnum):
    """What happens when a node resolves to nobody (审批人为空)."""

    ADMIN = "admin"  # the task goes to the administrators
    AUTO_PASS = "auto_pass"  # the node passes, recorded as such
    PERSON = "person"  # the task goes to ``empty_person``
    REJECT = "reject"  # the request cannot be submitted / is rejected


class CcMoment(StrEnum):
    """When CC recipients are told (WeCom notify_type, DingTalk cc_position)."""

    SUBMIT = "submit"
    FINISH = "finish"
    BOTH = "both"


class WithdrawRule(StrEnum):
    """When the submitter may withdraw (撤回)."""

    BEFORE_FIRST_DECISION = "before_first_decision"
    WHILE_RUNNING = "while_running"
    NEVER = "never"


class TemplateKind(StrEnum):
    """What a request is, for the registers."""

    REQUEST = "request"  # 报销, 请假, 用印 ...
    OUTGOING = "outgoing"  # 发文: keeps the 发文登记簿, takes a 发文字号
    INCOMING = "incoming"  # 收文: keeps the 收文登记簿


# The condition operators a ``when`` may use; values are compared after the field's own parsing.
CONDITION_OPS = ("<", "<=", ">", ">=", "==", "!=", "in", "not in")


@dataclass(frozen=True)
class Option:
    """One choice of a CHOICE field: a stable key and its labels."""

    key: str
    label: Text
    direction: str | None = None  # 文种 only: "up" 上行文, "down" 下行文, "across" 平行文


@dataclass(frozen=True)
class FormField:
    """One question of the form."""

    key: str
    type: FieldType
    label: Text
    required: bool = True
    hint: Text | None = None
    options: tuple[Option, ...] = ()  # CHOICE only
    multiple: bool = False  # CHOICE / DEPARTMENTS: several may be picked
    min: Decimal | None = None  # NUMBER / MONEY: bounds; TEXT / LONGTEXT: length bounds
    max: Decimal | None = None
    max_files: int = 5  # ATTACHMENT
    # A CHOICE value that stops the form: the bot explains the policy and keeps nothing
    # (密级 秘密/机密/绝密 are never accepted through chat, §2.5 of the reference).
    refuse: tuple[str, ...] = ()
    # Field keys whose change after 签发 is substantive (invalidates the signature).
    substantive: bool = True


@dataclass(frozen=True)
class Condition:
    """``field op value``: e.g. ``amount > 5000``, ``doc_kind in [请示, 报告]``."""

    field: str
    op: str
    value: Decimal | str | tuple[str, ...]
    source: str  # the expression as written, for the card's "why me" line


@dataclass(frozen=True)
class ApproverSpec:
    """One way of finding approvers."""

    source: ApproverSource
    role: str | None = None  # ROLE
    employee_no: str | None = None  # PERSON
    field: str | None = None  # DEPT_HEADS_OF_FIELD, CHOSEN
    department: str | None = None  # DEPT_HEAD of a named department instead of the submitter's


@dataclass(frozen=True)
class Sla:
    """How long a node may take, in working hours; urgent documents get the shorter ones."""

    hours: int  # working hours for an ordinary item (a working day runs 09:00–17:30)
    urgent_hours: int | None = None  # 加急
    most_urgent_hours: int | None = None  # 特急
    remind_before_hours: int = 2  # one reminder this long before the deadline, one at it
    escalate_after: int = 1  # reminders after the deadline before escalating to the superior
    repeat_hours: int = 4  # after the deadline, remind again every this many working hours


@dataclass(frozen=True)
class Node:
    """One step of the route."""

    key: str
    name: Text
    kind: NodeKind = NodeKind.SEQUENTIAL
    action: NodeAction = NodeAction.APPROVE
    approvers: tuple[ApproverSpec, ...] = ()
    quorum: int | None = None  # QUORUM: approvals needed
    when: tuple[Condition, ...] = ()  # all must hold for the node to be on the route
    rule: Text | None = None  # the "why me" line; defaults to the conditions as written
    if_empty: EmptyPolicy = EmptyPolicy.ADMIN
    empty_person: str | None = None  # EmptyPolicy.PERSON: employee number
    dedupe: bool = True  # an approver who already approved since the last return auto-passes
    allow_self: bool = False  # may the submitter approve their own request here
    sla: Sla | None = None
    # Must the approver also hold this role (签发 of a 上行文 needs the principal leader)?
    require_role_when: tuple[tuple[Condition, str], ...] = ()
    # Fields the approver here must fill before approving, when ``inputs_when`` holds (a 特急
    # 收文 cannot leave 批办 without a deadline and a 催办 owner, reference §4 item 19).
    inputs: tuple[str, ...] = ()
    inputs_when: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class Cc:
    """Who is told, and when."""

    approvers: tuple[ApproverSpec, ...]
    moment: CcMoment = CcMoment.FINISH


@dataclass(frozen=True)
class Template:
    """An approval template: who may use it, the form, the route."""

    key: str
    version: int
    name: Text
    kind: TemplateKind
    prefix: str  # request numbers: {prefix}-{YYYYMMDD}-{nnnn}
    fields: tuple[FormField, ...]
    route: tuple[Node, ...]
    description: Text | None = None
    roles: frozenset[str] = frozenset({"staff"})  # who may apply (any of these roles)
    withdraw: WithdrawRule = WithdrawRule.BEFORE_FIRST_DECISION
    cc: tuple[Cc, ...] = ()
    urgency_field: str | None = None  # a CHOICE field with options normal / urgent / most_urgent
    summary_fields: tuple[str, ...] = ()  # shown on cards and lists (default: the first three)
    doc_prefix: str | None = None  # OUTGOING: the 机关代字 of the 发文字号
    # The CHOICE field whose option's ``direction`` a condition on ``direction`` reads (文种).
    direction_field: str | None = None
    classification_field: str | None = None  # 密级: its ``refuse`` options stop the form
    resubmit_from_return: bool = True  # a resubmit may continue from the returning node
    revoke_days: int = 0  # 通过后撤销 allowed this many days after approval (0: never)

    def field(self, key: str) -> FormField | None:
        """The field with this key, if any."""
        for f in self.fields:
            if f.key == key:
                return f
        return None
