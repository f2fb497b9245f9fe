"""The customer import as background jobs (kind ``customer_import``), as the admin runs it.

Two steps, each a job run by the worker (``domain.jobs``), reporting its progress (a
fraction and a message such as 逐行校验 12,000/100,000) and stopping when cancelled:

- ``check``: every check of the import run, nothing written, the transaction rolled back:
  the per-row report is exactly what the import would say (all checks come before any
  write) in well under half the import's time;
- ``all`` / ``valid``: the import as the CLI runs it, all rows or only the valid ones: the
  import's row committed first (seen as running), then the load in one transaction of its
  own. A cancel, a failure or a refusal rolls the load back and removes the row.

A job names the stored upload by its id and sha256 (``domain.imports.uploads``), never a
path; the job reads the file again and checks its sha256 and owner. Who may import
(``domain.access.may_import``) is checked when the job is queued and again by the job, for
its creator. What the job needs beyond the database (the vault for personal values, the
upload directory) is set by the composition root with ``configure`` before jobs run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from domain.access import Principal, load_principal, may_import
from domain.errors import FORBIDDEN, INVALID, INVALID_FORMAT, NOT_FOUND, DomainError
from domain.imports.customers import import_customers
from domain.imports.files import Table
from domain.imports.registry import discard_import, start_import
from domain.imports.report import RowIssue
from domain.imports.result import ImportResult
from domain.imports.uploads import UploadStore
from domain.jobs import Cancelled, enqueue, get_job, handler, request_cancel
from domain.jobs import Progress as JobProgress
from domain.models import Job
from domain.vault import Vault

JOB_KIND = "customer_import"
CHECK = "check"
MODES = (CHECK, "all", "valid")
NO_RIGHT = "您的角色无权导入客户档案"
BAD_MODE = "导入方式须为 check、all 或 valid"
# At most this many findings are kept with a job (the rest are counted).
KEPT_ISSUES = 500
# Where each phase of the import starts and ends in the whole (CSV of 100,000 rows in
# bench/README.md: reading 0.5 s, rows 3.7 s, database checks 1.2 s, writing ≈ 8 s).
PHASES = {
    "读取文件": (0.0, 0.03),
    "逐行校验": (0.03, 0.3),
    "数据库校验": (0.3, 0.4),
    "写入客户和台帐": (0.4, 1.0),
}
# A check writes nothing: its phases share the whole bar.
CHECK_PHASES = {
    "读取文件": (0.0, 0.06),
    "逐行校验": (0.06, 0.75),
    "数据库校验": (0.75, 1.0),
}


@dataclass(frozen=True)
class ImportJobSettings:
    upload_dir: Path
    vault: Callable[[], Vault]  # built when a job first needs it


# Set by the composition root (api) before jobs run, as domain.planning.SETTINGS is.
SETTINGS: dict[str, ImportJobSettings] = {}


def configure(upload_dir: Path, vault: Callable[[], Vault]) -> None:
    SETTINGS["imports"] = ImportJobSettings(upload_dir, vault)


# -- the job's outcome -----------------------------------------------------------------------


def _issue_json(issue: RowIssue) -> dict[str, Any]:
    return {"row": issue.row, "field": issue.field, "labelZh": issue.label_zh,
            "code": issue.code, "message": issue.message}  # fmt: skip


def _issue(raw: Mapping[str, Any]) -> RowIssue:
    return RowIssue(int(raw["row"]), str(raw["field"]), str(raw["labelZh"]), str(raw["code"]),
                    str(raw["message"]))  # fmt: skip


@dataclass(frozen=True)
class JobReport:
    """What a finished check or import said: counts, the first ``KEPT_ISSUES`` findings
    (row, field, message) and how many more there were, the ignored columns; for an
    import, the import's id and the rows imported (None and 0 when nothing was)."""

    mode: str
    file_name: str
    total: int
    refused: int
    imported: int = 0
    import_id: int | None = None
    issues: tuple[RowIssue, ...] = ()
    more_issues: int = 0
    warnings: tuple[RowIssue, ...] = ()

    @property
    def valid(self) -> int:
        return self.total - self.refused

    @classmethod
    def of(cls, mode: str, file_name: str, result: ImportResult) -> JobReport:
        done = mode != CHECK and result.import_id is not None  # a check commits nothing
        return cls(
            mode=mode, file_name=file_name, total=result.total, refused=result.refused,
            imported=result.imported if done else 0,
            import_id=result.import_id if done else None,
            issues=result.issues[:KEPT_ISSUES],
            more_issues=max(0, len(result.issues) - KEPT_ISSUES),
            warnings=result.warnings[:KEPT_ISSUES],
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode, "fileName": self.file_name, "total": self.total,
            "refused": self.refused, "imported": self.imported, "importId": self.import_id,
            "issues": [_issue_json(i) for i in self.issues], "moreIssues": self.more_issues,
            "warnings": [_issue_json(w) for w in self.warnings],
        }  # fmt: skip

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> JobReport:
        import_id = raw.get("importId")
        return cls(
            mode=str(raw["mode"]), file_name=str(raw["fileName"]), total=int(raw["total"]),
            refused=int(raw["refused"]), imported=int(raw["imported"]),
            import_id=None if import_id is None else int(import_id),
            issues=tuple(_issue(i) for i in raw["issues"]),
            more_issues=int(raw["moreIssues"]),
            warnings=tuple(_issue(w) for w in raw["warnings"]),
        )  # fmt: skip


# -- queueing, reading and cancelling ----------------------------------------------------------


def start_customer_import(
    session: Session, principal: Principal, uploads: UploadStore, *, token: str, sha256: str,
    mode: str,
) -> Job:  # fmt: skip
    """Queue the check (``mode`` "check") or the import ("all", or "valid": only the valid
    rows) of the caller's stored upload ``token`` whose content has ``sha256``."""
    if not may_import(principal):
        raise DomainError(FORBIDDEN, NO_RIGHT, "file")
    if mode not in MODES:
        raise DomainError(INVALID, BAD_MODE, "mode")
    upload = uploads.find(token, sha256, user_id=principal.user_id)
    params = {"mode": mode, "token": token, "sha256": sha256, "fileName": upload.name}
    return enqueue(session, JOB_KIND, params, principal.user_id)


NO_SUCH_JOB = "找不到该后台任务"


def _may_see(principal: Principal, kind: str | None, creator: int | None) -> bool:
    """An import job is its creator's, and also seen by the roles that may import (a
    colleague takes over a long import); other city-wide roles, whom ``domain.jobs`` lets
    see every job, do not see the report of another's file."""
    return kind == JOB_KIND and (creator == principal.user_id or may_import(principal))


def get_import_job(session: Session, principal: Principal, job_id: int) -> Job:
    """An import job the caller may see (``domain.jobs.get_job`` and ``_may_see``);
    NOT_FOUND otherwise."""
    job = get_job(session, principal, job_id)
    if not _may_see(principal, job.kind, job.created_by_id):
        raise DomainError(NOT_FOUND, NO_SUCH_JOB, "id")
    return job


def cancel_import_job(session: Session, principal: Principal, job_id: int) -> Job:
    """``domain.jobs.request_cancel`` of an import job the caller may see (NOT_FOUND for
    another kind, or another's job to a role that may not import)."""
    # Only the kind and creator are read first: the job itself is loaded by request_cancel
    # under its row lock, not taken stale from the session's identity map.
    row = session.execute(select(Job.kind, Job.created_by_id).where(Job.id == job_id)).first()
    if row is None or not _may_see(principal, *row):
        raise DomainError(NOT_FOUND, NO_SUCH_JOB, "id")
    return request_cancel(session, principal, job_id)


# -- the job ---------------------------------------------------------------------------------


class _Say:
    """The import's progress (phase, done, total) as the job's: the fraction of the whole
    and a message, written at each phase's start and end and at most every ``interval_s``
    between; raises Cancelled once a cancel has been asked."""

    def __init__(self, progress: JobProgress, mode: str, interval_s: float = 0.5) -> None:
        self.progress, self.interval_s = progress, interval_s
        self.phases = CHECK_PHASES if mode == CHECK else PHASES
        self.phase, self.last = "", 0.0

    def __call__(self, phase: str, done: int, total: int) -> None:
        lo, hi = self.phases.get(phase, (0.0, 1.0))
        fraction = round(lo + (hi - lo) * (min(done, total) / total if total else 1.0), 4)
        now = time.monotonic()
        if phase == self.phase and done < total and now - self.last < self.interval_s:
            return
        self.phase, self.last = phase, now
        message = f"{phase} {done:,}/{total:,}" if total > 1 else phase
        if not self.progress(fraction, message):
            raise Cancelled


def _creator(session: Session, job: Job) -> Principal:
    """The job's creator, who must (still) be allowed to import."""
    if job.created_by_id is None:
        raise DomainError(FORBIDDEN, NO_RIGHT, "file")
    who = load_principal(session, job.created_by_id)
    if not may_import(who):
        raise DomainError(FORBIDDEN, NO_RIGHT, "file")
    return who


def _start_run(session: Session, table: Table, who: Principal) -> int:
    """The import's row (``running``), in the session's transaction."""
    return start_import(
        session, kind="customers", file_name=table.name, sha256=table.sha256,
        actor_name=who.username, actor_id=who.user_id,
    ).id  # fmt: skip


def _check(
    sessions: sessionmaker[Session], table: Table, who: Principal, vault: Vault, say: _Say
) -> ImportResult:
    """The import's findings, every check run and nothing written (rolled back all the
    same: the import's row is never committed)."""
    with sessions() as session:
        try:
            run_id = _start_run(session, table, who)
            return import_customers(
                session, table, import_id=run_id, vault=vault, progress=say, check_only=True
            )
        finally:
            session.rollback()


def _import(
    sessions: sessionmaker[Session], table: Table, who: Principal, vault: Vault, say: _Say,
    progress: JobProgress, *, all_valid: bool,
) -> ImportResult:  # fmt: skip
    """The import as the CLI runs it: its row committed first, then the load in one
    transaction; anything raised out of the load (a cancel too) leaves nothing."""
    with sessions.begin() as session:
        run_id = _start_run(session, table, who)
    try:
        with sessions() as session:
            result = import_customers(
                session, table, import_id=run_id, vault=vault, all_valid=all_valid,
                progress=say,
            )  # fmt: skip
            progress.check("提交导入")  # a cancel asked until now still wins
            session.commit()
    except BaseException:
        with sessions.begin() as session:
            discard_import(session, run_id)
        raise
    return result


def _settings() -> ImportJobSettings:
    found = SETTINGS.get("imports")
    if found is None:
        raise RuntimeError("customer import jobs are not configured (domain.imports.jobs)")
    return found


@handler(JOB_KIND)
def run_import_job(
    sessions: sessionmaker[Session], job: Job, progress: JobProgress
) -> dict[str, Any]:
    settings = _settings()
    mode, token, sha256 = (str(job.params.get(k) or "") for k in ("mode", "token", "sha256"))
    if mode not in MODES:
        raise DomainError(INVALID, BAD_MODE, "mode")
    with sessions() as session:
        who = _creator(session, job)
    say = _Say(progress, mode)
    say("读取文件", 0, 1)
    uploads = UploadStore.under(settings.upload_dir)
    try:
        table = uploads.table(token, sha256, user_id=who.user_id)
    except DomainError as err:
        if err.code == INVALID_FORMAT:  # unreadable: nothing to keep it for
            uploads.forget(token)
        raise
    say("读取文件", 1, 1)
    if mode == CHECK:
        result = _check(sessions, table, who, settings.vault(), say)
    else:
        result = _import(
            sessions, table, who, settings.vault(), say, progress, all_valid=mode == "valid"
        )
        if result.import_id is not None:
            uploads.forget(token)
    return JobReport.of(mode, table.name, result).to_json()
