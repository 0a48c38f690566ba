"""`govbot` as an operator uses it: help, check, db upgrade, staff import, invite, audit verify."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def govbot(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GOVBOT_", "TELEGRAM_"))}
    environ.update(
        {
            "GOVBOT_DATA_DIR": str(tmp_path / "data"),
            "PYTHONPATH": str(ROOT),
            "GOVBOT_CONFIG": str(tmp_path / "none.toml"),
        },
        **env,
    )
    return subprocess.run(
        [sys.executable, "-m", "handlers.cli", *args],
        env=environ,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_help_lists_every_subcommand(tmp_path: Path) -> None:
    out = govbot(tmp_path, "--help").stdout
    for name in ("run", "check", "db", "staff", "invite", "audit", "sandbox", "demo", "emulator"):
        assert f"  {name} " in out, name


def test_run_without_a_token_is_one_clear_line(tmp_path: Path) -> None:
    result = govbot(tmp_path, "run")
    assert result.returncode == 2
    assert (
        result.stderr.strip() == "error: TELEGRAM_BOT_TOKEN is not set (get one from @BotFather)"
    )


def test_outdated_schema_is_refused_with_the_command_to_run(tmp_path: Path) -> None:
    result = govbot(
        tmp_path, "run", TELEGRAM_BOT_TOKEN="1:x", TELEGRAM_API_BASE_URL="http://127.0.0.1:9/bot"
    )
    assert result.returncode == 2
    assert "govbot db upgrade" in result.stderr and "Traceback" not in result.stderr
    check = govbot(tmp_path, "check")
    assert check.returncode == 1 and "govbot db upgrade" in check.stdout


def test_import_invite_and_audit_verify(tmp_path: Path) -> None:
    assert govbot(tmp_path, "db", "upgrade").returncode == 0
    good = tmp_path / "staff.csv"
    good.write_text(
        "工号,姓名,部门,角色,上级\nE1,张三,办公室,admin;staff,\nE2,李四,办公室,staff,E1\n",
        encoding="utf-8-sig",
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("employee_no,name,department,roles\nE3,王五,办公室,staff\nE4,,办公室,staff\n")
    result = govbot(tmp_path, "staff", "import", str(bad))
    assert result.returncode == 1 and "第 3 行" in result.stderr and "未写入" in result.stdout
    result = govbot(tmp_path, "staff", "import", str(good))
    assert result.returncode == 0 and "新增 2" in result.stdout
    again = govbot(tmp_path, "staff", "import", str(good))
    assert "新增 0，更新 0，未变 2" in again.stdout
    invite = govbot(tmp_path, "invite", "E2", "--json", GOVBOT_BOT_USERNAME="gov_bot")
    issued = json.loads(invite.stdout)
    assert issued["link"] == f"https://t.me/gov_bot?start={issued['code']}"
    assert issued["name"] == "李四"
    assert govbot(tmp_path, "invite", "E9").returncode == 2
    assert govbot(tmp_path, "staff", "disable", "E2").stdout.strip() == "E2: 已停用"
    verified = govbot(tmp_path, "audit", "verify")
    assert verified.returncode == 0 and "完好" in verified.stdout
    with sqlite3.connect(tmp_path / "data" / "govbot.sqlite3") as conn:
        conn.execute("UPDATE audit_entry SET details = '{}' WHERE seq = 2")
    broken = govbot(tmp_path, "audit", "verify")
    assert (
        broken.returncode == 1 and "第 2 条" in broken.stdout and "mac_mismatch" in broken.stdout
    )


@pytest.mark.parametrize("content", [b"\x00\x01garbage", b"PK\x03\x04truncated"])
def test_broken_files_get_a_message_not_a_traceback(tmp_path: Path, content: bytes) -> None:
    assert govbot(tmp_path, "db", "upgrade").returncode == 0
    path = tmp_path / "staff.xlsx"
    path.write_bytes(content)
    result = govbot(tmp_path, "staff", "import", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")


def test_help_lists_the_template_and_approval_commands(tmp_path: Path) -> None:
    out = govbot(tmp_path, "--help").stdout
    assert "  templates " in out and "  approvals " in out
    sub = govbot(tmp_path, "approvals", "--help").stdout
    for name in ("register", "show", "overdue"):
        assert f"  {name} " in sub, name


def test_templates_load_list_and_a_bad_file_changes_nothing(tmp_path: Path) -> None:
    import shutil

    from bot.approvals.templates import shipped_dir

    assert govbot(tmp_path, "db", "upgrade").returncode == 0
    empty = govbot(tmp_path, "templates", "list")
    assert empty.returncode == 0 and "没有生效的模板" in empty.stdout
    loaded = govbot(tmp_path, "templates", "load", str(shipped_dir()))
    assert loaded.returncode == 0, loaded.stderr
    assert "已加载 5 个：incoming, leave, outgoing, reimbursement, seal" in loaded.stdout
    listed = govbot(tmp_path, "templates", "list")
    assert (
        "outgoing v1 发文审批（发文）：review → countersign → sign → number → archive"
        in listed.stdout
    )
    assert "incoming v1 收文办理（收文）：propose → instruct → handle → close → archive" in (
        listed.stdout
    )

    bad = tmp_path / "bad"
    shutil.copytree(shipped_dir(), bad)
    source = (bad / "outgoing.yaml").read_text(encoding="utf-8")
    (bad / "outgoing.yaml").write_text(
        source.replace("    type: choice", "    type: choise", 1), encoding="utf-8"
    )
    (bad / "leave.yaml").write_text(
        (bad / "leave.yaml").read_text(encoding="utf-8").replace("请假", "休假", 1),
        encoding="utf-8",
    )
    line = next(
        n for n, text in enumerate(source.splitlines(), start=1) if text == "    type: choice"
    )
    refused = govbot(tmp_path, "templates", "load", str(bad))
    assert refused.returncode == 1
    assert f"{bad / 'outgoing.yaml'}:{line}: Unknown field type “choise”" in refused.stderr
    assert "未做任何更改" in refused.stderr and "Traceback" not in refused.stderr
    # The old versions are still the ones in force (leave.yaml's valid change was not taken).
    assert govbot(tmp_path, "templates", "list").stdout == listed.stdout

    (bad / "outgoing.yaml").write_text(source, encoding="utf-8")
    (bad / "seal.yaml").unlink()
    fixed = govbot(tmp_path, "templates", "load", str(bad))
    assert fixed.returncode == 0
    assert "已加载 1 个：leave" in fixed.stdout and "已停用 1 个" in fixed.stdout
    after = govbot(tmp_path, "templates", "list").stdout
    assert "leave v2 " in after and "seal " not in after


def test_approvals_register_show_and_overdue(tmp_path: Path) -> None:
    import asyncio
    import csv
    import io
    from datetime import UTC, datetime

    from openpyxl import load_workbook

    assert govbot(tmp_path, "db", "upgrade").returncode == 0
    numbers = asyncio.run(_seed_requests(tmp_path / "data"))
    outgoing_no, incoming_no = numbers

    out_file = tmp_path / "发文.xlsx"
    written = govbot(tmp_path, "approvals", "register", "outgoing", "--out", str(out_file))
    assert written.returncode == 0, written.stderr
    assert "发文登记簿：已写入 1 条" in written.stdout
    sheet = load_workbook(out_file).active
    assert sheet is not None
    head = [c.value for c in sheet[1]]
    first = dict(zip(head, [c.value for c in sheet[2]], strict=True))
    assert first["申请编号"] == outgoing_no and first["签发人"] == "王局长"
    assert first["成文日期"] == datetime(2026, 11, 2, tzinfo=UTC).replace(tzinfo=None)

    in_file = tmp_path / "in.csv"
    result = govbot(
        tmp_path, "approvals", "register", "incoming", "--year", "2026", "--out", str(in_file)
    )
    assert result.returncode == 0
    data = in_file.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[0][:3] == ["收文编号", "来文单位", "来文字号"] and table[1][0] == incoming_no
    none = govbot(
        tmp_path, "approvals", "register", "incoming", "--year", "2025", "--out", str(in_file)
    )
    assert "已写入 0 条" in none.stdout

    shown = govbot(tmp_path, "approvals", "show", outgoing_no, "--json")
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert record["number"] == outgoing_no and record["submitter"] == "李明"
    assert [(t["actor"], t["move"], t["comment"]) for t in record["timeline"]][:3] == [
        ("钱主任", "approve", None),
        ("赵处长", "approve", None),
        ("王局长", "approve", "同意印发"),
    ]
    audit = record["audit"]
    assert [a["action"] for a in audit][:4] == [
        "approval.submitted",
        "approval.approve",
        "approval.approve",
        "approval.sign",
    ]
    assert all(a["content_hash"] == record["content_hash"] for a in audit)
    assert all(a["at"] and a["seq"] for a in audit)
    text = govbot(tmp_path, "approvals", "show", outgoing_no).stdout
    assert "提交人：李明（综合处）" in text and "王局长 已同意 [签发] “同意印发”" in text
    assert f"内容哈希 {record['content_hash']}" in text and "approval.sign" in text
    missing = govbot(tmp_path, "approvals", "show", "FW-19990101-0001")
    assert missing.returncode == 2 and "没有编号为 FW-19990101-0001 的申请" in missing.stderr

    overdue = govbot(tmp_path, "approvals", "overdue")
    assert overdue.returncode == 0
    lines = overdue.stdout.splitlines()
    at = lines.index("财务处（1）")
    assert lines[at + 1].startswith(f"  {incoming_no} 逾期的来文 · 承办 · 赵处长 · 期限 ")
    assert "2026-11-10" in lines[at + 1]


async def _seed_requests(data_dir: Path) -> tuple[str, str]:
    """An outgoing request signed off and an incoming one past its deadline, made in-process."""
    from datetime import UTC, datetime, timedelta

    from bot.bootstrap import open_database, open_keys
    from bot.clock import FakeClock
    from bot.config import Settings
    from bot.runtime import Runtime
    from tests.integration.test_approval_registers import FAR, Office, incoming, outgoing

    settings = Settings(data_dir=data_dir)
    keys = open_keys(settings)
    db = open_database(settings)
    try:
        clock = FakeClock(datetime(2026, 11, 2, 1, 0, tzinfo=UTC))
        office = Office(Runtime(db, keys, clock), clock)
        await office.setup()
        out = await office.apply("李明", "outgoing", outgoing("关于做好冬季安全生产工作的通知"))
        await office.approve("钱主任")
        await office.approve("赵处长")
        await office.sign("王局长", "同意印发")
        await office.set_due(out, FAR)  # should 编号 still be open, it is not late
        clock.advance(timedelta(hours=1))
        inc = await office.apply(
            "钱主任", "incoming", incoming("逾期的来文", deadline="2026-11-10")
        )
        await office.approve("吴秘书", inc)
        await office.approve("王局长", inc)
        await office.set_due(inc, FAR)  # late by its 办理时限 only
        return out, inc
    finally:
        await db.dispose()


def test_faq_import_export_publish_rollback(tmp_path: Path) -> None:
    assert govbot(tmp_path, "db", "upgrade").returncode == 0
    kb = tmp_path / "kb.yaml"
    kb.write_text(
        "- id: vpn\n  question: VPN连不上怎么办？\n  answer: 先检查网络。\n"
        "- id: leave\n  question: 怎么请假？\n  answer: 用 /apply 选请假。\n",
        encoding="utf-8",
    )
    done = govbot(tmp_path, "faq", "import", str(kb), GOVBOT_DEFAULT_LOCALE="en")
    assert done.returncode == 0 and "2 new, 0 changed" in done.stdout, done.stderr
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("id,question,answer\nx,VPN连不上怎么办?,另一个\ny,空,\n", encoding="utf-8")
    refused = govbot(tmp_path, "faq", "import", str(wrong), GOVBOT_DEFAULT_LOCALE="en")
    assert refused.returncode == 1 and "Line 2:" in refused.stderr and "Line 3:" in refused.stderr
    assert "2 problems; nothing was changed" in refused.stderr
    out = tmp_path / "export.xlsx"
    assert govbot(tmp_path, "faq", "export", str(out)).returncode == 0
    again = govbot(tmp_path, "faq", "import", str(out), GOVBOT_DEFAULT_LOCALE="en")
    assert "0 new, 0 changed, 2 unchanged" in again.stdout
    kb.write_text(
        kb.read_text(encoding="utf-8").replace("先检查网络。", "先重启路由器。"), "utf-8"
    )
    assert govbot(tmp_path, "faq", "import", str(kb)).returncode == 0
    rolled = govbot(tmp_path, "faq", "rollback", "vpn", "1", GOVBOT_DEFAULT_LOCALE="en")
    assert "version 1 published again as version 3" in rolled.stdout, rolled.stderr
    listing = govbot(tmp_path, "faq", "list").stdout.splitlines()
    assert listing[1].split()[:3] == ["vpn", "published", "v3"]
    assert govbot(tmp_path, "faq", "rollback", "vpn", "9").returncode == 2


def test_faq_eval_measures_the_stored_knowledge_base(tmp_path: Path) -> None:
    shared = ROOT.parent / "shared" / "eval" / "faq"
    if not (shared / "dev_kb.yaml").exists():
        pytest.skip(f"no {shared}")
    assert govbot(tmp_path, "db", "upgrade").returncode == 0
    assert govbot(tmp_path, "faq", "import", str(shared / "dev_kb.yaml")).returncode == 0
    from_db = govbot(
        tmp_path,
        "faq",
        "eval",
        "--kb",
        "db",
        "--queries",
        str(shared / "dev_queries.yaml"),
        "--json",
    )
    assert from_db.returncode == 0, from_db.stderr
    report = json.loads(from_db.stdout)
    assert {"top1", "top3", "overall", "abstain_precision", "abstain_recall"} <= set(report)
    assert set(report["latency_ms"]) >= {"mean", "p99"}
    assert report["per_style"]["english"]["n"] > 0 and not report["calibrated"]
    assert report["top1"] >= 0.9 and report["overall"] >= 0.8
    from_file = govbot(
        tmp_path,
        "faq",
        "eval",
        "--kb",
        str(shared / "dev_kb.yaml"),
        "--queries",
        str(shared / "dev_queries.yaml"),
        "--json",
    )
    assert json.loads(from_file.stdout)["top1"] == report["top1"]  # the same words, same ranks


def test_oncall_import_is_whole_or_nothing_and_listed(tmp_path: Path) -> None:
    assert govbot(tmp_path, "db", "upgrade").returncode == 0
    staff = tmp_path / "staff.csv"
    staff.write_text(
        "工号,姓名,部门,角色\nE1,杨帆,信息中心,support;staff\nE2,李娜,信息中心,support;staff\n",
        encoding="utf-8-sig",
    )
    assert govbot(tmp_path, "staff", "import", str(staff)).returncode == 0
    roster = tmp_path / "roster.csv"
    roster.write_text("level,person,start,end\n1,E1,2099-01-01 09:00,18:00\n9,E2,09:00,18:00\n")
    refused = govbot(tmp_path, "oncall", "import", str(roster))
    assert refused.returncode == 1 and "第 3 行" in refused.stderr and "未导入" in refused.stderr
    roster.write_text(
        "级别,人员,开始,结束\n1,E1,2099-01-01 09:00,18:00\n2,李娜,2099-01-01 20:00,08:00\n"
    )
    imported = govbot(tmp_path, "oncall", "import", str(roster))
    assert imported.returncode == 0 and "已导入班次：2" in imported.stdout
    listed = govbot(tmp_path, "oncall", "list").stdout.splitlines()
    assert len(listed) == 2 and "L1 杨帆" in listed[0] and "L2 李娜" in listed[1]
    broken = tmp_path / "roster.xlsx"
    broken.write_bytes(b"PK\x03\x04truncated")
    result = govbot(tmp_path, "oncall", "import", str(broken))
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_desk_groups_are_set_listed_and_removed(tmp_path: Path) -> None:
    assert govbot(tmp_path, "db", "upgrade").returncode == 0
    assert "GOVBOT_DESK_CHAT_ID" not in govbot(tmp_path, "desk", "list").stdout
    made = govbot(tmp_path, "desk", "set", "-1001")
    assert made.returncode == 0 and "-1001" in made.stdout and "*" in made.stdout
    routed = govbot(
        tmp_path, "desk", "set", "-1002", "--category", "devices", "--category", "account"
    )
    assert routed.returncode == 0 and "devices" in routed.stdout and "account" in routed.stdout
    wrong = govbot(tmp_path, "desk", "set", "-1003", "--category", "printers")
    assert wrong.returncode == 2 and "devices" in wrong.stderr
    listed = govbot(tmp_path, "desk", "list").stdout.splitlines()
    assert [line.split("\t")[:2] for line in listed] == [
        ["*", "-1001"],
        ["account", "-1002"],
        ["devices", "-1002"],
    ]
    removed = govbot(tmp_path, "desk", "unset", "-1002")
    assert removed.returncode == 0 and "account, devices" in removed.stdout
    assert [
        line.split("\t")[0] for line in govbot(tmp_path, "desk", "list").stdout.splitlines()
    ] == ["*"]


def test_survey_publish_and_list(tmp_path: Path) -> None:
    assert govbot(tmp_path, "db", "upgrade").returncode == 0
    staff = tmp_path / "staff.csv"
    staff.write_text(
        "工号,姓名,部门,角色\nE1,杨帆,办公室,staff\nE2,李娜,办公室,staff\nE3,王强,财务处,staff\n",
        encoding="utf-8-sig",
    )
    assert govbot(tmp_path, "staff", "import", str(staff)).returncode == 0
    survey = Path(__file__).parents[2] / "bot" / "surveys" / "shipped" / "pilot_feedback.yaml"
    refused = govbot(tmp_path, "survey", "publish", str(survey), "--to", "dept:档案室,role:x")
    assert refused.returncode == 1
    assert "没有名为“档案室”的部门" in refused.stderr and "没有“x”这个角色" in refused.stderr
    published = govbot(
        tmp_path, "survey", "publish", str(survey), "--to", "dept:办公室", "--closes", "2099-12-31"
    )
    assert published.returncode == 0, published.stderr
    assert "邀请 2 人，已发送邀请消息 0 人" in published.stdout  # nobody has bound Telegram
    assert "杨帆" in published.stdout and "李娜" in published.stdout
    listed = govbot(tmp_path, "survey", "list")
    assert "pilot_feedback open 匿名 已答 0/2" in listed.stdout
    survey_id = listed.stdout.split()[0].lstrip("#")
    export = tmp_path / "answers.csv"
    shown = govbot(tmp_path, "survey", "results", survey_id, "--csv", str(export))
    assert shown.returncode == 0, shown.stderr
    assert "已收回 0 份，共邀请 2 人" in shown.stdout
    assert "办公室: 不足5人，已隐藏/2" in shown.stdout  # anonymous: under five, hidden
    assert export.read_bytes().startswith(b"\xef\xbb\xbf")
    assert govbot(tmp_path, "survey", "results", "999").returncode == 1
    broken = tmp_path / "broken.yaml"
    broken.write_text("key: x\nversion: [\n", encoding="utf-8")
    bad = govbot(tmp_path, "survey", "publish", str(broken), "--to", "all")
    assert bad.returncode == 1 and "broken.yaml:" in bad.stderr and "Traceback" not in bad.stderr
    # A pilot group across departments, then a survey to it.
    made = govbot(tmp_path, "group", "set", "试点组", "staff:E1,staff:E3")
    assert made.returncode == 0 and "试点组" in made.stdout and "2" in made.stdout, made.stderr
    unknown = govbot(tmp_path, "group", "set", "坏组", "dept:档案室")
    assert unknown.returncode == 1 and "档案室" in unknown.stderr
    assert govbot(tmp_path, "group", "list").stdout.splitlines() == ["试点组\t2"]
    to_group = govbot(tmp_path, "survey", "publish", str(survey), "--to", "group:试点组")
    assert to_group.returncode == 0 and "邀请 2 人" in to_group.stdout, to_group.stderr
    assert "杨帆" in to_group.stdout and "王强" in to_group.stdout
    assert govbot(tmp_path, "group", "remove", "试点组").returncode == 0
    gone = govbot(tmp_path, "survey", "publish", str(survey), "--to", "group:试点组")
    assert gone.returncode == 1 and "试点组" in gone.stderr


def test_course_publish_list_and_progress(tmp_path: Path) -> None:
    assert govbot(tmp_path, "db", "upgrade").returncode == 0
    staff = tmp_path / "staff.csv"
    staff.write_text(
        "工号,姓名,部门,角色\nE1,杨帆,办公室,staff\nE2,李娜,办公室,staff\nE3,王强,财务处,staff\n",
        encoding="utf-8-sig",
    )
    assert govbot(tmp_path, "staff", "import", str(staff)).returncode == 0
    course = Path(__file__).parents[2] / "bot" / "courses" / "shipped" / "digital_office.yaml"
    refused = govbot(tmp_path, "course", "publish", str(course), "--to", "all", "--due", "12-31")
    assert refused.returncode == 1 and "“12-31”" in refused.stderr
    published = govbot(
        tmp_path, "course", "publish", str(course), "--to", "all", "--due", "2099-12-31"
    )
    assert published.returncode == 0, published.stderr
    assert "已下发：应学 3 人，已向 0 人发送通知" in published.stdout  # nobody is on Telegram
    listed = govbot(tmp_path, "course", "list")
    assert "digital_office" in listed.stdout and "已完成 0/3" in listed.stdout
    course_id = listed.stdout.split()[0].lstrip("#")
    export = tmp_path / "progress.csv"
    shown = govbot(tmp_path, "course", "progress", course_id, "--csv", str(export))
    assert shown.returncode == 0, shown.stderr
    assert "办公室：已完成 0/2（0%），已开始 0，逾期 0" in shown.stdout
    rows = export.read_bytes().decode("utf-8-sig").splitlines()
    assert rows[1:] == ["办公室,2,0,0,0,0", "财务处,1,0,0,0,0", "*,3,0,0,0,0"]
    assert govbot(tmp_path, "course", "progress", "999").returncode == 1
    broken = tmp_path / "broken.yaml"
    broken.write_text("key: x\nlessons: [\n", encoding="utf-8")
    bad = govbot(tmp_path, "course", "publish", str(broken), "--to", "all", "--due", "2099-01-01")
    assert bad.returncode == 1 and "broken.yaml:" in bad.stderr and "Traceback" not in bad.stderr


def test_announce_send_list_and_status(tmp_path: Path) -> None:
    assert govbot(tmp_path, "db", "upgrade").returncode == 0
    staff = tmp_path / "staff.csv"
    staff.write_text(
        "工号,姓名,部门,角色,Telegram ID\nE1,杨帆,办公室,staff,5001\nE2,李娜,办公室,staff,\n"
        "E3,王强,财务处,staff,5003\n",
        encoding="utf-8-sig",
    )
    imported = govbot(tmp_path, "staff", "import", str(staff))
    assert imported.returncode == 0, imported.stderr
    refused = govbot(
        tmp_path, "announce", "send", "--to", "dept:档案室", "--title", "T", "--body", "B"
    )
    assert refused.returncode == 1 and "没有名为“档案室”的部门" in refused.stderr
    past = govbot(
        tmp_path, "announce", "send", "--to", "all", "--title", "T", "--body", "B",
        "--ack-by", "2020-01-01",
    )  # fmt: skip
    assert past.returncode == 1 and "已经过去" in past.stderr
    assert govbot(tmp_path, "announce", "send", "--to", "all", "--title", "T").returncode == 2
    body = tmp_path / "body.html"
    body.write_text("请于<b>本周五</b>前完成。", encoding="utf-8")
    sent = govbot(
        tmp_path, "announce", "send", "--to", "dept:办公室,staff:E3", "--title", "年终考核",
        "--body-file", str(body), "--ack-by", "2099-12-31",
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    assert "接收人 3 人，其中 2 人使用 Telegram" in sent.stdout and "李娜" in sent.stdout
    listed = govbot(tmp_path, "announce", "list")
    assert "年终考核：接收人 3，已送达 0，已阅 0" in listed.stdout
    announcement_id = listed.stdout.split()[0].lstrip("#")
    export = tmp_path / "acks.csv"
    shown = govbot(tmp_path, "announce", "status", announcement_id, "--csv", str(export))
    assert shown.returncode == 0, shown.stderr
    assert "办公室：接收人 2，已送达 0，已阅 0，未阅 2" in shown.stdout
    assert "合计：接收人 3，已送达 0，已阅 0，未阅 3" in shown.stdout
    rows = export.read_text(encoding="utf-8-sig").splitlines()
    assert rows[0] == "工号,姓名,部门,送达时间,已阅时间" and len(rows) == 4
    assert govbot(tmp_path, "announce", "status", "999").returncode == 1
    assert "已阅" in govbot(tmp_path, "announce", "--help").stdout


def test_survey_template_and_publishing_a_workbook(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    assert govbot(tmp_path, "db", "upgrade").returncode == 0
    staff = tmp_path / "staff.csv"
    staff.write_text("工号,姓名,部门,角色\nE1,杨帆,办公室,staff\n", encoding="utf-8-sig")
    assert govbot(tmp_path, "staff", "import", str(staff)).returncode == 0
    book = tmp_path / "feedback.xlsx"
    made = govbot(tmp_path, "survey", "template", str(book), "--from", "system_nps")
    assert made.returncode == 0, made.stderr
    published = govbot(tmp_path, "survey", "publish", str(book), "--to", "all")
    assert published.returncode == 0, published.stderr
    assert "system_nps" in published.stdout
    survey_id = govbot(tmp_path, "survey", "list").stdout.split()[0].lstrip("#")
    charts = tmp_path / "charts"
    shown = govbot(tmp_path, "survey", "results", survey_id, "--charts", str(charts))
    assert shown.returncode == 0, shown.stderr
    assert charts.is_dir() and not list(charts.iterdir())  # nobody answered: nothing to chart
    workbook = load_workbook(book)
    workbook["questions"]["B2"] = "stars"  # the first question's kind
    workbook.save(book)
    bad = govbot(tmp_path, "survey", "publish", str(book), "--to", "all")
    assert bad.returncode == 1 and "feedback.xlsx questions!B2:" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = govbot(tmp_path, "survey", "template", str(book), "--from", "nothing_here")
    assert missing.returncode == 2 and "pilot_feedback" in missing.stderr


def test_quiz_campaign_results_list_and_check(tmp_path: Path) -> None:
    assert govbot(tmp_path, "db", "upgrade").returncode == 0
    staff = tmp_path / "staff.csv"
    staff.write_text(
        "工号,姓名,部门,角色\nE1,杨帆,办公室,staff;security\nE2,王强,财务处,staff\n",
        encoding="utf-8-sig",
    )
    assert govbot(tmp_path, "staff", "import", str(staff)).returncode == 0
    refused = govbot(tmp_path, "quiz", "campaign", "nothing", "--to", "all")
    assert refused.returncode == 1 and "没有名为“nothing”的测试" in refused.stderr
    opened = govbot(
        tmp_path, "quiz", "campaign", "security_basics", "--to", "all", "--every", "quarter"
    )
    assert opened.returncode == 0, opened.stderr
    assert "应测 2 人，已发送通知 0 人" in opened.stdout
    listed = govbot(tmp_path, "quiz", "list")
    assert "测试 security_basics：保密安全知识测试，从 33 题中抽 10 题，80 分合格" in listed.stdout
    assert "#1 security_basics quarter 合格 0/2" in listed.stdout
    export = tmp_path / "scores.xlsx"
    shown = govbot(tmp_path, "quiz", "results", "1", "--xlsx", str(export))
    assert shown.returncode == 0, shown.stderr
    assert "合格 0 人，参测 0 人，应测 2 人" in shown.stdout and "办公室: 0/0/1 0%" in shown.stdout
    assert export.read_bytes().startswith(b"PK")
    assert govbot(tmp_path, "quiz", "results", "9").returncode == 1
    long = tmp_path / "long.yaml"
    long.write_text(
        "topic: extra\ntitle: {zh_CN: 附加, en: Extra}\nquestions:\n  - key: ex_one\n"
        "    text: {zh_CN: 问, en: Q}\n    options:\n      - {zh_CN: 甲, en: A}\n"
        "      - {zh_CN: 乙, en: B}\n    correct: 1\n"
        f"    explanation: {{zh_CN: 解, en: {'x' * 201}}}\n",
        encoding="utf-8",
    )
    checked = govbot(tmp_path, "quiz", "check", str(long))
    assert checked.returncode == 1 and "long.yaml:10:" in checked.stderr
    assert "Telegram allows at most 200" in checked.stderr
    good = tmp_path / "good.yaml"
    good.write_text(long.read_text(encoding="utf-8").replace("x" * 201, "Why"), "utf-8")
    assert "6 个题库、2 套测试均无误" in govbot(tmp_path, "quiz", "check", str(good)).stdout
