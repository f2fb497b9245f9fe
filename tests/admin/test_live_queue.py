"""The admin's pages subscribe to `ticketEvents` with their session: the handshake's cookie
plus the session's CSRF token in `connection_init`; without the token, with another
session's token, or signed out, the socket is refused (4403) and nothing is delivered."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from admin.auth import SESSION_COOKIE
from domain.models import Ticket
from tests.admin.conftest import Demo, SignIn
from tests.support import WS_PROTOCOL, ws_receive

pytestmark = pytest.mark.timeout(60)


SUBSCRIPTION = "subscription { ticketEvents { ticketId status } }"
ENDED = {"id": "1", "type": "next", "payload": {"data": None, "errors": [{
    "message": "访问令牌已撤销或过期，或登录已退出：订阅已结束，请重新登录后再订阅",
    "extensions": {"code": "UNAUTHENTICATED"}}]}}  # fmt: skip


def _touch(demo: Demo, ticket_id: int) -> None:
    """A committed write of the ticket that changes nothing (the trigger still notifies)."""
    with Session(demo.engine) as s, s.begin():
        s.execute(text("UPDATE tickets SET status = status WHERE id = :id"), {"id": ticket_id})


def test_a_signed_in_page_receives_ticket_events(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    csrf = sign_in(admin_demo.user("market_dept"))  # city scope: every ticket
    ticket_id = admin_demo.scalar(select(Ticket.id).order_by(Ticket.id.desc()).limit(1))
    status = admin_demo.scalar(select(Ticket.status).where(Ticket.id == ticket_id))
    with browser_client.websocket_connect("/graphql", subprotocols=WS_PROTOCOL) as ws:
        ws.send_json({"type": "connection_init", "payload": {"csrfToken": csrf}})
        assert ws_receive(ws)["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
        hub = browser_client.app.state.ticket_events  # type: ignore[attr-defined]
        deadline = time.monotonic() + 10
        while not (hub.subscribers and hub.listening):
            assert time.monotonic() < deadline, "the subscription did not start"
            time.sleep(0.02)
        _touch(admin_demo, ticket_id)
        event = ws_receive(ws)["payload"]["data"]["ticketEvents"]
    assert event == {"ticketId": ticket_id, "status": status}


@pytest.mark.parametrize("payload", [{}, {"csrfToken": "wrong"}, {"csrfToken": 3}])
def test_a_session_without_its_csrf_token_is_refused(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo, payload: dict[str, Any]
) -> None:
    sign_in(admin_demo.user("market_dept"))
    hub = browser_client.app.state.ticket_events  # type: ignore[attr-defined]
    before = hub.subscribers
    with browser_client.websocket_connect("/graphql", subprotocols=WS_PROTOCOL) as ws:
        ws.send_json({"type": "connection_init", "payload": payload})
        with pytest.raises(WebSocketDisconnect) as refused:
            ws_receive(ws)
    assert refused.value.code == 4403
    assert hub.subscribers == before


def test_a_signed_out_session_is_refused(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    csrf = sign_in(admin_demo.user("market_dept"))
    cookie = browser_client.cookies.get(SESSION_COOKIE)
    res = browser_client.post("/admin/signout", headers={"X-CSRF-Token": csrf})
    assert res.status_code in (200, 204, 303)
    browser_client.cookies.set(SESSION_COOKIE, cookie)  # the ended session's cookie, replayed
    with browser_client.websocket_connect("/graphql", subprotocols=WS_PROTOCOL) as ws:
        ws.send_json({"type": "connection_init", "payload": {"csrfToken": csrf}})
        with pytest.raises(WebSocketDisconnect) as refused:
            ws_receive(ws)
    assert refused.value.code == 4403


def test_signing_out_ends_an_open_subscription_before_its_next_event(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("schema.tickets.subscriptions.RECHECK_SECONDS", 0.0)  # every event
    csrf = sign_in(admin_demo.user("market_dept"))
    ticket_id = admin_demo.scalar(select(Ticket.id).order_by(Ticket.id.desc()).limit(1))
    hub = browser_client.app.state.ticket_events  # type: ignore[attr-defined]
    with browser_client.websocket_connect("/graphql", subprotocols=WS_PROTOCOL) as ws:
        ws.send_json({"type": "connection_init", "payload": {"csrfToken": csrf}})
        assert ws_receive(ws)["type"] == "connection_ack"
        before = hub.subscribers
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
        deadline = time.monotonic() + 10
        while not (hub.subscribers > before and hub.listening):
            assert time.monotonic() < deadline, "the subscription did not start"
            time.sleep(0.02)
        _touch(admin_demo, ticket_id)
        assert ws_receive(ws)["payload"]["data"]["ticketEvents"]["ticketId"] == ticket_id
        # when the user signs out in another tab, the open socket gets no further event
        res = browser_client.post("/admin/signout", headers={"X-CSRF-Token": csrf})
        assert res.status_code in (200, 204, 303)
        _touch(admin_demo, ticket_id)
        message = ws_receive(ws)
    assert message == ENDED, message
