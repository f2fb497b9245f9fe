"""A customer's ledger history, its record as of a past moment, and its completeness.

Personal values are only ever shown masked: history entries carry the ledger's masked form
(``domain.vault.shown``), the past record goes through ``present_record``.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import strawberry
from sqlalchemy.orm import Session
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON

from domain.completeness import customer_completeness
from domain.customers.present import present_record
from domain.errors import INVALID, DomainError
from domain.ledger import HistoryEntry, histories, record_as_of
from domain.models import Customer as CustomerRow
from domain.tickets.engine import default_calendar
from domain.workcal import WorkingCalendar
from schema.context import Info

MAX_HISTORY = 200
SHANGHAI = ZoneInfo("Asia/Shanghai")


@strawberry.type(description="修改台帐的一条记录；个人敏感信息只以脱敏形式出现")
class LedgerEntry:
    at: dt.datetime
    actor: str | None = strawberry.field(description="修改人（系统修改时为空）")
    source: str = strawberry.field(
        description="edit | ticket | classification | close | merge | import | system"
    )
    ticket_id: int | None
    field: str = strawberry.field(description="字段键，如 contact_person")
    label: str = strawberry.field(description="字段中文名")
    old: JSON | None = strawberry.field(description="原值（JSON 形式）")
    new: JSON | None = strawberry.field(description="新值（JSON 形式）")


@strawberry.type(description="档案完整率（国家局字段与省局字段分开计数）")
class Completeness:
    national_filled: int
    national_total: int
    provincial_filled: int
    provincial_total: int
    ratio: float = strawberry.field(description="已填字段 / 应填字段（0…1）")
    missing: list[str] = strawberry.field(description="未填的应填字段键，按目录顺序")
    due_on: dt.date | None = strawberry.field(
        description="新户须录入完整的日期（入网后 5 个工作日）"
    )
    overdue: bool


def _entry(e: HistoryEntry) -> LedgerEntry:
    return LedgerEntry(
        at=e.at, actor=e.actor, source=e.source, ticket_id=e.ticket_id, field=e.field_key,
        label=e.label_zh, old=e.old, new=e.new,
    )  # fmt: skip


def history_loader(session: Session) -> DataLoader[tuple[int, int], list[LedgerEntry]]:
    """Keys ``(customer_id, limit)``; newest first, one statement for a whole page."""

    async def load(keys: list[tuple[int, int]]) -> list[list[LedgerEntry]]:
        ids, most = sorted({k for k, _ in keys}), max(n for _, n in keys)
        found = histories(session, ids, limit=most)
        return [[_entry(e) for e in found[i][:n]] for i, n in keys]

    return DataLoader(load)


async def customer_history(info: Info, customer_id: int, limit: int) -> list[LedgerEntry]:
    if not 1 <= limit <= MAX_HISTORY:
        raise DomainError(INVALID, f"limit 须在 1 到 {MAX_HISTORY} 之间", "limit")
    return await info.context.loaders["customer_history"].load((customer_id, limit))  # type: ignore[no-any-return]


def record_at(info: Info, row: CustomerRow, at: dt.datetime) -> dict[str, Any]:
    """The record as it stood at ``at``, personal fields masked."""
    if at.tzinfo is None:
        raise DomainError(INVALID, "时间须带时区，例如 2026-11-01T08:00:00+08:00", "at")
    ctx = info.context
    return present_record(record_as_of(ctx.session, row, at, ctx.vault))


@cache
def _calendar() -> WorkingCalendar:
    """The working calendar (repository overrides file), built once per process."""
    return default_calendar()


def completeness_of(info: Info, row: CustomerRow) -> Completeness:
    """Completeness as of today's date in Asia/Shanghai."""
    calendar = _calendar()
    today = info.context.now.astimezone(SHANGHAI).date()
    c = customer_completeness(row, calendar=calendar, today=today)
    return Completeness(
        national_filled=c.national_filled, national_total=c.national_total,
        provincial_filled=c.provincial_filled, provincial_total=c.provincial_total,
        ratio=c.ratio, missing=list(c.missing), due_on=c.due_on, overdue=c.overdue,
    )  # fmt: skip
