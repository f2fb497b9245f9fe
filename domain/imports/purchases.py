"""Importing monthly purchase records (月度进货数据) as an idempotent upsert per shop and month.

The distribution system sends the same month again when it corrects it, so a row updates
the stored month only when a figure differs, and a repeated file changes nothing: the
result says how many rows were inserted, updated and left unchanged. Unknown customer
codes, bad months, negative or malformed numbers and a shop-month given twice are refused
per row; as for customers, nothing is written unless all rows pass or ``all_valid``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.demo.pgcopy import copy_rows
from domain.errors import DUPLICATE, INVALID, NOT_FOUND, DomainError
from domain.imports.files import Table
from domain.imports.purchase_rows import (
    LABELS,
    PurchaseRow,
    map_purchase_columns,
    read_purchase_row,
)
from domain.imports.registry import finish_import, lock_import, start_import
from domain.imports.report import HEADER_ROW, RowIssue, issue_from, sorted_issues
from domain.imports.result import ImportResult, Progress, quiet, refuse
from domain.imports.sqlconn import driver

STAGE = "import_purchases"
ORDER = {k: i for i, k in enumerate(LABELS)}
UPSERT = f"""
WITH src AS (
    SELECT c.id AS customer_id, s.month, s.cartons, s.amount_yuan, s.brand_count
    FROM {STAGE} s JOIN customers c ON c.customer_code = s.code
), up AS (
    INSERT INTO purchase_records AS p (customer_id, month, cartons, amount_yuan, brand_count)
    SELECT * FROM src
    ON CONFLICT (customer_id, month) DO UPDATE
    SET cartons = EXCLUDED.cartons, amount_yuan = EXCLUDED.amount_yuan,
        brand_count = EXCLUDED.brand_count
    WHERE (p.cartons, p.amount_yuan, p.brand_count)
          IS DISTINCT FROM (EXCLUDED.cartons, EXCLUDED.amount_yuan, EXCLUDED.brand_count)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up"""


def _check_in_file(rows: Sequence[PurchaseRow]) -> None:
    first: dict[tuple[str, Any], int] = {}
    for row in rows:
        if row.code is None or row.month is None:
            continue
        key = (row.code, row.month)
        if key in first:
            row.refuse("month", DUPLICATE, f"与第{first[key]}行重复（同一客户同一月份）")
        else:
            first[key] = row.number


def _stage(session: Session, rows: Sequence[PurchaseRow]) -> None:
    session.execute(text(f"DROP TABLE IF EXISTS {STAGE}"))
    session.execute(
        text(
            f"CREATE TEMP TABLE {STAGE} (row_no int PRIMARY KEY, code text, month date,"
            " cartons numeric(10, 1), amount_yuan numeric(14, 2), brand_count int) ON COMMIT DROP"
        )
    )
    columns = ("row_no", "code", "month", "cartons", "amount_yuan", "brand_count")
    records = (
        (r.number, r.code, r.month, r.cartons, r.amount_yuan, r.brand_count)
        for r in rows
        if r.code is not None
    )
    copy_rows(driver(session), STAGE, columns, records)


def _check_codes(session: Session, rows: Sequence[PurchaseRow]) -> None:
    unknown = set(
        session.scalars(
            text(
                f"SELECT s.row_no FROM {STAGE} s WHERE NOT EXISTS"
                " (SELECT 1 FROM customers c WHERE c.customer_code = s.code)"
            )
        )
    )
    for row in rows:
        if row.number in unknown:
            row.refuse("customer_code", NOT_FOUND, "不存在")


def import_purchases(
    session: Session,
    table: Table,
    *,
    import_id: int,
    all_valid: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Validate the rows and upsert them into ``purchase_records``. Does not commit."""
    say = progress or quiet
    run = lock_import(session, import_id)
    total = len(table.rows)
    try:
        columns, warnings = map_purchase_columns(table.header)
    except DomainError as exc:
        issue = issue_from(HEADER_ROW, exc, LABELS)
        return refuse(session, import_id, total, total, (issue,))
    if not total:
        issue = RowIssue(HEADER_ROW, "", "", INVALID, "文件中没有数据行")
        return refuse(session, import_id, 0, 0, (issue,), tuple(warnings))
    say("逐行校验", 0, total)
    rows = [read_purchase_row(n, cells, columns) for n, cells in table.rows]
    _check_in_file(rows)
    _stage(session, rows)
    _check_codes(session, rows)
    say("逐行校验", total, total)
    issues = sorted_issues((issue_from(r.number, e, LABELS) for r in rows for e in r.errors), ORDER)
    bad = [r.number for r in rows if r.errors]
    if len(bad) == total or (bad and not all_valid):
        return refuse(session, import_id, total, len(bad), issues, tuple(warnings))
    session.execute(text(f"DELETE FROM {STAGE} WHERE row_no = ANY(:bad)"), {"bad": bad})
    say("写入进货记录", 0, 1)
    inserted, updated = session.execute(text(UPSERT)).one()
    session.execute(text(f"DROP TABLE {STAGE}"))
    say("写入进货记录", 1, 1)
    good = total - len(bad)
    unchanged = good - inserted - updated
    finish_import(
        session, run, total=total, refused=len(bad), inserted=inserted, updated=updated,
        unchanged=unchanged,
    )  # fmt: skip
    return ImportResult(
        import_id, total, good, len(bad), issues, tuple(warnings),
        inserted=inserted, updated=updated, unchanged=unchanged,
    )  # fmt: skip


def import_purchases_now(
    session: Session, table: Table, *, actor_name: str, all_valid: bool = False
) -> ImportResult:
    """Start and run a purchase import in one transaction."""
    run = start_import(
        session, kind="purchases", file_name=table.name, sha256=table.sha256,
        actor_name=actor_name,
    )  # fmt: skip
    return import_purchases(session, table, import_id=run.id, all_valid=all_valid)
