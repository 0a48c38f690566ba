"""Use cases of people: invites, registration with consent, language, disabling.

Each method is one unit of work. Replies are outbox rows written in that same unit of work
(kind + facts, rendered in the recipient's language by handlers/render/people.py), so a state
change and the message it causes are committed together or not at all.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import access
from bot.access import Actor
from bot.errors import (
    AlreadyRegisteredError,
    InviteExpiredError,
    InviteUnknownError,
    InviteUsedError,
    PermissionDeniedError,
    StaffNotFoundError,
)
from bot.i18n import SUPPORTED, negotiate
from bot.menu import ACTION_OF, NOT_YET_AVAILABLE, items_for
from bot.runtime import Runtime
from storage.tables.messaging import PRIORITY_INTERACTIVE
from storage.tables.people import Consent, Invite
from storage.uow import UnitOfWork

logger = logging.getLogger(__name__)

# The privacy notice users accept when they register; bump when its text changes (#3).
PRIVACY_NOTICE_VERSION = "2026-12-01"
REGISTER_FLOW = "register"

# Redeeming invite codes: at most this many failures per account per window.
MAX_FAILED_ATTEMPTS = 5
ATTEMPT_WINDOW = timedelta(minutes=15)

# Alphabet without look-alikes (0/O, 1/l/I): codes are sometimes typed from paper.
_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz"
_CODE_LENGTH = 16


def hash_code(code: str) -> str:
    """Only the hash of an invite code is stored, so a database copy cannot register anyone."""
    return hashlib.sha256(code.strip().encode()).hexdigest()


def new_code() -> str:
    """A random code that fits a Telegram deep link (``start`` allows [A-Za-z0-9_-]{1,64})."""
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))


@dataclass(frozen=True)
class IssuedInvite:
    """An invite just created; the code is shown once and never stored in clear."""

    employee_no: str
    staff_id: int
    name: str
    code: str
    expires_at: datetime


@dataclass(frozen=True)
class Disabled:
    """A staff member was disabled (or already was)."""

    employee_no: str
    staff_id: int
    changed: bool


class PeopleService:
    """Registration and the staff member's own settings."""

    def __init__(self, rt: Runtime, *, invite_ttl: timedelta, default_locale: str) -> None:
        self._rt = rt
        self._invite_ttl = invite_ttl
        self._default_locale = default_locale

    # --- who is this -------------------------------------------------------------------
    async def actor(self, tg_id: int) -> Actor:
        """The registered, active staff member for this account (NotRegisteredError if none)."""
        async with self._rt.uow() as uow:
            return await access.load_actor(uow, tg_id, default_locale=self._default_locale)

    async def locale_for(self, tg_id: int, language_code: str | None) -> str:
        """The staff row's language, else Telegram's language_code, else the default."""
        async with self._rt.uow() as uow:
            staff = await uow.people.by_telegram_id(tg_id)
        if staff is not None and staff.language in SUPPORTED:
            return staff.language
        return negotiate(language_code, self._default_locale)

    # --- invites -----------------------------------------------------------------------
    async def create_invite(self, employee_no: str, *, actor_id: int | None) -> IssuedInvite:
        """A one-time code for this staff member; earlier unused codes stop working."""
        async with self._rt.detached_uow() as uow:
            issued = await self._issue(uow, employee_no, actor_id=actor_id)
            await uow.commit()
            return issued

    async def invite_in_chat(
        self, *, tg_id: int, chat_id: int, employee_no: str, bot_username: str | None
    ) -> None:
        """An administrator asked for an invite in chat: the link comes back as a message."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.authorize(
                uow, tg_id, "staff.invite", default_locale=self._default_locale
            )
            issued = await self._issue(uow, employee_no, actor_id=actor.staff_id)
            await uow.outbox.add(
                chat_id=chat_id,
                kind="staff.invite_issued",
                staff_id=actor.staff_id,
                now=now,
                facts={
                    "employee_no": issued.employee_no,
                    "name": issued.name,
                    "code": issued.code,
                    "bot_username": bot_username,
                    "expires_at": issued.expires_at.isoformat(),
                },
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()

    async def _issue(
        self, uow: UnitOfWork, employee_no: str, *, actor_id: int | None
    ) -> IssuedInvite:
        now = self._rt.clock()
        staff = await uow.people.by_employee_no(employee_no.strip())
        if staff is None or staff.id is None or not staff.active:
            raise StaffNotFoundError(employee_no)
        if staff.telegram_id is not None:
            raise AlreadyRegisteredError()
        await uow.people.revoke_open_invites(staff.id, now=now)
        code = new_code()
        expires = now + self._invite_ttl
        await uow.people.add_invite(
            Invite(
                code_hash=hash_code(code),
                staff_id=staff.id,
                created_by=actor_id,
                created_at=now,
                expires_at=expires,
            )
        )
        await uow.audit.append(
            actor_id=actor_id,
            action="invite.created",
            obj=f"staff:{staff.id}",
            details={"expires_at": expires.isoformat()},
            now=now,
        )
        return IssuedInvite(staff.employee_no, staff.id, staff.name, code, expires)

    # --- registration ------------------------------------------------------------------
    async def start(
        self, *, tg_id: int, chat_id: int, language_code: str | None, code: str | None
    ) -> None:
        """``/start`` with or without an invite code."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            staff = await uow.people.by_telegram_id(tg_id)
            locale = negotiate(language_code, self._default_locale)
            if staff is not None and staff.active:
                await self._add_menu(
                    uow, staff_tg=tg_id, chat_id=chat_id, now=now, kind="people.welcome_back"
                )
                await uow.commit()
                return
            if staff is not None and not staff.active:
                await self._reply(uow, chat_id, "people.account_disabled", locale, now)
                await uow.commit()
                return
            if not code:
                await self._reply(uow, chat_id, "people.not_registered", locale, now)
                await uow.commit()
                return
            invite, problem, facts = await self._check_code(uow, tg_id, code, now)
            if invite is None or invite.id is None:
                await uow.people.record_attempt(tg_id, ok=False, now=now)
                await self._reply(uow, chat_id, problem, locale, now, facts=facts)
                await uow.commit()
                return
            await uow.flows.put(
                tg_id,
                chat_id,
                flow=REGISTER_FLOW,
                step="consent",
                data={"invite_id": invite.id, "locale": locale},
                now=now,
            )
            await uow.outbox.add(
                chat_id=chat_id,
                kind="people.privacy_notice",
                locale=locale,
                now=now,
                facts={"invite_id": invite.id, "version": PRIVACY_NOTICE_VERSION},
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()

    async def _check_code(
        self, uow: UnitOfWork, tg_id: int, code: str, now: datetime
    ) -> tuple[Invite | None, str, dict[str, int]]:
        """The invite if this account may redeem it now, else the reply kind and its facts."""
        failures = await uow.people.failed_attempts_since(tg_id, now - ATTEMPT_WINDOW)
        if len(failures) >= MAX_FAILED_ATTEMPTS:
            wait_s = (failures[0] + ATTEMPT_WINDOW - now).total_seconds()
            logger.warning("invite attempts rate limited for tg %s", tg_id)
            return None, "people.invite_rate_limited", {"minutes": max(1, int(wait_s) // 60 + 1)}
        if len(code) > 64 or not code.isascii():
            return None, "people.invite_unknown", {}
        invite = await uow.people.invite_by_hash(hash_code(code))
        if invite is None or invite.revoked_at is not None:
            return None, "people.invite_unknown", {}
        if invite.used_at is not None:
            return None, "people.invite_used", {}
        if invite.expires_at <= now:
            return None, "people.invite_expired", {}
        staff = await uow.people.get(invite.staff_id)
        if staff is None or not staff.active:
            return None, "people.invite_unknown", {}
        if staff.telegram_id is not None:
            return None, "people.invite_used", {}
        return invite, "", {}

    async def accept_privacy(
        self, *, tg_id: int, chat_id: int, invite_id: int, message_id: int | None
    ) -> None:
        """The user accepted the privacy notice: bind the account, record the consent."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            flow = await uow.flows.get(tg_id, chat_id)
            locale = (
                str(flow.data.get("locale", self._default_locale))
                if flow
                else (self._default_locale)
            )
            if (
                flow is None
                or flow.flow != REGISTER_FLOW
                or flow.data.get("invite_id") != invite_id
            ):
                # An old or forged button: the flow it belonged to is gone.
                raise InviteUnknownError()
            invite = await uow.people.invite(invite_id)
            if invite is None or invite.revoked_at is not None:
                raise InviteUnknownError()
            if invite.used_at is not None:
                raise InviteUsedError()
            if invite.expires_at <= now:
                raise InviteExpiredError()
            staff = await uow.people.get(invite.staff_id)
            if staff is None or staff.id is None or not staff.active:
                raise InviteUnknownError()
            if await uow.people.by_telegram_id(tg_id) is not None:
                raise AlreadyRegisteredError()
            if not await uow.people.use_invite(invite_id, tg_id=tg_id, now=now):
                raise InviteUsedError()
            if not await uow.people.bind_telegram(
                staff.id,
                tg_id=tg_id,
                seen_version=staff.version,
                language=staff.language or locale,
                now=now,
            ):
                raise InviteUsedError()
            await uow.people.add_consent(
                Consent(
                    staff_id=staff.id,
                    telegram_id=tg_id,
                    notice_version=PRIVACY_NOTICE_VERSION,
                    locale=locale,
                    accepted_at=now,
                )
            )
            await uow.people.record_attempt(tg_id, ok=True, now=now)
            await uow.flows.clear(tg_id, chat_id)
            await uow.audit.append(
                actor_id=staff.id,
                action="staff.registered",
                obj=f"staff:{staff.id}",
                details={"notice_version": PRIVACY_NOTICE_VERSION, "invite_id": invite_id},
                now=now,
            )
            if message_id is not None:
                await uow.outbox.add(
                    chat_id=chat_id,
                    kind="people.privacy_accepted",
                    staff_id=staff.id,
                    now=now,
                    facts={"message_id": message_id},
                    priority=PRIORITY_INTERACTIVE,
                )
            await self._add_menu(
                uow, staff_tg=tg_id, chat_id=chat_id, now=now, kind="people.registered"
            )
            await uow.commit()

    async def decline_privacy(
        self, *, tg_id: int, chat_id: int, invite_id: int, message_id: int | None
    ) -> None:
        """The user declined: nothing is bound, the code stays usable until it expires."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            flow = await uow.flows.get(tg_id, chat_id)
            if (
                flow is None
                or flow.flow != REGISTER_FLOW
                or (flow.data.get("invite_id") != invite_id)
            ):
                raise InviteUnknownError()
            locale = str(flow.data.get("locale", self._default_locale))
            await uow.flows.clear(tg_id, chat_id)
            await uow.outbox.add(
                chat_id=chat_id,
                kind="people.privacy_declined",
                locale=locale,
                now=now,
                facts={"message_id": message_id},
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()

    # --- the registered user's own things --------------------------------------------
    async def show_menu(self, *, tg_id: int, chat_id: int) -> None:
        """Send the main menu with only the items this user's roles allow."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            await self._add_menu(uow, staff_tg=tg_id, chat_id=chat_id, now=now, kind="menu.main")
            await uow.commit()

    async def open_menu_item(self, *, tg_id: int, chat_id: int, key: str) -> None:
        """Open one menu entry, re-checking that this user may (the button proves nothing)."""
        now = self._rt.clock()
        action = ACTION_OF.get(key)
        if action is None:
            raise PermissionDeniedError("menu.open")
        async with self._rt.uow() as uow:
            actor = await access.load_actor(uow, tg_id, default_locale=self._default_locale)
            access.require_action(actor, action)
            kind = "menu.not_yet" if key in NOT_YET_AVAILABLE else f"menu.{key}"
            await uow.outbox.add(
                chat_id=chat_id,
                kind=kind,
                staff_id=actor.staff_id,
                now=now,
                facts={"item": key, "items": items_for(actor)},
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()

    async def show_help(self, *, tg_id: int, chat_id: int) -> None:
        """The command list, with the commands this user's roles allow."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.load_actor(uow, tg_id, default_locale=self._default_locale)
            await uow.outbox.add(
                chat_id=chat_id,
                kind="menu.help",
                staff_id=actor.staff_id,
                now=now,
                facts={"item": "help", "items": items_for(actor)},
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()

    async def show_language_picker(self, *, tg_id: int, chat_id: int) -> None:
        """Offer 中文 / English."""
        await self.open_menu_item(tg_id=tg_id, chat_id=chat_id, key="language")

    async def set_language(
        self, *, tg_id: int, chat_id: int, language: str, message_id: int | None
    ) -> None:
        """Switch the user's language; the confirmation arrives in the new language."""
        if language not in SUPPORTED:
            raise PermissionDeniedError("language.set")
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.load_actor(uow, tg_id, default_locale=self._default_locale)
            await uow.people.set_language(actor.staff_id, language, now=now)
            await uow.outbox.add(
                chat_id=chat_id,
                kind="people.language_set",
                staff_id=actor.staff_id,
                now=now,
                facts={"message_id": message_id, "language": language},
                priority=PRIORITY_INTERACTIVE,
            )
            await self._add_menu(uow, staff_tg=tg_id, chat_id=chat_id, now=now, kind="menu.main")
            await uow.commit()

    async def cancel(self, *, tg_id: int, chat_id: int, language_code: str | None) -> None:
        """Leave whatever flow this chat is in."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            staff = await uow.people.by_telegram_id(tg_id)
            had = await uow.flows.clear(tg_id, chat_id)
            kind = "flow.cancelled" if had else "flow.nothing_to_cancel"
            if staff is not None and staff.active:
                await uow.outbox.add(
                    chat_id=chat_id,
                    kind=kind,
                    staff_id=staff.id,
                    now=now,
                    priority=PRIORITY_INTERACTIVE,
                )
            else:
                locale = negotiate(language_code, self._default_locale)
                await self._reply(uow, chat_id, kind, locale, now)
            await uow.commit()

    async def refuse_unregistered(
        self, *, tg_id: int, chat_id: int, language_code: str | None
    ) -> None:
        """A polite explanation for someone who is not (or no longer) registered; no data."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            staff = await uow.people.by_telegram_id(tg_id)
            locale = negotiate(language_code, self._default_locale)
            kind = "people.account_disabled" if staff is not None else "people.not_registered"
            # At most one explanation a minute per account: a flood gets no flood back.
            minute = now.strftime("%Y%m%d%H%M")
            await uow.outbox.add(
                chat_id=chat_id,
                kind=kind,
                locale=locale,
                now=now,
                priority=PRIORITY_INTERACTIVE,
                dedupe_key=f"unreg:{tg_id}:{minute}",
            )
            await uow.commit()

    async def tell(
        self,
        *,
        tg_id: int,
        chat_id: int,
        language_code: str | None,
        kind: str,
        facts: dict[str, object] | None = None,
    ) -> None:
        """One interactive message to whoever this is, in their language (errors, notices)."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            staff = await uow.people.by_telegram_id(tg_id)
            registered = staff is not None and staff.active
            await uow.outbox.add(
                chat_id=chat_id,
                kind=kind,
                now=now,
                facts=dict(facts or {}),
                staff_id=staff.id if registered and staff is not None else None,
                locale=None if registered else negotiate(language_code, self._default_locale),
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()

    # --- administration -----------------------------------------------------------------
    async def disable(self, employee_no: str, *, actor_id: int | None) -> Disabled:
        """Disable at once: the next update from that account is refused."""
        async with self._rt.detached_uow() as uow:
            result = await self._disable(uow, employee_no, actor_id=actor_id)
            await uow.commit()
            return result

    async def disable_in_chat(self, *, tg_id: int, chat_id: int, employee_no: str) -> None:
        """An administrator disabled someone from the chat."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.authorize(
                uow, tg_id, "staff.disable", default_locale=self._default_locale
            )
            result = await self._disable(uow, employee_no, actor_id=actor.staff_id)
            await uow.outbox.add(
                chat_id=chat_id,
                kind="staff.disabled",
                staff_id=actor.staff_id,
                now=now,
                facts={"employee_no": result.employee_no, "changed": result.changed},
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()

    async def _disable(
        self, uow: UnitOfWork, employee_no: str, *, actor_id: int | None
    ) -> Disabled:
        now = self._rt.clock()
        staff = await uow.people.by_employee_no(employee_no.strip())
        if staff is None or staff.id is None:
            raise StaffNotFoundError(employee_no)
        changed = await uow.people.disable(staff.id, now=now)
        await uow.people.revoke_open_invites(staff.id, now=now)
        if changed:
            if staff.telegram_id is not None:
                await uow.flows.clear_all_for(staff.telegram_id)
            await uow.audit.append(
                actor_id=actor_id,
                action="staff.disabled",
                obj=f"staff:{staff.id}",
                details={},
                now=now,
            )
        return Disabled(staff.employee_no, staff.id, changed)

    async def enable(self, employee_no: str, *, actor_id: int | None) -> Disabled:
        """Re-enable a disabled staff member (the Telegram binding is kept)."""
        now = self._rt.clock()
        async with self._rt.detached_uow() as uow:
            staff = await uow.people.by_employee_no(employee_no.strip())
            if staff is None or staff.id is None:
                raise StaffNotFoundError(employee_no)
            changed = await uow.people.enable(staff.id, now=now)
            if changed:
                await uow.audit.append(
                    actor_id=actor_id,
                    action="staff.enabled",
                    obj=f"staff:{staff.id}",
                    details={},
                    now=now,
                )
            await uow.commit()
            return Disabled(staff.employee_no, staff.id, changed)

    # --- helpers -----------------------------------------------------------------------
    async def _reply(
        self,
        uow: UnitOfWork,
        chat_id: int,
        kind: str,
        locale: str,
        now: datetime,
        facts: dict[str, int] | None = None,
    ) -> None:
        await uow.outbox.add(
            chat_id=chat_id,
            kind=kind,
            locale=locale,
            now=now,
            facts=dict(facts or {}),
            priority=PRIORITY_INTERACTIVE,
        )

    async def _add_menu(
        self, uow: UnitOfWork, *, staff_tg: int, chat_id: int, now: datetime, kind: str
    ) -> Actor:
        actor = await access.load_actor(uow, staff_tg, default_locale=self._default_locale)
        await uow.outbox.add(
            chat_id=chat_id,
            kind=kind,
            staff_id=actor.staff_id,
            now=now,
            facts={"items": items_for(actor), "name": actor.name},
            priority=PRIORITY_INTERACTIVE,
        )
        return actor
