"""How the customer screens show and take field values: a catalogue value (JSON form, personal
ones already masked by the domain) as text for people, as the value of a form input, and the
names behind references (region, manager, route, pickup point), loaded in one query per kind.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.catalogue import GROUPS, FieldSpec, catalogue
from domain.models import DeliveryRoute, Depot, Region, User

WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
SCALES = {1: "大", 2: "中", 3: "小"}
REF_KINDS = ("region", "user", "route", "depot")

# (kind, id) -> the name shown for a referenced row
Refs = dict[tuple[str, int], str]


@dataclass(frozen=True)
class Option:
    value: str
    label: str


def ref_kind(spec: FieldSpec) -> str | None:
    return spec.type.removeprefix("ref:") if spec.type.startswith("ref:") else None


def ref_names(session: Session, wanted: Iterable[tuple[str, int]]) -> Refs:
    """Names of the referenced rows, one query per kind that occurs."""
    ids: dict[str, set[int]] = {}
    for kind, ref_id in wanted:
        ids.setdefault(kind, set()).add(ref_id)
    out: Refs = {}
    if ids.get("region"):
        for i, name in session.execute(
            select(Region.id, Region.name).where(Region.id.in_(ids["region"]))
        ):
            out[("region", i)] = name
    if ids.get("user"):
        rows = select(User.id, User.display_name, User.username).where(User.id.in_(ids["user"]))
        for i, name, username in session.execute(rows):
            out[("user", i)] = f"{name}（{username}）"
    if ids.get("route"):
        rows = select(DeliveryRoute.id, DeliveryRoute.code, DeliveryRoute.name)
        for i, code, name in session.execute(rows.where(DeliveryRoute.id.in_(ids["route"]))):
            out[("route", i)] = f"{code} {name}"
    if ids.get("depot"):
        for i, name in session.execute(
            select(Depot.id, Depot.name).where(Depot.id.in_(ids["depot"]))
        ):
            out[("depot", i)] = name
    return out


def refs_in(records: Iterable[Mapping[str, Any]]) -> set[tuple[str, int]]:
    """The (kind, id) references held by records in JSON form (keys: catalogue keys)."""
    specs = {s.key: s for s in catalogue()}
    found: set[tuple[str, int]] = set()
    for record in records:
        for key, value in record.items():
            spec = specs.get(key)
            kind = ref_kind(spec) if spec else None
            if kind and isinstance(value, int) and not isinstance(value, bool):
                found.add((kind, value))
    return found


def shown_value(spec: FieldSpec | None, value: Any, refs: Refs) -> str:
    """A field value in JSON form as people read it ("" when empty)."""
    if value is None or value == "":
        return ""
    if spec is None or spec.personal:
        return str(value)
    kind = ref_kind(spec)
    if kind is not None:
        return refs.get((kind, value), f"#{value}") if isinstance(value, int) else str(value)
    if isinstance(value, bool):
        return "是" if value else "否"
    if spec.choices:
        return next((c.label_zh for c in spec.choices if c.code == value), str(value))
    if spec.type == "weekday" and isinstance(value, int) and 1 <= value <= 7:
        return f"{WEEKDAYS[value - 1]}（{value}）"
    if spec.type == "scale" and isinstance(value, int):
        return f"{value} {SCALES.get(value, '')}".strip()
    if spec.type == "point" and isinstance(value, dict):
        lng, lat = value.get("coordinates", (None, None))
        return f"经度 {lng:.6f}，纬度 {lat:.6f}（WGS-84）"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def input_value(spec: FieldSpec, value: Any) -> str:
    """The initial text of a field's form input (personal fields start empty: the clear
    value is never put into the page)."""
    if value is None or spec.personal:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def grouped(specs: Iterable[FieldSpec]) -> list[tuple[str, str, list[FieldSpec]]]:
    """(group key, Chinese group name, fields in catalogue order) for the six groups."""
    by_group: dict[str, list[FieldSpec]] = {g: [] for g in GROUPS}
    for spec in specs:
        by_group.setdefault(spec.group, []).append(spec)
    return [(g, GROUPS.get(g, g), fs) for g, fs in by_group.items() if fs]


# -- choices offered by the forms -------------------------------------------------------------


def bool_options() -> list[Option]:
    return [Option("true", "是"), Option("false", "否")]


def weekday_options() -> list[Option]:
    return [Option(str(i), f"{d}（{i}）") for i, d in enumerate(WEEKDAYS, start=1)]


def ref_options(session: Session, kind: str) -> list[Option]:
    """Rows a reference field may point at (the catalogue rules are checked on save)."""
    if kind == "region":
        rows = session.execute(select(Region.id, Region.name).order_by(Region.code))
        return [Option(str(i), name) for i, name in rows]
    if kind == "user":
        stmt = (
            select(User.id, User.display_name, User.username)
            .where(User.role == "customer_manager", User.is_active)
            .order_by(User.username)
        )
        return [Option(str(i), f"{n}（{u}）") for i, n, u in session.execute(stmt)]
    if kind == "route":
        stmt = select(DeliveryRoute.id, DeliveryRoute.code, DeliveryRoute.name).where(
            DeliveryRoute.is_active
        )
        rows = session.execute(stmt.order_by(DeliveryRoute.code))
        return [Option(str(i), f"{c} {n}") for i, c, n in rows]
    if kind == "depot":
        stmt = select(Depot.id, Depot.name).where(Depot.kind == "pickup_point").order_by(Depot.code)
        return [Option(str(i), name) for i, name in session.execute(stmt)]
    return []
