"""The root of the GraphQL schema. Features add their fields in later issues."""

from __future__ import annotations

import strawberry

API_VERSION = "0.1"


@strawberry.type(description="Root query")
class Query:
    @strawberry.field(description="Version of the published API contract")
    def api_version(self) -> str:
        return API_VERSION


schema = strawberry.Schema(query=Query)
