"""onboardCustomer: licensing starts the onboarding of a newly licensed shop
(``domain.tickets.onboarding.start_onboarding``): the shop's record and its ticket."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from strawberry.utils.str_converters import to_camel_case

from domain.catalogue import catalogue
from domain.errors import DomainError, renamed
from domain.models import Customer as CustomerRow
from domain.models import Ticket as TicketRow
from domain.tickets.onboarding import start_onboarding
from schema.context import Context, Info
from schema.customers.types import customer_node
from schema.scalars import PointInput
from schema.tickets.payloads import IdempotencyKey, OnboardCustomerPayload, in_savepoint
from schema.tickets.proposals import point_value
from schema.tickets.types import ticket_node

# Catalogue keys whose input is named otherwise (references are given by id).
INPUT_NAMES = {"customer_manager": "customerManagerId", "admin_region": "adminRegionId"}


@strawberry.input(description="The licence data of a newly licensed shop (新办零售许可证)")
class OnboardCustomerInput:
    customer_code: str
    shop_name: str
    licence_no: str
    licence_issued_on: dt.date
    licence_expires_on: dt.date
    responsible_person: str
    address: str
    location: PointInput
    customer_manager_id: int = strawberry.field(
        description="the customer manager responsible for the area"
    )
    licence_type: str | None = None
    issuing_bureau: str | None = None
    business_scope: str | None = None
    id_number: str | None = None
    admin_region_id: int | None = strawberry.field(
        default=None, description="default: the region containing the location"
    )
    reason: str | None = None


def _licence(data: OnboardCustomerInput) -> dict[str, Any]:
    licence: dict[str, Any] = {
        "customer_code": data.customer_code, "shop_name": data.shop_name,
        "licence_no": data.licence_no, "licence_issued_on": data.licence_issued_on,
        "licence_expires_on": data.licence_expires_on,
        "responsible_person": data.responsible_person, "address": data.address,
        "location": point_value(data.location),
        "customer_manager": data.customer_manager_id, "licence_type": data.licence_type,
        "issuing_bureau": data.issuing_bureau, "business_scope": data.business_scope,
        "id_number": data.id_number, "admin_region": data.admin_region_id,
    }  # fmt: skip
    return {k: v for k, v in licence.items() if v is not None}


def _onboard(ctx: Context, data: OnboardCustomerInput) -> TicketRow:
    names = {s.key: INPUT_NAMES.get(s.key, to_camel_case(s.key)) for s in catalogue()}
    try:
        return start_onboarding(
            ctx.session, ctx.require(), licence=_licence(data), vault=ctx.vault, now=ctx.now,
            reason=data.reason,
        )  # fmt: skip
    except DomainError as err:
        raise renamed(err, names) from None


@strawberry.type
class OnboardingMutations:
    @strawberry.mutation(
        description="Start the onboarding of a newly licensed shop (licensing only): the "
        "shop's record (suspended until the ticket closes) and its onboarding ticket"
    )
    def onboard_customer(
        self, info: Info, input: OnboardCustomerInput, idempotency_key: IdempotencyKey = None
    ) -> OnboardCustomerPayload:
        ctx = info.context
        ctx.require()
        ticket, errors = in_savepoint(ctx, lambda: _onboard(ctx, input))
        if ticket is None:
            return OnboardCustomerPayload(ticket=None, customer=None, errors=errors)
        customer = ctx.session.get(CustomerRow, ticket.customer_id)
        return OnboardCustomerPayload(
            ticket=ticket_node(ticket),
            customer=customer_node(customer) if customer is not None else None,
            errors=[],
        )
