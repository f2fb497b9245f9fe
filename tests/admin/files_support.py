"""Helpers of the customer import tests (admin 导入导出): the upload and import POSTs, the job
panel's polling, the jobs run as the worker runs them, and what an import could change."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.testclient import TestClient

from domain.imports.jobs import JOB_KIND, configure
from domain.models import Customer, Import, Job
from tests.admin.conftest import VAULT, Demo
from tests.admin.customers_support import customers_count, ledger_count
from tests.admin.planner_support import run_job

TOKEN_RE = re.compile(r'name="token" value="([0-9a-f]{32})"')
SHA_RE = re.compile(r'name="sha256" value="([0-9a-f]{64})"')
JOB_RE = re.compile(r'hx-get="/admin/files/jobs/(\d+)" hx-trigger="every 1s"')
ISSUE_RE = re.compile(
    r'<td class="row">(\d+)</td><td class="field">([^<]*)</td><td class="message">([^<]*)<'
)


def hx(csrf: str) -> dict[str, str]:
    return {"X-CSRF-Token": csrf, "HX-Request": "true"}


def upload(client: TestClient, csrf: str, path: Path, media: str = "text/csv") -> str:
    with path.open("rb") as fh:
        res = client.post(
            "/admin/files/upload", files={"file": (path.name, fh, media)}, headers=hx(csrf)
        )
    assert res.status_code == 200, res.text
    return res.text


def start_import(client: TestClient, csrf: str, report: str, mode: str, **override: str) -> str:
    """POST the import form of a check's report (fields overridden as a forger would)."""
    found, sha = TOKEN_RE.search(report), SHA_RE.search(report)
    assert found and sha, "no import form in the report"
    data = {"token": found.group(1), "sha256": sha.group(1), "mode": mode, **override}
    res = client.post("/admin/files/import", data=data, headers=hx(csrf))
    assert res.status_code == 200, res.text
    return res.text


def job_of(panel: str) -> int:
    """The job a panel polls."""
    found = JOB_RE.search(panel)
    assert found, "the panel does not poll a job"
    return int(found.group(1))


def poll(client: TestClient, job_id: int) -> str:
    res = client.get(f"/admin/files/jobs/{job_id}", headers={"HX-Request": "true"})
    assert res.status_code == 200, res.text
    return res.text


def run_import_job(app: Starlette, demo: Demo, job_id: int) -> Job:
    """Run the queued jobs up to ``job_id`` as the worker does (configured as the app is)."""
    configure(app.state.settings.upload_dir, lambda: VAULT)
    run_job(demo.engine, job_id)
    return job_row(demo, job_id)


def run_and_poll(client: TestClient, app: Starlette, demo: Demo, job_id: int) -> str:
    """Run the job as the worker does, then the panel that polls it."""
    run_import_job(app, demo, job_id)
    return poll(client, job_id)


def job_row(demo: Demo, job_id: int) -> Job:
    with Session(demo.engine) as s:
        job = s.get(Job, job_id)
        assert job is not None
        s.expunge(job)
        return job


def issues(html: str) -> list[tuple[str, str, str]]:
    return ISSUE_RE.findall(html)


def imports_count(demo: Demo) -> int:
    return int(demo.scalar(select(func.count()).select_from(Import)))


def import_jobs(demo: Demo) -> int:
    return int(demo.scalar(select(func.count()).select_from(Job).where(Job.kind == JOB_KIND)))


def counts(demo: Demo) -> tuple[int, int, int]:
    """Customers, ledger entries and imports: what an import writes."""
    return customers_count(demo), ledger_count(demo), imports_count(demo)


def codes_present(demo: Demo, codes: list[str]) -> list[str]:
    with Session(demo.engine) as s:
        found = s.scalars(select(Customer.customer_code).where(Customer.customer_code.in_(codes)))
        return sorted(found)
