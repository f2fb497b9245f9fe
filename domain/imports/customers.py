"""Importing customer records from a file of the basic-information table (客户基础信息表).

Every row is checked against the catalogue (formats, choices, required fields of a new
record, cross-field rules), then all rows at once against each other and the database
(codes and licence numbers, route places, the service area, references). Nothing is
written unless every row passed, or the caller asked to import the valid rows. The records
and their ledger are written in the caller's transaction, which also marks the import
``done``: a killed import commits nothing (see ``domain.imports.registry``).
"""

from __future__ import annotations

import psycopg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain.catalogue import catalogue
from domain.errors import DUPLICATE, INVALID, DomainError
from domain.imports.checks import check_database, check_in_file
from domain.imports.columns import map_columns
from domain.imports.files import Table
from domain.imports.load import insert_rows
from domain.imports.registry import finish_import, lock_import, start_import
from domain.imports.report import HEADER_ROW, RowIssue, issue_from, sorted_issues
from domain.imports.result import ImportResult, Progress, quiet, refuse
from domain.imports.rows import Row, make_plan, read_rows
from domain.vault import Vault

REGION = "admin_region"


def _validate(session: Session, table: Table, rows: list[Row], say: Progress) -> None:
    plan = make_plan(catalogue())
    say("数据库校验", 0, 1)
    check_in_file(rows, plan)
    regions = check_database(session, rows, plan)
    for row in rows:
        if not row.errors and REGION not in row.values and row.number in regions:
            row.values[REGION] = regions[row.number]
    say("数据库校验", 1, 1)


def import_customers(
    session: Session,
    table: Table,
    *,
    import_id: int,
    vault: Vault,
    all_valid: bool = False,
    progress: Progress | None = None,
    check_only: bool = False,
) -> ImportResult:
    """Validate the file's rows and insert them as new customers with their ledger.

    ``import_id``: a ``running`` import (``start_import``), locked here for the rest of the
    transaction. With errors and without ``all_valid`` nothing is written and the import's
    row is deleted; the result lists every finding. With ``check_only`` the rows are only
    checked (the findings are the import's: every check runs before anything is written)
    and nothing is written. Does not commit.
    """
    say = progress or quiet
    run = lock_import(session, import_id)
    specs = catalogue()
    labels = {s.key: s.label_zh for s in specs}
    order = {s.key: s.position for s in specs}
    try:
        cols = map_columns(table.header, specs)
    except DomainError as exc:
        issue = issue_from(HEADER_ROW, exc, labels)
        return refuse(session, import_id, len(table.rows), len(table.rows), (issue,))
    warnings = tuple(cols.warnings)
    total = len(table.rows)
    if not total:
        issue = RowIssue(HEADER_ROW, "", "", INVALID, "文件中没有数据行")
        return refuse(session, import_id, 0, 0, (issue,), warnings)
    rows = read_rows(table.rows, cols, specs, lambda n: say("逐行校验", n, total))
    say("逐行校验", total, total)
    _validate(session, table, rows, say)
    issues = sorted_issues((issue_from(r.number, e, labels) for r in rows for e in r.errors), order)
    good = [r for r in rows if not r.errors]
    refused = total - len(good)
    if not good or (refused and not all_valid):
        return refuse(session, import_id, total, refused, issues, warnings)
    if check_only:
        return ImportResult(import_id, total, len(good), refused, issues, warnings)
    try:
        ids = insert_rows(
            session, good, specs, run=run, vault=vault,
            tick=lambda n: say("写入客户和台帐", n, len(good)),
        )  # fmt: skip
    except (IntegrityError, psycopg.errors.IntegrityError):
        # another import or edit took a code or licence number after the checks above
        raise DomainError(
            DUPLICATE, "导入期间客户代码或许可证号已被其他操作占用，请重新导入"
        ) from None
    finish_import(session, run, total=total, refused=refused, inserted=len(good))
    return ImportResult(
        import_id, total, len(good), refused, issues, warnings, tuple(ids), inserted=len(good)
    )


def import_customers_now(
    session: Session,
    table: Table,
    *,
    actor_name: str,
    vault: Vault,
    actor_id: int | None = None,
    all_valid: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Start and run an import in one transaction (no ``running`` row visible outside)."""
    run = start_import(
        session, kind="customers", file_name=table.name, sha256=table.sha256,
        actor_name=actor_name, actor_id=actor_id,
    )  # fmt: skip
    return import_customers(
        session, table, import_id=run.id, vault=vault, all_valid=all_valid, progress=progress
    )
