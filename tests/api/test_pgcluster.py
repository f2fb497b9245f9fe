"""The embedded PostgreSQL cluster against a real server (no mocks).

Each test gets its own cluster in a fresh world-traversable directory under /tmp (pytest's
tmp_path is 0700 and the server's OS user could not enter it when we run as root).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text

from api.pgcluster import ClusterConfig, ClusterError, EmbeddedCluster
from tests.reliability.processes import children, wait_gone

pytestmark = pytest.mark.timeout(300)

IS_ROOT = os.geteuid() == 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _scalar(cluster: EmbeddedCluster, query: str, database: str | None = None) -> object:
    engine = create_engine(cluster.url(database))
    try:
        with engine.connect() as conn:
            return conn.execute(text(query)).scalar_one()
    finally:
        engine.dispose()


def _connect(cluster: EmbeddedCluster, database: str = "retailgis") -> psycopg.Connection:
    return psycopg.connect(
        host=str(cluster.data_dir), port=cluster.config.port, user=cluster.config.user,
        dbname=database, autocommit=True, connect_timeout=3,
    )  # fmt: skip


def _crash(cluster: EmbeddedCluster) -> int:
    """kill -9 the postmaster and its children, wait until they are gone; return its pid."""
    pid = cluster.status().pid
    assert pid is not None
    victims = [pid, *children(pid)]
    for victim in victims:
        with contextlib.suppress(ProcessLookupError):  # a child that ended meanwhile
            os.kill(victim, signal.SIGKILL)
    wait_gone(victims, 30, "postgres processes after SIGKILL")
    return pid


@pytest.fixture
def base_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="rgis-pg-", dir="/tmp"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def cluster(base_dir: Path) -> Iterator[EmbeddedCluster]:
    config = ClusterConfig(data_dir=base_dir / "pg", port=_free_port(), fast_unsafe=True)
    cluster = EmbeddedCluster(config)
    yield cluster
    cluster.stop()


@pytest.fixture
def started(cluster: EmbeddedCluster) -> EmbeddedCluster:
    cluster.start()
    return cluster


def test_start_on_empty_dir_initialises_and_runs_with_postgis(cluster: EmbeddedCluster) -> None:
    # given an empty, never-initialised data directory
    assert not cluster.is_initialised()
    assert not cluster.status().running

    # when the cluster is started
    cluster.start()

    # then it is initialised, running, and the database has PostGIS and pgRouting
    status = cluster.status()
    assert status.initialised and status.running
    assert status.pid is not None and status.pid > 0
    assert status.port == cluster.config.port
    assert status.data_dir == cluster.data_dir
    assert _scalar(cluster, "SELECT current_database()") == "retailgis"
    assert str(_scalar(cluster, "SELECT postgis_version()")).startswith("3")
    assert _scalar(cluster, "SELECT pgr_version()")
    assert _scalar(cluster, "SELECT current_setting('fsync')") == "off"
    assert (cluster.data_dir / "retailgis.password").stat().st_mode & 0o777 == 0o600
    assert cluster.data_dir.stat().st_mode & 0o777 == 0o700


def test_stop_then_start_keeps_the_data(started: EmbeddedCluster) -> None:
    # given a running cluster with a table holding one row
    with _connect(started) as conn:
        conn.execute("CREATE TABLE kept (id int PRIMARY KEY, name text)")
        conn.execute("INSERT INTO kept VALUES (1, 'survivor')")

    # when it is stopped
    started.stop()

    # then it reports not running and refuses connections
    status = started.status()
    assert status.initialised and not status.running and status.pid is None
    with pytest.raises(psycopg.OperationalError):
        _connect(started)
    started.stop()  # stopping a stopped cluster is a no-op

    # when it is started again
    started.start()

    # then the row is still there
    assert started.status().running
    assert _scalar(started, "SELECT name FROM kept WHERE id = 1") == "survivor"


def test_start_recovers_from_stale_pid_file_with_reused_pid(
    started: EmbeddedCluster, caplog: pytest.LogCaptureFixture
) -> None:
    # given a cluster with data whose postmaster died hard (kill -9) ...
    with _connect(started) as conn:
        # fast_unsafe sets synchronous_commit=off: a kill -9 may lose the last ~0.6 s of
        # commits, so make these durable before crashing
        conn.execute("SET synchronous_commit = on")
        conn.execute("CREATE TABLE crash (id int)")
        conn.execute("INSERT INTO crash VALUES (42)")
    old_pid = _crash(started)
    pidfile = started.data_dir / "postmaster.pid"
    assert pidfile.exists()
    assert not started.status().running

    # ... and whose pid was reused by a live, unrelated process of the server's OS user
    account = pwd.getpwnam(started.config.os_user) if IS_ROOT else None
    sleeper = subprocess.Popen(
        ["sleep", "120"],
        user=account.pw_uid if account else None,
        group=account.pw_gid if account else None,
    )
    try:
        lines = pidfile.read_text().splitlines()
        assert lines[0] == str(old_pid)
        pidfile.write_text("\n".join([str(sleeper.pid), *lines[1:]]) + "\n")
        assert not started.status().running

        # when the cluster is started
        with caplog.at_level(logging.WARNING, logger="api.pgcluster"):
            started.start()

        # then the stale lock was noted and removed, the server runs, and the data survived
        assert any("stale" in record.getMessage() for record in caplog.records)
        status = started.status()
        assert status.running and status.pid not in (None, old_pid, sleeper.pid)
        assert _scalar(started, "SELECT id FROM crash") == 42
    finally:
        sleeper.kill()
        sleeper.wait()


def test_start_twice_is_idempotent_and_tcp_url_uses_the_password(
    started: EmbeddedCluster,
) -> None:
    # given a running cluster
    pid = started.status().pid

    # when it is started again
    started.start()

    # then the same server keeps running
    assert started.status().pid == pid

    # and the TCP URL connects over 127.0.0.1 with the stored password
    url = started.tcp_url()
    assert url.startswith("postgresql+psycopg://retailgis:") and "@127.0.0.1:" in url
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT inet_server_addr()::text")).scalar_one() in (
                "127.0.0.1",
                "127.0.0.1/32",
            )
    finally:
        engine.dispose()

    # and a wrong password is rejected
    bad = url.replace("retailgis:", "retailgis:wrong", 1)
    engine = create_engine(bad)
    try:
        with pytest.raises(Exception, match="password authentication failed"):
            engine.connect()
    finally:
        engine.dispose()


@pytest.mark.skipif(not IS_ROOT, reason="the traversal check only applies when running as root")
def test_data_dir_under_non_traversable_parent_is_refused(base_dir: Path) -> None:
    # given a parent directory the server's OS user cannot enter
    private = base_dir / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    cluster = EmbeddedCluster(
        ClusterConfig(data_dir=private / "nested" / "pg", port=_free_port(), fast_unsafe=True)
    )

    # when the cluster is started
    with pytest.raises(ClusterError) as raised:
        cluster.start()

    # then the error explains what to do, and nothing was created
    message = str(raised.value)
    assert str(private) in message and "RETAILGIS_PG_DIR" in message
    assert list(private.iterdir()) == []


def test_too_long_socket_path_is_refused_before_initdb(base_dir: Path) -> None:
    # given a data directory whose unix socket path would exceed the 107-byte limit
    data_dir = base_dir / ("x" * 100) / "pg"
    cluster = EmbeddedCluster(ClusterConfig(data_dir=data_dir, port=_free_port()))

    # when the cluster is started
    with pytest.raises(ClusterError, match="107 bytes"):
        cluster.start()

    # then nothing was created
    assert list(base_dir.iterdir()) == []


def test_port_in_use_is_reported_clearly(cluster: EmbeddedCluster) -> None:
    # given another program listening on the cluster's port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", cluster.config.port))
        squatter.listen()

        # when the cluster is started
        with pytest.raises(ClusterError, match=f"port {cluster.config.port}.*already used"):
            cluster.start()

    # then nothing runs
    assert not cluster.status().running


def test_create_database_from_template_and_drop(started: EmbeddedCluster) -> None:
    # given a database with a table and a row
    with _connect(started) as conn:
        conn.execute("CREATE TABLE shop (id int, geom geometry(Point, 4326))")
        conn.execute("INSERT INTO shop VALUES (7, ST_SetSRID(ST_MakePoint(116.4, 39.9), 4326))")

    # when a database is cloned from it (the template must have no other sessions)
    started.create_database("retailgis_copy", template="retailgis")

    # then the clone holds the same data, and creating it again fails
    assert _scalar(started, "SELECT id FROM shop", "retailgis_copy") == 7
    with pytest.raises(psycopg.errors.DuplicateDatabase):
        started.create_database("retailgis_copy", template="retailgis")
    assert started.ensure_database("retailgis_copy") is False

    # when it is dropped (even with a session still open)
    with _connect(started, "retailgis_copy"):
        started.drop_database("retailgis_copy")

    # then it is gone, and dropping it again is harmless
    with _connect(started, "postgres") as conn:
        count = conn.execute("SELECT count(*) FROM pg_database WHERE datname = 'retailgis_copy'")
        assert count.fetchone() == (0,)
    started.drop_database("retailgis_copy")


def test_ensure_database_creates_a_quoted_name_with_extensions(started: EmbeddedCluster) -> None:
    # given a database name that needs quoting
    name = 'Odd "name"; DROP'

    # when it is ensured twice
    first = started.ensure_database(name)
    second = started.ensure_database(name)

    # then it was created once, with PostGIS
    assert (first, second) == (True, False)
    assert str(_scalar(started, "SELECT postgis_version()", name)).startswith("3")
    started.drop_database(name)
