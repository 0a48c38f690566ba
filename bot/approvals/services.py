"""Use cases of approvals: filling a form in chat, submitting, deciding, and the lists.

Each public method is one unit of work. A request's route state lives on its row and every
move is a compare-and-swap on the row's version, written together with the task index rows,
the cards (outbox rows with a card key, edited in place on every change) and the audit entry.
A move that loses the race is re-read and re-checked, so a second tap sees the new state.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from bot import access
from bot.access import Actor
from bot.approvals import engine, sla
from bot.approvals.catalog import LoadedTemplate, TemplateCatalog
from bot.approvals.conditions import evaluate
from bot.approvals.engine import (
    Context,
    InstanceState,
    InstanceStatus,
    NodeStatus,
    Outcome,
    SlotStatus,
    TaskStatus,
)
from bot.approvals.forms import FieldInputError, content_hash, diff, parse_answer
from bot.approvals.model import (
    ApproverSource,
    CcMoment,
    FieldType,
    FormField,
    NodeAction,
    NodeKind,
    Template,
    Text,
    WithdrawRule,
)
from bot.approvals.numbering_service import OFFICE_TZ, DocNumberService, assign_request_number
from bot.approvals.routing import EmptyRouteError, plan, resolve_people
from bot.calendar.services import CalendarService
from bot.errors import DomainError, PermissionDeniedError, StaleCardError
from bot.people.domain import Role
from bot.runtime import Runtime
from bot.scheduling import DueService
from storage.tables.approvals import ApprovalDraft, ApprovalInstance, ApprovalTask, Delegation
from storage.tables.messaging import PRIORITY_INTERACTIVE, PRIORITY_NOTIFY
from storage.tables.people import Staff
from storage.uow import UnitOfWork

logger = logging.getLogger(__name__)

APPLY_FLOW = "apply"  # filling a form: step = field key, or "summary"
REASON_FLOW = "ap.reason"  # typing the reason of a reject / return, or a 签发 opinion
URGE_COOLDOWN = timedelta(minutes=30)
REASON_TTL = timedelta(minutes=30)  # a reason, opinion or name prompt stops listening after
MAX_CAS_RETRIES = 5
# The buttons on a task card itself (the others are on the questions it leads to).
_CARD_BUTTONS = frozenset({"ok", "no", "ret", "tr", "add", "cmt"})
TODO_LIMIT = 20
MINE_LIMIT = 10
URGENCY_RANK = {"urgent": 1, "most_urgent": 2}  # 加急, 特急 (条例 第九条)
# Buttons whose move needs text first -> the flow step that waits for it.
PROMPTED: Mapping[str, str] = {
    "ok": "sign",  # only on a 签发 node: the opinion, then a confirmation
    "no": "reject",
    "ret": "return",
    "tr": "transfer",
    "addb": "add_before",
    "adda": "add_after",
    "addw": "add_with",
    "cmt": "comment",
}
COMMENTS_SHOWN = 5
MAX_DELEGATION_DAYS = 366


# --- errors the handlers map to messages ---------------------------------------------------
class TemplateUnavailableError(DomainError):
    """The template is not active, or the user's roles may not use it."""


class DraftGoneError(DomainError):
    """The draft was submitted, discarded or replaced."""


class EmptyApproverError(DomainError):
    """A node that must have an approver found none; the request was not sent."""

    def __init__(self, node: str) -> None:
        super().__init__(node)
        self.node = node


class UrgeTooSoonError(DomainError):
    """催办 again within the cool-down."""

    def __init__(self, minutes: int) -> None:
        super().__init__(minutes)
        self.minutes = minutes


class PersonNotFoundError(DomainError):
    """No active staff member (or no unique one) by that number or name."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class RevokeRefusedError(DomainError):
    """通过后撤销 is not allowed for this template, or its days have passed."""

    def __init__(self, instance_id: int) -> None:
        super().__init__(instance_id)
        self.instance_id = instance_id


class DelegationInputError(DomainError):
    """``/delegate`` needs WHO FROM TO, a delegate who is not oneself, and a future range."""


class _LostRaceError(Exception):
    """A compare-and-swap found the request moved on: read it again and re-check."""


class AlreadyHandledError(StaleCardError):
    """Someone else acted on this task first (或签 race, escalation, a second tap)."""

    def __init__(self, obj_id: int, by: str | None, at: str | None) -> None:
        super().__init__(obj_id)
        self.by = by
        self.at = at


# --- results ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pressed:
    """What a button press did, for its toast (kind + facts, rendered by handlers)."""

    toast: str
    facts: Mapping[str, Any] = field(default_factory=dict)


# --- the service -----------------------------------------------------------------------------
class ApprovalService:
    """Approvals from the form to the archive."""

    def __init__(
        self,
        rt: Runtime,
        *,
        catalog: TemplateCatalog,
        numbers: DocNumberService,
        calendar: CalendarService,
        default_locale: str,
    ) -> None:
        self._rt = rt
        self.catalog = catalog
        self._numbers = numbers
        self._calendar = calendar
        self._default_locale = default_locale

    def register_due(self, due: DueService) -> None:
        """Run this service's reminders and escalations from the due-item tick."""

        async def template_of(uow: UnitOfWork, row_id: int) -> Template | None:
            loaded = await self.catalog.get(uow, row_id)
            return loaded.template if loaded else None

        due.register(
            sla.SLA_KIND,
            partial(
                sla.on_due,
                calendar=self._calendar.calendar,
                template_of=template_of,
                escalate=self.escalate_in,
            ),
        )

    # -- who ------------------------------------------------------------------------------
    async def _actor(self, uow: UnitOfWork, tg_id: int) -> Actor:
        actor = await access.load_actor(uow, tg_id, default_locale=self._default_locale)
        access.require_action(actor, "approval.use")
        return actor

    # -- /apply -----------------------------------------------------------------------------
    async def _usable(self, uow: UnitOfWork, actor: Actor) -> list[LoadedTemplate]:
        return [
            t
            for t in await self.catalog.active(uow)
            # Everyone registered is staff, whatever else they are.
            if t.template.roles & (actor.roles | {"staff"}) or "admin" in actor.roles
        ]

    async def show_templates(self, *, tg_id: int, chat_id: int) -> None:
        """The templates this user may start."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            usable = await self._usable(uow, actor)
            await _reply(
                uow,
                actor,
                chat_id,
                "ap.templates",
                {"templates": [{"id": t.row_id, "name": _text(t.template.name)} for t in usable]},
                now=now,
            )
            await uow.commit()

    async def begin(self, *, tg_id: int, chat_id: int, template_id: int) -> None:
        """Start a new draft of a template and ask its first question."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            loaded = next(
                (t for t in await self._usable(uow, actor) if t.row_id == template_id), None
            )
            if loaded is None:
                raise TemplateUnavailableError()
            draft = await uow.approvals.add_draft(
                ApprovalDraft(
                    staff_id=actor.staff_id,
                    template_id=loaded.row_id,
                    values={},
                    created_at=now,
                    updated_at=now,
                )
            )
            first = loaded.template.fields[0]
            await self._ask(uow, actor, chat_id, draft, loaded.template, first, now=now)
            await uow.commit()

    async def _ask(
        self,
        uow: UnitOfWork,
        actor: Actor,
        chat_id: int,
        draft: ApprovalDraft,
        template: Template,
        fld: FormField,
        *,
        now: datetime,
        error: FieldInputError | None = None,
    ) -> None:
        assert draft.id is not None
        await uow.flows.put(
            actor.telegram_id,
            chat_id,
            flow=APPLY_FLOW,
            step=fld.key,
            data={"draft_id": draft.id},
            now=now,
        )
        index = [f.key for f in template.fields].index(fld.key)
        files = draft.values.get(fld.key) if fld.type == FieldType.ATTACHMENT else None
        await _reply(
            uow,
            actor,
            chat_id,
            "ap.ask",
            {
                "draft_id": draft.id,
                "version": draft.version,
                "field": _field_facts(fld),
                "index": index + 1,
                "total": len(template.fields),
                "template": _text(template.name),
                "error": None if error is None else {"code": error.code, **error.facts},
                "files": len(files) if isinstance(files, list) else 0,
            },
            now=now,
        )

    async def _flow_draft(
        self, uow: UnitOfWork, actor: Actor, chat_id: int
    ) -> tuple[ApprovalDraft, LoadedTemplate, str] | None:
        flow = await uow.flows.get(actor.telegram_id, chat_id)
        if flow is None or flow.flow != APPLY_FLOW:
            return None
        draft = await uow.approvals.draft(int(flow.data.get("draft_id", 0)))
        if draft is None or draft.staff_id != actor.staff_id:
            await uow.flows.clear(actor.telegram_id, chat_id)
            raise DraftGoneError()
        loaded = await self.catalog.get(uow, draft.template_id)
        if loaded is None:
            raise DraftGoneError()
        return draft, loaded, flow.step

    async def answer(
        self, *, tg_id: int, chat_id: int, text: str, reply_to: int | None = None
    ) -> bool:
        """A typed answer to the open question, a reason, or a reply to a card (a comment).

        False if nothing here wants the text.
        """
        async with self._rt.uow() as uow:
            flow = await uow.flows.get(tg_id, chat_id)
        if flow is None:
            if reply_to is not None:
                return await self.reply_to_card(
                    tg_id=tg_id, chat_id=chat_id, message_id=reply_to, text=text
                )
            return False
        if flow.flow == REASON_FLOW:
            if self._rt.clock() - flow.updated_at > REASON_TTL:
                # A prompt from long ago: this text is not the reason it asked for.
                return False
            await self._reason(tg_id=tg_id, chat_id=chat_id, text=text)
            return True
        if flow.flow != APPLY_FLOW:
            return False
        await self._fill(tg_id=tg_id, chat_id=chat_id, value_text=text)
        return True

    async def choose(self, *, tg_id: int, chat_id: int, draft_id: int, option: int) -> None:
        """A tapped option of the current CHOICE question (or "skip": option 0)."""
        await self._fill(tg_id=tg_id, chat_id=chat_id, option=option, draft_id=draft_id)

    async def files_done(self, *, tg_id: int, chat_id: int, draft_id: int) -> None:
        """The user finished sending attachments for the open question."""
        await self._fill(tg_id=tg_id, chat_id=chat_id, draft_id=draft_id)

    async def attach(
        self,
        *,
        tg_id: int,
        chat_id: int,
        file_id: str,
        file_unique_id: str,
        file_name: str | None,
        mime: str | None,
        size: int,
    ) -> bool:
        """A document or photo sent while an attachment question is open."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            found = await self._flow_draft(uow, actor, chat_id)
            if found is None:
                return False
            draft, loaded, step = found
            fld = loaded.template.field(step)
            if fld is None or fld.type != FieldType.ATTACHMENT:
                return False
            files = list(draft.values.get(fld.key) or [])
            from bot.approvals.forms import check_attachment

            try:
                check_attachment(
                    fld, file_name=file_name, mime=mime, size=size, count_so_far=len(files)
                )
            except FieldInputError as exc:
                await self._ask(
                    uow, actor, chat_id, draft, loaded.template, fld, now=now, error=exc
                )
                await uow.commit()
                return True
            files.append(
                {
                    "file_id": file_id,
                    "file_unique_id": file_unique_id,
                    "name": file_name or file_unique_id,
                    "mime": mime,
                    "size": size,
                    # Files added when a returned request is edited are a new version; the
                    # earlier ones stay (and stay downloadable).
                    "version": int(draft.values.get("_file_version", 1)),
                }
            )
            values = {**draft.values, fld.key: files}
            await self._save(uow, draft, values, now)
            draft.values, draft.version = values, draft.version + 1
            await self._ask(uow, actor, chat_id, draft, loaded.template, fld, now=now)
            await uow.commit()
            return True

    async def _save(
        self, uow: UnitOfWork, draft: ApprovalDraft, values: dict[str, Any], now: datetime
    ) -> None:
        assert draft.id is not None
        if not await uow.approvals.save_draft(
            draft.id, seen_version=draft.version, values=values, now=now
        ):
            raise DraftGoneError()

    async def _fill(
        self,
        *,
        tg_id: int,
        chat_id: int,
        value_text: str | None = None,
        option: int | None = None,
        draft_id: int | None = None,
    ) -> None:
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            found = await self._flow_draft(uow, actor, chat_id)
            if found is None or (draft_id is not None and found[0].id != draft_id):
                raise DraftGoneError()
            draft, loaded, step = found
            template = loaded.template
            fld = template.field(step)
            if fld is None:  # at the summary: typed text means nothing here
                await self._summary(uow, actor, chat_id, draft, template, now=now)
                await uow.commit()
                return
            try:
                value = await self._value(uow, fld, value_text, option, draft, now)
            except FieldInputError as exc:
                if exc.code == "classified":
                    # 秘密/机密/绝密 never travel through chat: drop the draft, keep nothing.
                    assert draft.id is not None
                    await uow.approvals.delete_draft(draft.id)
                    await uow.flows.clear(tg_id, chat_id)
                    await _reply(uow, actor, chat_id, "ap.classified", now=now)
                    await uow.audit.append(
                        actor_id=actor.staff_id,
                        action="approval.classified_refused",
                        obj=f"template:{loaded.row_id}",
                        details={},
                        now=now,
                    )
                    await uow.commit()
                    return
                await self._ask(uow, actor, chat_id, draft, template, fld, now=now, error=exc)
                await uow.commit()
                return
            values = dict(draft.values)
            if fld.type != FieldType.ATTACHMENT:
                values[fld.key] = value
            values.setdefault("_answered", [])
            if fld.key not in values["_answered"]:
                values["_answered"] = [*values["_answered"], fld.key]
            await self._save(uow, draft, values, now)
            draft.values, draft.version = values, draft.version + 1
            nxt = _next_field(template, values)
            if nxt is None:
                await self._summary(uow, actor, chat_id, draft, template, now=now)
            else:
                await self._ask(uow, actor, chat_id, draft, template, nxt, now=now)
            await uow.commit()

    async def _value(
        self,
        uow: UnitOfWork,
        fld: FormField,
        text: str | None,
        option: int | None,
        draft: ApprovalDraft,
        now: datetime,
    ) -> object:
        if fld.type == FieldType.ATTACHMENT:
            files = draft.values.get(fld.key) or []
            if text is not None:
                raise FieldInputError("attachment_expected")
            if fld.required and not files:
                raise FieldInputError("required")
            return files
        if option is not None:
            if option == 0:
                if fld.required:
                    raise FieldInputError("required")
                return None
            if fld.type != FieldType.CHOICE or not 1 <= option <= len(fld.options):
                raise FieldInputError("bad_choice")
            text = fld.options[option - 1].key
        departments: list[str] = []
        if fld.type == FieldType.DEPARTMENTS:
            departments = sorted((await uow.people.departments_by_name()).keys())
        return parse_answer(
            fld, text or "", departments=departments, today=now.astimezone(OFFICE_TZ).date()
        )

    async def _summary(
        self,
        uow: UnitOfWork,
        actor: Actor,
        chat_id: int,
        draft: ApprovalDraft,
        template: Template,
        *,
        now: datetime,
    ) -> None:
        assert draft.id is not None
        await uow.flows.put(
            actor.telegram_id,
            chat_id,
            flow=APPLY_FLOW,
            step="summary",
            data={"draft_id": draft.id},
            now=now,
        )
        submitter = await uow.people.get(actor.staff_id)
        assert submitter is not None
        values = _values(draft.values)
        problem: str | None = None
        route: list[dict[str, Any]] = []
        try:
            planned = await plan(uow, template, values, submitter)
            names = await _names(uow, [s.approver for n in planned.nodes for s in n.slots])
            route = [
                {
                    "name": planned.names.get(n.key, {"zh_CN": n.key, "en": n.key}),
                    "people": [names.get(s.approver, "?") for s in n.slots],
                    "kind": n.kind.value,
                    "rule": planned.rules.get(n.key),
                    "empty": n.empty,
                }
                for n in planned.nodes
            ]
        except EmptyRouteError as exc:
            problem = exc.node_key
        await _reply(
            uow,
            actor,
            chat_id,
            "ap.summary",
            {
                "draft_id": draft.id,
                "version": draft.version,
                "template": _text(template.name),
                "fields": _fields_view(template, values, all_fields=True),
                "route": route,
                "problem": problem,
                "resubmit": draft.instance_id is not None,
            },
            now=now,
        )

    async def edit_draft(self, *, tg_id: int, chat_id: int, draft_id: int, index: int) -> None:
        """Answer one question again (``index`` 1-based), then back to the summary."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            found = await self._flow_draft(uow, actor, chat_id)
            if found is None or found[0].id != draft_id:
                raise DraftGoneError()
            draft, loaded, _ = found
            fields = loaded.template.fields
            if index == 0:  # the list of questions to pick from
                await _reply(
                    uow,
                    actor,
                    chat_id,
                    "ap.edit_pick",
                    {
                        "draft_id": draft_id,
                        "fields": [_text(f.label) for f in fields],
                    },
                    now=now,
                )
            elif 1 <= index <= len(fields):
                await self._ask(
                    uow, actor, chat_id, draft, loaded.template, fields[index - 1], now=now
                )
            else:
                raise DraftGoneError()
            await uow.commit()

    async def discard(self, *, tg_id: int, chat_id: int, draft_id: int) -> None:
        """Cancel the form: the draft is deleted."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            draft = await uow.approvals.draft(draft_id)
            if draft is None or draft.staff_id != actor.staff_id:
                raise DraftGoneError()
            await uow.approvals.delete_draft(draft_id)
            await uow.flows.clear(tg_id, chat_id)
            await _reply(uow, actor, chat_id, "ap.discarded", now=now)
            await uow.commit()

    # -- submit -----------------------------------------------------------------------------
    async def submit(
        self,
        *,
        tg_id: int,
        chat_id: int,
        draft_id: int,
        version: int,
        from_return: bool = True,
    ) -> str:
        """Send the draft on the route its summary showed; the request number.

        A draft of a returned request resubmits it (``from_return``: continue at the node
        that returned it, else start over).
        """
        await self._calendar.calendar()  # warm: a transaction must not load it
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            draft = await uow.approvals.draft(draft_id)
            if draft is None or draft.staff_id != actor.staff_id or draft.version != version:
                raise DraftGoneError()
            loaded = await self.catalog.get(uow, draft.template_id)
            if loaded is None:
                raise DraftGoneError()
            template = loaded.template
            values = _values(draft.values)
            missing = _next_field(template, draft.values)
            if missing is not None:
                raise DraftGoneError()
            if draft.instance_id is not None:  # an edited returned request goes again
                instance, _, state = await self._own(uow, actor, draft.instance_id)
                await self._resubmit_in(
                    uow, actor, instance, loaded, state, values, from_return=from_return, now=now
                )
                await uow.approvals.delete_draft(draft_id)
                await uow.flows.clear(tg_id, chat_id)
                await uow.commit()
                return instance.number
            submitter = await uow.people.get(actor.staff_id)
            assert submitter is not None and submitter.id is not None
            try:
                planned = await plan(uow, template, values, submitter)
            except EmptyRouteError as exc:
                raise EmptyApproverError(exc.node_key) from exc
            number = await assign_request_number(uow, template.prefix, now)
            state = InstanceState(submitter=submitter.id, nodes=planned.nodes)
            ctx = await self._context(uow, now)
            outcome = engine.start(state, ctx)
            urgency = _urgency(template, values)
            instance = await uow.approvals.add_instance(
                ApprovalInstance(
                    number=number,
                    template_id=loaded.row_id,
                    template_key=template.key,
                    kind=template.kind.value,
                    submitter_id=submitter.id,
                    department_id=submitter.department_id,
                    status=outcome.state.status.value,
                    urgency=urgency,
                    form={"values": values, "names": planned.names, "rules": planned.rules},
                    state=outcome.state.to_json(),
                    content_hash=content_hash(values),
                    created_at=now,
                    updated_at=now,
                    finished_at=now if outcome.state.status in engine.FINISHED else None,
                )
            )
            await uow.approvals.delete_draft(draft_id)
            await uow.flows.clear(tg_id, chat_id)
            await uow.audit.append(
                actor_id=submitter.id,
                action="approval.submitted",
                obj=f"approval:{instance.id}",
                details={
                    "number": number,
                    "template": f"{template.key}@{loaded.version}",
                    "content_hash": instance.content_hash,
                    "route": [n.key for n in planned.nodes],
                    # Why a node went to the admins, passed by itself, ... (审批人为空).
                    "empty": {n.key: n.empty for n in planned.nodes if n.empty},
                },
                now=now,
            )
            await self._after(
                uow, instance, template, outcome, now=now, actor=actor, submitted=True
            )
            await uow.commit()
            return number

    async def _context(
        self,
        uow: UnitOfWork,
        now: datetime,
        *,
        template: Template | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> Context:
        """The delegations in force today (bounded, cycle-safe: A→B→A falls back to A).

        A delegate acts only on nodes whose rights they hold themselves (a 签发 needs a
        leader, a finance review a finance officer); elsewhere the approver keeps the task.
        """
        today = now.astimezone(OFFICE_TZ).date()
        direct = {d.staff_id: d.delegate_id for d in await uow.approvals.delegations_on(today)}
        resolved: dict[int, int] = {}
        for start in direct:
            seen = [start]
            cursor = start
            while cursor in direct and len(seen) <= 5:
                cursor = direct[cursor]
                if cursor in seen:
                    cursor = start  # a loop: nobody can act for anybody, keep the approver
                    break
                seen.append(cursor)
            if cursor != start:
                resolved[start] = cursor
        if not resolved:
            return Context(now=now.isoformat())
        roles = await uow.people.roles_by_staff(set(resolved.values()))

        def may_delegate(node: engine.NodeState, approver: int, delegate: int) -> bool:
            if template is None:
                return False
            return _may_act(template, values or {}, node.key, roles.get(delegate, set()))

        return Context(now=now.isoformat(), delegates=resolved, may_delegate=may_delegate)

    # -- after every move: task rows, cards, notices ------------------------------------------
    async def _after(
        self,
        uow: UnitOfWork,
        instance: ApprovalInstance,
        template: Template,
        outcome: Outcome,
        *,
        now: datetime,
        actor: Actor | None,
        changed_tasks: Sequence[int] = (),
        submitted: bool = False,
    ) -> None:
        assert instance.id is not None
        state = outcome.state
        rows = {t.n: t for t in await uow.approvals.tasks_of(instance.id)}
        touched: list[ApprovalTask] = []
        names = {k: v for k, v in instance.form.get("names", {}).items()}
        for task in state.tasks:
            row = rows.get(task.n)
            node_key = state.nodes[task.node].key if task.node < len(state.nodes) else "?"
            if row is None:
                row = await uow.approvals.add_task(
                    ApprovalTask(
                        instance_id=instance.id,
                        n=task.n,
                        assignee_id=task.assignee,
                        on_behalf_of=task.on_behalf_of,
                        node_key=node_key,
                        status=task.status.value,
                        version=task.version,
                        urgency=instance.urgency,
                        created_at=now,
                    )
                )
                node_sla = sla.node_sla(template, node_key)
                if task.status == TaskStatus.OPEN and node_sla is not None and row.id:
                    row.due_at = await sla.schedule(
                        uow,
                        await self._calendar.calendar_in(uow),
                        task_id=row.id,
                        sla=node_sla,
                        urgency=instance.urgency,
                        now=now,
                    )
                    await uow.approvals.update_task(row.id, due_at=row.due_at)
                touched.append(row)
            elif row.status != task.status.value or row.version != task.version:
                assert row.id is not None
                closed = task.status not in (TaskStatus.OPEN, TaskStatus.SUSPENDED)
                await uow.approvals.update_task(
                    row.id,
                    status=task.status.value,
                    version=task.version,
                    closed_at=now if closed else None,
                )
                row.status, row.version = task.status.value, task.version
                touched.append(row)
            elif task.n in changed_tasks or task.status == TaskStatus.OPEN:
                # Every open card shows the live chain: it is edited on every change too.
                touched.append(row)
        people = await uow.people.many(state.people())
        view = _instance_view(instance, template, state, names, people)
        # Every card that changed is edited in place; new tasks get a new card.
        for row in touched:
            await self._task_card(uow, row, state, view, people, now=now)
        await self._status_card(uow, instance, view, people, now=now)
        finished = any(e.name == "finished" for e in outcome.events)
        moments = frozenset(
            ([CcMoment.SUBMIT] if submitted else [])
            + ([CcMoment.FINISH] if finished and state.status == InstanceStatus.APPROVED else [])
        )
        await self._cc(uow, instance, template, view, moments=moments, now=now)
        for row in touched:
            # 代理: the approver is told that their task went to their delegate.
            original = people.get(row.on_behalf_of) if row.on_behalf_of else None
            delegate = people.get(row.assignee_id)
            if (
                original is not None
                and original.telegram_id is not None
                and row.status == "open"
                and row.id is not None
            ):
                await uow.outbox.add(
                    chat_id=original.telegram_id,
                    kind="ap.delegated_task",
                    staff_id=original.id,
                    now=now,
                    facts={
                        "number": instance.number,
                        "delegate": delegate.name if delegate else "?",
                    },
                    priority=PRIORITY_NOTIFY,
                    dedupe_key=f"ap.delegated:{row.id}",
                )
        if finished:
            submitter = people.get(instance.submitter_id)
            if submitter is not None and submitter.telegram_id is not None:
                await uow.outbox.add(
                    chat_id=submitter.telegram_id,
                    kind="ap.finished",
                    staff_id=submitter.id,
                    now=now,
                    facts=view,
                    priority=PRIORITY_NOTIFY,
                    dedupe_key=f"ap.finished:{instance.id}:{instance.version}",
                )

    async def _task_card(
        self,
        uow: UnitOfWork,
        row: ApprovalTask,
        state: InstanceState,
        view: Mapping[str, Any],
        people: Mapping[int, Staff],
        *,
        now: datetime,
    ) -> None:
        assignee = people.get(row.assignee_id)
        if assignee is None or assignee.telegram_id is None or row.id is None:
            return
        task = state.task(row.n)
        node = state.nodes[task.node]
        slot = state.slot_of(task)
        decided_by = people.get(slot.decided_by) if slot.decided_by else None
        await uow.outbox.add(
            chat_id=assignee.telegram_id,
            kind="ap.task",
            staff_id=assignee.id,
            now=now,
            card_key=f"task:{row.id}",
            facts={
                **view,
                "task": {
                    "id": row.id,
                    "version": task.version,
                    "status": task.status.value,
                    "node": task.node,
                    "action": node.action.value,
                    "kind": task.kind,
                    "rule": view["rules"].get(node.key) or node.rule,
                    "for": people[task.on_behalf_of].name
                    if task.on_behalf_of and task.on_behalf_of in people
                    else None,
                    "slot": slot.status.value,
                    "by": decided_by.name if decided_by else None,
                    "at": slot.at,
                },
            },
            priority=PRIORITY_NOTIFY,
        )

    async def _status_card(
        self,
        uow: UnitOfWork,
        instance: ApprovalInstance,
        view: Mapping[str, Any],
        people: Mapping[int, Staff],
        *,
        now: datetime,
    ) -> None:
        submitter = people.get(instance.submitter_id)
        if submitter is None or submitter.telegram_id is None or instance.id is None:
            return
        await uow.outbox.add(
            chat_id=submitter.telegram_id,
            kind="ap.status",
            staff_id=submitter.id,
            now=now,
            card_key=f"status:{instance.id}",
            facts=dict(view),
            priority=PRIORITY_NOTIFY,
        )

    # -- deciding ---------------------------------------------------------------------------
    async def _load_task(
        self, uow: UnitOfWork, actor: Actor, task_id: int, version: int
    ) -> tuple[ApprovalTask, ApprovalInstance, LoadedTemplate, InstanceState]:
        row = await uow.approvals.task(task_id)
        if row is None:
            raise PermissionDeniedError("approval.decide")
        instance = await uow.approvals.instance(row.instance_id)
        if instance is None:
            raise PermissionDeniedError("approval.decide")
        if row.assignee_id != actor.staff_id:
            # Someone else's task: the same answer whether or not it exists (ids can't be probed).
            logger.warning(
                "task %s pressed by staff %s who does not hold it", task_id, actor.staff_id
            )
            raise PermissionDeniedError("approval.decide", f"task:{task_id}")
        loaded = await self.catalog.get(uow, instance.template_id)
        if loaded is None:
            raise PermissionDeniedError("approval.decide")
        state = InstanceState.from_json(instance.state)
        task = state.task(row.n)
        if task.status != TaskStatus.OPEN or task.version != version:
            # Who settled it: this slot's decider, else whoever decided the node (或签).
            slot = state.slot_of(task)
            decider = slot if slot.decided_by is not None else None
            if decider is None:
                decider = next(
                    (s for s in state.nodes[task.node].slots if s.decided_by is not None), None
                )
            by = None
            if decider is not None and decider.decided_by != actor.staff_id:
                other = await uow.people.get(decider.decided_by or 0)
                by = other.name if other else None
            raise AlreadyHandledError(task_id, by, decider.at if decider else None)
        return row, instance, loaded, state

    async def press(
        self,
        *,
        tg_id: int,
        chat_id: int,
        action: str,
        task_id: int,
        version: int,
        message_id: int | None = None,
    ) -> Pressed:
        """A button on a task card (``message_id``: the message it was pressed on).

        Approve acts at once (a 签发 asks for the opinion and a confirmation first); reject,
        return, transfer, add-signer and comment ask for their text, which the next message
        gives. ``add`` first asks whether the added signers act before or after.
        """
        now = self._rt.clock()
        if action not in _CARD_BUTTONS:
            message_id = None  # pressed on a question the card led to, not on the card
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            row, instance, _, state = await self._load_task(uow, actor, task_id, version)
            node = state.nodes[state.task(row.n).node]
            missing = await self._missing_inputs(uow, instance, node.key)
            if action == "ok" and missing:
                await self._adopt_card(uow, task_id, chat_id, message_id, now=now)
                await self._ask_input(uow, actor, chat_id, row, instance, missing, {}, now=now)
                await uow.commit()
                return Pressed("ap.toast.type_reason")
            approve_now = action == "ok" and node.action != NodeAction.SIGN
        if approve_now:
            return await self._decide(
                tg_id=tg_id,
                task_id=task_id,
                version=version,
                move="approve",
                text=None,
                pressed_on=None if message_id is None else (chat_id, message_id),
            )
        earlier = [
            (i, n.key)
            for i, n in enumerate(state.nodes[: state.task(row.n).node])
            if n.status == NodeStatus.PASSED and n.slots
        ]
        async with self._rt.uow() as uow:
            await self._adopt_card(uow, task_id, chat_id, message_id, now=now)
            if action == "ret" and earlier:
                # 退回 to the submitter or to an earlier step: ask where first.
                await uow.flows.put(
                    tg_id,
                    chat_id,
                    flow=REASON_FLOW,
                    step="return_pick",
                    data={"task_id": task_id, "version": version},
                    now=now,
                )
                names = instance.form.get("names", {})
                await _reply(
                    uow,
                    actor,
                    chat_id,
                    "ap.return_where",
                    {
                        "task_id": task_id,
                        "number": instance.number,
                        "nodes": [
                            {"target": i + 1, "name": names.get(key, key)} for i, key in earlier
                        ],
                    },
                    now=now,
                )
                await uow.commit()
                return Pressed("ap.toast.choose")
            if action == "add":
                await _reply(
                    uow,
                    actor,
                    chat_id,
                    "ap.add_where",
                    {"task_id": task_id, "version": version, "number": instance.number},
                    now=now,
                )
                await uow.commit()
                return Pressed("ap.toast.choose")
            move = PROMPTED.get(action)
            if move is None:
                raise PermissionDeniedError("approval.decide")
            await uow.flows.put(
                tg_id,
                chat_id,
                flow=REASON_FLOW,
                step=move,
                data={"task_id": task_id, "version": version},
                now=now,
            )
            await _reply(
                uow,
                actor,
                chat_id,
                "ap.reason_prompt",
                {"move": move, "number": instance.number},
                now=now,
            )
            await uow.commit()
        return Pressed("ap.toast.type_reason", {"move": move})

    async def pick_return(self, *, tg_id: int, chat_id: int, task_id: int, target: int) -> Pressed:
        """Where a 退回 goes (0: the submitter, i + 1: node i); then the reason is asked."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            flow = await uow.flows.get(tg_id, chat_id)
            if (
                flow is None
                or flow.flow != REASON_FLOW
                or flow.step != "return_pick"
                or int(flow.data.get("task_id", 0)) != task_id
            ):
                raise StaleCardError(task_id)
            actor = await self._actor(uow, tg_id)
            version = int(flow.data.get("version", 0))
            _, instance, _, _ = await self._load_task(uow, actor, task_id, version)
            await uow.flows.put(
                tg_id,
                chat_id,
                flow=REASON_FLOW,
                step="return",
                data={"task_id": task_id, "version": version, "target": target - 1},
                now=now,
            )
            await _reply(
                uow,
                actor,
                chat_id,
                "ap.reason_prompt",
                {"move": "return" if target == 0 else "return_node", "number": instance.number},
                now=now,
            )
            await uow.commit()
        return Pressed("ap.toast.type_reason")

    async def _reason(self, *, tg_id: int, chat_id: int, text: str) -> None:
        now = self._rt.clock()
        async with self._rt.uow() as uow:  # read only: the move below commits once
            flow = await uow.flows.get(tg_id, chat_id)
        if flow is None or flow.flow != REASON_FLOW:
            return
        move = flow.step
        task_id = int(flow.data.get("task_id", 0))
        version = int(flow.data.get("version", 0))
        reason = text.strip()[:500]
        if move == "node_input":
            await self._node_input(tg_id=tg_id, chat_id=chat_id, flow_data=flow.data, text=text)
            return
        if move == "comment_on" and reason:
            instance_id = int(flow.data.get("instance_id", 0))
            await self.comment_on(
                tg_id=tg_id, chat_id=chat_id, instance_id=instance_id, text=reason
            )
            return
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            if not reason or move == "sign_confirm":
                # Nothing typed (or typing while the 签发 waits for its confirmation tap).
                await _reply(
                    uow,
                    actor,
                    chat_id,
                    "ap.reason_prompt",
                    {"move": "sign" if move == "sign_confirm" else move, "number": ""},
                    now=now,
                )
                await uow.commit()
                return
            if move == "sign":
                # 签发 records 意见 + 姓名 + full date; it needs a second, explicit tap.
                await uow.flows.put(
                    tg_id,
                    chat_id,
                    flow=REASON_FLOW,
                    step="sign_confirm",
                    data={"task_id": task_id, "version": version, "opinion": reason},
                    now=now,
                )
                await uow.outbox.add(
                    chat_id=chat_id,
                    kind="ap.sign_confirm",
                    staff_id=actor.staff_id,
                    now=now,
                    card_key=f"sign:{task_id}",
                    facts={
                        "task_id": task_id,
                        "version": version,
                        "opinion": reason,
                        "name": actor.name,
                        "at": now.isoformat(),
                    },
                    priority=PRIORITY_INTERACTIVE,
                )
                await uow.commit()
                return
        target = flow.data.get("target")
        await self._decide(
            tg_id=tg_id,
            task_id=task_id,
            version=version,
            move=move,
            text=reason,
            flow_chat=chat_id,
            target=int(target) if isinstance(target, int) and target >= 0 else None,
        )

    async def confirm_sign(
        self, *, tg_id: int, chat_id: int, task_id: int, version: int
    ) -> Pressed:
        """The second tap of a 签发: record it with the opinion typed before."""
        async with self._rt.uow() as uow:
            flow = await uow.flows.get(tg_id, chat_id)
            if (
                flow is None
                or flow.flow != REASON_FLOW
                or flow.step != "sign_confirm"
                or int(flow.data.get("task_id", 0)) != task_id
            ):
                raise StaleCardError(task_id)
            opinion = str(flow.data.get("opinion", ""))
        return await self._decide(
            tg_id=tg_id,
            task_id=task_id,
            version=version,
            move="approve",
            text=opinion,
            flow_chat=chat_id,
        )

    async def _decide(
        self,
        *,
        tg_id: int,
        task_id: int,
        version: int,
        move: str,
        text: str | None,
        flow_chat: int | None = None,
        inputs: Mapping[str, Any] | None = None,
        target: int | None = None,
        pressed_on: tuple[int, int] | None = None,
    ) -> Pressed:
        """One move, in the one unit of work of this update (it also ends a text flow).

        An update commits exactly once, so a typed reason whose task was taken meanwhile is
        answered here (flow ended, notice queued) instead of by raising after a commit.
        ``pressed_on``: (chat, message) of the card whose button made the move.
        """
        await self._calendar.calendar()  # warm: a transaction must not load it
        try:
            for _attempt in range(MAX_CAS_RETRIES):
                now = self._rt.clock()
                async with self._rt.uow() as uow:
                    actor = await self._actor(uow, tg_id)
                    row, instance, _, state = await self._load_task(uow, actor, task_id, version)
                    if flow_chat is not None:
                        await uow.flows.clear(tg_id, flow_chat)
                    if pressed_on is not None:
                        await self._adopt_card(uow, task_id, *pressed_on, now=now)
                    try:
                        return await self._decide_in(
                            uow,
                            actor,
                            row,
                            instance,
                            state,
                            move=move,
                            text=text,
                            now=now,
                            inputs=inputs,
                            target=target,
                        )
                    except _LostRaceError:
                        continue  # someone moved it meanwhile: read again, check again
            raise StaleCardError(task_id)
        except (StaleCardError, engine.TaskGoneError):
            if flow_chat is None:
                raise
        async with self._rt.uow() as uow:
            await uow.flows.clear(tg_id, flow_chat)
            staff = await uow.people.by_telegram_id(tg_id)
            await uow.outbox.add(
                chat_id=flow_chat,
                kind="error.notice",
                staff_id=staff.id if staff else None,
                now=self._rt.clock(),
                facts={"code": "already_handled"},
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()
        return Pressed("ap.toast.stale")

    @staticmethod
    async def _adopt_card(
        uow: UnitOfWork, task_id: int, chat_id: int, message_id: int | None, *, now: datetime
    ) -> None:
        """The card pressed is the one that shows what follows, even when a crash between
        sending a card and recording it left the approver a second copy."""
        if message_id is not None:
            await uow.outbox.adopt_card(
                f"task:{task_id}", chat_id=chat_id, message_id=message_id, now=now
            )

    async def _decide_in(
        self,
        uow: UnitOfWork,
        actor: Actor,
        row: ApprovalTask,
        instance: ApprovalInstance,
        state: InstanceState,
        *,
        move: str,
        text: str | None,
        now: datetime,
        inputs: Mapping[str, Any] | None = None,
        target: int | None = None,
    ) -> Pressed:
        """Apply one move to a loaded task and commit it (``_LostRaceError`` on a CAS miss)."""
        loaded = await self.catalog.get(uow, instance.template_id)
        if loaded is None:
            raise PermissionDeniedError("approval.decide")
        template = loaded.template
        values = instance.form.get("values", {})
        ctx = await self._context(uow, now, template=template, values=values)
        task = state.task(row.n)
        node = state.nodes[task.node]
        details: dict[str, Any] = {"task": row.n, "node": node.key, "comment": text}
        if move == "return":
            outcome = engine.return_to(
                state, row.n, actor=actor.staff_id, target=target, comment=text or "", ctx=ctx
            )
            details["to_node"] = state.nodes[target].key if target is not None else None
        elif move in ("approve", "reject"):
            outcome = engine.decide(
                state,
                row.n,
                actor=actor.staff_id,
                approve=move == "approve",
                comment=text,
                ctx=ctx,
            )
        elif move == "transfer":
            (target,) = await self._people_named(uow, text or "", limit=1)
            await self._check_may_hold(uow, template, values, node.key, target)
            outcome = engine.transfer(state, row.n, actor=actor.staff_id, to=target, ctx=ctx)
            details["to"] = target
        elif move == "add_with":
            people = await self._people_named(uow, text or "", limit=10)
            outcome = engine.add_alongside(
                state, row.n, actor=actor.staff_id, people=people, ctx=ctx
            )
            details["people"] = people
        elif move in ("add_before", "add_after"):
            people = await self._people_named(uow, text or "", limit=10)
            outcome = engine.add_signers(
                state,
                row.n,
                actor=actor.staff_id,
                people=people,
                before=move == "add_before",
                kind=NodeKind.ALL,
                ctx=ctx,
            )
            details["people"] = people
            if move == "add_after":
                # The added node has no name in the template: it is "加签 by <actor>".
                names = dict(instance.form.get("names", {}))
                added = outcome.state.nodes[task.node + 1].key
                names[added] = {
                    "zh_CN": f"加签（{actor.name}）",
                    "en": f"Added by {actor.name}",
                }
                instance.form = {**instance.form, "names": names}
        elif move == "comment":
            new_state = engine.comment(state, actor=actor.staff_id, text=text or "", ctx=ctx)
            outcome = Outcome(new_state, ())
        else:
            raise PermissionDeniedError("approval.decide")
        extra: dict[str, Any] = {}
        if move == "approve" and inputs:
            # What the approver filled at this node (批办: 办理时限, 催办人) joins the form.
            values = {**instance.form.get("values", {}), **inputs}
            instance.form = {**instance.form, "values": values}
            instance.content_hash = content_hash(values)
            extra["content_hash"] = instance.content_hash
            details["inputs"] = sorted(inputs)
        elif move == "approve" and await self._missing_inputs(uow, instance, node.key):
            raise StaleCardError(row.id or 0)  # a 特急 批办 without its deadline and owner
        if move in ("add_after", "approve") and (move == "add_after" or inputs):
            extra["form"] = instance.form
        if move == "approve" and node.action == NodeAction.NUMBER and instance.doc_no is None:
            # 编号 after 签发 (GB/T 9704 §7.2.5): the number is taken in this transaction,
            # so a rollback gives it back and a request returned before this consumes none.
            prefix = template.doc_prefix or template.prefix
            extra["doc_no"] = await self._numbers.assign(uow, prefix=prefix, now=now)
        assert instance.id is not None
        new_status = outcome.state.status
        if not await uow.approvals.save_instance(
            instance.id,
            seen_version=instance.version,
            state=outcome.state.to_json(),
            status=new_status.value,
            updated_at=now,
            finished_at=now if new_status in engine.FINISHED else None,
            **extra,
        ):
            await uow.rollback()
            raise _LostRaceError()
        instance.version += 1
        instance.status = new_status.value
        if "doc_no" in extra:
            instance.doc_no = extra["doc_no"]
            details["doc_no"] = extra["doc_no"]
        signed = node.action == NodeAction.SIGN and move == "approve"
        if signed and actor.telegram_id:
            # The confirmation card loses its button and says what was signed, and when.
            await uow.outbox.add(
                chat_id=actor.telegram_id,
                kind="ap.sign_confirm",
                staff_id=actor.staff_id,
                now=now,
                card_key=f"sign:{row.id}",
                facts={
                    "task_id": row.id,
                    "version": 0,
                    "opinion": text,
                    "name": actor.name,
                    "at": now.isoformat(),
                    "done": True,
                },
                priority=PRIORITY_INTERACTIVE,
            )
        await self._after(
            uow,
            instance,
            template,
            outcome,
            now=now,
            actor=actor,
            changed_tasks=[row.n] if move == "comment" else (),
        )
        # Last before the commit: appending locks the audit chain's head row until then
        # (PostgreSQL), so every other decision waits for as short a time as possible.
        await uow.audit.append(
            actor_id=actor.staff_id,
            on_behalf_of_id=task.on_behalf_of,
            action=f"approval.{'sign' if signed else move}",
            obj=f"approval:{instance.id}",
            details={**details, "content_hash": instance.content_hash},
            now=now,
        )
        await uow.commit()
        logger.info("task %s: %s by staff %s", row.id, move, actor.staff_id)
        return Pressed(f"ap.toast.{move}", {"doc_no": extra.get("doc_no")})

    async def _missing_inputs(
        self, uow: UnitOfWork, instance: ApprovalInstance, node_key: str
    ) -> list[str]:
        """Fields this node's approver must fill first (none unless ``inputs_when`` holds)."""
        loaded = await self.catalog.get(uow, instance.template_id)
        if loaded is None:
            return []
        template = loaded.template
        node = next((n for n in template.route if n.key == node_key.split("+", 1)[0]), None)
        if node is None or not node.inputs:
            return []
        values = instance.form.get("values", {})
        if not all(evaluate(c, values, template) for c in node.inputs_when):
            return []
        return [k for k in node.inputs if values.get(k) in (None, "", [])]

    async def _ask_input(
        self,
        uow: UnitOfWork,
        actor: Actor,
        chat_id: int,
        row: ApprovalTask,
        instance: ApprovalInstance,
        missing: Sequence[str],
        filled: Mapping[str, Any],
        *,
        now: datetime,
        error: FieldInputError | None = None,
    ) -> None:
        loaded = await self.catalog.get(uow, instance.template_id)
        assert loaded is not None
        fld = loaded.template.field(missing[0])
        assert fld is not None
        await uow.flows.put(
            actor.telegram_id,
            chat_id,
            flow=REASON_FLOW,
            step="node_input",
            data={
                "task_id": row.id,
                "version": row.version,
                "missing": list(missing),
                "filled": dict(filled),
            },
            now=now,
        )
        await _reply(
            uow,
            actor,
            chat_id,
            "ap.node_input",
            {
                "number": instance.number,
                "field": _field_facts(fld),
                "error": None if error is None else {"code": error.code, **error.facts},
            },
            now=now,
        )

    async def _node_input(
        self, *, tg_id: int, chat_id: int, flow_data: Mapping[str, Any], text: str
    ) -> None:
        """One answer to what a node asks before approving; approve once all are in."""
        now = self._rt.clock()
        task_id, version = int(flow_data.get("task_id", 0)), int(flow_data.get("version", 0))
        missing = [str(k) for k in flow_data.get("missing", [])]
        filled = dict(flow_data.get("filled", {}))
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            row, instance, loaded, _ = await self._load_task(uow, actor, task_id, version)
            fld = loaded.template.field(missing[0]) if missing else None
            if fld is None:
                raise StaleCardError(task_id)
            try:
                value = parse_answer(fld, text, today=now.astimezone(OFFICE_TZ).date())
                if value is None:
                    raise FieldInputError("required")
                if fld.type == FieldType.PERSON:
                    person = await uow.people.by_employee_no(str(value))
                    if person is None or not person.active:
                        raise FieldInputError("unknown_person")
            except FieldInputError as exc:
                await self._ask_input(
                    uow, actor, chat_id, row, instance, missing, filled, now=now, error=exc
                )
                await uow.commit()
                return
            filled[fld.key] = value
            rest = missing[1:]
            if rest:
                await self._ask_input(uow, actor, chat_id, row, instance, rest, filled, now=now)
                await uow.commit()
                return
        await self._decide(
            tg_id=tg_id,
            task_id=task_id,
            version=version,
            move="approve",
            text=None,
            flow_chat=chat_id,
            inputs=filled,
        )

    async def _people_named(self, uow: UnitOfWork, text: str, *, limit: int) -> list[int]:
        """Staff named by employee numbers or unique names, separated by 、,， or spaces."""
        words = [w for w in re.split(r"[\s,，、;；]+", text.strip()) if w]
        if not words or len(words) > limit:
            raise PersonNotFoundError(text[:40])
        found: list[int] = []
        for word in words:
            staff = await uow.people.by_employee_no(word)
            if staff is None or not staff.active:
                named = await uow.people.active_by_name(word)
                staff = named[0] if len(named) == 1 else None
            if staff is None or staff.id is None:
                raise PersonNotFoundError(word[:40])
            if staff.id not in found:
                found.append(staff.id)
        return found

    async def _check_may_hold(
        self,
        uow: UnitOfWork,
        template: Template,
        values: Mapping[str, Any],
        node_key: str,
        staff_id: int,
    ) -> None:
        """A transfer may not give a task to someone lacking the node's role (签发, finance)."""
        roles = (await uow.people.roles_by_staff([staff_id])).get(staff_id, set())
        if not _may_act(template, values, node_key, roles):
            raise PermissionDeniedError("approval.transfer")

    async def escalate_in(self, uow: UnitOfWork, task_id: int, now: datetime) -> bool:
        """The deadline passed: the holder's superior may act too (first action wins)."""
        row = await uow.approvals.task(task_id)
        if row is None or row.status != "open":
            return False
        instance = await uow.approvals.instance(row.instance_id)
        loaded = await self.catalog.get(uow, instance.template_id) if instance else None
        # A delegate's task escalates to the superior of the approver it belongs to.
        holder = await uow.people.get(row.on_behalf_of or row.assignee_id)
        if instance is None or loaded is None or holder is None or holder.superior_id is None:
            return False
        boss = await uow.people.get(holder.superior_id)
        if boss is None or boss.id is None or not boss.active or boss.id == instance.submitter_id:
            return False
        state = InstanceState.from_json(instance.state)
        try:
            ctx = await self._context(
                uow, now, template=loaded.template, values=instance.form.get("values", {})
            )
            outcome = engine.escalate(state, row.n, to=boss.id, ctx=ctx)
        except engine.EngineError:
            return False
        assert instance.id is not None
        if not await uow.approvals.save_instance(
            instance.id,
            seen_version=instance.version,
            state=outcome.state.to_json(),
            updated_at=now,
        ):
            return False  # a decision got there first: nothing to escalate
        instance.version += 1
        await uow.audit.append(
            actor_id=None,
            action="approval.escalate",
            obj=f"approval:{instance.id}",
            details={"task": row.n, "from": holder.id, "to": boss.id},
            now=now,
        )
        acting = holder if row.assignee_id == holder.id else await uow.people.get(row.assignee_id)
        if acting is not None and acting.telegram_id is not None:
            await uow.outbox.add(
                chat_id=acting.telegram_id,
                kind="ap.escalated",
                staff_id=acting.id,
                now=now,
                facts={"number": instance.number, "to": boss.name},
                priority=PRIORITY_NOTIFY,
            )
        await self._after(uow, instance, loaded.template, outcome, now=now, actor=None)
        return True

    # -- CC (抄送) ------------------------------------------------------------------------------
    async def _cc(
        self,
        uow: UnitOfWork,
        instance: ApprovalInstance,
        template: Template,
        view: Mapping[str, Any],
        *,
        moments: frozenset[CcMoment],
        now: datetime,
    ) -> None:
        """Add this moment's CC recipients, then refresh every CC card of the request."""
        assert instance.id is not None
        submitter = await uow.people.get(instance.submitter_id)
        if submitter is not None and moments:
            values = instance.form.get("values", {})
            for cc in template.cc:
                if cc.moment not in moments and cc.moment != CcMoment.BOTH:
                    continue
                for staff_id in await resolve_people(uow, cc.approvers, values, submitter):
                    if staff_id != instance.submitter_id:
                        await uow.approvals.add_cc(instance.id, staff_id, now=now)
        receipts = await uow.approvals.cc_of(instance.id)
        people = await uow.people.many(r.staff_id for r in receipts)
        for receipt in receipts:
            staff = people.get(receipt.staff_id)
            if staff is None or staff.telegram_id is None:
                continue
            await uow.outbox.add(
                chat_id=staff.telegram_id,
                kind="ap.cc",
                staff_id=staff.id,
                now=now,
                card_key=f"cc:{instance.id}:{staff.id}",
                facts={**view, "read": receipt.read_at is not None},
                priority=PRIORITY_NOTIFY,
            )

    async def read_cc(self, *, tg_id: int, instance_id: int) -> Pressed:
        """A CC recipient tapped 查看: 已读 is recorded once, and their card says so."""
        await self._calendar.calendar()  # warm: a transaction must not load it
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            instance = await uow.approvals.instance(instance_id)
            if instance is None or not await uow.approvals.mark_cc_read(
                instance_id, actor.staff_id, now=now
            ):
                if instance is not None and any(
                    r.staff_id == actor.staff_id for r in await uow.approvals.cc_of(instance_id)
                ):
                    return Pressed("ap.toast.read")  # read before: nothing more to record
                raise PermissionDeniedError("approval.cc", f"approval:{instance_id}")
            loaded = await self.catalog.get(uow, instance.template_id)
            assert loaded is not None
            await uow.audit.append(
                actor_id=actor.staff_id,
                action="approval.cc_read",
                obj=f"approval:{instance_id}",
                details={},
                now=now,
            )
            state = InstanceState.from_json(instance.state)
            people = await uow.people.many(state.people())
            view = _instance_view(
                instance, loaded.template, state, instance.form.get("names", {}), people
            )
            await self._cc(uow, instance, loaded.template, view, moments=frozenset(), now=now)
            await uow.commit()
        return Pressed("ap.toast.read")

    # -- comments (评论), from a card's button or as a reply to any card ------------------------
    async def comment_on(self, *, tg_id: int, chat_id: int, instance_id: int, text: str) -> None:
        """A comment on a request by anyone involved in it (submitter, approver, CC)."""
        await self._calendar.calendar()  # warm: a transaction must not load it
        now = self._rt.clock()
        body = text.strip()[:500]
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            instance = await uow.approvals.instance(instance_id)
            if instance is None or not body:
                raise PermissionDeniedError("approval.comment")
            tasks = await uow.approvals.tasks_of(instance_id)
            ccs = await uow.approvals.cc_of(instance_id)
            involved = (
                instance.submitter_id == actor.staff_id
                or any(t.assignee_id == actor.staff_id for t in tasks)
                or any(c.staff_id == actor.staff_id for c in ccs)
            )
            if not involved:
                raise PermissionDeniedError("approval.comment", f"approval:{instance_id}")
            loaded = await self.catalog.get(uow, instance.template_id)
            assert loaded is not None and instance.id is not None
            state = InstanceState.from_json(instance.state)
            new_state = engine.comment(
                state, actor=actor.staff_id, text=body, ctx=Context(now=now.isoformat())
            )
            if not await uow.approvals.save_instance(
                instance.id,
                seen_version=instance.version,
                state=new_state.to_json(),
                updated_at=now,
            ):
                raise StaleCardError(instance_id)
            instance.version += 1
            await uow.audit.append(
                actor_id=actor.staff_id,
                action="approval.comment",
                obj=f"approval:{instance.id}",
                details={"comment": body},
                now=now,
            )
            await uow.flows.clear(tg_id, chat_id)
            await self._after(
                uow,
                instance,
                loaded.template,
                Outcome(new_state, ()),
                now=now,
                actor=actor,
                changed_tasks=[t.n for t in new_state.open_tasks()],
            )
            await _reply(uow, actor, chat_id, "ap.commented", {"number": instance.number}, now=now)
            await uow.commit()

    async def reply_to_card(self, *, tg_id: int, chat_id: int, message_id: int, text: str) -> bool:
        """Text sent as a reply to one of our cards: a comment on that request."""
        async with self._rt.uow() as uow:
            key = await uow.outbox.card_at(chat_id, message_id)
            instance_id: int | None = None
            if key is not None:
                kind, _, rest = key.partition(":")
                if kind == "task":
                    row = await uow.approvals.task(int(rest))
                    instance_id = row.instance_id if row else None
                elif kind in ("status", "cc"):
                    instance_id = int(rest.split(":", 1)[0])
        if instance_id is None:
            return False
        await self.comment_on(tg_id=tg_id, chat_id=chat_id, instance_id=instance_id, text=text)
        return True

    async def ask_comment(self, *, tg_id: int, chat_id: int, instance_id: int) -> Pressed:
        """The 评论 button of a status or CC card: the next message is the comment."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            instance = await uow.approvals.instance(instance_id)
            if instance is None:
                raise PermissionDeniedError("approval.comment")
            await uow.flows.put(
                tg_id,
                chat_id,
                flow=REASON_FLOW,
                step="comment_on",
                data={"instance_id": instance_id},
                now=now,
            )
            await _reply(
                uow,
                actor,
                chat_id,
                "ap.reason_prompt",
                {"move": "comment", "number": instance.number},
                now=now,
            )
            await uow.commit()
        return Pressed("ap.toast.type_reason")

    # -- attachments ----------------------------------------------------------------------------
    async def send_files(self, *, tg_id: int, chat_id: int, instance_id: int) -> Pressed:
        """Send the request's attachments to someone who may see it (by Telegram file id)."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            instance = await uow.approvals.instance(instance_id)
            if instance is None or not await self._may_see(uow, actor, instance):
                raise PermissionDeniedError("approval.view", f"approval:{instance_id}")
            loaded = await self.catalog.get(uow, instance.template_id)
            assert loaded is not None
            values = instance.form.get("values", {})
            sent = 0
            for fld in loaded.template.fields:
                if fld.type != FieldType.ATTACHMENT:
                    continue
                for item in values.get(fld.key) or []:
                    await _reply(
                        uow,
                        actor,
                        chat_id,
                        "ap.file",
                        {
                            "file_id": item.get("file_id"),
                            "name": item.get("name"),
                            "version": item.get("version", 1),
                            "number": instance.number,
                            "label": _text(fld.label),
                        },
                        now=now,
                    )
                    sent += 1
            await uow.commit()
        return Pressed("ap.toast.files", {"count": sent})

    async def _may_see(self, uow: UnitOfWork, actor: Actor, instance: ApprovalInstance) -> bool:
        if instance.submitter_id == actor.staff_id or actor.roles & {"office", "admin"}:
            return True
        assert instance.id is not None
        if any(t.assignee_id == actor.staff_id for t in await uow.approvals.tasks_of(instance.id)):
            return True
        return any(c.staff_id == actor.staff_id for c in await uow.approvals.cc_of(instance.id))

    # -- delegation (代理) ------------------------------------------------------------------------
    async def delegate(self, *, tg_id: int, chat_id: int, args: Sequence[str]) -> None:
        """``/delegate WHO FROM TO`` sets a delegate; ``/delegate off`` ends mine; bare: show."""
        now = self._rt.clock()
        today = now.astimezone(OFFICE_TZ).date()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            facts: dict[str, Any]
            if not args:
                current = await uow.approvals.delegations_of(actor.staff_id)
                names = await _names(uow, [d.delegate_id for d in current])
                facts = {
                    "event": "list",
                    "items": [
                        {
                            "name": names.get(d.delegate_id, "?"),
                            "from": d.starts_on.isoformat(),
                            "to": d.ends_on.isoformat(),
                        }
                        for d in current
                        if d.ends_on >= today
                    ],
                }
            elif args[0].lower() in ("off", "取消", "结束"):
                ended = await uow.approvals.revoke_delegations(actor.staff_id, now=now)
                await uow.audit.append(
                    actor_id=actor.staff_id,
                    action="approval.delegation_ended",
                    obj=f"staff:{actor.staff_id}",
                    details={"count": ended},
                    now=now,
                )
                facts = {"event": "ended", "count": ended}
            else:
                if len(args) != 3:
                    raise DelegationInputError()
                (delegate_id,) = await self._people_named(uow, args[0], limit=1)
                start, end = _day(args[1], today), _day(args[2], today)
                if delegate_id == actor.staff_id or end < start or end < today:
                    raise DelegationInputError()
                if (end - start).days > MAX_DELEGATION_DAYS:
                    raise DelegationInputError()
                await uow.approvals.add_delegation(
                    Delegation(
                        staff_id=actor.staff_id,
                        delegate_id=delegate_id,
                        starts_on=start,
                        ends_on=end,
                        created_at=now,
                    )
                )
                delegate = await uow.people.get(delegate_id)
                await uow.audit.append(
                    actor_id=actor.staff_id,
                    action="approval.delegation_set",
                    obj=f"staff:{actor.staff_id}",
                    details={"delegate": delegate_id, "from": str(start), "to": str(end)},
                    now=now,
                )
                facts = {
                    "event": "set",
                    "name": delegate.name if delegate else "?",
                    "from": start.isoformat(),
                    "to": end.isoformat(),
                }
                if delegate is not None and delegate.telegram_id is not None:
                    await uow.outbox.add(
                        chat_id=delegate.telegram_id,
                        kind="ap.delegation_received",
                        staff_id=delegate.id,
                        now=now,
                        facts={"name": actor.name, "from": facts["from"], "to": facts["to"]},
                        priority=PRIORITY_NOTIFY,
                    )
            await _reply(uow, actor, chat_id, "ap.delegation", facts, now=now)
            await uow.commit()

    # -- the submitter's buttons --------------------------------------------------------------
    async def _own(
        self, uow: UnitOfWork, actor: Actor, instance_id: int
    ) -> tuple[ApprovalInstance, LoadedTemplate, InstanceState]:
        instance = await uow.approvals.instance(instance_id)
        if instance is None or instance.submitter_id != actor.staff_id:
            raise PermissionDeniedError("approval.own", f"approval:{instance_id}")
        loaded = await self.catalog.get(uow, instance.template_id)
        if loaded is None:
            raise PermissionDeniedError("approval.own")
        return instance, loaded, InstanceState.from_json(instance.state)

    async def withdraw(self, *, tg_id: int, instance_id: int, version: int) -> Pressed:
        """撤回 while nobody has decided (or as the template allows)."""
        await self._calendar.calendar()  # warm: a transaction must not load it
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            instance, loaded, state = await self._own(uow, actor, instance_id)
            if instance.version != version:
                raise StaleCardError(instance_id)
            rule = loaded.template.withdraw
            if rule == WithdrawRule.NEVER:
                raise engine.WithdrawRefusedError(instance_id)
            outcome = engine.withdraw(
                state,
                actor=actor.staff_id,
                any_time=rule == WithdrawRule.WHILE_RUNNING,
                ctx=Context(now=now.isoformat()),
            )
            await self._commit_move(uow, instance, loaded, outcome, actor, now, "withdraw", None)
        return Pressed("ap.toast.withdrawn")

    async def resubmit(
        self, *, tg_id: int, chat_id: int, instance_id: int, from_return: bool
    ) -> Pressed:
        """Send a returned request again unchanged: from the returning node, or the start."""
        await self._calendar.calendar()  # warm: a transaction must not load it
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            instance, loaded, state = await self._own(uow, actor, instance_id)
            values = _values(instance.form.get("values", {}))
            await self._resubmit_in(
                uow, actor, instance, loaded, state, values, from_return=from_return, now=now
            )
            await uow.commit()
        return Pressed("ap.toast.resubmitted")

    async def edit_returned(self, *, tg_id: int, chat_id: int, instance_id: int) -> None:
        """修改后重新提交: a draft holding the returned request's answers, at its summary."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            instance, loaded, state = await self._own(uow, actor, instance_id)
            if state.status != InstanceStatus.RETURNED:
                raise StaleCardError(instance_id)
            values = dict(instance.form.get("values", {}))
            values["_answered"] = [f.key for f in loaded.template.fields]
            values["_file_version"] = 1 + max(
                (
                    int(item.get("version", 1))
                    for f in loaded.template.fields
                    if f.type == FieldType.ATTACHMENT
                    for item in values.get(f.key) or []
                ),
                default=0,
            )
            draft = await uow.approvals.add_draft(
                ApprovalDraft(
                    staff_id=actor.staff_id,
                    template_id=instance.template_id,
                    instance_id=instance_id,
                    values=values,
                    created_at=now,
                    updated_at=now,
                )
            )
            await self._summary(uow, actor, chat_id, draft, loaded.template, now=now)
            await uow.commit()

    async def _resubmit_in(
        self,
        uow: UnitOfWork,
        actor: Actor,
        instance: ApprovalInstance,
        loaded: LoadedTemplate,
        state: InstanceState,
        values: dict[str, Any],
        *,
        from_return: bool,
        now: datetime,
    ) -> None:
        """Re-plan on the (possibly edited) answers and run again; tell who approved before.

        The route is evaluated again (an amount lowered below a threshold drops that node);
        a substantive change after 签发 sends the 签发 back to its original signer
        (条例 第二十五条: 原签批人复审), even when continuing from the returning node.
        """
        template = loaded.template
        if state.status != InstanceStatus.RETURNED:
            raise StaleCardError(instance.id or 0)
        submitter = await uow.people.get(actor.staff_id)
        assert submitter is not None and instance.id is not None
        old_values = instance.form.get("values", {})
        changed = diff(template, old_values, values)
        try:
            planned = await plan(uow, template, values, submitter)
        except EmptyRouteError as exc:
            raise EmptyApproverError(exc.node_key) from exc
        substantive = [k for k in changed if (f := template.field(k)) and f.substantive]
        redo: set[str] = set()
        signers: dict[str, int] = {}
        if substantive:
            for node in state.nodes:
                if node.action == NodeAction.SIGN and node.status == NodeStatus.PASSED:
                    redo.add(node.key)
                    signer = next((sl.decided_by for sl in node.slots if sl.decided_by), None)
                    if signer is not None:
                        signers[node.key] = signer
        review = {
            "zh_CN": "签发后实质性修改，由原签批人复审（条例 第二十五条）",
            "en": "Changed in substance after sign-off: the original signer reviews it",
        }
        for node in planned.nodes:
            if node.key in signers:
                node.slots = [engine.Slot(approver=signers[node.key])]
                node.rule = review["zh_CN"]
                planned.rules[node.key] = review
        keep = from_return and template.resubmit_from_return
        outcome = engine.resubmit(
            state,
            planned.nodes,
            actor=actor.staff_id,
            from_return=keep,
            redo=frozenset(redo),
            ctx=await self._context(uow, now, template=template, values=values),
        )
        instance.form = {
            "values": values,
            "names": {**instance.form.get("names", {}), **planned.names},
            "rules": {**instance.form.get("rules", {}), **planned.rules},
        }
        old_hash, instance.content_hash = instance.content_hash, content_hash(values)
        instance.urgency = _urgency(template, values)
        if not await uow.approvals.save_instance(
            instance.id,
            seen_version=instance.version,
            state=outcome.state.to_json(),
            status=outcome.state.status.value,
            updated_at=now,
            form=instance.form,
            content_hash=instance.content_hash,
            urgency=instance.urgency,
            finished_at=now if outcome.state.status in engine.FINISHED else None,
        ):
            raise StaleCardError(instance.id)
        instance.version += 1
        instance.status = outcome.state.status.value
        await uow.audit.append(
            actor_id=actor.staff_id,
            action="approval.resubmit",
            obj=f"approval:{instance.id}",
            details={
                "from_return": keep,
                "changed": changed,
                "previous_hash": old_hash,
                "content_hash": instance.content_hash,
                "signature_reset": sorted(redo),
            },
            now=now,
        )
        if changed:
            # Those who approved before see what changed (reference §4 item 5).
            approvers = {
                int(h["by"])
                for h in state.history
                if h.get("move") == "approve" and h.get("by") and h["by"] != actor.staff_id
            }
            labels = [_text(f.label) for k in changed if (f := template.field(k))]
            for staff in (await uow.people.many(approvers)).values():
                if staff.telegram_id is None:
                    continue
                await uow.outbox.add(
                    chat_id=staff.telegram_id,
                    kind="ap.changed",
                    staff_id=staff.id,
                    now=now,
                    facts={
                        "number": instance.number,
                        "template": _text(template.name),
                        "fields": labels,
                        "resign": bool(redo) and staff.id in signers.values(),
                    },
                    priority=PRIORITY_NOTIFY,
                )
        await self._after(uow, instance, template, outcome, now=now, actor=actor)

    async def revoke(self, *, tg_id: int, instance_id: int, version: int) -> Pressed:
        """通过后撤销 within the template's days; every approver is told."""
        await self._calendar.calendar()  # warm: a transaction must not load it
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            instance, loaded, state = await self._own(uow, actor, instance_id)
            days = loaded.template.revoke_days
            if (
                instance.version != version
                or days <= 0
                or instance.finished_at is None
                or now - instance.finished_at > timedelta(days=days)
            ):
                raise RevokeRefusedError(instance_id)
            outcome = engine.revoke(state, actor=actor.staff_id, ctx=Context(now=now.isoformat()))
            approvers = {
                int(h["by"]) for h in state.history if h.get("move") == "approve" and h.get("by")
            }
            for staff in (await uow.people.many(approvers)).values():
                if staff.telegram_id is not None:
                    await uow.outbox.add(
                        chat_id=staff.telegram_id,
                        kind="ap.revoked",
                        staff_id=staff.id,
                        now=now,
                        facts={
                            "number": instance.number,
                            "template": _text(loaded.template.name),
                            "by": actor.name,
                        },
                        priority=PRIORITY_NOTIFY,
                    )
            await self._commit_move(uow, instance, loaded, outcome, actor, now, "revoke", None)
        return Pressed("ap.toast.revoked")

    async def urge(self, *, tg_id: int, instance_id: int) -> Pressed:
        """催办: one nudge to whoever holds an open task, at most once per cool-down."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            instance, _, state = await self._own(uow, actor, instance_id)
            if state.status != InstanceStatus.RUNNING:
                raise StaleCardError(instance_id)
            if instance.last_urged_at is not None and now - instance.last_urged_at < URGE_COOLDOWN:
                left = URGE_COOLDOWN - (now - instance.last_urged_at)
                raise UrgeTooSoonError(max(1, int(left.total_seconds() // 60) + 1))
            assert instance.id is not None
            if not await uow.approvals.save_instance(
                instance.id, seen_version=instance.version, last_urged_at=now, updated_at=now
            ):
                raise StaleCardError(instance_id)
            holders = await uow.people.many(t.assignee for t in state.open_tasks())
            for staff in holders.values():
                if staff.telegram_id is None:
                    continue
                await uow.outbox.add(
                    chat_id=staff.telegram_id,
                    kind="ap.urged",
                    staff_id=staff.id,
                    now=now,
                    facts={"number": instance.number, "by": actor.name},
                    priority=PRIORITY_NOTIFY,
                )
            await uow.audit.append(
                actor_id=actor.staff_id,
                action="approval.urge",
                obj=f"approval:{instance.id}",
                details={"to": sorted(holders)},
                now=now,
            )
            await uow.commit()
        return Pressed("ap.toast.urged", {"count": len(holders)})

    async def _commit_move(
        self,
        uow: UnitOfWork,
        instance: ApprovalInstance,
        loaded: LoadedTemplate,
        outcome: Outcome,
        actor: Actor,
        now: datetime,
        move: str,
        details: Mapping[str, Any] | None,
        **values: Any,
    ) -> None:
        assert instance.id is not None
        status = outcome.state.status
        if not await uow.approvals.save_instance(
            instance.id,
            seen_version=instance.version,
            state=outcome.state.to_json(),
            status=status.value,
            updated_at=now,
            finished_at=now if status in engine.FINISHED else None,
            **values,
        ):
            raise StaleCardError(instance.id)
        instance.version += 1
        instance.status = status.value
        await uow.audit.append(
            actor_id=actor.staff_id,
            action=f"approval.{move}",
            obj=f"approval:{instance.id}",
            details={"content_hash": instance.content_hash, **(details or {})},
            now=now,
        )
        await self._after(uow, instance, loaded.template, outcome, now=now, actor=actor)
        await uow.commit()

    # -- lists ------------------------------------------------------------------------------
    async def todo(self, *, tg_id: int, chat_id: int) -> None:
        """What waits for me: 特急 first, then 加急, then oldest; with counts."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            rows = await uow.approvals.open_tasks_for(actor.staff_id, limit=TODO_LIMIT)
            counts = await uow.approvals.count_open_for(actor.staff_id)
            items = []
            for row in rows:
                instance = await uow.approvals.instance(row.instance_id)
                if instance is None:
                    continue
                loaded = await self.catalog.get(uow, instance.template_id)
                submitter = await uow.people.get(instance.submitter_id)
                items.append(
                    {
                        "task_id": row.id,
                        "number": instance.number,
                        "template": _text(loaded.template.name) if loaded else {},
                        "urgency": row.urgency,
                        "submitter": submitter.name if submitter else "?",
                        "since": row.created_at.isoformat(),
                        "summary": _fields_view(loaded.template, instance.form.get("values", {}))
                        if loaded
                        else [],
                    }
                )
            await _reply(
                uow,
                actor,
                chat_id,
                "ap.todo",
                {"items": items, "counts": {str(k): v for k, v in counts.items()}},
                now=now,
            )
            await uow.commit()

    async def reopen_card(self, *, tg_id: int, task_id: int) -> None:
        """Show a task's card again (from /todo): the same living card, re-sent at the bottom."""
        await self._calendar.calendar()  # warm: a transaction must not load it
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            row = await uow.approvals.task(task_id)
            if row is None or row.assignee_id != actor.staff_id:
                raise PermissionDeniedError("approval.decide")
            instance = await uow.approvals.instance(row.instance_id)
            loaded = await self.catalog.get(uow, instance.template_id) if instance else None
            if instance is None or loaded is None:
                raise PermissionDeniedError("approval.decide")
            state = InstanceState.from_json(instance.state)
            await uow.outbox.forget_card(f"task:{task_id}")
            outcome = Outcome(state, ())
            await self._after(
                uow,
                instance,
                loaded.template,
                outcome,
                now=now,
                actor=actor,
                changed_tasks=[row.n],
            )
            await uow.commit()

    async def mine(self, *, tg_id: int, chat_id: int) -> None:
        """My latest requests and where each is."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            items = []
            for instance in await uow.approvals.submitted_by(actor.staff_id, limit=MINE_LIMIT):
                loaded = await self.catalog.get(uow, instance.template_id)
                state = InstanceState.from_json(instance.state)
                current = state.current_node()
                names = instance.form.get("names", {})
                items.append(
                    {
                        "id": instance.id,
                        "number": instance.number,
                        "doc_no": instance.doc_no,
                        "template": _text(loaded.template.name) if loaded else {},
                        "status": instance.status,
                        "node": names.get(state.nodes[current].key)
                        if current is not None
                        else None,
                        "created": instance.created_at.isoformat(),
                    }
                )
            await _reply(uow, actor, chat_id, "ap.mine", {"items": items}, now=now)
            await uow.commit()

    async def find(self, *, tg_id: int, chat_id: int, number: str) -> None:
        """Look a request up by its number or 发文字号 (mine, my tasks, or the office's)."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            instance = await uow.approvals.by_number(number.strip())
            visible = instance is not None and (
                instance.submitter_id == actor.staff_id
                or "office" in actor.roles
                or "admin" in actor.roles
                or any(
                    t.assignee_id == actor.staff_id
                    for t in await uow.approvals.tasks_of(instance.id or 0)
                )
            )
            if instance is None or not visible:
                await _reply(uow, actor, chat_id, "ap.not_found", {"number": number[:60]}, now=now)
                await uow.commit()
                return
            loaded = await self.catalog.get(uow, instance.template_id)
            assert loaded is not None
            state = InstanceState.from_json(instance.state)
            people = await uow.people.many(state.people())
            view = _instance_view(
                instance, loaded.template, state, instance.form.get("names", {}), people
            )
            await _reply(uow, actor, chat_id, "ap.found", view, now=now)
            await uow.commit()


# --- pure helpers ------------------------------------------------------------------------------
async def _reply(
    uow: UnitOfWork,
    actor: Actor,
    chat_id: int,
    kind: str,
    facts: Mapping[str, Any] | None = None,
    *,
    now: datetime,
) -> None:
    """An interactive answer to the person acting, in their chat and language."""
    await uow.outbox.add(
        chat_id=chat_id,
        kind=kind,
        staff_id=actor.staff_id,
        now=now,
        facts=dict(facts or {}),
        priority=PRIORITY_INTERACTIVE,
    )


def _text(text: Any) -> dict[str, str]:
    return {"zh_CN": text.zh_CN, "en": text.en}


def _values(stored: Mapping[str, Any]) -> dict[str, Any]:
    """Form values without the bookkeeping keys (``_answered``)."""
    return {k: v for k, v in stored.items() if not k.startswith("_")}


def _next_field(template: Template, stored: Mapping[str, Any]) -> FormField | None:
    answered = set(stored.get("_answered", []))
    for fld in template.fields:
        if fld.key not in answered:
            return fld
    return None


def _urgency(template: Template, values: Mapping[str, Any]) -> int:
    if template.urgency_field is None:
        return 0
    return URGENCY_RANK.get(str(values.get(template.urgency_field)), 0)


def _field_facts(fld: FormField) -> dict[str, Any]:
    return {
        "key": fld.key,
        "type": fld.type.value,
        "label": _text(fld.label),
        "hint": _text(fld.hint) if fld.hint else None,
        "required": fld.required,
        "options": [_text(o.label) for o in fld.options],
        "multiple": fld.multiple,
    }


def _fields_view(
    template: Template, values: Mapping[str, Any], *, all_fields: bool = False
) -> list[dict[str, Any]]:
    keys = (
        [f.key for f in template.fields]
        if all_fields
        else list(template.summary_fields) or [f.key for f in template.fields[:3]]
    )
    out = []
    for key in keys:
        fld = template.field(key)
        if fld is None:
            continue
        value = values.get(key)
        shown: Any = value
        if fld.type == FieldType.CHOICE:
            labels = {o.key: _text(o.label) for o in fld.options}
            picked = value if isinstance(value, list) else [value] if value else []
            shown = [labels.get(str(v), {"zh_CN": str(v), "en": str(v)}) for v in picked]
        elif fld.type == FieldType.ATTACHMENT:
            shown = [
                f"{f.get('name', '')} (v{f['version']})"
                if int(f.get("version", 1)) > 1
                else str(f.get("name", ""))
                for f in value or []
                if isinstance(f, dict)
            ]
        out.append({"label": _text(fld.label), "type": fld.type.value, "value": shown})
    return out


def _may_act(
    template: Template, values: Mapping[str, Any], node_key: str, roles: set[str]
) -> bool:
    """Whether someone with ``roles`` may hold a task of this node (for delegation, transfer).

    A node found by role needs one of those roles; a 签发 needs a leader or the principal;
    a role the request requires here (上行文 → principal) is needed too. Nodes found by the
    org chart (superior, department head, a named person) carry no role of their own.
    """
    base = node_key.split("+", 1)[0]
    node = next((n for n in template.route if n.key == base), None)
    if node is None:  # an added-signer node: the person who added them chose them
        return True
    wanted = {a.role for a in node.approvers if a.source == ApproverSource.ROLE and a.role}
    if node.action == NodeAction.SIGN:
        wanted |= {Role.LEADER.value, Role.PRINCIPAL.value}
    if wanted and not wanted & roles:
        return False
    needed = {r for cond, r in node.require_role_when if evaluate(cond, values, template)}
    return needed <= roles


async def _names(uow: UnitOfWork, ids: Sequence[int]) -> dict[int, str]:
    return {i: s.name for i, s in (await uow.people.many(ids)).items()}


_NODE_MARK = {
    NodeStatus.PASSED: "passed",
    NodeStatus.ACTIVE: "active",
    NodeStatus.REJECTED: "rejected",
    NodeStatus.PENDING: "pending",
    NodeStatus.CANCELLED: "cancelled",
}


def _instance_view(
    instance: ApprovalInstance,
    template: Template,
    state: InstanceState,
    names: Mapping[str, Any],
    people: Mapping[int, Staff],
) -> dict[str, Any]:
    """Everything a card shows, as JSON facts (rendered per recipient's language)."""

    def name(staff_id: int | None) -> str | None:
        if staff_id is None:
            return None
        staff = people.get(staff_id)
        return staff.name if staff else "?"

    nodes = []
    for node in state.nodes:
        nodes.append(
            {
                "name": names.get(node.key) or {"zh_CN": "加签", "en": "Added signers"},
                "status": _NODE_MARK[node.status],
                "kind": node.kind.value,
                "rule": node.rule,
                "empty": node.empty,
                "people": [
                    {
                        "name": name(s.approver),
                        "status": s.status.value,
                        "by": name(s.decided_by) if s.decided_by != s.approver else None,
                        "for": name(s.on_behalf_of),
                        "comment": s.comment,
                        "at": s.at,
                        "note": s.note,
                    }
                    for s in node.slots
                ],
            }
        )
    comments = [
        {"by": name(h.get("by")), "text": h.get("comment"), "at": h["at"]}
        for h in state.history
        if h.get("move") == "comment"
    ][-COMMENTS_SHOWN:]
    returned = None
    if state.status == InstanceStatus.RETURNED:
        last = next((h for h in reversed(state.history) if h.get("move") == "return"), None)
        if last is not None:
            returned = {
                "by": name(last.get("by")),
                "comment": last.get("comment"),
                "at": last["at"],
            }
    return {
        "comments": comments,
        "returned": returned,
        "instance_id": instance.id,
        "version": instance.version,
        "number": instance.number,
        "doc_no": instance.doc_no,
        "template": _text(template.name),
        "submitter": name(instance.submitter_id),
        "status": state.status.value,
        "urgency": instance.urgency,
        "fields": _fields_view(template, instance.form.get("values", {})),
        "nodes": nodes,
        "rules": dict(instance.form.get("rules", {})),
        "withdrawable": state.status == InstanceStatus.RUNNING
        and (
            template.withdraw == WithdrawRule.WHILE_RUNNING
            or (
                template.withdraw == WithdrawRule.BEFORE_FIRST_DECISION
                and not state.human_decisions
            )
        ),
        "created": instance.created_at.isoformat(),
        "revocable": state.status == InstanceStatus.APPROVED and template.revoke_days > 0,
        "files": sum(
            len(instance.form.get("values", {}).get(f.key) or [])
            for f in template.fields
            if f.type == FieldType.ATTACHMENT
        ),
    }


__all__ = [
    "AlreadyHandledError",
    "ApprovalService",
    "DraftGoneError",
    "EmptyApproverError",
    "Pressed",
    "SlotStatus",
    "TemplateUnavailableError",
    "UrgeTooSoonError",
]


def _day(text: str, today: date) -> date:
    """A date typed in a command (2026-12-01, 12月1日 ...), as the forms read it."""
    field = FormField(key="day", type=FieldType.DATE, label=Text("日期", "date"))
    try:
        value = parse_answer(field, text, today=today)
    except FieldInputError as exc:
        raise DelegationInputError() from exc
    return date.fromisoformat(str(value))
