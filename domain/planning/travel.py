"""The travel-cost engine the settings choose: straight line, or roads from pgRouting."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.errors import INVALID, DomainError
from domain.planning.settings import PlanningSettings
from geo.travel import StraightLineCosts, TravelCosts

ROADS_SCHEMA = "roads"


def travel_costs(session: Session, settings: PlanningSettings) -> TravelCosts:
    if settings.travel == "straight":
        return StraightLineCosts(settings.circuity, settings.urban_kmh, settings.rural_kmh)
    present = session.scalar(
        text("SELECT to_regclass(:name) IS NOT NULL"), {"name": f"{ROADS_SCHEMA}.ways"}
    )
    if not present:
        raise DomainError(
            INVALID, "尚未导入道路网络：请先运行 retailgis roads import 文件.osm，"
            "或把 RETAILGIS_TRAVEL 设为 straight", "travel",
        )  # fmt: skip
    from geo.roads import RoadCosts

    return RoadCosts(session.connection(), schema=ROADS_SCHEMA)
