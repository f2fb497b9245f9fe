"""Files (/admin/files): customers imported from CSV or XLSX in two steps, and the filtered
customer list exported to XLSX or CSV.

Import: the upload is kept under ``upload_dir`` by a random id with its sha256 and owner,
and checked by running the domain's import in a transaction that is rolled back, so the
per-row report (row, field, message) is exactly what the import would say and nothing is
committed. A second POST names the id (never a path); the file is read again, its sha256
checked, and imported (all rows, or the valid ones) as the CLI does: the import's row
committed first, then the load in a transaction of its own.

Export: the archive list's filters, passed through to ``domain.exports.export_customers``
(scoped and masked by role, logged), served as a download once the log is committed.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from admin.views.customers import filter_options, filter_params, query_from
from admin.web import config, db, form, now, principal, render, view
from domain.access import Principal, role_rights
from domain.errors import NOT_FOUND, DomainError
from domain.exports import FORMATS, export_customers
from domain.imports import (
    ImportResult,
    Table,
    discard_import,
    import_customers,
    parse_table,
    start_import,
)

MAX_UPLOAD = 50 * 1024 * 1024
SUFFIXES = (".csv", ".xlsx")
TOKEN = re.compile(r"[0-9a-f]{32}")
KEEP_UPLOADS_S = 24 * 3600
SHOWN_ISSUES = 500
MEDIA = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


def may_import(principal: Principal) -> bool:
    """New records in bulk are onboarding data: city-wide roles that maintain the market
    department's fields, and the information department (bulk changes)."""
    rights = role_rights(principal.role)
    return rights.scope == "city" and (
        "market_dept" in rights.edits or principal.role == "it_admin"
    )


def _upload_dir(request: Request) -> Path:
    path = config(request).upload_dir / "customer-imports"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _sweep(folder: Path) -> None:
    """Uploads never imported are removed after a day."""
    cutoff = time.time() - KEEP_UPLOADS_S
    for old in folder.glob("*.meta.json"):
        if old.stat().st_mtime < cutoff:
            for part in folder.glob(old.name.removesuffix(".meta.json") + ".*"):
                part.unlink(missing_ok=True)


def _page(
    request: Request, status: int = 200, params: dict[str, Any] | None = None, **ctx: Any
) -> Response:
    who = principal(request)
    params = dict(request.query_params) if params is None else params
    with db(request) as session:
        options = filter_options(session, who)
    base = {
        "options": options, "filters": filter_params(params), "query": query_from(params),
        "errors": {}, "may_import": may_import(who), "formats": FORMATS,
    }  # fmt: skip
    block = "report" if ctx.pop("partial", False) else None
    return render(request, "files/index.html", {**base, **ctx}, block=block, status=status)


@view
def files_page(request: Request) -> Response:
    return _page(request)


# -- import ----------------------------------------------------------------------------------


def _dry_run(request: Request, table: Table, who: Principal) -> ImportResult:
    """The import's findings from a run that is rolled back: nothing is committed."""
    cfg = config(request)
    with cfg.sessions() as session:
        try:
            run = start_import(
                session, kind="customers", file_name=table.name, sha256=table.sha256,
                actor_name=who.username, actor_id=who.user_id,
            )  # fmt: skip
            return import_customers(session, table, import_id=run.id, vault=cfg.vault)
        finally:
            session.rollback()


def _report(request: Request, **ctx: Any) -> Response:
    return _page(request, partial=True, **ctx)


def _issues_ctx(result: ImportResult) -> dict[str, Any]:
    more = max(0, len(result.issues) - SHOWN_ISSUES)
    shown = result.issues[:SHOWN_ISSUES]
    return {"issues": shown, "more_issues": more, "warnings": result.warnings}


@view
def upload(request: Request) -> Response:
    who = principal(request)
    if not may_import(who):
        return _report(request, error="您的角色无权导入客户档案")
    upload_file = form(request).get("file")
    if not isinstance(upload_file, UploadFile) or not upload_file.filename:
        return _report(request, error="请选择要上传的 CSV 或 XLSX 文件")
    name = Path(upload_file.filename.replace("\\", "/")).name
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        return _report(request, error="只能导入 CSV 或 XLSX 文件")
    data = upload_file.file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return _report(request, error=f"文件过大（不能超过 {MAX_UPLOAD // 1024 // 1024} MB）")
    try:
        table = parse_table(name, data)
        preview = _dry_run(request, table, who)
    except DomainError as err:
        return _report(request, error=err.message, file_name=name)
    folder = _upload_dir(request)
    _sweep(folder)
    token = secrets.token_hex(16)
    (folder / f"{token}{suffix}").write_bytes(data)
    meta = {"name": name, "suffix": suffix, "sha256": table.sha256, "user_id": who.user_id}
    (folder / f"{token}.meta.json").write_text(json.dumps(meta, ensure_ascii=False))
    return _report(
        request, preview=preview, file_name=name, token=token, sha256=table.sha256,
        valid=preview.total - preview.refused, **_issues_ctx(preview),
    )  # fmt: skip


def _stored_table(request: Request, who: Principal, token: str, sha256: str) -> Table:
    """The uploaded file of this id, if it is the caller's and unchanged."""
    gone = DomainError(NOT_FOUND, "上传的文件已失效，请重新上传", "file")
    if not TOKEN.fullmatch(token):
        raise gone
    folder = _upload_dir(request)
    try:
        meta = json.loads((folder / f"{token}.meta.json").read_text())
        suffix = meta["suffix"] if meta["suffix"] in SUFFIXES else ".csv"
        data = (folder / f"{token}{suffix}").read_bytes()
    except (OSError, ValueError, KeyError):
        raise gone from None
    digest = hashlib.sha256(data).hexdigest()
    if meta.get("user_id") != who.user_id or not secrets.compare_digest(digest, sha256):
        raise gone
    if digest != meta.get("sha256"):
        raise gone
    return parse_table(str(meta["name"]), data)


def _forget(request: Request, token: str) -> None:
    for part in _upload_dir(request).glob(f"{token}.*"):
        part.unlink(missing_ok=True)


@view
def run_import(request: Request) -> Response:
    who = principal(request)
    if not may_import(who):
        return _report(request, error="您的角色无权导入客户档案")
    data = form(request)
    token, sha256 = str(data.get("token") or ""), str(data.get("sha256") or "")
    all_valid = data.get("mode") == "valid"
    try:
        table = _stored_table(request, who, token, sha256)
        with db(request) as session:
            run_id = start_import(
                session, kind="customers", file_name=table.name, sha256=table.sha256,
                actor_name=who.username, actor_id=who.user_id,
            ).id  # fmt: skip
    except DomainError as err:
        return _report(request, error=err.message)
    try:
        with db(request) as session:
            result = import_customers(
                session, table, import_id=run_id, vault=config(request).vault, all_valid=all_valid
            )
    except BaseException as exc:
        with db(request) as session:
            discard_import(session, run_id)
        if isinstance(exc, DomainError):
            return _report(request, error=exc.message, file_name=table.name)
        raise
    if result.import_id is not None:
        _forget(request, token)
    return _report(request, result=result, file_name=table.name, **_issues_ctx(result))


# -- export ----------------------------------------------------------------------------------


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    try:
        handle.seek(0)
        while chunk := handle.read(64 * 1024):
            yield chunk
    finally:
        handle.close()


def _disposition(name: str, fallback: str) -> str:
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"


@view
def export(request: Request) -> Response:
    who = principal(request)
    data = form(request)
    fmt = str(data.get("format") or "xlsx")
    query = query_from(data)
    day = now(request).astimezone(config(request).calendar.tz).date()
    file_name = f"客户档案-{day:%Y-%m-%d}.{fmt}"
    out = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _chunks once served
    try:
        with db(request) as session:  # the export log commits before the file is served
            export_customers(session, who, query, out, fmt=fmt, file_name=file_name)
    except DomainError as err:
        out.close()
        return _page(request, status=400, params=dict(data), export_error=err.message)
    fallback = f"customers-{day:%Y-%m-%d}.{fmt}"
    headers = {
        "Content-Disposition": _disposition(file_name, fallback),
        "Cache-Control": "no-store",
    }
    return StreamingResponse(_chunks(out), media_type=MEDIA[fmt], headers=headers)


ROUTES: list[BaseRoute] = [
    Route("/files", files_page),
    Route("/files/upload", upload, methods=["POST"]),
    Route("/files/import", run_import, methods=["POST"]),
    Route("/files/export", export, methods=["POST"]),
]
