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
