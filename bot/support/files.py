"""Files a requester sends to a ticket: relayed to the desk, and archived with the ticket.

The relay is a copy of the message (``copyMessage``), which works for a file of any size. The
archive is the file itself, kept encrypted with the ticket's record (``support_attachment``),
so the record survives the chat; Telegram lets a bot download files up to 20 MB, so a larger
one is kept as its file id only, marked not archived, and the topic says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DOWNLOAD_LIMIT = 20 * 1024 * 1024  # the Bot API's getFile limit
MB = 1024 * 1024


@dataclass(frozen=True)
class FileInfo:
    """A file in a message, as Telegram describes it."""

    kind: str  # document | photo | voice | video | audio | animation | video_note | sticker
    file_id: str
    unique_id: str = ""
    name: str = ""
    mime_type: str = ""
    size: int | None = None
    # What the edge fetched before handing the message over: the bytes, or why there are none
    # (too_big: over the download limit; failed: the download failed).
    data: bytes | None = field(default=None, repr=False)
    missing: str | None = None

    @property
    def downloadable(self) -> bool:
        """Within the download limit (a file of unknown size is tried)."""
        return self.size is None or self.size <= DOWNLOAD_LIMIT

    def label(self) -> str:
        """How the ticket's history names it: ``document 报销单.pdf (48.0 MB)``."""
        size = f" ({self.size / MB:.1f} MB)" if self.size is not None else ""
        return f"{self.kind} {self.name}".strip() + size
