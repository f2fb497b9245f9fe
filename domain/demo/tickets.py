"""Two or three open tickets of every ticket type (domain/tickets/types.toml), opened
through the ticket engine, so that they behave like real ones.

Planning (which shops, which values, who, when) is numpy and deterministic for the seed;
``open_tickets`` then opens each plan through the engine on an ORM session: ``open_ticket``
(or ``start_rating`` for ratings), so the steps carry their key, kind, ``applies`` and
``fills`` and approving them applies the change; old values come from the records, and
personal values (phones, bank accounts) are sealed with the application's vault. The
onboarding and rating tickets start like the real procedures: the maker's own first step is
done and the next one is active. Due times follow the working calendar; the first phone
and emergency tickets are overdue.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from sqlalchemy.orm import Session

from domain.access import Principal, load_principal
from domain.catalogue import choice_codes, field
from domain.catalogue.validate import validate_changes
from domain.demo.common import CHINA_TZ, BoolArray, from_metres, to_metres
from domain.demo.geography import City
from domain.demo.names import person_names
from domain.demo.numbers import mobile_phones
from domain.demo.people import People
from domain.demo.routing import Fleet
from domain.demo.shops import FORMATS, Shops
from domain.demo.ticket_flows import MAKERS, REASONS
from domain.ledger import stored_form
from domain.models import Customer, TicketChange
from domain.tickets.engine import open_ticket
from domain.tickets.onboarding import submit_first_step
from domain.tickets.rating import start_rating
from domain.tickets.types import ticket_types
from domain.vault import Vault
from domain.workcal import WorkingCalendar

OVERDUE = {"phone_change", "emergency_change"}  # the first ticket of these types is overdue
ONBOARDING_FIELDS = ("business_scope", "display_form", "business_area_m2", "bank_account", "tax_id")
Change = tuple[int, str, object]  # shop index, catalogue key, proposed value (JSON form)


@dataclass(frozen=True)
class Plan:
    """One demo ticket before it is opened: a single shop's, or a region's (``shop`` None)."""

    kind: str
    shop: int | None
    region_id: int
    changes: tuple[Change, ...]
    started: dt.datetime
    maker_id: int
    reason: str
    title: str | None = None


def _point(lng: float, lat: float) -> dict[str, object]:
    return {"type": "Point", "coordinates": [lng, lat]}


class _Planner:
    def __init__(
        self,
        city: City,
        shops: Shops,
        people: People,
        fleet: Fleet,
        rng: np.random.Generator,
        calendar: WorkingCalendar,
    ) -> None:
        self.city, self.shops, self.people, self.fleet, self.rng = city, shops, people, fleet, rng
        self.calendar = calendar
        self.reference = dt.datetime.combine(shops.as_of, dt.time(0, 0), tzinfo=CHINA_TZ)
        active = shops.status == choice_codes("status").index("active")
        self.pool = rng.permutation(np.flatnonzero(active & ~shops.newest)).tolist()
        self.newest = np.flatnonzero(shops.newest).tolist()
        self.used: set[int] = set()
        self.plans: list[Plan] = []

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

    # -- plans --------------------------------------------------------------------------------

    def add(self, kind: str, shop: int, changes: list[Change], overdue: bool) -> None:
        self.plans.append(self._plan(kind, shop, self.region_id(shop), changes, overdue, None))

    def add_region(
        self, kind: str, region_id: int, changes: list[Change], overdue: bool, title: str
    ) -> None:
        self.plans.append(self._plan(kind, None, region_id, changes, overdue, title))

    def _plan(
        self,
        kind: str,
        shop: int | None,
        region_id: int,
        changes: list[Change],
        overdue: bool,
        title: str | None,
    ) -> Plan:
        started = self._started(kind, overdue)
        reason = REASONS[kind][int(self.rng.integers(0, len(REASONS[kind])))]
        maker = self._maker(kind, shop, region_id)
        return Plan(kind, shop, region_id, tuple(changes), started, maker, reason, title)

    def _working_day_back(self, days: int, at: dt.time) -> dt.datetime:
        day, left = self.reference.date(), days
        while left > 0:
            day -= dt.timedelta(days=1)
            left -= self.calendar.is_working_day(day)
        return dt.datetime.combine(day, at, tzinfo=CHINA_TZ)

    def _started(self, kind: str, overdue: bool) -> dt.datetime:
        minute = int(self.rng.integers(0, 60))
        if kind == "emergency_change":
            if overdue:  # the afternoon before: half an hour of working time is long past
                return self._working_day_back(1, dt.time(15, minute))
            return self.reference - dt.timedelta(minutes=int(self.rng.integers(5, 25)))
        if overdue:
            return self._working_day_back(int(self.rng.integers(3, 5)), dt.time(10, minute))
        if kind == "credit_rating":  # two working days into the notice period
            return self._working_day_back(2, dt.time(14, minute))
        return self.reference - dt.timedelta(minutes=int(self.rng.integers(60, 8 * 60)))

    def _maker(self, kind: str, shop: int | None, region_id: int) -> int:
        who = MAKERS[kind]
        if who == "shop_manager":
            assert shop is not None
            return int(self.people.manager[shop])
        if who == "county_dept":
            return self.people.county_user[region_id]
        return self.people.city_user[who]

    # -- one builder per type -----------------------------------------------------------------

    def onboarding(self, overdue: bool) -> None:
        shop = self.take(pool=self.newest)
        changes: list[Change] = [
            (shop, col, self.value(col, shop, intended=True))
            for col in ONBOARDING_FIELDS
            if self.value(col, shop) != self.value(col, shop, intended=True)
        ]
        self.add("onboarding", shop, changes, overdue)

    def change_city(self, overdue: bool) -> None:
        shop = self.take()
        new = "convenience" if self.value("business_format", shop) == "grocery" else "grocery"
        self.add("change_city", shop, [(shop, "business_format", new)], overdue)

    def change_county(self, overdue: bool) -> None:
        shop = self.take()
        area = self.value("business_area_m2", shop, intended=True)
        new_area = round(float(area) * 1.5, 1) if isinstance(area, float) else 60.0
        contact = person_names(self.rng, 1)[0]
        changes: list[Change] = [
            (shop, "business_area_m2", new_area),
            (shop, "contact_person", contact),
        ]
        self.add("change_county", shop, changes, overdue)

    def phone_change(self, overdue: bool) -> None:
        shop = self.take()
        self.add("phone_change", shop, [(shop, "phone", mobile_phones(self.rng, 1)[0])], overdue)

    def location_change(self, overdue: bool) -> None:
        shop = self.take()
        lng, lat = float(self.shops.places.lng[shop]), float(self.shops.places.lat[shop])
        region = self.city.regions[int(self.shops.places.region[shop])]
        x, y = to_metres(np.array([lng]), np.array([lat]))
        new_lng, new_lat = lng, lat
        for _ in range(50):
            dist, angle = self.rng.uniform(50, 300), self.rng.uniform(0, 2 * np.pi)
            nx, ny = from_metres(x + dist * np.cos(angle), y + dist * np.sin(angle))
            new_lng, new_lat = round(float(nx[0]), 7), round(float(ny[0]), 7)
            if shapely.contains_xy(region.geom, new_lng, new_lat) and shapely.contains_xy(
                self.city.service_area, new_lng, new_lat
            ):
                break
        self.add("location_change", shop, [(shop, "location", _point(new_lng, new_lat))], overdue)

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
            (shop, "delivery_route", new.id),
            (shop, "delivery_sequence", stops + 1),
        ]
        self.add("route_change", shop, changes, overdue)

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
        for key, old, new, label in options:
            values = np.asarray(cols[key].values)
            try:
                region_id, chosen = self._region_shops(values == cols[key].labels.index(old), 8)
            except LookupError:
                continue
            name = self.city.regions[region_id - 1].spec.name
            title = f"{name}批量变更{label}（{len(chosen)}户）"
            changes: list[Change] = [(i, key, new) for i in chosen]
            self.add_region("bulk_change", region_id, changes, overdue, title)
            return
        raise LookupError("no shops left for a demo bulk ticket")

    def emergency_change(self, overdue: bool) -> None:
        shop = self.take()
        self.add("emergency_change", shop, [(shop, "status", "suspended")], overdue)

    def credit_rating(self, overdue: bool) -> None:
        shop = self.take()
        new = {"A": "B", "B": "C", "C": "D", "D": "C"}[str(self.value("credit_rating", shop))]
        self.add("credit_rating", shop, [(shop, "credit_rating", new)], overdue)

    def classification_recompute(self, overdue: bool) -> None:
        scale = np.asarray(self.shops.cols["business_scale"].values)
        region_id, chosen = self._region_shops(scale == 2, 6)
        markets = choice_codes("market_type")
        changes: list[Change] = []
        for i in chosen:
            market = markets[0] if self.shops.urban[i] else markets[1]
            fmt = FORMATS[int(self.shops.fmt[i])]
            changes.append((i, "business_scale", 1))
            changes.append((i, "classification", f"{market}-{fmt}-1"))
        name = self.city.regions[region_id - 1].spec.name
        title = f"{name}经营规模分类调整（{len(chosen)}户）"
        self.add_region("classification_recompute", region_id, changes, overdue, title)


def plan_tickets(
    city: City,
    shops: Shops,
    people: People,
    fleet: Fleet,
    rng: np.random.Generator,
    calendar: WorkingCalendar,
) -> list[Plan]:
    """Two or three tickets of every type; the first phone and emergency ones overdue.

    A tiny city may get fewer where it has no suitable shop left; a type without a builder
    here (added to types.toml later) gets none.
    """
    planner = _Planner(city, shops, people, fleet, rng, calendar)
    for kind in ticket_types():
        build: Callable[[bool], None] | None = getattr(planner, kind, None)
        if build is None:
            continue
        for k in range(int(rng.integers(2, 4))):
            try:
                build(k == 0 and kind in OVERDUE)
            except LookupError:
                break  # a tiny city has run out of suitable shops
    return planner.plans


# -- opening through the engine -------------------------------------------------------------


def _customer(session: Session, shop: int) -> Customer:
    customer = session.get(Customer, shop + 1)  # COPY gave the shops ids 1..n in order
    assert customer is not None
    return customer


def _open_one(
    session: Session, maker: Principal, plan: Plan, vault: Vault, calendar: WorkingCalendar
) -> None:
    assert plan.shop is not None
    customer = _customer(session, plan.shop)
    raw = {key: value for _, key, value in plan.changes}
    if plan.kind == "credit_rating":
        start_rating(
            session, maker, customer.id, proposed=str(raw["credit_rating"]),
            evidence=plan.reason, vault=vault, now=plan.started, calendar=calendar,
        )  # fmt: skip
        return
    ticket = open_ticket(
        session, maker, type_key=plan.kind, customer=customer, vault=vault,
        values=validate_changes(session, customer, raw), now=plan.started,
        reason=plan.reason, calendar=calendar,
    )  # fmt: skip
    if plan.kind == "onboarding":  # as start_onboarding: licensing's own step is submitted
        submit_first_step(session, ticket, plan.started, calendar)


def _open_regional(
    session: Session, maker: Principal, plan: Plan, vault: Vault, calendar: WorkingCalendar
) -> None:
    shops = sorted({shop for shop, _, _ in plan.changes})
    ticket = open_ticket(
        session, maker, type_key=plan.kind, customer=None, values={}, vault=vault,
        now=plan.started, reason=plan.reason, title=plan.title, region_id=plan.region_id,
        payload={"shops": len(shops)}, calendar=calendar,
    )  # fmt: skip
    for shop, key, value in plan.changes:
        customer, spec = _customer(session, shop), field(key)
        new = validate_changes(session, customer, {key: value})[key]
        session.add(
            TicketChange(
                ticket_id=ticket.id, customer_id=customer.id, field_key=key,
                old_value=stored_form(spec, getattr(customer, spec.column), vault),
                new_value=stored_form(spec, new, vault),
            )
        )  # fmt: skip


def open_tickets(
    session: Session, plans: list[Plan], vault: Vault, calendar: WorkingCalendar
) -> int:
    """Open every planned ticket through the engine (in the session's transaction)."""
    makers: dict[int, Principal] = {}
    for plan in plans:
        if plan.maker_id not in makers:
            makers[plan.maker_id] = load_principal(session, plan.maker_id)
        opener = _open_one if plan.shop is not None else _open_regional
        opener(session, makers[plan.maker_id], plan, vault, calendar)
    session.flush()
    return len(plans)
