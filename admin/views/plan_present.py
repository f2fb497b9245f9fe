"""How the planner shows a stored plan: per route before and after, a quarterly plan's per
day figures with totals and the saving, its progress while it computes (how long a
quarter takes), and the routes before (dashed) and after (solid) for the planner's map."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from admin.basemaps import Basemap
from admin.views.maps import route_map
from admin.views.plan_form import BALANCE_NAMES, WEEKDAY_NAMES
from domain import planning
from domain.access import Principal, role_rights
from domain.jobs import FINISHED
from domain.models import Job, RoutePlan
from domain.planning.lines import plan_lines
from domain.planning.quarterly import quarter_size
from domain.planning.submit import KIND_NAMES

DRAWN_KINDS = ("day", "quarterly", "resequence", "insert", "move")


Figures = Iterable[Mapping[str, Any]]


def route_rows(before: Figures, after: Figures) -> list[dict[str, Any]]:
    """One row per route: its figures before and after (either may be missing)."""
    was = {r["routeId"]: r for r in before}
    now = {r["routeId"]: r for r in after}
    rows = []
    for route_id in dict.fromkeys([*was, *now]):
        ref = now.get(route_id) or was[route_id]
        rows.append({"code": ref["code"], "name": ref["name"],
                     "before": was.get(route_id), "after": now.get(route_id)})  # fmt: skip
    return rows


def totals(figures: Mapping[str, Any]) -> dict[str, Any]:
    """A day's or the week's figures as stored (distance, duration and travel are summed
    there already), with its routes' stops, load and capacity summed, and how many of its
    routes are feasible."""
    routes = figures["routes"]
    return {
        "routes": len(routes),
        "stops": sum(r["stops"] for r in routes),
        "load": sum(r["load"] for r in routes),
        "capacity": sum(r.get("capacity") or 0 for r in routes),
        "distanceM": figures["distanceM"],
        "durationS": figures["durationS"],
        "travelS": figures["travelS"],
        "feasible": sum(1 for r in routes if r["feasible"]),
    }


def saving(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """What the plan saves (positive) or costs (negative): distance, duration, travel."""
    out: dict[str, Any] = {}
    for key in ("distanceM", "durationS", "travelS"):
        diff = before[key] - after[key]
        out[key] = diff
        out[key + "Pct"] = round(100 * diff / before[key], 1) if before[key] else 0.0
    return out


def quarter_figures(summary: Mapping[str, Any]) -> dict[str, Any]:
    """A quarterly plan's days (by weekday) with their routes and totals before and after,
    the week's totals and saving, and how many shops change day or route."""
    days = []
    for d in sorted(summary["days"], key=lambda d: d["weekday"]):
        days.append({
            "weekday": d["weekday"], "name": WEEKDAY_NAMES.get(d["weekday"], str(d["weekday"])),
            "rows": route_rows(d["before"]["routes"], d["after"]["routes"]),
            "before": totals(d["before"]), "after": totals(d["after"]),
            "unassigned": len(d.get("unassigned") or []),
        })  # fmt: skip
    week_before, week_after = totals(summary["before"]), totals(summary["after"])
    moves = int(summary.get("moves") or 0)
    route_changes = int(summary.get("routeChanges") or 0)
    return {
        "days": days, "before": week_before, "after": week_after,
        "saving": saving(week_before, week_after),
        "shops": int(summary.get("shops") or 0), "moves": moves,
        "changing_day": int(summary.get("shopsChangingDay") or 0),
        "changing_route": route_changes, "sequence_only": moves - route_changes,
        "unassigned": len(summary.get("unassigned") or []),
    }  # fmt: skip


def plan_context(plan: RoutePlan, job: Job | None) -> dict[str, Any]:
    summary = plan.summary or {}
    rows: list[dict[str, Any]] = []
    quarter = None
    if plan.kind == "quarterly" and summary.get("days"):
        quarter = quarter_figures(summary)
    elif "routes" in (summary.get("before") or {}):
        rows = route_rows(summary["before"]["routes"], summary["after"]["routes"])
    return {
        "plan": plan, "job": job, "summary": summary, "rows": rows, "quarter": quarter,
        "kind_name": KIND_NAMES.get(plan.kind, plan.kind), "weekdays": WEEKDAY_NAMES,
        "balance_names": BALANCE_NAMES, "params": plan.params or {},
        "running": job is not None and job.status not in FINISHED,
    }  # fmt: skip


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} 秒"
    return f"{round(seconds / 60)} 分钟" if seconds < 3600 else f"{seconds / 3600:.1f} 小时"


def progress_context(
    session: Session, plan: RoutePlan, job: Job | None, now: dt.datetime
) -> dict[str, Any]:
    """While a quarterly plan computes: its size, about how long it takes, time so far."""
    if plan.kind != "quarterly" or job is None or job.status in FINISHED or not plan.depot_id:
        return {}
    req = planning.PlanRequest.from_json(plan.params)
    size = quarter_size(planning.SETTINGS["planning"], session, plan.depot_id, req)
    started = job.started_at or job.created_at
    elapsed = max(0.0, (now - started).total_seconds()) if started else 0.0
    return {"size": size, "expected": _minutes(size.solver_s),
            "per_day": _minutes(size.solver_s / size.days) if size.days else "",
            "elapsed": _minutes(elapsed) if elapsed >= 1 else "不到 1 秒"}  # fmt: skip


def map_context(
    session: Session, who: Principal, basemap: Basemap, plan: RoutePlan, day: int | None
) -> dict[str, Any]:
    """The plan's routes before and after for the planner's map (for a quarterly plan the
    routes of one delivery day: ``day``, or its first). Route lines pass through every
    stop of a route, so, as on the map's overlay, only city-wide roles get them."""
    drawable = plan.status in ("ready", "submitted", "stale")  # applied: before = after
    if plan.kind not in DRAWN_KINDS or not drawable or role_rights(who.role).scope != "city":
        return {}
    days: list[int] = []
    if plan.kind == "quarterly":
        days = sorted(d["weekday"] for d in (plan.summary or {}).get("days") or [])
        day = day if day in days else (days[0] if days else None)
    else:
        day = None
    lines = plan_lines(session, plan, weekday=day)
    config = route_map(lines.before, lines.after, basemap)
    drawn = len({layer["route"] for layer in config["layers"]})
    return {"plan_map": config, "map_days": days, "map_day": day, "map_routes": drawn}
