"""The outcome of an import, shared by the customer and purchase imports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from domain.imports.registry import discard_import
from domain.imports.report import RowIssue

# (phase in Chinese, done, total): for a progress bar; the domain prints nothing itself.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ImportResult:
    """What an import did. ``import_id`` is None when nothing was imported (the import's
    row is then removed too); ``issues`` are the refused rows' findings, ``warnings`` the
    ignored columns."""

    import_id: int | None
    total: int
    imported: int
    refused: int
    issues: tuple[RowIssue, ...]
    warnings: tuple[RowIssue, ...] = ()
    customer_ids: tuple[int, ...] = ()
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def quiet(_phase: str, _done: int, _total: int) -> None:
    return None


def refuse(
    session: Session, import_id: int, total: int, refused: int, issues: tuple[RowIssue, ...],
    warnings: tuple[RowIssue, ...] = (),
) -> ImportResult:  # fmt: skip
    discard_import(session, import_id)
    return ImportResult(None, total, 0, refused, issues, warnings)
