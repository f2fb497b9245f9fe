"""The fast path answers exactly what graphql-core answers, for every role: same rows
(scope), same masking, same nested objects and serialisation; errors fall back to the
normal executor; documents it cannot run are left to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from graphql import parse
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from api.app import create_app
from api.principals import PrincipalCache
from api.settings import Settings
from domain.access.rights import load_rights
from domain.models import Customer, User
from schema.fastpath import FastPath
from tests.schema.conftest import VAULT
from tests.support import counted_statements, traversable_tmpdir

ROLES = sorted(load_rights())
ALL_FIELDS = """id version customerCode shopName licenceNo licenceType issuingBureau
  licenceIssuedOn licenceExpiresOn annualReviewOn responsiblePerson address adminRegionId
  businessScope businessFormat businessNature customerNature registeredCapital businessAreaM2
  displayForm taxId taxType bankName bankAccount contactPerson phone homeAddress
  mailingAddress idNumber marketType status joinedOn photoShopfront orderMethod
  settlementMethod invoiceType orderFrequency orderBatch orderCycle fulfilmentMode
  pickupPointId businessScale purchaseQty purchaseAmount avgPrice brandCount salesStructure
  monthlyAgreedQty quotaClass totalLimit itemLimit promotionBehaviour compliance
  customerManagerId phoneOrderClerk deliveryPerson monopolyOfficer deliveryRouteId
  deliverySegment deliverySequence visitBatch callBatch creditRating classification
  isMonitored isModelShop networkScale satisfaction photoCounter location"""
NESTED = """query($n: Int!) { customers(first: $n) { edges { node {
  customerManager { name } route { name stats { stops } } tickets { status } } } } }"""
WIDE = (
    """query($n: Int, $after: String, $order: CustomerOrder!) {
  page: customers(first: $n, after: $after, orderBy: $order) {
    __typename totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { ...All __typename
      customerManager { id username name role roleName __typename }
      route { id code name weekday depotId vehicleId isActive stats { stops } }
      tickets { id type typeName status title reason createdAt updatedAt closedAt
                customerId makerId regionId }
      ... on Customer { again: phone } } } }
  apiVersionLike: __typename }
fragment All on Customer { """
    + ALL_FIELDS
    + " }"
)
NEAR = """query($p: PointInput!, $r: Float!) {
  customers(filter: {near: {point: $p, radiusM: $r}}) {
    totalCount edges { node { id customerCode shopName } } } }"""
FILTERED = """query($f: CustomerFilter) { customers(filter: $f, first: 50) {
  totalCount edges { node { id phone status } } } }"""
ONE = (
    """query($c: String, $i: Int) { byCode: customer(code: $c) { ...All tickets { status } }
  byId: customer(id: $i) { id homeAddress idNumber bankAccount } }
fragment All on Customer { """
    + ALL_FIELDS
    + " }"
)


def _sql_selection() -> str:
    """Every field the SQL renderer declares, with aliases and __typename."""
    from schema.customers.sql import TYPES

    def fields(type_name: str) -> str:
        out = ["__typename"]
        for name, spec in TYPES[type_name].fields.items():
            inner = getattr(spec, "type", None)
            out.append(f"{name} {{ {fields(inner)} }}" if inner else name)
        return " ".join(out)

    return fields("Customer")


SQL_WIDE = (
    """query($n: Int, $after: String, $order: CustomerOrder!, $f: CustomerFilter) {
  a: customers(first: $n, after: $after, orderBy: $order, filter: $f) {
    __typename total: totalCount pageInfo { __typename more: hasNextPage }
    edges { __typename n: node { """
    + _sql_selection()
    + """ } } }
  b: customers(first: 2) { totalCount } }"""
)
BOTH = "query($c: String, $i: Int) { customer(id: $i, code: $c) { id } }"
SLOW_ONLY = {
    "history": "{ customers(first: 3) { edges { node { id history { field } } } } }",
    "asOf": '{ customers(first: 2) { edges { node { asOf(at: "2026-11-01T00:00:00Z") } } } }',
    "volume": "{ customers(first: 3) { edges { node { route { stats { volume } } } } } }",
    "me": "{ me { role } customers(first: 1) { totalCount } }",
    "skip": "query($s: Boolean!) { customers(first: 2) { totalCount @skip(if: $s) } }",
}


@pytest.fixture(scope="module")
def slow(api_db: Engine) -> Iterator[TestClient]:
    """The same app with every query run by graphql-core."""
    settings = Settings(app_env="test", data_dir=traversable_tmpdir("rgis-slow-"))
    app = create_app(
        settings, api_db, vault=VAULT, principals=PrincipalCache(seconds=3600), fast_path=False
    )
    with TestClient(app) as c:
        yield c


@pytest.fixture
def answered(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether the fast path answered each request made through ``client``."""
    fast: FastPath = client.app.state.graphql.fast  # type: ignore[attr-defined]
    calls: list[bool] = []
    execute = fast.execute

    def spy(*args: Any, **kwargs: Any) -> Any:
        data = execute(*args, **kwargs)
        calls.append(data is not None)
        return data

    monkeypatch.setattr(fast, "execute", spy)
    return calls


Post = Callable[[TestClient, str, dict[str, Any] | None, str | None], Any]


@pytest.fixture(scope="module")
def post(token_for: Callable[[str], str]) -> Post:
    def run(c: TestClient, query: str, variables: dict[str, Any] | None, user: str | None) -> Any:
        headers = {"Authorization": f"Bearer {token_for(user)}"} if user else {}
        res = c.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
        return res.status_code, res.json()

    return run


def _users(api_db: Engine) -> dict[str, str]:
    """A user of each role that has one in the demo city (the first by id)."""
    with Session(api_db) as s:
        rows = s.execute(select(User.role, func.min(User.username)).group_by(User.role)).all()
    return {role: name for role, name in rows if role in ROLES}


def _sample(api_db: Engine) -> tuple[str, int, dict[str, float]]:
    with Session(api_db) as s:
        code, cid, lng, lat = s.execute(
            select(
                Customer.customer_code, Customer.id, func.ST_X(Customer.location),
                func.ST_Y(Customer.location),
            ).order_by(Customer.id).offset(7).limit(1)
        ).one()  # fmt: skip
    return code, cid, {"lng": lng, "lat": lat}


def _same(
    post: Post, fast: TestClient, slow: TestClient, q: str, v: dict[str, Any] | None, user: str
) -> Any:
    post(fast, q, v, user)  # the first sight of a document validates it (normal path)
    answer = post(fast, q, v, user)
    assert answer == post(slow, q, v, user)
    return answer


def test_every_role_gets_the_same_answer_from_both_paths(
    client: TestClient, slow: TestClient, post: Post, api_db: Engine, answered: list[bool]
) -> None:
    users = _users(api_db)
    assert set(users) == set(ROLES)  # the demo city has a user of every role
    code, cid, point = _sample(api_db)
    cases: list[tuple[str, dict[str, Any]]] = [
        (NESTED, {"n": 100}),
        (WIDE, {"n": 30, "after": None, "order": "NAME"}),
        (WIDE, {"n": 20, "after": "bzoxOQ==", "order": "ROUTE_SEQUENCE"}),
        (NEAR, {"p": point, "r": 1500.0}),
        (FILTERED, {"f": {"search": code[-4:]}}),
        (FILTERED, {"f": {"status": "active", "bbox": [100, 30, 115, 40]}}),
        (ONE, {"c": code, "i": cid}),
        (SQL_WIDE, {"n": 40, "after": None, "order": "CODE", "f": None}),
        (SQL_WIDE, {"n": 7, "after": "bzo5", "order": "JOINED_ON", "f": {"status": "active"}}),
        (SQL_WIDE, {"n": 0, "after": None, "order": "NAME", "f": {"search": code[-3:]}}),
    ]
    for role, user in users.items():
        for query, variables in cases:
            answered.clear()
            status, body = _same(post, client, slow, query, variables, user)
            assert status == 200 and "errors" not in body, (role, body)
            assert answered[-1] is True, (role, query[:40])  # the second request ran fast


def test_the_answers_hold_data_and_masking(
    client: TestClient, post: Post, api_db: Engine, username_of: Any
) -> None:
    # the comparison above is not between two empty answers: a city role sees the page,
    # masked as the domain masks
    code, _, _ = _sample(api_db)
    _, body = post(client, ONE, {"c": code, "i": None}, username_of("market_dept"))
    customer = body["data"]["byCode"]
    with Session(api_db) as s:
        row = s.scalar(select(Customer).where(Customer.customer_code == code))
    assert row is not None and customer["id"] == row.id
    assert customer["phone"] != row.phone and "****" in customer["phone"]
    assert customer["location"]["type"] == "Point" and body["data"]["byId"] is None


def test_postgresql_renders_the_pages_without_personal_fields(client: TestClient) -> None:
    from schema.customers.columns import COLUMNS
    from schema.customers.sql import TYPES

    fast: FastPath = client.app.state.graphql.fast  # type: ignore[attr-defined]
    for query in (NESTED, NEAR, SQL_WIDE):
        plan = fast.plan(query, parse(query), None)
        assert plan is not None and plan.sql is not None
    for query in (WIDE, FILTERED, ONE):  # personal fields, dates, cursors: Python
        plan = fast.plan(query, parse(query), None)
        assert plan is not None and plan.sql is None
    personal = {name for name, c in COLUMNS.items() if c.personal_type}
    assert personal and not personal & set(TYPES["Customer"].fields)


def test_both_paths_issue_as_many_statements_for_10_as_for_100(
    client: TestClient, slow: TestClient, post: Post, api_db: Engine, username_of: Any
) -> None:
    md = username_of("market_dept")
    counts: dict[str, list[int]] = {}
    for name, c in (("fast", client), ("graphql-core", slow)):
        post(c, NESTED, {"n": 1}, md)  # the token and the document are known from here on
        for n in (10, 100):
            with counted_statements(api_db) as statements:
                status, body = post(c, NESTED, {"n": n}, md)
            assert status == 200 and len(body["data"]["customers"]["edges"]) == n
            counts.setdefault(name, []).append(len(statements))
    # one statement rendered by PostgreSQL; page, users, routes, tickets, stop counts
    assert counts == {"fast": [1, 1], "graphql-core": [5, 5]}


@pytest.mark.parametrize(
    ("query", "variables", "user"),
    [
        (NESTED, {"n": 500}, "market_dept"),  # first above 200: the resolver's error
        (NESTED, {"n": "ten"}, "market_dept"),  # a variable of the wrong type
        (NESTED, {"n": 5}, None),  # not signed in
        (WIDE, {"n": 5, "after": "nonsense", "order": "CODE"}, "market_dept"),  # bad cursor
        (BOTH, {"c": "x", "i": 3}, "market_dept"),  # both id and code
        (NEAR, {"p": {"lng": 108.9, "lat": 34.2}, "r": 90000.0}, "market_dept"),  # radius
    ],
)
def test_refusals_are_the_normal_executors(
    client: TestClient,
    slow: TestClient,
    post: Post,
    username_of: Any,
    answered: list[bool],
    query: str,
    variables: dict[str, Any],
    user: str | None,
) -> None:
    who = username_of(user) if user else None
    status, body = post(client, query, variables, who)
    again = post(client, query, variables, who)
    assert again == (status, body) == post(slow, query, variables, who)
    assert body.get("errors") and not any(answered)


@pytest.mark.parametrize("name", sorted(SLOW_ONLY))
def test_documents_it_cannot_run_are_left_to_graphql_core(
    client: TestClient, slow: TestClient, post: Post, username_of: Any, name: str
) -> None:
    query = SLOW_ONLY[name]
    variables = {"s": False} if "$s" in query else None
    fast: FastPath = client.app.state.graphql.fast  # type: ignore[attr-defined]
    assert fast.plan(query, parse(query), None) is None
    md = username_of("market_dept")
    assert _same(post, client, slow, query, variables, md)[0] == 200


def test_a_statement_kept_for_a_form_serves_other_values_and_principals(
    client: TestClient, slow: TestClient, post: Post, api_db: Engine, answered: list[bool]
) -> None:
    # given several customer managers (one scope form, each their own shops), a city
    # user, and points across the city
    with Session(api_db) as s:
        managers = s.scalars(
            select(User.username).where(User.role == "customer_manager").order_by(User.id)
        ).all()[:3]
        city = s.scalar(select(User.username).where(User.role == "market_dept").limit(1))
        points = [
            {"lng": x, "lat": y}
            for x, y in s.execute(
                select(func.ST_X(Customer.location), func.ST_Y(Customer.location))
                .where(Customer.customer_manager_id.is_not(None))
                .order_by(Customer.customer_manager_id, Customer.id)
                .limit(3)
            )
        ]
    assert len(managers) == 3 and city is not None
    cases = [(NEAR, {"p": p, "r": r}) for p in points for r in (300.0, 2500.0)]
    cases += [(NESTED, {"n": n}) for n in (3, 17)]
    seen = 0
    # when each asks every case: the second asker of a form runs the first one's statement
    for user in [*managers, city]:
        for query, variables in cases:
            answered.clear()
            status, body = _same(post, client, slow, query, variables, user)
            assert status == 200 and "errors" not in body, body
            assert answered[-1] is True
            seen += len(body["data"]["customers"]["edges"])
    # then every answer was graphql-core's (above), not all of them empty, and one
    # statement was kept per form: managers' and the city's, near's and the page's
    assert seen > 0
    fast: FastPath = client.app.state.graphql.fast  # type: ignore[attr-defined]
    near = fast.plan(NEAR, parse(NEAR), None)
    nested = fast.plan(NESTED, parse(NESTED), None)
    assert near is not None and nested is not None
    for plan in (near, nested):  # (other tests of this module add their users' forms)
        forms = [form[0] for form in plan.sql.templates]
        assert forms.count("own") == 1 and forms.count("city") == 1, forms


COSTLY = """query($n: Int!) { customers(first: $n) { edges { node { tickets {
  id type status title reason customerId makerId regionId } } } } }"""


def test_the_cost_limit_is_known_per_value_of_first(
    client: TestClient, slow: TestClient, post: Post, username_of: Any, answered: list[bool]
) -> None:
    # given a document within the cost limit for 5 customers and above it for 200
    from schema import schema as development_schema
    from schema.cost import cost_errors

    document = parse(COSTLY)
    assert not cost_errors(development_schema._schema, document, {"n": 5})
    assert cost_errors(development_schema._schema, document, {"n": 200})
    md = username_of("market_dept")
    # when both are asked in turn, then the fast path answers 5 and leaves 200 to the
    # normal executor, which refuses it (the verdict kept for one value is not another's)
    for n, fast in ((5, True), (200, False), (5, True), (200, False)):
        answered.clear()
        status, body = _same(post, client, slow, COSTLY, {"n": n}, md)
        assert answered[-1] is fast, n
        assert status == 200 and ("errors" in body) is not fast, body
        if not fast:
            assert "costs" in body["errors"][0]["message"]


def test_unique_key_lookups_run_on_the_event_loop_and_the_rest_in_worker_threads(
    client: TestClient, post: Post, api_db: Engine, username_of: Any, monkeypatch: Any
) -> None:
    import threading

    import schema.customers.fast as fast
    import schema.customers.queries as queries

    # given a spy on the customer lookups and pages (as the fast path and the resolvers
    # call them): which thread runs them
    threads: list[str] = []
    for module, name in (
        (fast, "customer_by"),
        (queries, "customer_by"),
        (queries, "customer_page"),
    ):
        real = getattr(module, name)

        def spy(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
            threads.append(threading.current_thread().name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, name, spy)
    code, cid, _ = _sample(api_db)
    md = username_of("market_dept")
    lookup = "query($c: String!) { customer(code: $c) { id shopName phone } }"
    page_of = "{ customers(first: 3) { edges { node { id phone } } } }"
    both = "query($c: String, $i: Int) { customer(code: $c, id: $i) { id } }"
    for query in (lookup, page_of, both):
        post(client, query, {"c": code, "i": cid}, md)  # first sight: a worker thread
    # when each is asked again
    threads.clear()
    _, found = post(client, lookup, {"c": code}, md)
    _, listed = post(client, page_of, None, md)
    _, refused = post(client, both, {"c": code, "i": cid}, md)
    # then the lookup ran on the event loop's thread, the page in a worker thread, and a
    # lookup the fast path does not answer (a refusal) went on to a worker thread
    worker = "AnyIO worker thread"
    assert found["data"]["customer"]["id"] == cid
    assert len(listed["data"]["customers"]["edges"]) == 3
    assert refused["errors"] and refused["data"] == {"customer": None}
    loop = threads[0]
    # (the refused lookup: on the loop, then the fast path and graphql-core in the worker)
    assert loop != worker and threads == [loop, worker, loop, worker, worker], threads
