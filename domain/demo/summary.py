"""What ``load_demo`` reports back: counts, the shared demo password and sign-in accounts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoCredential:
    username: str
    display_name: str
    role: str
    scope: str  # the org unit's name


@dataclass(frozen=True)
class DemoSummary:
    shops: int
    regions: int
    depots: int
    vehicles: int
    routes: int
    users: int
    purchase_records: int
    tickets: int
    password: str
    credentials: tuple[DemoCredential, ...]
