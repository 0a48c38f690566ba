"""What staff are shown for an entry: the facts of a ``faq.answer`` outbox message.

One shape for the real answer and the trainer's preview, so a preview is exactly what staff
will see (the renderer adds the 👍/👎 buttons only to a real answer).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.faq.content import EntryContent
from bot.messaging.services import PRIORITY_INTERACTIVE
from storage.uow import UnitOfWork


def answer_facts(
    content: EntryContent,
    *,
    entry_id: int,
    follow_ups: Mapping[str, tuple[int, str]],
    question_id: int | None,
    preview: bool = False,
) -> dict[str, Any]:
    """Facts for kind ``faq.answer``.

    ``follow_ups`` maps an entry key to (entry id, its question) for the follow-ups that are
    published; keys missing from it (unpublished, removed) get no button. ``question_id`` is
    the logged question the 👍/👎 buttons refer to (None for a preview).
    """
    buttons = [list(follow_ups[key]) for key in content.follow_ups if key in follow_ups]
    return {
        "entry_id": entry_id,
        "key": content.key,
        "question": content.question,
        "answer": content.answer,
        "category": content.category,
        "follow_ups": buttons,
        "attachments": [a.name for a in content.attachments],
        "question_id": question_id,
        "preview": preview,
    }


async def queue_attachments(
    uow: UnitOfWork, content: EntryContent, *, chat_id: int, staff_id: int, now: datetime
) -> None:
    """The entry's documents, each its own message after the answer (``faq.attachment``)."""
    for attachment in content.attachments:
        await uow.outbox.add(
            chat_id=chat_id,
            kind="faq.attachment",
            staff_id=staff_id,
            now=now,
            facts={"name": attachment.name, "file_id": attachment.file_id},
            priority=PRIORITY_INTERACTIVE,
        )
