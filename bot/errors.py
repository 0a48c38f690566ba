"""Domain errors: they carry ids, never user-facing text (handlers/errors.py maps them)."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a user may be told about."""


class NotRegisteredError(DomainError):
    """The Telegram account is not bound to an active staff member."""

    def __init__(self, tg_id: int) -> None:
        super().__init__(tg_id)
        self.tg_id = tg_id


class AccountDisabledError(NotRegisteredError):
    """The staff member bound to this account has been disabled."""


class PermissionDeniedError(DomainError):
    """The actor may not do this to this object (or the object does not exist)."""

    def __init__(self, action: str, obj: str | None = None) -> None:
        super().__init__(action, obj)
        self.action = action
        self.obj = obj


class BadCallbackError(DomainError):
    """Button data that our codec did not produce."""


class StaleCardError(DomainError):
    """The object moved on after this card was drawn."""

    def __init__(self, obj_id: int) -> None:
        super().__init__(obj_id)
        self.obj_id = obj_id


class InviteError(DomainError):
    """Base for invite-code problems."""


class InviteUnknownError(InviteError):
    """No such invite code."""


class InviteUsedError(InviteError):
    """The invite code was already used."""


class InviteExpiredError(InviteError):
    """The invite code has expired."""


class InviteRateLimitedError(InviteError):
    """Too many attempts from this account; try later."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(retry_after_s)
        self.retry_after_s = retry_after_s


class AlreadyRegisteredError(DomainError):
    """This Telegram account (or this staff member) is already bound."""


class ConsentRequiredError(DomainError):
    """The privacy notice has not been accepted."""


class StaffNotFoundError(DomainError):
    """No staff member with this employee number."""

    def __init__(self, employee_no: str) -> None:
        super().__init__(employee_no)
        self.employee_no = employee_no


class ImportFileError(DomainError):
    """The uploaded staff file cannot be read at all."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StorageUnavailableError(DomainError):
    """The database could not be reached; nothing was changed."""
