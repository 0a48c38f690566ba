"""Put the demo city into a fresh sandbox: accounts, the staff directory and demo content.

Demo content is made the way a person would make it: scripted phones talk to the real bot
(``/apply``, answer, tap), so what the evaluator finds in their ``/todo`` went through every
check a real request does. Each capability adds its scenes here as it lands.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path

from bot.emulator import BotApiEmulator, Phone
from bot.emulator.state import SentMessage
from bot.faq.library import ImportRejectedError
from bot.services import Services
from bot.surveys.definitions import shipped_dir
from bot.surveys.publishing import parse_audience

from .people import DEMO_STAFF, DESK_CHAT_ID, DESK_MEMBERS, DESK_OWNER, DESK_TITLE

logger = logging.getLogger(__name__)

STEP_TIMEOUT_S = 15.0


class SeedError(RuntimeError):
    """The demo directory was refused, or a scripted conversation did not go as written."""


def ensure_accounts(emu: BotApiEmulator) -> None:
    """Every demo person has a Telegram account; the desk group exists with the bot in it."""
    for person in DEMO_STAFF:
        if not emu.has_user(person.tg_id):
            emu.user(first_name=person.name, user_id=person.tg_id, language_code="zh-hans")


async def ensure_desk(emu: BotApiEmulator) -> None:
    """The support desk forum, with the information centre's head adding the bot as admin."""
    if DESK_CHAT_ID in emu.state.chats:
        return
    members = [emu.phone(tg) for tg in DESK_MEMBERS]
    group = emu.group(title=DESK_TITLE, members=members, forum=True, chat_id=DESK_CHAT_ID)
    group.add_member(emu.phone(DESK_OWNER), admin=True)
    await emu.add_bot_to_group(group, emu.phone(DESK_OWNER), admin=True)


KNOWLEDGE_FILE = Path(__file__).with_name("faq_kb.yaml")


async def import_knowledge(services: Services) -> None:
    """Publish the demo knowledge base (the labelled dev set's entries), as an import would."""
    try:
        await services.knowledge.apply_import(
            KNOWLEDGE_FILE.read_bytes(), KNOWLEDGE_FILE.name, tg_id=None, publish=True
        )
    except ImportRejectedError as exc:
        raise SeedError(f"demo knowledge base rejected: {exc.checked.problems[:3]}") from exc


async def import_directory(services: Services) -> None:
    """Import the demo staff (registered: their Telegram ids are in the file)."""
    rows = [(i + 2, person.row()) for i, person in enumerate(DEMO_STAFF)]
    report = await services.staff_import.import_staff(rows, actor_id=None, partial=False)
    if report.errors:
        raise SeedError(f"demo directory rejected: {report.errors[:3]}")


@dataclass(frozen=True)
class Step:
    """One thing a scripted person does: ``command``, ``send`` text or ``press`` a button in
    their chat; in the desk group, ``desk_press`` (``label|words``: the button on the ticket
    card showing those words) or ``desk_send`` (``words|text``: into that ticket's topic)."""

    who: int
    action: str
    value: str


class Script:
    """Plays steps on phones, each waiting for the bot to have asked for it."""

    def __init__(self, emu: BotApiEmulator) -> None:
        self._emu = emu
        self._watermark: dict[int, int] = {}  # per person: the last message they acted on

    def _phone(self, who: int) -> Phone:
        return self._emu.phone(who)

    async def _press(self, step: Step) -> None:
        phone = self._phone(step.who)
        after = self._watermark.get(step.who, 0)

        def has_button(message_id: int, buttons: list[list[str]]) -> bool:
            return message_id > after and any(step.value in row for row in buttons)

        try:
            message = await phone.wait_message(
                after=after,
                where=lambda m: has_button(m.message_id, m.buttons),
                timeout=STEP_TIMEOUT_S,
            )
        except TimeoutError as exc:
            raise SeedError(f"{step}: the bot never offered that button") from exc
        await phone.press(step.value, message=message)
        self._watermark[step.who] = message.message_id

    def _mark(self, who: int) -> None:
        messages = self._phone(who).messages(include_user=True)
        self._watermark[who] = max((m.message_id for m in messages), default=0)

    async def _say(self, step: Step) -> None:
        phone = self._phone(step.who)
        try:  # the bot has spoken since this person last acted: it is waiting for them
            await phone.wait_message(
                after=self._watermark.get(step.who, 0), timeout=STEP_TIMEOUT_S
            )
        except TimeoutError as exc:
            raise SeedError(f"{step}: the bot did not ask") from exc
        await phone.send(step.value)
        self._mark(step.who)

    async def _card(self, step: Step, words: str, label: str) -> SentMessage:
        """The desk card of the ticket showing ``words``, once it has the ``label`` button."""
        group = self._emu.group_by_id(DESK_CHAT_ID)
        try:
            return await group.wait_message(
                containing=words,
                where=lambda m: any(label in row for row in m.buttons),
                timeout=STEP_TIMEOUT_S,
            )
        except TimeoutError as exc:
            raise SeedError(f"{step}: no ticket card with that button") from exc

    async def _desk(self, step: Step) -> None:
        group = self._emu.group_by_id(DESK_CHAT_ID)
        if step.action == "desk_press":
            label, _, words = step.value.partition("|")
            card = await self._card(step, words, label)
            await group.press(self._phone(step.who), label, card)
            try:  # the card changes when the press is done
                await group.wait_edit(card, timeout=STEP_TIMEOUT_S)
            except TimeoutError as exc:
                raise SeedError(f"{step}: the card did not change") from exc
        else:
            words, _, text = step.value.partition("|")
            card = await self._card(step, words, "✅ 标记解决")
            await group.send(self._phone(step.who), text, card.message_thread_id)

    async def play(self, steps: Sequence[Step]) -> None:
        """Run the steps in order; SeedError names the step that did not work."""
        for step in steps:
            if step.action in ("desk_press", "desk_send"):
                await self._desk(step)
            elif step.action == "press":
                await self._press(step)
            elif step.action == "command":  # a command can always be typed
                await self._phone(step.who).command(step.value)
                self._mark(step.who)
            else:
                await self._say(step)


def _next_monday(today: date) -> date:
    return today + timedelta(days=7 - today.weekday())


def approval_scenes(today: date) -> list[Step]:
    """Requests in flight, so that approvers have something in /todo from the first minute.

    孙浩 asks for three days of annual leave (waits on his head 吴强); 朱琳's 6800元 trip is
    approved by her head 马超 and waits on finance (刘洋, 陈静).
    """
    start = _next_monday(today)
    end = start + timedelta(days=2)
    leave = [
        Step(20012, "command", "/apply"),
        Step(20012, "press", "请假"),
        Step(20012, "press", "年休假"),
        Step(20012, "send", f"{start.isoformat()} 至 {end.isoformat()}"),
        Step(20012, "send", "3"),
        Step(20012, "send", "陪家人外出就医，工作已交接给徐丽。"),
        Step(20012, "press", "✅ 提交"),
    ]
    trip = [
        Step(20014, "command", "/apply"),
        Step(20014, "press", "费用报销"),
        Step(20014, "send", "6800"),
        Step(20014, "send", "赴省住建厅参加城市更新培训差旅费"),
        Step(20014, "press", "跳过"),
        Step(20014, "press", "跳过"),
        Step(20014, "press", "✅ 提交"),
        Step(20013, "press", "✅ 同意"),
    ]
    return leave + trip


def faq_scenes() -> list[Step]:
    """Questions staff asked the knowledge base: one it answers, and three ways of asking
    about video meetings, which it cannot answer yet (the trainers' digest groups them)."""
    return [
        Step(20012, "command", "/ask 忘记OA密码了怎么办"),
        Step(20014, "command", "/ask 视频会议怎么开"),
        Step(20015, "command", "/ask 怎么用视频会议系统开会"),
        Step(20011, "command", "/ask 视频会议的账号在哪里申请"),
    ]


def support_scenes() -> list[Step]:
    """Tickets in the desk group, each in its own topic with its card and SLA due times, in
    different states: 胡军's U-Key is new; 孙浩's projector is claimed by 赵敏 and answered;
    朱琳's reimbursement form waits for her reply (黄伟 asked a question). (A few: the desk
    group takes 20 messages a minute, and every topic, card and change is one.)"""
    return [
        Step(20012, "command", "/support"),
        Step(20012, "press", "设备与网络"),
        Step(20012, "send", "三楼会议室的投影仪连不上笔记本，下午两点要开会"),
        Step(20015, "command", "/support"),
        Step(20015, "press", "账号与登录"),
        Step(20015, "send", "U盾插上没有反应，登录不了公文系统"),
        Step(20014, "command", "/support"),
        Step(20014, "press", "报销"),
        Step(20014, "send", "差旅报销单打印出来是乱码"),
        Step(20007, "desk_press", "🙋 认领|投影仪"),
        Step(20007, "desk_send", "投影仪|已安排同事一点半前到三楼会议室调试，请稍候。"),
        Step(20008, "desk_send", "乱码|请问用的是哪个浏览器？方便的话截一张图发过来。"),
        Step(20008, "desk_press", "⏳ 等待答复|乱码"),
    ]


async def on_call_roster(services: Services, today: date) -> None:
    """Two agents on call (赵敏 by day, 黄伟 by night) and 杨帆, the desk's head, behind them,
    for the sandbox's first two weeks; an import, as the desk lead would send it."""
    rows = ["级别,人员,开始,结束"]
    for offset in range(14):
        day = (today + timedelta(days=offset)).isoformat()
        rows.append(f"1,D007,{day} 08:00,20:00")
        rows.append(f"1,D008,{day} 20:00,08:00")
    rows.append(
        f"2,D006,{today.isoformat()} 00:00,{(today + timedelta(days=14)).isoformat()} 00:00"
    )
    result = await services.support_oncall.import_file(
        "\n".join(rows).encode(), "值班表.csv", tg_id=None
    )
    if result.problems:
        raise SeedError(f"demo roster rejected: {result.problems[:3]}")


TRAINER = 20009  # 周婷, the information centre's trainer, who runs the pilot's surveys


async def demo_surveys(services: Services, today: date, tz: tzinfo) -> None:
    """The pilot-feedback survey, open to everyone for two weeks, published by 周婷 in her chat
    (she gets the progress card; everyone an invitation)."""
    text = (shipped_dir() / "pilot_feedback.yaml").read_text(encoding="utf-8")
    closes = datetime.combine(today + timedelta(days=14), time(23, 59), tzinfo=tz)
    await services.survey_publishing.publish(
        text=text,
        source="pilot_feedback.yaml",
        audience=parse_audience("all"),
        closes_at=closes,
        tg_id=TRAINER,
        reply_to=TRAINER,
    )


async def demo_announcement(services: Services, today: date, tz: tzinfo) -> None:
    """An office notice to everyone that asks each person to tap ✅ 已阅 within a week."""
    by = datetime.combine(today + timedelta(days=7), time(17, 0), tzinfo=tz)
    await services.announcements.announce(
        title="关于全面启用政务办公系统的通知",
        body_html=(
            "各科室：\n经局务会研究，自下周一起<b>公文流转、请假和报销一律通过政务办公系统办理</b>，"
            "纸质流程同步停止。请各位同事在本周内完成<b>移动办公安全入门</b>课程和保密安全测试。"
            "\n遇到问题请在本机器人中联系服务台（/support）。\n\n办公室"
        ),
        audience="all",
        ack_required=True,
        ack_by=by,
    )


async def demo_content(emu: BotApiEmulator, today: date) -> None:
    """Play every capability's demo scenes (first start only)."""
    await Script(emu).play(approval_scenes(today) + faq_scenes() + support_scenes())
