"""The run path end to end: `retailgis serve` on a fresh data directory with no DATABASE_URL
starts the embedded cluster, migrates, loads the demo city and answers /healthz."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.support import free_port, traversable_tmpdir

BIN = Path(sys.executable).parent


def _wait_healthy(base: str, proc: subprocess.Popen[str], timeout: float = 240) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, _ = proc.communicate()
            raise AssertionError(f"server exited with {proc.returncode}:\n{out[-3000:]}")
        try:
            res = httpx.get(f"{base}/healthz", timeout=2)
            if res.status_code == 200:
                return res
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError("server did not become healthy in time")


@pytest.fixture
def data_dir() -> Iterator[Path]:
    root = traversable_tmpdir("rgis-serve-")
    env = _env(root, 0)
    try:
        yield root
    finally:
        subprocess.run(
            [str(BIN / "retailgis"), "db", "stop"], env=env, capture_output=True, check=False
        )
        shutil.rmtree(root, ignore_errors=True)


def _env(root: Path, pg_port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DATABASE_URL"))}
    env.update(RETAILGIS_DATA_DIR=str(root), RETAILGIS_PG_PORT=str(pg_port), **extra)
    return env


def _serve(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "retailgis"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


PLAN = """mutation { planRoutes(input: {depotId: 1, weekday: 1, timeLimitSeconds: 1}) {
    plan { id } errors { code message } } }"""


def _plan_is_computed(env: dict[str, str], url: str) -> str:
    token = subprocess.run(
        [str(BIN / "retailgis"), "tokens", "create", "--user", "delivery_dept", "--days", "1"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip().splitlines()[-1]  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"}
    out = httpx.post(url, json={"query": PLAN}, headers=headers).json()["data"]["planRoutes"]
    assert out["errors"] == [], out
    query = "query($id: Int!) { routePlan(id: $id) { status } }"
    deadline, status = time.monotonic() + 60, "computing"
    while status == "computing" and time.monotonic() < deadline:
        time.sleep(0.25)
        res = httpx.post(url, json={"query": query, "variables": {"id": out["plan"]["id"]}},
                         headers=headers)  # fmt: skip
        status = res.json()["data"]["routePlan"]["status"]
    return status


def test_serve_on_a_fresh_data_dir_brings_up_the_demo_city(data_dir: Path) -> None:
    # given an empty data directory and no DATABASE_URL
    pg_port, port = free_port(), free_port()
    env = _env(data_dir, pg_port, RETAILGIS_DEMO_SHOPS="600")
    # when serving
    proc = _serve(env, port)
    try:
        res = _wait_healthy(f"http://127.0.0.1:{port}", proc)
        assert res.json()["migrations"] == "head"
        gql = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": "{ __typename }"})
        assert gql.json() == {"data": {"__typename": "Query"}}
        # and the worker beside the server computes a route plan asked for over the API
        assert _plan_is_computed(env, f"http://127.0.0.1:{port}/graphql") == "ready"
    finally:
        out = _stop(proc)
    assert "后台任务进程已启动" in out
    # then the embedded cluster lives in the data dir and holds the demo city
    assert (data_dir / "pg" / "PG_VERSION").exists()
    assert "共用演示密码" in out
    assert (data_dir / "demo-credentials.txt").stat().st_mode & 0o077 == 0
    url = subprocess.run(
        [str(BIN / "retailgis"), "db", "url"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    eng = create_engine(url, poolclass=NullPool)
    with eng.connect() as conn:
        shops = conn.scalar(text("SELECT count(*) FROM customers"))
        routed = conn.scalar(
            text("SELECT count(*) FROM customers WHERE delivery_sequence IS NOT NULL")
        )
        months = conn.scalar(text("SELECT count(DISTINCT month) FROM purchase_records"))
        conn.execute(text("CREATE TABLE kept_marker (x int)"))
        conn.commit()
    eng.dispose()
    assert (shops, routed, months) == (600, 600, 12)

    # when serving again, the data is reused: no second demo load, the marker survives
    proc = _serve(env, port)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc)
    finally:
        out = _stop(proc)
    assert "共用演示密码" not in out
    eng = create_engine(url, poolclass=NullPool)
    with eng.connect() as conn:
        assert conn.scalar(text("SELECT to_regclass('kept_marker') IS NOT NULL"))
        assert conn.scalar(text("SELECT count(*) FROM customers")) == 600
    eng.dispose()
