"""A customer query reads only the columns it selects, and still masks every personal field
it selects (through fragments and aliases too); fields needing the ORM row still work."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from domain.masking import mask
from domain.models import Customer
from schema import schema
from schema.customers.columns import COLUMNS, DERIVED, NEEDS_ROW, column_plan
from tests.schema.conftest import Gql
from tests.support import counted_statements


def _first_rows(api_db: Engine, n: int) -> list[Customer]:
    with Session(api_db) as s:
        return list(s.scalars(select(Customer).order_by(Customer.customer_code).limit(n)))


def test_a_personal_field_selected_alone_is_masked(
    gql: Gql, username_of: Any, api_db: Engine
) -> None:
    body = gql(
        "{ customers(first: 3) { edges { node { ...P } } } }"
        " fragment P on Customer { tel: phone home: homeAddress }",
        user=username_of("market_dept"),
    )
    nodes = [e["node"] for e in body["data"]["customers"]["edges"]]
    rows = _first_rows(api_db, 3)
    assert nodes == [
        {"tel": mask("phone", r.phone), "home": mask("text", r.home_address)} for r in rows
    ]
    assert all(r.phone and "****" in n["tel"] for n, r in zip(nodes, rows, strict=True))


def test_one_customer_reads_only_the_selected_columns(
    gql: Gql, username_of: Any, api_db: Engine
) -> None:
    row = _first_rows(api_db, 1)[0]
    md = username_of("market_dept")
    gql("{ __typename }", user=md)
    with counted_statements(api_db) as statements:
        body = gql(
            "query($c: String!) { customer(code: $c) { id idNumber location } }",
            {"c": row.customer_code},
            user=md,
        )
    assert body["data"]["customer"]["id"] == row.id
    assert body["data"]["customer"]["idNumber"] == mask("id_number", row.id_number)
    assert body["data"]["customer"]["location"]["type"] == "Point"
    [statement] = statements
    assert "id_number" in statement and "ST_X" in statement
    assert "phone" not in statement and "bank_account" not in statement


def test_fields_needing_the_row_still_answer(gql: Gql, username_of: Any, api_db: Engine) -> None:
    row = _first_rows(api_db, 1)[0]
    body = gql(
        "query($c: String!) { customer(code: $c) { phone completeness { nationalTotal } } }",
        {"c": row.customer_code},
        user=username_of("market_dept"),
    )
    customer = body["data"]["customer"]
    assert customer["phone"] == mask("phone", row.phone)
    assert customer["completeness"]["nationalTotal"] > 0


def test_every_customer_field_is_planned() -> None:
    fields = set(schema._schema.type_map["Customer"].fields)  # type: ignore[union-attr]
    assert fields <= COLUMNS.keys() | DERIVED.keys() | NEEDS_ROW
    assert column_plan({"phone", "asOf"}).full is True
    plan = column_plan({"phone", "route"})
    assert plan.full is False
    assert [c.attr for c in plan.columns] == ["id", "version", "phone", "delivery_route_id"]
    assert [c.personal_type for c in plan.columns] == [None, None, "phone", None]
