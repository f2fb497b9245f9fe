"""Expected failures: a code, a human message (Chinese for users) and the field at fault.

The codes are part of the API contract (mirrored in GraphQL's UserError.code).
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping, Sequence

NOT_FOUND = "NOT_FOUND"
FORBIDDEN = "FORBIDDEN"
INVALID = "INVALID"
DUPLICATE = "DUPLICATE"
STALE_VERSION = "STALE_VERSION"
UNKNOWN_FIELD = "UNKNOWN_FIELD"
READ_ONLY_FIELD = "READ_ONLY_FIELD"
REQUIRED = "REQUIRED"
INVALID_TYPE = "INVALID_TYPE"
INVALID_FORMAT = "INVALID_FORMAT"
NOT_ALLOWED_VALUE = "NOT_ALLOWED_VALUE"
OUT_OF_RANGE = "OUT_OF_RANGE"
INCONSISTENT = "INCONSISTENT"
OUTSIDE_SERVICE_AREA = "OUTSIDE_SERVICE_AREA"
NO_CHANGE = "NO_CHANGE"
CALENDAR_NOT_COVERED = "CALENDAR_NOT_COVERED"
IDEMPOTENCY_MISMATCH = "IDEMPOTENCY_MISMATCH"

ERROR_CODES: tuple[str, ...] = (
    NOT_FOUND, FORBIDDEN, INVALID, DUPLICATE, STALE_VERSION, UNKNOWN_FIELD, READ_ONLY_FIELD,
    REQUIRED, INVALID_TYPE, INVALID_FORMAT, NOT_ALLOWED_VALUE, OUT_OF_RANGE, INCONSISTENT,
    OUTSIDE_SERVICE_AREA, NO_CHANGE, CALENDAR_NOT_COVERED, IDEMPOTENCY_MISMATCH,
)  # fmt: skip


class DomainError(Exception):
    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" + (f" ({self.field})" if self.field else "")


class ValidationFailed(DomainError):
    """One or more field errors; nothing was changed."""

    def __init__(self, errors: Sequence[DomainError]) -> None:
        super().__init__(INVALID, "；".join(e.message for e in errors) or "输入无效")
        self.errors = tuple(errors)


def renamed(err: DomainError, names: Mapping[str, str]) -> DomainError:
    """The error with its fields renamed, e.g. catalogue keys to an API's argument names."""

    def one(e: DomainError) -> DomainError:
        field = names.get(e.field, e.field) if e.field is not None else None
        return DomainError(e.code, e.message, field)

    if isinstance(err, ValidationFailed):
        return ValidationFailed([one(e) for e in err.errors])
    return one(err)


def describe_unexpected(exc: BaseException, path: object) -> str:
    """A log line for an unexpected error: its type, SQLSTATE and where it was raised
    (file, line, function), never its message nor source lines: database messages and
    validation errors echo values, which may be personal data."""
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    state = f" (SQLSTATE {sqlstate})" if sqlstate else ""
    frames = " <- ".join(
        f"{f.filename}:{f.lineno} in {f.name}"
        for f in reversed(traceback.extract_tb(exc.__traceback__))
    )
    return f"unexpected {type(exc).__name__}{state} in {path} at {frames}"
