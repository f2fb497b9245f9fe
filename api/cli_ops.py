"""``retailgis backup`` and ``retailgis restore``: the database to a pg_dump file and back
(registered on ``api.cli.main``)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click
import psycopg

from api.backup import BackupError, RestoreRefused, backup, default_backup_path, restore

NAMES = {
    "customers": "客户", "ledger_entries": "台帐", "tickets": "工单", "users": "用户",
    "purchase_records": "进货记录", "delivery_routes": "线路",
}  # fmt: skip


def _counts(counts: dict[str, int]) -> str:
    return "，".join(f"{NAMES.get(t, t)} {n:,}" for t, n in counts.items())


def _size(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{size / 1024:.1f} KB"


@click.command("backup")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Dump file (default .data/backups/retailgis-YYYYmmdd-HHMMSS.dump)",
)  # fmt: skip
def backup_cmd(out: Path | None) -> None:
    """Back up the database (pg_dump, custom format) from one consistent snapshot."""
    from api.cli import _say, _settings
    from api.db import database_url

    settings = _settings()
    path = out or default_backup_path(settings.data_dir, dt.datetime.now())
    try:
        report = backup(database_url(settings), path)
    except (BackupError, psycopg.Error) as exc:
        raise click.ClickException(f"备份失败：{exc}") from None
    click.echo(f"已备份到 {report.path}（{_size(report.size)}）：{_counts(report.counts)}。")
    key = "RETAILGIS_SECRET_KEY" if settings.secret_key else str(settings.data_dir / "secret.key")
    _say(
        f"请把密钥（{key}）与备份分开妥善保存：台帐和工单中的个人信息用它加密，"
        "没有它，恢复后这些值无法解密。"
    )


@click.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Overwrite a database that already holds data")
def restore_cmd(file: Path, yes: bool) -> None:
    """Restore a backup made by `retailgis backup` into the configured database (a new
    database replaces it only once the dump is loaded and migrated to head). Exit status 2
    when the database holds data and --yes was not given (nothing is changed)."""
    from api.cli import _say, _settings
    from api.db import database_url

    settings = _settings()
    try:
        report = restore(database_url(settings), file, overwrite=yes)
    except RestoreRefused as exc:
        _say(f"未恢复：{exc}")
        sys.exit(2)
    except (BackupError, psycopg.Error) as exc:
        raise click.ClickException(f"恢复失败：{exc}") from None
    if report.migrated_from:
        _say(f"备份的数据库版本为 {report.migrated_from}，已迁移到最新版本。")
    click.echo(f"已从 {file} 恢复数据库 {report.database}：{_counts(report.counts)}。")
