"""A few open tickets of every type, with proposed changes that match the current records."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import shapely

from domain.catalogue import catalogue, choice_codes
from domain.demo.common import CHINA_TZ, BoolArray, from_metres, to_metres
from domain.demo.geography import City
from domain.demo.names import person_names
from domain.demo.numbers import mobile_phones
from domain.demo.people import People
from domain.demo.routing import Fleet
from domain.demo.shops import FORMATS, Shops
from domain.demo.ticket_flows import FLOWS, HH, MAKERS, REASONS
from domain.demo.worktime import add_working_days, working_days_before
from domain.models.tickets import TICKET_TYPES

TYPE_LABELS = {
    "onboarding": "新入网", "change_city": "营销中心发起变更", "change_county": "县区发起变更",
    "phone_change": "订货电话变更", "location_change": "位置变更", "route_change": "送货线路变更",
    "bulk_change": "批量变更", "emergency_change": "应急变更", "credit_rating": "诚信等级评定",
    "classification_recompute": "分类调整",
}  # fmt: skip
TICKET_COLUMNS = (
    "id", "type", "status", "title", "reason", "maker_id", "customer_id", "base_version",
    "payload", "created_at", "updated_at",
)  # fmt: skip
STEP_COLUMNS = (
    "id", "ticket_id", "position", "name", "role", "department", "org_unit_id", "assignee_id",
    "status", "limit_value", "limit_unit", "started_at", "due_at",
)  # fmt: skip
CHANGE_COLUMNS = ("id", "ticket_id", "customer_id", "field_key", "old_value", "new_value")
OVERDUE = {"phone_change", "emergency_change"}  # the first ticket of these types is overdue
ONBOARDING_FIELDS = ("business_scope", "display_form", "business_area_m2", "bank_account", "tax_id")
Change = tuple[int | None, str, object, object]  # shop index, column, old, new


def _field_key(column: str) -> str:
    for spec in catalogue():
        if spec.column == column:
            return spec.key
    raise KeyError(column)


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _point(lng: float, lat: float) -> dict[str, object]:
    return {"type": "Point", "coordinates": [lng, lat]}


@dataclass
class TicketData:
    tickets: list[tuple[object, ...]] = field(default_factory=list)
    steps: list[tuple[object, ...]] = field(default_factory=list)
    changes: list[tuple[object, ...]] = field(default_factory=list)


class _Maker:
    def __init__(
        self, city: City, shops: Shops, people: People, fleet: Fleet, rng: np.random.Generator
    ) -> None:
        self.city, self.shops, self.people, self.fleet, self.rng = city, shops, people, fleet, rng
        self.reference = dt.datetime.combine(shops.as_of, dt.time(0, 0), tzinfo=CHINA_TZ)
        active = shops.status == choice_codes("status").index("active")
        self.pool = rng.permutation(np.flatnonzero(active & ~shops.newest)).tolist()
        self.newest = np.flatnonzero(shops.newest).tolist()
        self.used: set[int] = set()
        self.data = TicketData()

    # -- shops and values ---------------------------------------------------------------------

    def take(
        self, ok: Callable[[int], bool] = lambda i: True, pool: list[int] | None = None
    ) -> int:
        for i in self.pool if pool is None else pool:
            if i not in self.used and ok(i):
                self.used.add(i)
                return int(i)
        raise LookupError("no shop left for a demo ticket")

    def value(self, column: str, i: int, *, intended: bool = False) -> object:
        return self.shops.cols[column].get(i, ignore_null=intended)

    def region_id(self, i: int) -> int:
        return int(self.shops.places.region[i]) + 1

    # -- tickets ------------------------------------------------------------------------------

    def add(
        self,
        kind: str,
        shop: int | None,
        region_id: int,
        changes: list[Change],
        overdue: bool,
        title: str,
    ) -> None:
        ticket_id = len(self.data.tickets) + 1
        started = self._started(kind, overdue)
        maker = self._maker(kind, shop, region_id)
        reason = REASONS[kind][int(self.rng.integers(0, len(REASONS[kind])))]
        customer_id = None if shop is None else shop + 1
        base_version = None if shop is None else 1
        shops_changed = len({c[0] for c in changes})
        payload = None if shop is not None else _json({"shops": shops_changed})
        created = started - dt.timedelta(minutes=int(self.rng.integers(5, 40)))
        self.data.tickets.append(
            (
                ticket_id,
                kind,
                "open",
                title,
                reason,
                maker,
                customer_id,
                base_version,
                payload,
                created,
                created,
            )
        )
        for pos, spec in enumerate(FLOWS[kind], start=1):
            org_unit, assignee = self._responsible(spec.role, shop, region_id)
            first = pos == 1
            due = None
            if first:
                due = (
                    started + dt.timedelta(minutes=30 * spec.limit)
                    if spec.unit == HH
                    else add_working_days(started, spec.limit)
                )
            status = "active" if first else "waiting"
            step_id = len(self.data.steps) + 1
            head = (step_id, ticket_id, pos, spec.name, spec.role, spec.department, org_unit)
            tail = (assignee, status, spec.limit, spec.unit, started if first else None, due)
            self.data.steps.append(head + tail)
        for shop_idx, column, old, new in changes:
            cid = None if shop_idx is None else shop_idx + 1
            self.data.changes.append(
                (
                    len(self.data.changes) + 1,
                    ticket_id,
                    cid,
                    _field_key(column),
                    _json(old),
                    _json(new),
                )
            )

    def _started(self, kind: str, overdue: bool) -> dt.datetime:
        ref = self.reference
        if kind == "emergency_change":
            minutes = int(self.rng.integers(150, 240)) if overdue else int(self.rng.integers(5, 25))
            return ref - dt.timedelta(minutes=minutes)
        if overdue:
            days = int(self.rng.integers(3, 5))
            return working_days_before(ref, days, dt.time(10, int(self.rng.integers(0, 60))))
        if kind == "credit_rating":
            return working_days_before(ref, 2, dt.time(14, int(self.rng.integers(0, 60))))
        return ref - dt.timedelta(minutes=int(self.rng.integers(60, 8 * 60)))

    def _maker(self, kind: str, shop: int | None, region_id: int) -> int:
        who = MAKERS[kind]
        if who == "shop_manager":
            assert shop is not None
            return int(self.people.manager[shop])
        if who == "county_dept":
            return self.people.county_user[region_id]
        return self.people.city_user[who]

    def _responsible(self, role: str, shop: int | None, region_id: int) -> tuple[int, int | None]:
        people = self.people
        if role in ("customer_manager", "market_manager") and shop is not None:
            cm = int(people.manager[shop])
            user = cm if role == "customer_manager" else people.market_manager[cm]
            return people.user(user).org_unit_id, user
        if role == "county_dept":
            user = people.county_user[region_id]
            return people.user(user).org_unit_id, user
        return people.org_units[0].id, None

    def shop_title(self, kind: str, shop: int) -> str:
        return f"{self.shops.names[shop]} {TYPE_LABELS[kind]}"

    # -- one builder per type -----------------------------------------------------------------

    def onboarding(self, overdue: bool) -> None:
        shop = self.take(pool=self.newest)
        changes: list[Change] = [
            (shop, col, self.value(col, shop), self.value(col, shop, intended=True))
            for col in ONBOARDING_FIELDS
            if self.value(col, shop) != self.value(col, shop, intended=True)
        ]
        self.add(
            "onboarding",
            shop,
            self.region_id(shop),
            changes,
            overdue,
            self.shop_title("onboarding", shop),
        )

    def change_city(self, overdue: bool) -> None:
        shop = self.take()
        old = str(self.value("business_format", shop))
        new = "convenience" if old == "grocery" else "grocery"
        self.add("change_city", shop, self.region_id(shop), [(shop, "business_format", old, new)],
                 overdue, self.shop_title("change_city", shop))  # fmt: skip

    def change_county(self, overdue: bool) -> None:
        shop = self.take()
        area = self.value("business_area_m2", shop, intended=True)
        new_area = round(float(area) * 1.5, 1) if isinstance(area, float) else 60.0
        contact = person_names(self.rng, 1)[0]
        changes: list[Change] = [
            (shop, "business_area_m2", self.value("business_area_m2", shop), new_area),
            (shop, "contact_person", self.value("contact_person", shop), contact),
        ]
        self.add(
            "change_county",
            shop,
            self.region_id(shop),
            changes,
            overdue,
            self.shop_title("change_county", shop),
        )

    def phone_change(self, overdue: bool) -> None:
        shop = self.take()
        new = mobile_phones(self.rng, 1)[0]
        change: Change = (shop, "phone", self.value("phone", shop), new)
        title = self.shop_title("phone_change", shop)
        self.add("phone_change", shop, self.region_id(shop), [change], overdue, title)

    def location_change(self, overdue: bool) -> None:
        shop = self.take()
        lng, lat = float(self.shops.places.lng[shop]), float(self.shops.places.lat[shop])
        region = self.city.regions[int(self.shops.places.region[shop])]
        x, y = to_metres(np.array([lng]), np.array([lat]))
        for _ in range(50):
            dist, angle = self.rng.uniform(50, 300), self.rng.uniform(0, 2 * np.pi)
            nx, ny = from_metres(x + dist * np.cos(angle), y + dist * np.sin(angle))
            new_lng, new_lat = round(float(nx[0]), 7), round(float(ny[0]), 7)
            if shapely.contains_xy(region.geom, new_lng, new_lat) and shapely.contains_xy(
                self.city.service_area, new_lng, new_lat
            ):
                break
        change: Change = (shop, "location", _point(lng, lat), _point(new_lng, new_lat))
        self.add(
            "location_change",
            shop,
            self.region_id(shop),
            [change],
            overdue,
            self.shop_title("location_change", shop),
        )

    def route_change(self, overdue: bool) -> None:
        fleet = self.fleet
        vehicles_at = np.bincount([v.depot_id for v in fleet.vehicles])

        def several(i: int) -> bool:
            return bool(vehicles_at[fleet.route_row(int(fleet.route[i])).depot_id] > 1)

        shop = self.take(several)
        old = fleet.route_row(int(fleet.route[shop]))
        same = [
            r
            for r in fleet.routes
            if r.depot_id == old.depot_id and r.weekday == old.weekday and r.id != old.id
        ]
        new = min(same, key=lambda r: (abs(r.vehicle_id - old.vehicle_id), r.id))
        stops = int((fleet.route == new.id).sum())
        changes: list[Change] = [
            (shop, "delivery_route_id", old.id, new.id),
            (shop, "delivery_sequence", int(fleet.sequence[shop]), stops + 1),
        ]
        self.add(
            "route_change",
            shop,
            self.region_id(shop),
            changes,
            overdue,
            self.shop_title("route_change", shop),
        )

    def _region_shops(self, ok: BoolArray, want: int) -> tuple[int, list[int]]:
        """Up to ``want`` unused shops matching ``ok``, all in one region (the first, in a
        random order, that has ``want`` of them, else the one with the most)."""
        pool = np.array(self.pool, dtype=np.int64)
        used = np.isin(pool, np.array(sorted(self.used), dtype=np.int64))
        region_of = self.shops.places.region[pool]
        best: tuple[int, npt.NDArray[np.int64]] | None = None
        for region in self.rng.permutation(len(self.city.regions)).tolist():
            found = pool[ok[pool] & ~used & (region_of == region)]
            if best is None or len(found) > len(best[1]):
                best = (region, found)
            if len(found) >= want:
                break
        if best is None or len(best[1]) == 0:
            raise LookupError("no shops left for a demo bulk ticket")
        chosen = sorted(best[1][:want].tolist())
        self.used.update(chosen)
        return best[0] + 1, chosen

    def bulk_change(self, overdue: bool) -> None:
        cols = self.shops.cols
        options = (
            ("order_method", "phone", "online", "订货方式"),
            ("settlement_method", "cash", "electronic", "结算方式"),
        )
        for column, old, new, label in options:
            values = np.asarray(cols[column].values)
            code = cols[column].labels.index(old)
            try:
                region_id, chosen = self._region_shops(values == code, 8)
            except LookupError:
                continue
            changes: list[Change] = [(i, column, old, new) for i in chosen]
            name = self.city.regions[region_id - 1].spec.name
            title = f"{name}批量变更{label}（{len(chosen)}户）"
            self.add("bulk_change", None, region_id, changes, overdue, title)
            return
        raise LookupError("no shops left for a demo bulk ticket")

    def emergency_change(self, overdue: bool) -> None:
        shop = self.take()
        changes: list[Change] = [(shop, "status", "active", "suspended")]
        self.add(
            "emergency_change",
            shop,
            self.region_id(shop),
            changes,
            overdue,
            self.shop_title("emergency_change", shop),
        )

    def credit_rating(self, overdue: bool) -> None:
        shop = self.take()
        old = str(self.value("credit_rating", shop))
        new = {"A": "B", "B": "C", "C": "D", "D": "C"}[old]
        self.add("credit_rating", shop, self.region_id(shop), [(shop, "credit_rating", old, new)],
                 overdue, self.shop_title("credit_rating", shop))  # fmt: skip

    def classification_recompute(self, overdue: bool) -> None:
        scale = np.asarray(self.shops.cols["business_scale"].values)
        region_id, chosen = self._region_shops(scale == 2, 6)
        markets = choice_codes("market_type")
        changes: list[Change] = []
        for i in chosen:
            market = markets[0] if self.shops.urban[i] else markets[1]
            fmt = FORMATS[int(self.shops.fmt[i])]
            old_class = f"{market}-{fmt}-2"
            changes.append((i, "business_scale", 2, 1))
            changes.append((i, "classification", old_class, f"{market}-{fmt}-1"))
        name = self.city.regions[region_id - 1].spec.name
        self.add(
            "classification_recompute",
            None,
            region_id,
            changes,
            overdue,
            f"{name}经营规模分类调整（{len(chosen)}户）",
        )


def generate_tickets(
    city: City, shops: Shops, people: People, fleet: Fleet, rng: np.random.Generator
) -> TicketData:
    """Two or three open tickets of every type; the first phone and emergency ones overdue.

    A tiny city may get fewer where it has no suitable shop left.
    """
    maker = _Maker(city, shops, people, fleet, rng)
    for kind in TICKET_TYPES:
        build: Callable[[bool], None] = getattr(maker, kind)
        for k in range(int(rng.integers(2, 4))):
            try:
                build(k == 0 and kind in OVERDUE)
            except LookupError:
                break  # a tiny city has run out of suitable shops
    return maker.data
