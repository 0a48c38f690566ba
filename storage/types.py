"""Column types shared by every table: UTC datetimes and encrypted text."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, LargeBinary, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from storage.crypto import current_key_ring


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; SQLite loses the offset, so it is put back on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class EncryptedText(TypeDecorator[str]):
    """Text encrypted with AES-256-GCM under the current key ring; the key id travels along."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, purpose: str = "column", *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.purpose = purpose

    def process_bind_param(self, value: str | None, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        return current_key_ring().encrypt(value.encode(), purpose=self.purpose)

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return current_key_ring().decrypt(bytes(value), purpose=self.purpose).decode()


class EncryptedBytes(TypeDecorator[bytes]):
    """Bytes (a file) encrypted like :class:`EncryptedText`."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, purpose: str = "file", *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.purpose = purpose

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        return current_key_ring().encrypt(bytes(value), purpose=self.purpose)

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        return current_key_ring().decrypt(bytes(value), purpose=self.purpose)


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON value stored encrypted (outbox facts carry names, codes and users' words)."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, purpose: str = "json", *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.purpose = purpose

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return current_key_ring().encrypt(text.encode(), purpose=self.purpose)

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return json.loads(current_key_ring().decrypt(bytes(value), purpose=self.purpose))


def short_string(length: int) -> String:
    """A VARCHAR of the given length (PostgreSQL enforces it, SQLite does not)."""
    return String(length)
