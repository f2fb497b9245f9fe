"""Valid documents are kept per schema and not validated again; the cost, which depends on
the variables, is still checked on every request; refused documents are not kept."""

from __future__ import annotations

from typing import Any

from graphql import parse

from schema import schema
from schema.documents import DocumentCache, is_query
from tests.schema.conftest import Gql

DEEP_LISTS = """query($n: Int) { customers(first: $n) { edges { node {
  route { stops { route { stops { id } } } } } } } }"""
COST_20 = (
    "'anonymous' costs 52,081, above the maximum of 50,000 (each field costs 1; a list"
    " multiplies its selection by `first`, default 50, at most 200)"
)


def _messages(body: dict[str, Any]) -> list[str]:
    return [e["message"] for e in body.get("errors", [])]


def test_a_kept_document_is_costed_with_each_requests_variables(gql: Gql, username_of: Any) -> None:
    md = username_of("market_dept")
    # given the document accepted once (first: 0) and so kept
    assert "errors" not in gql(DEEP_LISTS, {"n": 0}, user=md)
    assert schema.documents.get(DEEP_LISTS) is not None
    # when sent again with variables that make it too costly, then it is refused
    body = gql(DEEP_LISTS, {"n": 20}, user=md)
    assert body == {"data": None, "errors": [{"message": COST_20}]}
    # and with cheap variables it runs again
    assert "errors" not in gql(DEEP_LISTS, {"n": 19}, user=md)


def test_a_refused_document_is_not_kept(gql: Gql) -> None:
    query = "{ apiVersio }"
    assert _messages(gql(query)) == [
        "Cannot query field 'apiVersio' on type 'Query'. Did you mean 'apiVersion'?"
    ]
    assert schema.documents.get(query) is None
    # and refused again, with the same message, the next time
    assert _messages(gql(query)) == [
        "Cannot query field 'apiVersio' on type 'Query'. Did you mean 'apiVersion'?"
    ]


def test_the_cache_keeps_the_most_recently_used_documents() -> None:
    cache = DocumentCache(maxsize=2)
    a, b, c = parse("{ a }"), parse("{ b }"), parse("{ c }")
    cache.put("a", a)
    cache.put("b", b)
    assert cache.get("a") is a  # a is now the most recent
    cache.put("c", c)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (a, None, c)
    assert len(cache) == 2


def test_only_a_query_counts_as_reading() -> None:
    two = parse("query A { a } mutation B { b }")
    assert is_query(two, "A") is True
    assert is_query(two, "B") is False
    assert is_query(two, None) is False  # ambiguous: execution refuses it
    assert is_query(parse("subscription { a }"), None) is False
    assert is_query(None, None) is False
