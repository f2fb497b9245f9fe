"""Org units, departments and users; customer managers own compact sets of shops.

Within each county the shops are ordered along a Hilbert curve and cut into equal chunks:
one chunk per customer manager (≈200 shops), five consecutive managers per market area,
and each manager's chunk cut again into five visit batches (拜访批次, Monday..Friday).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from domain.demo.common import (
    IntArray,
    chunk_index,
    cn_number,
    hilbert_index,
    largest_remainder,
    to_metres,
)
from domain.demo.geography import City
from domain.demo.names import person_names
from domain.demo.numbers import mobile_phones
from domain.demo.pgcopy import Column
from domain.demo.shops import Shops

SHOPS_PER_MANAGER = 200
MANAGERS_PER_AREA = 5
SHOPS_PER_OFFICER = 500
CITY_UNIT = ("XA", "西安市烟草公司")
DEPARTMENTS = (
    ("licensing", "专卖管理所"),
    ("market_dept", "营销中心市场部"),
    ("delivery_dept", "营销中心配送部"),
    ("sales_dept", "营销中心销售部"),
    ("it", "信息科"),
)
# City-level accounts: username = role, and the department each belongs to.
CITY_USERS = (
    ("market_dept", "market_dept"),
    ("delivery_dept", "delivery_dept"),
    ("sales_dept", "sales_dept"),
    ("licensing", "licensing"),
    ("it_admin", "it"),
)


@dataclass(frozen=True)
class OrgUnitRow:
    id: int
    code: str
    name: str
    kind: str
    parent_id: int | None
    region_id: int | None


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    display_name: str
    role: str
    org_unit_id: int
    department_id: int | None
    phone: str


@dataclass(frozen=True)
class People:
    org_units: tuple[OrgUnitRow, ...]
    departments: tuple[tuple[int, str, str, int], ...]  # id, code, name, org unit
    users: tuple[UserRow, ...]
    manager: IntArray  # per shop: the customer manager's user id
    county_user: dict[int, int]  # region id -> county_dept user id
    market_manager: dict[int, int]  # customer manager id -> market manager id
    city_user: dict[str, int]  # role -> user id

    def user(self, user_id: int) -> UserRow:
        return self.users[user_id - 1]

    def unit(self, unit_id: int) -> OrgUnitRow:
        return self.org_units[unit_id - 1]


@dataclass
class _Builder:
    units: list[OrgUnitRow]
    users: list[UserRow]
    names: list[str]
    phones: list[str]

    def unit(self, code: str, name: str, kind: str, parent: int | None, region: int | None) -> int:
        uid = len(self.units) + 1
        self.units.append(OrgUnitRow(uid, code, name, kind, parent, region))
        return uid

    def user(self, username: str, role: str, org_unit: int, department: int | None) -> int:
        uid = len(self.users) + 1
        self.users.append(
            UserRow(
                uid, username, self.names[uid - 1], role, org_unit, department, self.phones[uid - 1]
            )
        )
        return uid


def managers_for(shops: int) -> int:
    """About one customer manager per 200 shops."""
    return max(1, math.floor(shops / SHOPS_PER_MANAGER + 0.5))


def build_people(city: City, shops: Shops, rng: np.random.Generator) -> People:
    """All org units and users; sets customer_manager_id, visit_batch and monopoly_officer."""
    n = shops.n
    region_of = shops.places.region
    counts = np.bincount(region_of, minlength=len(city.regions))
    manager_counts = largest_remainder(managers_for(n), counts, minimum=1).tolist()
    manager_counts = [max(1, m) for m in manager_counts]  # every county has a manager
    # One account per city role and county, a second one of each (so that a maker is never
    # the only one who can decide a step), a market manager per area and the managers.
    total_users = 2 * (len(CITY_USERS) + len(city.regions)) + sum(manager_counts) * 2
    b = _Builder([], [], person_names(rng, total_users), mobile_phones(rng, total_users))

    city_unit = b.unit(CITY_UNIT[0], CITY_UNIT[1], "city", None, None)
    departments = tuple(
        (i + 1, code, name, city_unit) for i, (code, name) in enumerate(DEPARTMENTS)
    )
    dept_id = {code: i for i, code, _, _ in departments}
    city_user = {role: b.user(role, role, city_unit, dept_id[dept]) for role, dept in CITY_USERS}
    county_unit = {
        r.id: b.unit(f"XA-{r.spec.code}", f"{r.spec.name}营销部", "county", city_unit, r.id)
        for r in city.regions
    }
    county_user = {
        r.id: b.user(f"county_{r.spec.code}", "county_dept", county_unit[r.id], None)
        for r in city.regions
    }

    area_counts = [max(1, math.floor(m / MANAGERS_PER_AREA + 0.5)) for m in manager_counts]
    first_cm_id = len(b.users) + sum(area_counts) + 1
    manager = np.zeros(n, dtype=np.int64)
    visit = np.zeros(n, dtype=np.int64)
    officer = [""] * n
    officer_names = person_names(rng, max(1, n // SHOPS_PER_OFFICER + len(city.regions)))
    officer_next = 0
    market_manager: dict[int, int] = {}
    pending_cms: list[tuple[int, int]] = []  # (market area unit, market manager) per manager
    x, y = to_metres(shops.places.lng, shops.places.lat)
    ids = shops.ids
    area_seq = 0
    for r_idx, region in enumerate(city.regions):
        m, areas = manager_counts[r_idx], area_counts[r_idx]
        for a, group in enumerate(np.array_split(np.arange(m), areas)):
            area_seq += 1
            unit_id = b.unit(
                f"XA-{region.spec.code}-{a + 1:02d}",
                f"{region.spec.name}第{cn_number(a + 1)}市场部",
                "market_area",
                county_unit[region.id],
                None,
            )
            mm_id = b.user(f"mm{area_seq:02d}", "market_manager", unit_id, None)
            pending_cms.extend((unit_id, mm_id) for _ in group.tolist())
        manager_ids = np.arange(m, dtype=np.int64) + first_cm_id + len(pending_cms) - m
        members = np.flatnonzero(region_of == r_idx)
        if len(members) == 0:
            continue
        order = members[np.lexsort((ids[members], hilbert_index(x[members], y[members])))]
        size = len(order)
        local = chunk_index(size, m)
        starts = (np.arange(m + 1, dtype=np.int64) * size + m - 1) // m
        within = np.arange(size) - starts[local]
        chunk_size = (starts[1:] - starts[:-1])[local]
        manager[order] = manager_ids[local]
        visit[order] = (within * 5) // np.maximum(chunk_size, 1) + 1
        k = max(1, math.ceil(size / SHOPS_PER_OFFICER))
        names = officer_names[officer_next : officer_next + k]
        officer_next += k
        for pos, o in zip(order.tolist(), chunk_index(size, k).tolist(), strict=True):
            officer[pos] = names[o]
    cm_width = max(3, len(str(len(pending_cms))))
    for k, (unit_id, mm_id) in enumerate(pending_cms):
        uid = b.user(f"cm{k + 1:0{cm_width}d}", "customer_manager", unit_id, None)
        assert uid == first_cm_id + k
        market_manager[uid] = mm_id
    # Second accounts, created last so the ids above stay as they are.
    for role, dept in CITY_USERS:
        b.user(f"{role}_2", role, city_unit, dept_id[dept])
    for r in city.regions:
        b.user(f"county_{r.spec.code}_2", "county_dept", county_unit[r.id], None)

    shops.cols["customer_manager_id"] = Column("int", manager)
    shops.cols["visit_batch"] = Column("int", visit)
    shops.cols["monopoly_officer"] = Column("text", officer)
    return People(tuple(b.units), departments, tuple(b.users), manager, county_user,
                  market_manager, city_user)  # fmt: skip
