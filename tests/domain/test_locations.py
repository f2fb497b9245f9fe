"""Locations entered in any of the three coordinate systems: stored as WGS-84 with the
input kept, the region follows the point, and a likely mix-up is flagged for the approver."""

from __future__ import annotations

import datetime as dt

import pytest
from geoalchemy2.shape import to_shape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.customers.update import update_customer
from domain.errors import DomainError, ValidationFailed
from domain.models import Customer, LedgerEntry, Region, Ticket
from domain.tickets.approval import approve
from domain.tickets.proposals import propose_location
from domain.vault import Vault
from geo.crs import Crs, from_wgs84, wgs84_to_gcj02
from tests.domain.conftest import PrincipalFor, snapshot

NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)


def a_shop(city: Session) -> Customer:
    shop = city.scalars(
        select(Customer).where(Customer.status == "active").order_by(Customer.id)
    ).first()
    assert shop is not None
    return shop


def lnglat(shop: Customer) -> tuple[float, float]:
    point = to_shape(shop.location)
    return float(point.x), float(point.y)


def test_a_baidu_point_is_stored_as_wgs84_with_its_input(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    # given a delivery planner (who edits locations directly) and a point 200 m north, in BD-09
    shop = a_shop(city)
    lng, lat = lnglat(shop)
    target = (lng, lat + 0.0018)
    b_lng, b_lat = from_wgs84(*target, Crs.BD09)
    change = {"location": {"lng": b_lng, "lat": b_lat, "crs": "BD09"}}
    # when it is entered
    update_customer(city, principal_for("delivery_dept"), shop.id, shop.version, change,
                    vault=vault, now=NOW)  # fmt: skip
    city.flush()
    city.expire_all()
    stored = city.get(Customer, shop.id)
    assert stored is not None
    # then the record holds the WGS-84 point (within a centimetre) and the input as given
    got = lnglat(stored)
    assert abs(got[0] - target[0]) < 1e-7 and abs(got[1] - target[1]) < 1e-7
    assert stored.location_input == {"lng": b_lng, "lat": b_lat, "crs": "BD09"}
    entry = city.scalars(
        select(LedgerEntry).where(LedgerEntry.customer_id == shop.id,
                                  LedgerEntry.field_key == "location")
    ).one()  # fmt: skip
    assert entry.new_value["coordinates"] == pytest.approx(list(target), abs=1e-7)


def test_an_unknown_system_and_swapped_coordinates_are_refused(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    shop = a_shop(city)
    lng, lat = lnglat(shop)
    before = snapshot(city, shop.id)
    planner = principal_for("delivery_dept")
    for value, code in (
        ({"lng": lng, "lat": lat, "crs": "MARS"}, "INVALID_FORMAT"),
        ({"lng": lat, "lat": lng}, "OUT_OF_RANGE"),
        ({"type": "Point", "coordinates": [lng, lat], "crs": "GCJ02"}, "INVALID_FORMAT"),
    ):
        with pytest.raises(ValidationFailed) as refused:
            update_customer(city, planner, shop.id, shop.version, {"location": value},
                            vault=vault, now=NOW)  # fmt: skip
        assert [(e.code, e.field) for e in refused.value.errors] == [(code, "location")]
    assert snapshot(city, shop.id) == before


def test_a_gcj02_reading_sent_as_wgs84_is_flagged_and_applies_with_its_region(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    # given a shop and the AMap (GCJ-02) reading of its own place, sent as WGS-84
    shop = a_shop(city)
    lng, lat = lnglat(shop)
    g_lng, g_lat = wgs84_to_gcj02(lng, lat)
    manager = principal_for("customer_manager", of_customer=shop)
    ticket = propose_location(city, manager, shop.id, {"lng": g_lng, "lat": g_lat},
                              reason="门店搬迁", vault=vault, now=NOW)  # fmt: skip
    # then the ticket carries the warning and the input, for the approver to see
    payload = ticket.payload or {}
    assert [(w["code"], w["crs"]) for w in payload["warnings"]] == [("LIKELY_CRS_MIXUP", "GCJ02")]
    assert payload["locationInput"] == {"lng": g_lng, "lat": g_lat, "crs": "WGS84"}
    # when the delivery department approves it anyway, the point and its provenance apply
    approve(city, principal_for("delivery_dept"), ticket.id, vault=vault, now=NOW)
    city.flush()
    city.expire_all()
    stored = city.get(Customer, shop.id)
    assert stored is not None and city.get(Ticket, ticket.id).status == "applied"  # type: ignore[union-attr]
    assert stored.location_input == payload["locationInput"]
    # and the region is the one whose polygon holds the new point
    region = city.scalar(
        select(Region.id).where(func.ST_Intersects(Region.geom, stored.location))
        .order_by(Region.code).limit(1)
    )  # fmt: skip
    assert stored.admin_region_id == region


def test_a_real_move_is_not_flagged(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    shop = a_shop(city)
    lng, lat = lnglat(shop)
    manager = principal_for("customer_manager", of_customer=shop)
    ticket = propose_location(city, manager, shop.id, {"lng": lng + 0.004, "lat": lat},
                              reason=None, vault=vault, now=NOW)  # fmt: skip
    assert (ticket.payload or {})["warnings"] == []


def test_a_point_outside_the_service_area_is_refused_whatever_its_system(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    shop = a_shop(city)
    before = snapshot(city, shop.id)
    manager = principal_for("customer_manager", of_customer=shop)
    with pytest.raises(DomainError) as refused:
        propose_location(city, manager, shop.id, {"lng": 116.40, "lat": 39.91, "crs": "GCJ02"},
                         reason=None, vault=vault, now=NOW)  # fmt: skip
    errors = getattr(refused.value, "errors", (refused.value,))
    assert [(e.code, e.field) for e in errors] == [("OUTSIDE_SERVICE_AREA", "point")]
    assert snapshot(city, shop.id) == before
