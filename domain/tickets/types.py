"""Ticket types read from ``types.toml`` (see the comments there for the format)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

from domain.catalogue import catalogue
from domain.models.org import ROLES

TYPES_FILE = Path(__file__).with_name("types.toml")
CLOCKS = ("working_day", "half_hour")
KINDS = ("approve", "verify", "notice")
PLACEHOLDERS = ("@approval", "@owner")


@dataclass(frozen=True)
class StepSpec:
    key: str
    name: str
    role: str
    limit: Decimal
    kind: str = "approve"
    applies: bool = False
    fills: tuple[str, ...] = ()
    notify: str | None = None


@dataclass(frozen=True)
class TicketType:
    key: str
    name: str
    clock: str
    steps: tuple[StepSpec, ...]


class TicketTypesError(ValueError):
    pass


def _step(path: Path, type_key: str, raw: dict[str, object]) -> StepSpec:
    where = f"{path.name}: [{type_key}] step {raw.get('key')!r}"
    role = str(raw.get("role", ""))
    if role not in ROLES and role not in PLACEHOLDERS:
        raise TicketTypesError(f"{where}: unknown role {role!r}")
    kind = str(raw.get("kind", "approve"))
    if kind not in KINDS:
        raise TicketTypesError(f"{where}: unknown kind {kind!r}")
    fields = {s.key for s in catalogue()}
    fills = tuple(str(f) for f in raw.get("fills", []))  # type: ignore[attr-defined]
    unknown = [f for f in fills if f not in fields]
    if unknown:
        raise TicketTypesError(f"{where}: unknown fields {unknown}")
    try:
        limit = Decimal(str(raw.get("limit", "")))
    except InvalidOperation:
        limit = Decimal(0)
    if not limit > 0:
        raise TicketTypesError(f"{where}: limit must be positive")
    notify = raw.get("notify")
    return StepSpec(
        key=str(raw["key"]), name=str(raw["name"]), role=role, limit=limit, kind=kind,
        applies=bool(raw.get("applies", False)), fills=fills,
        notify=str(notify) if notify else None,
    )  # fmt: skip


def load_types(path: Path = TYPES_FILE) -> dict[str, TicketType]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out: dict[str, TicketType] = {}
    for key, raw in data.items():
        clock = raw.get("clock", "working_day")
        if clock not in CLOCKS:
            raise TicketTypesError(f"{path.name}: [{key}] unknown clock {clock!r}")
        steps = tuple(_step(path, key, s) for s in raw.get("steps", []))
        if not steps or sum(s.applies for s in steps) != 1:
            raise TicketTypesError(f"{path.name}: [{key}] needs steps with exactly one `applies`")
        out[key] = TicketType(key=key, name=str(raw["name"]), clock=clock, steps=steps)
    return out


@cache
def ticket_types() -> dict[str, TicketType]:
    return load_types()


def ticket_type(key: str) -> TicketType:
    try:
        return ticket_types()[key]
    except KeyError:
        raise KeyError(f"unknown ticket type {key!r}") from None
