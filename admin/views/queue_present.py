"""How the approval screens show things: change values as text (catalogue labels for codes,
names for references, masked personal values as the domain gives them), and a location
change's map island (converted to the basemap's coordinate system; a route change's lines
are ``admin.views.maps.route_map``, shared with the planner's map)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from admin.basemaps import Basemap
from domain.ledger import tracked_fields
from domain.models import Customer, DeliveryRoute, Depot, Region, User
from domain.tickets.present import ChangeView, LocationMove

WEEKDAYS = "一二三四五六日"
OLD_COLOUR, NEW_COLOUR, LINK_COLOUR = "#c62828", "#2e7d32", "#6b7280"

_REFS: dict[str, Any] = {
    "ref:route": (DeliveryRoute, lambda r: f"{r.code} {r.name}"),
    "ref:user": (User, lambda r: r.display_name),
    "ref:depot": (Depot, lambda r: r.name),
    "ref:region": (Region, lambda r: r.name),
    "ref:customer": (Customer, lambda r: f"{r.customer_code} {r.shop_name}"),
}


def reference_names(session: Session, changes: Iterable[ChangeView]) -> dict[tuple[str, int], str]:
    """Names of the referenced rows (routes, users, ...) of the changes: one query per kind."""
    wanted: dict[str, set[int]] = {}
    for c in changes:
        if c.type in _REFS:
            for v in (c.old, c.new):
                if isinstance(v, int):
                    wanted.setdefault(c.type, set()).add(v)
    names = {}
    for kind, ids in wanted.items():
        model, label = _REFS[kind]
        for row in session.scalars(select(model).where(model.id.in_(ids))):
            names[(kind, row.id)] = label(row)
    return names


def value_text(change: ChangeView, value: Any, refs: dict[tuple[str, int], str]) -> str:
    """One old or new value for people ("" when empty)."""
    if value is None or value == "":
        return ""
    spec = tracked_fields().get(change.key)
    if change.personal:
        return str(value)  # already masked by the domain
    if spec is not None and spec.type == "enum":
        labels = {c.code: c.label_zh for c in spec.choices}
        return labels.get(value, str(value))
    if change.type == "point" and isinstance(value, dict):
        lng, lat = value.get("coordinates", [None, None])[:2]
        return f"{lng:.6f}, {lat:.6f}" if lng is not None else ""
    if change.type in _REFS and isinstance(value, int):
        return refs.get((change.type, value), f"#{value}")
    if change.type == "weekday" and isinstance(value, int) and 1 <= value <= 7:
        return f"周{WEEKDAYS[value - 1]}"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def diff_rows(session: Session, changes: list[ChangeView]) -> list[dict[str, Any]]:
    refs = reference_names(session, changes)
    return [
        {"label": c.label, "key": c.key, "customer_id": c.customer_id, "personal": c.personal,
         "old": value_text(c, c.old, refs), "new": value_text(c, c.new, refs)}
        for c in changes
    ]  # fmt: skip


def limit_text(value: Decimal, unit: str) -> str:
    """A step's time limit: 1 个工作日, 0.5 个工作日, 30 分钟 (half-hour units)."""
    if unit == "half_hour":
        minutes = int(value * 30)
        return f"{minutes} 分钟" if minutes < 60 else f"{minutes / 60:g} 小时"
    return f"{value.normalize():f} 个工作日"


def location_map(move: LocationMove, basemap: Basemap) -> dict[str, Any]:
    """The old point (red), the new point (green) and a dashed line between them."""
    new = basemap.to_display(*move.new)
    points = [{"lng": new[0], "lat": new[1], "label": "新位置", "color": NEW_COLOUR}]
    layers: list[dict[str, Any]] = []
    if move.old is not None:
        old = basemap.to_display(*move.old)
        points.insert(0, {"lng": old[0], "lat": old[1], "label": "原位置", "color": OLD_COLOUR})
        layers.append({"kind": "line", "coordinates": [list(old), list(new)],
                       "color": LINK_COLOUR, "dashed": True})  # fmt: skip
    layers.append({"kind": "points", "points": points, "permanentLabels": True})
    return {"layers": layers, "legend": "红：原位置　绿：新位置", "maxFitZoom": 17}
