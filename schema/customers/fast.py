"""The customer queries the fast path (``schema.fastpath``) runs without graphql-core.

Roots call the resolvers' own functions (``customers_connection``, ``customer_by``) with
the field names the plan selects; batch fields call the dataloaders' batch functions
(``schema.loaders``) once for all the parents of a level. So rows, scope, masking and
nested objects are the normal path's; tests compare the two answers for every role.
"""

from __future__ import annotations

from typing import Any

from schema.context import Context
from schema.customers.queries import customer_by, customers_connection
from schema.fastplan import HotPaths, Step
from schema.loaders import in_order, routes_by_id, stops_by_route, tickets_by_customer, users_by_id


def _customers(ctx: Context, step: Step, **kwargs: Any) -> Any:
    return customers_connection(
        ctx, step.names("edges", "node"), "totalCount" in step.names(), **kwargs
    )


def _customer(ctx: Context, step: Step, **kwargs: Any) -> Any:
    return customer_by(ctx, step.names(), **kwargs)


def _ids(parents: list[Any], attr: str) -> list[int]:
    return sorted({v for p in parents if (v := getattr(p, attr)) is not None})


def _managers(ctx: Context, parents: list[Any]) -> list[Any]:
    found = users_by_id(ctx.session, _ids(parents, "customer_manager_id"))
    return in_order(found, (p.customer_manager_id for p in parents))


def _routes(ctx: Context, parents: list[Any]) -> list[Any]:
    found = routes_by_id(ctx.session, _ids(parents, "delivery_route_id"))
    return in_order(found, (p.delivery_route_id for p in parents))


def _tickets(ctx: Context, parents: list[Any]) -> list[Any]:
    found = tickets_by_customer(ctx.session, _ids(parents, "id"))
    return in_order(found, (p.id for p in parents), [])


def _route_stops(ctx: Context, parents: list[Any]) -> list[Any]:
    found = stops_by_route(ctx.session, _ids(parents, "_route_id"))
    return in_order(found, (p._route_id for p in parents), 0)


HOT_PATHS = HotPaths(
    roots={("Query", "customers"): _customers, ("Query", "customer"): _customer},
    batches={
        ("Customer", "customerManager"): _managers,
        ("Customer", "route"): _routes,
        ("Customer", "tickets"): _tickets,
        ("RouteStats", "stops"): _route_stops,
    },
    lookups=frozenset({("Query", "customer")}),  # by id or by code: a unique index
)
