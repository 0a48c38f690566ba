"""A mass send's rows: one per person, at broadcast priority, never twice to anyone."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from storage.tables.messaging import PRIORITY_BROADCAST
from storage.tables.people import Staff


def per_person(
    people: Iterable[Staff],
    *,
    kind: str,
    ref_id: int,
    facts: dict[str, Any],
    not_before: datetime | None = None,
    card: Callable[[int], str] | None = None,
) -> list[dict[str, Any]]:
    """Rows for ``OutboxRepo.add_many``: the same message to everyone on Telegram, each with
    a dedupe key ``kind:ref_id:staff_id`` (a restart or a second call queues nobody twice);
    ``card``: each person's living-card key from their staff id."""
    return [
        {
            "chat_id": person.telegram_id,
            "kind": kind,
            "staff_id": person.id,
            "facts": facts,
            "ref_id": ref_id,
            "priority": PRIORITY_BROADCAST,
            "dedupe_key": f"{kind}:{ref_id}:{person.id}",
            "not_before": not_before,
            "card_key": card(person.id) if card is not None else None,
        }
        for person in people
        if person.telegram_id is not None and person.id is not None
    ]
