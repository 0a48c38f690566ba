"""Form answers: what a user typed turned into the stored value, checked against its field; pure.

Stored values are JSON-safe, by field type:

=============  ============================================================================
text/longtext  ``str`` (trimmed; text is one line)
number         ``str``, plain decimal without trailing zeros: ``"0.5"``, ``"3"``
money          ``str`` with two decimals: ``"1234.50"`` (CNY)
date           ``str``, ISO: ``"2026-12-01"``
date_range     ``{"start": "2026-12-01", "end": "2026-12-03", "days": 3}`` (inclusive)
choice         the option key; a list of keys (in option order) when ``multiple``
departments    a list of department names, as the directory spells them
person         the employee number as typed (NFKC, trimmed, no spaces)
attachment     a list of file entries built by the caller after ``check_attachment``; each
               carries ``sha256`` and/or ``file_unique_id``, which is what ``content_hash`` uses
=============  ============================================================================

A skipped optional field is ``None``. ``FieldInputError.code`` keys ``INPUT_ERRORS``.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Collection, Mapping
from datetime import date, timedelta
from decimal import Context, Decimal

from bot.approvals.conditions import DIRECTION, direction_of
from bot.approvals.model import FieldType, FormField, Template
from bot.errors import DomainError
from bot.people.domain import MAX_EMPLOYEE_NO
from bot.text import N_, clean

SKIP_WORDS = frozenset({"跳过", "skip", "-", "无"})
TEXT_MAX = 200
LONGTEXT_MAX = 4000
MAX_FILE_BYTES = 20 * 1024 * 1024  # Bot API getFile serves files up to 20 MB
ALLOWED_EXTENSIONS = frozenset(
    {"pdf", "ofd", "doc", "docx", "xls", "xlsx", "wps", "jpg", "jpeg", "png"}
)
ALLOWED_MIME_TYPES = frozenset(
    {
        "application/pdf",
        "application/ofd",  # GB/T 33190 版式文档
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/wps-office.wps",
        "application/kswps",
        "image/jpeg",
        "image/png",
    }
)
# A program dressed up with a document's MIME type is refused by its name whatever the type says.
_PROGRAM_EXTENSIONS = frozenset(
    {
        "exe",
        "com",
        "bat",
        "cmd",
        "scr",
        "msi",
        "dll",
        "js",
        "vbs",
        "ps1",
        "sh",
        "jar",
        "apk",
        "lnk",
    }
)

INPUT_ERRORS: dict[str, str] = {
    "unknown_person": N_("No active staff member has that employee number."),
    "required": N_("This question must be answered; it cannot be skipped."),
    "not_a_number": N_("Please send a number, for example 3 or 0.5."),
    "not_money": N_("Please send an amount in yuan, for example 1234.50."),
    "too_many_decimals": N_("An amount has at most two decimal places (fen)."),
    "below_min": N_("The smallest value allowed here is {min}."),
    "above_max": N_("The largest value allowed here is {max}."),
    "too_short": N_("Please write at least {min} characters."),
    "too_long": N_("Please keep this to {max} characters; you sent {length}."),
    "one_line": N_("Please write this on one line."),
    "not_a_date": N_("Please send a date, for example 2026-12-01 or 12月1日."),
    "no_such_date": N_("There is no such date: {text}."),
    "not_a_range": N_(
        "Please send a start and an end date, for example 2026-12-01 至 2026-12-03."
    ),
    "end_before_start": N_("The end date {end} is before the start date {start}."),
    "too_few_days": N_("The period must be at least {min} days."),
    "too_many_days": N_("The period can be at most {max} days."),
    "unknown_option": N_("“{text}” is not one of the choices; send its number or its name."),
    "one_option": N_("Please choose only one."),
    "too_many_choices": N_("You can choose at most {max}."),
    "too_few_choices": N_("Please choose at least {min}."),
    "tap_a_button": N_("Please answer with the buttons of the question."),
    "classified": N_(
        "Classified documents (secret, confidential or top secret) are never accepted "
        "through chat. Please handle this document through the classified channel; "
        "nothing has been kept."
    ),
    "unknown_department": N_("There is no department called “{text}”."),
    "ambiguous_department": N_(
        "“{text}” could be any of {matches}; please write more of the name."
    ),
    "one_department": N_("Please name only one department."),
    "bad_employee_no": N_("Please send an employee number without spaces, for example E0001."),
    "attachment_expected": N_("Please send the document as a file, not as text."),
    "bad_choice": N_("That choice is not offered here; please choose again."),
    "file_too_big": N_("This file is {size_mb} MB; files of up to {limit_mb} MB can be attached."),
    "file_type": N_(
        "This kind of file cannot be attached; please send PDF, OFD, Word, Excel, WPS, JPG or PNG."
    ),
    "too_many_files": N_("At most {max} files can be attached here."),
}


class FieldInputError(DomainError):
    """An answer a field cannot take; ``code`` keys INPUT_ERRORS, ``facts`` fill it."""

    def __init__(self, code: str, **facts: object) -> None:
        super().__init__(code, facts)
        self.code = code
        self.facts = facts


_WIDE = Context(prec=80)  # amounts are capped at 40 characters, so this is exact
_CENT = Decimal("0.01")
_MAX_NUMBER_TEXT = 40
_SPLIT = re.compile(r"[,、;]+")  # NFKC has already made "，" and "；" ASCII
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")  # not \d: Decimal takes "٣"
_UNITS = ("天", "日", "份", "件", "个", "页", "次", "人")  # "3天", "2份": counting words
_MONEY_WORDS = ("人民币", "rmb", "cny", "¥", "元")
_ISO = re.compile(r"([0-9]{4})\s*([-/.])\s*([0-9]{1,2})\s*\2\s*([0-9]{1,2})")
_COMPACT = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})")
_CHINESE = re.compile(r"(?:([0-9]{4})\s*年\s*)?([0-9]{1,2})\s*月\s*([0-9]{1,2})\s*[日号]?")
_MONTH_DAY = re.compile(r"([0-9]{1,2})\s*[-/.]\s*([0-9]{1,2})")  # the end of a range only
_DAY = re.compile(r"([0-9]{1,2})\s*[日号]")  # the end of a range only: "12月1日至3日"
_RANGE_SEPARATORS = re.compile(r"\s+to\s+|至|到|~|〜|-|–|—", re.IGNORECASE)


def _fold(text: str) -> str:
    """NFKC (full-width digits and punctuation to ASCII), "。" as ".", trimmed."""
    return unicodedata.normalize("NFKC", text).replace("。", ".").strip()


def _plain(number: Decimal) -> str:
    """``0.5``, ``3``, ``120``: no exponent, no trailing zeros."""
    if number == 0:
        return "0"
    return format(number.normalize(_WIDE), "f")


def _bound(value: Decimal | None) -> str | None:
    return None if value is None else _plain(value)


def _check_bounds(field: FormField, number: Decimal, *, default_min: Decimal | None) -> None:
    low = field.min if field.min is not None else default_min
    if low is not None and number < low:
        raise FieldInputError("below_min", min=_plain(low))
    if field.max is not None and number > field.max:
        raise FieldInputError("above_max", max=_plain(field.max))


def _parse_number(field: FormField, text: str) -> str:
    folded = "".join(_fold(text).replace(",", "").split())
    for unit in _UNITS:
        if folded.endswith(unit):
            folded = folded[: -len(unit)]
            break
    if len(folded) > _MAX_NUMBER_TEXT or not _NUMBER.fullmatch(folded):
        raise FieldInputError("not_a_number")
    number = Decimal(folded)
    _check_bounds(field, number, default_min=None)
    return _plain(number)


def _parse_money(field: FormField, text: str) -> str:
    folded = "".join(_fold(text).casefold().replace(",", "").split())
    for word in _MONEY_WORDS:  # "人民币1.5万元", "¥1,234.50", "RMB 300"
        folded = folded.replace(word, "")
    scale = Decimal(1)
    if folded.endswith("万"):  # 1.5万 is 15000
        folded, scale = folded[:-1], Decimal(10000)
    if len(folded) > _MAX_NUMBER_TEXT or not _NUMBER.fullmatch(folded):
        raise FieldInputError("not_money")
    amount = _WIDE.multiply(Decimal(folded), scale)
    cents = amount.quantize(_CENT, context=_WIDE)
    if cents != amount:
        raise FieldInputError("too_many_decimals")
    _check_bounds(field, cents, default_min=Decimal(0))  # no negative amounts by default
    return f"{cents:.2f}"


def _make_date(year: int, month: int, day: int, text: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise FieldInputError("no_such_date", text=text) from None


def _date_parts(text: str) -> tuple[int | None, int, int] | None:
    """(year or None, month, day) of a date as people write it, or None if it is not one."""
    match = _ISO.fullmatch(text)
    if match is not None:  # group 2 is the separator
        return int(match[1]), int(match[3]), int(match[4])
    match = _COMPACT.fullmatch(text)
    if match is not None:
        return int(match[1]), int(match[2]), int(match[3])
    match = _CHINESE.fullmatch(text)
    if match is not None:
        year = int(match[1]) if match[1] is not None else None
        return year, int(match[2]), int(match[3])
    return None


def _need_today(today: date | None) -> date:
    if today is None:
        raise ValueError("parse_answer needs today= for date and date_range fields")
    return today


def _parse_date(text: str, today: date) -> str:
    folded = _fold(text)
    parts = _date_parts(folded)
    if parts is None:
        raise FieldInputError("not_a_date")
    year, month, day = parts
    return _make_date(year or today.year, month, day, folded).isoformat()


def _end_parts(text: str, start_month: int) -> tuple[int | None, int, int] | None:
    parts = _date_parts(text)
    if parts is not None:
        return parts
    match = _MONTH_DAY.fullmatch(text)
    if match is not None:
        return None, int(match[1]), int(match[2])
    match = _DAY.fullmatch(text)
    if match is not None:
        return None, start_month, int(match[1])
    return None


def _parse_range(field: FormField, text: str, today: date) -> dict[str, object]:
    folded = _fold(text)
    split: tuple[tuple[int | None, int, int], tuple[int | None, int, int], str, str] | None = None
    single = _date_parts(folded)
    if single is not None:  # one date: a one-day period
        split = (single, single, folded, folded)
    else:
        for sep in _RANGE_SEPARATORS.finditer(folded):
            left, right = folded[: sep.start()].strip(), folded[sep.end() :].strip()
            start_parts = _date_parts(left)
            if start_parts is None:
                continue
            end_parts = _end_parts(right, start_parts[1])
            if end_parts is not None:
                split = (start_parts, end_parts, left, right)
                break
    if split is None:
        raise FieldInputError("not_a_range")
    (start_year, start_month, start_day), (end_year, end_month, end_day), left, right = split
    start = _make_date(start_year or today.year, start_month, start_day, left)
    end = _make_date(end_year or start.year, end_month, end_day, right)
    if end < start and end_year is None:  # "12月30日至1月2日" ends next year
        end = _make_date(start.year + 1, end_month, end_day, right)
    if end < start:
        raise FieldInputError("end_before_start", start=start.isoformat(), end=end.isoformat())
    days = (end - start) // timedelta(days=1) + 1
    if field.min is not None and days < field.min:
        raise FieldInputError("too_few_days", min=_plain(field.min))
    if field.max is not None and days > field.max:
        raise FieldInputError("too_many_days", max=_plain(field.max))
    return {"start": start.isoformat(), "end": end.isoformat(), "days": days}


def _parse_text(field: FormField, text: str, *, multiline: bool) -> str:
    value = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not multiline and "\n" in value:
        raise FieldInputError("one_line")
    default_max = LONGTEXT_MAX if multiline else TEXT_MAX
    longest = int(field.max) if field.max is not None else default_max
    if len(value) > longest:
        raise FieldInputError("too_long", max=longest, length=len(value))
    if field.min is not None and len(value) < field.min:
        raise FieldInputError("too_short", min=int(field.min))
    return value


def _pick(text: str, match: Callable[[str], str | None], unknown: str) -> list[str]:
    """Items matched in ``text``: the whole of it, else each part between separators.

    A part that does not match as a whole is split at spaces ("年休假 病假"), so labels
    with spaces in them ("Annual leave") still match whole.
    """
    whole = match(text)
    if whole is not None:
        return [whole]
    picked: list[str] = []
    for part in _SPLIT.split(text):
        part = part.strip()
        if not part:
            continue
        found = match(part)
        if found is not None:
            picked.append(found)
            continue
        for word in part.split():
            found = match(word)
            if found is None:
                raise FieldInputError(unknown, text=word)
            picked.append(found)
    if not picked:
        raise FieldInputError(unknown, text=text)
    return list(dict.fromkeys(picked))  # once each, first mention first


def _fold_label(text: str) -> str:
    return " ".join(_fold(text).casefold().split())


def _parse_choice(field: FormField, text: str) -> str | list[str]:
    names: dict[str, str] = {}
    # Keys first, then numbers, then labels: a key never loses to another option's label.
    for kind in ("key", "number", "zh_CN", "en"):
        for number, option in enumerate(field.options, start=1):
            name = {
                "key": option.key,
                "number": str(number),
                "zh_CN": option.label.zh_CN,
                "en": option.label.en,
            }[kind]
            names.setdefault(_fold_label(name), option.key)
    keys = _pick(_fold(text), lambda token: names.get(_fold_label(token)), "unknown_option")
    refused = [key for key in keys if key in field.refuse]
    if refused:
        raise FieldInputError("classified", option=refused[0])
    if not field.multiple:
        if len(keys) > 1:
            raise FieldInputError("one_option")
        return keys[0]
    order = {option.key: i for i, option in enumerate(field.options)}
    return sorted(keys, key=order.__getitem__)


def _parse_departments(field: FormField, text: str, departments: Collection[str]) -> list[str]:
    by_name = {_fold_label(name): name for name in departments}

    def match(token: str) -> str | None:
        wanted = _fold_label(token)
        if not wanted:
            return None
        exact = by_name.get(wanted)
        if exact is not None:
            return exact
        prefixed = sorted(name for folded, name in by_name.items() if folded.startswith(wanted))
        if len(prefixed) > 1:
            raise FieldInputError("ambiguous_department", text=token, matches="、".join(prefixed))
        return prefixed[0] if prefixed else None

    names = _pick(_fold(text), match, "unknown_department")
    if not field.multiple and len(names) > 1:
        raise FieldInputError("one_department")
    return names


def _parse_person(text: str) -> str:
    employee_no = clean(text)
    if (
        not employee_no
        or any(ch.isspace() for ch in employee_no)
        or len(employee_no) > MAX_EMPLOYEE_NO
    ):
        raise FieldInputError("bad_employee_no")
    return employee_no


def is_skip(text: str) -> bool:
    """Is this what someone types to skip a question (跳过, skip, -, 无)?"""
    return _fold(text).casefold() in SKIP_WORDS


def parse_answer(
    field: FormField,
    text: str,
    *,
    departments: Collection[str] = (),
    today: date | None = None,
) -> object:
    """The stored value for ``text`` typed as the answer to ``field``; FieldInputError if unfit.

    ``today`` (the office-local date) is required for date and date_range fields, where a
    date without a year ("12月1日") is in today's year; ``departments`` are the directory's
    department names, for a departments field.
    """
    if field.type in (FieldType.DATE, FieldType.DATE_RANGE):
        _need_today(today)  # even for a skip: a caller that forgets today fails at once
    if not text.strip() or is_skip(text):
        if field.required:
            raise FieldInputError("required")
        return None
    kind = field.type
    if kind == FieldType.TEXT:
        return _parse_text(field, text, multiline=False)
    if kind == FieldType.LONGTEXT:
        return _parse_text(field, text, multiline=True)
    if kind == FieldType.NUMBER:
        return _parse_number(field, text)
    if kind == FieldType.MONEY:
        return _parse_money(field, text)
    if kind == FieldType.DATE:
        return _parse_date(text, _need_today(today))
    if kind == FieldType.DATE_RANGE:
        return _parse_range(field, text, _need_today(today))
    if kind == FieldType.CHOICE:
        return _parse_choice(field, text)
    if kind == FieldType.DEPARTMENTS:
        return _parse_departments(field, text, departments)
    if kind == FieldType.PERSON:
        return _parse_person(text)
    raise FieldInputError("attachment_expected")  # ATTACHMENT: files arrive as files, not text


def _extension(file_name: str | None) -> str | None:
    if not file_name or "." not in file_name.strip(". "):
        return None
    return file_name.rsplit(".", 1)[1].strip().casefold()


def check_attachment(
    field: FormField, *, file_name: str | None, mime: str | None, size: int, count_so_far: int
) -> None:
    """FieldInputError unless this file may be attached to ``field`` after ``count_so_far``."""
    if field.type != FieldType.ATTACHMENT:
        raise ValueError(f"{field.key} is not an attachment field")
    if count_so_far >= field.max_files:
        raise FieldInputError("too_many_files", max=field.max_files)
    if size > MAX_FILE_BYTES:
        raise FieldInputError(
            "file_too_big",
            size_mb=f"{size / (1024 * 1024):.1f}",
            limit_mb=MAX_FILE_BYTES // (1024 * 1024),
        )
    extension = _extension(file_name)
    mime_type = (mime or "").split(";")[0].strip().casefold()
    if extension in _PROGRAM_EXTENSIONS:
        raise FieldInputError("file_type")
    if extension not in ALLOWED_EXTENSIONS and mime_type not in ALLOWED_MIME_TYPES:
        raise FieldInputError("file_type")


def derived(template: Template, values: Mapping[str, object]) -> dict[str, object]:
    """The values plus the ``direction`` pseudo-value (templates with a direction_field)."""
    result = dict(values)
    if template.direction_field is not None:
        result[DIRECTION] = direction_of(template, values)
    return result


def _canonical(value: object) -> object:
    """The part of a value that identifies it: a file by its content, not its name or file_id."""
    if isinstance(value, Mapping):
        if "sha256" in value or "file_unique_id" in value:
            return {k: value[k] for k in ("sha256", "file_unique_id") if k in value}
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return value


def content_hash(values: Mapping[str, object]) -> str:
    """sha256 of the canonical JSON of the values (sorted keys, skipped fields left out)."""
    canonical = {key: _canonical(v) for key, v in values.items() if v is not None}
    text = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def diff(template: Template, old: Mapping[str, object], new: Mapping[str, object]) -> list[str]:
    """The keys of the fields whose values differ, in form order (a skip equals no value)."""
    return [
        field.key
        for field in template.fields
        if _canonical(old.get(field.key)) != _canonical(new.get(field.key))
    ]
