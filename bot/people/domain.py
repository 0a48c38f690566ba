"""Staff directory rules: roles, and checking the rows of an imported staff file."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.text import N_, clean


class Role(StrEnum):
    """What a member of staff may do; one person may hold several."""

    STAFF = "staff"
    DEPT_HEAD = "dept_head"
    FINANCE = "finance"
    LEADER = "leader"
    PRINCIPAL = "principal"  # 主要负责人: signs 上行文 and important documents (条例 第二十二条)
    OFFICE = "office"
    TRAINER = "trainer"
    SUPPORT = "support"
    SECURITY = "security"  # 保密员/安全员: security awareness tests and their results (#8)
    ADMIN = "admin"


ALL_ROLES: frozenset[str] = frozenset(r.value for r in Role)
# How a role is named to people (translate with the reader's translator).
ROLE_LABELS: dict[str, str] = {
    Role.STAFF: N_("Staff"),
    Role.DEPT_HEAD: N_("Department head"),
    Role.FINANCE: N_("Finance"),
    Role.LEADER: N_("Leader"),
    Role.PRINCIPAL: N_("Principal leader"),
    Role.OFFICE: N_("Office clerk"),
    Role.TRAINER: N_("Trainer"),
    Role.SUPPORT: N_("Support desk"),
    Role.SECURITY: N_("Security officer"),
    Role.ADMIN: N_("Administrator"),
}
DEFAULT_ROLES: frozenset[str] = frozenset({Role.STAFF.value})

# The columns of a staff file, in the order errors are reported within a line.
COLUMNS: tuple[str, ...] = (
    "employee_no",
    "name",
    "department",
    "roles",
    "superior",
    "telegram_id",
    "language",
)
REQUIRED_COLUMNS: tuple[str, ...] = ("employee_no", "name", "department")

MAX_EMPLOYEE_NO = 40  # storage/tables/people.py: Staff.employee_no
MAX_NAME = 100  # Staff.name
MAX_DEPARTMENT = 100  # Department.name
MAX_TELEGRAM_ID = 2**53  # Telegram promises ids fit in 52 bits; a float-mangled id does not
SHOWN_VALUE = 60  # a pasted paragraph in a cell should not flood the error report

# "、" is how Chinese writes a list; NFKC already folds "；" and "，" into ";" and ",".
_ROLE_SEPARATORS = re.compile(r"[;,、]")
_DIGITS = re.compile(r"[0-9]+")  # not \d: int() takes other scripts' digits too

_LANGUAGES: dict[str, str] = {
    "zh": "zh_CN",
    "zh_cn": "zh_CN",
    "zh-cn": "zh_CN",
    "zh-hans": "zh_CN",
    "chinese": "zh_CN",
    "中文": "zh_CN",
    "简体中文": "zh_CN",
    "en": "en",
    "english": "en",
    "英文": "en",
    "英语": "en",
}

ERROR_MESSAGES: dict[str, str] = {
    "required": N_("Line {line}: {column} is required."),
    "too_long": N_("Line {line}: {column} is too long: {value}"),
    "bad_employee_no": N_("Line {line}: employee number “{value}” must not contain spaces."),
    "unknown_role": N_(
        "Line {line}: unknown role “{value}” (use staff, dept_head, finance, leader, principal, "
        "office, trainer, support, security or admin)."
    ),
    "bad_telegram_id": N_("Line {line}: Telegram ID “{value}” is not a valid Telegram ID."),
    "bad_language": N_("Line {line}: language “{value}” is not supported (use zh_CN or en)."),
    "duplicate_employee_no": N_(
        "Line {line}: employee number {value} already appears on an earlier line."
    ),
    "duplicate_telegram_id": N_(
        "Line {line}: Telegram ID {value} already appears on an earlier line."
    ),
    "unknown_superior": N_(
        "Line {line}: superior {value} is neither in the file nor in the staff directory."
    ),
    "superior_has_errors": N_(
        "Line {line}: superior {value} is on a line with errors, so this line is skipped too."
    ),
    "self_superior": N_("Line {line}: a person cannot be their own superior."),
    "superior_cycle": N_("Line {line}: superiors would form a loop through {value}."),
    "telegram_id_taken": N_(
        "Line {line}: Telegram ID {value} is already bound to another member of staff."
    ),
    "telegram_id_changes": N_(
        "Line {line}: this person is already bound to another Telegram ID, not {value}; "
        "unbind the old account first."
    ),
}


@dataclass(frozen=True)
class StaffRow:
    """One valid line of a staff file, normalised."""

    line: int
    employee_no: str
    name: str
    department: str
    roles: frozenset[str]
    superior: str | None
    telegram_id: int | None
    language: str | None


@dataclass(frozen=True)
class RowError:
    """One problem on one line; ``code`` is a key of ERROR_MESSAGES."""

    line: int
    column: str
    code: str
    value: str


def parse_language(value: str) -> str | None:
    """Our locale for what people write in a language column, or None if unknown."""
    return _LANGUAGES.get(value.casefold())


def parse_roles(value: str) -> tuple[frozenset[str], list[str]]:
    """The roles in a roles cell and the names among them that are not roles."""
    names = {part.strip().lower() for part in _ROLE_SEPARATORS.split(value)} - {""}
    unknown = sorted(names - ALL_ROLES)
    return (frozenset(names & ALL_ROLES) or DEFAULT_ROLES), unknown


def _shown(value: str) -> str:
    return value if len(value) <= SHOWN_VALUE else value[: SHOWN_VALUE - 1] + "…"


def _check_row(line: int, raw: Mapping[str, str]) -> tuple[StaffRow, list[RowError]]:
    """The checks one line can fail on its own."""
    values = {column: clean(raw.get(column) or "") for column in COLUMNS}
    # Names and departments are matched by text, so "财务处  " and "财务处" must be equal.
    for column in ("name", "department"):
        values[column] = " ".join(values[column].split())
    errors: list[RowError] = []

    def fail(column: str, code: str) -> None:
        errors.append(RowError(line, column, code, _shown(values[column])))

    for column in REQUIRED_COLUMNS:
        if not values[column]:
            fail(column, "required")
    for column, limit in (
        ("employee_no", MAX_EMPLOYEE_NO),
        ("name", MAX_NAME),
        ("department", MAX_DEPARTMENT),
    ):
        if len(values[column]) > limit:
            fail(column, "too_long")
    employee_no = values["employee_no"]
    if any(ch.isspace() for ch in employee_no):
        fail("employee_no", "bad_employee_no")

    roles, unknown = parse_roles(values["roles"])
    errors.extend(RowError(line, "roles", "unknown_role", _shown(name)) for name in unknown)

    superior = values["superior"] or None
    if superior is not None and superior == employee_no:
        fail("superior", "self_superior")

    telegram_id: int | None = None
    text = values["telegram_id"]
    if text:
        # The length cap also keeps int() under Python's 4300-digit limit on hostile cells.
        number = int(text) if len(text) <= 16 and _DIGITS.fullmatch(text) else 0
        if 0 < number <= MAX_TELEGRAM_ID:
            telegram_id = number
        else:
            fail("telegram_id", "bad_telegram_id")

    language: str | None = None
    if values["language"]:
        language = parse_language(values["language"])
        if language is None:
            fail("language", "bad_language")

    row = StaffRow(
        line=line,
        employee_no=employee_no,
        name=values["name"],
        department=values["department"],
        roles=roles,
        superior=superior,
        telegram_id=telegram_id,
        language=language,
    )
    return row, errors


def _loops(edges: Mapping[str, str]) -> set[str]:
    """Every node that lies on a loop of ``node -> edges[node]`` (each node has one edge)."""
    on_loop: set[str] = set()
    finished: set[str] = set()
    for start in edges:
        path: dict[str, int] = {}
        node: str | None = start
        while node is not None and node not in finished and node not in path:
            path[node] = len(path)
            node = edges.get(node)
        if node is not None and node in path:
            on_loop.update(list(path)[path[node] :])
        finished.update(path)
    return on_loop


def validate_rows(
    raw: Sequence[tuple[int, Mapping[str, str]]],
    *,
    known_employee_nos: Collection[str] = (),
    known_superiors: Mapping[str, str] | None = None,
    known_telegram_ids: Mapping[int, str] | None = None,
) -> tuple[list[StaffRow], list[RowError]]:
    """Check a staff file's lines: the valid rows in file order, and every error by line.

    ``known_*`` describe the directory as stored: its employee numbers, each person's
    superior (employee number to employee number) and each bound Telegram ID's owner.
    A row failing any check is left out; a row whose superior is left out is left out too.
    """
    known_superiors = known_superiors or {}
    known_telegram_ids = known_telegram_ids or {}
    known = set(known_employee_nos) | set(known_superiors)
    bound_to = {no: tg for tg, no in known_telegram_ids.items()}

    checked: list[StaffRow] = []
    failed: dict[int, list[RowError]] = {}
    first_line_of: dict[str, int] = {}
    first_line_of_tg: dict[int, int] = {}
    for line, values in raw:
        row, errors = _check_row(line, values)
        no, tg = row.employee_no, row.telegram_id
        # The later line is the one in error: the earlier one is what the user meant first.
        if no and not any(e.column == "employee_no" for e in errors):
            if no in first_line_of:
                errors.append(RowError(line, "employee_no", "duplicate_employee_no", no))
            else:
                first_line_of[no] = line
        if tg is not None:
            if tg in first_line_of_tg:
                errors.append(RowError(line, "telegram_id", "duplicate_telegram_id", str(tg)))
            else:
                first_line_of_tg[tg] = line
            owner = known_telegram_ids.get(tg)
            if owner is not None and owner != no:
                errors.append(RowError(line, "telegram_id", "telegram_id_taken", str(tg)))
            elif bound_to.get(no, tg) != tg:  # never silently move an existing binding
                errors.append(RowError(line, "telegram_id", "telegram_id_changes", str(tg)))
        checked.append(row)
        if errors:
            failed[line] = errors

    # Leaving a row out can strand its subordinates, or re-expose a stored superior that
    # closes a loop, so the cross-row checks repeat until nothing more is left out.
    while True:
        valid = {r.employee_no: r for r in checked if r.line not in failed}
        newly_failed: dict[int, RowError] = {}
        for row in valid.values():
            sup = row.superior
            if sup is None or sup in valid or sup in known:
                continue
            code = "superior_has_errors" if sup in first_line_of else "unknown_superior"
            newly_failed[row.line] = RowError(row.line, "superior", code, sup)
        # The org chart after this import: a row's superior replaces the stored one.
        edges = {no: sup for no, sup in known_superiors.items() if no not in valid}
        edges.update({no: r.superior for no, r in valid.items() if r.superior is not None})
        for no in _loops(edges):
            row_on_loop = valid.get(no)
            if row_on_loop is not None and row_on_loop.line not in newly_failed:
                newly_failed[row_on_loop.line] = RowError(
                    row_on_loop.line, "superior", "superior_cycle", edges[no]
                )
        if not newly_failed:
            break
        for line, error in newly_failed.items():
            failed[line] = [error]

    order = {column: i for i, column in enumerate(COLUMNS)}
    all_errors = sorted(
        (e for errors in failed.values() for e in errors),
        key=lambda e: (e.line, order.get(e.column, len(order))),
    )
    return [r for r in checked if r.line not in failed], all_errors
