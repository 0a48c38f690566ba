"""Renderers for approvals: the form, the summary with its route, task and status cards, lists.

Task and status cards are living cards (an outbox card key): the first row sends the card and
every later row edits that same message, so a card never goes stale on anyone's phone.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.approvals.engine import STATUS_LABELS
from bot.approvals.forms import INPUT_ERRORS
from bot.i18n import N_, Translator
from bot.messaging.outgoing import Outgoing
from handlers.callbacks import Press, encode
from handlers.render import Rendered, living_card, renders

SLOT_MARKS = {
    "approved": "✅",
    "auto_passed": "✅",
    "rejected": "❌",
    "open": "⏳",
    "suspended": "⏸",
    "waiting": "▫️",
    "closed": "➖",
}
NODE_MARKS = {"passed": "✅", "active": "⏳", "rejected": "❌", "pending": "▫️", "cancelled": "➖"}
KIND_LABELS = {
    "sequential": N_("one after another"),
    "all": N_("all must approve"),
    "any": N_("any one"),
    "quorum": N_("a quorum"),
}
URGENCY_LABELS = {1: N_("Urgent"), 2: N_("Most urgent")}
EMPTY_LABELS = {
    "admin": N_("nobody found: sent to the administrators"),
    "auto_pass": N_("nobody found: passes automatically"),
    "person": N_("nobody found: sent to the designated person"),
    "self": N_("you are the approver: passes automatically"),
}
NOTE_LABELS = {
    "dedupe": N_("auto-passed: already approved earlier"),
    "escalated": N_("escalated"),
    "returned": N_("returned"),
}
MOVE_PROMPTS = {
    "reject": N_("Please type the reason for rejecting {number}."),
    "return": N_("Please type the reason for returning {number} to the submitter."),
    "sign": N_("Please type your sign-off opinion for {number} (for example: agreed, issue it)."),
    "transfer": N_("Whom should {number} go to? Type their employee number or full name."),
    "add_before": N_(
        "Who should approve {number} before you? Type employee numbers or full names, "
        "separated by 、"
    ),
    "add_after": N_(
        "Who should approve {number} after you? Type employee numbers or full names, "
        "separated by 、"
    ),
    "comment": N_("Type your comment on {number}."),
    "add_with": N_(
        "Who should approve {number} together with you? Type employee numbers or full names, "
        "separated by 、"
    ),
    "return_node": N_("Please type the reason for returning {number} to that step."),
}
TOASTS = {
    "ap.toast.submitted": N_("Submitted: {number}"),
    "ap.toast.approve": N_("Approved."),
    "ap.toast.reject": N_("Rejected."),
    "ap.toast.return": N_("Returned to the submitter."),
    "ap.toast.withdrawn": N_("Withdrawn."),
    "ap.toast.resubmitted": N_("Resubmitted."),
    "ap.toast.urged": N_("Reminder sent."),
    "ap.toast.type_reason": N_("Please type it in the chat."),
    "ap.toast.stale": N_("This was already handled."),
    "ap.toast.transfer": N_("Transferred."),
    "ap.toast.add_before": N_("Signers added before you."),
    "ap.toast.add_after": N_("Signers added after you."),
    "ap.toast.add_with": N_("Signers added alongside you."),
    "ap.toast.comment": N_("Comment added."),
    "ap.toast.choose": N_("Please choose."),
    "ap.toast.read": N_("Marked as read."),
    "ap.toast.files": N_("Sending the attachments."),
    "ap.toast.revoked": N_("Revoked."),
}


def toast_text(kind: str, facts: Mapping[str, Any], tr: Translator) -> str:
    """The short answer to a press."""
    if kind == "ap.toast.approve" and facts.get("doc_no"):
        return tr.gettext("Numbered: {doc_no}", doc_no=str(facts["doc_no"]))
    return tr.gettext(TOASTS[kind], number=str(facts.get("number", "")))


def already_handled_text(by: str | None, at: str | None, tr: Translator) -> str:
    """The toast for the loser of a race (或签, escalation, a second tap)."""
    if by and at:
        return tr.gettext("Already handled by {name} at {at}.", name=by, at=_when(at, tr))
    return tr.gettext("This was already handled.")


def _plain(text: Any, tr: Translator) -> str:
    """A label for a button: buttons show plain text, not HTML."""
    if isinstance(text, Mapping):
        return str(text.get("en" if tr.locale == "en" else "zh_CN", ""))
    return str(text or "")


def _label(text: Any, tr: Translator) -> str:
    if isinstance(text, Mapping):
        return html.escape(str(text.get("en" if tr.locale == "en" else "zh_CN", "")))
    return html.escape(str(text or ""))


def _value(field: Mapping[str, Any], tr: Translator) -> str:
    value = field.get("value")
    kind = field.get("type")
    if value is None or value == [] or value == "":
        return "—"
    if kind == "money":
        try:
            return html.escape(tr.money(Decimal(str(value))))
        except InvalidOperation:
            return html.escape(str(value))
    if kind == "choice":
        return _list([_label(v, tr) for v in value], tr) if isinstance(value, list) else "—"
    if kind == "date":
        return html.escape(tr.day(date.fromisoformat(str(value)), "medium"))
    if kind == "date_range" and isinstance(value, Mapping):
        return html.escape(
            tr.gettext(
                "{start} to {end} ({days} days)",
                start=tr.day(date.fromisoformat(str(value["start"])), "medium"),
                end=tr.day(date.fromisoformat(str(value["end"])), "medium"),
                days=value.get("days", ""),
            )
        )
    if kind == "attachment" and isinstance(value, list):
        return "📎 " + _list([html.escape(str(v)) for v in value], tr)
    if isinstance(value, list):
        return _list([html.escape(str(v)) for v in value], tr)
    return html.escape(str(value))


def _list(items: Sequence[str], tr: Translator) -> str:
    """Items joined as the language writes a list (、 in Chinese, ", " in English)."""
    return tr.gettext("、").join(items)


def _fields(fields: Sequence[Mapping[str, Any]], tr: Translator) -> str:
    return "\n".join(
        tr.gettext("{label}: {value}", label=_label(f["label"], tr), value=_value(f, tr))
        for f in fields
    )


def _when(iso: str | None, tr: Translator) -> str:
    if not iso:
        return ""
    return tr.when(datetime.fromisoformat(iso), "short")


def _chain(nodes: Sequence[Mapping[str, Any]], tr: Translator) -> str:
    lines = []
    for node in nodes:
        people = []
        for p in node.get("people", []):
            mark = SLOT_MARKS.get(str(p.get("status")), "")
            who = html.escape(str(p.get("name") or ""))
            if p.get("by"):
                who = tr.gettext("{by} (for {name})", by=html.escape(str(p["by"])), name=who)
            elif p.get("for"):
                who = tr.gettext("{name} (by delegate)", name=who)
            extra = ""
            if p.get("note") in NOTE_LABELS:
                extra = " · " + tr.gettext(NOTE_LABELS[str(p["note"])])
            if p.get("comment"):
                extra += " · “" + html.escape(str(p["comment"])) + "”"
            if p.get("at") and p.get("status") in ("approved", "rejected"):
                extra += " · " + _when(str(p["at"]), tr)
            people.append(f"{mark}{who}{extra}")
        empty = node.get("empty")
        if empty in EMPTY_LABELS:
            people.append(tr.gettext(EMPTY_LABELS[str(empty)]))
        mark = NODE_MARKS.get(str(node.get("status")), "")
        kind = ""
        if len(node.get("people", [])) > 1:
            kind = tr.gettext(
                " ({kind})", kind=tr.gettext(KIND_LABELS[str(node.get("kind", "sequential"))])
            )
        step = f"{mark} <b>{_label(node['name'], tr)}</b>{kind}"
        lines.append(
            tr.gettext("{step}: {people}", step=step, people=tr.gettext("；").join(people))
        )
    return "\n".join(lines)


def _comments(facts: Mapping[str, Any], tr: Translator) -> str:
    lines = [
        tr.gettext(
            "💬 {name}: {text}",
            name=html.escape(str(c.get("by") or "")),
            text=html.escape(str(c.get("text") or "")),
        )
        for c in facts.get("comments", [])
    ]
    return ("\n\n" + "\n".join(lines)) if lines else ""


def _header(facts: Mapping[str, Any], tr: Translator) -> str:
    urgency = int(facts.get("urgency") or 0)
    badge = f"【{tr.gettext(URGENCY_LABELS[urgency])}】" if urgency in URGENCY_LABELS else ""
    head = tr.gettext(
        "{badge}<b>{template}</b> {number}\nSubmitted by {submitter}",
        badge=badge,
        template=_label(facts.get("template"), tr),
        number=html.escape(str(facts.get("number", ""))),
        submitter=html.escape(str(facts.get("submitter", ""))),
    )
    if facts.get("doc_no"):
        head += "\n" + tr.gettext(
            "Document number: {doc_no}", doc_no=html.escape(str(facts["doc_no"]))
        )
    return head


def _status(facts: Mapping[str, Any], tr: Translator) -> str:
    return tr.gettext(
        "Status: {status}", status=tr.gettext(STATUS_LABELS.get(str(facts.get("status")), "?"))
    )


def _button(label: str, action: str, obj: int, version: int = 0) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=encode(Press(action, obj, version)))


# --- the form ----------------------------------------------------------------------------------
@renders("ap.templates")
def templates(out: Outgoing, tr: Translator) -> Rendered:
    items = out.facts.get("templates", [])
    if not items:
        return Rendered("send", tr.gettext("There is no approval template you can use."))
    rows = [[_button(_plain(t["name"], tr), "ap.new", int(t["id"]))] for t in items]
    return Rendered(
        "send", tr.gettext("Which request do you want to start?"), InlineKeyboardMarkup(rows)
    )


@renders("ap.ask")
def ask(out: Outgoing, tr: Translator) -> Rendered:
    f = out.facts
    field = f["field"]
    draft_id = int(f["draft_id"])
    lines = []
    error = f.get("error")
    if error:
        code = str(error.get("code"))
        message = INPUT_ERRORS.get(code, INPUT_ERRORS.get("invalid", "{code}"))
        lines.append("⚠️ " + html.escape(tr.gettext(message, **{k: v for k, v in error.items()})))
    lines.append(
        tr.gettext(
            "<b>{template}</b> ({index}/{total})\n{label}",
            template=_label(f.get("template"), tr),
            index=f.get("index"),
            total=f.get("total"),
            label=_label(field["label"], tr),
        )
    )
    if field.get("hint"):
        lines.append("<i>" + _label(field["hint"], tr) + "</i>")
    kind = field.get("type")
    rows: list[list[InlineKeyboardButton]] = []
    if kind == "choice":
        rows = [
            [_button(_plain(o, tr), "ap.opt", draft_id, i + 1)]
            for i, o in enumerate(field.get("options", []))
        ]
    elif kind == "attachment":
        lines.append(
            tr.gettext(
                "Send the files as documents or photos ({n} received), then tap Done.",
                n=f.get("files", 0),
            )
        )
        rows = [[_button(tr.gettext("Done"), "ap.next", draft_id)]]
    elif kind == "money":
        lines.append(tr.gettext("Type the amount in yuan, for example 1234.50"))
    elif kind == "date":
        lines.append(tr.gettext("Type a date, for example 2026-12-01"))
    elif kind == "date_range":
        lines.append(tr.gettext("Type two dates, for example 2026-12-01 至 2026-12-03"))
    if not field.get("required"):
        rows.append([_button(tr.gettext("Skip"), "ap.opt", draft_id, 0)])
    rows.append([_button(tr.gettext("Cancel"), "ap.drop", draft_id)])
    return Rendered("send", "\n".join(lines), InlineKeyboardMarkup(rows))


@renders("ap.summary")
def summary(out: Outgoing, tr: Translator) -> Rendered:
    f = out.facts
    draft_id = int(f["draft_id"])
    text = tr.gettext("<b>{template}</b>: please check", template=_label(f.get("template"), tr))
    text += "\n\n" + _fields(f.get("fields", []), tr)
    rows = []
    if f.get("problem"):
        text += "\n\n⚠️ " + tr.gettext(
            "This request cannot be sent: no approver was found for a required step. "
            "Please contact your administrator."
        )
    else:
        text += "\n\n" + tr.gettext("<b>Route</b> (who will approve):") + "\n"
        for node in f.get("route", []):
            people = _list([html.escape(p) for p in node.get("people", [])], tr)
            if node.get("empty") in EMPTY_LABELS:
                people = (
                    people
                    + (" · " if people else "")
                    + tr.gettext(EMPTY_LABELS[str(node["empty"])])
                )
            rule = f" [{_label(node['rule'], tr)}]" if node.get("rule") else ""
            who = people + rule
            line = tr.gettext("{step}: {people}", step=_label(node["name"], tr), people=who)
            text += "▫️ " + line + "\n"
        version = int(f.get("version", 0))
        if f.get("resubmit"):
            again = tr.gettext("Resubmit from the returning step")
            rows.append(
                [
                    _button(again, "ap.send", draft_id, version),
                    _button(tr.gettext("Start over"), "ap.resend", draft_id, version),
                ]
            )
        else:
            rows.append([_button(tr.gettext("✅ Submit"), "ap.send", draft_id, version)])
    rows.append(
        [
            _button(tr.gettext("✏️ Edit"), "ap.edit", draft_id, 0),
            _button(tr.gettext("Cancel"), "ap.drop", draft_id),
        ]
    )
    return Rendered("send", text, InlineKeyboardMarkup(rows))


@renders("ap.edit_pick")
def edit_pick(out: Outgoing, tr: Translator) -> Rendered:
    draft_id = int(out.facts["draft_id"])
    rows = [
        [_button(_plain(label, tr), "ap.edit", draft_id, i + 1)]
        for i, label in enumerate(out.facts.get("fields", []))
    ]
    return Rendered(
        "send", tr.gettext("Which answer do you want to change?"), InlineKeyboardMarkup(rows)
    )


@renders("ap.classified")
def classified(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered(
        "send",
        tr.gettext(
            "Documents classified secret, confidential or top secret must not be handled through "
            "this chat: "
            "state secrets may not travel over public networks. Nothing of this form was kept. "
            "Please use the classified-document system and procedures of your office."
        ),
    )


@renders("ap.discarded")
def discarded(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered("send", tr.gettext("The form was discarded."))


# --- cards ---------------------------------------------------------------------------------------
@renders("ap.task")
def task_card(out: Outgoing, tr: Translator) -> Rendered:
    f = out.facts
    task = f["task"]
    text = _header(f, tr) + "\n\n" + _fields(f.get("fields", []), tr)
    if task.get("rule"):
        text += "\n" + tr.gettext("Why you: {rule}", rule=_label(task["rule"], tr))
    if task.get("for"):
        text += "\n" + tr.gettext(
            "You act on behalf of {name}.", name=html.escape(str(task["for"]))
        )
    text += "\n\n" + _chain(f.get("nodes", []), tr) + _comments(f, tr)
    rows: list[list[InlineKeyboardButton]] = []
    status = task.get("status")
    if status == "open" and f.get("status") == "running":
        tid, ver = int(task["id"]), int(task["version"])
        action = task.get("action")
        first = {
            "sign": tr.gettext("✍️ Sign off"),
            "number": tr.gettext("🔢 Assign number"),
            "archive": tr.gettext("🗄 Archive"),
            "handle": tr.gettext("✅ Done"),
        }.get(str(action), tr.gettext("✅ Approve"))
        ret = _button(tr.gettext("↩️ Return"), "ap.ret", tid, ver)
        transfer = _button(tr.gettext("🔀 Transfer"), "ap.tr", tid, ver)
        comment = _button(tr.gettext("💬 Comment"), "ap.cmt", tid, ver)
        if action in ("approve", "sign"):
            rows = [
                [
                    _button(first, "ap.ok", tid, ver),
                    _button(tr.gettext("❌ Reject"), "ap.no", tid, ver),
                ],
                [ret, transfer],
                [_button(tr.gettext("➕ Add signer"), "ap.add", tid, ver), comment],
            ]
        else:  # numbering, handling, filing: work to do, not a decision to refuse
            rows = [[_button(first, "ap.ok", tid, ver), ret], [transfer, comment]]
        if f.get("files"):
            label = tr.gettext("📎 Attachments ({n})", n=f["files"])
            rows.append([_button(label, "ap.files", int(f["instance_id"]))])
    else:
        slot = task.get("slot")
        if slot == "approved" and task.get("by") and status != "done":
            text += "\n\n" + tr.gettext(
                "Already handled by {name} at {at}.",
                name=html.escape(str(task["by"])),
                at=_when(task.get("at"), tr),
            )
        elif status == "done":
            text += "\n\n" + tr.gettext("You have handled this.")
        elif status == "suspended":
            text += "\n\n" + tr.gettext(
                "Waiting for the signers you added; it comes back to you after they approve."
            )
        else:
            text += "\n\n" + tr.gettext("No action is needed from you any more.")
        text += "\n" + _status(f, tr)
    return living_card(out, text, rows)


@renders("ap.status")
def status_card(out: Outgoing, tr: Translator) -> Rendered:
    f = out.facts
    text = _header(f, tr) + "\n" + _status(f, tr)
    text += "\n\n" + _fields(f.get("fields", []), tr) + "\n\n" + _chain(f.get("nodes", []), tr)
    text += _comments(f, tr)
    iid, ver = int(f["instance_id"]), int(f["version"])
    rows: list[list[InlineKeyboardButton]] = []
    if f.get("revocable"):
        rows.append([_button(tr.gettext("Revoke"), "ap.rvk", iid, ver)])
    if f.get("status") == "running":
        row = [_button(tr.gettext("🔔 Urge"), "ap.urge", iid)]
        if f.get("withdrawable"):
            row.append(_button(tr.gettext("Withdraw"), "ap.wd", iid, ver))
        rows.append(row)
    elif f.get("status") == "returned":
        back = f.get("returned") or {}
        text += "\n\n" + tr.gettext(
            "Returned by {name}: {reason}",
            name=html.escape(str(back.get("by") or "")),
            reason=html.escape(str(back.get("comment") or "")),
        )
        rows.append(
            [
                _button(tr.gettext("Resubmit from the returning step"), "ap.resub", iid, 1),
                _button(tr.gettext("Start over"), "ap.resub", iid, 0),
            ]
        )
        rows.append([_button(tr.gettext("✏️ Edit and resubmit"), "ap.redit", iid)])
    if f.get("status") in ("running", "returned"):
        rows.append([_button(tr.gettext("💬 Comment"), "ap.note", iid)])
    if f.get("files"):
        label = tr.gettext("📎 Attachments ({n})", n=f["files"])
        rows.append([_button(label, "ap.files", iid)])
    return living_card(out, text, rows)


@renders("ap.finished")
def finished(out: Outgoing, tr: Translator) -> Rendered:
    f = out.facts
    return Rendered(
        "send",
        tr.gettext(
            "Your request {number} ({template}) is finished: {status}.",
            number=html.escape(str(f.get("number", ""))),
            template=_label(f.get("template"), tr),
            status=tr.gettext(STATUS_LABELS.get(str(f.get("status")), "?")),
        ),
    )


@renders("ap.reason_prompt")
def reason_prompt(out: Outgoing, tr: Translator) -> Rendered:
    move = str(out.facts.get("move"))
    return Rendered(
        "send",
        tr.gettext(MOVE_PROMPTS[move], number=html.escape(str(out.facts.get("number", ""))))
        + "\n"
        + tr.gettext("Send /cancel to stop."),
    )


@renders("ap.sign_confirm")
def sign_confirm(out: Outgoing, tr: Translator) -> Rendered:
    f = out.facts
    if f.get("done"):
        text = tr.gettext(
            "✍️ Signed off.\nOpinion: {opinion}\nSigner: {name}\nDate: {at}",
            opinion=html.escape(str(f.get("opinion", ""))),
            name=html.escape(str(f.get("name", ""))),
            at=html.escape(tr.when(datetime.fromisoformat(str(f["at"])), "medium")),
        )
        return living_card(out, text, [])
    text = tr.gettext(
        "Confirm the sign-off?\nOpinion: {opinion}\nSigner: {name}\nDate: {at}",
        opinion=html.escape(str(f.get("opinion", ""))),
        name=html.escape(str(f.get("name", ""))),
        at=html.escape(tr.when(datetime.fromisoformat(str(f["at"])), "medium")),
    )
    confirm = tr.gettext("✍️ Confirm sign-off")
    rows = [[_button(confirm, "ap.sign", int(f["task_id"]), int(f["version"]))]]
    return living_card(out, text, rows)


@renders("ap.urged")
def urged(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered(
        "send",
        tr.gettext(
            "🔔 {by} asks you to handle request {number}. See /todo.",
            by=html.escape(str(out.facts.get("by", ""))),
            number=html.escape(str(out.facts.get("number", ""))),
        ),
    )


# --- lists ---------------------------------------------------------------------------------------
@renders("ap.todo")
def todo(out: Outgoing, tr: Translator) -> Rendered:
    items = out.facts.get("items", [])
    counts = {int(k): int(v) for k, v in out.facts.get("counts", {}).items()}
    total = sum(counts.values())
    if not total:
        return Rendered("send", tr.gettext("Nothing is waiting for you."))
    text = tr.ngettext("{n} request waits for you", "{n} requests wait for you", total)
    if counts.get(2) or counts.get(1):
        text += " " + tr.gettext(
            "(most urgent {most}, urgent {urgent})", most=counts.get(2, 0), urgent=counts.get(1, 0)
        )
    rows = []
    for item in items:
        urgency = int(item.get("urgency") or 0)
        badge = f"【{tr.gettext(URGENCY_LABELS[urgency])}】" if urgency in URGENCY_LABELS else ""
        name = _plain(item.get("template"), tr)
        label = f"{badge}{item.get('number')} {name} · {item.get('submitter')}"
        rows.append([_button(label[:60], "ap.open", int(item["task_id"]))])
    return Rendered("send", text, InlineKeyboardMarkup(rows))


@renders("ap.mine")
def mine(out: Outgoing, tr: Translator) -> Rendered:
    items = out.facts.get("items", [])
    if not items:
        return Rendered("send", tr.gettext("You have not submitted any request yet. Use /apply."))
    lines = [tr.gettext("<b>Your latest requests</b>")]
    for item in items:
        where = ""
        if item.get("node"):
            where = " · " + _label(item["node"], tr)
        status = tr.gettext(STATUS_LABELS.get(str(item.get("status")), "?"))
        head = f"{html.escape(str(item.get('number')))} {_label(item.get('template'), tr)}"
        state = status + where
        lines.append(tr.gettext("{step}: {people}", step=head, people=state))
    return Rendered("send", "\n".join(lines))


@renders("ap.found")
def found(out: Outgoing, tr: Translator) -> Rendered:
    f = out.facts
    text = _header(f, tr) + "\n" + _status(f, tr)
    text += "\n\n" + _fields(f.get("fields", []), tr) + "\n\n" + _chain(f.get("nodes", []), tr)
    return Rendered("send", text)


@renders("ap.not_found")
def not_found(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered(
        "send",
        tr.gettext(
            "No request numbered {number} that you may see.",
            number=html.escape(str(out.facts.get("number", ""))),
        ),
    )


@renders("ap.add_where")
def add_where(out: Outgoing, tr: Translator) -> Rendered:
    f = out.facts
    tid, ver = int(f["task_id"]), int(f["version"])
    rows = [
        [
            _button(tr.gettext("Before me"), "ap.addb", tid, ver),
            _button(tr.gettext("Alongside me"), "ap.addw", tid, ver),
            _button(tr.gettext("After me"), "ap.adda", tid, ver),
        ]
    ]
    text = tr.gettext(
        "Add signers to {number}: should they approve before you (then it comes back to you), "
        "together with you on this step, or after you?",
        number=html.escape(str(f.get("number", ""))),
    )
    return Rendered("send", text, InlineKeyboardMarkup(rows))


@renders("ap.cc")
def cc_card(out: Outgoing, tr: Translator) -> Rendered:
    f = out.facts
    text = tr.gettext("📨 For your information (CC)") + "\n" + _header(f, tr)
    text += "\n" + _status(f, tr) + "\n\n" + _fields(f.get("fields", []), tr)
    text += "\n\n" + _chain(f.get("nodes", []), tr) + _comments(f, tr)
    iid = int(f["instance_id"])
    rows: list[list[InlineKeyboardButton]] = []
    if f.get("read"):
        text += "\n\n" + tr.gettext("✔️ Read")
    else:
        rows.append([_button(tr.gettext("👁 Mark as read"), "ap.read", iid)])
    if f.get("files"):
        label = tr.gettext("📎 Attachments ({n})", n=f["files"])
        rows.append([_button(label, "ap.files", iid)])
    return living_card(out, text, rows)


@renders("ap.commented")
def commented(out: Outgoing, tr: Translator) -> Rendered:
    number = html.escape(str(out.facts.get("number", "")))
    return Rendered("send", tr.gettext("Your comment on {number} was added.", number=number))


@renders("ap.file")
def attachment(out: Outgoing, tr: Translator) -> Rendered:
    f = out.facts
    caption = tr.gettext(
        "{number} · {label}: {name} (v{version})",
        number=html.escape(str(f.get("number", ""))),
        label=_label(f.get("label"), tr),
        name=html.escape(str(f.get("name", ""))),
        version=int(f.get("version", 1)),
    )
    return Rendered("document", caption, file_id=str(f.get("file_id")))


@renders("ap.delegation")
def delegation(out: Outgoing, tr: Translator) -> Rendered:
    f = out.facts
    event = f.get("event")
    if event == "set":
        text = tr.gettext(
            "From {start} to {end}, {name} approves for you. Tasks that arrive in that time go "
            "to them, marked as on your behalf. Send /delegate off to end it.",
            start=f.get("from"),
            end=f.get("to"),
            name=html.escape(str(f.get("name", ""))),
        )
    elif event == "ended":
        text = tr.gettext("Your delegation has ended. New tasks come to you again.")
    elif not f.get("items"):
        text = tr.gettext(
            "Nobody approves for you now. To set a delegate while you are away, send "
            "/delegate EMPLOYEE_NO FROM TO, for example /delegate E0002 2026-12-01 2026-12-07."
        )
    else:
        text = "\n".join(
            tr.gettext(
                "{name}: {start} to {end}",
                name=html.escape(str(i.get("name", ""))),
                start=i.get("from"),
                end=i.get("to"),
            )
            for i in f.get("items", [])
        )
    return Rendered("send", text)


@renders("ap.delegation_received")
def delegation_received(out: Outgoing, tr: Translator) -> Rendered:
    f = out.facts
    text = tr.gettext(
        "{name} asked you to approve on their behalf from {start} to {end}.",
        name=html.escape(str(f.get("name", ""))),
        start=f.get("from"),
        end=f.get("to"),
    )
    return Rendered("send", text)


@renders("ap.delegated_task")
def delegated_task(out: Outgoing, tr: Translator) -> Rendered:
    f = out.facts
    text = tr.gettext(
        "Request {number} went to your delegate {name}.",
        number=html.escape(str(f.get("number", ""))),
        name=html.escape(str(f.get("delegate", ""))),
    )
    return Rendered("send", text)


@renders("ap.changed")
def changed(out: Outgoing, tr: Translator) -> Rendered:
    f = out.facts
    text = tr.gettext(
        "Request {number} ({template}), which you approved, was changed and resubmitted. "
        "Changed: {fields}.",
        number=html.escape(str(f.get("number", ""))),
        template=_label(f.get("template"), tr),
        fields=_list([_label(x, tr) for x in f.get("fields", [])], tr),
    )
    if f.get("resign"):
        text += "\n" + tr.gettext(
            "The change is substantive, so your sign-off is void: please sign it again."
        )
    return Rendered("send", text)


@renders("ap.revoked")
def revoked(out: Outgoing, tr: Translator) -> Rendered:
    f = out.facts
    text = tr.gettext(
        "{by} revoked request {number} ({template}) after it was approved.",
        by=html.escape(str(f.get("by", ""))),
        number=html.escape(str(f.get("number", ""))),
        template=_label(f.get("template"), tr),
    )
    return Rendered("send", text)


REMINDER_STAGES = {
    "before": N_("⏰ Request {number} is due at {deadline}."),
    "at": N_("⏰ Request {number} is due now ({deadline})."),
    "after": N_("⚠️ Request {number} is overdue since {deadline}."),
}


@renders("ap.reminder")
def reminder(out: Outgoing, tr: Translator) -> Rendered:
    f = out.facts
    deadline = _when(str(f["deadline"]), tr) if f.get("deadline") else ""
    text = tr.gettext(
        REMINDER_STAGES.get(str(f.get("stage")), REMINDER_STAGES["at"]),
        number=html.escape(str(f.get("number", ""))),
        deadline=deadline,
    )
    rows = [[_button(tr.gettext("Open it"), "ap.open", int(f["task_id"]))]]
    return Rendered("send", text, InlineKeyboardMarkup(rows))


@renders("ap.escalated")
def escalated(out: Outgoing, tr: Translator) -> Rendered:
    f = out.facts
    text = tr.gettext(
        "Request {number} is overdue, so {name} can now decide it too. You can still act on "
        "it; whoever acts first decides.",
        number=html.escape(str(f.get("number", ""))),
        name=html.escape(str(f.get("to", ""))),
    )
    return Rendered("send", text)


@renders("ap.calendar_missing")
def calendar_missing(out: Outgoing, tr: Translator) -> Rendered:
    text = tr.gettext(
        "No holiday schedule is loaded for {year}, so deadlines in {year} count Monday to "
        "Friday only. Load the State Council notice with: govbot calendar import FILE",
        year=out.facts.get("year"),
    )
    return Rendered("send", text)


@renders("ap.node_input")
def node_input(out: Outgoing, tr: Translator) -> Rendered:
    f = out.facts
    field = f["field"]
    lines = []
    error = f.get("error")
    if error:
        message = INPUT_ERRORS.get(str(error.get("code")), "{code}")
        lines.append("⚠️ " + html.escape(tr.gettext(message, **dict(error))))
    lines.append(
        tr.gettext(
            "Before you approve {number}, please fill in: {label}",
            number=html.escape(str(f.get("number", ""))),
            label=_label(field["label"], tr),
        )
    )
    if field.get("hint"):
        lines.append("<i>" + _label(field["hint"], tr) + "</i>")
    lines.append(tr.gettext("Send /cancel to stop."))
    return Rendered("send", "\n".join(lines))


@renders("ap.return_where")
def return_where(out: Outgoing, tr: Translator) -> Rendered:
    f = out.facts
    tid = int(f["task_id"])
    rows = [[_button(tr.gettext("To the submitter"), "ap.rto", tid, 0)]]
    rows += [
        [
            _button(
                tr.gettext("To: {step}", step=_plain(n["name"], tr)),
                "ap.rto",
                tid,
                int(n["target"]),
            )
        ]
        for n in f.get("nodes", [])
    ]
    text = tr.gettext("Return {number} to whom?", number=html.escape(str(f.get("number", ""))))
    return Rendered("send", text, InlineKeyboardMarkup(rows))
