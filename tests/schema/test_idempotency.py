"""idempotencyKey on mutations: a retry is answered with the first body and applies nothing;
the same key with other input is refused; concurrent retries apply once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from domain.models import Customer, IdempotencyKey, LedgerEntry, User

UPDATE = """mutation($i: Int!, $v: Int!, $c: [FieldChangeInput!]!, $k: String) {
  updateCustomer(id: $i, version: $v, changes: $c, idempotencyKey: $k) {
    applied customer { version contactPerson } errors { field code } } }"""


class Shop:
    """A customer manager's shop and how to read its state."""

    def __init__(self, api_db: Engine, offset: int) -> None:
        self.api_db = api_db
        with Session(api_db) as s:
            row = s.execute(
                select(User.username, User.id, Customer.id)
                .join(Customer, Customer.customer_manager_id == User.id)
                .order_by(User.id, Customer.id)
                .offset(offset)
            ).first()
            assert row is not None
            self.username, self.user_id, self.id = row

    def state(self) -> tuple[int, str | None, int, int]:
        """version, contact person, ledger rows, stored keys of the manager."""
        with Session(self.api_db) as s:
            shop = s.get(Customer, self.id)
            assert shop is not None
            ledger = s.scalar(select(func.count()).where(LedgerEntry.customer_id == self.id))
            keys = s.scalar(select(func.count()).where(IdempotencyKey.user_id == self.user_id))
            return shop.version, shop.contact_person, ledger or 0, keys or 0


def _post(
    client: TestClient, token: str, query: str, variables: dict[str, Any] | None = None
) -> httpx.Response:
    res = client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert res.status_code == 200, res.text
    return res


def _vars(shop: Shop, version: int, value: str, key: str | None) -> dict[str, Any]:
    return {
        "i": shop.id,
        "v": version,
        "c": [{"field": "contact_person", "value": value}],
        "k": key,
    }


def test_a_replay_returns_the_first_body_and_applies_once(
    client: TestClient, token_for: Callable[[str], str], api_db: Engine
) -> None:
    # given a shop at some version
    shop = Shop(api_db, 0)
    token = token_for(shop.username)
    version, _, ledger, keys = shop.state()
    # when updating it with a key
    first = _post(client, token, UPDATE, _vars(shop, version, "甲一", "k-replay"))
    body = first.json()["data"]["updateCustomer"]
    assert body["errors"] == [] and body["customer"]["version"] == version + 1
    after_first = shop.state()
    assert after_first[0] == version + 1 and after_first[2] > ledger and after_first[3] == keys + 1
    # and retrying the same request (also written with literals instead of variables)
    again = _post(client, token, UPDATE, _vars(shop, version, "甲一", "k-replay"))
    literal = _post(
        client, token,
        f'mutation {{ updateCustomer(idempotencyKey: "k-replay", id: {shop.id},'
        f' version: {version}, changes: [{{field: "contact_person", value: "甲一"}}])'
        " { applied } }",
    )  # fmt: skip
    # then each retry gets the identical body, and nothing was applied again
    assert again.content == first.content and literal.content == first.content
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert shop.state() == after_first
    # while without a key the same (now stale) request is executed and refused
    stale = _post(client, token, UPDATE, _vars(shop, version, "甲一", None)).json()
    assert stale["data"]["updateCustomer"]["errors"] == [
        {"field": "version", "code": "STALE_VERSION"}
    ]


def test_the_same_key_with_other_input_is_refused_and_changes_nothing(
    client: TestClient, token_for: Callable[[str], str], api_db: Engine
) -> None:
    shop = Shop(api_db, 1)
    token = token_for(shop.username)
    version, *_ = shop.state()
    _post(client, token, UPDATE, _vars(shop, version, "乙一", "k-mismatch"))
    before = shop.state()
    # when the key is reused with another value (and the current version, so it would apply)
    res = _post(client, token, UPDATE, _vars(shop, version + 1, "乙二", "k-mismatch"))
    # then the mismatch is refused and nothing changed
    assert res.json() == {
        "data": None,
        "errors": [
            {
                "message": "idempotencyKey 'k-mismatch' 已用于另一请求（updateCustomer），"
                "同一键只能重试完全相同的请求",
                "extensions": {"code": "IDEMPOTENCY_MISMATCH"},
            }
        ],
    }
    assert shop.state() == before
    # and another user's same key is a key of their own
    other = Shop(api_db, 200)
    assert other.user_id != shop.user_id
    other_version, *_ = other.state()
    res = _post(
        client, token_for(other.username), UPDATE, _vars(other, other_version, "丙", "k-mismatch")
    )
    assert res.json()["data"]["updateCustomer"]["errors"] == []


def test_a_request_that_did_not_execute_does_not_use_up_its_key(
    client: TestClient, token_for: Callable[[str], str], api_db: Engine
) -> None:
    shop = Shop(api_db, 2)
    token = token_for(shop.username)
    version, *_ = shop.state()
    before = shop.state()
    # given a keyed request that fails validation (a variable of the wrong type)
    bad = _vars(shop, version, "丁", "k-invalid") | {"i": "not a number"}
    assert _post(client, token, UPDATE, bad).json()["data"] is None
    assert shop.state() == before
    # when sent again correctly with the same key, then it runs
    res = _post(client, token, UPDATE, _vars(shop, version, "丁", "k-invalid")).json()
    assert res["data"]["updateCustomer"]["errors"] == []
    assert shop.state()[0] == version + 1


def test_malformed_keyed_requests_are_refused(
    client: TestClient, token_for: Callable[[str], str], api_db: Engine
) -> None:
    shop = Shop(api_db, 3)
    token = token_for(shop.username)
    version, *_ = shop.state()
    before = shop.state()
    two = (
        f"mutation {{ a: updateCustomer(id: {shop.id}, version: {version}, changes: [],"
        f' idempotencyKey: "k2") {{ applied }}'
        f" b: updateCustomer(id: {shop.id}, version: {version}, changes: []) {{ applied }} }}"
    )
    assert _post(client, token, two).json() == {
        "data": None,
        "errors": [
            {
                "message": "带 idempotencyKey 的请求只能包含一个变更字段",
                "extensions": {"code": "INVALID"},
            }
        ],
    }
    too_long = _post(client, token, UPDATE, _vars(shop, version, "戊", "k" * 201)).json()
    assert too_long["errors"][0]["extensions"] == {"code": "INVALID"}
    assert too_long["errors"][0]["message"] == "idempotencyKey 须为 1 到 200 个字符"
    assert shop.state() == before


def test_concurrent_retries_apply_once(
    client: TestClient, token_for: Callable[[str], str], api_db: Engine
) -> None:
    # given one request sent by eight threads at once
    shop = Shop(api_db, 4)
    token = token_for(shop.username)
    version, _, ledger, keys = shop.state()
    variables = _vars(shop, version, "己", "k-concurrent")
    start = threading.Barrier(8)
    bodies: list[bytes] = []

    def send() -> None:
        start.wait()
        bodies.append(_post(client, token, UPDATE, variables).content)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    # then all get the same successful body and the change applied once
    assert len(bodies) == 8 and len(set(bodies)) == 1
    assert b'"errors":[]' in bodies[0]
    new_version, contact, new_ledger, new_keys = shop.state()
    assert (new_version, contact, new_keys) == (version + 1, "己", keys + 1)
    assert new_ledger == ledger + 1
