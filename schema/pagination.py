"""Relay-style connections: `first` capped at 200, opaque offset cursors, `totalCount`."""

from __future__ import annotations

import base64
from typing import Generic, TypeVar

import strawberry

from domain.errors import INVALID, DomainError

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
