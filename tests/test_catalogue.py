"""The field catalogue file, its table and the customer columns stay in step."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Connection, Enum, select, text

from domain.catalogue import catalogue, load_catalogue
from domain.catalogue.sync import sync_catalogue
from domain.models import Customer, FieldDefinition

SHARED = Path(__file__).resolve().parents[2] / "shared" / "fields.csv"


def test_catalogue_holds_the_68_fields_with_25_national() -> None:
    specs = catalogue()
    assert len(specs) == 68
    assert sum(s.national for s in specs) == 25
    groups = {g: sum(1 for s in specs if s.group == g) for g in {s.group for s in specs}}
    assert groups == {
        "identity": 9,
        "basic": 23,
        "business_mode": 8,
        "business_level": 11,
        "compliance": 1,
        "service": 16,
    }


@pytest.mark.skipif(not SHARED.exists(), reason="shared/fields.csv not beside the checkout")
def test_catalogue_agrees_with_the_shared_field_list() -> None:
    import csv

    with SHARED.open(encoding="utf-8") as fh:
        shared = {r["key"]: r for r in csv.DictReader(fh)}
    for spec in catalogue():
        row = shared[spec.key]
        assert (spec.label_zh, spec.group, spec.maintenance, spec.owner) == (
            row["label_zh"],
            row["group"],
            row["maintenance"],
            row["owner"],
        )
        assert spec.national == (row["national"] == "*")
        assert (spec.approval or "") == row["approval"]
    assert {s.key for s in catalogue()} == set(shared)


def test_every_field_has_a_typed_customer_column() -> None:
    columns = Customer.__table__.columns
    for spec in catalogue():
        assert spec.column in columns, spec.key
        col = columns[spec.column]
        if spec.type == "enum":
            assert isinstance(col.type, Enum), spec.key
            assert tuple(col.type.enums) == spec.choice_codes, spec.key
        else:
            assert not isinstance(col.type, Enum), spec.key


def test_database_enums_match_the_catalogue(db_conn: Connection) -> None:
    # given the migrated database, then each enum type lists the catalogue's codes in order
    for spec in catalogue():
        if spec.type != "enum":
            continue
        labels = db_conn.scalars(
            text(
                "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid"
                " WHERE t.typname = :n ORDER BY e.enumsortorder"
            ),
            {"n": f"customer_{spec.key}"},
        ).all()
        assert tuple(labels) == spec.choice_codes, spec.key


def test_sync_writes_the_file_into_the_table_and_drops_removed_fields(db_conn: Connection) -> None:
    # when syncing the full catalogue
    assert sync_catalogue(db_conn) == 68
    rows = db_conn.execute(select(FieldDefinition).order_by(FieldDefinition.position)).all()
    assert [r.key for r in rows] == [s.key for s in catalogue()]
    phone = db_conn.execute(select(FieldDefinition).where(FieldDefinition.key == "phone")).one()
    assert (phone.label_zh, phone.personal, phone.approval) == ("订货电话", True, "market_manager")
    # when a province drops a field from its file, the table follows
    sync_catalogue(db_conn, catalogue()[:-1])
    assert (
        db_conn.scalar(select(FieldDefinition.key).where(FieldDefinition.key == "photo_counter"))
        is None
    )
    assert db_conn.scalar(text("SELECT count(*) FROM field_catalogue")) == 67


def test_a_malformed_catalogue_file_is_refused_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "fields.csv"
    src = (Path(__file__).resolve().parents[1] / "domain" / "catalogue" / "fields.csv").read_text(
        "utf-8"
    )
    lines = src.splitlines()
    lines[3] = lines[3].replace(",identity,", ",nonsense,", 1)
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"fields\.csv:4: unknown group"):
        load_catalogue(bad)
