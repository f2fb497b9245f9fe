"""Expected failures: a code, a human message (Chinese for users) and the field at fault."""

from __future__ import annotations


class DomainError(Exception):
    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" + (f" ({self.field})" if self.field else "")


NOT_FOUND = "NOT_FOUND"
INVALID = "INVALID"
DUPLICATE = "DUPLICATE"
