"""Relay-style connections: `first` capped at 200, opaque offset cursors, `totalCount`."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import strawberry
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from strawberry.types.nodes import SelectedField, Selection

from domain.errors import INVALID, DomainError

if TYPE_CHECKING:
    from schema.context import Info

MAX_FIRST = 200
DEFAULT_FIRST = 50
T = TypeVar("T")


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        kind, _, raw = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind != "o" or not raw.isdigit():
            raise ValueError
        return int(raw) + 1
    except (ValueError, UnicodeDecodeError):
        raise DomainError(INVALID, "无效的分页游标", "after") from None


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_FIRST
    if not 0 <= first <= MAX_FIRST:
        raise DomainError(INVALID, f"first 须在 0 到 {MAX_FIRST} 之间", "first")
    return first


def _fields(selections: Sequence[Selection]) -> list[SelectedField]:
    """The fields of a selection, those in fragments included."""
    out: list[SelectedField] = []
    for s in selections:
        if isinstance(s, SelectedField):
            out.append(s)
        else:
            out += _fields(s.selections)
    return out


def selected_names(selections: Sequence[Selection], *path: str) -> set[str]:
    """The names of the fields selected along ``path`` (e.g. "edges", "node" below a
    connection), through fragments; @skip and @include are not evaluated (a superset)."""
    fields = _fields(selections)
    for name in path:
        fields = _fields([c for f in fields if f.name == name for c in f.selections])
    return {f.name for f in fields}


def wants_total(info: Info) -> bool:
    """Whether the connection this resolver returns is asked for its ``totalCount``."""
    return any("totalCount" in selected_names(f.selections) for f in info.selected_fields)


def page(
    info: Info, session: Session, stmt: Select[Any], order: Sequence[Any], size: int, offset: int
) -> tuple[list[Any], bool, int]:
    """A page of ``stmt`` (rows, has next page, total). The total is counted only when the
    query asks for ``totalCount``; the next page is known by fetching one row more."""
    rows = list(session.scalars(stmt.order_by(*order).offset(offset).limit(size + 1)))
    has_next = len(rows) > size
    rows = rows[:size]
    total = (
        (session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
        if wants_total(info)
        else 0
    )
    return rows, has_next, total
