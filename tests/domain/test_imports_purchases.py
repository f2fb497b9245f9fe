"""Purchase import: an idempotent upsert per (shop, month); bad rows reported, nothing
changed on a refusal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from domain.imports import import_purchases_now, read_table
from domain.models import Import, PurchaseRecord
from tests.import_data import write_csv, write_xlsx

HEADER = ["客户代码", "月份", "进货数量(条)", "进货金额(元)", "经营品种数"]


def _codes(session: Session, n: int) -> list[str]:
    return list(
        session.scalars(text("SELECT customer_code FROM customers ORDER BY id LIMIT :n"), {"n": n})
    )


def _records(session: Session) -> list[tuple[Any, ...]]:
    rows = session.execute(
        select(PurchaseRecord.customer_id, PurchaseRecord.month, PurchaseRecord.cartons,
               PurchaseRecord.amount_yuan, PurchaseRecord.brand_count)
        .order_by(PurchaseRecord.customer_id, PurchaseRecord.month)
    )  # fmt: skip
    return [tuple(r) for r in rows]


def _imports(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Import)) or 0


def test_a_repeated_purchase_import_changes_nothing(city: Session, tmp_path: Path) -> None:
    # given a file of two new months for three shops (2026-11 is not in the demo data), and
    # one correction of a month the demo city has
    codes = _codes(city, 3)
    rows = [[c, m, "52.5", "8450.00", 31] for c in codes for m in ("2026-11", "2026-12")]
    rows.append([codes[0], "2026-10", "1.0", "100.00", 1])
    path = write_csv(tmp_path / "p.csv", HEADER, rows)
    # when importing it
    first = import_purchases_now(city, read_table(path), actor_name="t")
    # then six rows are new and one month is updated
    assert (first.inserted, first.updated, first.unchanged, first.refused) == (6, 1, 0, 0)
    after_first = _records(city)
    # when importing the same file again (CSV or the same rows as XLSX)
    again = import_purchases_now(city, read_table(path), actor_name="t")
    xlsx = write_xlsx(tmp_path / "p.xlsx", HEADER, rows)
    as_xlsx = import_purchases_now(city, read_table(xlsx), actor_name="t")
    # then nothing changes
    for result in (again, as_xlsx):
        assert (result.inserted, result.updated, result.unchanged) == (0, 0, 7)
    assert _records(city) == after_first
    run = city.get(Import, again.import_id)
    assert run is not None
    assert (run.kind, run.status, run.rows_unchanged, run.rows_inserted) == (
        "purchases",
        "done",
        7,
        0,
    )


def test_bad_purchase_rows_are_reported_and_nothing_changes(city: Session, tmp_path: Path) -> None:
    # given rows with an unknown code, a bad month, a negative number, a shop-month twice
    code = _codes(city, 1)[0]
    rows = [
        [code, "2026-11", "10", "1000", 5],
        ["999999999999", "2026-11", "10", "1000", 5],
        [code, "2026-13", "10", "1000", 5],
        [code, "2026-12", "-3", "1000", 5],
        [code, "2026-11", "11", "1000", 5],
        [code, "2027-01", "1.25", "abc", -1],
    ]
    path = write_csv(tmp_path / "bad.csv", HEADER, rows)
    before, imports = _records(city), _imports(city)
    # when importing
    result = import_purchases_now(city, read_table(path), actor_name="t")
    # then each finding is reported and nothing is written
    assert [i.cells() for i in result.issues] == [
        (3, "customer_code", "客户代码", "NOT_FOUND", "客户代码不存在"),
        (4, "month", "月份", "INVALID_FORMAT", "月份须为YYYY-MM（如2026-10）"),
        (5, "cartons", "进货数量(条)", "OUT_OF_RANGE", "进货数量(条)不能为负数"),
        (6, "month", "月份", "DUPLICATE", "月份与第2行重复（同一客户同一月份）"),
        (7, "cartons", "进货数量(条)", "INVALID_FORMAT", "进货数量(条)最多保留1位小数"),
        (7, "amount_yuan", "进货金额(元)", "INVALID_FORMAT", "进货金额(元)须为数字"),
        (7, "brand_count", "经营品种数", "OUT_OF_RANGE", "经营品种数不能为负数"),
    ]
    assert (result.import_id, result.refused) == (None, 5)
    assert _records(city) == before and _imports(city) == imports
    # and with all_valid only the good row is written
    result = import_purchases_now(city, read_table(path), actor_name="t", all_valid=True)
    assert (result.inserted, result.refused) == (1, 5)
    assert len(_records(city)) == len(before) + 1
