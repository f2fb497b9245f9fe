"""An imported shop over GraphQL: its one ledger record reads as one history line per field,
and ``asOf`` rebuilds the imported record, personal values masked (module's own city)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from domain.catalogue import field
from domain.imports import import_customers_now, read_table
from domain.masking import mask
from domain.models import LedgerEntry
from tests.import_data import customer_records, headers, write_csv
from tests.schema.conftest import VAULT, Gql

QUERY = """query($i: Int!, $at: DateTime!) { customer(id: $i) {
  phone asOf(at: $at) history(limit: 50) { source field label old new } } }"""


def _import(api_db: Engine, tmp_path: Path) -> tuple[int, list[Any], dt.datetime]:
    with Session(api_db) as s:
        points = s.execute(text("SELECT ST_X(location), ST_Y(location) FROM customers LIMIT 2"))
        rows = customer_records([(float(x), float(y)) for x, y in points], start=7001)
        table = read_table(write_csv(tmp_path / "shops.csv", headers(), rows))
        result = import_customers_now(s, table, actor_name="tester", vault=VAULT)
        s.commit()
        shop_id = result.customer_ids[0]
        at = s.scalar(select(LedgerEntry.at).where(LedgerEntry.customer_id == shop_id))
    assert result.imported == 2 and at is not None
    return shop_id, rows[0], at


def test_an_imported_shop_has_one_history_line_per_field_and_its_record_as_of_the_import(
    gql: Gql, username_of: Any, api_db: Engine, tmp_path: Path
) -> None:
    # given two shops imported from a file (one ledger row each)
    shop_id, row, at = _import(api_db, tmp_path)
    md = username_of("market_dept")
    # when the market dept reads the first one's history and its record as of the import
    body = gql(QUERY, {"i": shop_id, "at": at.isoformat()}, user=md)
    assert "errors" not in body, body
    customer = body["data"]["customer"]
    # then each imported field is a line of its own, in catalogue order, personal ones masked
    lines = customer["history"]
    assert len(lines) == 24 and {e["source"] for e in lines} == {"import"}
    keys = [e["field"] for e in lines]
    assert keys == sorted(keys, key=lambda k: field(k).position)
    by_key = {e["field"]: e for e in lines}
    assert (by_key["shop_name"]["label"], by_key["shop_name"]["new"]) == ("店铺名称", row[1])
    assert by_key["phone"]["new"] == mask("phone", row[11]) and by_key["phone"]["old"] is None
    assert by_key["id_number"]["new"] == mask("id_number", row[13])
    assert all(clear not in str(customer) for clear in (row[11], row[12], row[13]))
    # and the record as of the import is the imported one, masked like the record itself
    assert customer["asOf"]["shop_name"] == row[1]
    assert customer["asOf"]["phone"] == customer["phone"] == mask("phone", row[11])
    # and as of a moment before it, every imported field is empty
    before = (at - dt.timedelta(seconds=1)).isoformat()
    earlier = gql(QUERY, {"i": shop_id, "at": before}, user=md)["data"]["customer"]["asOf"]
    assert all(earlier[k] is None for k in keys)
    # and a shorter history cuts inside the record
    short = gql(QUERY.replace("limit: 50", "limit: 3"), {"i": shop_id, "at": before}, user=md)
    assert [e["field"] for e in short["data"]["customer"]["history"]] == keys[:3]
