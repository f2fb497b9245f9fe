"""Writing the accepted rows: customers by COPY, then their ledger.

Ids are drawn from the customers' sequence first, so the rows are rendered in Python
without a round trip per row. Each record gets one ledger entry (source ``import``,
``domain.ledger.IMPORT_RECORD``) holding all its non-empty fields in the stored form of
every other path, and the import's request id ties it to the import's row: personal fields
sealed by the vault here, a column at a time, and sent by COPY into a temporary table, the
rest built by the database in the INSERT … SELECT that writes the entries of each chunk
of 10,000 records (``domain.imports.ledger_sql``), while Python seals the next chunk.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import psycopg
from geoalchemy2 import WKTElement
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy.orm import Session

from domain.access.rowsecurity import city_copy
from domain.catalogue import FieldSpec
from domain.demo.pgcopy import NULL, escape
from domain.imports.ledger_sql import RENDERED, by_database, create_rendered, write_import_records
from domain.imports.rows import Row
from domain.imports.sqlconn import driver
from domain.models import Import
from domain.values import to_json
from domain.vault import Vault

CHUNK = 2_000
LEDGER_CHUNK = 10_000
# types whose stored value is a str (see domain.catalogue.normalise)
TEXT_TYPES = frozenset(
    {"text", "image", "enum", "code12", "digits12", "phone", "id_number", "bank_account"}
)
RENDERED_COLUMNS = ("customer_id", "fields")
Tick = Callable[[int], None]


def copy_text(text: str) -> str:
    """``escape``, skipped for the usual text that holds nothing to escape."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return escape(text)
    return text


def copy_value(value: Any) -> str:
    """A stored value in COPY text format."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, WKTElement):
        return f"SRID={value.srid};{value.data}"
    if isinstance(value, dict):
        return escape(json.dumps(value, ensure_ascii=False))
    return copy_text(str(value))


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def copy_chunks(
    raw: psycopg.Connection[Any], table: str, names: Sequence[str], chunks: Iterator[str]
) -> None:
    """COPY with the sending done by a thread, so the next chunk is rendered while the
    server digests the last one."""
    sql = f"COPY {table} ({', '.join(names)}) FROM STDIN"
    with raw.cursor() as cur, cur.copy(sql, writer=QueuedLibpqWriter(cur)) as copy:
        for data in chunks:
            copy.write(data)


def allocate_ids(session: Session, n: int) -> list[int]:
    sql = "SELECT nextval(pg_get_serial_sequence('customers', 'id')) FROM generate_series(1, %s)"
    with driver(session).cursor() as cur:
        cur.execute(sql, (n,))
        return [int(i) for (i,) in cur.fetchall()]


def _renderer(spec: FieldSpec) -> Callable[[Any], str]:
    """The COPY text of the field's stored values: by its type, chosen once per column."""
    if spec.type in TEXT_TYPES:
        return copy_text  # the normalisers give str for these types
    return copy_value


def _customer_lines(
    rows: Sequence[Row], ids: Sequence[int], specs: Sequence[FieldSpec]
) -> Iterator[str]:
    """Chunks of COPY text, rendered column by column."""
    renderers = [(s.key, _renderer(s)) for s in specs]
    for lo in range(0, len(rows), CHUNK):
        part = rows[lo : lo + CHUNK]
        columns = [[str(i) for i in ids[lo : lo + CHUNK]]]
        for key, render in renderers:
            values = [r.values.get(key) for r in part]
            columns.append([NULL if v is None else render(v) for v in values])
        columns.append([copy_value(r.location_input) for r in part])
        yield "".join("\t".join(cells) + "\n" for cells in zip(*columns, strict=True))


def _json_copy(value: Any) -> str:
    """A JSON value in COPY text: its encoding escapes every control character, so only
    the backslash needs doubling."""
    return _ENCODE(value).replace("\\", "\\\\")


def _rendered_lines(
    rows: Sequence[Row], ids: Sequence[int], specs: Sequence[FieldSpec], vault: Vault
) -> str:
    """COPY text of ``RENDERED`` for these rows: each record's fields the database cannot
    render, in stored form (personal values sealed, a column at a time), as one JSON object
    (NULL: none)."""
    records: list[dict[str, Any]] = [{} for _ in rows]
    for spec in specs:
        values = [r.values.get(spec.key) for r in rows]
        if spec.personal:
            stored = vault.seal_many(spec.type, [to_json(spec, v) for v in values])
        else:
            stored = [to_json(spec, v) for v in values]
        for record, value in zip(records, stored, strict=True):
            if value is not None:
                record[spec.key] = value
    return "".join(
        f"{cid}\t{_json_copy(r) if r else NULL}\n" for cid, r in zip(ids, records, strict=True)
    )


def write_ledger(
    session: Session, rows: Sequence[Row], ids: Sequence[int], specs: Sequence[FieldSpec],
    *, run: Import, vault: Vault, tick: Tick | None = None,
) -> None:  # fmt: skip
    """The records' ledger entries, a chunk at a time: the database writes one chunk (COPY
    of its rendered fields, INSERT … SELECT) while Python seals the next. ``tick`` is told
    the records written so far after each chunk (and may raise to stop)."""
    rendered = [s for s in specs if not by_database(s)]
    in_sql = [s for s in specs if by_database(s)]
    raw = driver(session)
    create_rendered(session)

    def write(lines: str) -> None:
        copy_chunks(raw, RENDERED, RENDERED_COLUMNS, iter([lines]))
        # ``at`` is left to the column default: the transaction's time, one for the import
        write_import_records(session, in_sql, actor_id=run.actor_id, request_id=run.request_id)

    with ThreadPoolExecutor(max_workers=1) as database:  # the session's one user meanwhile
        pending: Future[None] | None = None
        for lo in range(0, len(rows), LEDGER_CHUNK):
            hi = lo + LEDGER_CHUNK
            lines = _rendered_lines(rows[lo:hi], ids[lo:hi], rendered, vault)
            if pending is not None:
                pending.result()
                if tick is not None:
                    tick(lo)
            pending = database.submit(write, lines)
        if pending is not None:
            pending.result()


def insert_rows(
    session: Session,
    rows: Sequence[Row],
    specs: Sequence[FieldSpec],
    *,
    run: Import,
    vault: Vault,
    tick: Tick | None = None,
) -> list[int]:
    """Insert the rows as new customers with their ledger; their ids, in row order."""
    if not rows:
        return []
    present = set().union(*(r.values.keys() for r in rows))
    used = [s for s in specs if s.key in present]
    if tick is not None:
        tick(0)
    ids = allocate_ids(session, len(rows))
    names = ["id", *(s.column for s in used), "location_input"]
    with city_copy(session):  # COPY is refused under row-level security (city roles only)
        copy_chunks(driver(session), "customers", names, _customer_lines(rows, ids, used))
    write_ledger(session, rows, ids, used, run=run, vault=vault, tick=tick)
    if tick is not None:
        tick(len(rows))
    return ids
