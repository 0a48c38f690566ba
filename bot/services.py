"""The service container the composition root builds and every handler reaches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.announcements.services import AnnouncementService
from bot.approvals.catalog import TemplateCatalog
from bot.approvals.numbering_service import DocNumberService
from bot.approvals.registers import RegisterService
from bot.approvals.services import ApprovalService
from bot.audit import AuditService
from bot.calendar.services import CalendarService
from bot.config import Settings
from bot.courses.publishing import CoursePublishing
from bot.courses.reminders import CourseReminders
from bot.courses.services import LESSON_KIND, MEDIA_KEY, CourseService
from bot.faq.answering import FaqService
from bot.faq.digest import DigestService
from bot.faq.editor import FaqEditorService
from bot.faq.glossary import GlossaryService
from bot.faq.library import KnowledgeLibrary
from bot.faq.live import LiveIndex, shared_embedder
from bot.inbox import InboxService
from bot.messaging.progress import BroadcastProgress
from bot.messaging.services import DeliveryService
from bot.people.admin import StaffAdminService
from bot.people.import_service import StaffImportService
from bot.people.services import PeopleService
from bot.quizzes.campaigns import CampaignError, QuizCampaigns
from bot.quizzes.definitions import load_shipped as load_quizzes
from bot.quizzes.results import QuizResultsService
from bot.quizzes.taking import QuizTaking
from bot.runtime import Runtime
from bot.scheduling import DueService
from bot.support.desk import DeskService
from bot.support.health import DeskSummaryService, OutageGuard
from bot.support.loop import FaqDraftService
from bot.support.moves import MoveService
from bot.support.oncall import OnCallService
from bot.support.routing import RoutingService
from bot.support.templates import TemplateService
from bot.support.timers import SlaService
from bot.surveys.authoring import SurveyAuthoring
from bot.surveys.chat import KINDS_PREFIX, SurveyChatService
from bot.surveys.groups import StaffGroups
from bot.surveys.publishing import Audience, SurveyPublishing
from bot.surveys.reminders import SurveyReminders
from bot.surveys.reporting import SurveyResultsService
from knowledge import Thresholds
from storage.uow import UnitOfWork


@dataclass(frozen=True)
class Services:
    """One instance of each service, sharing one runtime."""

    runtime: Runtime
    settings: Settings
    people: PeopleService
    staff_import: StaffImportService
    staff_admin: StaffAdminService
    inbox: InboxService
    delivery: DeliveryService
    audit: AuditService
    due: DueService
    calendar: CalendarService
    approvals: ApprovalService
    registers: RegisterService
    knowledge: KnowledgeLibrary
    faq: FaqService
    faq_digest: DigestService
    faq_editor: FaqEditorService
    faq_glossary: GlossaryService
    support_desk: DeskService
    support_templates: TemplateService
    support_sla: SlaService
    support_oncall: OnCallService
    support_routing: RoutingService
    support_moves: MoveService
    support_faq: FaqDraftService
    support_summary: DeskSummaryService
    outage_guard: OutageGuard
    surveys: SurveyChatService
    survey_publishing: SurveyPublishing
    staff_groups: StaffGroups
    quizzes: QuizTaking
    quiz_campaigns: QuizCampaigns
    quiz_results: QuizResultsService
    courses: CourseService
    course_publishing: CoursePublishing
    survey_authoring: SurveyAuthoring
    announcements: AnnouncementService
    survey_results: SurveyResultsService


def build_services(settings: Settings, rt: Runtime) -> Services:
    """Wire every service to the runtime."""
    importer = StaffImportService(rt)
    calendar = CalendarService(rt)
    due = DueService(rt)
    approvals = ApprovalService(
        rt,
        catalog=TemplateCatalog(rt),
        numbers=DocNumberService(rt),
        calendar=calendar,
        default_locale=settings.default_locale,
    )
    approvals.register_due(due)
    live = LiveIndex(
        rt, shared_embedder(settings.faq_embedder), cache_dir=settings.data_dir / "faq-index"
    )
    library = KnowledgeLibrary(rt)
    digest = DigestService(
        rt,
        library,
        live.embed,
        default_locale=settings.default_locale,
        calendar=calendar.calendar,
        tz=settings.tz,
        at=settings.faq_digest_time,
        days=settings.faq_digest_days,
    )
    digest.register_due(due)
    glossary = GlossaryService(rt)
    delivery = DeliveryService(rt, default_locale=settings.default_locale)
    sla = SlaService(
        rt,
        policy=settings.sla_policy,
        calendar=calendar.calendar,
        default_locale=settings.default_locale,
        escalate_after=timedelta(minutes=settings.support_escalate_minutes),
    )
    sla.register_due(due)
    desk = DeskService(
        rt,
        sla=sla,
        default_locale=settings.default_locale,
        desk_chat_id=settings.desk_chat_id,
        autoclose_after=timedelta(days=settings.support_autoclose_days),
    )
    desk.register_due(due)
    summary = DeskSummaryService(
        rt,
        top_unanswered=digest.top_unanswered,
        fallback=settings.desk_chat_id,
        tz=settings.tz,
        at=settings.desk_summary_time,
        default_locale=settings.default_locale,
    )
    summary.register_due(due)
    guard = OutageGuard(
        rt,
        after=timedelta(minutes=settings.outage_after_minutes),
        every=timedelta(seconds=settings.heartbeat_s),
    )
    guard.register_due(due)
    delivery.register_topic_card("ticket:", desk.topic_card)
    SurveyReminders(rt, tz=settings.tz, quiet=settings.quiet).register_due(due)
    quiz_campaigns = QuizCampaigns(
        rt,
        load_quizzes(),
        default_locale=settings.default_locale,
        tz=settings.tz,
        quiet=settings.quiet,
        remind_every=timedelta(days=settings.survey_remind_days),
    )
    quiz_campaigns.register_due(due)
    BroadcastProgress(rt).register_due(due)
    publishing = SurveyPublishing(
        rt,
        default_locale=settings.default_locale,
        remind_every=timedelta(days=settings.survey_remind_days),
        tz=settings.tz,
    )
    delivery.forget_when_sent(KINDS_PREFIX)  # what a person picked stays off the outbox
    CourseReminders(rt, tz=settings.tz, quiet=settings.quiet).register_due(due)
    courses = CourseService(
        rt,
        default_locale=settings.default_locale,
        quiz_check=lambda uow, staff_id, key: uow.quizzes.has_passed(staff_id, key),
    )

    async def open_course_quiz(
        uow: UnitOfWork, key: str, audience: Audience, author_id: int | None, now: datetime
    ) -> int:
        try:
            return await quiz_campaigns.open_for_course(
                uow, quiz_key=key, audience=audience, author_id=author_id, now=now
            )
        except CampaignError:
            raise LookupError(key) from None

    async def course_quiz_passed(uow: UnitOfWork, staff_id: int, key: str, now: datetime) -> None:
        await courses.quiz_passed(uow, staff_id=staff_id, quiz_key=key, now=now)

    delivery.register_file_keys(MEDIA_KEY, courses.remember_file)
    delivery.forget_when_sent(LESSON_KIND)  # a lesson's uploaded file stays off the outbox
    delivery.register_reachability(desk.reachability)
    announcements = AnnouncementService(
        rt,
        tz=settings.tz,
        quiet=settings.quiet,
        remind_every=timedelta(hours=settings.announce_remind_hours),
        default_locale=settings.default_locale,
    )
    announcements.register_due(due)
    announcements.register_delivery(delivery)
    return Services(
        runtime=rt,
        settings=settings,
        people=PeopleService(
            rt,
            invite_ttl=timedelta(hours=settings.invite_ttl_hours),
            default_locale=settings.default_locale,
        ),
        staff_import=importer,
        staff_admin=StaffAdminService(rt, importer, default_locale=settings.default_locale),
        inbox=InboxService(rt, lease=timedelta(seconds=settings.inbox_lease_s)),
        delivery=delivery,
        audit=AuditService(rt),
        due=due,
        calendar=calendar,
        approvals=approvals,
        registers=RegisterService(rt, approvals.catalog, default_locale=settings.default_locale),
        knowledge=library,
        faq=FaqService(
            rt,
            live,
            thresholds=Thresholds(lower=settings.faq_suggest, upper=settings.faq_answer),
            default_locale=settings.default_locale,
            desk_chat_id=settings.desk_chat_id,
        ),
        faq_digest=digest,
        faq_editor=FaqEditorService(rt, library, settings.default_locale, glossary=glossary),
        faq_glossary=glossary,
        support_desk=desk,
        support_templates=TemplateService(rt, default_locale=settings.default_locale),
        support_sla=sla,
        support_oncall=OnCallService(rt, default_locale=settings.default_locale, tz=settings.tz),
        support_routing=RoutingService(
            rt, default_locale=settings.default_locale, fallback=settings.desk_chat_id
        ),
        support_moves=MoveService(
            rt, default_locale=settings.default_locale, sla=sla, fallback=settings.desk_chat_id
        ),
        support_faq=FaqDraftService(rt, default_locale=settings.default_locale),
        support_summary=summary,
        outage_guard=guard,
        surveys=SurveyChatService(rt, tz=settings.tz, default_locale=settings.default_locale),
        survey_publishing=publishing,
        staff_groups=StaffGroups(rt),
        survey_authoring=SurveyAuthoring(
            rt, publishing, tz=settings.tz, default_locale=settings.default_locale
        ),
        courses=courses,
        course_publishing=CoursePublishing(
            rt, default_locale=settings.default_locale, tz=settings.tz, open_quiz=open_course_quiz
        ),
        announcements=announcements,
        survey_results=SurveyResultsService(rt, default_locale=settings.default_locale),
        quizzes=QuizTaking(
            rt,
            tz=settings.tz,
            default_locale=settings.default_locale,
            on_pass=course_quiz_passed,
        ),
        quiz_campaigns=quiz_campaigns,
        quiz_results=QuizResultsService(rt, default_locale=settings.default_locale),
    )
