"""A committed 300-shop demo city arranged so that every scope has a target shop, the app
serving it (GraphQL with bearer tokens, the admin signed in per role), and a recorder of
every response body, rendered page, export file and log line the walk produces (what the
personal-data leak scan reads).

The callers are one user per role, all on the same branch of the organisation: the
customer manager ``cm001`` (market area XA-610102-01 of county 610102), that area's market
manager ``mm01``, the county department of 610102, and the city departments. The targets
(``SCOPES``), relative to them:

- ``own``: a shop of cm001;
- ``team``: a shop of a second customer manager of cm001's market area;
- ``county``: a shop in county 610102 of a customer manager of another market area there;
- ``other_county``: a shop of county 610103 (cm002's);
- ``city``: a shop with neither county nor manager (only the city departments see it).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool
from starlette.testclient import TestClient

from api.app import create_app
from api.principals import PrincipalCache
from api.settings import Settings
from domain.access import load_principal
from domain.demo import load_demo
from domain.models import Customer, OrgUnit, Ticket, User
from domain.tickets.proposals import propose_location
from domain.users import create_token, create_user
from domain.vault import Vault
from tests.leaks import LogCollector, Recorder
from tests.support import traversable_tmpdir

VAULT = Vault(b"retailgis-security-test-secret-0123456789")
NOW = dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)
SCOPES = ("own", "team", "county", "other_county", "city")
CALLERS = {
    "customer_manager": "cm001",
    "market_manager": "mm01",
    "county_dept": "county_610102",
    "market_dept": "market_dept",
    "delivery_dept": "delivery_dept",
    "sales_dept": "sales_dept",
    "licensing": "licensing",
    "it_admin": "it_admin",
}
TICKET_MAKER = "market_dept_2"  # makes the target tickets: no caller is their maker
CSRF_RE = re.compile(r"X-CSRF-Token&#34;:\s*&#34;([^&]+)&#34;")


@dataclass(frozen=True)
class Target:
    scope: str
    id: int
    code: str
    version: int
    route_id: int | None
    ticket_id: int  # a returned location-change ticket about the shop
    lng: float
    lat: float


def _arrange(engine: Engine) -> None:
    """Second managers for the team and county targets, a shop of nobody's, a returned
    location-change ticket about each target."""
    with Session(engine) as s, s.begin():
        cm001 = s.scalars(select(User).where(User.username == "cm001")).one()
        area = s.get(OrgUnit, cm001.org_unit_id)
        assert area is not None and area.parent_id is not None
        county = s.get(OrgUnit, area.parent_id)
        assert county is not None and county.region_id is not None
        s.add(
            OrgUnit(
                code=f"{county.code}-02",
                name="第二市场片区",
                kind="market_area",
                parent_id=county.id,
            )
        )
        s.flush()
        teammate = create_user(
            s,
            username="cm001b",
            display_name="同组经理",
            role="customer_manager",
            scope_code=area.code,
            password="unused-password-1",
        )
        other = create_user(
            s,
            username="cm001c",
            display_name="同县经理",
            role="customer_manager",
            scope_code=f"{county.code}-02",
            password="unused-password-2",
        )
        own_ids = list(
            s.scalars(
                select(Customer.id)
                .where(
                    Customer.customer_manager_id == cm001.id,
                    Customer.delivery_route_id.is_not(None),
                    Customer.location.is_not(None),
                )
                .order_by(Customer.id)
            )
        )
        assert len(own_ids) >= 6
        s.execute(
            update(Customer)
            .where(Customer.id.in_(own_ids[1:3]))
            .values(customer_manager_id=teammate.id)
        )
        s.execute(
            update(Customer)
            .where(Customer.id.in_(own_ids[3:5]))
            .values(customer_manager_id=other.id)
        )
        nobody = s.scalars(
            select(Customer.id)
            .where(
                Customer.admin_region_id != county.region_id,
                Customer.delivery_route_id.is_not(None),
                Customer.location.is_not(None),
            )
            .order_by(Customer.id.desc())
        ).first()
        s.execute(
            update(Customer)
            .where(Customer.id == nobody)
            .values(customer_manager_id=None, admin_region_id=None)
        )
    with Session(engine) as s, s.begin():
        maker_id = s.scalars(select(User.id).where(User.username == TICKET_MAKER)).one()
        maker = load_principal(s, maker_id)
        for customer_id in _target_ids(s).values():
            c = s.get(Customer, customer_id)
            assert c is not None
            lng, lat = s.execute(
                text("SELECT ST_X(location), ST_Y(location) FROM customers WHERE id = :i"),
                {"i": customer_id},
            ).one()
            ticket = propose_location(
                s,
                maker,
                customer_id,
                {"lng": lng + 0.0003, "lat": lat + 0.0002},
                reason="矩阵测试",
                vault=VAULT,
                now=NOW,
            )
            # returned to its maker: every decision by anyone else is refused, in scope or not
            ticket.status = "returned"


def _target_ids(s: Session) -> dict[str, int]:
    ids = {
        u: s.scalars(select(User.id).where(User.username == u)).one()
        for u in ("cm001", "cm001b", "cm001c", "cm002")
    }

    def first(*where: Any) -> int:
        found = s.scalars(select(Customer.id).where(*where).order_by(Customer.id)).first()
        assert found is not None, where
        return found

    with_route = Customer.delivery_route_id.is_not(None)
    return {
        "own": first(Customer.customer_manager_id == ids["cm001"], with_route),
        "team": first(Customer.customer_manager_id == ids["cm001b"], with_route),
        "county": first(Customer.customer_manager_id == ids["cm001c"], with_route),
        "other_county": first(Customer.customer_manager_id == ids["cm002"], with_route),
        "city": first(Customer.customer_manager_id.is_(None), Customer.admin_region_id.is_(None)),
    }


@dataclass
class City:
    engine: Engine
    password: str
    targets: dict[str, Target]
    users: dict[str, int]  # username -> id

    def scalar(self, statement: Any, **params: Any) -> Any:
        with Session(self.engine) as s:
            return s.scalar(statement, params)


@pytest.fixture(scope="package")
def city(pg_cluster: Any) -> Iterator[City]:
    name = f"sec_{uuid.uuid4().hex[:10]}"
    pg_cluster.create_database(name, template="retailgis_template")
    engine = create_engine(pg_cluster.url(name), poolclass=NullPool)
    with engine.begin() as conn:
        summary = load_demo(conn, shops=300, seed=11, as_of=dt.date(2026, 11, 1), vault=VAULT)
    _arrange(engine)
    with Session(engine) as s:
        targets = {}
        for scope, cid in _target_ids(s).items():
            c = s.get(Customer, cid)
            assert c is not None
            ticket = s.scalars(
                select(Ticket.id)
                .where(Ticket.customer_id == cid, Ticket.status == "returned")
                .order_by(Ticket.id.desc())
            ).first()
            assert ticket is not None
            lng, lat = s.execute(
                text("SELECT ST_X(location), ST_Y(location) FROM customers WHERE id = :i"),
                {"i": cid},
            ).one()
            targets[scope] = Target(
                scope, c.id, c.customer_code, c.version, c.delivery_route_id, ticket, lng, lat
            )
        users = {u.username: u.id for u in s.scalars(select(User))}
    yield City(engine, summary.password, targets, users)
    engine.dispose()
    pg_cluster.drop_database(name)


@pytest.fixture(scope="package")
def app_client(city: City) -> Iterator[TestClient]:
    settings = Settings(app_env="test", data_dir=traversable_tmpdir("rgis-sec-"))
    app = create_app(settings, city.engine, vault=VAULT, principals=PrincipalCache(seconds=3600))
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="package")
def tokens(city: City) -> dict[str, str]:
    out = {}
    with Session(city.engine) as s, s.begin():
        for role, username in CALLERS.items():
            out[role] = create_token(s, username=username)
    return out


def sign_in(client: TestClient, username: str, password: str) -> str:
    """Sign ``client`` in; the session's CSRF token."""
    page = client.get("/admin/signin")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    res = client.post(
        "/admin/signin",
        data={"username": username, "password": password, "csrf_token": token, "next": "/admin/"},
        follow_redirects=False,
    )
    assert res.status_code == 303, res.text
    found = CSRF_RE.search(client.get("/admin/").text)
    assert found, "no CSRF token on the page"
    return found.group(1)


@pytest.fixture(scope="package")
def recorder() -> Iterator[Recorder]:
    """What the package's requests answered, and every log line of the ``retailgis``
    loggers at DEBUG from the sign-ins on."""
    found = Recorder()
    handler = LogCollector(found)
    logger = logging.getLogger("retailgis")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield found
    logger.removeHandler(handler)
    logger.setLevel(old_level)


@pytest.fixture(scope="package")
def admin_clients(
    app_client: TestClient, city: City, recorder: Recorder
) -> dict[str, tuple[TestClient, str]]:
    """A signed-in admin client per role (cookies of its own; the app's lifespan is run
    once, by ``app_client``)."""
    out: dict[str, tuple[TestClient, str]] = {}
    for role, username in CALLERS.items():
        c = TestClient(app_client.app, base_url="http://testserver")
        out[role] = (c, sign_in(c, username, city.password))
    return out


@dataclass
class Walk:
    observed: dict[tuple[str, str, str], str]
    recorder: Recorder
    before: dict[str, Any]
    after: dict[str, Any]


def _state(city: City) -> dict[str, Any]:
    ids = [t.id for t in city.targets.values()]
    tickets = [t.ticket_id for t in city.targets.values()]
    return {
        "versions": [city.scalar(select(Customer.version).where(Customer.id == i)) for i in ids],
        "tickets": [city.scalar(select(Ticket.status).where(Ticket.id == i)) for i in tickets],
        "count": city.scalar(select(Ticket.id).order_by(Ticket.id.desc()).limit(1)),
    }


@pytest.fixture(scope="package")
def walk(
    city: City,
    app_client: TestClient,
    tokens: dict[str, str],
    admin_clients: dict[str, tuple[TestClient, str]],
    recorder: Recorder,
) -> Walk:
    """The matrix walked once for the package: every role, operation and target scope."""
    from tests.security.matrix import PROBES, UNTARGETED, Caller  # they use this module

    before = _state(city)
    observed: dict[tuple[str, str, str], str] = {}
    for role in CALLERS:
        admin, csrf = admin_clients[role]
        caller = Caller(role, app_client, tokens[role], admin, csrf, recorder)
        for operation, probe in PROBES.items():
            for scope, target in city.targets.items():
                observed[role, operation, scope] = probe(caller, target)
        for operation, untargeted in UNTARGETED.items():
            observed[role, operation, "-"] = untargeted(caller)
        # a forged POST (no CSRF token): refused and logged with the user's name
        own = city.targets["own"].code
        res = admin.post(f"/admin/customers/{own}", data={"version": "1"}, follow_redirects=False)
        recorder.add(role, "page", "POST without CSRF token", res.text)
        assert res.status_code == 403
    return Walk(observed, recorder, before, _state(city))


Gql = Callable[[str, str, dict[str, Any] | None], dict[str, Any]]
