"""All tables, imported so that ``SQLModel.metadata`` knows them (alembic reads it)."""

from storage.tables.announcements import Announcement, AnnouncementRecipient
from storage.tables.approvals import (
    ApprovalDraft,
    ApprovalInstance,
    ApprovalTask,
    ApprovalTemplateRow,
    CcReceipt,
    Delegation,
    DocNumberCounter,
)
from storage.tables.audit import AuditEntry, AuditHead
from storage.tables.calendar import WorkCalendarDay, WorkCalendarYear
from storage.tables.courses import Course, CourseAssignment, CourseMedia
from storage.tables.faq import FaqEntry, FaqEntryVersion, FaqGlossaryTerm, FaqQuestion, FaqVector
from storage.tables.faq_digest import FaqDigestGroup
from storage.tables.messaging import ChatStatus, LiveCard, OutboxMessage
from storage.tables.people import (
    Consent,
    Department,
    Invite,
    SignInAttempt,
    Staff,
    StaffGroup,
    StaffGroupMember,
    StaffRole,
)
from storage.tables.quizzes import QuizAttempt, QuizCampaign, QuizInvitation
from storage.tables.runtime import DueItem, FlowState, InboxUpdate
from storage.tables.support import SupportMessage, SupportTicket
from storage.tables.surveys import (
    Survey,
    SurveyDraft,
    SurveyInvitation,
    SurveyResponse,
    SurveyResponseOwner,
)

__all__ = [
    "Announcement",
    "AnnouncementRecipient",
    "ApprovalDraft",
    "ApprovalInstance",
    "ApprovalTask",
    "ApprovalTemplateRow",
    "AuditEntry",
    "AuditHead",
    "CcReceipt",
    "ChatStatus",
    "Consent",
    "Course",
    "CourseAssignment",
    "CourseMedia",
    "Delegation",
    "Department",
    "DocNumberCounter",
    "DueItem",
    "FaqDigestGroup",
    "FaqEntry",
    "FaqEntryVersion",
    "FaqGlossaryTerm",
    "FaqQuestion",
    "FaqVector",
    "FlowState",
    "InboxUpdate",
    "Invite",
    "LiveCard",
    "OutboxMessage",
    "QuizAttempt",
    "QuizCampaign",
    "QuizInvitation",
    "SignInAttempt",
    "Staff",
    "StaffGroup",
    "StaffGroupMember",
    "StaffRole",
    "SupportMessage",
    "SupportTicket",
    "Survey",
    "SurveyDraft",
    "SurveyInvitation",
    "SurveyResponse",
    "SurveyResponseOwner",
    "WorkCalendarDay",
    "WorkCalendarYear",
]
