"""Renderers for administration: invites, disabling, staff-file import reports."""

from __future__ import annotations

import html
from datetime import datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import N_, Translator
from bot.messaging.outgoing import Outgoing
from bot.people.domain import ERROR_MESSAGES
from handlers.callbacks import Press, encode
from handlers.render import Rendered, renders

FILE_ERRORS = {
    "unsupported_format": N_("Please send the staff list as a .csv or .xlsx file."),
    "missing_columns": N_("The file lacks required columns: {reason}."),
    "too_large": N_("The file is too large (at most 10 MB and 50,000 rows)."),
    "unreadable": N_("The file could not be read. Is it a valid CSV or XLSX file?"),
    "empty": N_("The file has no header row and no data."),
    "duplicate_columns": N_("These columns appear more than once: {reason}."),
}


def file_error_text(reason: str, tr: Translator) -> str:
    """The message for an ImportFileError reason such as ``missing_columns:name,department``."""
    code, _, detail = reason.partition(":")
    template = FILE_ERRORS.get(code, FILE_ERRORS["unreadable"])
    return tr.gettext(template, reason=html.escape(detail.replace(",", ", ")))


@renders("staff.import_file_error")
def import_file_error(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered("send", file_error_text(str(out.facts.get("reason", "unreadable")), tr))


@renders("staff.import_report")
def import_report(out: Outgoing, tr: Translator) -> Rendered:
    f = out.facts
    lines = [tr.gettext("<b>Staff import: {file}</b>", file=html.escape(str(f["filename"])))]
    lines.append(
        tr.gettext(
            "Rows: {total} · created {created} · updated {updated} · unchanged {unchanged}",
            total=f["total"],
            created=f["created"],
            updated=f["updated"],
            unchanged=f["unchanged"],
        )
    )
    errors = f.get("errors", [])
    if errors:
        lines.append("")
        lines.append(
            tr.ngettext("{n} row has errors:", "{n} rows have errors:", int(f["error_count"]))
        )
        for line, column, code, value in errors:
            template = ERROR_MESSAGES.get(str(code), ERROR_MESSAGES["required"])
            lines.append(
                "• " + html.escape(tr.gettext(template, line=line, column=column, value=value))
            )
        hidden = int(f["error_count"]) - len(errors)
        if hidden > 0:
            lines.append(tr.ngettext("… and {n} more.", "… and {n} more.", hidden))
    lines.append("")
    if f["written"]:
        lines.append(tr.gettext("✅ The directory is updated."))
        return Rendered("send", "\n".join(lines))
    lines.append(
        tr.gettext(
            "Nothing was written. Fix the rows and send the file again, or import only the valid "
            "rows."
        )
    )
    keyboard = None
    if f.get("offer_partial"):
        version = int(f["flow_version"])
        keyboard = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        tr.gettext("Import the valid rows"),
                        callback_data=encode(Press("st.part", version)),
                    ),
                    InlineKeyboardButton(
                        tr.gettext("Discard"), callback_data=encode(Press("st.drop", version))
                    ),
                ]
            ]
        )
    return Rendered("send", "\n".join(lines), keyboard)


@renders("staff.import_discarded")
def import_discarded(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered("send", tr.gettext("The uploaded file was discarded; nothing changed."))


@renders("staff.invite_issued")
def invite_issued(out: Outgoing, tr: Translator) -> Rendered:
    f = out.facts
    code = str(f["code"])
    username = f.get("bot_username")
    expires = tr.when(datetime.fromisoformat(str(f["expires_at"])), "short")
    link = f"https://t.me/{username}?start={code}" if username else None
    text = tr.gettext(
        "Invite for {name} ({employee_no}):\n{link}\n\nCode: <code>{code}</code>\n"
        "It works once and expires {expires}. Send it to the person privately.",
        name=html.escape(str(f["name"])),
        employee_no=html.escape(str(f["employee_no"])),
        link=html.escape(link) if link else tr.gettext("(no link: the bot has no username)"),
        code=html.escape(code),
        expires=html.escape(expires),
    )
    return Rendered("send", text)


@renders("staff.disabled")
def disabled(out: Outgoing, tr: Translator) -> Rendered:
    no = html.escape(str(out.facts["employee_no"]))
    if out.facts.get("changed"):
        return Rendered(
            "send", tr.gettext("{employee_no} is disabled from now on.", employee_no=no)
        )
    return Rendered("send", tr.gettext("{employee_no} was already disabled.", employee_no=no))


@renders("staff.usage")
def usage(out: Outgoing, tr: Translator) -> Rendered:
    if out.facts.get("command") == "disable":
        return Rendered("send", tr.gettext("Usage: /disable EMPLOYEE_NO"))
    return Rendered("send", tr.gettext("Usage: /invite EMPLOYEE_NO"))
