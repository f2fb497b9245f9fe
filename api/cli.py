"""The ``retailgis`` command line."""

from __future__ import annotations

import datetime as dt
import getpass
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from sqlalchemy.orm import Session

from api.db import (
    database_url,
    embedded_cluster,
    make_engine,
    make_sessionmaker,
    migrate,
    unit_of_work,
)
from api.pgcluster import EmbeddedCluster
from api.settings import Settings, SettingsError
from domain.catalogue.sync import sync_catalogue
from domain.errors import DomainError
from domain.imports import ImportResult as ImportResultT
from domain.users import create_token, create_user, list_tokens, list_users, revoke_token
from domain.workcal.store import loader_for
from domain.workcal.stored import STORED


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _say(msg: str) -> None:
    click.echo(msg, err=True)


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    engine = make_engine(database_url(settings))
    sessions = make_sessionmaker(engine)
    previous = STORED.install(loader_for(sessions))  # the calendar years entered by IT
    try:
        with unit_of_work(sessions) as session:
            yield session
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        STORED.install(previous)
        engine.dispose()


@click.group()
def main() -> None:
    """零售客户档案、配送线路与审批 (retailgis)."""


@main.command()
@click.option("--host", default=None, help="Listen address (default RETAILGIS_HOST or 127.0.0.1)")
@click.option("--port", type=int, default=None, help="Port (default RETAILGIS_PORT or 8000)")
@click.option("--no-demo", is_flag=True, help="Do not load the demo city into an empty database")
def serve(host: str | None, port: int | None, no_demo: bool) -> None:
    """Start the database if embedded, migrate, load the demo city if empty, and serve."""
    from api.runtime import prepare_database, serve_http
    from api.webprocs import StartFailed

    settings = _settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    url = prepare_database(settings, _say, demo=not no_demo)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # /healthz reads the revision
    host, port = host or settings.host, port or settings.port
    _say(f"服务地址 http://{host}:{port} （管理后台 /admin/，GraphQL /graphql，健康检查 /healthz）")
    worker = None
    if settings.background_worker:
        from api.worker import spawn_worker

        worker = spawn_worker()
        _say(f"后台任务进程已启动（pid {worker.pid}，线路规划等长任务在此运行）")
    try:
        serve_http(settings, url, host, port)
    except StartFailed as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)


@main.command()
def worker() -> None:
    """Run background jobs (route planning, customer imports) until stopped."""
    from api.worker import run_forever

    settings = _settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    run_forever(settings, make_engine(database_url(settings)))


@main.group()
def db() -> None:
    """The embedded PostgreSQL + PostGIS cluster."""


def _embedded() -> EmbeddedCluster:
    settings = _settings()
    if settings.database_url:
        raise click.ClickException("已设置 DATABASE_URL：使用外部数据库，不管理内置集群。")
    return embedded_cluster(settings)


@db.command("start")
def db_start() -> None:
    cluster = _embedded()
    cluster.start()
    _say(f"内置数据库已启动：{cluster.config.data_dir}（端口 {cluster.config.port}）")


@db.command("stop")
def db_stop() -> None:
    _embedded().stop()
    _say("内置数据库已停止。")


@db.command("status")
def db_status() -> None:
    st = _embedded().status()
    state = "运行中" if st.running else ("已停止" if st.initialised else "未初始化")
    click.echo(f"{state}  data_dir={st.data_dir} port={st.port} pid={st.pid or '-'}")
    if not st.running:
        sys.exit(3)


@db.command("url")
def db_url() -> None:
    """Print the connection URL (DATABASE_URL, or the embedded cluster's)."""
    settings = _settings()
    if settings.database_url:
        click.echo(settings.database_url)
    else:
        click.echo(_embedded().url())


@main.group()
def roads() -> None:
    """The road network (OpenStreetMap via osm2pgrouting) for driving distances and times."""


@roads.command("import")
@click.argument("osm_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--schema", default="roads", show_default=True, help="Schema holding the network")
@click.option(
    "--mapconfig", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="osm2pgrouting map configuration (default: its car configuration)",
)  # fmt: skip
def roads_import(osm_file: Path, schema: str, mapconfig: Path | None) -> None:
    """Replace the road network with the roads of an OpenStreetMap XML file (.osm)."""
    from geo.roads import RoadsError, conn_params, import_osm

    params = conn_params(database_url(_settings()))
    _say(f"正在导入 {osm_file} …")
    try:
        done = import_osm(osm_file, **asdict(params), schema=schema, mapconfig=mapconfig)
    except (RoadsError, ValueError) as exc:
        raise click.ClickException(f"道路导入失败，原有路网未改动：{exc}") from None
    routable = f"其中 {done.routable_vertices:,} 个相互连通，用于计算行车距离和时间"
    click.echo(
        f"已导入道路 {done.ways:,} 段，路口 {done.vertices:,} 个（{routable}），"
        f"用时 {done.seconds:.1f} 秒。"
    )


@main.command("migrate")
def migrate_cmd() -> None:
    """Migrate the database to head and sync the field catalogue."""
    url = database_url(_settings())
    migrate(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        n = sync_catalogue(conn)
    engine.dispose()
    _say(f"数据库已迁移到最新版本；字段目录 {n} 项已同步。")


@main.command()
@click.option("--shops", type=click.IntRange(100, 200_000), default=None, help="Number of shops")
@click.option("--seed", type=int, default=None, help="Random seed (same seed, same city)")
def demo(shops: int | None, seed: int | None) -> None:
    """Replace all data with a freshly generated demo city."""
    from api.runtime import load_demo_city, print_credentials, save_credentials
    from api.secrets import make_vault

    settings = _settings()
    url = database_url(settings)
    migrate(url)
    summary = load_demo_city(
        url,
        shops=shops or settings.demo_shops,
        seed=settings.demo_seed if seed is None else seed,
        vault=make_vault(settings),
        say=_say,
    )
    print_credentials(summary, click.echo)
    _say(f"账号清单已保存到 {save_credentials(summary, settings)}")


@main.command()
@click.option(
    "--now", "at", type=click.DateTime(["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]), default=None,
    help="Run as of this local time (Asia/Shanghai), e.g. 2026-11-23T09:00; default now",
)  # fmt: skip
def tick(at: dt.datetime | None) -> None:
    """Run the periodic duties once: recurring duties, notice periods, escalation.

    Exit status 2 when a part could not run (e.g. the working calendar lacks next year's
    holidays); the other parts are committed.
    """
    from domain.tickets.engine import default_calendar
    from domain.tickets.scheduler import tick as run_tick

    calendar = default_calendar()
    now = at.replace(tzinfo=calendar.tz) if at else dt.datetime.now(dt.UTC)
    with _session(_settings()) as session:
        report = run_tick(session, now=now, calendar=calendar)
    if not report.ran:
        _say("另一进程正在执行定期任务，本次跳过。")
        return
    click.echo(
        f"定期任务已执行：新生成任务 {report.duties_created} 项，"
        f"公示期满自动办结 {report.notices_completed} 项，超期督办 {report.steps_escalated} 项，"
        f"清理过期幂等键 {report.idempotency_keys_purged} 个。"
    )
    for problem in report.problems:
        _say(f"警告：{problem}")
    if report.problems:
        sys.exit(2)


@main.group()
def users() -> None:
    """User accounts."""


@users.command("create")
@click.option("--username", required=True)
@click.option("--name", "display_name", required=True, help="Display name (Chinese)")
@click.option("--role", required=True)
@click.option(
    "--scope", "scope_code", required=True, help="Org unit code (city, county or market area)"
)
@click.option("--password", default=None, help="Prompted when omitted")
def users_create(
    username: str, display_name: str, role: str, scope_code: str, password: str | None
) -> None:
    if password is None:
        password = getpass.getpass("密码: ")
    with _session(_settings()) as session:
        create_user(
            session,
            username=username,
            display_name=display_name,
            role=role,
            scope_code=scope_code,
            password=password,
        )
    _say(f"用户 {username} 已创建。")


@users.command("list")
def users_list() -> None:
    with _session(_settings()) as session:
        for u in list_users(session):
            flag = "" if u.is_active else "  (停用)"
            scope = f"{u.scope_name} [{u.scope_code}]"
            click.echo(f"{u.username:<16} {u.role:<18} {scope}  {u.display_name}{flag}")


@main.group()
def tokens() -> None:
    """Bearer tokens for client apps."""


@tokens.command("create")
@click.option("--user", "username", required=True)
@click.option("--days", type=int, default=90, show_default=True)
@click.option("--name", default="app", show_default=True)
def tokens_create(username: str, days: int, name: str) -> None:
    """Print a new bearer token on the last line (shown only once)."""
    with _session(_settings()) as session:
        secret = create_token(session, username=username, days=days, name=name)
    _say(f"已为 {username} 创建令牌，有效期 {days} 天。请妥善保存，此令牌只显示一次：")
    click.echo(secret)


def _when(moment: dt.datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment else "-"


@tokens.command("list")
@click.option("--user", "username", required=True)
def tokens_list(username: str) -> None:
    """A user's tokens: prefix, name, status and times (never the secret)."""
    now = dt.datetime.now(dt.UTC)
    with _session(_settings()) as session:
        rows = list_tokens(session, username)
    labels = {"active": "有效", "expired": "已过期", "revoked": "已吊销"}
    for t in rows:
        click.echo(
            f"{t.prefix}  {labels[t.status(now)]}  {t.name}  创建 {_when(t.created_at)}"
            f"  到期 {_when(t.expires_at)}  吊销 {_when(t.revoked_at)}"
            f"  最近使用 {_when(t.last_used_at)}"
        )
    if not rows:
        _say(f"用户 {username} 没有令牌。")


@tokens.command("revoke")
@click.argument("prefix")
@click.option("--user", "username", default=None, help="Only among this user's tokens")
def tokens_revoke(prefix: str, username: str | None) -> None:
    """Revoke the token with this prefix (as `tokens list` shows it)."""
    with _session(_settings()) as session:
        row = revoke_token(session, prefix=prefix, by_user=username)
    _say(f"令牌 {row.prefix}（{row.username}，{row.name}）已吊销于 {_when(row.revoked_at)}。")


@main.group("import")
def import_group() -> None:
    """Bulk imports from CSV or XLSX files: customer records, monthly purchases."""


class _Bar:
    """A rich progress bar on the terminal, one task per phase the import reports."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self.progress = Progress(
            "{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=Console(stderr=True), transient=False,
        )  # fmt: skip
        self.tasks: dict[str, Any] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(phase, total=total)
        self.progress.update(self.tasks[phase], completed=done, total=total)


def _print_findings(result: ImportResultT, report: Path | None) -> None:
    from domain.imports import write_report

    for w in result.warnings:
        _say(f"提示：{w.message}")
    for issue in result.issues[:20]:
        _say(f"第{issue.row}行 {issue.label_zh}：{issue.message}")
    if len(result.issues) > 20:
        _say(f"……共 {len(result.issues)} 条问题" + ("" if report else "，用 --report 导出全部"))
    if report is not None:
        write_report(report, [*result.warnings, *result.issues])
        _say(f"校验报告已保存到 {report}")


def _run_import(kind: str, path: Path, all_valid: bool) -> ImportResultT:
    from api.secrets import make_vault
    from domain import imports

    settings = _settings()
    try:
        table = imports.read_table(path)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    with _session(settings) as session:
        run_id = imports.start_import(
            session, kind=kind, file_name=table.name, sha256=table.sha256,
            actor_name=getpass.getuser(),
        ).id  # fmt: skip
    bar = _Bar()
    try:
        with bar.progress, _session(settings) as session:
            if kind == "customers":
                return imports.import_customers(
                    session, table, import_id=run_id, vault=make_vault(settings),
                    all_valid=all_valid, progress=bar,
                )  # fmt: skip
            return imports.import_purchases(
                session, table, import_id=run_id, all_valid=all_valid, progress=bar
            )
    except BaseException:
        with _session(settings) as session:
            imports.discard_import(session, run_id)
        raise


_ALL_VALID = click.option("--all-valid", is_flag=True, help="Import the valid rows, skip the rest")
_REPORT = click.option(
    "--report", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Write the per-row findings to this .xlsx or .csv file",
)  # fmt: skip


@import_group.command("customers")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_ALL_VALID
@_REPORT
def import_customers_cmd(file: Path, all_valid: bool, report: Path | None) -> None:
    """Import new customer records (客户基础信息表, Chinese or English headers).

    Nothing is imported when any row is refused, unless --all-valid. Exit status 1 when
    rows were refused and nothing was imported.
    """
    result = _run_import("customers", file, all_valid)
    _refused_or_continue(result, report)
    skipped = f"，跳过有误的行 {result.refused} 行" if result.refused else ""
    click.echo(
        f"已导入客户 {result.imported:,} 户（导入编号 {result.import_id}，"
        f"共 {result.total:,} 行{skipped}），每户的台帐已写入。"
    )


def _refused_or_continue(result: Any, report: Path | None) -> None:
    """Print the findings; exit 1 when the rows were refused and nothing was imported."""
    _print_findings(result, report)
    if result.import_id is None:
        _say(f"校验未通过：{result.refused}/{result.total} 行有误，未导入任何数据。")
        sys.exit(1)


@import_group.command("purchases")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_ALL_VALID
@_REPORT
def import_purchases_cmd(file: Path, all_valid: bool, report: Path | None) -> None:
    """Import monthly purchase records (客户代码, 月份 YYYY-MM, 条数, 金额, 品种数) as an
    upsert per shop and month: importing the same file again changes nothing."""
    result = _run_import("purchases", file, all_valid)
    _refused_or_continue(result, report)
    skipped = f"，跳过有误的行 {result.refused} 行" if result.refused else ""
    click.echo(
        f"进货记录已导入（导入编号 {result.import_id}，共 {result.total:,} 行{skipped}）："
        f"新增 {result.inserted:,} 行，更新 {result.updated:,} 行，未变 {result.unchanged:,} 行。"
    )


def _register_data_commands() -> None:
    from api.cli_data import bulk_change_cmd, export_group, report_cmd
    from api.cli_ops import backup_cmd, restore_cmd

    main.add_command(export_group)
    main.add_command(report_cmd)
    main.add_command(bulk_change_cmd)
    main.add_command(backup_cmd)
    main.add_command(restore_cmd)


_register_data_commands()

if __name__ == "__main__":
    main()
