"""Limits on what one GraphQL document may ask for, and the production hardening.

Depth, aliases and tokens use strawberry's limiters; the cost limit is ours
(``schema.cost``). A document that passed the document-only rules is kept per schema, so a
repeated document is neither parsed nor validated again; its cost, which depends on the
variables, is checked on every request.

In production introspection is off and "Did you mean ..." suggestions are removed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from functools import cache
from typing import Any, ClassVar

import strawberry
from graphql import (
    ASTValidationRule,
    GraphQLError,
    StringValueNode,
    ValidationContext,
    ValidationRule,
)
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.schema import validate_document
from strawberry.types.execution import ExecutionContext

from domain.errors import DomainError, describe_unexpected
from schema.cost import MAX_COST, cost_errors, cost_rule, query_cost, walkable
from schema.documents import DocumentCache

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2000
log = logging.getLogger("retailgis.graphql")
_SUGGESTION = re.compile(r"\s*Did you mean .*$", re.DOTALL)

# --- document-only rules ---------------------------------------------------------------


def _guarded(rule: type[ASTValidationRule]) -> type[ValidationRule]:
    """Run a rule that does all its work in ``__init__`` only on a walkable document.

    The other cases are reported by graphql-core (unknown fragment, cycle) or by the cost
    rule (too large an expansion, an empty selection set), so the document is refused.
    """

    class Guarded(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            if walkable(context.document):
                rule(context)

    Guarded.__name__ = f"Guarded{rule.__name__}"
    return Guarded


NUL_REFUSED = "字符串不能包含 NUL 字符（\\u0000）"


class NoNulInStrings(ValidationRule):
    """U+0000 in a string literal is refused: PostgreSQL's text and jsonb cannot store it
    (the endpoint refuses it in variables)."""

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        if "\x00" in node.value:
            self.report_error(GraphQLError(NUL_REFUSED, node))


@cache
def document_rules(*, production: bool) -> tuple[type[ASTValidationRule], ...]:
    """The rules beyond graphql-core's specified ones that depend on the document alone
    (built once: strawberry's limiters would build their rule classes on every request)."""
    depth = QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules
    aliases = MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules
    rules: list[type[ASTValidationRule]] = [_guarded(r) for r in (*depth, *aliases)]
    rules.append(NoNulInStrings)
    if production:
        rules += DisableIntrospection().validation_rules
    return tuple(rules)


class _Limits(SchemaExtension):
    """Tokens, depth, aliases, (production) introspection and cost. A document that passed
    the document-only rules is kept by the schema (``HardenedSchema.documents``) and not
    parsed nor validated again; the cost, which depends on the variables, is checked on
    every request."""

    production: ClassVar[bool] = False
    _cached: bool = False

    def _documents(self) -> DocumentCache | None:
        return getattr(self.execution_context.schema, "documents", None)

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context
        ctx.parse_options["max_tokens"] = MAX_TOKENS
        ctx.validation_rules = (*ctx.validation_rules, *document_rules(production=self.production))
        yield

    def on_parse(self) -> Iterator[None]:
        ctx, documents = self.execution_context, self._documents()
        if ctx.graphql_document is None and ctx.query and documents is not None:
            ctx.graphql_document = documents.get(ctx.query)
            self._cached = ctx.graphql_document is not None
        yield

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        schema, document = ctx.schema._schema, ctx.graphql_document
        assert document is not None
        errors = [] if self._cached else validate_document(schema, document, ctx.validation_rules)
        if not errors:
            documents = self._documents()
            if not self._cached and ctx.query and documents is not None:
                documents.put(ctx.query, document)
            errors = cost_errors(schema, document, ctx.variables or {})
        ctx.pre_execution_errors = errors
        yield


class DevelopmentLimits(_Limits):
    production = False


class ProductionLimits(_Limits):
    production = True


# --- the schema variants -----------------------------------------------------------------


def limits(*, production: bool) -> list[type[SchemaExtension]]:
    """The extensions of the development or the production schema: classes, so that each
    request gets its own instances (strawberry sets the execution context on them)."""
    return [ProductionLimits if production else DevelopmentLimits]


class HardenedSchema(strawberry.Schema):
    """Removes every "Did you mean ..." (fields, arguments, types, enum values), not only
    the field suggestions strawberry's ``disable_field_suggestions`` covers; logs only
    unexpected errors, described without their messages (strawberry's own logging would
    write every error's message, variable values included). Keeps the valid documents it
    has seen (``documents``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.documents = DocumentCache()

    @staticmethod
    def remove_field_suggestion(error: GraphQLError) -> None:
        error.message = _SUGGESTION.sub("", error.message)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        context = execution_context.context if execution_context else None
        request_id = getattr(context, "request_id", None)
        for error in errors:
            original = error.original_error
            if original is None or isinstance(original, GraphQLError | DomainError):
                continue  # expected: answered to the client, not logged
            log.error("request %s: %s", request_id, describe_unexpected(original, error.path))


def production_config() -> strawberry.schema.config.StrawberryConfig:
    return strawberry.schema.config.StrawberryConfig(disable_field_suggestions=True)


__all__ = [
    "MAX_ALIASES",
    "MAX_COST",
    "MAX_DEPTH",
    "MAX_TOKENS",
    "HardenedSchema",
    "cost_rule",
    "describe_unexpected",
    "limits",
    "production_config",
    "query_cost",
]
