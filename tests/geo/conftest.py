"""The synthetic street grid imported into a private database, once per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection

from api.pgcluster import EmbeddedCluster
from tests.geo.roads_support import GridDb, grid_database, rolled_back


@pytest.fixture(scope="module")
def grid_db(
    pg_cluster: EmbeddedCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GridDb]:
    with grid_database(pg_cluster, tmp_path_factory.mktemp("osm")) as db:
        yield db


@pytest.fixture
def grid_conn(grid_db: GridDb) -> Iterator[Connection]:
    with rolled_back(grid_db.engine) as conn:
        yield conn
