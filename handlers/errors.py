"""The one table from error to message, and the one error handler.

Domain errors become a localized toast (button presses) or reply (messages). Telegram's own
errors and a briefly unreachable database are logged and recovered from; internals never
reach the user. Logs carry ids, never message text or button data.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError

from bot import errors as e
from bot.announcements import model as an
from bot.approvals import engine as eng
from bot.approvals import services as ap
from bot.courses import model as crm
from bot.courses import services as crs
from bot.faq import library as kb
from bot.i18n import N_, negotiate, translator
from bot.quizzes import campaigns as qzc
from bot.quizzes import taking as qzt
from bot.runtime import ReplayedUpdateError, current_update, is_unavailable
from bot.surveys import answering as sva
from bot.surveys import publishing as svp
from bot.surveys import reporting as svrep
from bot.surveys import responses as svr
from handlers.context import Ctx

logger = logging.getLogger(__name__)

# Most specific first: the first isinstance match wins.
ERROR_MESSAGES: tuple[tuple[type[BaseException], str, str], ...] = (
    (
        e.AccountDisabledError,
        "account_disabled",
        N_("Your account has been disabled. If this is a mistake, contact your administrator."),
    ),
    (
        e.NotRegisteredError,
        "not_registered",
        N_("You are not registered yet. Please ask your administrator for an invite link."),
    ),
    (e.PermissionDeniedError, "denied", N_("You are not allowed to do that.")),
    (e.BadCallbackError, "bad_button", N_("This button is not valid. Please use /menu.")),
    (ap.AlreadyHandledError, "already_handled", N_("This was already handled.")),
    (
        ap.DraftGoneError,
        "draft_gone",
        N_("This form is no longer open. Use /apply to start again."),
    ),
    (
        ap.TemplateUnavailableError,
        "template_unavailable",
        N_("This request type is not available to you."),
    ),
    (
        ap.EmptyApproverError,
        "empty_approver",
        N_("No approver was found for a required step. Please contact your administrator."),
    ),
    (ap.UrgeTooSoonError, "urge_too_soon", N_("You reminded them recently. Please wait a while.")),
    (
        eng.WithdrawRefusedError,
        "withdraw_refused",
        N_("This request can no longer be withdrawn: someone has already decided on it."),
    ),
    (
        ap.PersonNotFoundError,
        "person_not_found",
        N_("No active staff member found by that number or name. Please check and type it again."),
    ),
    (
        ap.DelegationInputError,
        "delegation_input",
        N_(
            "Please send /delegate EMPLOYEE_NO FROM TO with a colleague other than yourself and "
            "a period that has not ended, for example /delegate E0002 2026-12-01 2026-12-07."
        ),
    ),
    (
        ap.RevokeRefusedError,
        "revoke_refused",
        N_("This request can no longer be revoked."),
    ),
    (
        eng.BadTargetError,
        "bad_target",
        N_("That person cannot take this task (yourself, the submitter, or already on it)."),
    ),
    (eng.NotReturnedError, "stale", N_("This card is out of date. Please open it again.")),
    (eng.TaskGoneError, "stale", N_("This card is out of date. Please open it again.")),
    (eng.NotYourTaskError, "denied", N_("You are not allowed to do that.")),
    (svr.SurveyClosedError, "survey_closed", N_("This survey is closed.")),
    (
        svrep.ResultsUnavailableError,
        "survey_results",
        N_(
            "There is no survey with that number whose results you may see. Send /results to "
            "choose one of yours."
        ),
    ),
    (svr.NotInvitedError, "survey_not_invited", N_("This survey was not sent to you.")),
    (sva.AlreadyDoneError, "survey_done", N_("You have already answered this survey.")),
    (svr.AlreadySubmittedError, "survey_done", N_("You have already answered this survey.")),
    (
        svr.IncompleteError,
        "survey_incomplete",
        N_("Some required questions are not answered yet. Please send /survey to continue."),
    ),
    (qzt.QuizClosedError, "quiz_closed", N_("This quiz is closed.")),
    (qzt.NotInvitedError, "quiz_not_invited", N_("This quiz was not sent to you.")),
    (qzt.AlreadyPassedError, "quiz_passed", N_("You have already passed this quiz.")),
    (
        qzt.NoAttemptsLeftError,
        "quiz_no_attempts",
        N_("You have used all your attempts at this quiz. Please contact the security officer."),
    ),
    (
        qzt.CooldownError,
        "quiz_cooldown",
        N_("Please wait a while before trying this quiz again; /quiz shows from when."),
    ),
    (qzc.CampaignError, "quiz_campaign", N_("This quiz campaign cannot be opened.")),
    (
        crm.LessonStaleError,
        "course_stale",
        N_("This lesson card is out of date. Send /course to continue where you are."),
    ),
    (crs.NotAssignedError, "course_not_assigned", N_("This course is not assigned to you.")),
    (
        crs.CourseNotFoundError,
        "course_not_found",
        N_("There is no such course. Send /course progress ID with a course number."),
    ),
    (
        an.NotRecipientError,
        "announce_not_recipient",
        N_("This announcement was not sent to you."),
    ),
    (
        an.AnnouncementGoneError,
        "announce_gone",
        N_("This announcement was already sent or cancelled."),
    ),
    (
        svp.AudienceError,
        "announce_audience",
        N_(
            "Somebody named in the audience is no longer in the directory. Nothing was sent; "
            "please compose it again with /announce."
        ),
    ),
    (e.StaleCardError, "stale", N_("This card is out of date. Please open it again.")),
    (kb.StaleEntryError, "stale", N_("This card is out of date. Please open it again.")),
    (
        kb.UnknownEntryError,
        "entry_gone",
        N_("This knowledge-base entry no longer exists. Please search again with /kb."),
    ),
    (
        e.InviteRateLimitedError,
        "invite_rate_limited",
        N_("Too many attempts. Please wait a while and try again."),
    ),
    (
        e.InviteExpiredError,
        "invite_expired",
        N_("This invite code has expired. Please ask your administrator for a new one."),
    ),
    (e.InviteUsedError, "invite_used", N_("This invite code has already been used.")),
    (
        e.InviteUnknownError,
        "invite_unknown",
        N_("This invite code is not valid. Please check the link or ask for a new one."),
    ),
    (e.AlreadyRegisteredError, "already_registered", N_("This account is already registered.")),
    (e.StaffNotFoundError, "staff_not_found", N_("No active staff member has that number.")),
    (e.ImportFileError, "import_file", N_("The file could not be read.")),
    (
        e.StorageUnavailableError,
        "unavailable",
        N_("The system is briefly unavailable. Your request is kept and will be handled shortly."),
    ),
)
GENERIC = ("internal", N_("Sorry, something went wrong. Please try again later."))
MESSAGES_BY_CODE = {code: msg for _, code, msg in ERROR_MESSAGES} | {GENERIC[0]: GENERIC[1]}
# Presses that look like probing someone else's objects are worth a warning in the log.
_SUSPICIOUS = (e.BadCallbackError, e.PermissionDeniedError)


def error_code(exc: BaseException) -> str:
    """The stable code for an error (the renderer turns it into the message)."""
    for kind, code, _ in ERROR_MESSAGES:
        if isinstance(exc, kind):
            return code
    return GENERIC[0]


async def on_error(update: object, context: Ctx) -> None:
    """The application's only error handler."""
    exc = context.error
    if exc is None:
        return
    update_id = update.update_id if isinstance(update, Update) else None
    if isinstance(exc, ReplayedUpdateError):
        logger.info("update %s was already handled; replay ignored", update_id)
        return
    if is_unavailable(exc):
        # Nothing was committed: keep the update and handle it when the database is back.
        logger.warning(
            "database unavailable while handling update %s: %s", update_id, type(exc).__name__
        )
        _retry_later()
        await _answer_unavailable(update)
        return
    if isinstance(exc, TelegramError):
        logger.warning("Telegram refused a call for update %s: %s", update_id, exc)
        return
    if not isinstance(exc, e.DomainError):
        logger.error("update %s failed", update_id, exc_info=exc)
    elif isinstance(exc, _SUSPICIOUS) and isinstance(update, Update):
        user = update.effective_user
        logger.warning(
            "refused %s from user %s on update %s",
            type(exc).__name__,
            user.id if user else None,
            update_id,
        )
    if not isinstance(update, Update) or update.effective_user is None:
        return
    await tell_user(update, context, error_code(exc))


async def _answer_unavailable(update: object) -> None:
    """Tell a tap at once that it is kept, not done (never a false "approved").

    The language comes from Telegram's language_code: the database is what is missing.
    """
    if not isinstance(update, Update) or update.callback_query is None:
        return
    user = update.effective_user
    text = translator(negotiate(user.language_code if user else None)).gettext(
        MESSAGES_BY_CODE["unavailable"]
    )
    try:
        await update.callback_query.answer(text, show_alert=True)
    except TelegramError as exc:
        logger.info("could not answer a tap during an outage: %s", exc)


def _retry_later() -> None:
    handling = current_update.get()
    if handling is not None:
        handling.retry = True


async def tell_user(update: Update, context: Ctx, code: str) -> None:
    """A toast for a press, a reply (through the outbox) for a message."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None:
        return
    query = update.callback_query
    try:
        if query is not None:
            locale = await context.services.people.locale_for(user.id, user.language_code)
            text = translator(locale).gettext(MESSAGES_BY_CODE[code])
            await query.answer(text, show_alert=True)
        elif chat is not None and chat.type == chat.PRIVATE:
            await context.services.people.tell(
                tg_id=user.id,
                chat_id=chat.id,
                language_code=user.language_code,
                kind="error.notice",
                facts={"code": code},
            )
    except TelegramError as exc:
        logger.warning("could not tell user %s about an error: %s", user.id, exc)
    except Exception as exc:
        if is_unavailable(exc):
            _retry_later()
            return
        logger.exception("could not tell user %s about an error", user.id)
