"""Planning a route: which nodes a request passes, and who approves at each (审批人 resolution).

The plan is computed once at submit (and again at resubmit) and stored with the request, so
the preview the submitter confirmed is exactly the route that runs (reference §4 item 4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.approvals.conditions import evaluate
from bot.approvals.engine import NodeState, Slot
from bot.approvals.model import (
    ApproverSource,
    ApproverSpec,
    EmptyPolicy,
    Node,
    NodeAction,
    Template,
)
from bot.people.domain import Role
from storage.tables.people import Staff
from storage.uow import UnitOfWork


class EmptyRouteError(Exception):
    """A node with the ``reject`` empty policy found nobody: the request cannot be sent."""

    def __init__(self, node_key: str) -> None:
        super().__init__(node_key)
        self.node_key = node_key


@dataclass(frozen=True)
class Planned:
    """The route for one request: engine nodes plus what the preview and cards show."""

    nodes: list[NodeState]
    names: dict[str, dict[str, str]]  # node key -> {"zh_CN": ..., "en": ...}
    rules: dict[str, dict[str, str]]  # node key -> the matched rule, for "why me"


async def plan(
    uow: UnitOfWork, template: Template, values: Mapping[str, object], submitter: Staff
) -> Planned:
    """The nodes whose conditions hold, each with its approvers resolved now."""
    nodes: list[NodeState] = []
    names: dict[str, dict[str, str]] = {}
    rules: dict[str, dict[str, str]] = {}
    admins: list[int] | None = None
    for node in template.route:
        if not all(evaluate(c, values, template) for c in node.when):
            continue
        people = await _resolve(uow, node, values, submitter)
        people = await _require_roles(uow, node, template, values, people)
        empty: str | None = None
        self_only = bool(people) and set(people) == {submitter.id}
        if not node.allow_self and node.action in (NodeAction.APPROVE, NodeAction.SIGN):
            # Nobody approves their own request; on a 签发 node that is never allowed at all.
            # Numbering, handling and filing are work, which the submitter may well do.
            people = [p for p in people if p != submitter.id]
        if not people:
            if self_only and node.action != NodeAction.SIGN:
                empty = "self"
            elif node.if_empty == EmptyPolicy.AUTO_PASS:
                empty = "auto_pass"
            elif node.if_empty == EmptyPolicy.REJECT:
                raise EmptyRouteError(node.key)
            elif node.if_empty == EmptyPolicy.PERSON and node.empty_person:
                named = await uow.people.by_employee_no(node.empty_person)
                if named is not None and named.id is not None and named.active:
                    people, empty = [named.id], "person"
            if not people and empty is None:
                if admins is None:
                    admins = [s.id for s in await uow.people.staff_with_role(Role.ADMIN) if s.id]
                people, empty = [a for a in admins if a != submitter.id] or admins, "admin"
        nodes.append(
            NodeState(
                key=node.key,
                kind=node.kind,
                action=node.action,
                slots=[Slot(approver=p) for p in people],
                quorum=node.quorum,
                rule=(_rule(node) or {}).get("zh_CN"),
                empty=empty,
                # Only approvals de-duplicate: numbering, handling and filing are work to do,
                # and a 签发 is a signature act that is never implied by an earlier approval.
                dedupe=node.dedupe and node.action == NodeAction.APPROVE,
                allow_self=node.allow_self,
            )
        )
        names[node.key] = {"zh_CN": node.name.zh_CN, "en": node.name.en}
        rule = _rule(node)
        if rule is not None:
            rules[node.key] = rule
    return Planned(nodes, names, rules)


def _rule(node: Node) -> dict[str, str] | None:
    if node.rule is not None:
        return {"zh_CN": node.rule.zh_CN, "en": node.rule.en}
    if node.when:
        return {
            "zh_CN": " 且 ".join(c.source for c in node.when),
            "en": " and ".join(c.source for c in node.when),
        }
    return None


async def _resolve(
    uow: UnitOfWork, node: Node, values: Mapping[str, object], submitter: Staff
) -> list[int]:
    return await resolve_people(uow, node.approvers, values, submitter)


async def resolve_people(
    uow: UnitOfWork,
    specs: Sequence[ApproverSpec],
    values: Mapping[str, object],
    submitter: Staff,
) -> list[int]:
    """Everyone the specs name for this submitter and form, once each, in order."""
    people: list[int] = []
    for spec in specs:
        for staff_id in await _resolve_one(uow, spec, values, submitter):
            if staff_id not in people:
                people.append(staff_id)
    return people


async def _resolve_one(
    uow: UnitOfWork, spec: ApproverSpec, values: Mapping[str, object], submitter: Staff
) -> list[int]:
    if spec.source == ApproverSource.SUPERIOR:
        if submitter.superior_id is None:
            return []
        boss = await uow.people.get(submitter.superior_id)
        return [boss.id] if boss is not None and boss.id is not None and boss.active else []
    if spec.source == ApproverSource.DEPT_HEAD:
        if spec.department:
            dept = (await uow.people.departments_by_name()).get(spec.department)
            return await _heads(uow, [dept.id] if dept and dept.id else [])
        return await _heads(uow, [submitter.department_id])
    if spec.source == ApproverSource.DEPT_HEADS_OF_FIELD:
        chosen = values.get(spec.field or "")
        names = chosen if isinstance(chosen, list) else [chosen] if chosen else []
        by_name = await uow.people.departments_by_name()
        ids = [by_name[n].id for n in names if isinstance(n, str) and n in by_name]
        return await _heads(uow, [i for i in ids if i is not None])
    if spec.source == ApproverSource.ROLE and spec.role:
        return [s.id for s in await uow.people.staff_with_role(spec.role) if s.id is not None]
    if spec.source in (ApproverSource.PERSON, ApproverSource.CHOSEN):
        number = (
            spec.employee_no
            if spec.source == ApproverSource.PERSON
            else values.get(spec.field or "")
        )
        if not isinstance(number, str) or not number:
            return []
        person = await uow.people.by_employee_no(number)
        ok = person is not None and person.id is not None and person.active
        return [person.id] if ok and person is not None and person.id is not None else []
    return []


async def _heads(uow: UnitOfWork, department_ids: Sequence[int]) -> list[int]:
    """The department heads of these departments, in department order."""
    heads = await uow.people.staff_with_role(Role.DEPT_HEAD)
    out: list[int] = []
    for dept in department_ids:
        out.extend(h.id for h in heads if h.department_id == dept and h.id is not None)
    return out


async def _require_roles(
    uow: UnitOfWork,
    node: Node,
    template: Template,
    values: Mapping[str, object],
    people: list[int],
) -> list[int]:
    """Keep only approvers holding the roles this request needs here (上行文 → 主要负责人)."""
    needed = [role for cond, role in node.require_role_when if evaluate(cond, values, template)]
    if not needed or not people:
        return people
    roles = await uow.people.roles_by_staff(people)
    return [p for p in people if all(r in roles.get(p, set()) for r in needed)]
