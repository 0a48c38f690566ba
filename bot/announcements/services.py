"""Announcements (#8): composed in chat or from the CLI, previewed, sent to an audience at
broadcast priority, acknowledged (已阅) with a tap, counted per department, reminded.

Composing is a flow kept in ``uow.flows`` (``announce``): the title, the content (a text with
its formatting kept as HTML, or a photo or document with a caption), the audience (``all`` or
``dept:…,role:…,staff:…``, every unknown name reported), whether 已阅 is required and by when.
Then a draft row and a preview with the number of recipients and Send / Cancel: nothing goes
out before Send. Sending writes one outbox row per person with Telegram (a dedupe key per
person, so a restart sends nobody a second one), their recipient rows, the reminders as due
items and an audit entry, in one transaction. Each person's message is a living card: their
tap on ✅ 已阅 records the acknowledgement once and edits that message to say when.

Telegram tells a bot nothing about reading: "delivered" is when Telegram accepted the message
(``DeliveryService.on_sent``), "acknowledged" is the tap.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from bot import access
from bot.announcements import model
from bot.announcements.model import (
    AnnouncementError,
    AnnouncementGoneError,
    DepartmentCounts,
    NotRecipientError,
)
from bot.errors import BadCallbackError, PermissionDeniedError
from bot.messaging import progress
from bot.messaging.mass import per_person
from bot.messaging.services import PRIORITY_BROADCAST, PRIORITY_INTERACTIVE, DeliveryService
from bot.people.domain import Role
from bot.quiet import QuietHours
from bot.runtime import Runtime
from bot.scheduling import Due, DueService
from bot.spreadsheet import csv_bytes, safe_cell
from bot.surveys.publishing import AudienceError, parse_audience, resolve
from storage.tables.announcements import Announcement
from storage.tables.people import Staff
from storage.uow import UnitOfWork

logger = logging.getLogger(__name__)

_TAG = re.compile(r"<[^>]*>")
MAX_AUDIENCE = 500  # characters of an audience as written (announcement.audience)

FLOW = "announce"
MESSAGE_KIND = "announce.message"  # to each recipient (a living card: 已阅 edits it)
REMIND_KIND = "announce.remind"  # the due item and the outbox kind
DEADLINE_KIND = "announce.deadline"  # the due item: the author is shown the final counts
PROMPT_KIND = "announce.prompt"  # a step of composing, to the author
PREVIEW_KIND = "announce.preview"  # the announcement as recipients will see it
CONFIRM_KIND = "announce.confirm"  # recipients, Send / Cancel; after sending, the status button
STATUS_KIND = "announce.status"  # the counts per department
LIST_KIND = "announce.list"  # the author's announcements
EXPORT_KIND = "announce.export"  # the per-person CSV, sent as a document in chat
SEND_RATE = 25.0  # messages a second the sender keeps to (see bot/surveys/reminders.py)
WAITING_NAMES = 30  # names of those not acknowledged shown in chat (all of them in the CSV)
NUDGE_GAP = timedelta(hours=1)  # 催阅 by hand at most this often per announcement


def message_card(announcement_id: int, staff_id: int) -> str:
    return f"announce:{announcement_id}:{staff_id}"


def confirm_card(announcement_id: int) -> str:
    return f"announce-confirm:{announcement_id}"


def status_card(announcement_id: int, staff_id: int) -> str:
    return f"announce-status:{announcement_id}:{staff_id}"


@dataclass(frozen=True)
class Attachment:
    kind: str  # photo | document
    file_id: str
    name: str | None = None


@dataclass(frozen=True)
class Sent:
    announcement_id: int
    recipients: int
    messaged: int  # of them, those with Telegram: a message each
    unreachable: list[str] = field(default_factory=list)  # names without Telegram


@dataclass(frozen=True)
class Acked:
    announcement_id: int
    first: bool  # False: it had been acknowledged already
    at: datetime


@dataclass(frozen=True)
class Nudged:
    """催阅 by hand: how many are waiting, and when the reminder goes (the end of the quiet
    hours, or now); ``again_at``: too soon after the last one, nothing done until then."""

    waiting: int
    at: datetime | None = None
    again_at: datetime | None = None


@dataclass(frozen=True)
class Status:
    announcement_id: int
    title: str
    sent_at: datetime | None
    ack_required: bool
    ack_by: datetime | None
    departments: list[DepartmentCounts]
    total: DepartmentCounts
    waiting: list[str]  # names (department) of those who have not acknowledged


def status_facts(status: Status, now: datetime) -> dict[str, Any]:
    """What the counts card shows."""
    return {
        "id": status.announcement_id,
        "title": status.title,
        "ack": status.ack_required,
        "ack_by": status.ack_by.isoformat() if status.ack_by else None,
        "departments": [
            [c.department, c.recipients, c.delivered, c.acknowledged] for c in status.departments
        ],
        "total": [status.total.recipients, status.total.delivered, status.total.acknowledged],
        "waiting": status.waiting[:WAITING_NAMES],
        "more": max(len(status.waiting) - WAITING_NAMES, 0),
        "at": now.isoformat(),
    }


class AnnouncementService:
    """Everything announcements do; one unit of work per call."""

    def __init__(
        self,
        rt: Runtime,
        *,
        tz: tzinfo = UTC,
        quiet: QuietHours | None = None,
        remind_every: timedelta = timedelta(days=1),
        default_locale: str = "zh_CN",
    ) -> None:
        self._rt = rt
        self._tz = tz
        self._quiet = quiet or QuietHours()
        self._remind_every = remind_every
        self._default_locale = default_locale

    # --- wiring --------------------------------------------------------------------------------
    def register_due(self, due: DueService) -> None:
        due.register(REMIND_KIND, self._on_remind)
        due.register(DEADLINE_KIND, self._on_deadline)

    def register_delivery(self, delivery: DeliveryService) -> None:
        delivery.on_sent(MESSAGE_KIND, self._on_delivered)
        delivery.forget_when_sent(EXPORT_KIND)  # the names stay in the file on the phone

    async def _on_delivered(
        self, uow: UnitOfWork, ref_id: int | None, staff_id: int | None, now: datetime
    ) -> None:
        if ref_id is not None and staff_id is not None:  # the ack's edit has no ref id
            await uow.announcements.delivered(ref_id, staff_id, now=now)

    async def _author(self, uow: UnitOfWork, tg_id: int) -> access.Actor:
        return await access.authorize(
            uow, tg_id, "announce.send", default_locale=self._default_locale
        )

    # --- composing in chat ---------------------------------------------------------------------
    async def _prompt(
        self,
        uow: UnitOfWork,
        actor: access.Actor,
        chat_id: int,
        step: str,
        data: dict[str, Any],
        now: datetime,
        **facts: Any,
    ) -> None:
        await uow.flows.put(actor.telegram_id, chat_id, flow=FLOW, step=step, data=data, now=now)
        await uow.outbox.add(
            chat_id=chat_id,
            kind=PROMPT_KIND,
            staff_id=actor.staff_id,
            now=now,
            facts={"step": step, "flow": data.get("n", 0), "count": data.get("count"), **facts},
            priority=PRIORITY_INTERACTIVE,
        )

    async def start(self, *, tg_id: int, chat_id: int) -> None:
        """``/announce``: ask for the title (PermissionDeniedError for plain staff)."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._author(uow, tg_id)
            # The buttons of this composing carry its number: an older one's are refused.
            number = int(now.timestamp() * 1000) % 10**9
            await self._prompt(uow, actor, chat_id, "title", {"n": number}, now)
            await uow.commit()

    async def typed(self, *, tg_id: int, chat_id: int, text: str, html_text: str) -> bool:
        """A private text while composing: the title, the content (``html_text``: the HTML
        of its formatting), the audience or the deadline. False: not composing."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            flow = await uow.flows.get(tg_id, chat_id)
            if flow is None or flow.flow != FLOW:
                return False
            actor = await self._author(uow, tg_id)
            data = dict(flow.data)
            step = flow.step
            try:
                if step == "title":
                    data["title"] = model.check_title(text)
                    await self._prompt(uow, actor, chat_id, "content", data, now)
                elif step == "content":
                    model.check_body(text, attachment=False)
                    data["body"] = html_text.strip()
                    data["attachment"] = None
                    await self._prompt(uow, actor, chat_id, "audience", data, now)
                elif step == "audience":
                    await self._audience(uow, actor, chat_id, data, text, now)
                elif step == "deadline":
                    data["ack_by"] = model.parse_deadline(text, now=now, tz=self._tz).isoformat()
                    await self._preview(uow, actor, chat_id, data, now)
                else:  # ack, preview: a button is expected
                    await self._prompt(uow, actor, chat_id, step, data, now, tap=True)
            except AnnouncementError as problem:
                await self._prompt(
                    uow,
                    actor,
                    chat_id,
                    step,
                    data,
                    now,
                    error={"code": problem.code, **problem.facts},
                )
            await uow.commit()
            return True

    async def attachment(
        self,
        *,
        tg_id: int,
        chat_id: int,
        attachment: Attachment,
        caption: str,
        caption_html: str,
    ) -> bool:
        """A photo or document while the content is asked for: the announcement's attachment,
        its caption the text. False: not composing, or not at that step."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            flow = await uow.flows.get(tg_id, chat_id)
            if flow is None or flow.flow != FLOW or flow.step != "content":
                return False
            actor = await self._author(uow, tg_id)
            data = dict(flow.data)
            try:
                model.check_body(caption, attachment=True)
            except AnnouncementError as problem:
                await self._prompt(
                    uow,
                    actor,
                    chat_id,
                    "content",
                    data,
                    now,
                    error={"code": problem.code, **problem.facts},
                )
                await uow.commit()
                return True
            data["body"] = caption_html.strip()
            data["attachment"] = {
                "kind": attachment.kind,
                "file_id": attachment.file_id,
                "name": (attachment.name or "")[:200] or None,
            }
            await self._prompt(uow, actor, chat_id, "audience", data, now)
            await uow.commit()
            return True

    async def _audience(
        self,
        uow: UnitOfWork,
        actor: access.Actor,
        chat_id: int,
        data: dict[str, Any],
        spec: str,
        now: datetime,
    ) -> None:
        try:
            if len(spec) > MAX_AUDIENCE:
                raise AudienceError([("syntax", spec[:40] + "…")])
            people = await resolve(uow, parse_audience(spec))
        except AudienceError as error:
            await self._prompt(
                uow,
                actor,
                chat_id,
                "audience",
                data,
                now,
                problems=[list(p) for p in error.problems],
            )
            return
        data["audience"] = " ".join(spec.split())
        data["count"] = len(people)
        await self._prompt(uow, actor, chat_id, "ack", data, now)

    async def choose_ack(self, *, tg_id: int, chat_id: int, number: int, required: bool) -> None:
        """The ack step's buttons: require 已阅 (then the deadline is asked) or not."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._author(uow, tg_id)
            flow = await uow.flows.get(tg_id, chat_id)
            if flow is None or flow.flow != FLOW or flow.step != "ack":
                raise BadCallbackError()
            if flow.data.get("n") != number:  # a button of an earlier composing
                raise BadCallbackError()
            data = dict(flow.data)
            data["ack"] = required
            data["ack_by"] = None
            if required:
                await self._prompt(uow, actor, chat_id, "deadline", data, now)
            else:
                await self._preview(uow, actor, chat_id, data, now)
            await uow.commit()

    async def no_deadline(self, *, tg_id: int, chat_id: int, number: int) -> None:
        """The deadline step's button: 已阅 required, without a deadline."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._author(uow, tg_id)
            flow = await uow.flows.get(tg_id, chat_id)
            if flow is None or flow.flow != FLOW or flow.step != "deadline":
                raise BadCallbackError()
            if flow.data.get("n") != number:  # a button of an earlier composing
                raise BadCallbackError()
            data = dict(flow.data)
            data["ack_by"] = None
            await self._preview(uow, actor, chat_id, data, now)
            await uow.commit()

    async def _preview(
        self,
        uow: UnitOfWork,
        actor: access.Actor,
        chat_id: int,
        data: dict[str, Any],
        now: datetime,
    ) -> None:
        """A draft row, the announcement as recipients will see it, and the confirmation
        card: how many it goes to (per department), Send / Cancel. If the audience no longer
        resolves (someone named in it has left since), it is asked for again."""
        try:
            people = await resolve(uow, parse_audience(str(data.get("audience", ""))))
        except AudienceError as error:
            await self._prompt(
                uow,
                actor,
                chat_id,
                "audience",
                data,
                now,
                problems=[list(p) for p in error.problems],
            )
            return
        attachment = data.get("attachment") or None
        ack_by = data.get("ack_by")
        row = await uow.announcements.add(
            Announcement(
                title=str(data.get("title", "")),
                body_html=str(data.get("body", "")),
                attachment_kind=attachment["kind"] if attachment else None,
                attachment_file_id=attachment["file_id"] if attachment else None,
                attachment_name=attachment.get("name") if attachment else None,
                audience=str(data.get("audience", "")),
                ack_required=bool(data.get("ack")),
                ack_by=datetime.fromisoformat(ack_by) if ack_by else None,
                status="draft",
                created_by=actor.staff_id,
                created_at=now,
                author_chat_id=chat_id,
            )
        )
        assert row.id is not None
        names = await uow.people.department_names()
        per_department: dict[str, int] = {}
        for person in people:
            name = names.get(person.department_id, "")
            per_department[name] = per_department.get(name, 0) + 1
        await uow.flows.put(
            actor.telegram_id, chat_id, flow=FLOW, step="preview", data={"id": row.id}, now=now
        )
        await uow.outbox.add(
            chat_id=chat_id,
            kind=PREVIEW_KIND,
            staff_id=actor.staff_id,
            now=now,
            facts=await self._message_facts(uow, row),
            priority=PRIORITY_INTERACTIVE,
        )
        await uow.outbox.add(
            chat_id=chat_id,
            kind=CONFIRM_KIND,
            staff_id=actor.staff_id,
            now=now,
            facts={
                "id": row.id,
                "state": "draft",
                "recipients": len(people),
                "messaged": sum(1 for p in people if p.telegram_id is not None),
                "departments": sorted(per_department.items()),
                "ack": row.ack_required,
                "ack_by": row.ack_by.isoformat() if row.ack_by else None,
            },
            priority=PRIORITY_INTERACTIVE,
            card_key=confirm_card(row.id),
        )

    async def confirm(self, *, tg_id: int, chat_id: int, announcement_id: int) -> Sent:
        """Send, on the preview: to everyone the audience names now."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._author(uow, tg_id)
            row = await self._own_draft(uow, actor, announcement_id)
            sent = await self._send(uow, row, actor, now)
            flow = await uow.flows.get(tg_id, chat_id)
            if flow is not None and flow.flow == FLOW:
                await uow.flows.clear(tg_id, chat_id)
            await uow.outbox.add(
                chat_id=chat_id,
                kind=CONFIRM_KIND,
                staff_id=actor.staff_id,
                now=now,
                facts={
                    "id": announcement_id,
                    "state": "sent",
                    "recipients": sent.recipients,
                    "messaged": sent.messaged,
                    "unreachable": sent.unreachable[:20],
                    "ack": row.ack_required,
                    "ack_by": row.ack_by.isoformat() if row.ack_by else None,
                },
                priority=PRIORITY_INTERACTIVE,
                card_key=confirm_card(announcement_id),
            )
            if sent.messaged:  # the author watches it go out
                await progress.track(
                    uow,
                    kinds=(MESSAGE_KIND,),
                    ref_id=announcement_id,
                    chat_id=chat_id,
                    staff_id=actor.staff_id,
                    title={"zh_CN": row.title, "en": row.title},
                    now=now,
                )
            await uow.commit()
        return sent

    async def cancel(self, *, tg_id: int, chat_id: int, announcement_id: int) -> None:
        """Cancel, on the preview: nothing is sent, the draft is kept as cancelled."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._author(uow, tg_id)
            await self._own_draft(uow, actor, announcement_id)
            if not await uow.announcements.move(
                announcement_id, from_status="draft", to_status="cancelled"
            ):
                raise AnnouncementGoneError(announcement_id)
            flow = await uow.flows.get(tg_id, chat_id)
            if flow is not None and flow.flow == FLOW:
                await uow.flows.clear(tg_id, chat_id)
            await uow.outbox.add(
                chat_id=chat_id,
                kind=CONFIRM_KIND,
                staff_id=actor.staff_id,
                now=now,
                facts={"id": announcement_id, "state": "cancelled"},
                priority=PRIORITY_INTERACTIVE,
                card_key=confirm_card(announcement_id),
            )
            await uow.commit()

    async def _own_draft(
        self, uow: UnitOfWork, actor: access.Actor, announcement_id: int
    ) -> Announcement:
        row = await uow.announcements.get(announcement_id)
        if row is None or row.created_by != actor.staff_id:
            raise PermissionDeniedError("announce.send", f"announcement:{announcement_id}")
        if row.status != "draft":
            raise AnnouncementGoneError(announcement_id)
        return row

    # --- sending -------------------------------------------------------------------------------
    async def announce(
        self,
        *,
        title: str,
        body_html: str,
        audience: str,
        ack_required: bool = False,
        ack_by: datetime | None = None,
        attachment: Attachment | None = None,
    ) -> Sent:
        """Send at once, from the operator (``govbot announce send``): AnnouncementError or
        AudienceError before anything is written."""
        now = self._rt.clock()
        clean_title = model.check_title(title)
        plain = html.unescape(_TAG.sub("", body_html))  # the CLI's body is HTML as written
        model.check_body(plain, attachment=attachment is not None)
        if ack_by is not None and ack_by <= now:
            raise AnnouncementError("deadline_past", text=ack_by.isoformat())
        if len(audience) > MAX_AUDIENCE:
            raise AudienceError([("syntax", audience[:40] + "…")])
        target = parse_audience(audience)
        async with self._rt.uow() as uow:
            await resolve(uow, target)  # every unknown name, before anything is written
            row = await uow.announcements.add(
                Announcement(
                    title=clean_title,
                    body_html=body_html.strip(),
                    attachment_kind=attachment.kind if attachment else None,
                    attachment_file_id=attachment.file_id if attachment else None,
                    attachment_name=((attachment.name or "")[:200] or None)
                    if attachment
                    else None,
                    audience=" ".join(audience.split()),
                    ack_required=ack_required,
                    ack_by=ack_by if ack_required else None,
                    status="draft",
                    created_at=now,
                )
            )
            sent = await self._send(uow, row, None, now)
            await uow.commit()
        return sent

    async def _message_facts(
        self, uow: UnitOfWork, row: Announcement, author: Staff | None = None
    ) -> dict[str, Any]:
        if author is None and row.created_by is not None:
            author = await uow.people.get(row.created_by)
        department = (
            await uow.people.department(author.department_id) if author is not None else None
        )
        return {
            "id": row.id,
            "title": row.title,
            "body": row.body_html,
            "attachment": (
                {"kind": row.attachment_kind, "file_id": row.attachment_file_id}
                if row.attachment_kind and row.attachment_file_id
                else None
            ),
            "author": author.name if author is not None else None,
            "department": department.name if department is not None else None,
            "ack": row.ack_required,
            "ack_by": row.ack_by.isoformat() if row.ack_by else None,
        }

    async def _send(
        self, uow: UnitOfWork, row: Announcement, actor: access.Actor | None, now: datetime
    ) -> Sent:
        assert row.id is not None
        people = await resolve(uow, parse_audience(row.audience))
        if not await uow.announcements.move(row.id, from_status="draft", to_status="sent"):
            raise AnnouncementGoneError(row.id)  # the other tap on Send won
        row.sent_at = now
        uow.session.add(row)
        await uow.announcements.add_recipients(row.id, [p.id for p in people if p.id])
        facts = await self._message_facts(uow, row)
        facts["sent_at"] = now.isoformat()
        announcement_id = row.id
        messaged = await uow.outbox.add_many(
            per_person(
                people,
                kind=MESSAGE_KIND,
                ref_id=announcement_id,
                facts=facts,
                card=lambda staff_id: message_card(announcement_id, staff_id),  # all new
            ),
            now=now,
        )
        if row.ack_required:
            times = model.reminder_times(now, row.ack_by, every=self._remind_every)
            for number, due_at in enumerate(times, start=1):
                await uow.due.add(
                    kind=REMIND_KIND,
                    ref_id=row.id,
                    due_at=due_at,
                    now=now,
                    payload={"number": number},
                    dedupe_key=f"{REMIND_KIND}:{row.id}:{number}",
                )
        if row.ack_required and row.ack_by is not None and row.author_chat_id is not None:
            await uow.due.add(
                kind=DEADLINE_KIND,
                ref_id=row.id,
                due_at=row.ack_by,
                now=now,
                payload={},
                dedupe_key=f"{DEADLINE_KIND}:{row.id}",
            )
        await uow.audit.append(
            actor_id=actor.staff_id if actor else None,
            action="announce.send",
            obj=f"announcement:{row.id}",
            details={
                "title": row.title,
                "audience": row.audience,
                "recipients": len(people),
                "ack_required": row.ack_required,
                "ack_by": row.ack_by.isoformat() if row.ack_by else None,
                "attachment": row.attachment_kind,
            },
            now=now,
        )
        return Sent(
            announcement_id=row.id,
            recipients=len(people),
            messaged=messaged,
            unreachable=[p.name for p in people if p.telegram_id is None],
        )

    # --- acknowledging -------------------------------------------------------------------------
    async def acknowledge(self, *, tg_id: int, announcement_id: int) -> Acked:
        """✅ 已阅: recorded once (a second tap, or two at once, change nothing), and that
        person's message edited to say when. NotRecipientError for anyone it was not for."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.load_actor(uow, tg_id, default_locale=self._default_locale)
            row = await uow.announcements.get(announcement_id)
            if row is None or row.status != "sent" or not row.ack_required:
                raise NotRecipientError(announcement_id)
            recipient = await uow.announcements.recipient(announcement_id, actor.staff_id)
            if recipient is None:
                raise NotRecipientError(announcement_id)
            first = await uow.announcements.acknowledge(announcement_id, actor.staff_id, now=now)
            if not first:  # tapped before, or the other of two taps at once won
                await uow.session.refresh(recipient)
                await uow.commit()
                return Acked(announcement_id, first=False, at=recipient.acked_at or now)
            facts = await self._message_facts(uow, row)
            facts["sent_at"] = row.sent_at.isoformat() if row.sent_at else None
            facts["acked_at"] = now.isoformat()
            await uow.outbox.add(
                chat_id=tg_id,
                kind=MESSAGE_KIND,
                staff_id=actor.staff_id,
                now=now,
                facts=facts,
                priority=PRIORITY_INTERACTIVE,
                card_key=message_card(announcement_id, actor.staff_id),
            )
            await uow.commit()
        return Acked(announcement_id, first=True, at=now)

    # --- counts --------------------------------------------------------------------------------
    async def _status(self, uow: UnitOfWork, row: Announcement) -> Status:
        assert row.id is not None
        names = await uow.people.department_names()
        counts = await uow.announcements.counts_by_department(row.id)
        departments = sorted(
            (
                DepartmentCounts(names.get(dept, "") if dept is not None else "", n, d, a)
                for dept, (n, d, a) in counts.items()
            ),
            key=lambda c: c.department,
        )
        waiting = [
            f"{staff.name}（{names.get(staff.department_id, '')}）"
            for staff, recipient in await uow.announcements.recipients(row.id)
            if recipient.acked_at is None
        ]
        return Status(
            announcement_id=row.id,
            title=row.title,
            sent_at=row.sent_at,
            ack_required=row.ack_required,
            ack_by=row.ack_by,
            departments=departments,
            total=model.totals(departments),
            waiting=waiting,
        )

    async def status(self, announcement_id: int) -> Status | None:
        """The counts (``govbot announce status``); None: no such announcement sent."""
        async with self._rt.detached_uow() as uow:
            row = await uow.announcements.get(announcement_id)
            if row is None or row.status != "sent":
                return None
            return await self._status(uow, row)

    async def sent_list(self) -> list[tuple[Announcement, DepartmentCounts]]:
        """Every sent announcement, newest first, with its totals (``govbot announce list``)."""
        async with self._rt.detached_uow() as uow:
            out = []
            for row in await uow.announcements.all():
                counts = await uow.announcements.counts_by_department(row.id or 0)
                out.append(
                    (
                        row,
                        DepartmentCounts(
                            "",
                            sum(n for n, _, _ in counts.values()),
                            sum(d for _, d, _ in counts.values()),
                            sum(a for _, _, a in counts.values()),
                        ),
                    )
                )
            return out

    async def _export_rows(self, uow: UnitOfWork, announcement_id: int) -> list[list[str]]:
        names = await uow.people.department_names()
        return [
            [
                safe_cell(staff.employee_no),
                safe_cell(staff.name),
                safe_cell(names.get(staff.department_id, "")),
                self._local(recipient.delivered_at),
                self._local(recipient.acked_at),
            ]
            for staff, recipient in await uow.announcements.recipients(announcement_id)
        ]

    async def export_csv(self, announcement_id: int, *, headers: list[str]) -> bytes | None:
        """One row per recipient: employee number, name, department, delivered, acknowledged
        (local times); None: no such announcement sent."""
        async with self._rt.detached_uow() as uow:
            row = await uow.announcements.get(announcement_id)
            if row is None or row.status != "sent":
                return None
            rows = await self._export_rows(uow, announcement_id)
        return csv_bytes(headers, rows)

    async def _viewable(
        self, uow: UnitOfWork, actor: access.Actor, announcement_id: int
    ) -> Announcement:
        """A sent announcement this person may see the counts of: theirs, or any for an
        administrator (a missing one and someone else's look the same)."""
        row = await uow.announcements.get(announcement_id)
        if (
            row is None
            or row.status != "sent"
            or not (actor.has_role(Role.ADMIN) or row.created_by == actor.staff_id)
        ):
            raise PermissionDeniedError("announce.status", f"announcement:{announcement_id}")
        return row

    async def export_to_chat(self, *, tg_id: int, chat_id: int, announcement_id: int) -> None:
        """📥 on the counts card: the same CSV as ``govbot announce status --csv``."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.load_actor(uow, tg_id, default_locale=self._default_locale)
            row = await self._viewable(uow, actor, announcement_id)
            await uow.outbox.add(
                chat_id=chat_id,
                kind=EXPORT_KIND,
                staff_id=actor.staff_id,
                now=now,
                facts={
                    "id": announcement_id,
                    "title": row.title,
                    "rows": await self._export_rows(uow, announcement_id),
                },
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()

    def _local(self, moment: datetime | None) -> str:
        return moment.astimezone(self._tz).strftime("%Y-%m-%d %H:%M") if moment else ""

    async def show_status(
        self, *, tg_id: int, chat_id: int, announcement_id: int | None, below: bool = True
    ) -> None:
        """The counts card in chat, for the author or an administrator; without an id, the
        list of this person's announcements."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.load_actor(uow, tg_id, default_locale=self._default_locale)
            is_admin = actor.has_role(Role.ADMIN)
            if announcement_id is None:
                access.require_action(actor, "announce.send")
                rows = await uow.announcements.all(
                    created_by=None if is_admin else actor.staff_id, limit=10
                )
                await uow.outbox.add(
                    chat_id=chat_id,
                    kind=LIST_KIND,
                    staff_id=actor.staff_id,
                    now=now,
                    facts={
                        "items": [
                            {
                                "id": r.id,
                                "title": r.title,
                                "sent_at": r.sent_at.isoformat() if r.sent_at else None,
                            }
                            for r in rows
                        ]
                    },
                    priority=PRIORITY_INTERACTIVE,
                )
                await uow.commit()
                return
            row = await self._viewable(uow, actor, announcement_id)
            status = await self._status(uow, row)
            key = status_card(announcement_id, actor.staff_id)
            if below:
                await uow.outbox.forget_card(key)
            await uow.outbox.add(
                chat_id=chat_id,
                kind=STATUS_KIND,
                staff_id=actor.staff_id,
                now=now,
                facts=status_facts(status, now),
                priority=PRIORITY_INTERACTIVE,
                card_key=key,
            )
            await uow.commit()

    async def nudge(self, *, tg_id: int, announcement_id: int) -> Nudged:
        """⏰ on the counts card: remind those who have not acknowledged now (or at the end of
        the quiet hours), at most once an hour, through the same due item as the automatic
        reminders."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.load_actor(uow, tg_id, default_locale=self._default_locale)
            row = await self._viewable(uow, actor, announcement_id)
            if not row.ack_required:
                raise BadCallbackError()
            if row.ack_by is not None and now >= row.ack_by:
                raise AnnouncementGoneError(announcement_id)
            extra = dict(row.extra or {})
            last = extra.get("nudged_at")
            if isinstance(last, str) and now < datetime.fromisoformat(last) + NUDGE_GAP:
                await uow.commit()
                return Nudged(0, again_at=datetime.fromisoformat(last) + NUDGE_GAP)
            waiting = len(await uow.announcements.not_acknowledged(announcement_id))
            if waiting == 0:
                await uow.commit()
                return Nudged(0)
            nudges = int(extra.get("nudges", 0)) + 1
            extra.update(nudged_at=now.isoformat(), nudges=nudges)
            row.extra = extra
            uow.session.add(row)
            at = (
                self._quiet.next_end(now, self._tz) if self._quiet.contains(now, self._tz) else now
            )
            await uow.due.add(
                kind=REMIND_KIND,
                ref_id=announcement_id,
                due_at=at,
                now=now,
                payload={"number": 100 + nudges},  # apart from the automatic ones' numbers
                dedupe_key=f"{REMIND_KIND}:{announcement_id}:nudge:{nudges}",
            )
            await uow.audit.append(
                actor_id=actor.staff_id,
                action="announce.nudge",
                obj=f"announcement:{announcement_id}",
                details={"waiting": waiting},
                now=now,
            )
            await uow.commit()
        return Nudged(waiting, at=at)

    # --- the deadline --------------------------------------------------------------------------
    async def _on_deadline(self, item: Due, uow: UnitOfWork, now: datetime) -> None:
        """At the deadline, the author is shown the final counts (and who has not
        acknowledged), as a new counts card."""
        row = await uow.announcements.get(item.ref_id or 0)
        if row is None or row.id is None or row.status != "sent" or row.created_by is None:
            return
        if row.author_chat_id is None:
            return
        status = await self._status(uow, row)
        key = status_card(row.id, row.created_by)
        await uow.outbox.forget_card(key)
        await uow.outbox.add(
            chat_id=row.author_chat_id,
            kind=STATUS_KIND,
            staff_id=row.created_by,
            now=now,
            facts={**status_facts(status, now), "deadline_reached": True},
            priority=PRIORITY_INTERACTIVE,
            card_key=key,
        )

    # --- reminders -----------------------------------------------------------------------------
    async def _on_remind(self, item: Due, uow: UnitOfWork, now: datetime) -> None:
        """To those who have not acknowledged, never in quiet hours, not after the deadline."""
        row = await uow.announcements.get(item.ref_id or 0)
        if row is None or row.id is None or row.status != "sent" or not row.ack_required:
            return
        if row.ack_by is not None and now >= row.ack_by:
            return  # the deadline has passed: reminders stop
        number = int(item.payload.get("number", 1))
        waiting = await uow.announcements.not_acknowledged(row.id)
        reachable = [p for p in waiting if p.telegram_id is not None and p.id is not None]
        if not reachable:
            return
        sending = timedelta(seconds=len(reachable) / SEND_RATE)
        if self._quiet.contains(now, self._tz) or now + sending > self._quiet.next_start(
            now, self._tz
        ):
            later = self._quiet.next_end(now, self._tz)
            if row.ack_by is None or later < row.ack_by:
                await uow.due.add(
                    kind=REMIND_KIND,
                    ref_id=row.id,
                    due_at=later,
                    now=now,
                    payload={"number": number},
                    dedupe_key=f"{REMIND_KIND}:{row.id}:{number}:{later:%Y%m%d}",
                )
            return
        cards = await uow.outbox.card_messages(
            message_card(row.id, p.id) for p in reachable if p.id is not None
        )
        for person in reachable:
            assert person.id is not None and person.telegram_id is not None
            on_screen = cards.get(message_card(row.id, person.id))
            await uow.outbox.add(
                chat_id=person.telegram_id,
                kind=REMIND_KIND,
                staff_id=person.id,
                now=now,
                facts={
                    "id": row.id,
                    "title": row.title,
                    "ack_by": row.ack_by.isoformat() if row.ack_by else None,
                    "reply_to": on_screen[1] if on_screen else None,
                },
                ref_id=row.id,
                priority=PRIORITY_BROADCAST,
                dedupe_key=f"{REMIND_KIND}:{row.id}:{number}:{person.id}",
            )
        await uow.announcements.note_reminded(
            row.id, [p.id for p in reachable if p.id is not None], now=now
        )
