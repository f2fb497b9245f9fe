"""The customer record as a form: one row per catalogue field in its group, with the
caller's right on it (edit directly, propose, read), the value as shown (personal fields
masked by the domain), the input and the errors beside it; and the changes a submitted form
makes (only fields that differ from the record go to ``update_customer``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from admin.basemaps import Basemap
from admin.views.customer_values import (
    Option,
    Refs,
    bool_options,
    grouped,
    input_value,
    ref_kind,
    ref_options,
    shown_value,
    weekday_options,
)
from domain.access import READ, Principal, field_right, may_reveal
from domain.catalogue import FieldSpec, catalogue

RIGHT_LABELS = {"edit": "可直接修改", "propose": "需审批", "read": "只读"}
LNG, LAT = "location_lng", "location_lat"


@dataclass
class FieldRow:
    spec: FieldSpec
    right: str
    shown: str
    value: str = ""  # the input's text
    widget: str = "text"  # text | date | select | point
    options: list[Option] = field(default_factory=list)
    lng: str = ""
    lat: str = ""
    revealable: bool = False
    missing: bool = False

    @property
    def right_label(self) -> str:
        return RIGHT_LABELS[self.right]


def _point_inputs(value: Any, basemap: Basemap) -> tuple[str, str]:
    if not isinstance(value, dict):
        return "", ""
    lng, lat = basemap.to_display(*value["coordinates"])
    return f"{lng:.6f}", f"{lat:.6f}"


def _widget(
    session: Session, spec: FieldSpec, cache: dict[str, list[Option]]
) -> tuple[str, list[Option]]:
    kind = ref_kind(spec)
    if kind is not None:
        if kind not in cache:
            cache[kind] = ref_options(session, kind)
        return "select", cache[kind]
    if spec.choices:
        return "select", [Option(c.code, c.label_zh) for c in spec.choices]
    if spec.type == "bool":
        return "select", bool_options()
    if spec.type == "weekday":
        return "select", weekday_options()
    if spec.type == "date":
        return "date", []
    if spec.type == "point":
        return "point", []
    return "text", []


def form_groups(
    session: Session,
    principal: Principal,
    values: Mapping[str, Any],
    refs: Refs,
    basemap: Basemap,
    *,
    missing: frozenset[str] = frozenset(),
    submitted: FormData | None = None,
) -> list[tuple[str, str, list[FieldRow]]]:
    """The six groups of the record; ``values`` in JSON form as presented (masked);
    ``submitted`` keeps what the user typed when the form comes back with errors."""
    cache: dict[str, list[Option]] = {}
    groups = []
    for key, name, specs in grouped(catalogue()):
        rows = []
        for spec in specs:
            value = values.get(spec.key)
            row = FieldRow(
                spec, field_right(principal, spec), shown_value(spec, value, refs),
                revealable=may_reveal(principal, spec) and value is not None,
                missing=spec.key in missing,
            )  # fmt: skip
            if row.right != READ:
                row.widget, row.options = _widget(session, spec, cache)
                row.value = input_value(spec, value)
                row.lng, row.lat = _point_inputs(value, basemap)
                if row.widget == "select" and row.value not in {
                    "",
                    *(o.value for o in row.options),
                }:
                    # a value no longer offered (inactive route, legacy code) stays selected,
                    # so an untouched form does not clear it
                    row.options = [Option(row.value, row.shown or row.value), *row.options]
                if submitted is not None:
                    row.value = str(submitted.get(spec.key) or "")
                    row.lng, row.lat = str(submitted.get(LNG) or ""), str(submitted.get(LAT) or "")
            rows.append(row)
        groups.append((key, name, rows))
    return groups


def submitted_changes(
    data: FormData, principal: Principal, values: Mapping[str, Any], basemap: Basemap
) -> dict[str, Any]:
    """The fields whose input differs from the record: a blank input clears the field,
    except a personal one, whose input starts blank (its clear value is never sent) and
    changes only when something is typed."""
    changes: dict[str, Any] = {}
    for spec in catalogue():
        if field_right(principal, spec) == READ:
            continue
        if spec.type == "point":
            if LNG not in data and LAT not in data:
                continue
            lng, lat = str(data.get(LNG) or "").strip(), str(data.get(LAT) or "").strip()
            if (lng, lat) == _point_inputs(values.get(spec.key), basemap):
                continue
            changes[spec.key] = (
                {"lng": lng, "lat": lat, "crs": str(basemap.crs)} if lng or lat else None
            )
            continue
        if spec.key not in data:
            continue
        raw = str(data.get(spec.key) or "").strip()
        if spec.personal:
            if raw:
                changes[spec.key] = raw
        elif raw != input_value(spec, values.get(spec.key)):
            changes[spec.key] = raw or None
    return changes
