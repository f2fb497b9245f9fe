"""Migrations build the schema (never create_all) and go up, down and up again."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from api.db import current_revisions, downgrade, head_revisions, migrate
from domain.models import Base


def _tables(url: str) -> set[str]:
    eng = create_engine(url, poolclass=NullPool)
    try:
        return set(inspect(eng).get_table_names()) - {"spatial_ref_sys"}
    finally:
        eng.dispose()


def _enum_types(url: str) -> int:
    eng = create_engine(url, poolclass=NullPool)
    try:
        with eng.connect() as conn:
            return int(conn.scalar(text("SELECT count(*) FROM pg_type WHERE typtype = 'e'")) or 0)
    finally:
        eng.dispose()


def test_up_down_up_on_an_empty_database(empty_db_url: str) -> None:
    # given an empty database with the extensions
    assert _tables(empty_db_url) == set()
    # when migrating up
    migrate(empty_db_url)
    # then every model table exists and the revision is head
    assert set(Base.metadata.tables) | {"alembic_version"} == _tables(empty_db_url)
    eng = create_engine(empty_db_url, poolclass=NullPool)
    assert current_revisions(eng) == head_revisions()
    # when migrating down to base, nothing of ours is left (tables and enum types)
    downgrade(empty_db_url, "base")
    assert _tables(empty_db_url) == {"alembic_version"}
    assert _enum_types(empty_db_url) == 0
    assert current_revisions(eng) == set()
    # and up again works
    migrate(empty_db_url)
    assert set(Base.metadata.tables) <= _tables(empty_db_url)
    assert current_revisions(eng) == head_revisions()
    eng.dispose()


def test_models_match_migrations(db_url: str) -> None:
    # given the migrated test database, when alembic compares it to the models
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from migrations.env_helpers import include_object

    eng = create_engine(db_url, poolclass=NullPool)
    with eng.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_object": include_object, "compare_type": True}
        )
        diff = compare_metadata(ctx, Base.metadata)
    eng.dispose()
    # then there is no difference: every model change comes with a migration
    assert diff == []
