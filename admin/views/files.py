"""Files (/admin/files): customers imported from CSV or XLSX in two steps, each a background
job, and the filtered customer list exported to XLSX or CSV.

Import: the upload is kept under ``upload_dir`` by a random id with its sha256 and owner
(``domain.imports.uploads``), and its check is queued as a job (``domain.imports.jobs``):
the domain's import run in a transaction that is rolled back, so the per-row report (row,
field, message) is exactly what the import would say and nothing is committed. A second
POST names the id and sha256 (never a path) and queues the import (all rows, or the valid
ones); the job reads the file again, checks its sha256 and imports as the CLI does. Both
POSTs answer at once with a panel that polls the job every second (progress bar, message,
cancel) and shows the report or the import's result when the job has ended.

Export: the archive list's filters, passed through to ``domain.exports.export_customers``
(scoped and masked by role, logged), served as a download once the log is committed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from admin.views.customers import filter_options, filter_params, query_from
from admin.web import config, db, form, is_htmx, now, principal, render, view
from domain.access import may_import
from domain.errors import NOT_FOUND, DomainError
from domain.exports import FORMATS, export_customers
from domain.imports.jobs import (
    CHECK,
    NO_RIGHT,
    JobReport,
    cancel_import_job,
    get_import_job,
    start_customer_import,
)
from domain.imports.uploads import SUFFIXES, UploadStore
from domain.jobs import FINISHED
from domain.models import Job

MAX_UPLOAD = 50 * 1024 * 1024
MEDIA = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


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


def _uploads(request: Request) -> UploadStore:
    return UploadStore.under(config(request).upload_dir)


def _report(request: Request, status: int = 200, **ctx: Any) -> Response:
    """The import panel: the htmx partial, or the whole page around it."""
    return _page(request, status=status, partial=is_htmx(request), **ctx)


def _job_ctx(job: Job) -> dict[str, Any]:
    """The panel of a job: its progress while it runs, then the report or the result."""
    params = job.params
    ctx: dict[str, Any] = {
        "job": job, "file_name": params.get("fileName"), "checking": params.get("mode") == CHECK,
        "running": job.status not in FINISHED,
    }  # fmt: skip
    if job.status == "failed":
        ctx["error"] = job.error
    elif job.status == "done" and job.result is not None:
        report = JobReport.from_json(job.result)
        issues = {"issues": report.issues, "more_issues": report.more_issues,
                  "warnings": report.warnings}  # fmt: skip
        if report.mode == CHECK:
            ctx.update(preview=report, valid=report.valid, token=params.get("token"),
                       sha256=params.get("sha256"), **issues)  # fmt: skip
        else:
            ctx.update(result=report, **issues)
    return ctx


def _started(request: Request, token: str, sha256: str, mode: str) -> Response:
    """Queue the job and answer with its panel (polling)."""
    who = principal(request)
    try:
        with db(request) as session:
            job = start_customer_import(
                session, who, _uploads(request), token=token, sha256=sha256, mode=mode
            )
            ctx = _job_ctx(job)
    except DomainError as err:
        return _report(request, error=err.message)
    return _report(request, **ctx)


@view
def upload(request: Request) -> Response:
    who = principal(request)
    if not may_import(who):
        return _report(request, error=NO_RIGHT)
    upload_file = form(request).get("file")
    if not isinstance(upload_file, UploadFile) or not upload_file.filename:
        return _report(request, error="请选择要上传的 CSV 或 XLSX 文件")
    name = Path(upload_file.filename.replace("\\", "/")).name
    if Path(name).suffix.lower() not in SUFFIXES:
        return _report(request, error="只能导入 CSV 或 XLSX 文件")
    data = upload_file.file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return _report(request, error=f"文件过大（不能超过 {MAX_UPLOAD // 1024 // 1024} MB）")
    stored = _uploads(request).save(name, data, user_id=who.user_id)
    return _started(request, stored.token, stored.sha256, CHECK)


@view
def run_import(request: Request) -> Response:
    data = form(request)
    token, sha256 = str(data.get("token") or ""), str(data.get("sha256") or "")
    mode = "valid" if data.get("mode") == "valid" else "all"
    return _started(request, token, sha256, mode)


def _job_id(request: Request) -> int:
    return int(request.path_params["job_id"])


@view
def show_job(request: Request) -> Response:
    try:
        with db(request) as session:
            ctx = _job_ctx(get_import_job(session, principal(request), _job_id(request)))
    except DomainError as err:
        return _report(request, status=404 if err.code == NOT_FOUND else 400, error=err.message)
    return _report(request, **ctx)


@view
def cancel_job(request: Request) -> Response:
    who, job_id = principal(request), _job_id(request)
    try:
        with db(request) as session:
            job = cancel_import_job(session, who, job_id)
            ctx = _job_ctx(job)
        message = None if job.status in FINISHED else "已请求取消，任务将在下一次进度报告时停止。"
    except DomainError as err:
        if err.code == NOT_FOUND:
            return _report(request, status=404, error=err.message)
        message = err.message  # it has ended meanwhile: its outcome is shown
        with db(request) as session:
            ctx = _job_ctx(get_import_job(session, who, job_id))
    return _report(request, message=message, **ctx)


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
    Route("/files/jobs/{job_id:int}", show_job),
    Route("/files/jobs/{job_id:int}/cancel", cancel_job, methods=["POST"]),
    Route("/files/export", export, methods=["POST"]),
]
