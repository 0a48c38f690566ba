"""Answering staff from the knowledge base: three bands, feedback, and a person when needed.

A question is searched (in the index's worker thread, outside any transaction), then one unit
of work logs it and queues the reply: the answer with 👍/👎 and its follow-ups when the top
hit is confident; "did you mean" with the top three when it is not sure; an honest "I don't
know yet" with a button to a person below that. Nothing is ever answered from below the
lower band. Every reply refers to the logged question, so feedback and "ask a person" act on
exactly what was asked and shown, and only the person who asked can use them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from bot import access
from bot.errors import BadCallbackError, PermissionDeniedError
from bot.faq.answers import answer_facts, queue_attachments
from bot.faq.content import EntryContent
from bot.faq.live import LiveIndex
from bot.messaging.services import PRIORITY_INTERACTIVE
from bot.runtime import Runtime
from bot.support.intake import Context, open_ticket
from bot.text import clean
from knowledge import Band, Decision, Thresholds, decide, normalise
from storage.tables.faq import FaqQuestion
from storage.uow import UnitOfWork

logger = logging.getLogger(__name__)

MAX_QUESTION = 1000  # characters searched and logged; a longer story is cut here
MIN_QUESTION = 2  # characters (after cleaning): "?" or "a" is not a question
FOLLOW = "follow"  # band of a follow-up opened from an answer's buttons
# Small talk is answered as such, not searched (and never handed to the desk as a question).
HELLO = frozenset(
    {"你好", "您好", "在吗", "在么", "在不在", "嗨", "哈喽", "早", "早上好", "上午好", "下午好",
     "晚上好", "hi", "hello", "hey", "hallo", "good morning", "good afternoon"}
)  # fmt: skip
THANKS = frozenset(
    {"谢谢", "谢谢你", "谢谢您", "多谢", "感谢", "好的谢谢", "好的", "收到", "明白了", "知道了",
     "ok", "okay", "thanks", "thank you", "thx", "got it"}
)  # fmt: skip
_NOT_WORDS = re.compile(r"[\W_]+")


def small_talk(text: str) -> str | None:
    """``hello`` or ``thanks`` when the whole message is one, else None."""
    words = _NOT_WORDS.sub(" ", normalise(text)).strip()
    if words in HELLO:
        return "hello"
    if words in THANKS:
        return "thanks"
    return None


@dataclass(frozen=True)
class Feedback:
    """What a 👍/👎 press did (for the toast)."""

    toast: str  # up | down | again


class FaqService:
    """The staff side of the knowledge base."""

    def __init__(
        self,
        rt: Runtime,
        live: LiveIndex,
        *,
        thresholds: Thresholds,
        default_locale: str,
        desk_chat_id: int | None,
    ) -> None:
        self._rt = rt
        self.live = live
        self._thresholds = thresholds
        self._default_locale = default_locale
        self._desk_chat_id = desk_chat_id

    def _asker(self, staff_id: int) -> str:
        return self._rt.keys.mac(str(staff_id).encode(), purpose="faq-asker")

    async def prompt(self, *, tg_id: int, chat_id: int) -> None:
        """The menu item: ask for a question, with a few examples of what can be asked."""
        await self.live.refresh()
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.authorize(
                uow, tg_id, "menu.knowledge", default_locale=self._default_locale
            )
            await uow.outbox.add(
                chat_id=chat_id,
                kind="faq.prompt",
                staff_id=actor.staff_id,
                now=now,
                facts={"entries": len(self.live)},
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()

    async def ask(self, *, tg_id: int, chat_id: int, text: str) -> None:
        """Answer, suggest or say "I don't know"; the question is logged either way."""
        question = clean(text)[:MAX_QUESTION]
        if len(question.replace(" ", "")) < MIN_QUESTION:
            await self._tell(tg_id, chat_id, "chat.unknown_text")
            return
        chat = small_talk(question)
        if chat is not None:
            await self._tell(tg_id, chat_id, "faq.small_talk", {"kind": chat})
            return
        result = await self.live.search(question)
        decision = decide(result, self._thresholds)
        top = result.top
        # "Did you mean" offers the runners-up only when they, too, are plausible.
        shown = [
            hit.entry_id
            for hit in decision.hits
            if hit is top or hit.confidence >= self._thresholds.lower
        ]
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.authorize(
                uow, tg_id, "menu.knowledge", default_locale=self._default_locale
            )
            contents = await self._contents(uow, shown)
            if any(key not in contents for key in shown):  # unpublished since the search
                decision = Decision(Band.UNKNOWN, ())
            logged = await uow.faq.add_question(
                FaqQuestion(
                    asked_at=now,
                    asker=self._asker(actor.staff_id),
                    locale=actor.locale,
                    text=question,
                    band=decision.band.value,
                    entry_key=top.entry_id if top is not None else None,
                    score=round(top.confidence, 4) if top is not None else 0.0,
                )
            )
            assert logged.id is not None
            if decision.band is Band.ANSWER:
                key = decision.hits[0].entry_id
                await self._queue_answer(uow, actor, chat_id, contents[key], logged.id)
                await queue_attachments(
                    uow, contents[key][1], chat_id=chat_id, staff_id=actor.staff_id, now=now
                )
            elif decision.band is Band.SUGGEST:
                await uow.outbox.add(
                    chat_id=chat_id,
                    kind="faq.suggest",
                    staff_id=actor.staff_id,
                    now=now,
                    facts={
                        "question_id": logged.id,
                        "options": [
                            [contents[key][0], contents[key][1].question] for key in shown
                        ],
                    },
                    priority=PRIORITY_INTERACTIVE,
                    card_key=f"faq:{logged.id}",
                )
            else:
                await uow.outbox.add(
                    chat_id=chat_id,
                    kind="faq.unknown",
                    staff_id=actor.staff_id,
                    now=now,
                    facts={"question_id": logged.id, "question": question},
                    priority=PRIORITY_INTERACTIVE,
                    card_key=f"faq:{logged.id}",
                )
            await uow.commit()
        logger.info(
            "faq question %s: %s (%s %.2f)",
            logged.id,
            decision.band.value,
            top.entry_id if top else "-",
            top.confidence if top else 0.0,
        )

    async def open_entry(
        self, *, tg_id: int, chat_id: int, entry_id: int, question_id: int
    ) -> None:
        """A suggestion or a follow-up was tapped: show that entry's answer.

        From "did you mean" (``question_id`` is the asker's question) the choice is recorded
        and the answer's feedback refers to that question; a follow-up (question 0 or another
        answer's question) is logged as a question of its own, so its 👍/👎 count for it.
        """
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.authorize(
                uow, tg_id, "menu.knowledge", default_locale=self._default_locale
            )
            entry = await uow.faq.entry(entry_id)
            rows = await uow.faq.published_of([entry.key]) if entry is not None else []
            if not rows:
                await uow.outbox.add(
                    chat_id=chat_id,
                    kind="faq.entry_gone",
                    staff_id=actor.staff_id,
                    now=now,
                    priority=PRIORITY_INTERACTIVE,
                )
                await uow.commit()
                return
            row, version = rows[0]
            content = EntryContent.from_json(version.content)
            asked = await uow.faq.question(question_id) if question_id else None
            mine = asked is not None and asked.asker == self._asker(actor.staff_id)
            if asked is not None and mine and asked.band == Band.SUGGEST.value:
                if asked.chosen is None:
                    asked.chosen = row.key
                    uow.session.add(asked)
                target = asked
            else:
                target = await uow.faq.add_question(
                    FaqQuestion(
                        asked_at=now,
                        asker=self._asker(actor.staff_id),
                        locale=actor.locale,
                        text=content.question,
                        band=FOLLOW,
                        entry_key=row.key,
                        score=1.0,
                    )
                )
            assert target.id is not None
            await self._queue_answer(uow, actor, chat_id, (int(row.id or 0), content), target.id)
            await queue_attachments(
                uow, content, chat_id=chat_id, staff_id=actor.staff_id, now=now
            )
            await uow.commit()

    async def feedback(self, *, tg_id: int, chat_id: int, question_id: int, up: bool) -> Feedback:
        """👍 or 👎 under an answer; the answer card then shows what was said (once)."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor, asked = await self._own_question(uow, tg_id, question_id)
            if asked.feedback is not None:
                await uow.commit()
                return Feedback("again")
            asked.feedback = "up" if up else "down"
            uow.session.add(asked)
            key = asked.chosen or asked.entry_key
            shown = await self._contents(uow, [key]) if key else {}
            if key in shown:
                await self._queue_answer(
                    uow,
                    actor,
                    chat_id,
                    shown[key],
                    question_id,
                    feedback=asked.feedback,
                    ticket=asked.ticket,
                )
            await uow.audit.append(
                actor_id=actor.staff_id,
                action="faq.feedback",
                obj=f"faq-question:{question_id}",
                details={"feedback": asked.feedback, "entry": key},
                now=now,
            )
            await uow.commit()
        return Feedback("up" if up else "down")

    async def hand_over(self, *, tg_id: int, chat_id: int, question_id: int) -> str:
        """Open a support ticket carrying the question, what was shown and its score.

        Pressed twice (or on two phones), it opens one ticket and names it again.
        """
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor, asked = await self._own_question(uow, tg_id, question_id)
            if asked.ticket is not None:
                await uow.outbox.add(
                    chat_id=chat_id,
                    kind="support.already_open",
                    staff_id=actor.staff_id,
                    now=now,
                    facts={"number": asked.ticket},
                    priority=PRIORITY_INTERACTIVE,
                )
                await uow.commit()
                return asked.ticket
            shown_key = asked.chosen or (
                asked.entry_key if asked.band in (Band.ANSWER.value, FOLLOW) else None
            )
            found = await self._contents(uow, [shown_key]) if shown_key else {}
            shown = found.get(shown_key) if shown_key else None
            shown_question = shown[1].question if shown is not None else None
            ticket = await open_ticket(
                uow,
                requester=actor,
                context=Context(
                    question=asked.text,
                    shown_key=shown_key,
                    shown_question=shown_question,
                    score=asked.score,
                    band=asked.band,
                ),
                source="faq",
                chat_id=chat_id,
                now=now,
                fallback_desk=self._desk_chat_id,
                desk_locale=self._default_locale,
                faq_question_id=question_id,
            )
            asked.ticket = ticket.number
            uow.session.add(asked)
            await self._show_handed_over(uow, actor, chat_id, asked, shown_key, shown)
            await uow.commit()
        return ticket.number

    async def _show_handed_over(
        self,
        uow: UnitOfWork,
        actor: access.Actor,
        chat_id: int,
        asked: FaqQuestion,
        shown_key: str | None,
        shown: tuple[int, EntryContent] | None,
    ) -> None:
        """The card the button was on now says which ticket carries the question."""
        assert asked.id is not None
        if asked.band == Band.UNKNOWN.value or shown_key is None:
            await uow.outbox.add(
                chat_id=chat_id,
                kind="faq.unknown",
                staff_id=actor.staff_id,
                now=self._rt.clock(),
                facts={"question_id": asked.id, "question": asked.text, "ticket": asked.ticket},
                priority=PRIORITY_INTERACTIVE,
                card_key=f"faq:{asked.id}",
            )
            return
        if shown is not None:
            await self._queue_answer(
                uow,
                actor,
                chat_id,
                shown,
                asked.id,
                feedback=asked.feedback,
                ticket=asked.ticket,
            )

    # --- helpers ---------------------------------------------------------------------------
    async def _own_question(
        self, uow: UnitOfWork, tg_id: int, question_id: int
    ) -> tuple[access.Actor, FaqQuestion]:
        actor = await access.authorize(
            uow, tg_id, "menu.knowledge", default_locale=self._default_locale
        )
        asked = await uow.faq.question(question_id)
        if asked is None:  # a question id we never gave this button
            raise BadCallbackError()
        if asked.asker != self._asker(actor.staff_id):
            raise PermissionDeniedError("faq.question")
        return actor, asked

    async def _contents(
        self, uow: UnitOfWork, keys: list[str]
    ) -> dict[str, tuple[int, EntryContent]]:
        if not keys:
            return {}
        rows = await uow.faq.published_of(keys)
        return {
            row.key: (int(row.id or 0), EntryContent.from_json(version.content))
            for row, version in rows
        }

    async def _queue_answer(
        self,
        uow: UnitOfWork,
        actor: access.Actor,
        chat_id: int,
        entry: tuple[int, EntryContent],
        question_id: int,
        *,
        feedback: str | None = None,
        ticket: str | None = None,
    ) -> None:
        entry_id, content = entry
        follow = await self._contents(uow, list(content.follow_ups))
        facts: dict[str, Any] = answer_facts(
            content,
            entry_id=entry_id,
            follow_ups={key: (eid, c.question) for key, (eid, c) in follow.items()},
            question_id=question_id,
        )
        facts["feedback"] = feedback
        facts["ticket"] = ticket
        await uow.outbox.add(
            chat_id=chat_id,
            kind="faq.answer",
            staff_id=actor.staff_id,
            now=self._rt.clock(),
            facts=facts,
            priority=PRIORITY_INTERACTIVE,
            card_key=f"faq:{question_id}",
        )

    async def _tell(
        self, tg_id: int, chat_id: int, kind: str, facts: dict[str, Any] | None = None
    ) -> None:
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.load_actor(uow, tg_id, default_locale=self._default_locale)
            await uow.outbox.add(
                chat_id=chat_id,
                kind=kind,
                staff_id=actor.staff_id,
                now=now,
                facts=facts or {},
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()
