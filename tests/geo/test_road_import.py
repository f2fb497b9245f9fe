"""Importing OpenStreetMap roads with the real osm2pgrouting into real PostGIS: what lands,
and refusals that leave the previous network (or nothing) in place. Also the CLI."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, text

from api.cli import main
from api.pgcluster import EmbeddedCluster
from geo.roads import ConnParams, RoadImportError, conn_params
from tests.conftest import TEMPLATE_DB
from tests.geo.osm_grid import OsmMap, at, gid, plain_grid, street_grid
from tests.geo.roads_support import (
    GridDb,
    fingerprint,
    import_into,
    require_osm2pgrouting,
)

require_osm2pgrouting()


# --- the import ---------------------------------------------------------------------------


def test_import_builds_the_network_the_reference_predicts(
    grid_db: GridDb, grid_conn: Connection
) -> None:
    # given the grid imported with the car map configuration (fixture)
    ref = grid_db.reference
    # then the road segments, junctions and routable junctions are the ones predicted
    assert (grid_db.summary.ways, grid_db.summary.vertices, grid_db.summary.routable_vertices) == (
        ref.segments, len(ref.junctions), len(ref.routable),
    )  # fmt: skip
    # rows 5+4+5+5+5+5, columns 5+5+5+4+5+5, the scrap and the dead end; 36 + 3 junctions
    assert (ref.segments, len(ref.junctions), len(ref.routable)) == (60, 39, 36)
    routable = grid_conn.execute(
        text("SELECT osm_id FROM roads.ways_vertices_pgr WHERE routable ORDER BY osm_id")
    ).scalars()
    assert set(routable) == ref.routable == {gid(r, c) for r in range(6) for c in range(6)}
    # and the footway is not there, the names survive, the staging schema is gone
    footway = next(w.osm_id for w in ref.osm.ways if w.tags["highway"] == "footway")
    imported = set(grid_conn.execute(text("SELECT DISTINCT osm_id FROM roads.ways")).scalars())
    assert footway not in imported and len(imported) == len(ref.osm.ways) - 1
    named = text("SELECT count(*) FROM roads.ways WHERE name = '南大街'")
    assert grid_conn.execute(named).scalar() == 5  # row 0: five blocks
    assert grid_conn.execute(text("SELECT to_regnamespace('roads_import')")).scalar() is None


def test_directional_speeds_time_each_direction(grid_db: GridDb, grid_conn: Connection) -> None:
    # given column 1, tagged 30 km/h northwards (forward) and 60 km/h southwards (backward)
    way = next(w.osm_id for w in grid_db.reference.osm.ways if "maxspeed:forward" in w.tags)
    # then each segment takes its length at 30 km/h one way and at 60 km/h the other
    # (osm2pgrouting 2.3 itself writes the backward speed in both; the import corrects it)
    rows = grid_conn.execute(
        text("SELECT length_m, cost_s, reverse_cost_s FROM roads.ways WHERE osm_id = :w"),
        {"w": way},
    ).all()
    assert len(rows) == 5
    for length, forward, backward in rows:
        assert (round(forward, 9), round(backward, 9)) == (
            round(length / (30 / 3.6), 9), round(length / (60 / 3.6), 9),
        )  # fmt: skip


def test_reimport_replaces_the_network_and_keeps_other_tables(
    fresh_db_url: str, tmp_path: Path
) -> None:
    # given an imported grid and a table of our own in the roads schema
    import_into(street_grid().write(tmp_path / "grid.osm"), fresh_db_url)
    with psycopg.connect(conn_params(fresh_db_url).conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE roads.notes (id int); INSERT INTO roads.notes VALUES (7)")
    # when a smaller city replaces it
    summary = import_into(plain_grid(3, 4).write(tmp_path / "small.osm"), fresh_db_url)
    # then only the new network is there, and our table is untouched
    assert (summary.ways, summary.vertices, summary.routable_vertices) == (17, 12, 12)
    with psycopg.connect(conn_params(fresh_db_url).conninfo()) as conn:
        assert conn.execute("SELECT count(*) FROM roads.ways").fetchone() == (17,)
        assert conn.execute("SELECT id FROM roads.notes").fetchall() == [(7,)]


def test_import_over_tcp_with_a_password(pg_cluster: EmbeddedCluster, tmp_path: Path) -> None:
    # given a database reached over TCP with password authentication
    name = f"roads_{uuid.uuid4().hex[:12]}"
    pg_cluster.create_database(name, template=TEMPLATE_DB)
    try:
        url = pg_cluster.tcp_url(name)
        assert conn_params(url).password
        # when the grid is imported with those credentials
        summary = import_into(plain_grid(2, 2).write(tmp_path / "g.osm"), url)
        # then it lands
        assert (summary.ways, summary.vertices) == (4, 4)
    finally:
        pg_cluster.drop_database(name)


def test_conn_params_from_sqlalchemy_urls_and_conninfo() -> None:
    socket = "postgresql+psycopg://postgres@/retailgis?host=/work/main/.data/pg&port=54329"
    assert conn_params(socket) == ConnParams("retailgis", "/work/main/.data/pg", 54329, "postgres")
    tcp = "postgresql+psycopg://u:p%40ss%3Aw@127.0.0.1:5433/city"
    assert conn_params(tcp) == ConnParams("city", "127.0.0.1", 5433, "u", "p@ss:w")
    assert conn_params("dbname=x host=db user=y") == ConnParams("x", "db", 5432, "y")
    with pytest.raises(ValueError, match="names no database"):
        conn_params("host=db user=y")


# --- the command line --------------------------------------------------------------------------


def test_cli_imports_a_city(fresh_db_url: str, tmp_path: Path) -> None:
    # given an OSM file of the grid and a database named by DATABASE_URL
    path = street_grid().write(tmp_path / "xian.osm")
    # when `retailgis roads import` runs
    res = CliRunner().invoke(
        main, ["roads", "import", str(path)], env={"DATABASE_URL": fresh_db_url}
    )
    # then it reports what was imported, and it is there
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith(
        "已导入道路 60 段，路口 39 个（其中 36 个相互连通，用于计算行车距离和时间），用时 "
    )
    with psycopg.connect(conn_params(fresh_db_url).conninfo()) as conn:
        assert conn.execute("SELECT count(*) FROM roads.ways").fetchone() == (60,)


def test_cli_refuses_a_broken_file_and_keeps_the_network(fresh_db_url: str, tmp_path: Path) -> None:
    # given an imported network and a broken file
    import_into(street_grid().write(tmp_path / "xian.osm"), fresh_db_url)
    before = fingerprint(fresh_db_url)
    broken = tmp_path / "broken.osm"
    broken.write_text("<osm><node id='1'", encoding="utf-8")
    # when the command line imports it
    res = CliRunner().invoke(
        main, ["roads", "import", str(broken)], env={"DATABASE_URL": fresh_db_url}
    )
    # then it fails with a clear message and the network is unchanged
    assert res.exit_code == 1
    assert "Error: 道路导入失败，原有路网未改动：osm2pgrouting failed (exit 1):" in res.stderr
    assert "Failed to open / parse data file" in res.stderr
    assert fingerprint(fresh_db_url) == before


# --- refusals change nothing ----------------------------------------------------------------


def test_a_broken_file_keeps_the_previous_import(fresh_db_url: str, tmp_path: Path) -> None:
    # given an imported grid
    import_into(street_grid().write(tmp_path / "grid.osm"), fresh_db_url)
    before = fingerprint(fresh_db_url)
    # when a truncated file is imported
    broken = tmp_path / "broken.osm"
    broken.write_text(street_grid().xml()[:1500], encoding="utf-8")
    with pytest.raises(RoadImportError) as caught:
        import_into(broken, fresh_db_url)
    # then osm2pgrouting's complaint is in the error, and the previous import is intact
    assert str(caught.value).startswith("osm2pgrouting failed (exit 1):\n")
    assert "Failed to open / parse data file" in str(caught.value)
    assert fingerprint(fresh_db_url) == before


@pytest.mark.parametrize(
    ("footways_only", "message"),
    [
        (True, "^the file holds no roads that the map configuration imports$"),
        (False, "^OSM file '.*/city.osm' is not a readable file$"),
    ],
    ids=["no roads", "no file"],
)
def test_an_empty_or_missing_file_creates_nothing(
    fresh_db_url: str, tmp_path: Path, footways_only: bool, message: str
) -> None:
    # given a database without roads, and a file holding only a footway (or no file)
    before = fingerprint(fresh_db_url)
    path = tmp_path / "city.osm"
    if footways_only:
        footway = OsmMap(nodes={1: at(0, 0), 2: at(0, 1)})
        footway.way([1, 2], highway="footway")
        footway.write(path)
    # when it is imported, then it is refused and nothing is created
    with pytest.raises(RoadImportError, match=message):
        import_into(path, fresh_db_url)
    assert fingerprint(fresh_db_url) == before
    assert ("roads",) not in before[0]


def test_a_running_import_refuses_a_second(fresh_db_url: str, tmp_path: Path) -> None:
    # given an import into "roads" holding its lock
    path = street_grid().write(tmp_path / "grid.osm")
    before = fingerprint(fresh_db_url)
    with psycopg.connect(conn_params(fresh_db_url).conninfo(), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtext('retailgis.roads_import.roads'))")
        # when another import starts, then it is refused and nothing changes
        with pytest.raises(
            RoadImportError, match=r"^another import into schema 'roads' is running$"
        ):
            import_into(path, fresh_db_url)
    assert fingerprint(fresh_db_url) == before


def test_bad_options_are_refused_before_any_work(fresh_db_url: str, tmp_path: Path) -> None:
    path = street_grid().write(tmp_path / "grid.osm")
    before = fingerprint(fresh_db_url)
    with pytest.raises(ValueError, match="schema must match"):
        import_into(path, fresh_db_url, schema="Roads; DROP")
    with pytest.raises(RoadImportError, match=r"^map configuration '/nope\.xml' is not a readable"):
        import_into(path, fresh_db_url, mapconfig=Path("/nope.xml"))
    assert fingerprint(fresh_db_url) == before
