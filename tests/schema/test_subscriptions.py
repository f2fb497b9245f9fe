"""The `ticketEvents` subscription over graphql-transport-ws: committed ticket changes in
the caller's scope arrive as `next` messages; others are filtered; no token, no socket."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, func, not_, select, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from api.subscriptions import TicketEventHub, bearer
from domain.access import load_principal
from domain.models import ApiToken, Ticket, User
from domain.tickets.scope import ticket_scope
from domain.users import create_token, revoke_token
from tests.support import WS_PROTOCOL, ws_receive

pytestmark = pytest.mark.timeout(60)


SUBSCRIPTION = "subscription { ticketEvents { ticketId status type customerId at } }"


def _wait_for(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _hub(client: TestClient) -> TicketEventHub:
    hub: TicketEventHub = client.app.state.ticket_events  # type: ignore[attr-defined]
    return hub


def _connect(ws: WebSocketTestSession, token: str) -> None:
    ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    assert ws_receive(ws)["type"] == "connection_ack"


def _subscribe(client: TestClient, ws: WebSocketTestSession, op_id: str = "1") -> None:
    hub = _hub(client)
    before = hub.subscribers
    ws.send_json({"id": op_id, "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
    _wait_for(lambda: hub.subscribers > before and hub.listening, "the subscription")


def _set_status(engine: Engine, ticket_id: int, status: str) -> None:
    """Another session changes a ticket and commits (as a decision would)."""
    with Session(engine) as s, s.begin():
        s.execute(update(Ticket).where(Ticket.id == ticket_id).values(status=status))


def _scoped_tickets(api_db: Engine, username: str) -> tuple[list[Ticket], list[Ticket]]:
    """Tickets in and out of the user's scope (not made by them: the scope rule decides)."""
    with Session(api_db) as s:
        user = s.scalars(select(User).where(User.username == username)).one()
        principal = load_principal(s, user.id)
        base = select(Ticket).where(Ticket.maker_id != user.id).order_by(Ticket.id)
        inside = list(s.scalars(base.where(ticket_scope(principal))))
        outside = list(s.scalars(base.where(not_(ticket_scope(principal)))))
    return inside, outside


def test_an_in_scope_change_arrives_and_others_are_filtered(
    api_db: Engine, client: TestClient, token_for: Any, username_of: Any
) -> None:
    cm = username_of("customer_manager")
    inside, outside = _scoped_tickets(api_db, cm)
    assert inside and outside, "the demo city has tickets on both sides of the scope"
    mine, other = inside[0], outside[0]
    with client.websocket_connect("/graphql", subprotocols=WS_PROTOCOL) as ws:
        assert ws.accepted_subprotocol == "graphql-transport-ws"
        _connect(ws, token_for(cm))
        _subscribe(client, ws)
        _set_status(api_db, other.id, "withdrawn")  # not the caller's: no event
        _set_status(api_db, mine.id, "withdrawn")
        message = ws_receive(ws)
        assert message["type"] == "next", message
        assert message["id"] == "1"
        event = message["payload"]["data"]["ticketEvents"]
        assert event["ticketId"] == mine.id
        assert event["status"] == "withdrawn"
        assert event["type"] == mine.type
        assert event["customerId"] == mine.customer_id
        assert event["at"]
        assert set(event) == {"ticketId", "status", "type", "customerId", "at"}
        ws.send_json({"id": "1", "type": "complete"})
        _wait_for(lambda: _hub(client).subscribers == 0, "the unsubscription")


def test_a_city_role_sees_every_change_and_uncommitted_ones_do_not_arrive(
    api_db: Engine, client: TestClient, token_for: Any, username_of: Any
) -> None:
    city = username_of("market_dept")
    with Session(api_db) as s:
        first, second = s.scalars(select(Ticket).order_by(Ticket.id.desc()).limit(2)).all()
    with client.websocket_connect("/graphql", subprotocols=WS_PROTOCOL) as ws:
        _connect(ws, token_for(city))
        _subscribe(client, ws)
        with Session(api_db) as s:  # rolled back: nothing is delivered
            s.execute(update(Ticket).where(Ticket.id == first.id).values(status="stale"))
            s.rollback()
        _set_status(api_db, second.id, "rejected")
        event = ws_receive(ws)["payload"]["data"]["ticketEvents"]
        assert (event["ticketId"], event["status"]) == (second.id, "rejected")


@pytest.mark.parametrize("payload", [{}, {"authorization": "Bearer not-a-token"}])
def test_a_connection_without_a_valid_token_is_refused(
    client: TestClient, payload: dict[str, str]
) -> None:
    with client.websocket_connect("/graphql", subprotocols=WS_PROTOCOL) as ws:
        ws.send_json({"type": "connection_init", "payload": payload})
        with pytest.raises(WebSocketDisconnect) as refused:
            ws_receive(ws)
        assert refused.value.code == 4403


def test_subscribing_before_connection_init_is_refused(client: TestClient) -> None:
    with client.websocket_connect("/graphql", subprotocols=WS_PROTOCOL) as ws:
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
        with pytest.raises(WebSocketDisconnect) as refused:
            ws_receive(ws)
        assert refused.value.code == 4401


def test_queries_and_mutations_stay_with_post(
    client: TestClient, token_for: Any, username_of: Any
) -> None:
    with client.websocket_connect("/graphql", subprotocols=WS_PROTOCOL) as ws:
        _connect(ws, token_for(username_of("market_dept")))
        ws.send_json({"id": "q", "type": "subscribe", "payload": {"query": "{ apiVersion }"}})
        message = ws_receive(ws)
        assert message["type"] == "error", message
        assert message["id"] == "q"


def test_bearer_of_connection_params() -> None:
    assert bearer({"authorization": "Bearer abc"}) == "abc"
    assert bearer({"Authorization": "bearer  abc "}) == "abc"
    assert bearer({"authorization": "Basic abc"}) is None
    assert bearer({"authorization": 3}) is None
    assert bearer({}) is None


def test_a_revoked_token_ends_the_subscription_before_its_next_event(
    api_db: Engine, client: TestClient, username_of: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("schema.tickets.subscriptions.RECHECK_SECONDS", 0.0)  # every event
    city = username_of("market_dept")
    with Session(api_db) as s, s.begin():
        token = create_token(s, username=city)
        token_id = s.scalar(select(func.max(ApiToken.id)))
        first, second = s.scalars(select(Ticket.id).order_by(Ticket.id.desc()).limit(2)).all()
    with client.websocket_connect("/graphql", subprotocols=WS_PROTOCOL) as ws:
        _connect(ws, token)
        _subscribe(client, ws)
        # given an event delivered while the token is valid
        _set_status(api_db, first, "rejected")
        assert ws_receive(ws)["payload"]["data"]["ticketEvents"]["ticketId"] == first
        # when the token is revoked, the next change is not delivered: the subscription
        # ends with the error instead
        with Session(api_db) as s, s.begin():
            revoke_token(s, token_id=token_id)
        _set_status(api_db, second, "rejected")
        message = ws_receive(ws)
        assert message == {"id": "1", "type": "next", "payload": {"data": None, "errors": [{
            "message": "访问令牌已撤销或过期，或登录已退出：订阅已结束，请重新登录后再订阅",
            "extensions": {"code": "UNAUTHENTICATED"}}]}}, message  # fmt: skip
        _wait_for(lambda: _hub(client).subscribers == 0, "the subscription to end")
