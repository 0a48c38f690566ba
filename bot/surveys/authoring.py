"""Writing a survey in the chat, step by step, for trainers, office clerks and administrators.

/newsurvey asks for the title, anonymous or named, a welcome text; then questions one at a
time (the type by button, the text, the choices one per line, required or optional); then the
closing text, the audience and the closing date; and publishes it through the same path as a
YAML file (SurveyPublishing.publish), so a survey written here is checked by the same parser
and stored as the same YAML. The YAML can be downloaded at any point (📄), to add skip logic or
edit it on a computer and send it back captioned /publish.

Texts may carry an English version after a “|”: “您对系统满意吗？ | Are you satisfied?”;
without one the Chinese text is shown to English readers too.

The draft lives in the person's flow row (uow.flows), so leaving, coming back or a restart of
the bot loses nothing; /cancel drops it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from typing import Any

import yaml

from bot import access
from bot.errors import BadCallbackError, DomainError
from bot.messaging.services import PRIORITY_INTERACTIVE
from bot.runtime import Runtime
from bot.surveys.definitions import (
    CHOICE_LABEL_MAX,
    MAX_CHOICES,
    MAX_QUESTIONS,
    PAGE_MAX,
    QUESTION_MAX,
    TITLE_MAX,
    SurveyError,
    parse_survey,
)
from bot.surveys.model import QuestionKind
from bot.surveys.publishing import AudienceError, SurveyPublishing, parse_audience, resolve
from storage.uow import UnitOfWork

FLOW = "survey.author"
CARD_KIND = "survey.author"
FILE_KIND = "survey.author_file"
# The question types in the order of their buttons.
KINDS = (
    QuestionKind.SINGLE,
    QuestionKind.MULTIPLE,
    QuestionKind.RATING,
    QuestionKind.NPS,
    QuestionKind.TEXT,
    QuestionKind.DATE,
    QuestionKind.NUMBER,
)
TYPED_STEPS = frozenset(
    {"title", "welcome", "q_text", "q_choices", "closing", "audience", "closes"}
)
SKIPPABLE = frozenset({"welcome", "closing", "closes"})
DEFAULT_WELCOME = ("感谢您参与本次问卷调查。", "Thank you for taking part in this survey.")
DEFAULT_CLOSING = ("提交成功，谢谢您的参与！", "Submitted. Thank you!")


class AuthoringInputError(DomainError):
    """Typed text that does not fit the step: ``code`` says why (shown, the step asked again)."""

    def __init__(self, code: str, **facts: Any) -> None:
        super().__init__(code, facts)
        self.code = code
        self.facts = facts


def bilingual(text: str, *, limit: int, what: str) -> list[str]:
    """“中文 | English” → [zh, en]; one text is used for both. AuthoringInputError if empty
    or longer than ``limit``."""
    zh, sep, en = text.partition("|")
    zh, en = zh.strip(), en.strip() if sep else ""
    en = en or zh
    if not zh:
        raise AuthoringInputError("empty", what=what)
    longest = max(len(zh), len(en))
    if longest > limit:
        raise AuthoringInputError("too_long", what=what, limit=limit, length=longest)
    return [zh, en]


def choices_of(text: str) -> list[list[str]]:
    """One choice a line (or separated by ；/;): 2 to MAX_CHOICES, each short enough for a
    button, none twice."""
    parts = [p.strip() for line in text.splitlines() for p in line.replace("；", ";").split(";")]
    items = [bilingual(p, limit=CHOICE_LABEL_MAX, what="choice") for p in parts if p]
    if not 2 <= len(items) <= MAX_CHOICES:
        raise AuthoringInputError("choices", count=len(items), most=MAX_CHOICES)
    seen = [zh for zh, _ in items]
    if len(set(seen)) != len(seen):
        raise AuthoringInputError("choice_twice")
    return items


def to_yaml(draft: dict[str, Any], *, key: str) -> str:
    """The survey a draft describes, as the YAML a trainer could have written."""

    def text(pair: list[str]) -> dict[str, str]:
        return {"zh_CN": pair[0], "en": pair[1]}

    questions = []
    for number, q in enumerate(draft.get("questions", []), start=1):
        item: dict[str, Any] = {"key": f"q{number}", "type": q["kind"], "text": text(q["text"])}
        if q.get("choices"):
            item["choices"] = [
                {"key": f"c{i}", "label": text(c)} for i, c in enumerate(q["choices"], start=1)
            ]
        if not q.get("required", True):
            item["required"] = False
        questions.append(item)
    document = {
        "key": key,
        "version": 1,
        "title": text(draft["title"]),
        "welcome": text(draft.get("welcome") or list(DEFAULT_WELCOME)),
        "closing": text(draft.get("closing") or list(DEFAULT_CLOSING)),
        "anonymous": bool(draft.get("anonymous")),
        "questions": questions,
    }
    header = (
        "# Written in the chat with /newsurvey; edit it and send it back captioned /publish.\n"
    )
    return header + yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=100)


@dataclass(frozen=True)
class _Step:
    step: str
    data: dict[str, Any]


class SurveyAuthoring:
    """The /newsurvey conversation: one unit of work per message or tap."""

    def __init__(
        self, rt: Runtime, publishing: SurveyPublishing, *, tz: tzinfo, default_locale: str
    ) -> None:
        self._rt = rt
        self._publishing = publishing
        self._tz = tz
        self._default_locale = default_locale

    async def _actor(self, uow: UnitOfWork, tg_id: int) -> access.Actor:
        return await access.authorize(
            uow, tg_id, "survey.publish", default_locale=self._default_locale
        )

    def _card_key(self, tg_id: int) -> str:
        return f"survey.author:{tg_id}"

    async def _show(
        self,
        uow: UnitOfWork,
        actor: access.Actor,
        chat_id: int,
        state: _Step,
        now: datetime,
        *,
        below: bool = False,
        error: AuthoringInputError | None = None,
        facts: dict[str, Any] | None = None,
    ) -> None:
        key = self._card_key(actor.telegram_id)
        if below:
            await uow.outbox.forget_card(key)
        draft = state.data
        await uow.outbox.add(
            chat_id=chat_id,
            kind=CARD_KIND,
            staff_id=actor.staff_id,
            now=now,
            facts={
                "step": state.step,
                "title": draft.get("title"),
                "anonymous": draft.get("anonymous"),
                "questions": [
                    {
                        "kind": q["kind"],
                        "text": q["text"],
                        "choices": len(q.get("choices") or []),
                        "required": q.get("required", True),
                    }
                    for q in draft.get("questions", [])
                ],
                "pending": draft.get("q"),
                "most": MAX_QUESTIONS,
                "error": None if error is None else {"code": error.code, **error.facts},
                **(facts or {}),
            },
            priority=PRIORITY_INTERACTIVE,
            card_key=key,
        )
        await uow.flows.put(
            actor.telegram_id, chat_id, flow=FLOW, step=state.step, data=state.data, now=now
        )

    async def start(self, *, tg_id: int, chat_id: int) -> None:
        """/newsurvey: a new draft (any other flow in this chat ends); the title is asked."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            await self._show(
                uow, actor, chat_id, _Step("title", {"questions": []}), now, below=True
            )
            await uow.commit()

    async def typed(self, *, tg_id: int, chat_id: int, text: str) -> bool:
        """A private text while writing a survey: the answer to the step (False: not writing
        one, the text is for something else)."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            flow = await uow.flows.get(tg_id, chat_id)
            if flow is None or flow.flow != FLOW:
                return False
            actor = await self._actor(uow, tg_id)
            state = _Step(flow.step, dict(flow.data))
            try:
                if state.step not in TYPED_STEPS:
                    raise AuthoringInputError("tap_a_button")
                moved = await self._take_text(uow, actor, chat_id, state, text.strip(), now)
            except AuthoringInputError as problem:
                await self._show(uow, actor, chat_id, state, now, below=True, error=problem)
                await uow.commit()
                return True
            if moved is not None:
                await self._show(uow, actor, chat_id, moved, now, below=True)
            await uow.commit()
            return True

    async def _take_text(
        self,
        uow: UnitOfWork,
        actor: access.Actor,
        chat_id: int,
        state: _Step,
        text: str,
        now: datetime,
    ) -> _Step | None:
        data = state.data
        if state.step == "title":
            data["title"] = bilingual(text, limit=TITLE_MAX, what="title")
            return _Step("anonymous", data)
        if state.step == "welcome":
            data["welcome"] = bilingual(text, limit=PAGE_MAX, what="welcome")
            return _Step("menu", data)
        if state.step == "q_text":
            pending = dict(data.get("q") or {})
            pending["text"] = bilingual(text, limit=QUESTION_MAX, what="question")
            data["q"] = pending
            kind = QuestionKind(pending["kind"])
            if kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
                return _Step("q_choices", data)
            return _Step("q_required", data)
        if state.step == "q_choices":
            pending = dict(data.get("q") or {})
            pending["choices"] = choices_of(text)
            data["q"] = pending
            return _Step("q_required", data)
        if state.step == "closing":
            data["closing"] = bilingual(text, limit=PAGE_MAX, what="closing")
            return _Step("audience", data)
        if state.step == "audience":
            try:
                audience = parse_audience(text)
                await resolve(uow, audience)  # every unknown name, now rather than at the end
            except AudienceError as error:
                raise AuthoringInputError(
                    "audience", problems=[list(p) for p in error.problems]
                ) from None
            data["audience"] = text
            return _Step("closes", data)
        # "closes": a date; the survey closes at its end, local time
        try:
            closes = date.fromisoformat(text)
        except ValueError:
            raise AuthoringInputError("date", what=text) from None
        closes_at = datetime.combine(closes, time(23, 59), tzinfo=self._tz)
        if closes_at <= now:
            raise AuthoringInputError("past", what=text)
        data["closes"] = closes.isoformat()
        await self._publish(uow, actor, chat_id, data, now)
        return None

    async def press(self, *, tg_id: int, chat_id: int, verb: str, code: int) -> None:
        """A button of the authoring card. Each verb belongs to a step: a button left on an
        older card (the step has moved on) is refused as stale."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            flow = await uow.flows.get(tg_id, chat_id)
            if flow is None or flow.flow != FLOW:
                raise BadCallbackError()
            state = _Step(flow.step, dict(flow.data))
            data = state.data
            moved: _Step | None
            if verb == "cancel":
                await uow.flows.clear(tg_id, chat_id)
                await uow.outbox.add(
                    chat_id=chat_id,
                    kind=CARD_KIND,
                    staff_id=actor.staff_id,
                    now=now,
                    facts={"step": "cancelled", "title": data.get("title")},
                    priority=PRIORITY_INTERACTIVE,
                    card_key=self._card_key(tg_id),
                )
                await uow.commit()
                return
            if verb == "export":
                if not data.get("title") or not data.get("questions"):
                    raise BadCallbackError()
                await uow.outbox.add(
                    chat_id=chat_id,
                    kind=FILE_KIND,
                    staff_id=actor.staff_id,
                    now=now,
                    facts={"yaml": to_yaml(data, key=self._key(actor, now))},
                    priority=PRIORITY_INTERACTIVE,
                )
                await uow.commit()
                return
            if verb == "anon" and state.step == "anonymous" and code in (0, 1):
                data["anonymous"] = bool(code)
                moved = _Step("welcome", data)
            elif verb == "skip" and state.step in SKIPPABLE:
                if state.step == "welcome":
                    moved = _Step("menu", data)
                elif state.step == "closing":
                    moved = _Step("audience", data)
                else:  # no closing date
                    try:
                        await self._publish(uow, actor, chat_id, data, now)
                    except AuthoringInputError as problem:
                        await self._show(uow, actor, chat_id, state, now, error=problem)
                    await uow.commit()
                    return
            elif verb == "kind" and state.step == "menu" and 0 <= code < len(KINDS):
                if len(data.get("questions", [])) >= MAX_QUESTIONS:
                    raise BadCallbackError()
                data["q"] = {"kind": KINDS[code].value}
                moved = _Step("q_text", data)
            elif verb == "req" and state.step == "q_required" and code in (0, 1):
                pending = dict(data.get("q") or {})
                if "text" not in pending:
                    raise BadCallbackError()
                pending["required"] = bool(code)
                data["questions"] = [*data.get("questions", []), pending]
                data["q"] = None
                moved = _Step("menu", data)
            elif verb == "undo" and state.step == "menu" and data.get("questions"):
                data["questions"] = data["questions"][:-1]
                moved = _Step("menu", data)
            elif verb == "back" and state.step in ("q_text", "q_choices", "q_required"):
                data["q"] = None  # this question is dropped; the menu again
                moved = _Step("menu", data)
            elif verb == "finish" and state.step == "menu" and data.get("questions"):
                moved = _Step("closing", data)
            else:
                raise BadCallbackError()
            await self._show(uow, actor, chat_id, moved, now)
            await uow.commit()

    def _key(self, actor: access.Actor, now: datetime) -> str:
        return f"chat_{actor.staff_id}_{now.astimezone(self._tz):%Y%m%d%H%M}"

    async def _publish(
        self,
        uow: UnitOfWork,
        actor: access.Actor,
        chat_id: int,
        data: dict[str, Any],
        now: datetime,
    ) -> None:
        """Publish the draft in this unit of work (the flow ends with it): the same path and
        the same checks as a YAML file."""
        text = to_yaml(data, key=self._key(actor, now))
        try:
            parse_survey(text, source="chat")
        except SurveyError as error:  # the steps check everything the parser does
            raise AuthoringInputError("definition", where=str(error)) from None
        closes = data.get("closes")
        closes_at = (
            datetime.combine(date.fromisoformat(closes), time(23, 59), tzinfo=self._tz)
            if closes
            else None
        )
        try:
            await self._publishing.publish_in(
                uow,
                text=text,
                source="chat",
                audience=parse_audience(str(data.get("audience", ""))),
                closes_at=closes_at,
                author=actor,
                reply_to=chat_id,
                now=now,
            )
        except AudienceError as error:  # someone left the audience since it was typed
            raise AuthoringInputError(
                "audience", problems=[list(p) for p in error.problems]
            ) from None
        await uow.flows.clear(actor.telegram_id, chat_id)
        await uow.outbox.add(
            chat_id=chat_id,
            kind=CARD_KIND,
            staff_id=actor.staff_id,
            now=now,
            facts={"step": "published", "title": data.get("title")},
            priority=PRIORITY_INTERACTIVE,
            card_key=self._card_key(actor.telegram_id),
        )
