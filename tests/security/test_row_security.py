"""Row-level security alone hides other scopes' shops (migration 0012,
domain/access/rowsecurity.py): a session as a scope role selecting ``customers`` with no
WHERE at all gets only its scope; with no role or no ids, nothing. The web requests take
their role in one statement; a read-only request's connection goes back to the pool as
the owner; the city-wide elevation ends with its block."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from api.db import reset_row_security
from domain.access import load_principal
from domain.access.rowsecurity import APP_ROLE, city_wide, enter_scope
from domain.models import Customer, OrgUnit, User
from tests.security.conftest import CALLERS, City
from tests.support import counted_statements

ALL = select(func.count()).select_from(Customer)


def _principal(s: Session, city: City, role: str):  # type: ignore[no-untyped-def]
    return load_principal(s, city.users[CALLERS[role]])


def _expected(s: Session, city: City, role: str) -> int:
    """The count the domain's scope filter gives (customer_scope, as the owner)."""
    from domain.access import customer_scope

    return int(
        s.scalar(
            select(func.count())
            .select_from(Customer)
            .where(customer_scope(_principal(s, city, role)))
        )
        or 0
    )


@pytest.fixture
def pooled(city: City) -> Iterator[Engine]:
    """An engine with a pool of one connection, so reuse is certain."""
    engine = create_engine(city.engine.url, pool_size=1, max_overflow=0)
    reset_row_security(engine)
    yield engine
    engine.dispose()


@pytest.mark.parametrize("role", list(CALLERS))
def test_the_role_alone_hides_what_is_out_of_scope(city: City, role: str) -> None:
    with Session(city.engine) as s, s.begin():
        total = s.scalar(ALL)
        expected = _expected(s, city, role)
        enter_scope(s, _principal(s, city, role))
        # when selecting every customer with no condition of ours
        seen = s.scalar(ALL)
        regions = set(s.scalars(select(Customer.admin_region_id).distinct()))
    assert seen == expected and 0 < seen <= total
    if role == "county_dept":
        county = city.scalar(
            select(OrgUnit.region_id)
            .join(User, User.org_unit_id == OrgUnit.id)
            .where(User.username == CALLERS[role])
        )
        assert regions == {county} and seen < total
    if role in ("customer_manager", "market_manager"):
        assert seen < total


def test_without_a_principal_or_ids_nothing_is_seen(city: City) -> None:
    with Session(city.engine) as s, s.begin():
        enter_scope(s, None)
        assert s.scalar(ALL) == 0
    with Session(city.engine) as s, s.begin():
        # the scope roles with their ids unset (or reset to ''): no row
        for role in ("retailgis_app_county", "retailgis_app_team", "retailgis_app_own"):
            s.execute(text("SELECT set_config('role', :r, true)"), {"r": role})
            assert s.scalar(ALL) == 0, role
            s.execute(
                text(
                    "SELECT set_config('retailgis.user_id', '', true),"
                    " set_config('retailgis.region_id', '', true),"
                    " set_config('retailgis.org_unit_id', '', true)"
                )
            )
            assert s.scalar(ALL) == 0, role


def test_the_app_role_owns_nothing_and_cannot_turn_rls_off(city: City) -> None:
    with Session(city.engine) as s, s.begin():
        owned = s.scalar(
            text(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                " AND tableowner LIKE 'retailgis_app%'"
            )
        )
        assert owned == 0
        assert s.scalar(text("SELECT relrowsecurity FROM pg_class WHERE relname = 'customers'"))
        enter_scope(s, None)
        with pytest.raises(ProgrammingError, match="must be owner"):
            s.execute(text("ALTER TABLE customers DISABLE ROW LEVEL SECURITY"))
    with Session(city.engine) as s, s.begin():
        s.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
        with pytest.raises(ProgrammingError, match="permission denied"):
            s.execute(text("UPDATE ledger_entries SET field_key = field_key"))


def test_city_wide_elevates_only_inside_its_block(city: City) -> None:
    with Session(city.engine) as s, s.begin():
        total = s.scalar(ALL)
        enter_scope(s, _principal(s, city, "customer_manager"))
        own = s.scalar(ALL)
        with city_wide(s):
            assert s.scalar(ALL) == total
        assert s.scalar(ALL) == own < total


def test_a_read_only_connection_goes_back_to_the_pool_as_the_owner(
    pooled: Engine, city: City
) -> None:
    with Session(pooled.execution_options(isolation_level="AUTOCOMMIT")) as s:
        enter_scope(s, _principal(s, city, "customer_manager"), local=False)
        assert s.scalar(text("SELECT current_user")) == "retailgis_app_own"
        assert s.scalar(ALL) < 300
    with pooled.connect() as conn:  # the same connection, reused
        assert conn.scalar(text("SELECT current_user")) != "retailgis_app_own"
        assert conn.scalar(text("SELECT current_setting('retailgis.user_id', true)")) in ("", None)
        assert conn.scalar(ALL) >= 300


def test_a_request_takes_its_scope_in_one_statement(
    app_client: TestClient, tokens: dict[str, str], city: City
) -> None:
    headers = {"Authorization": f"Bearer {tokens['county_dept']}"}
    query = {"query": "{ customers(first: 5) { totalCount } }"}
    app_client.post("/graphql", json=query, headers=headers)  # the token is cached from here
    for _ in range(2):  # the first sight of the document, then the read-only path
        with counted_statements(city.engine, scope=True) as statements:
            res = app_client.post("/graphql", json=query, headers=headers)
        assert res.status_code == 200 and "errors" not in res.json()
        scope = [s for s in statements if s.startswith("SELECT set_config('role'")]
        # (the test's engine has no pool: every request gets a new connection to set)
        assert len(scope) == 1 and statements[0] == scope[0]


def test_a_read_pool_connection_keeps_its_scope_and_sends_it_only_when_it_changes(
    city: City,
) -> None:
    # given the read-only requests' own pool (one connection, so reuse is certain)
    from api.db import read_engine
    from api.readonly import read_only_sessionmaker

    base = create_engine(city.engine.url, pool_size=1, max_overflow=0)
    readers = read_engine(base, 1)
    factory = read_only_sessionmaker(readers, in_autocommit=True)  # as the app makes it
    try:

        def request(role: str) -> tuple[int, int, str]:
            with factory() as s, counted_statements(readers, scope=True) as sent:
                enter_scope(s, _principal(s, city, role), local=False)
                seen = int(s.scalar(ALL) or 0)
                user = str(s.scalar(text("SELECT current_user")))
            scope = [x for x in sent if x.startswith("SELECT set_config('role'")]
            return len(scope), seen, user

        with Session(city.engine) as s:
            own, county = _expected(s, city, "customer_manager"), _expected(s, city, "county_dept")
        # when the same principal asks twice, the second request sends no scope statement
        assert request("customer_manager") == (1, own, "retailgis_app_own")
        assert request("customer_manager") == (0, own, "retailgis_app_own")
        # and another principal on the same connection gets its own scope at once
        assert request("county_dept") == (1, county, "retailgis_app_county")
        # and after a city-wide block the connection is known to be back in its scope
        with factory() as s:
            enter_scope(s, _principal(s, city, "county_dept"), local=False)
            with city_wide(s):
                assert s.scalar(ALL) >= own
        assert request("county_dept") == (0, county, "retailgis_app_county")
    finally:
        readers.dispose()
        base.dispose()
