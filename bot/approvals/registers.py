"""The 发文登记簿 and 收文登记簿, 督办 (overdue items), one request's full record, and exports.

A register is read from the requests themselves: the form values (keyed by the shipped
templates' field keys), the route state (签发人 and 签发 time come from the 签发 node's decided
slot) and the task index rows (deadlines). Nothing is copied into a second table, so the
register can never disagree with the requests (reference approvals.md §2.2-2.5, §4 items 19
and 25).

Exports are built for Excel: CSV in UTF-8 with a BOM, XLSX with a header row; a cell that
starts like a formula (``=``, ``+``, ``-``, ``@``) is prefixed with ``'`` so that a title typed
by a user can never run as a formula (OWASP "CSV injection").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields, replace
from datetime import UTC, date, datetime
from typing import Any

from bot import access
from bot.approvals.catalog import LoadedTemplate, TemplateCatalog
from bot.approvals.engine import (
    DECIDED,
    STATUS_LABELS,
    InstanceState,
    InstanceStatus,
    NodeStatus,
    SlotStatus,
)
from bot.approvals.model import FieldType, NodeAction, Template
from bot.approvals.numbering_service import OFFICE_TZ
from bot.audit import AuditService
from bot.errors import DomainError
from bot.i18n import N_, Translator, translator
from bot.runtime import Runtime
from bot.spreadsheet import csv_bytes, safe_cell, xlsx_bytes
from storage.tables.approvals import ApprovalInstance, ApprovalTask
from storage.tables.messaging import PRIORITY_INTERACTIVE
from storage.tables.people import Staff
from storage.uow import UnitOfWork

logger = logging.getLogger(__name__)

OUTGOING, INCOMING = "outgoing", "incoming"
KINDS = (OUTGOING, INCOMING)
FORMATS = ("xlsx", "csv")
CHAT_ROW_LIMIT = 5000  # a register sent in chat; the CLI exports everything
OVERDUE_CHAT_LIMIT = 200  # items in one /overdue message's facts (the renderer shortens more)
OPEN_STATUSES = (InstanceStatus.RUNNING.value, InstanceStatus.RETURNED.value)

REGISTER_NAMES = {OUTGOING: N_("Outgoing register"), INCOMING: N_("Incoming register")}
KIND_LABELS = {
    "request": N_("request"),
    OUTGOING: N_("outgoing document"),
    INCOMING: N_("incoming document"),
}
MOVE_LABELS = {
    "approve": N_("approved"),
    "reject": N_("rejected"),
    "return": N_("returned"),
    "transfer": N_("transferred"),
    "add_before": N_("added signers before"),
    "add_after": N_("added signers after"),
    "resubmit": N_("resubmitted"),
    "withdraw": N_("withdrew"),
    "escalate": N_("escalated"),
}

# (RegisterRow attribute, column header) in register order.
OUTGOING_COLUMNS: tuple[tuple[str, str], ...] = (
    ("number", N_("Request number")),
    ("doc_no", N_("Document number")),
    ("doc_kind", N_("Kind of document")),
    ("title", N_("Title")),
    ("main_recipients", N_("Main recipients")),
    ("cc_recipients", N_("Copied to")),
    ("urgency", N_("Urgency")),
    ("classification", N_("Classification")),
    ("drafter", N_("Drafted by")),
    ("drafting_department", N_("Drafting department")),
    ("registered_at", N_("Drafted on")),
    ("co_departments", N_("Countersigning departments")),
    ("signer", N_("Signed off by")),
    ("signed_at", N_("Signed off at")),
    ("written_on", N_("Date of the document")),  # 成文日期 = the 签发 date (条例 第九条)
    ("status_label", N_("Status")),
    ("current_step", N_("Current step")),
    ("archived_on", N_("Filed on")),
)
INCOMING_COLUMNS: tuple[tuple[str, str], ...] = (
    ("number", N_("Incoming number")),
    ("source_org", N_("Sender")),
    ("source_doc_no", N_("Sender's document number")),
    ("title", N_("Title")),
    ("received_on", N_("Date received")),
    ("urgency", N_("Urgency")),
    ("classification", N_("Classification")),
    ("handling_department", N_("Handling department")),
    ("deadline", N_("Deadline")),
    ("supervisor", N_("Follow-up owner")),  # 催办人: who chases it (专人催办)
    ("current_step", N_("Current step")),
    ("holder", N_("Held by")),
    ("status_label", N_("Status")),
    ("finished_on", N_("Completed on")),
)
COLUMNS = {OUTGOING: OUTGOING_COLUMNS, INCOMING: INCOMING_COLUMNS}


class RequestNotFoundError(DomainError):
    """No request has this number or 发文字号."""

    def __init__(self, number: str) -> None:
        super().__init__(number)
        self.number = number


# --- values --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RegisterRow:
    """One line of the 发文 or 收文 register, its labels already in the reader's language."""

    kind: str  # outgoing | incoming
    instance_id: int
    number: str  # the request number (收文编号 for incoming)
    title: str
    urgency: str
    classification: str
    status: str  # the status code (running, approved, ...)
    status_label: str
    current_step: str
    holder: str  # who holds the open task(s) now
    registered_at: datetime
    due_at: datetime | None = None  # the earliest deadline of an open task
    # 发文
    doc_no: str = ""
    doc_kind: str = ""
    main_recipients: str = ""
    cc_recipients: str = ""
    drafter: str = ""
    drafting_department: str = ""
    co_departments: str = ""
    signer: str = ""
    signed_at: datetime | None = None
    written_on: date | None = None
    archived_on: date | None = None
    # 收文
    source_org: str = ""
    source_doc_no: str = ""
    received_on: date | None = None
    handling_department: str = ""
    deadline: date | None = None
    supervisor: str = ""
    finished_on: date | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-safe (dates and times as ISO strings), for outbox facts."""
        return {f.name: _json_value(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RegisterRow:
        """The inverse of :meth:`to_json`; unknown keys are ignored (an older writer)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            raw = data[f.name]
            if raw is not None and f.name in _DATETIME_FIELDS:
                raw = datetime.fromisoformat(raw)
            elif raw is not None and f.name in _DATE_FIELDS:
                raw = date.fromisoformat(raw)
            values[f.name] = raw
        return cls(**values)


_DATETIME_FIELDS = frozenset({"registered_at", "due_at", "signed_at"})
_DATE_FIELDS = frozenset({"written_on", "archived_on", "received_on", "deadline", "finished_on"})


def _json_value(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class TemplateInfo:
    """One active template, for ``govbot templates list``."""

    row_id: int
    key: str
    version: int
    name: str
    kind: str
    route: tuple[str, ...]  # node keys in order


@dataclass(frozen=True)
class StepPerson:
    """One approver position of a step and what became of it."""

    name: str
    status: str  # a SlotStatus value
    decided_by: str | None  # who acted, when not the approver (a delegate, an escalation)
    on_behalf_of: str | None
    comment: str | None
    at: str | None


@dataclass(frozen=True)
class StepRecord:
    """One node of the route."""

    key: str
    name: str
    status: str  # a NodeStatus value
    kind: str
    people: tuple[StepPerson, ...]


@dataclass(frozen=True)
class TimelineEntry:
    """One move by a person, from the route state's history."""

    at: str
    move: str
    actor: str | None  # None: the system (an escalation)
    on_behalf_of: str | None
    step: str | None
    comment: str | None
    people: tuple[str, ...]


@dataclass(frozen=True)
class AuditLine:
    """One audit entry about the request, with the content hash it recorded."""

    seq: int
    at: datetime
    actor: str | None
    on_behalf_of: str | None
    action: str
    content_hash: str | None
    details: Mapping[str, Any]


@dataclass(frozen=True)
class InstanceRecord:
    """Everything about one request: the form, each step, the timeline and the audit trail."""

    instance_id: int
    number: str
    doc_no: str | None
    kind: str
    template_key: str
    template_version: int
    template_name: str
    submitter: str
    department: str
    status: str
    content_hash: str
    created_at: datetime
    finished_at: datetime | None
    fields: tuple[tuple[str, str], ...]  # (label, value shown)
    steps: tuple[StepRecord, ...]
    timeline: tuple[TimelineEntry, ...]
    audit: tuple[AuditLine, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (``govbot approvals show --json``)."""
        return {
            "id": self.instance_id,
            "number": self.number,
            "doc_no": self.doc_no,
            "kind": self.kind,
            "template": {
                "key": self.template_key,
                "version": self.template_version,
                "name": self.template_name,
            },
            "submitter": self.submitter,
            "department": self.department,
            "status": self.status,
            "content_hash": self.content_hash,
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "fields": [{"label": label, "value": value} for label, value in self.fields],
            "steps": [
                {
                    "key": s.key,
                    "name": s.name,
                    "status": s.status,
                    "kind": s.kind,
                    "people": [
                        {
                            "name": p.name,
                            "status": p.status,
                            "decided_by": p.decided_by,
                            "on_behalf_of": p.on_behalf_of,
                            "comment": p.comment,
                            "at": p.at,
                        }
                        for p in s.people
                    ],
                }
                for s in self.steps
            ],
            "timeline": [
                {
                    "at": t.at,
                    "move": t.move,
                    "actor": t.actor,
                    "on_behalf_of": t.on_behalf_of,
                    "step": t.step,
                    "comment": t.comment,
                    "people": list(t.people),
                }
                for t in self.timeline
            ],
            "audit": [
                {
                    "seq": a.seq,
                    "at": a.at.isoformat(),
                    "actor": a.actor,
                    "on_behalf_of": a.on_behalf_of,
                    "action": a.action,
                    "content_hash": a.content_hash,
                    "details": dict(a.details),
                }
                for a in self.audit
            ],
        }


# --- the service -----------------------------------------------------------------------------
class RegisterService:
    """The registers, 督办 and request records, for the office (chat) and operators (CLI)."""

    def __init__(
        self, rt: Runtime, catalog: TemplateCatalog, *, default_locale: str = "zh_CN"
    ) -> None:
        self._rt = rt
        self._catalog = catalog
        self._audit = AuditService(rt)
        self._default_locale = default_locale

    # -- reading ----------------------------------------------------------------------------
    async def rows(
        self, kind: str, *, year: int | None = None, locale: str = "zh_CN"
    ) -> list[RegisterRow]:
        """The 发文登记簿 (``outgoing``) or 收文登记簿 (``incoming``), oldest first."""
        async with self._rt.detached_uow() as uow:
            return await self._rows(uow, kind, year=year, locale=locale)

    async def _rows(
        self, uow: UnitOfWork, kind: str, *, year: int | None, locale: str
    ) -> list[RegisterRow]:
        if kind not in KINDS:
            raise ValueError(f"no register of kind {kind!r}")
        since = until = None
        if year is not None:  # the office's calendar year, not UTC's
            since = datetime(year, 1, 1, tzinfo=OFFICE_TZ).astimezone(UTC)
            until = datetime(year + 1, 1, 1, tzinfo=OFFICE_TZ).astimezone(UTC)
        instances = await uow.approvals.register(kind, since=since, until=until)
        built = await _Builder.load(uow, self._catalog, instances, locale)
        return [built.row(i) for i in instances]

    async def overdue(
        self, *, now: datetime, locale: str = "zh_CN"
    ) -> dict[str, list[RegisterRow]]:
        """督办: open 发文 and 收文 past a deadline, by the department holding them now.

        A request is overdue where an open task's deadline (``due_at``) has passed, or, for
        收文, the 办理时限 typed at registration (the day itself still counts). A 会签 held
        by several departments is listed under each department whose task is late.
        """
        async with self._rt.detached_uow() as uow:
            return await self._overdue(uow, now=now, locale=locale)

    async def _overdue(
        self, uow: UnitOfWork, *, now: datetime, locale: str
    ) -> dict[str, list[RegisterRow]]:
        instances = await uow.approvals.in_status(KINDS, OPEN_STATUSES)
        built = await _Builder.load(uow, self._catalog, instances, locale)
        today = now.astimezone(OFFICE_TZ).date()
        groups: dict[str, list[RegisterRow]] = {}
        for instance in instances:
            row = built.row(instance)
            late_by_form = row.deadline is not None and row.deadline < today
            departments: list[str] = []
            tasks = built.tasks.get(instance.id or 0, [])
            for task in tasks:
                late = late_by_form or (task.due_at is not None and task.due_at <= now)
                if late:
                    departments.append(built.department_of(task.assignee_id))
            if not tasks and late_by_form:  # returned: the submitter holds it
                departments.append(built.departments.get(instance.department_id, "?"))
            for name in dict.fromkeys(departments):
                groups.setdefault(name, []).append(row)
        return {name: groups[name] for name in sorted(groups)}

    async def record(self, number: str, *, locale: str = "zh_CN") -> InstanceRecord:
        """One request by number or 发文字号, with its audit trail (RequestNotFoundError)."""
        async with self._rt.detached_uow() as uow:
            instance = await uow.approvals.by_number(number.strip())
            if instance is None or instance.id is None:
                raise RequestNotFoundError(number)
            loaded = await self._catalog.get(uow, instance.template_id)
            if loaded is None:
                raise RequestNotFoundError(number)
            built = await _Builder.load(uow, self._catalog, [instance], locale)
            record = built.record(instance, loaded)
        trail = await self._audit.trail(f"approval:{instance.id}")
        async with self._rt.detached_uow() as uow:
            ids = {a.actor_id for a in trail} | {a.on_behalf_of_id for a in trail}
            names = {i: s.name for i, s in (await uow.people.many(i for i in ids if i)).items()}
        audit = tuple(
            AuditLine(
                seq=a.seq,
                at=a.at,
                actor=names.get(a.actor_id, "?") if a.actor_id else None,
                on_behalf_of=names.get(a.on_behalf_of_id, "?") if a.on_behalf_of_id else None,
                action=a.action,
                content_hash=str(a.details["content_hash"])
                if a.details.get("content_hash")
                else None,
                details=a.details,
            )
            for a in trail
        )
        return replace(record, audit=audit)

    async def templates(self, *, locale: str = "zh_CN") -> list[TemplateInfo]:
        """The active templates, by key."""
        async with self._rt.detached_uow() as uow:
            active = await self._catalog.active(uow)
        return [
            TemplateInfo(
                row_id=t.row_id,
                key=t.template.key,
                version=t.version,
                name=t.template.name.get(locale),
                kind=t.template.kind.value,
                route=tuple(n.key for n in t.template.route),
            )
            for t in active
        ]

    # -- in chat ----------------------------------------------------------------------------
    async def send_register(
        self,
        *,
        tg_id: int,
        chat_id: int,
        kind: str | None,
        fmt: str = "xlsx",
        year: int | None = None,
    ) -> None:
        """``/register out|in [xlsx|csv] [YEAR]``: the register as one file, office and admin.

        ``kind`` None (the arguments did not parse) answers with the usage instead. The rows
        travel in the outbox row's facts; the renderer builds the file in the reader's language.
        """
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.authorize(
                uow, tg_id, "approval.registers", default_locale=self._default_locale
            )
            if kind not in KINDS or fmt not in FORMATS:
                await uow.outbox.add(
                    chat_id=chat_id,
                    kind="ap.register_usage",
                    staff_id=actor.staff_id,
                    now=now,
                    priority=PRIORITY_INTERACTIVE,
                )
                await uow.commit()
                return
            assert kind is not None
            year = year or now.astimezone(OFFICE_TZ).year
            rows = await self._rows(uow, kind, year=year, locale=actor.locale)
            shown = rows[-CHAT_ROW_LIMIT:]  # the newest, still oldest first
            names = _fact_fields(kind)
            await uow.outbox.add(
                chat_id=chat_id,
                kind="ap.register_file",
                staff_id=actor.staff_id,
                now=now,
                facts={
                    "kind": kind,
                    "format": fmt,
                    "year": year,
                    "total": len(rows),
                    "fields": names,
                    "rows": [[r.to_json()[n] for n in names] for r in shown],
                },
                priority=PRIORITY_INTERACTIVE,
            )
            # Reading a whole register is worth a line in the audit trail.
            await uow.audit.append(
                actor_id=actor.staff_id,
                action="approval.register_export",
                obj=f"register:{kind}",
                details={"year": year, "rows": len(shown), "format": fmt, "via": "chat"},
                now=now,
            )
            await uow.commit()
        logger.info("register %s %s sent to staff %s", kind, year, actor.staff_id)

    async def send_overdue(self, *, tg_id: int, chat_id: int) -> None:
        """``/overdue``: the 督办 list, grouped by department, for the office and admins."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.authorize(
                uow, tg_id, "approval.registers", default_locale=self._default_locale
            )
            groups = await self._overdue(uow, now=now, locale=actor.locale)
            total = sum(len(rows) for rows in groups.values())
            budget = OVERDUE_CHAT_LIMIT
            facts_groups = []
            for department, rows in groups.items():
                items = [overdue_item(r) for r in rows[: max(budget, 0)]]
                budget -= len(items)
                facts_groups.append({"department": department, "count": len(rows), "items": items})
            await uow.outbox.add(
                chat_id=chat_id,
                kind="ap.overdue_list",
                staff_id=actor.staff_id,
                now=now,
                facts={"groups": facts_groups, "total": total, "now": now.isoformat()},
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()


def overdue_item(row: RegisterRow) -> dict[str, Any]:
    """One overdue request as JSON facts (chat) or a CLI line."""
    return {
        "kind": row.kind,
        "number": row.number,
        "doc_no": row.doc_no or None,
        "title": row.title,
        "step": row.current_step,
        "holder": row.holder,
        "urgency": row.urgency,
        "due": row.due_at.isoformat() if row.due_at else None,
        "deadline": row.deadline.isoformat() if row.deadline else None,
    }


def _fact_fields(kind: str) -> list[str]:
    """What an outbox row carries of each RegisterRow: the columns, and what has no default."""
    shown = {name for name, _ in COLUMNS[kind]}
    return [
        f.name
        for f in fields(RegisterRow)
        if f.name in shown or (f.default is MISSING and f.default_factory is MISSING)
    ]


def rows_from_facts(facts: Mapping[str, Any]) -> list[RegisterRow]:
    """The rows of an ``ap.register_file`` outbox row."""
    names = list(facts.get("fields", []))
    return [
        RegisterRow.from_json(dict(zip(names, values, strict=False)))
        for values in facts.get("rows", [])
    ]


# --- building rows ---------------------------------------------------------------------------
class _Builder:
    """What rows of many requests need, read once: templates, people, departments, tasks."""

    def __init__(
        self,
        templates: Mapping[int, LoadedTemplate],
        people: Mapping[int, Staff],
        departments: Mapping[int, str],
        tasks: Mapping[int, list[ApprovalTask]],
        locale: str,
        by_employee_no: Mapping[str, Staff] | None = None,
    ) -> None:
        self.templates = templates
        self.by_employee_no = by_employee_no or {}
        self.people = people
        self.departments = departments
        self.tasks = tasks
        self.locale = "en" if locale == "en" else "zh_CN"
        self.tr: Translator = translator(self.locale)
        self._states: dict[int, InstanceState] = {}

    @classmethod
    async def load(
        cls,
        uow: UnitOfWork,
        catalog: TemplateCatalog,
        instances: Sequence[ApprovalInstance],
        locale: str,
    ) -> _Builder:
        templates: dict[int, LoadedTemplate] = {}
        people_ids: set[int] = set()
        for instance in instances:
            if instance.template_id not in templates:
                loaded = await catalog.get(uow, instance.template_id)
                if loaded is not None:
                    templates[instance.template_id] = loaded
            people_ids |= InstanceState.from_json(instance.state).people()
        tasks: dict[int, list[ApprovalTask]] = {}
        for task in await uow.approvals.open_tasks_of([i.id for i in instances if i.id]):
            tasks.setdefault(task.instance_id, []).append(task)
        people = await uow.people.many(people_ids)
        departments = await uow.people.department_names()
        chosen = await uow.people.by_employee_nos(_person_values(instances, templates))
        return cls(templates, people, departments, tasks, locale, chosen)

    def state(self, instance: ApprovalInstance) -> InstanceState:
        assert instance.id is not None
        found = self._states.get(instance.id)
        if found is None:
            found = self._states[instance.id] = InstanceState.from_json(instance.state)
        return found

    def name(self, staff_id: int | None) -> str:
        if staff_id is None:
            return ""
        staff = self.people.get(staff_id)
        return staff.name if staff else "?"

    def acting(self, by: int | None, on_behalf_of: int | None) -> str:
        """``B（代 A）`` for a delegated act, else the name."""
        if by is None:
            return ""
        if on_behalf_of and on_behalf_of != by:
            return self.tr.gettext(
                "{by} (for {name})", by=self.name(by), name=self.name(on_behalf_of)
            )
        return self.name(by)

    def department_of(self, staff_id: int) -> str:
        staff = self.people.get(staff_id)
        return self.departments.get(staff.department_id, "?") if staff else "?"

    def step_name(self, instance: ApprovalInstance, key: str) -> str:
        names = instance.form.get("names", {})
        text = names.get(key) or {"zh_CN": "加签", "en": "Added signers"}
        return str(text.get(self.locale) or key)

    def show(self, template: Template | None, key: str, value: object) -> str:
        """A form value as the register shows it: option labels, names joined, ISO dates."""
        fld = template.field(key) if template else None
        if value is None or value == "" or value == []:
            return ""
        if fld is not None and fld.type == FieldType.CHOICE:
            labels = {o.key: o.label.get(self.locale) for o in fld.options}
            picked = value if isinstance(value, list) else [value]
            return "、".join(labels.get(str(v), str(v)) for v in picked)
        if fld is not None and fld.type == FieldType.PERSON:
            staff = self.by_employee_no.get(str(value))
            return staff.name if staff else str(value)
        if fld is not None and fld.type == FieldType.ATTACHMENT and isinstance(value, list):
            return "、".join(str(f.get("name", "")) for f in value if isinstance(f, Mapping))
        if isinstance(value, Mapping) and "start" in value:  # a date range
            return f"{value.get('start')} – {value.get('end')}"
        if isinstance(value, list):
            return "、".join(str(v) for v in value)
        return str(value)

    def row(self, instance: ApprovalInstance) -> RegisterRow:
        assert instance.id is not None
        loaded = self.templates.get(instance.template_id)
        template = loaded.template if loaded else None
        values: Mapping[str, Any] = instance.form.get("values", {})
        state = self.state(instance)

        def text(key: str) -> str:
            return self.show(template, key, values.get(key))

        current = state.current_node()
        open_tasks = state.open_tasks()
        holders = dict.fromkeys(self.acting(t.assignee, t.on_behalf_of) for t in open_tasks)
        if state.status == InstanceStatus.RETURNED:
            holders = {self.name(instance.submitter_id): None}
        dues = [t.due_at for t in self.tasks.get(instance.id, []) if t.due_at is not None]
        approved = state.status == InstanceStatus.APPROVED
        finished_on = (
            instance.finished_at.astimezone(OFFICE_TZ).date()
            if approved and instance.finished_at
            else None
        )
        common: dict[str, Any] = {
            "kind": instance.kind,
            "instance_id": instance.id,
            "number": instance.number,
            "title": text("title"),
            "urgency": text("urgency"),
            "classification": text("classification"),
            "status": state.status.value,
            "status_label": self.tr.gettext(STATUS_LABELS.get(state.status.value, "?")),
            "current_step": self.step_name(instance, state.nodes[current].key)
            if current is not None
            else "",
            "holder": "、".join(h for h in holders if h),
            "registered_at": instance.created_at,
            "due_at": min(dues) if dues else None,
        }
        if instance.kind == INCOMING:
            return RegisterRow(
                **common,
                source_org=text("source_org"),
                source_doc_no=text("source_doc_no"),
                received_on=_day(values.get("received_at")),
                handling_department=text("handling_department"),
                deadline=_day(values.get("deadline")),
                supervisor=text("supervisor"),
                finished_on=_handled_on(state) or finished_on,
            )
        signer, signed_at = self.signature(state)
        return RegisterRow(
            **common,
            doc_no=instance.doc_no or "",
            doc_kind=text("doc_kind"),
            main_recipients=text("main_recipients"),
            cc_recipients=text("cc_recipients"),
            drafter=self.name(instance.submitter_id),
            drafting_department=self.departments.get(instance.department_id, "?"),
            co_departments=text("co_departments"),
            signer=signer,
            signed_at=signed_at,
            written_on=signed_at.astimezone(OFFICE_TZ).date() if signed_at else None,
            archived_on=finished_on,
        )

    def signature(self, state: InstanceState) -> tuple[str, datetime | None]:
        """签发人 and when: the 签发 node's approved slot (a return to before it clears it)."""
        signed = [
            slot
            for node in state.nodes
            if node.action == NodeAction.SIGN
            for slot in node.slots
            if slot.status == SlotStatus.APPROVED and slot.at
        ]
        if not signed:
            return "", None
        last = max(signed, key=lambda s: s.at or "")
        return self.acting(last.decided_by or last.approver, last.on_behalf_of), _time(last.at)

    def record(self, instance: ApprovalInstance, loaded: LoadedTemplate) -> InstanceRecord:
        assert instance.id is not None
        template = loaded.template
        state = self.state(instance)
        values: Mapping[str, Any] = instance.form.get("values", {})
        steps = tuple(
            StepRecord(
                key=node.key,
                name=self.step_name(instance, node.key),
                status=node.status.value,
                kind=node.kind.value,
                people=tuple(
                    StepPerson(
                        name=self.name(slot.approver),
                        status=slot.status.value,
                        decided_by=self.name(slot.decided_by)
                        if slot.decided_by and slot.decided_by != slot.approver
                        else None,
                        on_behalf_of=self.name(slot.on_behalf_of) if slot.on_behalf_of else None,
                        comment=slot.comment,
                        at=slot.at,
                    )
                    for slot in node.slots
                ),
            )
            for node in state.nodes
        )
        timeline = tuple(
            TimelineEntry(
                at=str(h.get("at", "")),
                move=str(h.get("move", "")),
                actor=self.name(h["by"]) if h.get("by") else None,
                on_behalf_of=self.name(h["for"]) if h.get("for") else None,
                step=self.step_name(instance, str(h["node"])) if h.get("node") else None,
                comment=h.get("comment"),
                people=tuple(self.name(int(p)) for p in h.get("people", [])),
            )
            for h in state.history
        )
        return InstanceRecord(
            instance_id=instance.id,
            number=instance.number,
            doc_no=instance.doc_no,
            kind=instance.kind,
            template_key=template.key,
            template_version=loaded.version,
            template_name=template.name.get(self.locale),
            submitter=self.name(instance.submitter_id),
            department=self.departments.get(instance.department_id, "?"),
            status=state.status.value,
            content_hash=instance.content_hash,
            created_at=instance.created_at,
            finished_at=instance.finished_at,
            fields=tuple(
                (f.label.get(self.locale), self.show(template, f.key, values.get(f.key)))
                for f in template.fields
            ),
            steps=steps,
            timeline=timeline,
        )


def _person_values(
    instances: Sequence[ApprovalInstance], templates: Mapping[int, LoadedTemplate]
) -> set[str]:
    """The employee numbers typed into PERSON fields (催办人 ...), to show their names."""
    found: set[str] = set()
    for instance in instances:
        loaded = templates.get(instance.template_id)
        values = instance.form.get("values", {})
        for fld in loaded.template.fields if loaded else ():
            if fld.type == FieldType.PERSON and isinstance(values.get(fld.key), str):
                found.add(values[fld.key])
    return found


def _handled_on(state: InstanceState) -> date | None:
    """办结日期: when the route's last 承办/办结 step passed (None while it has not)."""
    last = next((n for n in reversed(state.nodes) if n.action == NodeAction.HANDLE), None)
    if last is None or last.status != NodeStatus.PASSED:
        return None
    times = [s.at for s in last.slots if s.status in DECIDED and s.at]
    moment = _time(max(times)) if times else None
    return moment.astimezone(OFFICE_TZ).date() if moment else None


def _day(value: object) -> date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- exports ---------------------------------------------------------------------------------


def headers(kind: str, locale: str) -> list[str]:
    """The register's column headers in ``locale``."""
    tr = translator("en" if locale == "en" else "zh_CN")
    return [tr.gettext(label) for _, label in COLUMNS[kind]]


def _kind_of(rows: Sequence[RegisterRow], kind: str | None) -> str:
    if kind is None:
        if not rows:
            raise ValueError("an empty register needs its kind")
        kind = rows[0].kind
    if kind not in COLUMNS:
        raise ValueError(f"no register of kind {kind!r}")
    return kind


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(OFFICE_TZ).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return safe_cell(str(value))


def _xlsx_cell(value: object) -> object:
    if isinstance(value, datetime):  # Excel has no time zones: the office's wall-clock time
        return value.astimezone(OFFICE_TZ).replace(tzinfo=None)
    if isinstance(value, date):
        return value
    return _cell_text(value)


def to_csv(rows: Sequence[RegisterRow], locale: str, *, kind: str | None = None) -> bytes:
    """The register as CSV: UTF-8 with a BOM (Excel then reads the Chinese right), CRLF."""
    kind = _kind_of(rows, kind)
    names = [name for name, _ in COLUMNS[kind]]
    return csv_bytes(
        headers(kind, locale), ([_cell_text(getattr(row, n)) for n in names] for row in rows)
    )


def to_xlsx(
    rows: Sequence[RegisterRow], locale: str, *, kind: str | None = None, title: str | None = None
) -> bytes:
    """The register as an XLSX workbook: a bold, frozen header row, dates as dates, no formulas."""
    kind = _kind_of(rows, kind)
    tr = translator("en" if locale == "en" else "zh_CN")
    names = [name for name, _ in COLUMNS[kind]]
    return xlsx_bytes(
        headers(kind, locale),
        ([_xlsx_cell(getattr(row, n)) for n in names] for row in rows),
        title=title or tr.gettext(REGISTER_NAMES[kind]),
    )


def file_name(kind: str, year: int | None, fmt: str, locale: str) -> str:
    """``发文登记簿-2026.xlsx`` / ``Outgoing register-2026.csv``."""
    tr = translator("en" if locale == "en" else "zh_CN")
    name = tr.gettext(REGISTER_NAMES[kind])
    return f"{name}-{year}.{fmt}" if year else f"{name}.{fmt}"


def kind_label(kind: str, tr: Translator) -> str:
    """A template kind in words."""
    return tr.gettext(KIND_LABELS.get(kind, kind))


def move_label(move: str, tr: Translator) -> str:
    """A timeline move in words (unknown moves as their code)."""
    return tr.gettext(MOVE_LABELS[move]) if move in MOVE_LABELS else move


__all__ = [
    "COLUMNS",
    "INCOMING",
    "OUTGOING",
    "InstanceRecord",
    "RegisterRow",
    "RegisterService",
    "RequestNotFoundError",
    "TemplateInfo",
    "file_name",
    "headers",
    "rows_from_facts",
    "safe_cell",
    "to_csv",
    "to_xlsx",
]
