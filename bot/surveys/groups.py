"""Staff groups: named lists of people an audience can name (``group:试点组``).

A pilot runs with some people from several departments; no department or role covers
them. An operator saves them once as a group (from any audience: departments, roles,
employee numbers, other groups) and surveys, quizzes, courses and announcements then go to
``group:NAME``. The group is the list as it was set: people who join a department later
are not added; people who leave drop out when it is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.errors import DomainError
from bot.runtime import Runtime
from bot.surveys.publishing import parse_audience, resolve

NAME = re.compile(r"^[^\s,:，]{1,60}$")  # no spaces, commas or colons: it sits in an audience


class GroupNameError(DomainError):
    """Not a usable group name."""


@dataclass(frozen=True)
class GroupRow:
    name: str
    members: int


class StaffGroups:
    """Set, list and remove groups (``govbot group``), audited."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    async def set(self, name: str, spec: str) -> GroupRow:
        """The group is now exactly the people ``spec`` names (AudienceError: nothing is
        written; GroupNameError for a name an audience could not hold)."""
        name = name.strip()
        if not NAME.match(name):
            raise GroupNameError(name)
        audience = parse_audience(spec)
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            people = await resolve(uow, audience)
            ids = [p.id for p in people if p.id is not None]
            await uow.people.set_group(name, ids, now=now)
            await uow.audit.append(
                actor_id=None,
                action="group.set",
                obj=f"group:{name}",
                details={"audience": audience.as_json(), "members": len(ids)},
                now=now,
            )
            await uow.commit()
        return GroupRow(name, len(ids))

    async def list(self) -> list[GroupRow]:
        async with self._rt.detached_uow() as uow:
            return [GroupRow(g.name, n) for g, n in await uow.people.groups()]

    async def remove(self, name: str) -> bool:
        """False if there is no such group. Audiences stored with it keep their people:
        they were resolved when sent."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            if not await uow.people.remove_group(name):
                return False
            await uow.audit.append(
                actor_id=None, action="group.remove", obj=f"group:{name}", details={}, now=now
            )
            await uow.commit()
        return True
