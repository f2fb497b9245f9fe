"""The authorization matrix (authz_matrix.csv), walked against the running app: every role
x every operation that reaches a shop (GraphQL queries, nested fields, mutations, admin
routes) x the target shop of each scope, and every other operation per role.

The matrix must list every operation there is: a GraphQL field of Query or Mutation, a
field of any type that returns customers or tickets, an admin route (found by walking the
served app), so a new operation cannot go unclassified. Its targeted rows must agree with
the scopes of domain/access/rights.csv. Mutations in the walk carry a deliberate defect
found after the scope check; the target shops and tickets are unchanged afterwards.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType
from starlette.testclient import TestClient

from admin.web import UNSAFE_METHODS
from domain.access.rights import SCOPES, role_rights
from schema import schema as strawberry_schema
from tests.admin.routes_support import admin_routes
from tests.security.conftest import CALLERS, Walk
from tests.security.matrix import (
    OUTCOMES,
    PROBES,
    UNTARGETED,
    read_matrix,
)

# The rank a target of each scope needs (other_county and the shop of nobody: the city).
NEEDS = {"own": 0, "team": 1, "county": 2, "other_county": 3, "city": 3}
SHOP_TYPES = {
    "Customer",
    "CustomerConnection",
    "CustomerEdge",
    "Ticket",
    "TicketConnection",
    "TicketEdge",
}


def _named(type_: Any) -> Any:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


def live_operations(app: Any) -> set[str]:
    """Every GraphQL entry point and field reaching shops or tickets, every admin route."""
    gql = strawberry_schema._schema
    found = set()
    for root in ("Query", "Mutation", "Subscription"):
        found |= {f"graphql {root}.{name}" for name in gql.type_map[root].fields}  # type: ignore[union-attr]
    for name, type_ in gql.type_map.items():
        if name in ("Query", "Mutation", "Subscription") or name.startswith("__"):
            continue
        if isinstance(type_, GraphQLObjectType):
            for field_name, f in type_.fields.items():
                if _named(f.type).name in SHOP_TYPES:
                    found.add(f"graphql {name}.{field_name}")
    for path, route in admin_routes(app):
        for method in sorted((route.methods or set()) - {"HEAD"}):
            found.add(f"admin {method} {path}")
    return found


def _covers(operation: str, listed: str) -> bool:
    """``graphql Query.customer`` is covered by ``graphql Query.customer(id)``, and a
    nested field by a row naming it after a ``+``."""
    if operation == listed:
        return True
    kind, rest = operation.split(" ", 1)
    if not listed.startswith(kind + " "):
        return False
    if kind == "admin":
        return listed == operation
    names = listed[len(kind) + 1 :].replace("+", ",").split(",")
    return any(n.strip().split("(")[0] == rest for n in names)


def test_the_matrix_lists_every_operation_there_is(app_client: TestClient) -> None:
    listed = {r.operation for r in read_matrix()}
    missing = sorted(
        op for op in live_operations(app_client.app) if not any(_covers(op, x) for x in listed)
    )
    assert missing == [], "classify these in tests/security/authz_matrix.csv"


def test_every_role_and_scope_is_in_the_matrix_once() -> None:
    rows = read_matrix()
    assert all(r.expected in OUTCOMES for r in rows), {r.expected for r in rows} - set(OUTCOMES)
    keys = [(r.role, r.operation, r.scope) for r in rows]
    assert len(keys) == len(set(keys))
    for operation in {r.operation for r in rows}:
        of_op = {(r.role, r.scope) for r in rows if r.operation == operation}
        scopes = {s for _, s in of_op}
        assert {r for r, _ in of_op} == set(CALLERS), operation
        assert scopes in ({"-"}, set(NEEDS)), (operation, scopes)
        assert len(of_op) == len(CALLERS) * len(scopes), operation
    assert {r.operation for r in rows if r.scope != "-"} == set(PROBES)
    walked = set(UNTARGETED) | set(PROBES)
    for r in rows:
        assert r.operation in walked or r.expected == "n/a", r
        assert r.expected != "n/a" or r.note, f"{r}: say why it is not walked"


def test_the_matrix_agrees_with_the_scopes_of_rights_csv() -> None:
    for r in read_matrix():
        if r.scope == "-" or r.expected in ("forbidden", "n/a"):
            continue
        rank = SCOPES.index(role_rights(r.role).scope)
        visible = rank >= NEEDS[r.scope]
        assert r.expected == ("allowed" if visible else "hidden"), r


def test_the_app_answers_as_the_matrix_says(walk: Walk) -> None:
    wrong = [
        f"{r.role} {r.operation} [{r.scope}]: expected {r.expected}, got {got}"
        for r in read_matrix()
        if r.expected != "n/a"
        and (got := walk.observed[r.role, r.operation, r.scope]) != r.expected
    ]
    assert wrong == [], "\n".join(wrong)
    assert len(walk.observed) >= len(CALLERS) * (len(PROBES) * len(NEEDS) + len(UNTARGETED))


def test_the_walk_changed_no_target(walk: Walk) -> None:
    assert walk.after == walk.before


def test_every_unsafe_admin_route_is_walked_or_explained(app_client: TestClient) -> None:
    rows = {r.operation: r for r in read_matrix()}
    for path, route in admin_routes(app_client.app):
        for method in (route.methods or set()) & UNSAFE_METHODS:
            row = rows[f"admin {method} {path}"]
            assert row.operation in PROBES or row.expected == "n/a", row
