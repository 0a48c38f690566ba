"""The permission matrix: which roles may do what, and department scoping."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.access import POLICY, Actor, allowed_actions, can, require, require_action
from bot.errors import PermissionDeniedError
from bot.menu import MENU, items_for
from bot.people.domain import Role


def actor(*roles: str, department_id: int = 1) -> Actor:
    return Actor(
        staff_id=1,
        telegram_id=100,
        name="测试",
        department_id=department_id,
        roles=frozenset(roles),
        locale="zh_CN",
    )


@dataclass(frozen=True)
class Thing:
    department_id: int


@pytest.mark.parametrize(
    ("roles", "action", "allowed"),
    [
        (("staff",), "menu.approvals", True),
        (("staff",), "menu.admin", False),
        (("staff",), "staff.import", False),
        (("admin",), "staff.import", True),
        (("admin",), "staff.invite", True),
        (("support",), "menu.desk", True),
        (("trainer",), "menu.desk", False),
        (("trainer",), "menu.trainer", True),
        (("leader",), "menu.rollout", True),
        (("finance",), "menu.rollout", False),
        (("dept_head",), "staff.disable", False),
        (("staff",), "quiz.take", True),
        (("staff",), "quiz.publish", False),
        (("security",), "quiz.publish", True),
        (("trainer",), "quiz.publish", True),
        (("trainer",), "quiz.results", False),
        (("security",), "quiz.results", True),
        (("leader",), "quiz.results", True),
        (("dept_head",), "quiz.results", False),
        ((), "menu.approvals", False),  # no role, no access
        (("wizard",), "menu.help", False),  # an unknown role grants nothing
        (("admin",), "no.such.action", False),  # undeclared actions are nobody's
    ],
)
def test_matrix(roles: tuple[str, ...], action: str, allowed: bool) -> None:
    assert can(actor(*roles), action) is allowed
    if allowed:
        require_action(actor(*roles), action)
    else:
        with pytest.raises(PermissionDeniedError):
            require_action(actor(*roles), action)


def test_department_scoped_actions_stay_in_the_department() -> None:
    head = actor("dept_head", department_id=7)
    assert require(head, "staff.view_department", Thing(7)) == Thing(7)
    with pytest.raises(PermissionDeniedError):
        require(head, "staff.view_department", Thing(8))
    with pytest.raises(PermissionDeniedError):  # missing and foreign look the same
        require(head, "staff.view_department", None)
    assert can(actor("admin", department_id=1), "staff.view_department", Thing(8))


def test_every_menu_item_has_a_policy_and_staff_see_no_admin_items() -> None:
    assert all(action in POLICY for _, action in MENU)
    assert "admin" not in items_for(actor("staff"))
    assert "admin" in items_for(actor("admin"))
    assert set(items_for(actor(*Role))) == {key for key, _ in MENU}
    assert allowed_actions(actor("staff"), ["menu.admin", "menu.help"]) == ["menu.help"]
