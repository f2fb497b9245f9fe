"""Typed errors in mutation payloads, mirrored from the domain's error codes."""

from __future__ import annotations

from enum import Enum

import strawberry

from domain.errors import DomainError, ValidationFailed


@strawberry.enum(description="Machine-readable error codes (mirrors domain.errors)")
class ErrorCode(Enum):
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


@strawberry.type(description="An expected refusal: nothing was changed")
class UserError:
    field: str | None
    code: ErrorCode
    message: str


def user_errors(err: DomainError) -> list[UserError]:
    """The payload errors for a domain refusal (one per field error)."""
    errors = err.errors if isinstance(err, ValidationFailed) else (err,)
    return [UserError(field=e.field, code=ErrorCode(e.code), message=e.message) for e in errors]
