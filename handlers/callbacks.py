"""The one codec for inline-button data: ``<cap>.<verb>:<object id>:<version>``.

Decoding proves only that the string is well formed and names a known action; the service
still checks, now, that this user may do it to that object at that version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.errors import BadCallbackError

ACTIONS = frozenset(
    {
        "rg.ok",  # accept the privacy notice (object: invite id)
        "rg.no",  # decline it
        "mn.open",  # open a main-menu item (object: index into bot.menu.MENU)
        "lg.set",  # choose a language (object: index into bot.i18n.SUPPORTED)
        "st.part",  # import the valid rows of the uploaded staff file (object: flow version)
        "st.drop",  # discard the uploaded staff file
        "ap.new",  # start a form (object: template row id)
        "ap.opt",  # a CHOICE option, 0 = skip (object: draft id, version: option number)
        "ap.next",  # attachments done (object: draft id)
        "ap.edit",  # edit the draft (object: draft id, version: field number, 0 = pick list)
        "ap.send",  # submit the draft (object: draft id, version: draft version)
        "ap.drop",  # discard the draft
        "ap.ok",  # approve / 签发 / 编号 (object: task id, version: task version)
        "ap.no",  # reject (asks the reason)
        "ap.ret",  # return to the submitter (asks the reason)
        "ap.sign",  # confirm a 签发
        "ap.open",  # show a task card again (from /todo)
        "ap.wd",  # withdraw (object: request id, version: request version)
        "ap.urge",  # 催办
        "ap.resub",  # resubmit after a return (version 1: from the returning node, 0: restart)
        "ap.resend",  # submit an edited returned request from the start (object: draft id)
        "ap.redit",  # edit a returned request before resubmitting (object: request id)
        "ap.tr",  # transfer (asks whom; object: task id, version: task version)
        "ap.add",  # add signers: asks before or after
        "ap.addb",  # add signers before me (asks whom)
        "ap.adda",  # add signers after me (asks whom)
        "ap.addw",  # add signers alongside me, 并加签 (asks whom)
        "ap.rto",  # where a return goes (object: task id, version: 0 submitter, i + 1 node i)
        "ap.cmt",  # comment on a task card (asks the text)
        "ap.note",  # comment from a status or CC card (object: request id)
        "ap.files",  # send the attachments (object: request id)
        "ap.read",  # a CC recipient has read it (object: request id)
        "ap.rvk",  # 通过后撤销 (object: request id, version: request version)
        "sv.go",  # start or continue a survey (object: survey id)
        "sv.opt",  # a choice or a score (object: survey id, version: question index × 100 +
        # choice index or score)
        "sv.done",  # a multiple-choice question is answered (version: question index × 100)
        "sv.skip",  # leave an optional question unanswered (version: question index × 100)
        "sv.send",  # submit the answers (object: survey id)
        "qz.go",  # start, resume or retry a quiz (object: campaign id)
        "qz.ans",  # an option (object: attempt id, version: question place × 16 + option shown)
        "qz.next",  # the next question (object: attempt id, version: the answered place)
        "cr.open",  # open a course where the person stopped (object: course id)
        "cr.next",  # next lesson / finish (object: course id, version: the lesson's index)
        "cr.prev",  # previous lesson (object: course id, version: the lesson's index)
        "an.ack",  # 已阅: acknowledge an announcement (object: announcement id)
        "an.need",  # composing: 已阅 required or not (object: composing number, version: 1/0)
        "an.nodl",  # composing: no deadline for 已阅 (object: composing number)
        "an.send",  # send the previewed announcement (object: announcement id)
        "an.drop",  # cancel it (object: announcement id)
        "an.stat",  # the counts per department (object: announcement id, version 1: redraw)
        "an.csv",  # the per-person CSV in chat (object: announcement id)
        "an.nudge",  # 催阅: remind those who have not acknowledged (object: announcement id)
        # /newsurvey, the survey being written (object 0; the draft is the person's flow):
        "sa.anon",  # anonymous (version 1) or named (0)
        "sa.skip",  # no welcome / closing text / closing date
        "sa.kind",  # add a question of this type (version: index into authoring.KINDS)
        "sa.req",  # the new question is required (1) or optional (0)
        "sa.undo",  # remove the last question
        "sa.back",  # drop the question being written
        "sa.finish",  # no more questions
        "sa.cancel",  # drop the draft
        "sa.export",  # the draft as a YAML file
        "sv.res",  # a survey's results (object: survey id, version: 0 summary, 1 CSV, 2 XLSX)
        "kb.open",  # show an entry's answer (object: entry id, version: the question it was
        # suggested for, 0 = a follow-up, logged as a question of its own)
        "kb.up",  # the answer solved it (object: question id)
        "kb.down",  # it did not
        "kb.ask",  # hand the question to a person: a support ticket (object: question id)
        "kd.add",  # digest: add a group as a phrasing of its entry (object: group id, version:
        # group version)
        "kd.draft",  # digest: draft a new entry from a group
        "kd.ignore",  # digest: ignore a group
        "ke.open",  # open an entry's card in the trainers' editor (object: entry id)
        "ke.home",  # the trainers' home card
        "ke.find",  # ask for words to search the entries for
        "ke.list",  # list entries (version: 1 drafts waiting, 2 archived)
        "ke.page",  # another page of a list (object: list flow version, version: page, 0-based)
        "ke.new",  # create an entry step by step
        "ke.done",  # no more phrasings for the new entry
        "ke.cat",  # a category (object: entry id, 0 = the new entry; version: choice, 0 = none)
        "ke.editq",  # type a new question (object: entry id, version: entry revision)
        "ke.addalt",  # type another phrasing (object: entry id, version: entry revision)
        "ke.delalt",  # pick a phrasing to remove (object: entry id, version: entry revision)
        "ke.rmalt",  # remove this phrasing (object: entry id, version: its number, 1-based)
        "ke.editans",  # type a new answer (object: entry id, version: entry revision)
        "ke.editcat",  # choose a category (object: entry id, version: entry revision)
        "ke.tags",  # type the entry's tags (object: entry id, version: entry revision)
        "ke.notags",  # remove all the tags, in the tags step (object: entry id)
        "ke.fups",  # the follow-ups step: list, remove, search to add (object: entry id,
        # version: entry revision)
        "ke.fuadd",  # add a search result as a follow-up (object: entry id, version: the
        # follow-up's entry id)
        "ke.furm",  # remove a follow-up (object: follow-ups step's flow version, version: its
        # number, 1-based)
        "ke.files",  # the attachments step: send documents to attach (object: entry id,
        # version: entry revision)
        "ke.rmfile",  # remove an attachment (object: attachments step's flow version, version:
        # its number, 1-based)
        "ke.view",  # preview the answer as staff will see it (object: entry id)
        "ke.pub",  # publish the draft (object: entry id, version: entry revision)
        "ke.keep",  # keep a new entry as a draft (object: entry id)
        "ke.vers",  # the entry's published versions (object: entry id)
        "ke.rb",  # ask before rolling back (object: entry id, version: version to publish again)
        "ke.rbok",  # roll back, confirmed (object: entry id, version: version number)
        "ke.arch",  # ask before archiving (object: entry id, version: entry revision)
        "ke.arok",  # archive, confirmed (object: entry id)
        "ke.unarch",  # restore an archived entry (object: entry id, version: entry revision)
        "ke.quit",  # leave the trainer's step (object: entry id to show again, 0 = none)
        "ke.imp",  # ask for a file to import (version: 0 knowledge base, 1 glossary)
        "ke.imok",  # apply the checked file, publishing (object: import flow version)
        "ke.imdr",  # apply the checked file as drafts (object: import flow version)
        "ke.imno",  # discard the checked file (object: import flow version)
        "ke.exp",  # export the knowledge base (version: 0 XLSX, 1 CSV, 2 YAML)
        "ke.gloss",  # the trainers' glossary card
        "ke.gexp",  # export the glossary (version: 0 XLSX, 1 CSV)
        "sd.claim",  # desk: claim a ticket (object: ticket id, version: ticket version)
        "sd.res",  # desk: resolve it (object: ticket id, version: ticket version)
        "sd.add",  # requester: add a message to the ticket (object: ticket id)
        "sd.done",  # requester: stop adding messages (object: ticket id)
        "sd.cat",  # requester: open a ticket in a category (object: index into CATEGORIES)
        "sd.close",  # requester: it is solved, close the ticket (object: ticket id)
        "sd.rate",  # requester: rate the help (object: ticket id, version: 1-5 stars)
        "sd.wait",  # desk: waiting for the requester, or not (object: ticket id)
        "sd.pri",  # desk: set the priority (object: ticket id, version: index in PRIORITIES)
        "sd.ack",  # on call: acknowledge a page (object: escalation id)
        "sd.pick",  # desk: show a picker in the topic (object: ticket id, version: 0 transfer,
        # 1 merge, 2 assign, 3 close the picker)
        "sd.xfer",  # desk: move to a category (object: ticket id, version: index in CATEGORIES)
        "sd.mrg",  # desk: merge into another ticket (object: ticket id, version: its id)
        "sd.asg",  # desk: give to an agent (object: ticket id, version: their staff id)
        "sd.faq",  # desk: draft a knowledge-base entry from a resolved ticket (object: its id)
    }
)
MAX_BYTES = 64  # Telegram counts bytes, not characters
_FORMAT = re.compile(
    r"([a-z]{2,8}\.[a-z]{2,8}):([0-9]{1,12}):([0-9]{1,9})"
)  # not \d: int() takes "１"


@dataclass(frozen=True)
class Press:
    """A decoded button press."""

    action: str
    obj_id: int
    version: int = 0


def encode(press: Press) -> str:
    """Button data for a press; raises ValueError for anything Telegram would refuse."""
    data = f"{press.action}:{press.obj_id}:{press.version}"
    if press.action not in ACTIONS or press.obj_id < 0 or press.version < 0:
        raise ValueError(data)
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(data)
    return data


def decode(data: str | None) -> Press:
    """The press, or BadCallbackError for data our encoder did not produce."""
    if data is None:
        raise BadCallbackError()
    match = _FORMAT.fullmatch(data)
    if match is None or match[1] not in ACTIONS:
        raise BadCallbackError()
    return Press(match[1], int(match[2]), int(match[3]))
