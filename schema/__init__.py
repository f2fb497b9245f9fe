"""The GraphQL contract (strawberry)."""

from schema.root import schema

__all__ = ["schema"]
