"""The one permission check: which roles may do which action, and on whose objects.

Every handler and every button press goes through :func:`require` (via a service), so button
data is never trusted: the server decides again, now, whether this actor may do this.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from bot.errors import AccountDisabledError, NotRegisteredError, PermissionDeniedError
from bot.people.domain import Role
from storage.uow import UnitOfWork

EVERYONE = frozenset(Role)

# action -> roles allowed. Actions scoped to a department say so in DEPARTMENT_SCOPED.
POLICY: dict[str, frozenset[Role]] = {
    "menu.approvals": EVERYONE,
    "menu.knowledge": EVERYONE,
    "menu.support": EVERYONE,
    "menu.surveys": EVERYONE,
    "menu.quizzes": EVERYONE,
    "quiz.take": EVERYONE,
    "menu.courses": EVERYONE,
    "menu.language": EVERYONE,
    "menu.help": EVERYONE,
    "menu.desk": frozenset({Role.SUPPORT, Role.ADMIN}),
    "menu.trainer": frozenset({Role.TRAINER, Role.ADMIN}),
    "faq.manage": frozenset({Role.TRAINER, Role.ADMIN}),  # edit, import, publish, roll back
    "support.templates": frozenset({Role.ADMIN}),  # the desk lead keeps the canned replies
    "support.roster": frozenset({Role.ADMIN}),  # ... and the on-call roster
    "support.desks": frozenset({Role.ADMIN}),  # ... and which group takes which tickets
    "survey.publish": frozenset({Role.ADMIN, Role.OFFICE, Role.TRAINER}),
    "course.publish": frozenset({Role.ADMIN, Role.OFFICE, Role.TRAINER}),  # and its report
    # #8: send an announcement (and see its counts); an administrator sees every one's
    "announce.send": frozenset({Role.ADMIN, Role.OFFICE, Role.TRAINER}),
    # every survey's results; a survey's author sees its own (bot/surveys/reporting.py)
    "survey.results": frozenset({Role.ADMIN, Role.OFFICE}),
    "quiz.publish": frozenset({Role.ADMIN, Role.TRAINER, Role.SECURITY}),  # open a campaign
    "quiz.results": frozenset({Role.ADMIN, Role.LEADER, Role.SECURITY}),  # named scores
    "menu.rollout": frozenset({Role.LEADER, Role.OFFICE, Role.ADMIN}),
    "menu.admin": frozenset({Role.ADMIN}),
    "staff.import": frozenset({Role.ADMIN}),
    "staff.invite": frozenset({Role.ADMIN}),
    "staff.disable": frozenset({Role.ADMIN}),
    "staff.view_department": frozenset({Role.DEPT_HEAD, Role.ADMIN}),
    "audit.verify": frozenset({Role.ADMIN}),
    "approval.use": EVERYONE,  # each template still says which roles may apply
    "approval.registers": frozenset({Role.OFFICE, Role.ADMIN}),  # 登记簿 exports and 督办
}

# Actions that a department head may do only within their own department (admins anywhere).
DEPARTMENT_SCOPED = frozenset({"staff.view_department"})


@dataclass(frozen=True)
class Actor:
    """Who is acting: an active, registered staff member."""

    staff_id: int
    telegram_id: int
    name: str
    department_id: int
    roles: frozenset[str]
    locale: str

    def has_role(self, role: Role) -> bool:
        return role.value in self.roles


class Owned(Protocol):
    """Anything that belongs to a department (for department-scoped checks)."""

    @property
    def department_id(self) -> int: ...


T = TypeVar("T", bound=Owned | None)


def can(actor: Actor, action: str, obj: Owned | None = None) -> bool:
    """True if the actor's roles allow the action on this object."""
    allowed = POLICY.get(action)
    if allowed is None:  # an action nobody declared is nobody's
        return False
    held = {Role(r) for r in actor.roles if r in Role.__members__.values()}
    if not held & allowed:
        return False
    if action in DEPARTMENT_SCOPED and obj is not None and Role.ADMIN not in held:
        return obj.department_id == actor.department_id
    return True


def require(actor: Actor, action: str, obj: T) -> T:
    """Return ``obj`` if allowed; a missing object and someone else's raise the same error."""
    if obj is None and action in DEPARTMENT_SCOPED:
        raise PermissionDeniedError(action)
    if not can(actor, action, obj):
        raise PermissionDeniedError(action)
    return obj


def require_action(actor: Actor, action: str) -> None:
    """Check an action that has no object."""
    if not can(actor, action):
        raise PermissionDeniedError(action)


def allowed_actions(actor: Actor, actions: Iterable[str]) -> list[str]:
    """The subset the actor may do, in the given order (menus show only these)."""
    return [a for a in actions if can(actor, a)]


async def load_actor(uow: UnitOfWork, tg_id: int, *, default_locale: str = "zh_CN") -> Actor:
    """The active staff member bound to this Telegram account, read now (not cached)."""
    staff = await uow.people.by_telegram_id(tg_id)
    if staff is None or staff.id is None:
        raise NotRegisteredError(tg_id)
    if not staff.active:
        raise AccountDisabledError(tg_id)
    roles = await uow.people.roles_of(staff.id)
    return Actor(
        staff_id=staff.id,
        telegram_id=tg_id,
        name=staff.name,
        department_id=staff.department_id,
        roles=frozenset(roles),
        locale=staff.language or staff.client_language or default_locale,
    )


async def authorize(
    uow: UnitOfWork, tg_id: int, action: str, *, default_locale: str = "zh_CN"
) -> Actor:
    """Load the actor now and check an object-less action in one step."""
    actor = await load_actor(uow, tg_id, default_locale=default_locale)
    require_action(actor, action)
    return actor
