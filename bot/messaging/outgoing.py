"""What the sender hands a renderer: one queued message, with the recipient's locale resolved."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Outgoing:
    """A claimed outbox row, as a value (no ORM object crosses into handlers/)."""

    id: int
    chat_id: int
    kind: str
    locale: str
    facts: dict[str, Any] = field(default_factory=dict)
    staff_id: int | None = None
    ref_id: int | None = None
    priority: int = 5
    attempts: int = 1
    card_key: str | None = None  # a living card: sent once, then edited in place
    card_message_id: int | None = None  # the card's message, once it has been sent
    topic_key: str | None = None  # post into this forum topic ...
    topic_name: str | None = None  # ... named so, when it must be created
    thread_id: int | None = None  # ... which is this thread, once it exists

    @property
    def weight(self) -> int:
        """How many messages the row puts in its chat (a ``copyMessages`` of several counts
        each toward the group's limit); a row says so in its ``weight`` fact."""
        value = self.facts.get("weight", 1)
        return max(int(value), 1) if isinstance(value, int) else 1
