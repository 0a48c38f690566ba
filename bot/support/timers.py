"""The support desk's clocks at work: SLA warnings and breaches posted in the ticket's topic,
and the on-call escalation chain a breach starts.

Every timer is a durable due item, so a restart loses none:

* ``support.sla`` re-reads the ticket, fires the stages that are due (each once: the ticket
  keeps the keys of what it fired) and schedules itself for the next stage. Whatever may bring
  a deadline nearer (opening, a new message from the requester, a priority raised, the end of
  waiting) calls :func:`check_soon`; a deadline moved later is found by the next check.
* ``support.escalate`` moves a running escalation one level up unless it has ended: an
  acknowledgement, a claim, an answer to the requester, or the ticket no longer open.

Level 1 is whoever is on call at level 1 (every support agent when the roster is empty); level
2 and up, whoever is on call there (a level without anybody is skipped); when the chain runs
out of people, the administrators are paged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot import access
from bot.calendar.domain import WorkCalendar
from bot.errors import PermissionDeniedError
from bot.messaging.services import PRIORITY_INTERACTIVE
from bot.people.domain import Role
from bot.runtime import Runtime
from bot.scheduling import Due, DueService
from bot.support.sla import (
    BREACH,
    WARN,
    AroundTheClock,
    BusinessClock,
    Deadline,
    OfficeHours,
    Policy,
    TicketTimes,
    due_stages,
    next_check,
)
from bot.support.topic import OPEN, audit_ticket, in_topic, post_card, tell_staff
from storage.tables.people import Staff
from storage.tables.support import SupportEscalation, SupportTicket
from storage.uow import UnitOfWork

logger = logging.getLogger(__name__)

SLA_KIND = "support.sla"
ESCALATE_KIND = "support.escalate"
ESCALATE_AFTER = timedelta(minutes=5)  # GOVBOT_SUPPORT_ESCALATE_MINUTES
LEVELS = 3  # on-call agent, team lead, head of the desk


async def check_soon(uow: UnitOfWork, ticket_id: int, now: datetime) -> None:
    """The ticket changed in a way that may bring a deadline nearer: check its clocks now."""
    await uow.due.add(
        kind=SLA_KIND,
        ref_id=ticket_id,
        due_at=now,
        now=now,
        dedupe_key=f"{SLA_KIND}:{ticket_id}:{now.isoformat()}",
    )


async def _on_call(uow: UnitOfWork, level: int, now: datetime) -> list[Staff]:
    shifts = [s for s in await uow.support.on_call(now) if s.level == level]
    people: list[Staff] = []
    for shift in shifts:
        person = await uow.people.get(shift.staff_id)
        if person is not None and person.active and person not in people:
            people.append(person)
    if not people and level == 1:
        people = [p for p in await uow.people.staff_with_role(Role.SUPPORT.value)]
    return people


async def first_on_call(
    uow: UnitOfWork, now: datetime, *, from_level: int = 1
) -> tuple[int, list[Staff]]:
    """Who is paged now: the first level from ``from_level`` up with somebody on call (level
    1 without a shift: the support staff); past the last, the administrators (LEVELS + 1)."""
    level = from_level
    while level <= LEVELS:
        people = await _on_call(uow, level, now)
        if people:
            return level, people
        level += 1
    return LEVELS + 1, list(await uow.people.staff_with_role(Role.ADMIN.value))


def ticket_times(ticket: SupportTicket) -> TicketTimes:
    return TicketTimes(
        status=ticket.status,
        priority=ticket.priority,
        created_at=ticket.created_at,
        first_response_at=ticket.first_response_at,
        awaiting_since=ticket.awaiting_since,
        paused_for=timedelta(seconds=ticket.paused_seconds),
    )


class SlaService:
    """SLA checks and escalation runs (due items), and acknowledging a page."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        policy: Policy,
        calendar: Callable[[], Awaitable[WorkCalendar]],
        default_locale: str,
        escalate_after: timedelta = ESCALATE_AFTER,
    ) -> None:
        self._rt = runtime
        self.policy = policy
        self._calendar = calendar
        self._default_locale = default_locale
        self._escalate_after = escalate_after

    def register_due(self, due: DueService) -> None:
        due.register(SLA_KIND, self._on_check)
        due.register(ESCALATE_KIND, self._on_escalate)

    async def clocks(self) -> Callable[[str | None], BusinessClock]:
        """Which clock a category's tickets run on: office hours, or every minute.

        Call before the unit of work touches the database: a cold calendar cache loads in a
        unit of work of its own (SQLite has one connection)."""
        calendar = await self._calendar() if self.policy.office_categories else None

        def pick(category: str | None) -> BusinessClock:
            if calendar is not None and self.policy.keeps_office_hours(category):
                return OfficeHours(calendar)
            return AroundTheClock()

        return pick

    def deadlines(self, ticket: SupportTicket, clock: BusinessClock) -> list[Deadline]:
        return self.policy.deadlines(ticket_times(ticket), clock)

    def pause_values(
        self, ticket: SupportTicket, clock: BusinessClock, now: datetime
    ) -> dict[str, object]:
        """Leaving ``waiting``: the counted time spent waiting is added to the pause."""
        if ticket.paused_since is None:
            return {}
        waited = clock.between(ticket.paused_since, now)
        return {
            "paused_seconds": ticket.paused_seconds + int(waited.total_seconds()),
            "paused_since": None,
        }

    # --- the check ---------------------------------------------------------------------------
    async def _on_check(self, item: Due, uow: UnitOfWork, now: datetime) -> None:
        clock_of = await self.clocks()
        ticket = await uow.support.ticket(item.ref_id or 0)
        if ticket is None or ticket.id is None or ticket.status not in OPEN:
            return
        if ticket.unreachable:
            return  # nagging stops; becoming reachable again checks anew
        deadlines = self.deadlines(ticket, clock_of(ticket.category))
        fired = set(ticket.sla_fired or [])
        stages = due_stages(deadlines, fired, now)
        shown = [{"clock": d.clock, "due_at": d.due_at.isoformat()} for d in deadlines]
        values: dict[str, object] = {}
        if stages:
            current = {d.key(s) for d in deadlines for s in (WARN, BREACH)}
            values["sla_fired"] = sorted((fired & current) | {d.key(s) for d, s in stages})
        breach = next((d.clock for d, s in stages if s == BREACH), None)
        if breach is not None and ticket.breached_at is None:
            values["breached_at"] = now
        if shown != (ticket.sla_due or []):
            values["sla_due"] = shown
        if values:
            await uow.support.note_sla(ticket.id, **values)
        for deadline, stage in stages:
            await self._post_stage(uow, ticket, deadline, stage, now=now)
        if breach is not None:
            await self._start_escalation(uow, ticket, breach, now=now)
        if values and ticket.desk_chat_id is not None:
            await post_card(uow, ticket, now=now)  # its due times, or its breach
        upcoming = next_check(deadlines, now)
        if upcoming is not None:
            await uow.due.add(
                kind=SLA_KIND,
                ref_id=ticket.id,
                due_at=upcoming,
                now=now,
                dedupe_key=f"{SLA_KIND}:{ticket.id}:{upcoming.isoformat()}",
            )

    async def _post_stage(
        self,
        uow: UnitOfWork,
        ticket: SupportTicket,
        deadline: Deadline,
        stage: str,
        *,
        now: datetime,
    ) -> None:
        await in_topic(
            uow,
            ticket,
            "support.sla",
            {
                "number": ticket.number,
                "clock": deadline.clock,
                "stage": stage,
                "due_at": deadline.due_at.isoformat(),
                "priority": ticket.priority,
            },
            now=now,
            priority=PRIORITY_INTERACTIVE,
            dedupe_key=f"sla-post:{ticket.id}:{deadline.key(stage)}",
        )
        await audit_ticket(
            uow,
            None,
            "ticket.sla_" + stage,
            ticket.number,
            {"clock": deadline.clock, "due_at": deadline.due_at.isoformat()},
            now=now,
        )

    # --- escalation --------------------------------------------------------------------------
    async def _start_escalation(
        self, uow: UnitOfWork, ticket: SupportTicket, clock: str, *, now: datetime
    ) -> None:
        assert ticket.id is not None
        if await uow.support.running_escalation(ticket.id) is not None:
            return  # one chain at a time per ticket
        escalation = await uow.support.add_escalation(
            SupportEscalation(ticket_id=ticket.id, clock=clock, level=0, started_at=now)
        )
        await self._page_from(uow, ticket, escalation, 1, now=now)

    async def _page_from(
        self,
        uow: UnitOfWork,
        ticket: SupportTicket,
        escalation: SupportEscalation,
        level: int,
        *,
        now: datetime,
    ) -> None:
        """Page the first level from ``level`` up that has somebody on call; past the last,
        the administrators. Then wait for an acknowledgement before the next level."""
        assert ticket.id is not None and escalation.id is not None
        level, people = await first_on_call(uow, now, from_level=level)
        if not await uow.support.raise_escalation(escalation.id, level=level):
            return  # ended meanwhile
        facts = {
            "escalation_id": escalation.id,
            "ticket_id": ticket.id,
            "number": ticket.number,
            "subject": ticket.subject,
            "clock": escalation.clock,
            "level": level,
            "priority": ticket.priority,
        }
        await tell_staff(
            uow,
            people,
            "support.page",
            facts,
            ticket_id=ticket.id,
            now=now,
            dedupe=f"page:{escalation.id}:{level}",
        )
        names = [p.name for p in people]
        await in_topic(
            uow,
            ticket,
            "support.paged",
            {**facts, "names": names},
            now=now,
            priority=PRIORITY_INTERACTIVE,
            dedupe_key=f"paged:{escalation.id}:{level}",
        )
        await audit_ticket(
            uow,
            None,
            "ticket.escalate",
            ticket.number,
            {"level": level, "clock": escalation.clock, "to": names},
            now=now,
        )
        if level <= LEVELS:
            await uow.due.add(
                kind=ESCALATE_KIND,
                ref_id=escalation.id,
                due_at=now + self._escalate_after,
                now=now,
                payload={"level": level + 1},
                dedupe_key=f"{ESCALATE_KIND}:{escalation.id}:{level + 1}",
            )

    async def _on_escalate(self, item: Due, uow: UnitOfWork, now: datetime) -> None:
        escalation = await uow.support.escalation(item.ref_id or 0)
        if escalation is None or escalation.id is None or escalation.stopped_at is not None:
            return
        ticket = await uow.support.ticket(escalation.ticket_id)
        if ticket is None or ticket.status not in OPEN or ticket.unreachable:
            await uow.support.stop_escalation(escalation.id, reason="done", now=now)
            return
        await self._page_from(uow, ticket, escalation, int(item.payload.get("level", 2)), now=now)

    async def stop(
        self, uow: UnitOfWork, ticket: SupportTicket, reason: str, now: datetime
    ) -> None:
        """A claim, an answer or the end of the ticket ends its escalation (if one runs)."""
        assert ticket.id is not None
        running = await uow.support.running_escalation(ticket.id)
        if running is None or running.id is None:
            return
        if await uow.support.stop_escalation(running.id, reason=reason, now=now):
            await audit_ticket(
                uow,
                None,
                "ticket.escalation_end",
                ticket.number,
                {"reason": reason, "level": running.level},
                now=now,
            )

    async def acknowledge(self, *, tg_id: int, escalation_id: int) -> tuple[str, str]:
        """✋ Ack on a page: the chain stops here. (outcome, ticket number)."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.load_actor(uow, tg_id, default_locale=self._default_locale)
            if not (actor.has_role(Role.SUPPORT) or actor.has_role(Role.ADMIN)):
                raise PermissionDeniedError("support.work")
            escalation = await uow.support.escalation(escalation_id)
            ticket = await uow.support.ticket(escalation.ticket_id) if escalation else None
            if escalation is None or escalation.id is None or ticket is None or ticket.id is None:
                raise PermissionDeniedError("support.work", f"escalation:{escalation_id}")
            if escalation.stopped_at is not None:
                return ("ended", ticket.number)
            await uow.support.stop_escalation(
                escalation.id, reason="ack", now=now, acked_by=actor.staff_id
            )
            await audit_ticket(
                uow,
                actor.staff_id,
                "ticket.ack",
                ticket.number,
                {"level": escalation.level, "clock": escalation.clock},
                now=now,
            )
            await in_topic(
                uow,
                ticket,
                "support.acked",
                {"number": ticket.number, "name": actor.name},
                now=now,
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()
        return ("acked", ticket.number)
