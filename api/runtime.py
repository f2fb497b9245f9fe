"""Bring the database up: embedded cluster (unless DATABASE_URL), migrations, catalogue,
and the demo city on an empty database; then serve with one or several web processes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from api.db import database_url, make_engine, make_sessionmaker, migrate, unit_of_work
from api.secrets import make_vault
from api.settings import Settings
from domain.catalogue.sync import sync_catalogue
from domain.demo import DemoSummary, database_is_empty, load_demo
from domain.vault import Vault

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from starlette.applications import Starlette

Say = Callable[[str], None]
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def prepare_database(settings: Settings, say: Say = print, *, demo: bool = True) -> str:
    """Start (if embedded), migrate to head, sync the catalogue, load the demo if empty."""
    url = database_url(settings)
    say("数据库迁移到最新版本 (alembic upgrade head)…")
    migrate(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            sync_catalogue(conn)
            empty = database_is_empty(conn)
        if demo and empty:
            say(f"数据库为空，生成示例城市（{settings.demo_shops} 家零售户）…")
            summary = load_demo_city(
                url,
                shops=settings.demo_shops,
                seed=settings.demo_seed,
                vault=make_vault(settings),
                say=say,
            )
            print_credentials(summary, say)
            say(f"账号清单已保存到 {save_credentials(summary, settings)}")
    finally:
        engine.dispose()
    return url


def load_demo_city(
    url: str, *, shops: int, seed: int, vault: Vault, say: Say = print
) -> DemoSummary:
    engine = make_engine(url)
    try:
        with unit_of_work(make_sessionmaker(engine)) as session:
            conn = session.connection()
            summary = load_demo(conn, shops=shops, seed=seed, vault=vault, progress=say)
            sync_catalogue(conn)
        return summary
    finally:
        engine.dispose()


def print_credentials(summary: DemoSummary, say: Say = print) -> None:
    say(
        f"示例城市已载入：{summary.shops} 家零售户，{summary.routes} 条送货线路，"
        f"{summary.users} 个用户，{summary.purchase_records} 条进货记录，{summary.tickets} 张工单。"
    )
    say(f"示例账号（共用演示密码：{summary.password}）：")
    for c in summary.credentials:
        say(f"  {c.username:<16} {c.role:<18} {c.scope}  {c.display_name}")


def save_credentials(summary: DemoSummary, settings: Settings) -> str:
    """Keep the demo accounts in a private file so the printed password is not lost."""
    path = settings.data_dir / "demo-credentials.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# 示例账号，共用演示密码: {summary.password}"]
    lines += [f"{c.username}\t{c.role}\t{c.scope}\t{c.display_name}" for c in summary.credentials]
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def serve_http(settings: Settings, url: str, host: str, port: int) -> None:
    """Serve until stopped: in this process, or in ``settings.workers`` web processes
    (``api.webprocs``: each its own socket on the port), each building its app with
    ``worker_app``. The database is prepared by now.

    Several processes share nothing but PostgreSQL: the periodic run takes an advisory lock
    (it runs once across them), each process LISTENs for ticket events itself (so every
    subscription gets its events whichever process holds its socket), and each keeps its
    own token cache (a revoked token is refused by all within its few seconds)."""
    import uvicorn

    from api.app import create_app

    if settings.workers == 1:
        app = create_app(settings, serving_engine(url))
        uvicorn.run(
            app, host=host, port=port, log_level=settings.log_level,
            timeout_keep_alive=settings.keep_alive_seconds,
        )  # fmt: skip
        return
    from api.webprocs import serve_processes

    serve_processes(settings.workers, host, port, settings.log_level, settings.keep_alive_seconds)


def worker_app() -> Starlette:
    """The app of one web worker process (``uvicorn --factory``): settings from the same
    environment, the database the parent prepared (an embedded cluster is not started
    again)."""
    from api.app import create_app

    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # /healthz reads the revision
    return create_app(settings, serving_engine(database_url(settings, start=False)))


def serving_engine(url: str) -> Engine:
    """The engine of a web process: a pool as large as the requests it executes at once
    (``MAX_CONCURRENT``) plus the periodic run, /healthz and subscriptions; with
    SQLAlchemy's default (5) the busy moments opened and closed a connection per request
    (a new PostgreSQL backend each time)."""
    from api.graphql import MAX_CONCURRENT

    return make_engine(url, pool_size=MAX_CONCURRENT + 2, max_overflow=8)
