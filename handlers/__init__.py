"""The Telegram edge: handlers, renderers, the sender, the webhook server, the CLI."""

import os

# Opt in to PTB's future behaviour now: RetryAfter.retry_after as a timedelta (reading the
# int form is deprecated since v22.2); handlers/sender.py and handlers/inbox.py accept both.
os.environ.setdefault("PTB_TIMEDELTA", "1")
