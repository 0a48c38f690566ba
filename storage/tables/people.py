"""Departments, staff, their roles, invites, consents and sign-in attempts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


class Department(SQLModel, table=True):
    """An organisational unit; staff belong to exactly one."""

    __tablename__ = "department"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True, index=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Staff(SQLModel, table=True):
    """A member of staff, optionally bound to one Telegram account."""

    __tablename__ = "staff"

    id: int | None = Field(default=None, primary_key=True)
    employee_no: str = Field(max_length=40, unique=True, index=True)
    name: str = Field(max_length=100)
    department_id: int = Field(foreign_key="department.id", index=True)
    superior_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("staff.id"), nullable=True)
    )
    telegram_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, unique=True, nullable=True, index=True)
    )
    language: str | None = Field(default=None, max_length=10)  # chosen (/language, staff file)
    # The language of their Telegram app, as last seen on an update: used when none was chosen.
    client_language: str | None = Field(default=None, max_length=10)
    active: bool = Field(default=True)
    registered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    disabled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    version: int = Field(default=1)


class StaffRole(SQLModel, table=True):
    """One role held by one staff member."""

    __tablename__ = "staff_role"

    staff_id: int = Field(foreign_key="staff.id", primary_key=True)
    role: str = Field(max_length=20, primary_key=True, index=True)


class Invite(SQLModel, table=True):
    """A one-time registration code; only its hash is stored."""

    __tablename__ = "invite"

    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(max_length=64, unique=True, index=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    created_by: int | None = Field(default=None, foreign_key="staff.id")
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    used_by_tg_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class Consent(SQLModel, table=True):
    """A staff member accepted a given version of the privacy notice."""

    __tablename__ = "consent"
    __table_args__ = (UniqueConstraint("staff_id", "notice_version"),)

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    telegram_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    notice_version: str = Field(max_length=20)
    locale: str = Field(max_length=10)
    accepted_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class SignInAttempt(SQLModel, table=True):
    """An attempt to redeem an invite code, for rate limiting."""

    __tablename__ = "sign_in_attempt"

    id: int | None = Field(default=None, primary_key=True)
    telegram_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    ok: bool = Field(default=False)


class StaffGroup(SQLModel, table=True):
    """A named list of staff an audience can name (``group:试点组``): the pilot users, a
    project team — people from several departments that no department or role covers."""

    __tablename__ = "staff_group"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=60, unique=True, index=True)
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class StaffGroupMember(SQLModel, table=True):
    """One person in a group."""

    __tablename__ = "staff_group_member"

    group_id: int = Field(
        sa_column=Column(Integer, ForeignKey("staff_group.id"), primary_key=True, nullable=False)
    )
    staff_id: int = Field(
        sa_column=Column(Integer, ForeignKey("staff.id"), primary_key=True, nullable=False)
    )
