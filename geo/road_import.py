"""Import OpenStreetMap roads into PostGIS with osm2pgrouting, all or nothing.

osm2pgrouting writes ``ways`` (road segments between junctions, with ``length_m`` and
``cost_s``/``reverse_cost_s``, negative against a one-way street) and ``ways_vertices_pgr``
(junctions). ``import_osm`` runs it into a staging schema and swaps the result in.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

MAPCONFIG_DIR = Path("/usr/share/osm2pgrouting")
# Delivery vans drive: the car configuration leaves out footways, steps, paths and cycleways
# (the package's plain mapconfig.xml imports them all at 50 km/h) and sets a speed per class.
DEFAULT_MAPCONFIG = MAPCONFIG_DIR / "mapconfig_for_cars.xml"
ERROR_TAIL_LINES = 15
# osm2pgrouting exits 0 after some failed chunks; these lines on stderr betray them.
_FAILURE_MARKERS = ("While processing", "While exporting", "FATAL")
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,39}")
# osm2pgrouting pastes these into a libpq conninfo string unquoted.
_UNSAFE_CONNINFO = re.compile(r"[\s'\\]")


PgConn = psycopg.Connection[tuple[Any, ...]]


class RoadsError(Exception):
    """Base of the road-network errors; messages are plain English for the domain to map."""


class RoadImportError(RoadsError):
    """An import failed; the previous network, if any, is untouched."""


@dataclass(frozen=True)
class ConnParams:
    """What osm2pgrouting needs to connect; ``host`` may be a unix-socket directory."""

    dbname: str
    host: str = "localhost"
    port: int = 5432
    user: str = "postgres"
    password: str | None = None

    def conninfo(self) -> str:
        """The libpq connection string (values quoted as libpq needs)."""
        return psycopg.conninfo.make_conninfo(
            dbname=self.dbname, host=self.host, port=self.port, user=self.user,
            password=self.password,
        )  # fmt: skip


def conn_params(url: str) -> ConnParams:
    """Connection parameters from a SQLAlchemy URL (``postgresql+psycopg://...``, socket
    directory in ``?host=``) or a libpq conninfo (URI or ``key=value`` string)."""
    scheme, sep, rest = url.partition("://")
    if sep and "+" in scheme:
        url = f"{scheme.split('+', 1)[0]}://{rest}"
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise ValueError(f"not a PostgreSQL URL or conninfo: {exc}") from None
    if not info.get("dbname"):
        raise ValueError("the connection URL names no database")
    return ConnParams(
        dbname=str(info["dbname"]),
        host=str(info.get("host") or "localhost"),
        port=int(info.get("port") or 5432),
        user=str(info.get("user") or getpass.getuser()),
        password=str(info["password"]) if info.get("password") else None,
    )


@dataclass(frozen=True)
class ImportSummary:
    """What an import left: road segments (edges), junctions (vertices), and the junctions
    of the main strongly connected part that points snap to."""

    ways: int
    vertices: int
    routable_vertices: int
    seconds: float


def import_osm(
    osm_file: Path,
    *,
    dbname: str,
    host: str,
    port: int,
    user: str,
    password: str | None = None,
    schema: str = "roads",
    mapconfig: Path | None = None,
    timeout_s: float | None = None,
) -> ImportSummary:
    """Replace the road network in ``schema`` with the roads of an OSM XML file.

    osm2pgrouting's ``--clean`` drops its tables before it reads the file, so it imports into
    a staging schema (``<schema>_import``); only a complete, non-empty import replaces the
    tables in ``schema`` (created when missing), in one transaction. Any failure raises
    ``RoadImportError`` and leaves the previous network (or nothing) in place. Imports into
    one schema are serialised by an advisory lock. Other tables in ``schema`` are kept; the
    tables osm2pgrouting makes are replaced (``CASCADE``: views on them go too).

    On top of osm2pgrouting's output: forward times of ways with their own forward speed
    are corrected (see ``_prepare``), junctions get a ``routable`` flag (the largest
    strongly connected part) and a GiST index over the routable ones, and both tables are
    analysed. osm2pgrouting holds the whole file in memory: clip a province to the city.
    """
    started = time.monotonic()
    params = ConnParams(dbname, host, port, user, password)
    config = mapconfig or DEFAULT_MAPCONFIG
    check_schema(schema)
    _check_inputs(osm_file, config, params)
    staging = f"{schema}_import"
    with _connect(params) as conn:
        _lock(conn, schema)
        try:
            _recreate_schema(conn, staging)
            path = _search_path(conn, staging)
            _run_osm2pgrouting(osm_file, config, params, staging, path, timeout_s)
            ways, vertices, routable = _check_and_swap(conn, staging, schema)
        finally:
            conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(staging))
            )
    return ImportSummary(ways, vertices, routable, round(time.monotonic() - started, 3))


def _check_and_swap(conn: PgConn, staging: str, schema: str) -> tuple[int, int, int]:
    """One transaction: check and prepare the staged network, then swap it in."""
    try:
        with conn.transaction():
            counts = _prepare(conn, staging)
            _swap(conn, staging, schema)
    except psycopg.Error as exc:  # e.g. pgRouting missing; nothing was swapped in
        raise RoadImportError(f"the database refused the import: {exc}") from None
    return counts


def check_schema(schema: str) -> None:
    """Schema names go into osm2pgrouting's SQL unquoted: plain lower-case names only."""
    if not _SCHEMA_NAME.fullmatch(schema):
        raise ValueError(f"schema must match {_SCHEMA_NAME.pattern}, not {schema!r}")


def _check_inputs(osm_file: Path, config: Path, params: ConnParams) -> None:
    if shutil.which("osm2pgrouting") is None:
        raise RoadImportError(
            "osm2pgrouting is not installed: run scripts/bootstrap.sh "
            "(or apt-get install osm2pgrouting)"
        )
    for what, path in (("OSM file", osm_file), ("map configuration", config)):
        if not path.is_file() or not os.access(path, os.R_OK):
            raise RoadImportError(f"{what} {str(path)!r} is not a readable file")
    for name in ("dbname", "host", "user"):
        if _UNSAFE_CONNINFO.search(getattr(params, name)):
            raise RoadImportError(f"osm2pgrouting cannot use a {name} with spaces or quotes")


def _connect(params: ConnParams) -> PgConn:
    """Our own autocommit connection: the lock, the staging schema, the checks and the swap."""
    try:
        return psycopg.connect(params.conninfo(), autocommit=True)
    except psycopg.OperationalError as exc:
        raise RoadImportError(f"cannot connect to database {params.dbname!r}: {exc}") from None


def _lock(conn: PgConn, schema: str) -> None:
    """One import per schema at a time (the staging schema is shared); held by the session."""
    key = f"retailgis.roads_import.{schema}"
    row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()
    if not row or not row[0]:
        raise RoadImportError(f"another import into schema {schema!r} is running")


def _recreate_schema(conn: PgConn, name: str) -> None:
    ident = sql.Identifier(name)
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(ident))
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(ident))


def _search_path(conn: PgConn, staging: str) -> str:
    """The staging schema first, so that osm2pgrouting's work tables land there too."""
    row = conn.execute("SELECT current_schemas(false)").fetchone()
    existing = [str(name) for name in (row[0] if row else [])]
    return ",".join([staging, *existing])


def _run_osm2pgrouting(
    osm_file: Path,
    config: Path,
    params: ConnParams,
    staging: str,
    search_path: str,
    timeout_s: float | None,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGOPTIONS"] = f"-c search_path={search_path}"
    with tempfile.TemporaryDirectory(prefix="osm2pgr-") as tmp:
        # osm2pgrouting counts lines with popen("wc -l " + file): give it a shell-safe name.
        link = Path(tmp) / "input.osm"
        link.symlink_to(osm_file.resolve())
        if params.password is not None:  # not on the command line, where ps shows it
            env["PGPASSFILE"] = _write_pgpass(Path(tmp), params)
        args = [
            "osm2pgrouting", "--file", str(link), "--conf", str(config), "--schema", staging,
            "--clean", "--dbname", params.dbname, "--username", params.user,
            "--host", params.host, "--port", str(params.port),
        ]  # fmt: skip
        try:
            done = subprocess.run(
                args, capture_output=True, text=True, errors="replace", env=env, cwd=tmp,
                stdin=subprocess.DEVNULL, timeout=timeout_s, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise RoadImportError(f"osm2pgrouting did not finish within {timeout_s} s") from None
    if done.returncode != 0 or any(mark in done.stderr for mark in _FAILURE_MARKERS):
        lines = (done.stderr.strip() or done.stdout.strip()).splitlines()[-ERROR_TAIL_LINES:]
        detail = "\n".join(lines) or "(no output)"
        raise RoadImportError(f"osm2pgrouting failed (exit {done.returncode}):\n{detail}")


def _write_pgpass(directory: Path, params: ConnParams) -> str:
    """A password file for libpq. Host and port are ``*``: osm2pgrouting's own reader of
    this file then skips the line (it echoes matched passwords to stdout); libpq uses it."""

    def field(value: str) -> str:
        return value.replace("\\", "\\\\").replace(":", "\\:")

    path = directory / "pgpass"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"*:*:{field(params.dbname)}:{field(params.user)}:")
        handle.write(f"{field(params.password or '')}\n")
    return str(path)


def _prepare(conn: PgConn, staging: str) -> tuple[int, int, int]:
    """Check the staged import, flag the junctions points may snap to, index and analyse.

    Only the largest strongly connected part of the directed network is routable: a
    junction on a disconnected scrap of road, or at the end of a one-way dead end, would
    leave some pairs without a path, so no point snaps to one.
    """
    ways = sql.SQL("{}.ways").format(sql.Identifier(staging))
    vertices = sql.SQL("{}.ways_vertices_pgr").format(sql.Identifier(staging))
    n_ways, broken = _ints(
        conn, "SELECT count(*), count(*) FILTER (WHERE source IS NULL OR target IS NULL) FROM {}",
        ways,
    )  # fmt: skip
    if n_ways == 0:
        raise RoadImportError("the file holds no roads that the map configuration imports")
    if broken:
        raise RoadImportError(f"osm2pgrouting left {broken} road segments without junctions")
    steps = [
        # osm2pgrouting 2.3 times the forward direction at maxspeed_backward: redo it.
        "UPDATE {ways} SET cost_s = sign(cost_s) * length_m / (maxspeed_forward / 3.6)"
        " WHERE maxspeed_forward > 0 AND maxspeed_forward <> maxspeed_backward",
        "ALTER TABLE {vertices} ADD COLUMN routable boolean NOT NULL DEFAULT false",
        "WITH comp AS (SELECT component, node FROM pgr_strongComponents(%s)),"
        " main AS (SELECT component FROM comp GROUP BY component"
        "          ORDER BY count(*) DESC, component LIMIT 1)"
        " UPDATE {vertices} AS v SET routable = true FROM comp JOIN main USING (component)"
        " WHERE v.id = comp.node",
        "CREATE INDEX ways_vertices_pgr_routable_idx ON {vertices} USING gist (the_geom)"
        " WHERE routable",
    ]
    for step in steps:
        args = (edges_sql(staging, "duration"),) if "%s" in step else None
        conn.execute(sql.SQL(step).format(ways=ways, vertices=vertices), args)
    conn.execute(sql.SQL("ANALYZE {}, {}").format(ways, vertices))
    n_vertices, routable = _ints(
        conn, "SELECT count(*), count(*) FILTER (WHERE routable) FROM {}", vertices
    )
    return n_ways, n_vertices, routable


def _ints(conn: PgConn, query: str, table: sql.Composable) -> tuple[int, int]:
    row = conn.execute(sql.SQL(query).format(table)).fetchone()
    assert row is not None  # an aggregate always answers one row
    return int(row[0]), int(row[1])


def _swap(conn: PgConn, staging: str, schema: str) -> None:
    """Move the staged tables into ``schema`` in place of the previous import's."""
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename NOT LIKE '\\_\\_%%'"
        " ORDER BY tablename",
        (staging,),
    ).fetchall()
    tables = [str(r[0]) for r in rows]
    target = sql.Identifier(schema)
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(target))
    old = sql.SQL(", ").join(sql.SQL("{}.{}").format(target, sql.Identifier(t)) for t in tables)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(old))
    for table in tables:
        conn.execute(
            sql.SQL("ALTER TABLE {}.{} SET SCHEMA {}").format(
                sql.Identifier(staging), sql.Identifier(table), target
            )
        )


def edges_sql(schema: str, metric: str) -> str:
    """pgRouting's edge query. A negative cost closes a direction (one-way streets); the
    distance network closes the same directions as the time network."""
    ways = f'"{schema}".ways'
    if metric == "duration":
        return (
            "SELECT gid AS id, source, target, cost_s AS cost, reverse_cost_s AS reverse_cost"
            f" FROM {ways}"
        )
    return (
        "SELECT gid AS id, source, target,"
        " CASE WHEN cost_s < 0 THEN -1 ELSE length_m END AS cost,"
        f" CASE WHEN reverse_cost_s < 0 THEN -1 ELSE length_m END AS reverse_cost FROM {ways}"
    )
