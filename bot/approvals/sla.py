"""Deadlines, reminders and escalation of approval tasks, on the working-day calendar.

A task's deadline is its node's SLA in working hours (statutory holidays and 调休 make-up days
counted), shorter for 加急 and 特急. An SLA's working day is eight hours, 09:00 to 17:00, so
16 hours are two working days: a task opened Friday 17:00 with Monday a holiday falls due
Wednesday 17:00. Reminders are durable due items written with the task: one before the
deadline, one at it, then one every ``repeat_hours``; once ``escalate_after`` reminders from the
deadline on have gone out (the one at the deadline counts) the approver's superior gets the task
too (the approver can still act; whoever acts first wins). Each due item re-reads the task, so a
done task is never nagged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, time

from bot.approvals.model import Sla, Template
from bot.calendar.domain import DAY_START, SHANGHAI, WorkCalendar
from bot.people.domain import Role
from bot.scheduling import Due
from storage.tables.messaging import PRIORITY_NOTIFY
from storage.uow import UnitOfWork

logger = logging.getLogger(__name__)

SLA_KIND = "ap.sla"
BEFORE, AT, AFTER = "before", "at", "after"
# The working day an SLA counts in: eight hours (the model's "8 per working day"), not the
# calendar's office hours, so whole days of hours end at the same time of day they started.
HOURS_PER_DAY = 8
SLA_DAY_START = DAY_START
SLA_DAY_END = time(DAY_START.hour + HOURS_PER_DAY, DAY_START.minute)

# Escalate task ``task_id`` now, in this unit of work; False when there is nobody to go to.
Escalate = Callable[[UnitOfWork, int, datetime], Awaitable[bool]]


def node_sla(template: Template, node_key: str) -> Sla | None:
    """The SLA of a node; a node added by 加签 ("key+n") keeps its origin's."""
    base = node_key.split("+", 1)[0]
    for node in template.route:
        if node.key == base:
            return node.sla
    return None


def allowed_hours(sla: Sla, urgency: int) -> int:
    """Working hours allowed: 特急 < 加急 < ordinary (reference §4 item 10)."""
    if urgency >= 2 and sla.most_urgent_hours is not None:
        return sla.most_urgent_hours
    if urgency >= 1 and sla.urgent_hours is not None:
        return sla.urgent_hours
    return sla.hours


def _after_hours(calendar: WorkCalendar, start: datetime, hours: float) -> datetime:
    return calendar.add_working_hours(
        start, hours, day_start=SLA_DAY_START, day_end=SLA_DAY_END, tz=SHANGHAI
    )


def deadline(calendar: WorkCalendar, sla: Sla, urgency: int, start: datetime) -> datetime:
    """When a task opened at ``start`` falls due."""
    return _after_hours(calendar, start, allowed_hours(sla, urgency))


async def schedule(
    uow: UnitOfWork,
    calendar: WorkCalendar,
    *,
    task_id: int,
    sla: Sla,
    urgency: int,
    now: datetime,
) -> datetime:
    """Write the task's reminders; its deadline."""
    hours = allowed_hours(sla, urgency)
    due_at = _after_hours(calendar, now, hours)
    await warn_unofficial_years(uow, calendar, now, due_at)
    if 0 < sla.remind_before_hours < hours:
        await uow.due.add(
            kind=SLA_KIND,
            ref_id=task_id,
            due_at=_after_hours(calendar, now, hours - sla.remind_before_hours),
            now=now,
            payload={"stage": BEFORE, "deadline": due_at.isoformat()},
            dedupe_key=f"{SLA_KIND}:{task_id}:before",
        )
    await uow.due.add(
        kind=SLA_KIND,
        ref_id=task_id,
        due_at=due_at,
        now=now,
        payload={"stage": AT, "deadline": due_at.isoformat(), "count": 1},
        dedupe_key=f"{SLA_KIND}:{task_id}:at",
    )
    return due_at


async def warn_unofficial_years(
    uow: UnitOfWork, calendar: WorkCalendar, start: datetime, end: datetime
) -> None:
    """A deadline in a year nobody loaded counts weekdays only: tell the admins, once a year."""
    # The calendar's years, not UTC's: 2026-12-31 20:00 UTC is already 2027 in Shanghai.
    years = calendar.unofficial_years(
        start.astimezone(SHANGHAI).date(), end.astimezone(SHANGHAI).date()
    )
    if not years:
        return
    admins = await uow.people.staff_with_role(Role.ADMIN)
    for year in sorted(years):
        logger.warning("no holiday schedule loaded for %s: counting weekdays only", year)
        for admin in admins:
            if admin.telegram_id is None or admin.id is None:
                continue
            await uow.outbox.add(
                chat_id=admin.telegram_id,
                kind="ap.calendar_missing",
                staff_id=admin.id,
                now=start,
                facts={"year": year},
                priority=PRIORITY_NOTIFY,
                dedupe_key=f"calendar.missing:{year}:{admin.id}",
            )


def _deadline_of(item: Due) -> datetime | None:
    raw = item.payload.get("deadline")
    try:
        return datetime.fromisoformat(str(raw)) if raw else None
    except ValueError:
        return None


async def on_due(
    item: Due,
    uow: UnitOfWork,
    now: datetime,
    *,
    calendar: Callable[[], Awaitable[WorkCalendar]],
    template_of: Callable[[UnitOfWork, int], Awaitable[Template | None]],
    escalate: Escalate,
) -> None:
    """A reminder fell due: remind, remind again later, or escalate; nothing for a done task."""
    if item.ref_id is None:
        return
    # First, before this unit of work touches the database: a cold cache loads the calendar
    # in a unit of work of its own, which must not wait for this one's connection (SQLite).
    cal = await calendar()
    task = await uow.approvals.task(item.ref_id)
    if task is None or task.id is None:
        return
    instance = await uow.approvals.instance(task.instance_id)
    if instance is None or instance.status != "running":
        return
    template = await template_of(uow, instance.template_id)
    sla = node_sla(template, task.node_key) if template is not None else None
    if sla is None:
        return
    stage = str(item.payload.get("stage", AT))
    count = int(item.payload.get("count", 0))
    due_by = _deadline_of(item)
    if task.status == "suspended":
        # Waiting for signers added before the approver: the task comes back open later
        # (same row), so keep its clock running instead of dropping the reminder.
        await uow.due.add(
            kind=SLA_KIND,
            ref_id=task.id,
            due_at=_after_hours(cal, now, max(1, sla.repeat_hours)),
            now=now,
            payload=dict(item.payload),
            dedupe_key=f"{SLA_KIND}:{task.id}:held:{item.id}",
        )
        return
    if task.status != "open":
        return  # decided, closed, or transferred since: the reminder is moot
    if stage == BEFORE and due_by is not None and now >= due_by:
        return  # run late (the bot was down, or the clock jumped): the one at the deadline says it
    # Once the allowed reminders have gone out, escalate; with nobody above, keep reminding.
    if stage != BEFORE and count > sla.escalate_after and await escalate(uow, task.id, now):
        logger.info("task %s escalated after %s reminders", task.id, count - 1)
        return
    assignee = await uow.people.get(task.assignee_id)
    if assignee is not None and assignee.telegram_id is not None:
        await uow.outbox.add(
            chat_id=assignee.telegram_id,
            kind="ap.reminder",
            staff_id=assignee.id,
            now=now,
            facts={
                "task_id": task.id,
                "number": instance.number,
                "stage": stage,
                "deadline": item.payload.get("deadline"),
                "urgency": instance.urgency,
            },
            priority=PRIORITY_NOTIFY,
            dedupe_key=f"ap.reminder:{task.id}:{stage}:{count}",
        )
    if stage == BEFORE:
        return
    again = _after_hours(cal, now, max(1, sla.repeat_hours))
    await warn_unofficial_years(uow, cal, now, again)
    await uow.due.add(
        kind=SLA_KIND,
        ref_id=task.id,
        due_at=again,
        now=now,
        payload={"stage": AFTER, "deadline": item.payload.get("deadline"), "count": count + 1},
        dedupe_key=f"{SLA_KIND}:{task.id}:after:{count + 1}",
    )
