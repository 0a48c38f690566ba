"""Survey handlers (#8): /survey, the question card's buttons; typed answers arrive through
handlers/approvals.py's text handler (``answer_typed``)."""

from __future__ import annotations

from typing import Literal

from telegram import Chat, Update
from telegram.ext import BaseHandler as PTBHandler
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.errors import BadCallbackError
from handlers import callbacks
from handlers.context import Ctx
from handlers.staff import download

FORMATS: dict[str, Literal["csv", "xlsx"]] = {"csv": "csv", "xlsx": "xlsx"}
VERBS = {"sv.opt": "opt", "sv.done": "done", "sv.skip": "skip", "sv.send": "send"}


def _who(update: Update) -> tuple[int, int] | None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != Chat.PRIVATE:
        return None
    return user.id, chat.id


async def on_survey_command(update: Update, context: Ctx) -> None:
    """``/survey``: the open surveys waiting for this person."""
    who = _who(update)
    if who is not None:
        await context.services.surveys.list_open(tg_id=who[0], chat_id=who[1])


async def on_survey_button(update: Update, context: Ctx) -> None:
    """Start or continue a survey, or one button of its question card."""
    query = update.callback_query
    who = _who(update)
    if query is None or who is None:
        return
    press = callbacks.decode(query.data)
    if press.action == "sv.go":
        await context.services.surveys.begin(tg_id=who[0], chat_id=who[1], survey_id=press.obj_id)
    else:
        await context.services.surveys.press(
            tg_id=who[0],
            chat_id=who[1],
            survey_id=press.obj_id,
            verb=VERBS[press.action],
            code=press.version,
        )
    await query.answer()


async def on_results_command(update: Update, context: Ctx) -> None:
    """``/results [ID] [csv|xlsx]``: a survey's results (no id: the surveys to choose from)."""
    who = _who(update)
    if who is None:
        return
    args = list(context.args or [])
    results = context.services.survey_results
    survey_id = int(args[0].lstrip("#")) if args and args[0].lstrip("#").isdigit() else None
    if survey_id is None:
        await results.listing(tg_id=who[0], chat_id=who[1])
        return
    fmt = args[1].lower() if len(args) > 1 else ""
    if fmt in FORMATS:
        await results.export(tg_id=who[0], chat_id=who[1], survey_id=survey_id, fmt=FORMATS[fmt])
    else:
        await results.summary(tg_id=who[0], chat_id=who[1], survey_id=survey_id)


async def on_results_button(update: Update, context: Ctx) -> None:
    """📊 (version 0), CSV (1) or XLSX (2) of a survey's results."""
    query = update.callback_query
    who = _who(update)
    if query is None or who is None:
        return
    press = callbacks.decode(query.data)
    results = context.services.survey_results
    if press.version == 0:
        await results.summary(tg_id=who[0], chat_id=who[1], survey_id=press.obj_id)
    elif press.version in (1, 2):
        fmt: Literal["csv", "xlsx"] = "csv" if press.version == 1 else "xlsx"
        await results.export(tg_id=who[0], chat_id=who[1], survey_id=press.obj_id, fmt=fmt)
    else:
        raise BadCallbackError(query.data or "")
    await query.answer()


async def answer_typed(update: Update, context: Ctx) -> bool:
    """A private text that answers the survey question being asked (False: it is not)."""
    who = _who(update)
    message = update.effective_message
    if who is None or message is None or message.text is None:
        return False
    return await context.services.surveys.typed(tg_id=who[0], chat_id=who[1], text=message.text)


async def on_survey_file(update: Update, context: Ctx) -> bool:
    """A survey definition (YAML or XLSX) captioned ``/publish AUDIENCE [CLOSES]``: published for
    that audience. False when the document is not one."""
    who = _who(update)
    message = update.effective_message
    if who is None or message is None or message.document is None:
        return False
    caption = (message.caption or "").strip()
    if not caption.lower().startswith("/publish"):
        return False
    document = message.document
    data = await download(context, document.file_id, document.file_size)
    await context.services.survey_publishing.publish_file(
        tg_id=who[0],
        chat_id=who[1],
        data=data,
        file_name=document.file_name or "survey.yaml",
        args=caption[len("/publish") :],
    )
    return True


async def on_newsurvey_command(update: Update, context: Ctx) -> None:
    """``/newsurvey``: write a survey step by step (trainers, office clerks, administrators)."""
    who = _who(update)
    if who is not None:
        await context.services.survey_authoring.start(tg_id=who[0], chat_id=who[1])


async def on_authoring_button(update: Update, context: Ctx) -> None:
    """A button of the survey being written."""
    query = update.callback_query
    who = _who(update)
    if query is None or who is None:
        return
    press = callbacks.decode(query.data)
    await context.services.survey_authoring.press(
        tg_id=who[0], chat_id=who[1], verb=press.action.removeprefix("sa."), code=press.version
    )
    await query.answer()


async def author_typed(update: Update, context: Ctx) -> bool:
    """A private text that answers a step of the survey being written (False: it is not)."""
    who = _who(update)
    message = update.effective_message
    if who is None or message is None or message.text is None:
        return False
    return await context.services.survey_authoring.typed(
        tg_id=who[0], chat_id=who[1], text=message.text
    )


def handlers() -> list[tuple[int, PTBHandler[Update, Ctx, None]]]:
    private = filters.ChatType.PRIVATE
    return [
        (0, CommandHandler("survey", on_survey_command, filters=private)),
        (0, CommandHandler("newsurvey", on_newsurvey_command, filters=private)),
        (0, CommandHandler("results", on_results_command, filters=private)),
        (0, CallbackQueryHandler(on_results_button, pattern=r"^sv\.res:")),
        (0, CallbackQueryHandler(on_survey_button, pattern=r"^sv\.(go|opt|done|skip|send):")),
        (
            0,
            CallbackQueryHandler(
                on_authoring_button,
                pattern=r"^sa\.(anon|skip|kind|req|undo|back|finish|cancel|export):",
            ),
        ),
    ]
