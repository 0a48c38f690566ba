"""Form answers: what Chinese users type, parsed into stored values or a keyed error."""

from __future__ import annotations

import string
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.approvals.forms import (
    INPUT_ERRORS,
    LONGTEXT_MAX,
    MAX_FILE_BYTES,
    TEXT_MAX,
    FieldInputError,
    check_attachment,
    content_hash,
    derived,
    diff,
    parse_answer,
)
from bot.approvals.model import FieldType, FormField, Option, Text
from bot.approvals.templates import load_shipped
from bot.errors import DomainError

SHIPPED = load_shipped()
REIMBURSEMENT = SHIPPED["reimbursement"]
LEAVE = SHIPPED["leave"]
OUTGOING = SHIPPED["outgoing"]
TODAY = date(2026, 5, 20)
DEPARTMENTS = ("财务处", "办公室", "办事处", "人事科", "Legal Affairs Office")


def _field(template_key: str, key: str) -> FormField:
    field = SHIPPED[template_key].field(key)
    assert field is not None
    return field


def _label(name: str) -> Text:
    return Text(zh_CN=name, en=name)


AMOUNT = _field("reimbursement", "amount")  # money, 0.01 .. 10000000
MONEY = FormField("money", FieldType.MONEY, _label("money"))  # no bounds
DAYS = _field("leave", "days")  # number, 0.5 .. 365
NUMBER = FormField("n", FieldType.NUMBER, _label("n"))
DATE = FormField("d", FieldType.DATE, _label("d"))
RANGE = _field("leave", "dates")
LEAVE_TYPE = _field("leave", "leave_type")
CLASSIFICATION = _field("outgoing", "classification")
CO_DEPARTMENTS = _field("outgoing", "co_departments")  # multiple, optional
HANDLING = _field("incoming", "handling_department")  # one, required
PERSON = FormField("p", FieldType.PERSON, _label("p"))
TITLE = _field("outgoing", "title")
NOTES = _field("outgoing", "notes")  # longtext, optional
ATTACHMENT = _field("outgoing", "body")  # max_files 5
MULTI = FormField(
    "m",
    FieldType.CHOICE,
    _label("m"),
    multiple=True,
    options=(
        Option("annual", Text("年休假", "Annual leave")),
        Option("sick", Text("病假", "Sick leave")),
        Option("personal", Text("事假", "Personal leave")),
    ),
)


def _parse(field: FormField, text: str) -> object:
    return parse_answer(field, text, departments=DEPARTMENTS, today=TODAY)


def _error(field: FormField, text: str) -> FieldInputError:
    with pytest.raises(FieldInputError) as info:
        _parse(field, text)
    _check_message(info.value)
    return info.value


def _check_message(error: FieldInputError) -> None:
    """Every code has a message, and the error carries every placeholder the message needs."""
    assert isinstance(error, DomainError)
    message = INPUT_ERRORS[error.code]
    wanted = {name for _, name, _, _ in string.Formatter().parse(message) if name}
    assert wanted <= set(error.facts), (error.code, error.facts)
    message.format(**error.facts)


def test_every_message_names_its_placeholders() -> None:
    for code, message in INPUT_ERRORS.items():
        assert code.isidentifier() and code.islower()
        assert "{}" not in message and message.endswith("."), code


# --- money -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("5000", "5000.00"),
        ("5000.5", "5000.50"),
        ("1,234.5元", "1234.50"),
        ("¥1,234.56", "1234.56"),
        ("￥ 88", "88.00"),
        ("１２３４．５", "1234.50"),  # full-width digits and point
        ("１，２３４。５元", "1234.50"),  # full-width comma, 。 as the point
        ("人民币300元", "300.00"),
        ("RMB 300", "300.00"),
        ("1.5万元", "15000.00"),
        ("2万", "20000.00"),
        (".5", "0.50"),
        ("12.", "12.00"),
        ("0.01", "0.01"),
        ("10000000", "10000000.00"),
        ("1.230", "1.23"),  # trailing zeros are not extra precision
    ],
)
def test_money(text: str, stored: str) -> None:
    assert _parse(AMOUNT, text) == stored


@pytest.mark.parametrize(
    ("text", "code", "facts"),
    [
        ("", "required", {}),
        ("跳过", "required", {}),
        ("abc", "not_money", {}),
        ("12元3角", "not_money", {}),
        ("1e5", "not_money", {}),
        ("٣", "not_money", {}),  # not \d: other scripts' digits are not amounts
        ("1.234", "too_many_decimals", {}),
        ("5000.001", "too_many_decimals", {}),
        ("0", "below_min", {"min": "0.01"}),
        ("0.00", "below_min", {"min": "0.01"}),
        ("-5", "below_min", {"min": "0.01"}),
        ("10000000.01", "above_max", {"max": "10000000"}),
        ("9" * 60, "not_money", {}),
    ],
)
def test_money_errors(text: str, code: str, facts: dict[str, object]) -> None:
    error = _error(AMOUNT, text)
    assert (error.code, error.facts) == (code, facts)


def test_money_without_bounds_refuses_negative_amounts() -> None:
    assert _parse(MONEY, "0") == "0.00"
    assert _error(MONEY, "-0.01").code == "below_min"


_FULL_WIDTH = str.maketrans("0123456789.,", "０１２３４５６７８９．，")


@given(
    amount=st.decimals(min_value=0, max_value=10**12, places=2),
    commas=st.booleans(),
    prefix=st.sampled_from(["", "¥", "￥", "RMB ", "人民币"]),
    suffix=st.sampled_from(["", "元", " 元"]),
    wide=st.booleans(),
)
def test_money_round_trips(
    amount: Decimal, commas: bool, prefix: str, suffix: str, wide: bool
) -> None:
    text = format(amount, ",f" if commas else "f")
    if wide:
        text = text.translate(_FULL_WIDTH)
    assert parse_answer(MONEY, prefix + text + suffix) == f"{amount:.2f}"


# --- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("3", "3"),
        ("0.5", "0.5"),
        ("３", "3"),
        ("3.50", "3.5"),
        ("3天", "3"),
        ("1.0", "1"),
        ("365", "365"),
    ],
)
def test_number(text: str, stored: str) -> None:
    assert _parse(DAYS, text) == stored


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("three", "not_a_number"),
        ("0.4", "below_min"),
        ("366", "above_max"),
        ("3个月", "not_a_number"),
    ],
)
def test_number_errors(text: str, code: str) -> None:
    assert _error(DAYS, text).code == code


def test_number_without_bounds() -> None:
    assert _parse(NUMBER, "-2.25") == "-2.25"
    assert _parse(NUMBER, "1,000") == "1000"
    assert _parse(NUMBER, "0.000") == "0"


# --- dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("2026-12-01", "2026-12-01"),
        ("2026/12/1", "2026-12-01"),
        ("2026.12.1", "2026-12-01"),
        ("２０２６－１２－０１", "2026-12-01"),
        ("2026年12月1日", "2026-12-01"),
        ("2026 年 12 月 1 日", "2026-12-01"),
        ("12月1日", "2026-12-01"),  # today's year
        ("12月1号", "2026-12-01"),
        ("1月5日", "2026-01-05"),
        ("20261201", "2026-12-01"),
    ],
)
def test_date(text: str, stored: str) -> None:
    assert _parse(DATE, text) == stored


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("tomorrow", "not_a_date"),
        ("12/1", "not_a_date"),
        ("2026-12/01", "not_a_date"),
        ("2026-02-30", "no_such_date"),
        ("2月30日", "no_such_date"),
        ("2026-13-01", "no_such_date"),
    ],
)
def test_date_errors(text: str, code: str) -> None:
    assert _error(DATE, text).code == code


def test_dates_need_today() -> None:
    with pytest.raises(ValueError, match="today"):
        parse_answer(DATE, "2026-12-01")
    with pytest.raises(ValueError, match="today"):
        parse_answer(RANGE, "跳过")


@pytest.mark.parametrize(
    ("text", "start", "end", "days"),
    [
        ("2026-12-01 至 2026-12-03", "2026-12-01", "2026-12-03", 3),
        ("2026-12-01-2026-12-03", "2026-12-01", "2026-12-03", 3),
        ("2026-12-01 - 2026-12-03", "2026-12-01", "2026-12-03", 3),
        ("2026/12/1~2026/12/5", "2026-12-01", "2026-12-05", 5),
        ("2026.12.1～2026.12.2", "2026-12-01", "2026-12-02", 2),
        ("2026-12-01 to 2026-12-01", "2026-12-01", "2026-12-01", 1),
        ("2026-12-01 TO 2026-12-02", "2026-12-01", "2026-12-02", 2),
        ("12月1日到12月3日", "2026-12-01", "2026-12-03", 3),
        ("12月1日至3日", "2026-12-01", "2026-12-03", 3),
        ("2026年12月1日至2026年12月10日", "2026-12-01", "2026-12-10", 10),
        ("2026.12.1-12.3", "2026-12-01", "2026-12-03", 3),
        ("12月30日至1月2日", "2026-12-30", "2027-01-02", 4),  # over new year
        ("2026-02-27 至 2026-03-02", "2026-02-27", "2026-03-02", 4),
        ("2028-02-28 至 2028-03-01", "2028-02-28", "2028-03-01", 3),  # leap year
        ("12月1日", "2026-12-01", "2026-12-01", 1),  # one day
    ],
)
def test_date_range(text: str, start: str, end: str, days: int) -> None:
    assert _parse(RANGE, text) == {"start": start, "end": end, "days": days}


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("next week", "not_a_range"),
        ("2026-12-01 and 2026-12-03", "not_a_range"),
        ("2026-12-05 至 2026-12-01", "end_before_start"),
        ("2026-02-30 至 2026-03-01", "no_such_date"),
    ],
)
def test_date_range_errors(text: str, code: str) -> None:
    assert _error(RANGE, text).code == code


def test_date_range_bounds_count_days() -> None:
    short = FormField("r", FieldType.DATE_RANGE, _label("r"), min=Decimal(2), max=Decimal(3))
    assert _error(short, "2026-12-01").code == "too_few_days"
    assert _error(short, "2026-12-01 至 2026-12-04").code == "too_many_days"
    assert _parse(short, "2026-12-01 至 2026-12-03") == {
        "start": "2026-12-01",
        "end": "2026-12-03",
        "days": 3,
    }


# --- choices ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("annual", "annual"),
        ("ANNUAL", "annual"),
        ("1", "annual"),
        ("１", "annual"),
        ("3", "sick"),
        ("年休假", "annual"),
        ("病假", "sick"),
        ("Annual leave", "annual"),
        ("  sick LEAVE ", "sick"),
        ("7", "compensatory"),
    ],
)
def test_choice(text: str, stored: str) -> None:
    assert _parse(LEAVE_TYPE, text) == stored


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("8", "unknown_option"),
        ("0", "unknown_option"),
        ("holiday", "unknown_option"),
        ("1,2", "one_option"),
        ("病假、事假", "one_option"),
        ("", "required"),
    ],
)
def test_choice_errors(text: str, code: str) -> None:
    assert _error(LEAVE_TYPE, text).code == code


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("2", ["sick"]),
        ("病假、年休假", ["annual", "sick"]),  # stored in option order
        ("3，1", ["annual", "personal"]),
        ("1 2 3", ["annual", "sick", "personal"]),
        ("Annual leave, sick leave", ["annual", "sick"]),
        ("1,1,年休假", ["annual"]),
        ("事假;1", ["annual", "personal"]),
    ],
)
def test_multiple_choice(text: str, stored: list[str]) -> None:
    assert _parse(MULTI, text) == stored


def test_multiple_choice_names_the_unknown_part() -> None:
    error = _error(MULTI, "1, 婚假")
    assert (error.code, error.facts) == ("unknown_option", {"text": "婚假"})


@pytest.mark.parametrize("text", ["秘密", "机密", "绝密", "secret", "Top secret", "3", "5"])
def test_classified_documents_are_refused(text: str) -> None:
    assert _error(CLASSIFICATION, text).code == "classified"


@pytest.mark.parametrize(
    ("text", "stored"), [("非密", "none"), ("内部", "internal"), ("1", "none")]
)
def test_unclassified_documents_are_accepted(text: str, stored: str) -> None:
    assert _parse(CLASSIFICATION, text) == stored


# --- departments, people, text ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("财务处", ["财务处"]),
        ("财务", ["财务处"]),  # a unique prefix
        ("财务处、办公室", ["财务处", "办公室"]),
        ("财务处，人事", ["财务处", "人事科"]),
        ("人事 财务", ["人事科", "财务处"]),
        ("办公室 办公室", ["办公室"]),
        ("legal affairs office", ["Legal Affairs Office"]),
        ("跳过", None),
        ("-", None),
    ],
)
def test_departments(text: str, stored: list[str] | None) -> None:
    assert _parse(CO_DEPARTMENTS, text) == stored


@pytest.mark.parametrize(
    ("text", "code", "facts"),
    [
        ("外交部", "unknown_department", {"text": "外交部"}),
        ("财务处、外交部", "unknown_department", {"text": "外交部"}),
        ("办", "ambiguous_department", {"text": "办", "matches": "办事处、办公室"}),
    ],
)
def test_department_errors(text: str, code: str, facts: dict[str, object]) -> None:
    error = _error(CO_DEPARTMENTS, text)
    assert (error.code, error.facts) == (code, facts)


def test_one_department_only_where_one_is_asked() -> None:
    assert _parse(HANDLING, "办公室") == ["办公室"]
    assert _error(HANDLING, "办公室、财务处").code == "one_department"
    assert _error(HANDLING, "跳过").code == "required"


def test_no_departments_known() -> None:
    with pytest.raises(FieldInputError) as info:
        parse_answer(HANDLING, "办公室", today=TODAY)
    assert info.value.code == "unknown_department"


@pytest.mark.parametrize(("text", "stored"), [(" E0001 ", "E0001"), ("Ｅ０００１", "E0001")])
def test_person(text: str, stored: str) -> None:
    assert _parse(PERSON, text) == stored


@pytest.mark.parametrize("text", ["E 0001", "E" * 41, "\u200b"])
def test_person_errors(text: str) -> None:
    assert _error(PERSON, text).code == "bad_employee_no"


def test_text() -> None:
    assert _parse(TITLE, "  关于做好值班工作的通知  ") == "关于做好值班工作的通知"
    assert _parse(TITLE, "全角，标点。") == "全角，标点。"  # text is kept as written
    assert _error(TITLE, "第一行\n第二行").code == "one_line"
    assert _parse(TITLE, "字" * TEXT_MAX) == "字" * TEXT_MAX
    error = _error(TITLE, "字" * (TEXT_MAX + 1))
    assert (error.code, error.facts) == ("too_long", {"max": TEXT_MAX, "length": TEXT_MAX + 1})


def test_longtext() -> None:
    assert _parse(NOTES, "第一行\r\n第二行\n") == "第一行\n第二行"
    assert _parse(NOTES, "字" * LONGTEXT_MAX) == "字" * LONGTEXT_MAX
    assert _error(NOTES, "字" * (LONGTEXT_MAX + 1)).code == "too_long"


def test_text_length_bounds() -> None:
    short = FormField("t", FieldType.TEXT, _label("t"), min=Decimal(2), max=Decimal(4))
    assert _error(short, "一").facts == {"min": 2}
    assert _parse(short, "一二三四") == "一二三四"
    assert _error(short, "一二三四五").facts == {"max": 4, "length": 5}


@pytest.mark.parametrize("word", ["跳过", "skip", "SKIP", "-", "－", "无", " 无 ", ""])
def test_optional_fields_take_a_skip_word(word: str) -> None:
    for field in (NOTES, CO_DEPARTMENTS, _field("outgoing", "cc_recipients")):
        assert _parse(field, word) is None
    assert _parse(_field("incoming", "deadline"), word) is None
    assert _parse(_field("reimbursement", "invoice"), word) is None


def test_required_fields_refuse_a_skip_word() -> None:
    for field in (TITLE, AMOUNT, DATE, RANGE, LEAVE_TYPE, PERSON, ATTACHMENT):
        assert _error(field, "跳过").code == "required"


def test_attachments_are_not_typed() -> None:
    assert _error(ATTACHMENT, "见附件").code == "attachment_expected"


FIELDS = [f for t in SHIPPED.values() for f in t.fields] + [MONEY, NUMBER, DATE, PERSON, MULTI]


@given(field=st.sampled_from(FIELDS), text=st.text(max_size=60))
def test_arbitrary_text_raises_only_field_input_error(field: FormField, text: str) -> None:
    try:
        _parse(field, text)
    except FieldInputError as error:
        _check_message(error)


@given(text=st.text(alphabet="0123456789０１２３４５.,，。¥￥元万-年月日号至到~ /", max_size=30))
def test_number_like_text_raises_only_field_input_error(text: str) -> None:
    for field in (AMOUNT, MONEY, DAYS, DATE, RANGE):
        try:
            _parse(field, text)
        except FieldInputError as error:
            _check_message(error)


# --- attachments -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file_name", "mime"),
    [
        ("草稿.docx", None),
        ("草稿.DOC", "application/octet-stream"),
        ("报表.xlsx", None),
        ("报表.xls", None),
        ("正文.pdf", "application/pdf"),
        ("正文.ofd", None),
        ("正文.wps", None),
        ("photo.JPG", None),
        ("photo.jpeg", None),
        ("scan.png", None),
        (None, "image/jpeg"),  # a photo: no name
        ("scan", "application/pdf"),
        ("scan.jfif", "image/jpeg; charset=binary"),
    ],
)
def test_allowed_attachments(file_name: str | None, mime: str | None) -> None:
    check_attachment(ATTACHMENT, file_name=file_name, mime=mime, size=1000, count_so_far=0)


@pytest.mark.parametrize(
    ("file_name", "mime"),
    [
        ("tool.exe", None),
        ("tool.exe", "application/pdf"),  # a program dressed up as a PDF
        ("正文.pdf.exe", "application/pdf"),
        ("macro.docm", None),
        ("archive.zip", "application/zip"),
        ("notes.txt", "text/plain"),
        (None, None),
        ("pdf", None),  # a name without an extension
    ],
)
def test_refused_attachment_types(file_name: str | None, mime: str | None) -> None:
    with pytest.raises(FieldInputError) as info:
        check_attachment(ATTACHMENT, file_name=file_name, mime=mime, size=1000, count_so_far=0)
    assert info.value.code == "file_type"
    _check_message(info.value)


def test_attachment_size_and_count_limits() -> None:
    check_attachment(ATTACHMENT, file_name="a.pdf", mime=None, size=MAX_FILE_BYTES, count_so_far=4)
    with pytest.raises(FieldInputError) as info:
        check_attachment(
            ATTACHMENT, file_name="a.pdf", mime=None, size=MAX_FILE_BYTES + 1, count_so_far=0
        )
    assert (info.value.code, info.value.facts) == (
        "file_too_big",
        {"size_mb": "20.0", "limit_mb": 20},
    )
    _check_message(info.value)
    with pytest.raises(FieldInputError) as info:
        check_attachment(ATTACHMENT, file_name="a.pdf", mime=None, size=1, count_so_far=5)
    assert (info.value.code, info.value.facts) == ("too_many_files", {"max": 5})
    _check_message(info.value)
    with pytest.raises(ValueError, match="not an attachment"):
        check_attachment(TITLE, file_name="a.pdf", mime=None, size=1, count_so_far=0)


# --- derived values, hashing, diff -----------------------------------------------------------


def test_derived_adds_the_direction() -> None:
    assert derived(OUTGOING, {"doc_kind": "request", "title": "关于……的请示"}) == {
        "doc_kind": "request",
        "title": "关于……的请示",
        "direction": "up",
    }
    assert derived(OUTGOING, {"doc_kind": "letter"})["direction"] == "across"
    assert derived(OUTGOING, {})["direction"] is None
    assert derived(LEAVE, {"days": "3"}) == {"days": "3"}  # no direction_field


def _file(unique_id: str, name: str, file_id: str) -> dict[str, object]:
    return {"file_id": file_id, "file_unique_id": unique_id, "name": name, "size": 10}


def test_content_hash() -> None:
    values = {
        "title": "关于值班的通知",
        "amount": "5000.00",
        "body": [_file("u1", "a.docx", "f1")],
    }
    digest = content_hash(values)
    assert len(digest) == 64 and int(digest, 16) >= 0
    # Key order, a file's name and its (per-bot) file_id do not change the content.
    same = {"body": [_file("u1", "renamed.docx", "f2")], "amount": "5000.00"}
    same["title"] = "关于值班的通知"
    assert content_hash(same) == digest
    assert content_hash({**values, "notes": None}) == digest  # a skipped field is no value
    assert content_hash({**values, "amount": "5000.01"}) != digest
    assert content_hash({**values, "body": [_file("u2", "a.docx", "f1")]}) != digest
    with_sha = {**values, "body": [{"sha256": "ab", "file_unique_id": "u1", "name": "x"}]}
    assert content_hash(with_sha) != digest
    assert content_hash(with_sha) == content_hash(
        {**values, "body": [{"sha256": "ab", "file_unique_id": "u1", "name": "y"}]}
    )


def test_content_hash_is_canonical_json() -> None:
    import hashlib
    import json

    values = {"b": ["财务处"], "a": {"start": "2026-12-01", "end": "2026-12-01", "days": 1}}
    text = json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert content_hash(values) == hashlib.sha256(text.encode()).hexdigest()


def test_diff() -> None:
    old = {
        "doc_kind": "notice",
        "title": "关于值班的通知",
        "body": [_file("u1", "a.docx", "f1")],
        "notes": None,
    }
    assert diff(OUTGOING, old, dict(old)) == []
    assert diff(OUTGOING, old, {**old, "body": [_file("u1", "b.docx", "f9")]}) == []
    assert diff(OUTGOING, old, {k: v for k, v in old.items() if k != "notes"}) == []
    new = {**old, "title": "关于值班的通知（修改）", "body": [_file("u2", "a.docx", "f1")]}
    new["urgency"] = "urgent"
    assert diff(OUTGOING, old, new) == ["title", "urgency", "body"]  # form order
