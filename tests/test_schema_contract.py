"""The committed SDL equals the live schema, so contract changes show up in review."""

from __future__ import annotations

from pathlib import Path

from schema import schema

SDL = Path(__file__).resolve().parents[1] / "schema" / "schema.graphql"


def test_committed_sdl_matches_the_live_schema() -> None:
    assert SDL.read_text(encoding="utf-8").strip() == schema.as_str().strip(), (
        "schema/schema.graphql is out of date: run `make schema` and review the diff"
    )


def test_published_names_are_present() -> None:
    sdl = schema.as_str()
    for name in ("customers(", "customer(", "me:", "fieldCatalogue:", "updateCustomer("):
        assert name in sdl, name
