"""Export a filtered customer list (``CustomerQuery``) to XLSX or CSV, streamed, masked by
the caller's role, and logged (``export_logs``: who, what filter, how many rows).

The rows come from one server-side cursor in batches of plain column tuples (no ORM
objects), and go straight to the file (openpyxl write-only, or csv): memory stays flat
however many shops the list holds. The log row is added in the caller's transaction, so
an export whose transaction is not committed leaves no log and, by design, should not be
handed out: the transport commits, then serves the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from domain.access import Principal
from domain.customers.listing import CustomerQuery, count_customers, customer_select
from domain.exports.cells import csv_cell, export_columns, revealed_keys
from domain.exports.writers import check_format, open_sink
from domain.imports.result import Progress, quiet
from domain.models import ExportLog

BATCH = 2_000
SHEET_TITLE = "客户档案"
PHASE = "导出客户档案"


@dataclass(frozen=True)
class ExportResult:
    log_id: int
    rows: int
    revealed: tuple[str, ...]  # personal fields exported unmasked


def export_customers(
    session: Session,
    principal: Principal,
    query: CustomerQuery,
    out: BinaryIO,
    *,
    fmt: str,
    file_name: str | None = None,
    progress: Progress | None = None,
) -> ExportResult:
    """Write the customers of ``query`` in the caller's scope to ``out`` (xlsx or csv) and
    log the export. Refuses a bad format or filter (DomainError) before writing anything.
    Does not commit; ``out`` is left open."""
    check_format(fmt)
    say = progress or quiet
    total = count_customers(session, principal, query)  # also checks the query
    columns = export_columns(principal)
    selected = [c for col in columns for c in col.columns]
    stmt = customer_select(principal, query).with_only_columns(
        *selected, maintain_column_froms=True
    )
    spans: list[tuple[int, int]] = []
    at = 0
    for col in columns:
        spans.append((at, at + len(col.columns)))
        at += len(col.columns)
    sink = open_sink(out, fmt, SHEET_TITLE)
    sink.row([c.spec.label_zh for c in columns])
    written = 0
    say(PHASE, 0, total)
    result = session.execute(stmt.execution_options(yield_per=BATCH))
    for values in result:
        cells: list[Any] = [
            col.render(values[a:b]) for col, (a, b) in zip(columns, spans, strict=True)
        ]
        sink.row([csv_cell(c) for c in cells] if fmt == "csv" else cells)
        written += 1
        if written % BATCH == 0:
            say(PHASE, written, total)
    sink.close()
    say(PHASE, written, max(total, written))
    revealed = revealed_keys(principal)
    log = ExportLog(
        user_id=principal.user_id, kind="customers", format=fmt, filter=query.describe(),
        row_count=written, revealed=revealed, file_name=file_name,
        request_id=principal.request_id,
    )  # fmt: skip
    session.add(log)
    session.flush()
    return ExportResult(log.id, written, tuple(revealed))
