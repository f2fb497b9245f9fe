"""updateCustomer of a shop's place on its route over HTTP: a place another shop holds is
a payload error on the field (DUPLICATE), never a failed commit, and nothing changes."""

from __future__ import annotations

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from domain.models import Customer, LedgerEntry
from tests.schema.conftest import Gql

MUTATION = """mutation($i: Int!, $v: Int!, $c: [FieldChangeInput!]!) {
  updateCustomer(id: $i, version: $v, changes: $c) {
    applied customer { version } ticket { id } errors { field code message } } }"""


def test_a_taken_place_is_a_field_error_and_changes_nothing(
    gql: Gql, api_db: Engine, username_of: object
) -> None:
    with Session(api_db) as s:
        route = s.scalar(
            select(Customer.delivery_route_id)
            .where(Customer.delivery_route_id.is_not(None))
            .group_by(Customer.delivery_route_id)
            .having(func.count() >= 2)
            .limit(1)
        )
        a, b = s.scalars(
            select(Customer).where(Customer.delivery_route_id == route)
            .order_by(Customer.delivery_sequence).limit(2)
        ).all()  # fmt: skip
        before = (a.version, a.delivery_sequence)
        ledger = s.scalar(select(func.count(LedgerEntry.id)))
    answer = gql(
        MUTATION,
        {"i": a.id, "v": a.version,
         "c": [{"field": "delivery_sequence", "value": b.delivery_sequence}]},
        user=username_of("delivery_dept"),  # type: ignore[operator]
    )["data"]["updateCustomer"]  # fmt: skip
    assert [(e["field"], e["code"]) for e in answer["errors"]] == [
        ("delivery_sequence", "DUPLICATE")
    ]
    assert answer["applied"] in ([], None) and answer["ticket"] is None
    with Session(api_db) as s:
        shop = s.get(Customer, a.id)
        assert shop is not None and (shop.version, shop.delivery_sequence) == before
        assert s.scalar(select(func.count(LedgerEntry.id))) == ledger
