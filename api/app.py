"""The ASGI application: health check, GraphQL endpoint, the admin (mounted at /admin),
and the periodic run (duties, notice periods, escalation) while serving when
`tick_seconds` > 0."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import QueuePool
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from strawberry.http.ides import get_graphql_ide_html

from admin.app import create_admin
from admin.config import AdminConfig
from api.db import (
    current_revisions,
    head_revisions,
    make_sessionmaker,
    read_engine,
    reset_row_security,
    unit_of_work,
)
from api.graphql import MAX_CONCURRENT, Runtime, graphql_endpoint
from api.principals import PrincipalCache
from api.readonly import read_only_sessionmaker
from api.secrets import make_vault
from api.settings import Settings
from api.subscriptions import SubscriptionApp, TicketEventHub, libpq_dsn
from domain.imports.jobs import configure as configure_imports
from domain.planning import SETTINGS as PLANNING
from domain.tickets.engine import default_calendar
from domain.tickets.scheduler import TickReport, tick
from domain.vault import Vault
from domain.workcal.store import loader_for
from domain.workcal.stored import STORED
from schema import schema as development_schema
from schema.customers.fast import HOT_PATHS
from schema.customers.sql import SQL_PATHS
from schema.fastpath import FastPath
from schema.root import production_schema
from schema.security import describe_unexpected

log = logging.getLogger("retailgis")


def _revs(revs: set[str]) -> str:
    return ",".join(sorted(revs)) or "none"


def _health(engine: Engine) -> tuple[int, dict[str, str]]:
    try:
        current = current_revisions(engine)
    except SQLAlchemyError as exc:
        log.warning("healthz: database unavailable: %s", type(exc).__name__)
        return 503, {"status": "unavailable", "database": "unreachable"}
    head = head_revisions()
    if current != head:
        return 503, {
            "status": "unavailable",
            "database": "ok",
            "migrations": f"at {_revs(current)}, head is {_revs(head)}",
        }
    return 200, {"status": "ok", "database": "ok", "migrations": "head"}


def _tick_once(engine: Engine) -> TickReport:
    with unit_of_work(make_sessionmaker(engine)) as session:
        return tick(session, now=dt.datetime.now(dt.UTC), calendar=default_calendar())


async def _tick_forever(engine: Engine, seconds: int) -> None:
    """The periodic run every ``seconds`` (an advisory lock makes it once across processes).

    The database work runs in a worker thread; a failure is logged and the next run comes.
    """
    while True:
        try:
            report = await run_in_threadpool(_tick_once, engine)
        except Exception as exc:
            log.error("periodic run failed: %s", describe_unexpected(exc, "tick"))
        else:
            if report.ran:
                log.info(
                    "periodic run: %d duties created, %d notices ended, %d steps escalated",
                    report.duties_created, report.notices_completed, report.steps_escalated,
                )  # fmt: skip
            else:
                log.info("periodic run skipped: another process is running it")
            for problem in report.problems:
                log.warning("periodic run: %s", problem)
        await asyncio.sleep(seconds)


def create_app(
    settings: Settings,
    engine: Engine,
    vault: Vault | None = None,
    *,
    principals: PrincipalCache | None = None,
    fast_path: bool = True,
) -> Starlette:
    """The application; ``principals`` is the token cache (a test passes one with its
    own clock); ``fast_path`` False runs every query through graphql-core (the tests
    compare both)."""
    PLANNING["planning"] = settings.planning  # route figures use the configured travel costs

    async def healthz(request: Request) -> Response:
        status, body = await run_in_threadpool(_health, engine)
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    async def home(request: Request) -> Response:
        return RedirectResponse("/admin/", status_code=303)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        seconds = settings.tick_seconds
        task = asyncio.create_task(_tick_forever(engine, seconds)) if seconds > 0 else None
        app.state.tick_task = task
        hub.start()  # the one LISTEN connection of the process (subscriptions)
        try:
            yield
        finally:
            await hub.stop()
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
            readers.dispose()

    async def graphiql(request: Request) -> Response:
        if settings.is_production:
            return JSONResponse({"errors": [{"message": "请使用 POST 提交 GraphQL 请求"}]}, 405)
        # GraphiQL's page loads its scripts from a CDN; it works where the browser reaches one.
        return HTMLResponse(get_graphql_ide_html("graphiql"))

    reset_row_security(engine)  # scoped requests on the shared pool leave it as the owner
    readers = read_engine(engine, MAX_CONCURRENT)  # read-only requests: a pool of their own
    sessions = make_sessionmaker(engine)
    STORED.install(loader_for(sessions))  # the calendar years IT entered, for every calendar
    hub = TicketEventHub(libpq_dsn(engine))
    schema = production_schema if settings.is_production else development_schema
    subscriptions = SubscriptionApp(schema, hub, sessions)
    vault = vault or make_vault(settings)
    admin = create_admin(
        AdminConfig(
            sessions=sessions, vault=vault, calendar=default_calendar(),
            basemap=settings.admin_basemap(), production=settings.is_production,
            upload_dir=settings.upload_dir,
        )
    )  # fmt: skip
    configure_imports(settings.upload_dir, lambda: vault)  # as the worker does (tests run jobs)

    app = Starlette(
        lifespan=lifespan,
        debug=False,
        routes=[
            Route("/", home),
            Route("/healthz", healthz),
            Route("/graphql", graphql_endpoint, methods=["POST"]),
            Route("/graphql", graphiql, methods=["GET"]),
            WebSocketRoute("/graphql", subscriptions),
            Mount("/admin", admin),
        ],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = sessions
    app.state.ticket_events = hub
    app.state.vault = vault
    app.state.graphql = Runtime(
        sessions=sessions, read_sessions=read_only_sessionmaker(readers, in_autocommit=True),
        vault=app.state.vault, principals=principals or PrincipalCache(),
        fast=FastPath(schema, HOT_PATHS, SQL_PATHS) if fast_path else None,
        read_pool=readers.pool if isinstance(readers.pool, QueuePool) else None,
    )  # fmt: skip
    return app
