"""Make docs/sandbox.png, the README's picture of the sandbox, from a real run.

A fresh ``govbot sandbox`` in a temporary directory; headless system Chromium; 徐丽 files a
reimbursement, 吴强 approves it, 张建国's phone is switched to English. Run with the project's
virtualenv:  .venv/bin/python scripts/screenshot_sandbox.py [OUT.png]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from tests.sandbox_page import (  # noqa: E402
    TIMEOUT_MS,
    bot_message_after,
    file_reimbursement,
    last_id,
    phone,
    tap,
    type_into,
)
from tests.sandbox_proc import Sandbox, chromium_path  # noqa: E402


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "sandbox.png"
    executable = chromium_path()
    if executable is None:
        print("no Chromium: install Debian's chromium or set GOVBOT_CHROMIUM", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as data:
        box = Sandbox(Path(data), reset=True)
        box.wait_ready()
        try:
            box.wait_for(20004, lambda m: "朱琳" in m["text"], what="the demo trip")
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=executable, headless=True)
                context = browser.new_context(
                    viewport={"width": 1800, "height": 1000},
                    locale="zh-CN",
                    timezone_id="Asia/Shanghai",
                )
                page = context.new_page()
                page.goto(box.url)
                expect(page.locator("body")).to_have_attribute("data-ready", "1")
                xu, wu, leader = phone(page, 0), phone(page, 1), phone(page, 3)
                leader.locator('[data-testid="lang-select"]').select_option("en")
                mark = last_id(leader)
                type_into(leader, "/menu")
                bot_message_after(leader, mark)
                status = file_reimbursement(
                    xu, "6000", "赴省厅参加数字政府培训差旅费", finance=True
                )
                card = wu.locator('[data-testid="message"][data-from-bot="1"]').filter(
                    has_text="徐丽"
                )
                expect(card).to_have_count(1, timeout=TIMEOUT_MS)
                tap(card, "✅ 同意")
                expect(wu.locator('[data-testid="toast"]', has_text="已同意")).to_be_visible(
                    timeout=TIMEOUT_MS
                )
                expect(status).to_contain_text("✅ 部门负责人审批", timeout=TIMEOUT_MS)
                page.wait_for_timeout(1500)  # the edit highlight fades
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=out)
                browser.close()
        finally:
            box.stop()
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
