"""``govbot sandbox`` as a user runs it: a real process with the real bot, the emulator and the
page's API; the demo city is there, Ctrl-C stops it cleanly and the next start carries on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox_proc import ROOT, Sandbox

pytestmark = pytest.mark.slow

XU_LI, WU_QIANG, LIU_YANG, ZHAO_MIN, ZHOU_TING = 20011, 20010, 20004, 20007, 20009
DESK = -1_001_000_000_001


@pytest.fixture
def launch() -> Iterator[Callable[..., Sandbox]]:
    """Start sandboxes that are killed at the end of the test, whatever happened."""
    boxes: list[Sandbox] = []

    def start(data_dir: Path, **options: Any) -> Sandbox:
        box = Sandbox(data_dir, **options)
        boxes.append(box)
        box.wait_ready()
        return box

    yield start
    for box in boxes:
        box.__exit__()


def _has_button(text: str, label: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: text in m["text"] and any(label in row for row in m["buttons"])


def test_fresh_sandbox_runs_the_demo_city_and_carries_on_after_ctrl_c(
    tmp_path: Path, launch: Callable[..., Sandbox]
) -> None:
    box = launch(tmp_path, reset=True)
    config = box.get("__ui/config")
    people = {p["user_id"]: p for p in config["personas"]}
    assert len(people) == 16
    roles = {r for p in config["personas"] for r in p["roles"]["en"].split(", ")}
    assert {"Staff", "Department head", "Finance", "Leader", "Office clerk", "Trainer"} <= roles
    assert {"Support desk", "Administrator"} <= roles
    assert people[XU_LI]["department"] == "政务服务科"
    (desk,) = config["groups"]
    assert desk["chat_id"] == DESK and desk["forum"] is True
    assert (
        config["strings"]["zh_CN"]["send"] == "发送" and config["strings"]["en"]["send"] == "Send"
    )

    # Demo content went through the real bot: 孙浩's leave waits on 吴强, 朱琳's trip
    # (approved by 马超) on finance.
    box.wait_for(WU_QIANG, _has_button("孙浩", "✅ 同意"), what="孙浩's leave card")
    box.wait_for(LIU_YANG, _has_button("朱琳", "✅ 同意"), what="朱琳's trip card")
    box.post(f"__emu/users/{WU_QIANG}/command", {"text": "/todo"})
    box.wait_for(WU_QIANG, lambda m: m["from_bot"] and "待您处理" in m["text"], what="/todo")
    # Tickets in the desk group in different states, each a topic with its card; two agents
    # are on call.
    box.wait_for(DESK, _has_button("胡军", "🙋 认领"), what="胡军's new ticket")
    box.wait_for(
        DESK,
        lambda m: "孙浩" in m["text"] and "负责人：赵敏" in m["text"] and bool(m["buttons"]),
        what="孙浩's ticket, claimed by 赵敏",
    )
    box.wait_for(DESK, _has_button("朱琳", "▶️ 恢复处理"), what="朱琳's ticket, waiting")

    # The pilot-feedback survey is open to everyone; 周婷, who published it, sees it go out.
    box.wait_for(XU_LI, _has_button("试点使用反馈", "▶️ 开始填写"), what="the survey invitation")
    box.wait_for(ZHOU_TING, lambda m: "📤" in m["text"], what="the trainer's progress card")
    box.wait_for(XU_LI, lambda m: "保密安全知识测试" in m["text"], what="the security quiz")
    box.wait_for(XU_LI, _has_button("新培训课程", "▶️ 开始学习"), what="the training course")
    box.wait_for(XU_LI, _has_button("全面启用政务办公系统", "✅ 已阅"), what="the office notice")
    box.post(f"__emu/users/{ZHAO_MIN}/command", {"text": "/oncall"})
    roster = box.wait_for(
        ZHAO_MIN, lambda m: m["from_bot"] and "值班表" in m["text"], what="the roster"
    )
    assert "赵敏" in roster["text"] and "黄伟" in roster["text"] and "杨帆" in roster["text"]
    assert box.stop() == 0
    assert "Traceback" not in "".join(box.output)

    again = launch(tmp_path)
    assert "继续上次保存的沙盒" in "".join(again.output)
    before = again.messages(WU_QIANG)
    assert any("孙浩" in m["text"] for m in before)  # the chat history came back
    # New updates are new to the bot too (the inbox would drop a reused update id).
    again.post(f"__emu/users/{XU_LI}/command", {"text": "/mine"})
    asked = max(m["message_id"] for m in again.messages(XU_LI))
    again.wait_for(
        XU_LI, lambda m: m["from_bot"] and m["message_id"] > asked, what="an answer to /mine"
    )
    # Her phone's app switches to English: the bot answers in English from then on, and the
    # command menu the app shows is the English one.
    again.post(f"__emu/users/{XU_LI}/language", {"language_code": "en"})
    asked = max(m["message_id"] for m in again.messages(XU_LI))
    again.post(f"__emu/users/{XU_LI}/command", {"text": "/apply"})
    again.wait_for(
        XU_LI,
        lambda m: m["message_id"] > asked and "Expense reimbursement" in str(m["buttons"]),
        what="the English template list",
    )
    menu = again.get(f"__emu/users/{XU_LI}/commands")
    assert {"command": "apply", "description": "Start a request"} in menu
    # The leave card is still a living card: approving it edits it in place.
    card = next(m for m in before if "孙浩" in m["text"] and m["buttons"])
    data = next(
        d
        for row, drow in zip(card["buttons"], card["callback_data"], strict=True)
        for b, d in zip(row, drow, strict=True)
        if b == "✅ 同意"
    )
    again.post(f"__emu/users/{WU_QIANG}/press", {"data": data, "message_id": card["message_id"]})
    again.wait_for(
        WU_QIANG,
        lambda m: m["message_id"] == card["message_id"] and len(m["versions"]) > 1,
        what="the card edited after approval",
    )
    assert again.stop(signal.SIGTERM) == 0

    fresh = launch(tmp_path, reset=True)
    assert "全新的演示城市" in "".join(fresh.output)
    assert all(
        m["message_id"] != card["message_id"] or len(m["versions"]) == 1
        for m in fresh.messages(WU_QIANG)
    )
    assert fresh.stop() == 0


def _refused(port: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """A sandbox start that is expected to stop at once (English messages)."""
    args = ["sandbox", "--no-browser", "--port", port, "--data-dir", str(data_dir)]
    return subprocess.run(
        [sys.executable, "-m", "handlers.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "GOVBOT_DEFAULT_LOCALE": "en"},
    )


def test_a_taken_port_is_a_clear_message_not_a_traceback(
    tmp_path: Path, launch: Callable[..., Sandbox]
) -> None:
    first = launch(tmp_path / "a", locale="en")
    url = first.url
    port = url.rsplit(":", 1)[1].strip("/")
    started = time.monotonic()
    second = _refused(port, tmp_path / "b")
    assert second.returncode == 2, second.stderr
    assert f"Port {port} on 127.0.0.1 is not free" in second.stderr + second.stdout
    assert "Traceback" not in second.stderr
    assert time.monotonic() - started < 30
    assert first.stop() == 0


def test_a_damaged_saved_sandbox_is_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / "emulator").mkdir()
    (tmp_path / "emulator" / "state.json").write_text(
        '{"format": 1, "bot_id": 100000, "us', "utf-8"
    )
    run = _refused("0", tmp_path)
    assert run.returncode == 2, run.stderr
    assert "cannot be read" in run.stderr and "--reset" in run.stderr
    assert "Traceback" not in run.stderr
    assert (tmp_path / "emulator" / "state.json").exists()  # nothing was thrown away
