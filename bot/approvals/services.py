"""Use cases of approvals: filling a form in chat, submitting, deciding, and the lists.

Each public method is one unit of work. A request's route state lives on its row and every
move is a compare-and-swap on the row's version, written together with the task index rows,
the cards (outbox rows with a card key, edited in place on every change) and the audit entry.
A move that loses the race is re-read and re-checked, so a second tap sees the new state.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot import access
from bot.access import Actor
from bot.approvals import engine
from bot.approvals.catalog import LoadedTemplate, TemplateCatalog
from bot.approvals.engine import (
    Context,
    InstanceState,
    InstanceStatus,
    NodeStatus,
    Outcome,
    SlotStatus,
    TaskStatus,
)
from bot.approvals.forms import FieldInputError, content_hash, parse_answer
from bot.approvals.model import FieldType, FormField, NodeAction, Template, WithdrawRule
from bot.approvals.numbering_service import OFFICE_TZ, DocNumberService
from bot.approvals.routing import EmptyRouteError, plan
from bot.errors import DomainError, PermissionDeniedError, StaleCardError
from bot.runtime import Runtime
from storage.tables.approvals import ApprovalDraft, ApprovalInstance, ApprovalTask
from storage.tables.messaging import PRIORITY_INTERACTIVE, PRIORITY_NOTIFY
from storage.tables.people import Staff
from storage.uow import UnitOfWork

logger = logging.getLogger(__name__)

APPLY_FLOW = "apply"  # filling a form: step = field key, or "summary"
REASON_FLOW = "ap.reason"  # typing the reason of a reject / return, or a 签发 opinion
URGE_COOLDOWN = timedelta(minutes=30)
MAX_CAS_RETRIES = 5
TODO_LIMIT = 20
MINE_LIMIT = 10
URGENCY_RANK = {"urgent": 1, "most_urgent": 2}  # 加急, 特急 (条例 第九条)


# --- errors the handlers map to messages ---------------------------------------------------
class TemplateUnavailableError(DomainError):
    """The template is not active, or the user's roles may not use it."""


class DraftGoneError(DomainError):
    """The draft was submitted, discarded or replaced."""


class ClassifiedRefusedError(DomainError):
    """A 秘密/机密/绝密 document: never accepted through chat."""


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
        default_locale: str,
    ) -> None:
        self._rt = rt
        self.catalog = catalog
        self._numbers = numbers
        self._default_locale = default_locale

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
            await uow.outbox.add(
                chat_id=chat_id,
                kind="ap.templates",
                staff_id=actor.staff_id,
                now=now,
                facts={
                    "templates": [{"id": t.row_id, "name": _text(t.template.name)} for t in usable]
                },
                priority=PRIORITY_INTERACTIVE,
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
        await uow.outbox.add(
            chat_id=chat_id,
            kind="ap.ask",
            staff_id=actor.staff_id,
            now=now,
            facts={
                "draft_id": draft.id,
                "version": draft.version,
                "field": _field_facts(fld),
                "index": index + 1,
                "total": len(template.fields),
                "template": _text(template.name),
                "error": None if error is None else {"code": error.code, **error.facts},
                "files": len(files) if isinstance(files, list) else 0,
            },
            priority=PRIORITY_INTERACTIVE,
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

    async def answer(self, *, tg_id: int, chat_id: int, text: str) -> bool:
        """A typed answer to the current question (or a reason); False if no flow wants it."""
        async with self._rt.uow() as uow:
            flow = await uow.flows.get(tg_id, chat_id)
        if flow is None:
            return False
        if flow.flow == REASON_FLOW:
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
                    await uow.outbox.add(
                        chat_id=chat_id,
                        kind="ap.classified",
                        staff_id=actor.staff_id,
                        now=now,
                        priority=PRIORITY_INTERACTIVE,
                    )
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
        await uow.outbox.add(
            chat_id=chat_id,
            kind="ap.summary",
            staff_id=actor.staff_id,
            now=now,
            facts={
                "draft_id": draft.id,
                "version": draft.version,
                "template": _text(template.name),
                "fields": _fields_view(template, values, all_fields=True),
                "route": route,
                "problem": problem,
            },
            priority=PRIORITY_INTERACTIVE,
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
                await uow.outbox.add(
                    chat_id=chat_id,
                    kind="ap.edit_pick",
                    staff_id=actor.staff_id,
                    now=now,
                    facts={
                        "draft_id": draft_id,
                        "fields": [_text(f.label) for f in fields],
                    },
                    priority=PRIORITY_INTERACTIVE,
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
            await uow.outbox.add(
                chat_id=chat_id,
                kind="ap.discarded",
                staff_id=actor.staff_id,
                now=now,
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()

    # -- submit -----------------------------------------------------------------------------
    async def submit(self, *, tg_id: int, chat_id: int, draft_id: int, version: int) -> str:
        """Send the draft on the route its summary showed; the request number."""
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
            submitter = await uow.people.get(actor.staff_id)
            assert submitter is not None and submitter.id is not None
            try:
                planned = await plan(uow, template, values, submitter)
            except EmptyRouteError as exc:
                raise EmptyApproverError(exc.node_key) from exc
            number = await self._request_number(uow, template.prefix, now)
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
                },
                now=now,
            )
            await self._after(uow, instance, template, outcome, now=now, actor=actor)
            await uow.commit()
            return number

    async def _request_number(self, uow: UnitOfWork, prefix: str, now: datetime) -> str:
        """``BX-20261201-0007``: per prefix and office-local day, gap-free like 发文字号."""
        local = now.astimezone(OFFICE_TZ)
        day = local.strftime("%Y%m%d")
        n = await uow.numbers.allocate(f"req:{prefix}:{day}", local.year, now=now)
        return f"{prefix}-{day}-{n:04d}"

    async def _context(self, uow: UnitOfWork, now: datetime) -> Context:
        """The delegations in force today (bounded, cycle-safe: A→B→A falls back to A)."""
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
        return Context(now=now.isoformat(), delegates=resolved)

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
            elif task.n in changed_tasks:
                touched.append(row)
        people = await uow.people.many(_involved(instance, state))
        view = _instance_view(instance, template, state, names, people)
        # Every card that changed is edited in place; new tasks get a new card.
        for row in touched:
            await self._task_card(uow, row, state, view, people, now=now)
        await self._status_card(uow, instance, view, people, now=now)
        if any(e.name == "finished" for e in outcome.events):
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
            slot = state.slot_of(task)
            by = None
            if slot.decided_by is not None and slot.decided_by != actor.staff_id:
                other = await uow.people.get(slot.decided_by)
                by = other.name if other else None
            raise AlreadyHandledError(task_id, by, slot.at)
        return row, instance, loaded, state

    async def press(
        self, *, tg_id: int, chat_id: int, action: str, task_id: int, version: int
    ) -> Pressed:
        """A decision button on a task card.

        Approve acts at once (a 签发 asks for the opinion and a confirmation first); reject
        and return ask for the reason, which the next text message gives.
        """
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            row, instance, _, state = await self._load_task(uow, actor, task_id, version)
            node = state.nodes[state.task(row.n).node]
        if action == "ok" and node.action != NodeAction.SIGN:
            return await self._decide(
                tg_id=tg_id, task_id=task_id, version=version, move="approve", text=None
            )
        move = {"ok": "sign", "no": "reject", "ret": "return"}.get(action)
        if move is None:
            raise PermissionDeniedError("approval.decide")
        async with self._rt.uow() as uow:
            await uow.flows.put(
                tg_id,
                chat_id,
                flow=REASON_FLOW,
                step=move,
                data={"task_id": task_id, "version": version},
                now=now,
            )
            await uow.outbox.add(
                chat_id=chat_id,
                kind="ap.reason_prompt",
                staff_id=actor.staff_id,
                now=now,
                facts={"move": move, "number": instance.number},
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()
        return Pressed("ap.toast.type_reason", {"move": move})

    async def _reason(self, *, tg_id: int, chat_id: int, text: str) -> None:
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            flow = await uow.flows.get(tg_id, chat_id)
            if flow is None or flow.flow != REASON_FLOW:
                return
            move = flow.step
            task_id = int(flow.data.get("task_id", 0))
            version = int(flow.data.get("version", 0))
            reason = text.strip()[:500]
            actor = await self._actor(uow, tg_id)
            if not reason:
                await uow.outbox.add(
                    chat_id=chat_id,
                    kind="ap.reason_prompt",
                    staff_id=actor.staff_id,
                    now=now,
                    facts={"move": move, "number": ""},
                    priority=PRIORITY_INTERACTIVE,
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
        if move in ("reject", "return"):
            await self._decide(
                tg_id=tg_id,
                task_id=task_id,
                version=version,
                move=move,
                text=reason,
                flow_chat=chat_id,
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
    ) -> Pressed:
        """One decision, in the one unit of work of this update (it also ends a reason flow).

        An update commits exactly once, so a typed reason whose task was taken meanwhile is
        answered here (flow ended, notice queued) instead of by raising after a commit.
        """
        try:
            return await self._decide_once(
                tg_id=tg_id,
                task_id=task_id,
                version=version,
                move=move,
                text=text,
                flow_chat=flow_chat,
            )
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

    async def _decide_once(
        self,
        *,
        tg_id: int,
        task_id: int,
        version: int,
        move: str,
        text: str | None,
        flow_chat: int | None,
    ) -> Pressed:
        for _attempt in range(MAX_CAS_RETRIES):
            now = self._rt.clock()
            async with self._rt.uow() as uow:
                actor = await self._actor(uow, tg_id)
                row, instance, loaded, state = await self._load_task(uow, actor, task_id, version)
                if flow_chat is not None:
                    await uow.flows.clear(tg_id, flow_chat)
                ctx = await self._context(uow, now)
                node = state.nodes[state.task(row.n).node]
                if move == "return":
                    outcome = engine.return_to(
                        state,
                        row.n,
                        actor=actor.staff_id,
                        target=None,
                        comment=text or "",
                        ctx=ctx,
                    )
                else:
                    outcome = engine.decide(
                        state,
                        row.n,
                        actor=actor.staff_id,
                        approve=move == "approve",
                        comment=text,
                        ctx=ctx,
                    )
                extra: dict[str, Any] = {}
                if (
                    move == "approve"
                    and node.action == NodeAction.NUMBER
                    and instance.doc_no is None
                ):
                    prefix = loaded.template.doc_prefix or loaded.template.prefix
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
                    continue  # someone moved it meanwhile: read again, check again
                instance.version += 1
                instance.status = new_status.value
                if "doc_no" in extra:
                    instance.doc_no = extra["doc_no"]
                on_behalf = state.task(row.n).on_behalf_of
                signed = node.action == NodeAction.SIGN and move == "approve"
                await uow.audit.append(
                    actor_id=actor.staff_id,
                    on_behalf_of_id=on_behalf,
                    action=f"approval.{'sign' if signed else move}",
                    obj=f"approval:{instance.id}",
                    details={
                        "task": row.n,
                        "node": node.key,
                        "comment": text,
                        "content_hash": instance.content_hash,
                        **({"doc_no": extra["doc_no"]} if "doc_no" in extra else {}),
                    },
                    now=now,
                )
                await self._after(uow, instance, loaded.template, outcome, now=now, actor=actor)
                await uow.commit()
                logger.info("task %s: %s by staff %s", task_id, move, actor.staff_id)
                return Pressed(f"ap.toast.{move}", {"doc_no": extra.get("doc_no")})
        raise StaleCardError(task_id)

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
        """Send a returned request again: from the returning node, or from the start."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            instance, loaded, state = await self._own(uow, actor, instance_id)
            submitter = await uow.people.get(actor.staff_id)
            assert submitter is not None
            values = _values(instance.form.get("values", {}))
            planned = await plan(uow, loaded.template, values, submitter)
            outcome = engine.resubmit(
                state,
                planned.nodes,
                actor=actor.staff_id,
                from_return=from_return and loaded.template.resubmit_from_return,
                ctx=await self._context(uow, now),
            )
            instance.form = {
                **instance.form,
                "names": {**instance.form.get("names", {}), **planned.names},
                "rules": {**instance.form.get("rules", {}), **planned.rules},
            }
            await self._commit_move(
                uow,
                instance,
                loaded,
                outcome,
                actor,
                now,
                "resubmit",
                {"from_return": from_return},
                form=instance.form,
            )
        return Pressed("ap.toast.resubmitted")

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
            await uow.outbox.add(
                chat_id=chat_id,
                kind="ap.todo",
                staff_id=actor.staff_id,
                now=now,
                facts={"items": items, "counts": {str(k): v for k, v in counts.items()}},
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()

    async def reopen_card(self, *, tg_id: int, task_id: int) -> None:
        """Show a task's card again (from /todo): the same living card, re-sent at the bottom."""
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
            await uow.outbox.add(
                chat_id=chat_id,
                kind="ap.mine",
                staff_id=actor.staff_id,
                now=now,
                facts={"items": items},
                priority=PRIORITY_INTERACTIVE,
            )
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
                await uow.outbox.add(
                    chat_id=chat_id,
                    kind="ap.not_found",
                    staff_id=actor.staff_id,
                    now=now,
                    facts={"number": number[:60]},
                    priority=PRIORITY_INTERACTIVE,
                )
                await uow.commit()
                return
            loaded = await self.catalog.get(uow, instance.template_id)
            assert loaded is not None
            state = InstanceState.from_json(instance.state)
            people = await uow.people.many(_involved(instance, state))
            view = _instance_view(
                instance, loaded.template, state, instance.form.get("names", {}), people
            )
            await uow.outbox.add(
                chat_id=chat_id,
                kind="ap.found",
                staff_id=actor.staff_id,
                now=now,
                facts=view,
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()


# --- pure helpers ------------------------------------------------------------------------------
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
            shown = [str(f.get("name", "")) for f in value or [] if isinstance(f, dict)]
        out.append({"label": _text(fld.label), "type": fld.type.value, "value": shown})
    return out


def _involved(instance: ApprovalInstance, state: InstanceState) -> set[int]:
    """Everyone a card of this request may name."""
    return (
        {instance.submitter_id}
        | {t.assignee for t in state.tasks}
        | {t.on_behalf_of for t in state.tasks if t.on_behalf_of}
        | {s.approver for n in state.nodes for s in n.slots}
        | {s.decided_by for n in state.nodes for s in n.slots if s.decided_by}
        | {int(h["by"]) for h in state.history if h.get("by")}
    )


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
    }


__all__ = [
    "AlreadyHandledError",
    "ApprovalService",
    "ClassifiedRefusedError",
    "DraftGoneError",
    "EmptyApproverError",
    "Pressed",
    "SlotStatus",
    "TemplateUnavailableError",
    "UrgeTooSoonError",
]
