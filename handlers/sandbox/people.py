"""The sandbox's fictional city government: its staff and its support desk group."""

from __future__ import annotations

from dataclasses import dataclass

DEMO_TOKEN = "100000:DEMO-TOKEN"
DEMO_BOT = "govoffice_demo_bot"
HEADER = ("employee_no", "name", "department", "roles", "superior", "telegram_id", "language")


@dataclass(frozen=True)
class DemoPerson:
    """One member of staff; ``tg_id`` is the emulator account that plays them."""

    employee_no: str
    name: str
    department: str
    roles: tuple[str, ...]
    superior: str
    tg_id: int

    def row(self) -> dict[str, str]:
        """The staff-file row that imports this person (registered: the id is known)."""
        values = (
            self.employee_no,
            self.name,
            self.department,
            ";".join(self.roles),
            self.superior,
            str(self.tg_id),
            "",  # no stored language: the phone's app language decides, as for a new user
        )
        return dict(zip(HEADER, values, strict=True))


def _p(no: str, name: str, dept: str, roles: str, superior: str, tg: int) -> DemoPerson:
    return DemoPerson(no, name, dept, tuple(roles.split(";")), superior, tg)


DEMO_STAFF: tuple[DemoPerson, ...] = (
    _p("D001", "张建国", "局领导", "leader;principal;staff", "", 20001),
    _p("D002", "李秀英", "办公室", "office;dept_head;staff", "D001", 20002),
    _p("D003", "王磊", "办公室", "office;staff", "D002", 20003),
    _p("D004", "刘洋", "财务科", "finance;dept_head;staff", "D001", 20004),
    _p("D005", "陈静", "财务科", "finance;staff", "D004", 20005),
    _p("D006", "杨帆", "信息中心", "admin;dept_head;staff", "D001", 20006),
    _p("D007", "赵敏", "信息中心", "support;staff", "D006", 20007),
    _p("D008", "黄伟", "信息中心", "support;staff", "D006", 20008),
    _p("D009", "周婷", "信息中心", "trainer;staff", "D006", 20009),
    _p("D010", "吴强", "政务服务科", "dept_head;staff", "D001", 20010),
    _p("D011", "徐丽", "政务服务科", "staff", "D010", 20011),
    _p("D012", "孙浩", "政务服务科", "staff", "D010", 20012),
    _p("D013", "马超", "城市建设科", "dept_head;staff", "D001", 20013),
    _p("D014", "朱琳", "城市建设科", "staff", "D013", 20014),
    _p("D015", "胡军", "城市建设科", "staff", "D013", 20015),
    _p("D016", "郑伟", "局领导", "leader;staff", "D001", 20016),
)
BY_TG = {p.tg_id: p for p in DEMO_STAFF}

# The phones the page opens with: a member of staff, her department head, finance, a leader —
# the people a reimbursement passes through.
DEFAULT_PHONES = (20011, 20010, 20004, 20001)

# The support desk: a forum supergroup (one topic per ticket, #7) of the support staff and the
# information centre's head, who adds the bot as an administrator.
DESK_TITLE = "信息中心服务台"
DESK_CHAT_ID = -1_001_000_000_001
DESK_OWNER = 20006
DESK_MEMBERS = (20006, 20007, 20008)
