"""A county's list of changes becomes one bulk-change ticket (大批量客户档案信息维护).

``create_bulk_change`` checks every row and field of the file (see ``domain.bulkchange.read``)
and the caller's rights and scope; with any finding nothing is created and the findings
come back per row and field. Otherwise one ``bulk_change`` ticket holds one change per
(shop, field), old and new value (personal ones sealed), and the version of every shop,
so a shop changed meanwhile makes the ticket stale at approval (``domain.bulkchange.apply``).
All shops of one ticket are in one county: that county verifies the applied change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import insert
from sqlalchemy.orm import Session

from domain.access import Principal, role_rights
from domain.bulkchange.read import (
    KEY,
    ShopChange,
    header_issues,
    in_file_duplicates,
    load_shops,
    missing_shop,
    read_change,
)
from domain.catalogue import catalogue, field
from domain.errors import DUPLICATE, FORBIDDEN, INCONSISTENT, INVALID, NO_CHANGE, DomainError
from domain.imports.columns import map_columns
from domain.imports.files import Table
from domain.imports.report import HEADER_ROW, RowIssue, issue_from, sorted_issues
from domain.imports.result import Progress, quiet
from domain.ledger import stored_form
from domain.models import Region, Ticket, TicketChange
from domain.tickets.engine import open_ticket
from domain.vault import Vault

TYPE_KEY = "bulk_change"
MAX_ROWS = 10_000
PHASE = "逐行校验"


@dataclass(frozen=True)
class BulkChangeResult:
    """The ticket (None when the file was refused), what it holds, and the findings."""

    ticket_id: int | None
    rows: int
    shops: int
    changes: int
    issues: tuple[RowIssue, ...]


def _refused(rows: int, issues: Sequence[RowIssue]) -> BulkChangeResult:
    order = {s.key: s.position for s in catalogue()}
    return BulkChangeResult(None, rows, 0, 0, sorted_issues(issues, order))


def _may_file(principal: Principal) -> None:
    if role_rights(principal.role).scope not in ("county", "city"):
        raise DomainError(FORBIDDEN, "批量变更单由县区营销部或营销中心提交", "user")


def _file_issue(code: str, text: str, key: str = "") -> RowIssue:
    return RowIssue(HEADER_ROW, key, "", code, text)


def _read_rows(
    session: Session, principal: Principal, table: Table, say: Progress
) -> tuple[list[ShopChange], list[RowIssue]]:
    cols = map_columns(table.header, catalogue())
    issues = header_issues(principal, cols)
    if issues:
        return [], issues
    key_index = next(i for i, s in cols.fields.items() if s.key == KEY)
    codes = {n: _code(cells, key_index) for n, cells in table.rows}
    shops = load_shops(session, principal, [c for c in codes.values() if c])
    labels = {s.key: s.label_zh for s in catalogue()}
    seen: dict[str, int] = {}
    changes: list[ShopChange] = []
    total = len(table.rows)
    for done, (number, cells) in enumerate(table.rows, start=1):
        code = codes[number]
        if code is None:
            issues.append(RowIssue(number, KEY, labels[KEY], "REQUIRED", "客户代码不能为空"))
        elif code in seen:
            text = f"客户代码与第{seen[code]}行重复，每家客户只能占一行"
            issues.append(RowIssue(number, KEY, labels[KEY], DUPLICATE, text))
        elif code not in shops:
            issues.append(issue_from(number, missing_shop(code), labels))
        else:
            seen[code] = number
            change, errors = read_change(session, number, cells, cols, shops[code])
            issues.extend(issue_from(number, e, labels) for e in errors)
            if change is not None:
                changes.append(change)
        if done % 200 == 0:
            say(PHASE, done, total)
    say(PHASE, total, total)
    issues.extend(issue_from(n, e, labels) for n, e in in_file_duplicates(changes))
    return changes, issues


def _code(cells: tuple[object, ...], index: int) -> str | None:
    raw = cells[index] if index < len(cells) else None
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    return str(raw).strip()


def _one_county(changes: Sequence[ShopChange]) -> tuple[int | None, list[RowIssue]]:
    regions = {c.customer.admin_region_id for c in changes}
    if len(regions) == 1:
        return regions.pop(), []
    text = "一张批量变更单只能包含同一县区的客户，本文件涉及多个县区，请按县区分开提交"
    return None, [_file_issue(INCONSISTENT, text, KEY)]


def create_bulk_change(
    session: Session,
    principal: Principal,
    table: Table,
    *,
    vault: Vault,
    now: dt.datetime,
    title: str | None = None,
    reason: str | None = None,
    progress: Progress | None = None,
) -> BulkChangeResult:
    """One ``bulk_change`` ticket with the file's changes, or (nothing created) the findings
    of every refused row and field. Does not commit."""
    _may_file(principal)
    say = progress or quiet
    total = len(table.rows)
    if not total:
        return _refused(0, [_file_issue(INVALID, "文件中没有数据行")])
    if total > MAX_ROWS:
        return _refused(total, [_file_issue(INVALID, f"一次最多 {MAX_ROWS:,} 行，请分批提交")])
    try:
        changes, issues = _read_rows(session, principal, table, say)
    except DomainError as exc:  # two columns for one field: the header is unusable
        return _refused(total, [issue_from(HEADER_ROW, exc, {})])
    if issues:
        return _refused(total, issues)
    changes = [c for c in changes if c.values]
    if not changes:
        return _refused(
            total, [_file_issue(NO_CHANGE, "文件中的值与现有档案相同，没有需要变更的内容")]
        )
    region_id, issues = _one_county(changes)
    if issues:
        return _refused(total, issues)
    ticket = _open(session, principal, table, changes, region_id, vault, now, title, reason)
    n_changes = sum(len(c.values) for c in changes)
    return BulkChangeResult(ticket.id, total, len(changes), n_changes, ())


def _open(
    session: Session, principal: Principal, table: Table, changes: Sequence[ShopChange],
    region_id: int | None, vault: Vault, now: dt.datetime, title: str | None,
    reason: str | None,
) -> Ticket:  # fmt: skip
    n_changes = sum(len(c.values) for c in changes)
    region = session.get(Region, region_id) if region_id is not None else None
    default_title = f"{region.name if region else ''}批量变更（{len(changes)}户，{n_changes}项）"
    payload = {
        "file": table.name, "sha256": table.sha256, "shops": len(changes),
        "changes": n_changes,
        "versions": {str(c.customer.id): c.customer.version for c in changes},
        "locationInputs": {
            str(c.customer.id): c.location_input for c in changes
            if c.location_input is not None and "location" in c.values
        },
    }  # fmt: skip
    ticket = open_ticket(
        session, principal, type_key=TYPE_KEY, customer=None, values={}, vault=vault, now=now,
        reason=reason, title=(title or "").strip() or default_title, region_id=region_id,
        payload=payload,
    )  # fmt: skip
    rows = [
        {"ticket_id": ticket.id, "customer_id": c.customer.id, "field_key": key,
         "old_value": stored_form(field(key), getattr(c.customer, field(key).column), vault),
         "new_value": stored_form(field(key), value, vault)}
        for c in sorted(changes, key=lambda c: c.customer.id)
        for key, value in c.values.items()
    ]  # fmt: skip
    session.execute(insert(TicketChange), rows)
    session.flush()
    return ticket
