"""Database helpers for the road tests: an imported street-grid database, imports from a
URL, and a fingerprint of what a refused import must leave unchanged."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.pool import NullPool

from api.pgcluster import EmbeddedCluster
from geo.roads import DEFAULT_MAPCONFIG, ImportSummary, conn_params, import_osm
from tests.conftest import TEMPLATE_DB
from tests.geo.osm_grid import Reference, class_speeds, street_grid


def require_osm2pgrouting() -> None:
    """The bootstrap installs it: its absence is a broken setup, not a reason to skip."""
    if shutil.which("osm2pgrouting") is None:
        pytest.fail(
            "osm2pgrouting is not installed: run scripts/bootstrap.sh "
            "(apt-get install osm2pgrouting)",
            pytrace=False,
        )


@dataclass(frozen=True)
class GridDb:
    url: str
    engine: Engine
    summary: ImportSummary
    reference: Reference


def import_into(path: Path, url: str, **options: object) -> ImportSummary:
    return import_osm(path, **asdict(conn_params(url)), **options)  # type: ignore[arg-type]


def fingerprint(url: str) -> tuple[tuple[Any, ...], ...]:
    """Schemas, relations and a digest of the road tables' rows: what a refusal must keep."""
    with psycopg.connect(conn_params(url).conninfo()) as conn:
        relations = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'"
            " ORDER BY 1, 2"
        ).fetchall()
        schemas = conn.execute("SELECT nspname FROM pg_namespace ORDER BY 1").fetchall()
        digests = [
            conn.execute(
                f"SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM roads.{t} t"
            ).fetchone()
            for t in ("ways", "ways_vertices_pgr")
            if ("roads", t) in relations
        ]
    return tuple(schemas), tuple(relations), tuple(digests)


@contextmanager
def grid_database(pg_cluster: EmbeddedCluster, directory: Path) -> Iterator[GridDb]:
    """A private database holding the street grid (imported with the car configuration)."""
    name = f"roads_{uuid.uuid4().hex[:12]}"
    pg_cluster.create_database(name, template=TEMPLATE_DB)
    url = pg_cluster.url(name)
    osm = street_grid()
    summary = import_into(osm.write(directory / "grid.osm"), url)
    engine = create_engine(url, poolclass=NullPool)
    try:
        yield GridDb(url, engine, summary, Reference(osm, class_speeds(DEFAULT_MAPCONFIG)))
    finally:
        engine.dispose()
        pg_cluster.drop_database(name)


@contextmanager
def rolled_back(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that is rolled back at the end."""
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            yield conn
        finally:
            trans.rollback()
