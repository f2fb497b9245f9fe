"""SQLAlchemy models. Import from here so every table is registered on ``Base.metadata``."""

from domain.models.base import Base
from domain.models.calendar import CalendarYear
from domain.models.catalogue import FieldDefinition
from domain.models.customers import Customer, PurchaseRecord
from domain.models.exports import ExportLog
from domain.models.idempotency import IdempotencyKey
from domain.models.imports import Import
from domain.models.org import ApiToken, Department, OrgUnit, User
from domain.models.places import Depot, Region, ServiceArea
from domain.models.planning import Job, RoutePlan, RoutePlanItem
from domain.models.routes import DeliveryRoute, Vehicle
from domain.models.sessions import AdminSession, SignInAttempt
from domain.models.tickets import (
    Duty,
    LedgerEntry,
    Notification,
    PersonalDataReveal,
    Ticket,
    TicketChange,
    TicketStep,
)

__all__ = [
    "AdminSession",
    "ApiToken",
    "Base",
    "CalendarYear",
    "Customer",
    "DeliveryRoute",
    "Department",
    "Depot",
    "Duty",
    "ExportLog",
    "FieldDefinition",
    "IdempotencyKey",
    "Import",
    "Job",
    "LedgerEntry",
    "Notification",
    "OrgUnit",
    "PersonalDataReveal",
    "PurchaseRecord",
    "Region",
    "RoutePlan",
    "RoutePlanItem",
    "ServiceArea",
    "SignInAttempt",
    "Ticket",
    "TicketChange",
    "TicketStep",
    "User",
    "Vehicle",
]
