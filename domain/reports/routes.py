"""Route balance per depot and weekday (线路均衡情况): routes, stops, volume, distance and
time from ``domain.planning.stats.route_figures`` (the active routes as they are today)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.models import DeliveryRoute, Depot
from domain.planning.settings import PlanningSettings
from domain.planning.stats import RouteFigures, route_figures
from domain.reports.book import Sheet

WEEKDAYS = ("", "周一", "周二", "周三", "周四", "周五", "周六", "周日")
SUMMARY = ("配送中心/中转站", "送货日", "线路数", "停靠点数", "最多停靠点", "最少停靠点",
           "送货量(条)", "里程(公里)", "时长(小时)", "超限线路数")  # fmt: skip
DETAIL = ("配送中心/中转站", "送货日", "线路代码", "线路名称", "停靠点数", "送货量(条)",
          "里程(公里)", "时长(小时)", "是否超限")  # fmt: skip


@dataclass(frozen=True)
class RouteRow:
    depot: str
    weekday: int
    code: str
    name: str
    figures: RouteFigures


def route_rows(session: Session, settings: PlanningSettings) -> list[RouteRow]:
    routes = session.execute(
        select(DeliveryRoute.id, Depot.name, DeliveryRoute.weekday, DeliveryRoute.code,
               DeliveryRoute.name)
        .join(Depot, Depot.id == DeliveryRoute.depot_id)
        .where(DeliveryRoute.is_active)
        .order_by(Depot.code, DeliveryRoute.weekday, DeliveryRoute.code)
    ).all()  # fmt: skip
    figures = route_figures(settings, session, [r[0] for r in routes])
    return [
        RouteRow(depot, day, code, name, figures[rid]) for rid, depot, day, code, name in routes
    ]


def _km(metres: int) -> float:
    return round(metres / 1000, 1)


def _hours(seconds: int) -> float:
    return round(seconds / 3600, 2)


def route_sheets(rows: list[RouteRow]) -> list[Sheet]:
    groups: dict[tuple[str, int], list[RouteFigures]] = {}
    for r in rows:
        groups.setdefault((r.depot, r.weekday), []).append(r.figures)
    summary: list[tuple[object, ...]] = [
        (depot, WEEKDAYS[day], len(fs), sum(f.stops for f in fs), max(f.stops for f in fs),
         min(f.stops for f in fs), sum(f.load for f in fs), _km(sum(f.distance_m for f in fs)),
         _hours(sum(f.duration_s for f in fs)), sum(not f.feasible for f in fs))
        for (depot, day), fs in groups.items()
    ]  # fmt: skip
    detail: list[tuple[object, ...]] = [
        (r.depot, WEEKDAYS[r.weekday], r.code, r.name, r.figures.stops, r.figures.load,
         _km(r.figures.distance_m), _hours(r.figures.duration_s),
         "否" if r.figures.feasible else "是：" + "、".join(r.figures.violations))
        for r in rows
    ]  # fmt: skip
    return [Sheet("线路均衡汇总", SUMMARY, summary), Sheet("线路明细", DETAIL, detail)]
