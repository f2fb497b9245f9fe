"""The root of the GraphQL schema, composed from the feature modules."""

from __future__ import annotations

import strawberry

from schema.customers.mutations import CustomerMutations
from schema.customers.queries import CustomerQueries
from schema.misc import MiscQueries
from schema.places.queries import PlaceQueries
from schema.planning.operations import PlanningMutations, PlanningQueries
from schema.security import HardenedSchema, limits, production_config
from schema.tickets.mutations import TicketMutations
from schema.tickets.queries import TicketQueries
from schema.tickets.subscriptions import TicketSubscriptions

API_VERSION = "0.1"


@strawberry.type(description="Root query")
class Query(CustomerQueries, MiscQueries, PlaceQueries, PlanningQueries, TicketQueries):
    @strawberry.field(description="Version of the published API contract")
    def api_version(self) -> str:
        return API_VERSION


@strawberry.type(description="Root mutation")
class Mutation(CustomerMutations, PlanningMutations, TicketMutations):
    pass


@strawberry.type(description="Root subscription")
class Subscription(TicketSubscriptions):
    pass


# Development/test and production differ only in their extensions and error messages;
# the endpoint picks one by `Settings.is_production`.
schema = HardenedSchema(
    query=Query, mutation=Mutation, subscription=Subscription, extensions=limits(production=False)
)
production_schema = HardenedSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=limits(production=True),
    config=production_config(),
)
