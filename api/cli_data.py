"""``retailgis export customers``, ``retailgis report …`` and ``retailgis bulk-change``:
bulk data out and in, with a progress bar on the terminal (registered on ``api.cli.main``)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.access import Principal, load_principal
from domain.errors import NOT_FOUND, DomainError
from domain.models import User

STATUSES = ("active", "suspended", "closed")


def _principal(session: Session, username: str) -> Principal:
    user_id = session.scalar(select(User.id).where(User.username == username))
    if user_id is None:
        raise DomainError(NOT_FOUND, f"找不到用户 {username}", "user")
    return load_principal(session, user_id)


@click.group("export")
def export_group() -> None:
    """Exports to XLSX or CSV, masked by the user's role and logged."""


@export_group.command("customers")
@click.option("--format", "fmt", type=click.Choice(["xlsx", "csv"]), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--user", "username", required=True, help="Export as this user (role, scope)")
@click.option("--search", default=None, help="Code, name, licence number, address; exact phone")
@click.option("--county", default=None, help="Region code of the district or county")
@click.option("--market-area", default=None, help="Org-unit code of a market area")
@click.option("--route", default=None, help="Delivery route code")
@click.option("--manager", default=None, help="Customer manager's username")
@click.option("--status", type=click.Choice(STATUSES), default=None)
@click.option("--business-format", default=None, help="Catalogue code, e.g. convenience")
@click.option("--incomplete-only", is_flag=True, help="Only shops whose record is incomplete")
@click.option("--sort", default="code", show_default=True, help="code, -code, name, -updated_at …")
def export_customers_cmd(
    fmt: str, out: Path, username: str, search: str | None, county: str | None,
    market_area: str | None, route: str | None, manager: str | None, status: str | None,
    business_format: str | None, incomplete_only: bool, sort: str,
) -> None:  # fmt: skip
    """Export the filtered customer list the user may see; the export is logged."""
    from api.cli import _Bar, _session, _settings
    from domain.customers.listing import CustomerQuery
    from domain.exports import export_customers

    query = CustomerQuery(
        search=search, county=county, market_area=market_area, route=route, manager=manager,
        status=status, business_format=business_format, incomplete_only=incomplete_only,
        sort=sort,
    )  # fmt: skip
    partial = out.with_name(out.name + ".part")
    bar = _Bar()
    try:
        with bar.progress, _session(_settings()) as session, partial.open("wb") as fh:
            principal = _principal(session, username)
            result = export_customers(
                session, principal, query, fh, fmt=fmt, file_name=out.name, progress=bar
            )
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(out)  # the export is logged (committed) before the file appears
    shown = f"，明文字段：{'、'.join(result.revealed)}" if result.revealed else "，个人信息均已脱敏"
    click.echo(f"已导出 {result.rows:,} 户到 {out}（导出记录 #{result.log_id}{shown}）。")


@click.command("report")
@click.argument(
    "kind", type=click.Choice(["classification", "completeness", "compliance", "routes"])
)
@click.option("--month", required=True, help="YYYY-MM")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--user", "username", default=None, help="Keep to this user's scope")
def report_cmd(kind: str, month: str, out: Path, username: str | None) -> None:
    """Write a monthly report workbook (XLSX, Chinese sheets)."""
    from api.cli import _session, _settings
    from domain.reports import REPORTS, parse_month, write_report

    settings = _settings()
    try:
        first = parse_month(month)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    with _session(settings) as session, out.open("wb") as fh:
        principal = _principal(session, username) if username else None
        sheets = write_report(
            session, kind, first, fh, now=dt.datetime.now(dt.UTC), principal=principal,
            planning=settings.planning,
        )  # fmt: skip
    rows = "，".join(f"{s.title} {len(s.rows)} 行" for s in sheets)
    click.echo(f"{REPORTS[kind]}（{month}）已保存到 {out}：{rows}。")


@click.command("bulk-change")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--user", "username", required=True, help="The county user filing the list")
@click.option("--title", default=None, help="Ticket title (default: county and counts)")
@click.option("--reason", default=None, help="Why the changes are made")
@click.option(
    "--report", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Write the per-row findings to this .xlsx or .csv file",
)  # fmt: skip
def bulk_change_cmd(
    file: Path, username: str, title: str | None, reason: str | None, report: Path | None
) -> None:
    """File a bulk-change ticket (大批量变更) from a CSV/XLSX list of customer codes and
    fields to change. Exit status 1 when the file is refused (nothing is created)."""
    from api.cli import _Bar, _say, _session, _settings
    from api.secrets import make_vault
    from domain.bulkchange import create_bulk_change
    from domain.imports import read_table, write_report

    settings = _settings()
    try:
        table = read_table(file)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    bar = _Bar()
    with bar.progress, _session(settings) as session:
        principal = _principal(session, username)
        result = create_bulk_change(
            session, principal, table, vault=make_vault(settings),
            now=dt.datetime.now(dt.UTC), title=title, reason=reason, progress=bar,
        )  # fmt: skip
    if result.ticket_id is None:
        for issue in result.issues[:20]:
            _say(f"第{issue.row}行 {issue.label_zh or issue.field}：{issue.message}")
        if len(result.issues) > 20:
            _say(f"……共 {len(result.issues)} 条问题" + ("" if report else "，用 --report 导出全部"))
        if report is not None:
            write_report(report, result.issues)
            _say(f"校验报告已保存到 {report}")
        _say(f"校验未通过：共 {result.rows} 行，未创建批量变更单。")
        sys.exit(1)
    click.echo(
        f"已创建批量变更单 #{result.ticket_id}：{result.shops} 户、{result.changes} 项变更，"
        "待营销中心市场部经理审核签字。"
    )
