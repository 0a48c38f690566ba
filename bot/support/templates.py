"""Canned replies for the desk: ``/t key`` in a ticket's topic sends the filled template to the
requester (bot/support/desk.py); the desk lead keeps them in chat (``/t set``, ``/t del``)."""

from __future__ import annotations

import re
from datetime import datetime

from bot import access
from bot.messaging.services import PRIORITY_INTERACTIVE
from bot.runtime import Runtime
from storage.uow import UnitOfWork

KEY = re.compile(r"[a-z0-9_]{1,40}")
MAX_BODY = 3000
# Placeholders, in Chinese and in English: filled with the ticket's requester and number.
PLACEHOLDERS = {
    "name": ("{姓名}", "{name}"),
    "number": ("{工单号}", "{number}"),
    "department": ("{部门}", "{department}"),
}


def fill_template(body: str, *, name: str, number: str, department: str) -> str:
    """The template with its placeholders filled (plain replacement: other braces stay)."""
    values = {"name": name, "number": number, "department": department}
    for field, marks in PLACEHOLDERS.items():
        for mark in marks:
            body = body.replace(mark, values[field])
    return body


class TemplateService:
    """Set and delete the desk's canned replies (the desk lead: ``support.templates``); each
    command is answered where it was given (a private chat, the group, or a ticket's topic)."""

    def __init__(self, runtime: Runtime, *, default_locale: str) -> None:
        self._rt = runtime
        self._default_locale = default_locale

    async def put(
        self, *, tg_id: int, chat_id: int, thread_id: int | None, key: str, body: str
    ) -> str:
        """Create or replace a template: created | replaced | bad_key | empty | too_long."""
        key, body = key.strip().lower(), body.strip()
        outcome = (
            "bad_key"
            if not KEY.fullmatch(key)
            else "empty"
            if not body
            else "too_long"
            if len(body) > MAX_BODY
            else None
        )
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.authorize(
                uow, tg_id, "support.templates", default_locale=self._default_locale
            )
            if outcome is None:
                existed = await uow.support.template(key) is not None
                await uow.support.put_template(key, body, staff_id=actor.staff_id, now=now)
                await uow.audit.append(
                    actor_id=actor.staff_id,
                    action="support.template.put",
                    obj=f"template:{key}",
                    details={"chars": len(body)},
                    now=now,
                )
                outcome = "replaced" if existed else "created"
            await self._answer(uow, actor, chat_id, thread_id, outcome, key, now=now)
            await uow.commit()
        return outcome

    async def delete(self, *, tg_id: int, chat_id: int, thread_id: int | None, key: str) -> str:
        """deleted | unknown."""
        key = key.strip().lower()
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.authorize(
                uow, tg_id, "support.templates", default_locale=self._default_locale
            )
            outcome = "deleted" if await uow.support.delete_template(key) else "unknown"
            if outcome == "deleted":
                await uow.audit.append(
                    actor_id=actor.staff_id,
                    action="support.template.delete",
                    obj=f"template:{key}",
                    details={},
                    now=now,
                )
            await self._answer(uow, actor, chat_id, thread_id, outcome, key, now=now)
            await uow.commit()
        return outcome

    async def _answer(
        self,
        uow: UnitOfWork,
        actor: access.Actor,
        chat_id: int,
        thread_id: int | None,
        outcome: str,
        key: str,
        *,
        now: datetime,
    ) -> None:
        topic = await uow.outbox.topic_at(chat_id, thread_id) if thread_id is not None else None
        private = chat_id == actor.telegram_id
        await uow.outbox.add(
            chat_id=chat_id,
            kind="support.template_result",
            staff_id=actor.staff_id if private else None,
            now=now,
            facts={"outcome": outcome, "key": key, "max": MAX_BODY},
            priority=PRIORITY_INTERACTIVE,
            topic_key=topic,
        )
