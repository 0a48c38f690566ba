"""Which desk group takes which tickets.

A desk is a forum supergroup. It becomes one when an administrator of the bot adds the bot
to it as a group administrator (the first such group is the default desk), with ``/desk`` in
the group, or with ``govbot desk set CHAT_ID``; ``/desk devices account`` routes those
categories to the group it is given in. A new ticket goes to its category's desk, else to
the default desk, else to the deployment's GOVBOT_DESK_CHAT_ID. When the bot leaves a desk
group (or it is switched off), that group's open tickets move to the desk that takes them
now, each topic created again there with its card.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot import access
from bot.errors import NotRegisteredError, PermissionDeniedError
from bot.messaging.services import PRIORITY_INTERACTIVE
from bot.runtime import Runtime
from bot.support.topic import CATEGORIES, audit_ticket, move_to_desk
from storage.uow import UnitOfWork

logger = logging.getLogger(__name__)

DEFAULT = "*"  # the desk of every category without one of its own
CATEGORY_KEYS = tuple(key for key, _ in CATEGORIES)


@dataclass(frozen=True)
class Routed:
    """What a desk command did: set | default | off | shown | usage | not_forum | denied;
    the categories it concerned, and how many open tickets moved."""

    outcome: str
    categories: tuple[str, ...] = ()
    moved: int = 0


def parse_categories(args: str) -> tuple[str, ...] | None:
    """``devices account`` (or ``default``): the keys asked for, None if one is unknown."""
    wanted: list[str] = []
    for word in args.replace(",", " ").replace("，", " ").split():
        key = word.strip().lower()
        if key in ("default", "*", "默认"):
            key = DEFAULT
        elif key not in CATEGORY_KEYS:
            return None
        if key not in wanted:
            wanted.append(key)
    return tuple(wanted)


async def desk_of(uow: UnitOfWork, category: str | None, fallback: int | None) -> int | None:
    """The desk group a new ticket of this category goes to (None: there is no desk group,
    agents are told privately)."""
    return await uow.support.desk_for(category) or fallback


class RoutingService:
    """Set, show and drop desk groups (the desk lead: ``support.desks``)."""

    def __init__(self, runtime: Runtime, *, default_locale: str, fallback: int | None) -> None:
        self._rt = runtime
        self._default_locale = default_locale
        self._fallback = fallback

    async def joined(
        self, *, chat_id: int, title: str, forum: bool, admin: bool, by_tg_id: int
    ) -> Routed:
        """The bot was added to (or promoted in) a group: an administrator of the bot adding
        it as a group administrator makes it a desk, the default one if there is none yet."""
        if chat_id == self._fallback:
            return Routed("shown")  # the configured desk group (GOVBOT_DESK_CHAT_ID) already
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            try:
                actor = await access.authorize(
                    uow, by_tg_id, "support.desks", default_locale=self._default_locale
                )
            except (PermissionDeniedError, NotRegisteredError):
                logger.info("group %s: added by %s, who may not set desks", chat_id, by_tg_id)
                return await self._answer(uow, chat_id, Routed("denied"), now=now)
            if not forum or not admin:
                return await self._answer(
                    uow, chat_id, Routed("not_forum" if not forum else "not_admin"), now=now
                )
            if any(d.chat_id == chat_id for d in await uow.support.desks()):
                return await self._answer(uow, chat_id, Routed("shown"), now=now)
            if await uow.support.desk_for(None) is None:
                routed = await self._set(uow, actor.staff_id, chat_id, title, (DEFAULT,), now)
            else:
                routed = Routed("usage")  # a second desk: which categories is for /desk
            return await self._answer(uow, chat_id, routed, now=now)

    async def left(self, *, chat_id: int) -> Routed:
        """The bot is out of the group (removed, or the group is gone): it is a desk no more,
        and its open tickets move to the desk that takes them now."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            categories = await uow.support.drop_desk(chat_id)
            moved = await self._move_away(uow, chat_id, now, farewell=False)
            if categories or moved:
                await uow.audit.append(
                    actor_id=None,
                    action="support.desk.left",
                    obj=f"chat:{chat_id}",
                    details={"categories": categories, "moved": moved},
                    now=now,
                )
                logger.info("desk %s dropped: %s open tickets moved", chat_id, moved)
            await uow.commit()
        return Routed("off", tuple(categories), moved)

    async def command(
        self, *, tg_id: int, chat_id: int, title: str, group: bool, forum: bool, args: str
    ) -> Routed:
        """``/desk`` shows where tickets go; in a forum group, ``/desk default``, ``/desk
        CATEGORY…`` route tickets here and ``/desk off`` stops this group being a desk."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.authorize(
                uow, tg_id, "support.desks", default_locale=self._default_locale
            )
            words = args.strip().lower()
            wanted = parse_categories(words)
            if not words:
                routed = Routed("shown")
            elif not group or not forum:
                routed = Routed("not_forum")
            elif words in ("off", "关闭"):
                categories = await uow.support.drop_desk(chat_id)
                moved = await self._move_away(uow, chat_id, now, farewell=True)
                routed = Routed("off", tuple(categories), moved)
                await uow.audit.append(
                    actor_id=actor.staff_id,
                    action="support.desk.off",
                    obj=f"chat:{chat_id}",
                    details={"categories": categories, "moved": moved},
                    now=now,
                )
            elif not wanted:
                routed = Routed("usage")
            else:
                routed = await self._set(uow, actor.staff_id, chat_id, title, wanted, now)
            private = chat_id == actor.telegram_id
            return await self._answer(
                uow, chat_id, routed, now=now, staff_id=actor.staff_id if private else None
            )

    async def set_from_cli(self, chat_id: int, categories: Sequence[str]) -> Routed:
        """``govbot desk set CHAT_ID [--category KEY]…`` (no category: the default desk)."""
        wanted = parse_categories(" ".join(categories)) if categories else (DEFAULT,)
        if not wanted:
            return Routed("usage")
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            routed = await self._set(uow, None, chat_id, "", wanted, now)
            await uow.commit()
        return routed

    async def unset_from_cli(self, chat_id: int) -> Routed:
        """``govbot desk unset CHAT_ID``: as if the bot had left the group."""
        return await self.left(chat_id=chat_id)

    async def table(self) -> list[tuple[str, int, str]]:
        """(category, chat id, title) of every route, the default desk first."""
        async with self._rt.detached_uow() as uow:
            desks = await uow.support.desks()
        rows = [(d.category, d.chat_id, d.title) for d in desks]
        return sorted(rows, key=lambda r: (r[0] != DEFAULT, r[0]))

    # --- inside a unit of work --------------------------------------------------------------
    async def _set(
        self,
        uow: UnitOfWork,
        staff_id: int | None,
        chat_id: int,
        title: str,
        categories: tuple[str, ...],
        now: datetime,
    ) -> Routed:
        for category in categories:
            await uow.support.set_desk(category, chat_id, title=title, staff_id=staff_id, now=now)
        await uow.audit.append(
            actor_id=staff_id,
            action="support.desk.set",
            obj=f"chat:{chat_id}",
            details={"categories": list(categories)},
            now=now,
        )
        return Routed("default" if categories == (DEFAULT,) else "set", categories)

    async def _move_away(
        self, uow: UnitOfWork, chat_id: int, now: datetime, *, farewell: bool
    ) -> int:
        """Each open ticket of this group to the desk its category goes to now (none: they
        stay, and are moved by the next desk set)."""
        moved = 0
        for ticket in await uow.support.open_tickets_at(chat_id):
            target = await desk_of(uow, ticket.category, self._fallback)
            if target is None or target == chat_id:
                continue
            await move_to_desk(
                uow,
                ticket,
                target,
                now=now,
                facts={"number": ticket.number, "to": target},
                farewell=farewell,
            )
            await audit_ticket(
                uow, None, "ticket.move", ticket.number, {"from": chat_id, "to": target}, now=now
            )
            moved += 1
        return moved

    async def _answer(
        self,
        uow: UnitOfWork,
        chat_id: int,
        routed: Routed,
        *,
        now: datetime,
        staff_id: int | None = None,
    ) -> Routed:
        """Say what was done where the command was given, with the routing as it is now."""
        desks = await uow.support.desks()
        await uow.outbox.add(
            chat_id=chat_id,
            kind="support.desks",
            staff_id=staff_id,
            locale=self._default_locale,
            now=now,
            facts={
                "outcome": routed.outcome,
                "categories": list(routed.categories),
                "moved": routed.moved,
                "here": chat_id,
                "fallback": self._fallback,
                "desks": [
                    {"category": d.category, "chat_id": d.chat_id, "title": d.title} for d in desks
                ],
            },
            priority=PRIORITY_INTERACTIVE,
        )
        await uow.commit()
        return routed
