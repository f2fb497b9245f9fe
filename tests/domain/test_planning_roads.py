"""Planning on the road network: with ``travel="roads"`` route figures come from
pgRouting over the imported streets; without a network the error says what to do."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.demo import load_demo
from domain.errors import DomainError
from domain.models import Customer
from domain.planning import PlanningSettings
from domain.planning.stats import route_figures
from domain.planning.travel import travel_costs
from tests.geo.roads_support import grid_database, require_osm2pgrouting


def test_without_a_road_network_the_error_says_how_to_import_one(session: Session) -> None:
    with pytest.raises(DomainError) as missing:
        travel_costs(session, PlanningSettings(travel="roads"))
    assert (missing.value.code, missing.value.field) == ("INVALID", "travel")
    assert "retailgis roads import" in missing.value.message


def test_route_figures_follow_the_roads(pg_cluster: Any, tmp_path: Path) -> None:
    require_osm2pgrouting()
    with grid_database(pg_cluster, tmp_path) as grid:
        with grid.engine.begin() as conn:
            load_demo(conn, shops=300, seed=5, as_of=dt.date(2026, 11, 1))
        with Session(grid.engine) as s:
            routes = s.scalars(
                select(Customer.delivery_route_id).where(Customer.delivery_route_id.is_not(None))
                .group_by(Customer.delivery_route_id).order_by(Customer.delivery_route_id)
                .limit(3)
            ).all()  # fmt: skip
            straight = route_figures(PlanningSettings(), s, routes)
            roads = route_figures(PlanningSettings(travel="roads"), s, routes)
    for route_id in routes:
        # every road leg is at least the straight line (walk to the network, drive, walk)
        legs = straight[route_id].stops + 1
        geodesic = straight[route_id].distance_m / PlanningSettings().circuity
        assert roads[route_id].distance_m >= geodesic - legs
        assert roads[route_id].stops == straight[route_id].stops
        assert roads[route_id].distance_m != straight[route_id].distance_m
