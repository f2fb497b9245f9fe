"""Helpers shared by ``env.py`` and the tests that compare models with migrations."""

from __future__ import annotations

from typing import Any

from geoalchemy2 import alembic_helpers

# Tables owned by PostGIS / pgRouting in the public schema; never ours to migrate.
FOREIGN_TABLES = frozenset({"spatial_ref_sys"})


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    if type_ == "table" and name in FOREIGN_TABLES:
        return False
    return bool(alembic_helpers.include_object(obj, name, type_, reflected, compare_to))
