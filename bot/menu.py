"""The main menu: one entry per capability, shown only to roles that may use it."""

from __future__ import annotations

from bot.access import Actor, can

# (item key, the action that must be allowed). The order is the order on the phone.
MENU: tuple[tuple[str, str], ...] = (
    ("approvals", "menu.approvals"),
    ("knowledge", "menu.knowledge"),
    ("support", "menu.support"),
    ("surveys", "menu.surveys"),
    ("quizzes", "menu.quizzes"),
    ("courses", "menu.courses"),
    ("announce", "announce.send"),  # #8: office staff, trainers, administrators
    ("desk", "menu.desk"),
    ("trainer", "menu.trainer"),
    ("rollout", "menu.rollout"),
    ("admin", "menu.admin"),
    ("language", "menu.language"),
    ("help", "menu.help"),
)
MENU_KEYS = tuple(key for key, _ in MENU)
ACTION_OF = dict(MENU)

# Capabilities whose chat flows are not built yet: the item says so honestly (#4-#8).
NOT_YET_AVAILABLE = frozenset({"rollout"})


def items_for(actor: Actor) -> list[str]:
    """The menu keys this actor may open, in menu order."""
    return [key for key, action in MENU if can(actor, action)]
