"""The import's ledger entries for the fields that are not personal, built by the database
from the rows just inserted: one INSERT … SELECT instead of millions of values rendered in
Python. Each value is the JSON form ``domain.values.to_json`` gives (dates as ISO strings,
decimals as exact strings without trailing zeros, points as GeoJSON with the stored
doubles, references as ids); a test compares the two for every imported field. Personal
fields are sealed by the vault in Python (``domain.imports.load``), as everywhere else.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.catalogue import FieldSpec

PAIRS_PER_CALL = 40  # jsonb_build_object takes at most 100 arguments
SQL_TYPES = frozenset(
    {"code12", "digits12", "text", "image", "date", "point", "enum", "decimal", "int"}
    | {"weekday", "scale", "bank_account", "phone", "id_number", "json", "bool"}
)


def sql_json(spec: FieldSpec) -> str:
    """The SQL expression of a customer column's JSON form (``c`` is the customer)."""
    column = f"c.{spec.column}"
    if spec.type == "point":
        return (
            f"CASE WHEN {column} IS NOT NULL THEN jsonb_build_object('type', 'Point',"
            f" 'coordinates', jsonb_build_array(ST_X({column}), ST_Y({column}))) END"
        )
    if spec.type == "decimal":
        return f"trim_scale({column})::text"
    return column


def by_database(spec: FieldSpec) -> bool:
    """Whether the field's ledger value can be built in SQL (not personal, a known type)."""
    return not spec.personal and (spec.type in SQL_TYPES or spec.type.startswith("ref:"))


def write_ledger_sql(
    session: Session,
    ids: Sequence[int],
    specs: Sequence[FieldSpec],
    *,
    actor_id: int | None,
    request_id: uuid.UUID,
) -> None:
    """One entry (source ``import``) per non-empty field of ``specs`` for each customer."""
    if not ids or not specs:
        return
    calls = []
    for lo in range(0, len(specs), PAIRS_PER_CALL):
        pairs = ", ".join(f"'{s.key}', {sql_json(s)}" for s in specs[lo : lo + PAIRS_PER_CALL])
        calls.append(f"jsonb_build_object({pairs})")
    sql = f"""
        INSERT INTO ledger_entries (customer_id, actor_id, request_id, source, field_key, new_value)
        SELECT c.id, CAST(:actor AS integer), CAST(:request AS uuid), 'import', e.key, e.value
        FROM customers c CROSS JOIN LATERAL jsonb_each({" || ".join(calls)}) AS e
        WHERE c.id = ANY(:ids) AND jsonb_typeof(e.value) <> 'null'"""
    session.execute(text(sql), {"actor": actor_id, "request": request_id, "ids": list(ids)})
