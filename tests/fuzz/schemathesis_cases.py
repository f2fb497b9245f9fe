"""Schemathesis's GraphQL generation over the committed SDL, one strategy per root field,
positive (valid) and negative (one schema violation). Schemathesis loads the schema from
the SDL and generates the requests; the tests send them to the app in-process."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.fuzz.support import CUSTOM_SCALARS, SDL

for _name, _strategy in CUSTOM_SCALARS.items():
    schemathesis.graphql.scalar(_name, _strategy)

SCHEMA = schemathesis.graphql.from_file(SDL)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]  # type: ignore[union-attr]


def _body(case: Any) -> dict[str, Any]:
    return case.as_transport_kwargs(base_url="http://testserver")["json"]  # type: ignore[no-any-return]


def cases(*, mutations: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Request bodies for the query fields (or the mutation fields), both modes."""
    chosen = [o for o in OPERATIONS if o.label.startswith("Mutation.") == mutations]
    strategies: list[st.SearchStrategy[dict[str, Any]]] = [
        op.as_strategy(generation_mode=mode).map(_body)
        for op in chosen
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    ]
    return st.one_of(strategies)
