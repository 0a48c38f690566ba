"""Renderers for support tickets: the requester's confirmation and the desk's notice."""

from __future__ import annotations

import html
from datetime import datetime, timedelta
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import N_, Translator
from bot.messaging.outgoing import Outgoing
from bot.people.domain import ROLE_LABELS
from bot.support.sla import PRIORITIES
from bot.support.topic import CATEGORIES, relay_items
from handlers.callbacks import Press, encode
from handlers.render import Rendered, living_card, renders

QUOTE_CHARS = 1000  # of the question, quoted back in a confirmation or a desk notice


def _quote(text: object) -> str:
    value = str(text or "")
    if len(value) > QUOTE_CHARS:
        value = value[: QUOTE_CHARS - 1] + "…"
    return f"<blockquote>{html.escape(value)}</blockquote>"


def _quoted(header: str, text: object) -> Rendered:
    """A line, then someone's words quoted under it."""
    return Rendered("send", header + "\n" + _quote(text))


@renders("support.opened")
def opened(out: Outgoing, tr: Translator) -> Rendered:
    text = tr.gettext(
        "🛟 Ticket <b>{number}</b> is open. The support desk has your question and will reply "
        "in this chat.",
        number=html.escape(str(out.facts.get("number", ""))),
    )
    more = tr.gettext(
        "Anything you send in the next 30 minutes (more details, screenshots, files) is added "
        "to the ticket."
    )
    if out.facts.get("follows"):
        text += "\n" + tr.gettext(
            "It follows up on ticket {number}, which was already resolved.",
            number=html.escape(str(out.facts["follows"])),
        )
    ticket_id = out.facts.get("ticket_id")
    markup = (
        InlineKeyboardMarkup([[_button(tr.gettext("⏹ Done"), "sd.done", int(ticket_id))]])
        if ticket_id is not None
        else None
    )
    return Rendered("send", text + "\n" + _quote(out.facts.get("question")) + "\n" + more, markup)


@renders("support.already_open")
def already_open(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered(
        "send",
        tr.gettext(
            "This question is already with the support desk as ticket <b>{number}</b>.",
            number=html.escape(str(out.facts.get("number", ""))),
        ),
    )


@renders("support.new_ticket")
def new_ticket(out: Outgoing, tr: Translator) -> Rendered:
    facts = out.facts
    lines = [
        tr.gettext(
            "🆕 Ticket <b>{number}</b> from {name} ({department})",
            number=html.escape(str(facts.get("number", ""))),
            name=html.escape(str(facts.get("name", ""))),
            department=html.escape(str(facts.get("department", ""))),
        ),
        _quote(facts.get("question")),
        *_knowledge_base(facts, tr),
    ]
    return Rendered("send", "\n".join(lines))


def _knowledge_base(facts: dict[str, object], tr: Translator) -> list[str]:
    """What the knowledge base had shown the requester before they asked for a person."""
    score = facts.get("score")
    percent = f"{float(str(score or 0.0)):.0%}"
    if facts.get("shown_question"):
        return [
            tr.gettext(
                "The knowledge base showed “{question}” ({key}, confidence {score}); "
                "it did not solve the problem.",
                question=html.escape(str(facts["shown_question"])),
                key=html.escape(str(facts.get("shown_key", ""))),
                score=percent,
            )
        ]
    if facts.get("source") == "faq":
        return [
            tr.gettext(
                "The knowledge base had no answer (best confidence {score}).", score=percent
            )
        ]
    return []


STATUS = {
    "new": N_("🆕 New"),
    "claimed": N_("🟡 In progress"),
    "waiting": N_("⏳ Waiting for the requester"),
    "resolved": N_("✅ Resolved"),
    "closed": N_("⚪ Closed"),
}
PRIORITY = {
    "low": N_("low"),
    "normal": N_("normal"),
    "high": N_("high"),
    "urgent": N_("urgent"),
}
CLOCKS = {
    "first_response": N_("first response"),
    "update": N_("next update"),
    "resolution": N_("resolution"),
}


def _due(value: object, tr: Translator) -> str:
    try:
        return tr.when(datetime.fromisoformat(str(value)), "short")
    except ValueError:
        return "—"


def _sla_lines(facts: dict[str, object], status: str, tr: Translator) -> list[str]:
    """The running clocks and when each falls due; a breached one is marked."""
    if status == "waiting":
        return [tr.gettext("⏸ SLA clocks paused while waiting for the requester.")]
    if status not in ("new", "claimed"):
        return []
    drawn = str(facts.get("drawn_at") or "")
    lines = []
    for item in facts.get("sla") or []:  # type: ignore[attr-defined]
        if not isinstance(item, dict):
            continue
        late = bool(drawn) and str(item.get("due_at", "")) <= drawn
        lines.append(
            tr.gettext(
                "{mark} {clock} due {when}",
                mark="🔴" if late else "⏱",
                clock=tr.gettext(CLOCKS.get(str(item.get("clock")), CLOCKS["resolution"])),
                when=_due(item.get("due_at"), tr),
            )
        )
    return lines


AUTHORS = {"user": N_("Requester"), "agent": N_("Desk")}


def _button(label: str, action: str, obj: int, version: int = 0) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=encode(Press(action, obj, version)))


@renders("support.card")
def card(out: Outgoing, tr: Translator) -> Rendered:
    """The ticket's card at the top of its desk topic: who, what, state; claim and resolve."""
    facts = out.facts
    status = str(facts.get("status", "new"))
    lines = [
        f"<b>{html.escape(str(facts.get('number', '')))}</b> · "
        + tr.gettext(STATUS.get(status, STATUS["new"])),
        tr.gettext(
            "From: {name} ({department})",
            name=html.escape(str(facts.get("name", ""))),
            department=html.escape(str(facts.get("department", "")) or "—"),
        ),
    ]
    roles = [str(r) for r in facts.get("roles") or [] if str(r) in ROLE_LABELS]
    if roles:
        lines.append(
            tr.gettext(
                "Roles: {roles}", roles=", ".join(tr.gettext(ROLE_LABELS[r]) for r in roles)
            )
        )
    lines.append(
        tr.gettext(
            "Priority: {priority} · Category: {category}",
            priority=tr.gettext(PRIORITY.get(str(facts.get("priority")), PRIORITY["normal"])),
            category=html.escape(category_label(facts.get("category"), tr)),
        )
    )
    if facts.get("follows"):
        lines.append(
            tr.gettext("Follows up on {number}", number=html.escape(str(facts["follows"])))
        )
    lines.extend(_sla_lines(facts, status, tr))
    if facts.get("rating"):
        lines.append(tr.gettext("Rated: {stars}", stars="⭐" * int(facts["rating"])))
    assignee = facts.get("assignee")
    lines.append(
        tr.gettext("Owner: {name}", name=html.escape(str(assignee)))
        if assignee
        else tr.gettext("Owner: nobody yet")
    )
    if facts.get("unreachable"):
        lines.append(tr.gettext("⚠️ The requester has blocked the bot: replies cannot reach them."))
    recent = [r for r in facts.get("recent") or [] if isinstance(r, dict)]
    if recent:
        lines.append(tr.gettext("Latest messages:"))
        for item in recent:
            who = tr.gettext(AUTHORS.get(str(item.get("author")), AUTHORS["user"]))
            lines.append(f"{html.escape(who)}: {_quote(item.get('text'))}")
    lines.append(
        tr.gettext(
            "Write here to answer the requester (they see the bot, not you). A message "
            "starting with # or !note stays an internal note."
        )
    )
    ticket_id, version = int(facts.get("ticket_id", 0)), int(facts.get("version", 0))
    rows: list[list[InlineKeyboardButton]] = []
    if status in ("new", "claimed", "waiting"):
        row = []
        if not assignee:
            row.append(_button(tr.gettext("🙋 Claim"), "sd.claim", ticket_id, version))
        row.append(_button(tr.gettext("✅ Resolve"), "sd.res", ticket_id, version))
        rows.append(row)
        rows.append(
            [
                _button(
                    tr.gettext("▶️ Resume") if status == "waiting" else tr.gettext("⏳ Wait"),
                    "sd.wait",
                    ticket_id,
                )
            ]
        )
        current = str(facts.get("priority", "normal"))
        rows.append(
            [
                _button(
                    ("• " if name == current else "") + tr.gettext(PRIORITY[name]),
                    "sd.pri",
                    ticket_id,
                    index,
                )
                for index, name in enumerate(PRIORITIES)
            ]
        )
        rows.append(
            [
                _button(tr.gettext("↔️ Transfer"), "sd.pick", ticket_id, 0),
                _button(tr.gettext("🔀 Merge"), "sd.pick", ticket_id, 1),
                _button(tr.gettext("👥 Assign"), "sd.pick", ticket_id, 2),
            ]
        )
    elif status in ("resolved", "closed") and not facts.get("merged"):
        rows.append([_button(tr.gettext("📚 Turn into FAQ"), "sd.faq", ticket_id)])
    return living_card(out, "\n".join(lines), rows)


@renders("support.faq_context")
def faq_context(out: Outgoing, tr: Translator) -> Rendered:
    """In the ticket's topic: what the knowledge base had shown the requester."""
    return Rendered("send", "\n".join(_knowledge_base(out.facts, tr)) or "—")


@renders("support.relay_in")
@renders("support.relay_out")
def relay(out: Outgoing, tr: Translator) -> Rendered:
    """A message copied from the other side (the bot sends it: the author stays hidden); a
    burst of the requester's: its texts as one message, or its media (albums kept) copied
    in one call."""
    source = int(out.facts["from_chat"])
    items = relay_items(out.facts)
    if len(items) == 1:
        return Rendered(
            "copy",
            source_chat_id=source,
            source_message_id=int(items[0]["message_id"]),
            # into the topic only: an agent's reply the bot cannot copy is theirs to see
            fallback=_not_copied(items, tr) if out.kind == "support.relay_in" else None,
        )
    if all(item.get("media") is None for item in items):
        return Rendered("send", "\n\n".join(html.escape(str(i.get("text") or "")) for i in items))
    return Rendered(
        "copies",
        source_chat_id=source,
        source_message_ids=tuple(int(item["message_id"]) for item in items),
        fallback=_not_copied(items, tr),
    )


def _not_copied(items: list[dict[str, Any]], tr: Translator) -> Rendered:
    """What the topic gets when Telegram refuses to copy the requester's message (deleted
    meanwhile, or content that cannot be copied): a single document sent again by its file
    id; otherwise a placeholder saying what it was, with its words."""
    if len(items) == 1 and items[0].get("media") == "document" and items[0].get("file_id"):
        return Rendered(
            "document",
            html.escape(str(items[0].get("caption") or "")),
            file_id=str(items[0]["file_id"]),
        )
    lines = [
        tr.gettext(
            "⚠️ The requester sent something that cannot be copied here ({kinds}); ask them "
            "to send it again if it matters.",
            kinds=", ".join(str(i.get("media") or "text") for i in items),
        )
    ]
    words = [str(i.get("caption") or i.get("text") or "") for i in items]
    lines += [_quote(w) for w in words if w]
    return Rendered("send", "\n".join(lines))


@renders("support.not_archived")
def not_archived(out: Outgoing, tr: Translator) -> Rendered:
    """In a ticket's topic: a file relayed but not kept with the ticket's record."""
    size = out.facts.get("size")
    mb = f"{int(size) / (1024 * 1024):.1f}" if isinstance(size, int) else "?"
    limit = int(out.facts.get("limit", 20 * 1024 * 1024)) // (1024 * 1024)
    name = html.escape(str(out.facts.get("name", "")))
    if out.facts.get("reason") == "too_big":
        text = tr.gettext(
            "📎 {name} ({mb} MB) is over the {limit} MB a bot may download: it is relayed, "
            "but not archived with the ticket.",
            name=name,
            mb=mb,
            limit=limit,
        )
    else:
        text = tr.gettext(
            "📎 {name} could not be downloaded: it is relayed, but not archived with the ticket.",
            name=name,
        )
    return Rendered("send", text)


@renders("support.unreachable")
def unreachable(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered(
        "send",
        tr.gettext(
            "⚠️ This reply did not reach the requester of {number}: they have blocked the bot. "
            "It is kept on the ticket but not delivered; replies reach them again once they "
            "unblock the bot.",
            number=html.escape(str(out.facts.get("number", ""))),
        ),
    )


@renders("support.edited")
def edited(out: Outgoing, tr: Translator) -> Rendered:
    """In the topic, replying to the copy: the requester's edited words."""
    reply_to = out.facts.get("reply_to")
    return Rendered(
        "send",
        tr.gettext("✏️ The requester edited this message:") + "\n" + _quote(out.facts.get("text")),
        reply_to=int(reply_to) if reply_to is not None else None,
    )


@renders("support.edit_copy")
def edit_copy(out: Outgoing, tr: Translator) -> Rendered:
    """The requester's copy of a reply, edited like the agent's original (Telegram's HTML)."""
    return Rendered(
        "edit", str(out.facts.get("html", "")), message_id=int(out.facts["message_id"])
    )


@renders("support.reachability")
def reachability(out: Outgoing, tr: Translator) -> Rendered:
    number = html.escape(str(out.facts.get("number", "")))
    if out.facts.get("reachable"):
        text = tr.gettext(
            "✅ The requester of {number} can be reached again: replies here reach them.",
            number=number,
        )
    else:
        text = tr.gettext(
            "⚠️ The requester of {number} has blocked the bot: replies here cannot reach them "
            "until they unblock it.",
            number=number,
        )
    return Rendered("send", text)


@renders("support.resolved")
def resolved(out: Outgoing, tr: Translator) -> Rendered:
    ticket_id = int(out.facts["ticket_id"])
    return Rendered(
        "send",
        tr.gettext(
            "✅ The support desk has resolved ticket <b>{number}</b>. Is the problem solved? "
            "If it is still there, tap “Still a problem” and write to the desk.",
            number=html.escape(str(out.facts.get("number", ""))),
        ),
        InlineKeyboardMarkup(
            [
                [
                    _button(tr.gettext("✅ Solved"), "sd.close", ticket_id),
                    _button(tr.gettext("✍️ Still a problem"), "sd.add", ticket_id),
                ]
            ]
        ),
    )


def category_label(key: object, tr: Translator) -> str:
    labels = dict(CATEGORIES)
    return tr.gettext(labels[str(key)]) if str(key) in labels else "—"


@renders("support.home")
def home(out: Outgoing, tr: Translator) -> Rendered:
    """/support: the requester's open tickets, then the categories to open a new one."""
    tickets = [t for t in out.facts.get("tickets") or [] if isinstance(t, dict)]
    lines = [tr.gettext("🛟 <b>Support desk</b>")]
    rows: list[list[InlineKeyboardButton]] = []
    if tickets:
        lines.append(tr.gettext("Your open tickets:"))
        for t in tickets:
            number = html.escape(str(t.get("number", "")))
            status = tr.gettext(STATUS.get(str(t.get("status")), STATUS["new"]))
            lines.append(
                f"• <b>{number}</b> · {status} · {html.escape(str(t.get('subject', '')))}"
            )
            rows.append(
                [
                    _button(tr.gettext("✍️ {number}", number=number), "sd.add", int(t["id"])),
                    _button(tr.gettext("✅ Solved"), "sd.close", int(t["id"])),
                ]
            )
    lines.append(tr.gettext("What is the new problem about?"))
    for index, (_, label) in enumerate(CATEGORIES):
        rows.append([_button(tr.gettext(label), "sd.cat", index)])
    return Rendered("send", "\n".join(lines), InlineKeyboardMarkup(rows))


@renders("support.agent_home")
def agent_home(out: Outgoing, tr: Translator) -> Rendered:
    """🎧 Support desk, for an agent in private: their tickets, the queue, who is on call."""
    facts = out.facts
    lines = [tr.gettext("🎧 <b>Support desk</b>")]
    mine = [t for t in facts.get("mine") or [] if isinstance(t, dict)]
    if mine:
        lines.append(tr.gettext("Your open tickets:"))
        for t in mine:
            status = tr.gettext(STATUS.get(str(t.get("status")), STATUS["claimed"]))
            priority = tr.gettext(PRIORITY.get(str(t.get("priority")), PRIORITY["normal"]))
            mark = "⏰ " if t.get("breached") else ""
            lines.append(
                f"• {mark}<b>{html.escape(str(t.get('number', '')))}</b> · {status} · "
                f"{priority} · {html.escape(str(t.get('subject', '')))}"
            )
    else:
        lines.append(tr.gettext("You own no open tickets."))
    lines.append(
        tr.gettext(
            "Waiting to be claimed: {unclaimed} · open past an SLA target: {breached}",
            unclaimed=str(facts.get("unclaimed", 0)),
            breached=str(facts.get("breached", 0)),
        )
    )
    on_call = [html.escape(str(n)) for n in facts.get("on_call") or []]
    lines.append(
        tr.gettext("On call now: {names}", names="、".join(on_call))
        if on_call
        else tr.gettext("Nobody is on call now.")
    )
    desks = [html.escape(str(d)) for d in facts.get("desks") or []]
    if desks:
        lines.append(tr.gettext("Desk groups: {groups}", groups="、".join(desks)))
    lines.append(
        tr.gettext(
            "Tickets are worked in their topics in the desk group; /summary there shows the "
            "day's figures, /oncall the roster."
        )
    )
    return Rendered("send", "\n".join(lines))


@renders("support.describe")
def describe(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered(
        "send",
        tr.gettext(
            "{category}: describe the problem in a message. A screenshot, a file or a voice "
            "message works too; you can add more after the ticket opens.",
            category=html.escape(category_label(out.facts.get("category"), tr)),
        ),
    )


@renders("support.rate")
def rate(out: Outgoing, tr: Translator) -> Rendered:
    """After closing: rate the help once; then the same card says thank you."""
    rating = out.facts.get("rating")
    number = html.escape(str(out.facts.get("number", "")))
    if rating:
        return living_card(
            out,
            tr.gettext(
                "Ticket <b>{number}</b> is closed. Thank you for rating it {stars}.",
                number=number,
                stars="⭐" * int(rating),
            ),
        )
    ticket_id = int(out.facts["ticket_id"])
    stars = [_button("⭐" * n, "sd.rate", ticket_id, n) for n in range(1, 6)]
    return living_card(
        out,
        tr.gettext(
            "Ticket <b>{number}</b> is closed. How well did the support desk help you?",
            number=number,
        ),
        [stars[:3], stars[3:]],
    )


@renders("support.low_rating")
def low_rating(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered(
        "send",
        tr.gettext(
            "⚠️ {name} rated ticket <b>{number}</b> {stars}: please look at how it went.",
            name=html.escape(str(out.facts.get("name", ""))),
            number=html.escape(str(out.facts.get("number", ""))),
            stars="⭐" * int(out.facts.get("stars", 1)),
        ),
    )


@renders("support.writing")
def writing(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered(
        "send",
        tr.gettext(
            "✍️ Write to the desk about <b>{number}</b>: text, photos, files or voice. "
            "Everything you send in the next 30 minutes is added to the ticket.",
            number=html.escape(str(out.facts.get("number", ""))),
        ),
        InlineKeyboardMarkup(
            [[_button(tr.gettext("⏹ Done"), "sd.done", int(out.facts["ticket_id"]))]]
        ),
    )


@renders("support.user_wrote")
def user_wrote(out: Outgoing, tr: Translator) -> Rendered:
    """No desk group: an agent's DM with what the requester added."""
    header = tr.gettext(
        "💬 The requester of <b>{number}</b> wrote:",
        number=html.escape(str(out.facts.get("number", ""))),
    )
    return _quoted(header, out.facts.get("text"))


@renders("support.templates")
def templates(out: Outgoing, tr: Translator) -> Rendered:
    """``/t`` in a topic: the canned replies there are (or: no such one)."""
    keys = [html.escape(str(k)) for k in out.facts.get("keys") or []]
    asked = str(out.facts.get("asked") or "")
    lines = []
    if asked:
        lines.append(tr.gettext("There is no canned reply “{key}”.", key=html.escape(asked)))
    if keys:
        lines.append(
            tr.gettext(
                "Canned replies: {keys}. Send /t KEY here to send one to the requester.",
                keys=", ".join(f"<code>{k}</code>" for k in keys),
            )
        )
    else:
        lines.append(tr.gettext("There are no canned replies yet."))
    lines.append(
        tr.gettext(
            "The desk lead adds one with /t set KEY TEXT (the placeholders {placeholders} are "
            "filled in) and removes one with /t del KEY.",
            placeholders="{姓名} {工单号} {部门}",
        )
    )
    return Rendered("send", "\n".join(lines))


@renders("support.template_reply")
def template_reply(out: Outgoing, tr: Translator) -> Rendered:
    """A canned reply, to the requester, from the bot."""
    return Rendered("send", html.escape(str(out.facts.get("text", ""))))


@renders("support.template_sent")
def template_sent(out: Outgoing, tr: Translator) -> Rendered:
    header = tr.gettext(
        "📤 Canned reply “{key}” sent to the requester:",
        key=html.escape(str(out.facts.get("key", ""))),
    )
    return _quoted(header, out.facts.get("text"))


TEMPLATE_RESULTS = {
    "created": N_("Canned reply “{key}” saved."),
    "replaced": N_("Canned reply “{key}” replaced."),
    "deleted": N_("Canned reply “{key}” deleted."),
    "unknown": N_("There is no canned reply “{key}”."),
    "bad_key": N_("A key is 1 to 40 small letters, digits or _ (for example reset_pwd)."),
    "empty": N_("Write the reply after the key: /t set KEY TEXT."),
    "too_long": N_("A canned reply has at most {max} characters."),
}


@renders("support.template_result")
def template_result(out: Outgoing, tr: Translator) -> Rendered:
    outcome = str(out.facts.get("outcome", "unknown"))
    return Rendered(
        "send",
        tr.gettext(
            TEMPLATE_RESULTS.get(outcome, TEMPLATE_RESULTS["unknown"]),
            key=html.escape(str(out.facts.get("key", ""))),
            max=str(out.facts.get("max", "")),
        ),
    )


@renders("support.topic_title")
def topic_title(out: Outgoing, tr: Translator) -> Rendered:
    """The ticket's topic renamed: its title starts with the state."""
    return Rendered("topic", str(out.facts.get("name", "")))


@renders("support.autoclosed")
def autoclosed(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered(
        "send",
        tr.gettext(
            "Ticket <b>{number}</b> was resolved and nobody came back to it, so it is now "
            "closed. If the problem returns, open a new ticket with /support.",
            number=html.escape(str(out.facts.get("number", ""))),
        ),
    )


STAGES = {
    "warn": N_("⚠️ <b>{number}</b>: the {clock} target ({priority}) runs out at {when}."),
    "breach": N_(
        "🔴 <b>{number}</b>: the {clock} target ({priority}) was missed at {when}. "
        "The on-call agent is being paged."
    ),
}


@renders("support.sla")
def sla_stage(out: Outgoing, tr: Translator) -> Rendered:
    """In the topic: 80 % of a target used up, or all of it."""
    facts = out.facts
    return Rendered(
        "send",
        tr.gettext(
            STAGES.get(str(facts.get("stage")), STAGES["warn"]),
            number=html.escape(str(facts.get("number", ""))),
            clock=tr.gettext(CLOCKS.get(str(facts.get("clock")), CLOCKS["resolution"])),
            priority=tr.gettext(PRIORITY.get(str(facts.get("priority")), PRIORITY["normal"])),
            when=_due(facts.get("due_at"), tr),
        ),
    )


@renders("support.page")
def page(out: Outgoing, tr: Translator) -> Rendered:
    """The on-call person's private alert, with ✋ Ack."""
    facts = out.facts
    level = int(facts.get("level", 1))
    lines = [
        tr.gettext(
            "🚨 Ticket <b>{number}</b> missed its {clock} target ({priority}).",
            number=html.escape(str(facts.get("number", ""))),
            clock=tr.gettext(CLOCKS.get(str(facts.get("clock")), CLOCKS["resolution"])),
            priority=tr.gettext(PRIORITY.get(str(facts.get("priority")), PRIORITY["normal"])),
        ),
        _quote(facts.get("subject")),
        tr.gettext(
            "You are on call (level {level}). Tap Ack to take it on; without an "
            "acknowledgement the next level is paged.",
            level=str(level),
        ),
    ]
    return Rendered(
        "send",
        "\n".join(lines),
        InlineKeyboardMarkup(
            [[_button(tr.gettext("✋ Ack"), "sd.ack", int(facts.get("escalation_id", 0)))]]
        ),
    )


@renders("support.paged")
def paged(out: Outgoing, tr: Translator) -> Rendered:
    facts = out.facts
    names = ", ".join(html.escape(str(n)) for n in facts.get("names") or []) or "—"
    return Rendered(
        "send",
        tr.gettext(
            "📟 Escalated to level {level}: {names}.",
            level=str(facts.get("level", 1)),
            names=names,
        ),
    )


@renders("support.acked")
def acked(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered(
        "send",
        tr.gettext(
            "✋ {name} acknowledged the page for {number}; escalation stopped.",
            name=html.escape(str(out.facts.get("name", ""))),
            number=html.escape(str(out.facts.get("number", ""))),
        ),
    )


ROSTER_OUTCOMES = {
    "added": N_("✅ Shift added."),
    "deleted": N_("🗑 Shift deleted."),
    "imported": N_("✅ Shifts imported: {added}."),
    "no_shift": N_("There is no such shift: give its number from the list, e.g. /oncall del 3."),
    "usage": N_(
        "To add a shift: /oncall add LEVEL PERSON FROM TO, for example "
        "/oncall add 1 杨帆 2026-12-02 09:00 2026-12-02 21:00 (times only: today)."
    ),
    "bad_level": N_("The level is 1 (agent on call), 2 (team lead) or 3 (head of the desk)."),
    "bad_time": N_("Write the times as YYYY-MM-DD HH:MM, or HH:MM for today."),
    "end_before_start": N_("The shift ends before it starts."),
    "too_long": N_("A shift lasts at most 14 days."),
    "no_person": N_("Nobody active on the staff list is called “{person}”."),
    "ambiguous": N_("Several people are called “{person}”: use the employee number."),
    "import_failed": N_("Nothing was imported; fix these rows and send the file again:"),
    "empty": N_("the file has no shifts"),
}
ROSTER_LEVELS = {
    1: N_("L1 agent on call"),
    2: N_("L2 team lead"),
    3: N_("L3 head of the desk"),
}


@renders("support.roster")
def roster(out: Outgoing, tr: Translator) -> Rendered:
    """/oncall: what a change did, who is on call now, and the shifts to come."""
    facts = out.facts
    lines: list[str] = []
    outcome = facts.get("outcome")
    if outcome:
        lines.append(
            tr.gettext(
                ROSTER_OUTCOMES.get(str(outcome), ROSTER_OUTCOMES["usage"]),
                added=str(facts.get("added", 0)),
                person=html.escape(str(facts.get("person", ""))),
            )
        )
        for line, code in facts.get("problems") or []:
            reason = tr.gettext(ROSTER_OUTCOMES.get(str(code), ROSTER_OUTCOMES["usage"]))
            lines.append(tr.gettext("• row {line}: {reason}", line=str(line), reason=reason))
    shifts = [s for s in facts.get("shifts") or [] if isinstance(s, dict)]
    lines.append(tr.gettext("📟 <b>On-call roster</b>"))
    if not shifts:
        lines.append(
            tr.gettext(
                "No shifts: an SLA breach pages every support agent, then the administrators."
            )
        )
    for s in shifts:
        level = int(s.get("level", 1))
        label = tr.gettext(ROSTER_LEVELS[level]) if level in ROSTER_LEVELS else f"L{level}"
        lines.append(
            tr.gettext(
                "{mark} #{id} {level}: {name}, {start} – {end}",
                mark="🟢" if s.get("now") else "▫️",
                id=str(s.get("id")),
                level=label,
                name=html.escape(str(s.get("name", ""))),
                start=_due(s.get("starts_at"), tr),
                end=_due(s.get("ends_at"), tr),
            )
        )
    lines.append(
        tr.gettext(
            "The desk lead adds a shift with /oncall add LEVEL PERSON FROM TO, removes one with "
            "/oncall del ID, or sends a CSV/XLSX file (level, person, start, end) captioned "
            "/oncall."
        )
    )
    return Rendered("send", "\n".join(lines))


DESK_OUTCOMES = {
    "default": N_(
        "✅ This group is now the support desk: each new ticket opens a topic here with its card."
    ),
    "set": N_("✅ Tickets about {categories} now open their topics in this group."),
    "off": N_(
        "This group is no longer a support desk; {moved} open tickets moved to the desk that "
        "takes them now."
    ),
    "usage": N_(
        "To route tickets to this group send /desk default (every category without a desk "
        "of its own) or /desk followed by categories: {keys}. /desk off stops it."
    ),
    "not_forum": N_(
        "A desk must be a group with Topics turned on (one topic per ticket). Turn on Topics "
        "in the group's settings, then send /desk here."
    ),
    "not_admin": N_(
        "To work as the support desk I need to be an administrator of this group with the "
        "right to manage topics."
    ),
    "denied": N_(
        "Only an administrator of GovOffice Assistant can make this group a support desk."
    ),
}


def _category_label(key: str, tr: Translator) -> str:
    labels = dict(CATEGORIES)
    if key == "*":
        return tr.gettext("every other category")
    return f"{tr.gettext(labels[key])} ({key})" if key in labels else key


@renders("support.desks")
def desks(out: Outgoing, tr: Translator) -> Rendered:
    """/desk, or the bot added to a group: what was done, and where tickets go now."""
    facts = out.facts
    outcome = str(facts.get("outcome", "shown"))
    categories = ", ".join(_category_label(str(c), tr) for c in facts.get("categories") or [])
    lines: list[str] = []
    if outcome in DESK_OUTCOMES:
        lines.append(
            tr.gettext(
                DESK_OUTCOMES[outcome],
                categories=html.escape(categories),
                moved=str(facts.get("moved", 0)),
                keys=", ".join(key for key, _ in CATEGORIES),
            )
        )
    if outcome not in ("denied", "not_admin"):
        lines.append(tr.gettext("<b>Where new tickets go</b>"))
        here = facts.get("here")
        routes = [d for d in facts.get("desks") or [] if isinstance(d, dict)]
        for d in sorted(routes, key=lambda d: (d.get("category") != "*", str(d.get("category")))):
            place = html.escape(str(d.get("title") or d.get("chat_id")))
            if d.get("chat_id") == here:
                place = tr.gettext("this group")
            label = html.escape(_category_label(str(d.get("category")), tr))
            lines.append("• " + tr.gettext("{category}: {place}", category=label, place=place))
        if not any(d.get("category") == "*" for d in routes):
            fallback = facts.get("fallback")
            lines.append(
                "• "
                + (
                    tr.gettext(
                        "every other category: the configured desk group {chat}", chat=fallback
                    )
                    if fallback
                    else tr.gettext(
                        "every other category: no desk group; agents are told in private chat"
                    )
                )
            )
    return Rendered("send", "\n".join(lines))


@renders("support.moved")
def moved(out: Outgoing, tr: Translator) -> Rendered:
    """In a ticket's old topic: it went to another desk group, or merged into another ticket."""
    facts = out.facts
    number = html.escape(str(facts.get("number", "")))
    if facts.get("into"):
        return Rendered(
            "send",
            tr.gettext(
                "🔀 {number} was merged into {into}; the conversation goes on in that ticket's "
                "topic.",
                number=number,
                into=html.escape(str(facts["into"])),
            ),
        )
    return Rendered(
        "send",
        tr.gettext(
            "➡️ {number} moved to another desk group ({category}); it is worked there now. "
            "Messages here no longer reach the requester.",
            number=number,
            category=html.escape(_category_label(str(facts.get("category") or "*"), tr)),
        ),
    )


PICKER_TITLES = {
    "transfer": N_(
        "↔️ Move {number} to which category? A category with a desk group of its "
        "own takes the ticket's topic there."
    ),
    "merge": N_(
        "🔀 Merge {number} into which of the requester's other open tickets? This one "
        "is closed and its history copied there."
    ),
    "assign": N_("👥 Give {number} to whom?"),
}
PICKER_RESULTS = {
    "cancelled": N_("{number}: nothing changed."),
    "moved": N_("{number} moved to another desk group."),
    "recategorized": N_("{number}: the category changed."),
    "merged": N_("{number} was merged into {into}."),
    "assigned": N_("{number} now belongs to {name}."),
}


@renders("support.picker")
def picker(out: Outgoing, tr: Translator) -> Rendered:
    """Under a ticket's card: the choices for a transfer, a merge or an assignment; once one
    is made (or it is put away), what happened, without buttons."""
    facts = out.facts
    number = html.escape(str(facts.get("number", "")))
    result = facts.get("result")
    if result:
        text = tr.gettext(
            PICKER_RESULTS.get(str(result), PICKER_RESULTS["cancelled"]),
            number=number,
            into=html.escape(str(facts.get("into", ""))),
            name=html.escape(str(facts.get("name", ""))),
        )
        return living_card(out, text)
    kind = str(facts.get("kind", "transfer"))
    ticket_id = int(facts.get("ticket_id", 0))
    action = {"transfer": "sd.xfer", "merge": "sd.mrg", "assign": "sd.asg"}.get(kind, "sd.xfer")
    labels = dict(CATEGORIES)
    rows: list[list[InlineKeyboardButton]] = []
    for option in facts.get("options") or []:
        if not isinstance(option, dict):
            continue
        if kind == "transfer":
            key = str(option.get("category", ""))
            label = ("• " if option.get("current") else "") + tr.gettext(labels.get(key, key))
        elif kind == "merge":
            subject = str(option.get("subject", ""))
            label = f"{option.get('number', '')} · {subject[:40]}"
        else:
            label = str(option.get("name", ""))
        rows.append([_button(label, action, ticket_id, int(option.get("value", 0)))])
    rows.append([_button(tr.gettext("✖️ Cancel"), "sd.pick", ticket_id, 3)])
    text = tr.gettext(PICKER_TITLES.get(kind, PICKER_TITLES["transfer"]), number=number)
    return living_card(out, text, rows)


@renders("support.merged")
def merged(out: Outgoing, tr: Translator) -> Rendered:
    """To the requester: two of their tickets were the same problem."""
    return Rendered(
        "send",
        tr.gettext(
            "🔀 Your ticket <b>{number}</b> is about the same problem as <b>{into}</b>, so the "
            "desk merged them: replies continue in {into}, and what you write now is added "
            "to it.",
            number=html.escape(str(out.facts.get("number", ""))),
            into=html.escape(str(out.facts.get("into", ""))),
        ),
    )


@renders("support.merged_in")
def merged_in(out: Outgoing, tr: Translator) -> Rendered:
    """In the ticket's topic: another ticket was merged into it."""
    return _quoted(
        tr.gettext(
            "🔀 {number} was merged into this ticket ({lines} lines of its history copied):",
            number=html.escape(str(out.facts.get("number", ""))),
            lines=str(out.facts.get("lines", 0)),
        ),
        out.facts.get("subject"),
    )


@renders("support.assigned")
def assigned(out: Outgoing, tr: Translator) -> Rendered:
    """To the agent who now owns a ticket."""
    return _quoted(
        tr.gettext(
            "👥 {by} gave you ticket <b>{number}</b>; it is in the desk group.",
            by=html.escape(str(out.facts.get("by", ""))),
            number=html.escape(str(out.facts.get("number", ""))),
        ),
        out.facts.get("subject"),
    )


ACTION_RESULTS = {
    "not_found": N_("{number}: there is no open ticket {by} to merge into."),
    "other_requester": N_(
        "{number}: {by} is another requester's ticket; only tickets of the "
        "same requester can be merged."
    ),
    "closed": N_("{number}: both tickets must still be open to merge them."),
    "stale": N_("{number} changed meanwhile; please try again."),
}


@renders("support.action_result")
def action_result(out: Outgoing, tr: Translator) -> Rendered:
    """In a topic: why a command given there did nothing."""
    outcome = str(out.facts.get("outcome", "stale"))
    return Rendered(
        "send",
        tr.gettext(
            ACTION_RESULTS.get(outcome, ACTION_RESULTS["stale"]),
            number=html.escape(str(out.facts.get("number", ""))),
            by=html.escape(str(out.facts.get("by") or "")),
        ),
    )


@renders("support.faq_drafted")
def faq_drafted(out: Outgoing, tr: Translator) -> Rendered:
    """To each trainer: a resolved ticket became a draft entry waiting for their review."""
    text = tr.gettext(
        "📝 {by} turned ticket {number} into draft entry {key}: «{question}». Check the "
        "desk's answer in the editor, then publish it.",
        by=html.escape(str(out.facts.get("by", ""))),
        number=html.escape(str(out.facts.get("number", ""))),
        key=html.escape(str(out.facts.get("key", ""))),
        question=html.escape(str(out.facts.get("question", ""))[:200]),
    )
    button = _button(tr.gettext("✏️ Open the draft"), "ke.open", int(out.facts["entry_id"]))
    return Rendered("send", text, InlineKeyboardMarkup([[button]]))


def _share(part: int, whole: int, tr: Translator) -> str:
    """A share such as 80% (4/5), or "—" with nothing to divide."""
    if whole <= 0:
        return "—"
    return tr.gettext(
        "{percent} ({part}/{whole})",
        percent=str(round(100 * part / whole)) + "%",
        part=str(part),
        whole=str(whole),
    )


@renders("support.daily")
def daily_summary(out: Outgoing, tr: Translator) -> Rendered:
    """The desk's last 24 hours, posted each morning in every desk group (and by /summary)."""
    facts = out.facts
    median_s = facts.get("median_first_response_s")
    median = (
        tr.duration(timedelta(seconds=float(median_s)))
        if isinstance(median_s, int | float)
        else "—"
    )
    mean_rating = facts.get("rating_mean")
    lines = [
        tr.gettext(
            "📊 <b>Support desk, the last 24 hours</b> (to {until})",
            until=_due(facts.get("until"), tr),
        ),
        tr.gettext(
            "New tickets: {new} · open now: {open} · open past an SLA target: {breached}",
            new=str(facts.get("new", 0)),
            open=str(facts.get("open", 0)),
            breached=str(facts.get("breached", 0)),
        ),
        tr.gettext(
            "Median first response: {median} (over {n} tickets answered)",
            median=median,
            n=str(facts.get("responded", 0)),
        ),
        tr.gettext(
            "Satisfaction (4–5 stars): {share} · mean rating: {mean}",
            share=_share(int(facts.get("satisfied", 0)), int(facts.get("rated", 0)), tr),
            mean=tr.number(float(mean_rating)) if isinstance(mean_rating, int | float) else "—",
        ),
        tr.gettext(
            "Knowledge base self-service: {share} of questions answered without 👎 or a ticket",
            share=_share(int(facts.get("faq_served", 0)), int(facts.get("faq_asked", 0)), tr),
        ),
    ]
    groups = [g for g in facts.get("unanswered") or [] if isinstance(g, dict)]
    if groups:
        lines.append(tr.gettext("Most asked without an answer:"))
        for group in groups:
            lines.append(
                tr.ngettext(
                    "• {text} ({n} person)",
                    "• {text} ({n} people)",
                    int(group.get("askers", 1)),
                    text=html.escape(str(group.get("text", ""))),
                )
            )
    else:
        lines.append(tr.gettext("Every question of the day found an answer."))
    return Rendered("send", "\n".join(lines))


OUTAGE_REASONS = {
    "stalled": N_(
        "Telegram is holding {pending} update(s) for the bot and none has come in for "
        "{minutes} minutes."
    ),
    "backlog": N_(
        "{waiting} update(s) taken in have waited over {minutes} minutes without being handled."
    ),
    "behind": N_(
        "The updates waiting at Telegram ({pending}) have kept growing for {minutes} minutes."
    ),
}


@renders("ops.outage")
def outage(out: Outgoing, tr: Translator) -> Rendered:
    """The on-call person's page: staff messages are not getting through."""
    facts = out.facts
    reason = OUTAGE_REASONS.get(str(facts.get("reason")), OUTAGE_REASONS["stalled"])
    lines = [
        tr.gettext("🚨 <b>The bot is not getting its messages through</b>"),
        tr.gettext(
            reason,
            pending=str(facts.get("pending") or 0),
            waiting=str(facts.get("waiting") or 0),
            minutes=tr.number(float(facts.get("minutes") or 0)),
        ),
    ]
    if facts.get("error"):
        lines.append(
            tr.gettext("Telegram reports: {error}", error=html.escape(str(facts["error"])))
        )
    lines.append(
        tr.gettext(
            "Telegram keeps updates for 24 hours only: check the bot's process, its network "
            "and its database now (/healthz). You will be told when it is over."
        )
    )
    return Rendered("send", "\n".join(lines))


@renders("ops.recovered")
def recovered(out: Outgoing, tr: Translator) -> Rendered:
    facts = out.facts
    lasted = facts.get("lasted_s")
    return Rendered(
        "send",
        tr.gettext(
            "✅ Messages get through to the bot again (the outage lasted {lasted}).",
            lasted=tr.duration(timedelta(seconds=float(lasted)))
            if isinstance(lasted, int | float)
            else "—",
        ),
    )
