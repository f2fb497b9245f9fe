"""Keep the ``field_catalogue`` table equal to the catalogue file."""

from __future__ import annotations

from sqlalchemy import Connection, delete
from sqlalchemy.dialects.postgresql import insert

from domain.catalogue import FieldSpec, catalogue
from domain.models import FieldDefinition


def _row(spec: FieldSpec) -> dict[str, object]:
    return {
        "key": spec.key,
        "position": spec.position,
        "label_zh": spec.label_zh,
        "group": spec.group,
        "national": spec.national,
        "maintenance": spec.maintenance,
        "owner": spec.owner,
        "approval": spec.approval,
        "type": spec.type,
        "column": spec.column,
        "choices": [{"code": c.code, "label": c.label_zh} for c in spec.choices],
        "personal": spec.personal,
        "notes": spec.notes,
    }


def sync_catalogue(conn: Connection, specs: tuple[FieldSpec, ...] | None = None) -> int:
    """Upsert every field of the file and drop fields no longer in it; returns the count."""
    specs = catalogue() if specs is None else specs
    rows = [_row(s) for s in specs]
    stmt = insert(FieldDefinition).values(rows)
    excluded = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=[FieldDefinition.key],
        set_={k: excluded[k] for k in rows[0] if k != "key"},
    )
    conn.execute(stmt)
    conn.execute(delete(FieldDefinition).where(FieldDefinition.key.not_in([s.key for s in specs])))
    return len(rows)
