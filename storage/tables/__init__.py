"""All tables, imported so that ``SQLModel.metadata`` knows them (alembic reads it)."""

from storage.tables.approvals import DocNumberCounter
from storage.tables.audit import AuditEntry, AuditHead
from storage.tables.calendar import WorkCalendarDay, WorkCalendarYear
from storage.tables.messaging import ChatStatus, OutboxMessage
from storage.tables.people import (
    Consent,
    Department,
    Invite,
    SignInAttempt,
    Staff,
    StaffRole,
)
from storage.tables.runtime import DueItem, FlowState, InboxUpdate

__all__ = [
    "AuditEntry",
    "AuditHead",
    "ChatStatus",
    "Consent",
    "Department",
    "DocNumberCounter",
    "DueItem",
    "FlowState",
    "InboxUpdate",
    "Invite",
    "OutboxMessage",
    "SignInAttempt",
    "Staff",
    "StaffRole",
    "WorkCalendarDay",
    "WorkCalendarYear",
]
