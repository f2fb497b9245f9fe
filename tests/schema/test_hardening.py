"""What one request may ask for (depth, aliases, tokens, cost, body size, batching), the
production variant (no introspection, no suggestions, no GraphiQL), and masked errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from graphql import parse, validate
from sqlalchemy import Engine
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from schema import misc, schema
from schema.root import production_schema
from schema.security import MAX_COST, cost_rule
from tests.schema.conftest import VAULT, Gql
from tests.support import traversable_tmpdir

COST_NOTE = (
    "(each field costs 1; a list multiplies its selection by `first`, default 50, at most 200)"
)
# customers(first: N) { edges { node { route { stops { route { stops { id } } } } } } } costs
# 1 + N * (1 + 1 + (1 + (1 + 50 * (1 + (1 + 50 * 1)))))  = 1 + N * 2604
DEEP_LISTS = """query($n: Int) { customers(first: $n) { edges { node {
  route { stops { route { stops { id } } } } } } } }"""


@pytest.fixture(scope="module")
def prod_client(api_db: Engine) -> Iterator[TestClient]:
    settings = Settings(app_env="production", data_dir=traversable_tmpdir("rgis-prod-"))
    with TestClient(create_app(settings, api_db, vault=VAULT)) as c:
        yield c


def _messages(body: dict[str, Any]) -> list[str]:
    return [e["message"] for e in body.get("errors", [])]


def _deep(leaf_depth: int) -> str:
    """customers(first: 0) { edges { node { route { stops { route ... { id } } } } } } with the
    leaf `id` at the given depth (customers is 0); first 0 keeps it cheap."""
    inner = "id"
    for level in range(leaf_depth - 1, 2, -1):
        inner = f"{'route' if level % 2 else 'stops'} {{ {inner} }}"
    return f"{{ customers(first: 0) {{ edges {{ node {{ {inner} }} }} }} }}"


def test_depth_above_10_is_refused(gql: Gql, username_of: Any) -> None:
    # given a query whose leaves sit at depth 10, it runs
    ok = gql(_deep(10), user=username_of("market_dept"))
    assert "errors" not in ok and ok["data"]["customers"]["edges"] == []
    # when one level more, then exactly the depth error, and nothing runs
    body = gql(_deep(11))
    assert body == {
        "data": None,
        "errors": [
            {
                "message": "'anonymous' exceeds maximum operation depth of 10",
                "locations": body["errors"][0]["locations"],
            }
        ],
    }


def test_aliases_above_30_are_refused_also_inside_fragments(gql: Gql) -> None:
    thirty = " ".join(f"a{i}: apiVersion" for i in range(30))
    assert "errors" not in gql(f"{{ {thirty} }}")
    assert _messages(gql(f"{{ {thirty} x: apiVersion }}")) == ["31 aliases found. Allowed: 30"]
    # given 16 aliases in a fragment spread twice (the response would merge them)
    sixteen = " ".join(f"a{i}: apiVersion" for i in range(16))
    hidden = f"{{ ...F ...F }} fragment F on Query {{ {sixteen} }}"
    assert _messages(gql(hidden)) == ["32 aliases found. Allowed: 30"]


def _tokens(n: int) -> str:
    """A valid document of n tokens (16 around a list of numbers; commas are not tokens)."""
    numbers = " ".join("0" for _ in range(n - 16))
    return f"{{ customers(filter: {{bbox: [{numbers}]}}) {{ totalCount }} }}"


def test_more_than_2000_tokens_are_refused(gql: Gql) -> None:
    # 2000 tokens parse (and then fail as anonymous, later than parsing)
    assert _messages(gql(_tokens(2000))) == ["需要登录或有效的访问令牌"]
    assert _messages(gql(_tokens(2001))) == [
        "Syntax Error: Document contains more than 2000 tokens. Parsing aborted."
    ]


def test_cost_multiplies_lists_by_first(gql: Gql) -> None:
    # when a list nests lists, each level multiplies
    body = gql(DEEP_LISTS, {"n": 200})
    cost = 1 + 200 * 2604
    assert _messages(body) == [
        f"'anonymous' costs {cost:,}, above the maximum of 50,000 {COST_NOTE}"
    ]
    # and a named operation is named; `first` above 200 counts as 200
    named = gql(DEEP_LISTS.replace("query(", "query Deep("), {"n": 5000})
    assert _messages(named) == [f"'Deep' costs {cost:,}, above the maximum of 50,000 {COST_NOTE}"]


@pytest.mark.parametrize(("first", "refused"), [(19, False), (20, True), (None, True), (0, False)])
def test_cost_boundary(first: int | None, refused: bool) -> None:
    # 1 + 19 * 2604 = 49477 passes; 20 * 2604 + 1 = 52081 does not; no `first` means 50
    document = parse(DEEP_LISTS)
    errors = validate(schema._schema, document, [cost_rule({"n": first})])
    assert bool(errors) is refused
    assert (1 + (50 if first is None else first) * 2604 > MAX_COST) is refused


def test_cost_reads_a_variable_default() -> None:
    document = parse(DEEP_LISTS.replace("$n: Int", "$n: Int = 20"))
    assert len(validate(schema._schema, document, [cost_rule({})])) == 1
    assert validate(schema._schema, document, [cost_rule({"n": 19})]) == []


def test_the_nested_customer_page_is_within_the_cost(gql: Gql, username_of: Any) -> None:
    body = gql(
        "{ customers(first: 100) { edges { node { customerManager { name }"
        " route { name stats { stops } } tickets { status } } } } }",
        user=username_of("market_dept"),
    )
    assert "errors" not in body and len(body["data"]["customers"]["edges"]) == 100


@pytest.mark.timeout(30)
def test_fragments_spread_in_cycles_or_fan_outs_end_quickly(gql: Gql) -> None:
    # circular fragments: graphql-core's rule names the cycle; no walker loops
    body = gql("{ ...A } fragment A on Query { apiVersion ...B } fragment B on Query { ...A }")
    assert _messages(body) == ["Cannot spread fragment 'A' within itself via 'B'."]
    # many fragments spreading each other (a naive walker would follow n! paths)
    names = [f"F{i}" for i in range(20)]
    dense = " ".join(
        f"fragment {n} on Query {{ apiVersion {' '.join('...' + m for m in names if m != n)} }}"
        for n in names
    )
    body = gql("{ ...F0 } " + dense)
    assert body["data"] is None and "Cannot spread fragment 'F0' within itself via 'F1'." in (
        _messages(body)
    )
    # a chain where each fragment spreads the next twice: 2^150 spreads once expanded
    chain = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(150))
    body = gql("{ ...F0 } " + chain + " fragment F150 on Query { apiVersion }")
    assert _messages(body) == ["'anonymous' expands to more than 10000 selections"]
    # an unknown fragment is graphql-core's error, not a crash
    assert _messages(gql("{ ...Missing }")) == ["Unknown fragment 'Missing'."]


def test_an_empty_selection_set_is_refused_not_left_unmeasured(gql: Gql) -> None:
    # graphql-core parses `{ }`; strawberry's depth walker cannot measure it, so it is refused
    deep = _deep(11).replace("{ customers", "{ c: customers { } customers", 1)
    body = gql(deep)
    assert _messages(body) == ["A selection set must select at least one field"]
    assert body["data"] is None


def test_oversized_body_and_batches_are_refused(client: TestClient) -> None:
    huge = client.post("/graphql", json={"query": "{ __typename }" + " " * 100_000})
    assert huge.status_code == 413
    assert huge.json()["errors"][0]["message"] == "请求体超过 100000 字节"
    batch = client.post("/graphql", json=[{"query": "{ __typename }"}] * 2)
    assert batch.status_code == 400
    assert batch.json()["errors"][0]["message"] == "不支持批量请求"


INTROSPECTION = "{ __schema { queryType { name } } }"


def test_production_refuses_introspection_and_graphiql(
    prod_client: TestClient, client: TestClient
) -> None:
    res = prod_client.post("/graphql", json={"query": INTROSPECTION})
    assert res.status_code == 200 and res.json()["data"] is None
    assert _messages(res.json())[0] == (
        "GraphQL introspection has been disabled, but the requested query contained"
        " the field '__schema'."
    )
    by_type = prod_client.post("/graphql", json={"query": '{ __type(name: "Query") { name } }'})
    assert by_type.json()["data"] is None
    # __typename is not introspection of the schema
    typename = prod_client.post("/graphql", json={"query": "{ __typename }"})
    assert typename.json() == {"data": {"__typename": "Query"}}
    assert prod_client.get("/graphql").status_code == 405
    # while development answers both
    dev = client.post("/graphql", json={"query": INTROSPECTION}).json()
    assert dev == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    assert client.get("/graphql").status_code == 200


@pytest.mark.parametrize(
    ("query", "production", "development"),
    [
        (
            "{ apiVersio }",
            "Cannot query field 'apiVersio' on type 'Query'.",
            "Cannot query field 'apiVersio' on type 'Query'. Did you mean 'apiVersion'?",
        ),
        (
            "{ customers(frist: 1) { totalCount } }",
            "Unknown argument 'frist' on field 'Query.customers'.",
            "Unknown argument 'frist' on field 'Query.customers'. Did you mean 'first'?",
        ),
        (
            "{ customers(orderBy: COD) { totalCount } }",
            "Value 'COD' does not exist in 'CustomerOrder' enum.",
            "Value 'COD' does not exist in 'CustomerOrder' enum."
            " Did you mean the enum value 'CODE'?",
        ),
    ],
)
def test_production_gives_no_suggestions(
    prod_client: TestClient, client: TestClient, query: str, production: str, development: str
) -> None:
    assert _messages(prod_client.post("/graphql", json={"query": query}).json()) == [production]
    assert _messages(client.post("/graphql", json={"query": query}).json()) == [development]


def test_both_schemas_publish_the_same_contract() -> None:
    assert production_schema.as_str() == schema.as_str()


def test_an_unexpected_error_is_masked_and_logged_with_the_request_id(
    client: TestClient,
    token_for: Any,
    username_of: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given a resolver that fails with an error that must not reach the client
    def boom(role: str) -> Any:
        raise RuntimeError("SELECT password_hash FROM users -- secret detail")

    monkeypatch.setattr(misc, "role_rights", boom)
    headers = {"Authorization": f"Bearer {token_for(username_of('market_dept'))}"}
    # when asking for it
    with caplog.at_level(logging.ERROR, logger="retailgis.graphql"):
        res = client.post("/graphql", json={"query": "{ me { role } }"}, headers=headers)
    # then the client gets a masked error with the request id, no detail and no trace
    request_id = res.headers["x-request-id"]
    assert res.status_code == 200
    assert res.json() == {
        "data": None,
        "errors": [
            {
                "message": "服务器内部错误，请联系管理员并提供请求编号",
                "path": ["me"],
                "extensions": {"code": "INTERNAL", "requestId": request_id},
            }
        ],
    }
    for leak in ("SELECT", "password_hash", "secret", "Traceback", "RuntimeError", ".py"):
        assert leak not in res.text
    # and the log holds the request id, the error's type and its frames, but not its
    # message (database messages echo values, which may be personal data)
    logged = [r for r in caplog.records if r.name == "retailgis.graphql"]
    assert len(logged) == 1 and request_id in logged[0].getMessage()
    assert "unexpected RuntimeError" in logged[0].getMessage() and ".py:" in logged[0].getMessage()
    assert "secret detail" not in logged[0].getMessage() and logged[0].exc_info is None
    assert not any("secret detail" in r.getMessage() for r in caplog.records)


def test_a_failure_outside_the_resolvers_is_masked_with_the_request_id(
    client: TestClient,
    token_for: Any,
    username_of: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given a commit that fails (as a deferred constraint or a lost server would make it)
    from sqlalchemy.orm import Session

    def refuse(self: Session) -> None:
        raise RuntimeError("SELECT secret FROM customers -- must not reach the client")

    monkeypatch.setattr(Session, "commit", refuse)
    headers = {"Authorization": f"Bearer {token_for(username_of('market_dept'))}"}
    # when a request reaches the commit
    with caplog.at_level(logging.ERROR, logger="retailgis.graphql"):
        probe = {"query": "query MaskedCommitProbe { me { role } }"}
        res = client.post("/graphql", json=probe, headers=headers)
    # then the client gets the masked error and the request id, the log has the cause
    assert res.status_code == 500
    error = res.json()["errors"][0]
    assert error["extensions"] == {"code": "INTERNAL", "requestId": res.headers["X-Request-Id"]}
    assert "SELECT" not in res.text and "Traceback" not in res.text
    assert any(res.headers["X-Request-Id"] in r.getMessage() for r in caplog.records)
