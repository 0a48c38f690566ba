"""A mass send's progress, shown to its author as one living card.

Publishing a survey, an announcement or a quiz campaign queues one outbox row per person
(``ref_id`` the object's id); :func:`track` then gives the author a card that counts those
rows — delivered, failed, not reachable, still queued — with the rate so far and the time
left, redrawn every ``INTERVAL`` by a durable due item until none is queued. The counts come
from the outbox itself, so a restart in the middle neither loses the card nor miscounts: the
next drawing is simply the outbox as it is then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.messaging.services import PRIORITY_INTERACTIVE
from bot.runtime import Runtime
from bot.scheduling import Due, DueService
from storage.uow import UnitOfWork

KIND = "broadcast.progress"  # the due item and the outbox kind of the card
INTERVAL = timedelta(seconds=15)  # an edit every 15 s: far below a chat's one a second


@dataclass(frozen=True)
class Tally:
    """Where a mass send's rows are."""

    sent: int = 0
    failed: int = 0
    unreachable: int = 0
    uncertain: int = 0  # the process stopped mid-send: maybe delivered, not sent again
    queued: int = 0  # pending or being sent
    waits_until: datetime | None = None  # the earliest queued row's not_before, if later

    @property
    def total(self) -> int:
        return self.sent + self.failed + self.unreachable + self.uncertain + self.queued

    @property
    def done(self) -> bool:
        return self.queued == 0


def tally(counts: dict[str, int], waits_until: datetime | None = None) -> Tally:
    """A Tally from the outbox's count of rows per status."""
    return Tally(
        sent=counts.get("sent", 0),
        failed=counts.get("failed", 0),
        unreachable=counts.get("unreachable", 0),
        uncertain=counts.get("uncertain", 0),
        queued=sum(counts.get(status, 0) for status in ("pending", "inflight", "sending")),
        waits_until=waits_until,
    )


def card_key(kinds: Sequence[str], ref_id: int) -> str:
    return f"progress:{kinds[0]}:{ref_id}"


def card_facts(
    title: dict[str, str], counted: Tally, *, started: datetime, now: datetime
) -> dict[str, Any]:
    """What the card shows; the rate and the time left once something has gone out."""
    elapsed = max((now - started).total_seconds(), 0.0)
    finished = counted.sent + counted.failed + counted.unreachable + counted.uncertain
    rate = finished / elapsed if elapsed > 0 and finished else None
    return {
        "title": title,
        "total": counted.total,
        "sent": counted.sent,
        "failed": counted.failed,
        "unreachable": counted.unreachable,
        "uncertain": counted.uncertain,
        "queued": counted.queued,
        "done": counted.done,
        "rate": round(rate, 1) if rate else None,
        "eta_s": round(counted.queued / rate) if rate and counted.queued else None,
        "elapsed_s": round(elapsed),
        "waits_until": counted.waits_until.isoformat() if counted.waits_until else None,
    }


async def _count(uow: UnitOfWork, kinds: Sequence[str], ref_id: int, now: datetime) -> Tally:
    counts, waits_until = await uow.outbox.tally(kinds, ref_id, now=now)
    return tally(counts, waits_until)


async def track(
    uow: UnitOfWork,
    *,
    kinds: Sequence[str],
    ref_id: int,
    chat_id: int,
    staff_id: int | None,
    title: dict[str, str],
    now: datetime,
    interval: timedelta = INTERVAL,
) -> None:
    """Show the author of a mass send its progress, in the caller's unit of work (after the
    rows are queued, so the first drawing has the total)."""
    if not kinds:
        raise ValueError("track() needs the outbox kinds of the mass send")
    counted = await _count(uow, kinds, ref_id, now)
    key = card_key(kinds, ref_id)
    await uow.outbox.add(
        chat_id=chat_id,
        kind=KIND,
        staff_id=staff_id,
        now=now,
        facts=card_facts(title, counted, started=now, now=now),
        priority=PRIORITY_INTERACTIVE,
        card_key=key,
    )
    if counted.done:
        return
    await _again(
        uow,
        {
            "kinds": list(kinds),
            "chat_id": chat_id,
            "staff_id": staff_id,
            "title": title,
            "started": now.isoformat(),
            "interval_s": interval.total_seconds(),
            "round": 1,
        },
        ref_id,
        counted,
        now,
    )


async def _again(
    uow: UnitOfWork, payload: dict[str, Any], ref_id: int, counted: Tally, now: datetime
) -> None:
    due_at = now + timedelta(seconds=float(payload["interval_s"]))
    if counted.waits_until is not None and counted.waits_until > due_at:
        due_at = counted.waits_until  # nothing can go out before then (a survey that opens later)
    number = int(payload["round"])
    await uow.due.add(
        kind=KIND,
        ref_id=ref_id,
        due_at=due_at,
        now=now,
        payload={**payload, "round": number + 1},
        dedupe_key=f"{KIND}:{payload['kinds'][0]}:{ref_id}:{number}",
    )


class BroadcastProgress:
    """Redraws progress cards (the due items :func:`track` schedules)."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def register_due(self, due: DueService) -> None:
        due.register(KIND, self._on_due)

    async def _on_due(self, item: Due, uow: UnitOfWork, now: datetime) -> None:
        payload = item.payload
        kinds = [str(k) for k in payload.get("kinds", [])]
        if not kinds or item.ref_id is None:
            return
        counted = await _count(uow, kinds, item.ref_id, now)
        started = datetime.fromisoformat(str(payload["started"]))
        await uow.outbox.add(
            chat_id=int(payload["chat_id"]),
            kind=KIND,
            staff_id=payload.get("staff_id"),
            now=now,
            facts=card_facts(dict(payload["title"]), counted, started=started, now=now),
            priority=PRIORITY_INTERACTIVE,
            card_key=card_key(kinds, item.ref_id),
        )
        if not counted.done:
            await _again(uow, dict(payload), item.ref_id, counted, now)
