"""WebSocket /graphql: GraphQL subscriptions (graphql-transport-ws) fed by PostgreSQL.

One listener per process (`TicketEventHub`): a psycopg async connection that LISTENs on
`ticket_events` (migration 0006) and fans each notification out to the subscribers'
queues; it reconnects after a failure. Nothing polls tables. Notifications arrive at commit.

The connection authenticates in `connection_init`: a client app with its bearer token
(`{"authorization": "Bearer …"}`), a page of the admin with the session cookie the
handshake carries plus the session's CSRF token in the payload (`{"csrfToken": …}`: another
site's page can make the browser send the cookie, but cannot know the token). Anything else
closes it (4403). The credential is checked again before an event is delivered, at most
every few seconds (``RECHECK_SECONDS``): after a token is revoked or expires, or the session
ends, the subscription ends with an UNAUTHENTICATED error instead of its next event. Only
subscriptions run over the socket: queries and mutations stay with POST /graphql.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress
from functools import partial
from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from admin.auth import SESSION_COOKIE
from domain.access import Principal, load_principal
from domain.errors import DomainError
from domain.signin import session_principal
from domain.users import user_for_token
from schema.tickets.subscriptions import EventsContext, RawTicketEvent

log = logging.getLogger("retailgis.subscriptions")
CHANNEL = "ticket_events"
QUEUE_SIZE = 1000  # events a slow subscriber may lag behind; older ones are dropped
RETRY_SECONDS = (0.5, 1, 2, 5, 10)


def libpq_dsn(engine: Engine) -> str:
    """The engine's database as a libpq URI (psycopg connects to it directly)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class TicketEventHub:
    """The process's one LISTEN connection and its subscribers' queues.

    One listener, whichever event loop runs it: an app served by two servers at once (the
    tests' live server beside a test client, each with its loop in a thread of its own)
    would otherwise listen twice and deliver every event twice. A subscriber's queue is fed
    in its own loop (``call_soon_threadsafe`` when the listener runs in another)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._queues: dict[asyncio.Queue[RawTicketEvent], asyncio.AbstractEventLoop] = {}
        self._task: asyncio.Task[None] | None = None
        self._listening = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    @property
    def subscribers(self) -> int:
        return len(self._queues)

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    def _running(self) -> bool:
        task, loop = self._task, self._loop
        return task is not None and not task.done() and loop is not None and loop.is_running()

    def start(self) -> None:
        """Start the listener in the running loop unless one runs already (in any loop)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._running():
                return
            self._loop = loop
            self._listening.clear()
            self._task = loop.create_task(self._run(), name="ticket-events-listener")

    async def stop(self) -> None:
        with self._lock:
            task, loop, self._task = self._task, self._loop, None
        if task is None or task.done():
            return
        if loop is not asyncio.get_running_loop():  # another server's loop runs it
            if loop is not None and loop.is_running():
                loop.call_soon_threadsafe(task.cancel)
            return
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[AsyncIterator[RawTicketEvent]]:
        self.start()
        queue: asyncio.Queue[RawTicketEvent] = asyncio.Queue(QUEUE_SIZE)
        self._queues[queue] = asyncio.get_running_loop()
        try:
            yield _drain(queue)
        finally:
            self._queues.pop(queue, None)

    def publish(self, event: RawTicketEvent) -> None:
        here = asyncio.get_running_loop()
        for queue, loop in list(self._queues.items()):
            if loop is here:
                _offer(queue, event)
            elif loop.is_running():
                loop.call_soon_threadsafe(_offer, queue, event)

    def _dispatch(self, payload: str) -> None:
        try:
            event = RawTicketEvent.from_payload(json.loads(payload))
        except (ValueError, KeyError, TypeError):
            log.warning("ticket_events: ignoring a malformed notification: %.200s", payload)
            return
        self.publish(event)

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    if failures:
                        log.info("ticket_events: listening again after %d failures", failures)
                    failures = 0
                    async for notify in conn.notifies():
                        self._dispatch(notify.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Events committed while disconnected are lost; subscribers stay subscribed.
                log.warning("ticket_events listener failed (%s); reconnecting", type(exc).__name__)
            finally:
                if self._task is asyncio.current_task():  # not a listener replaced meanwhile
                    self._listening.clear()
            await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
            failures += 1


def _offer(queue: asyncio.Queue[RawTicketEvent], event: RawTicketEvent) -> None:
    """Queue the event; a subscriber that does not keep up loses its oldest events."""
    if queue.full():
        with suppress(asyncio.QueueEmpty):
            queue.get_nowait()
    queue.put_nowait(event)


async def _drain(queue: asyncio.Queue[RawTicketEvent]) -> AsyncIterator[RawTicketEvent]:
    while True:
        yield await queue.get()


def bearer(params: dict[str, Any]) -> str | None:
    """The token of a connection_init payload's `authorization` (any key case)."""
    for key, value in params.items():
        is_auth = key.lower() == "authorization" and isinstance(value, str)
        if is_auth and value.lower().startswith("bearer "):
            return value[7:].strip() or None
    return None


def authenticate(factory: sessionmaker[Session], token: str) -> Principal | None:
    with factory() as session:
        user = user_for_token(session, token)
        if user is None:
            return None
        try:
            principal = load_principal(session, user.id, uuid.uuid4())
        except DomainError:
            return None
        session.commit()  # the token's last use
        return principal


def csrf_param(params: dict[str, Any]) -> str | None:
    """The admin session's CSRF token of a connection_init payload (`csrfToken`)."""
    value = params.get("csrfToken")
    return value if isinstance(value, str) and value else None


def authenticate_session(
    factory: sessionmaker[Session], cookie: str, csrf: str | None
) -> Principal | None:
    """The admin user of a live session whose CSRF token came along, else None."""
    with factory() as session:
        principal, _ = session_principal(
            session, cookie, csrf, now=dt.datetime.now(dt.UTC), request_id=uuid.uuid4()
        )
        return principal


class _SubscriptionsOnly:
    """The schema as the WebSocket transport sees it: only subscription operations run."""

    def __init__(self, schema: BaseSchema) -> None:
        self._schema = schema

    def __getattr__(self, name: str) -> Any:
        return getattr(self._schema, name)

    async def stream(self, *args: Any, **kwargs: Any) -> Any:
        allowed: Iterable[OperationType] = (OperationType.SUBSCRIPTION,)
        kwargs["allowed_operation_types"] = allowed
        return await self._schema.stream(*args, **kwargs)


class SubscriptionApp(GraphQL[EventsContext, None]):
    """strawberry's ASGI app restricted to graphql-transport-ws subscriptions."""

    def __init__(
        self, schema: BaseSchema, hub: TicketEventHub, factory: sessionmaker[Session]
    ) -> None:
        super().__init__(
            _SubscriptionsOnly(schema),  # type: ignore[arg-type]
            graphql_ide=None,
            allow_queries_via_get=False,
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
            max_subscriptions_per_connection=10,
        )  # fmt: skip
        self.hub = hub
        self.factory = factory

    async def get_context(self, request: Request | WebSocket, response: Any) -> EventsContext:
        cookie = request.cookies.get(SESSION_COOKIE) if isinstance(request, WebSocket) else None
        return EventsContext(session_factory=self.factory, events=self.hub, session_cookie=cookie)

    async def on_ws_connect(self, context: EventsContext) -> UnsetType:
        params = context.connection_params or {}
        token = bearer(params)
        if token:
            context.recheck = partial(authenticate, self.factory, token)
        elif context.session_cookie:
            cookie, csrf = context.session_cookie, csrf_param(params)
            context.recheck = partial(authenticate_session, self.factory, cookie, csrf)
        principal = None if context.recheck is None else await run_in_threadpool(context.recheck)
        if principal is None:
            raise ConnectionRejectionError()
        context.principal = principal
        self.hub.start()
        ack: UnsetType = UNSET  # a plain connection_ack
        return ack
