"""Who may see and do what: principals, the rights matrix (data), scope filters."""

from domain.access.principal import Principal, load_principal
from domain.access.rights import (
    EDIT,
    PROPOSE,
    READ,
    field_right,
    may_import,
    may_reveal,
    role_rights,
)
from domain.access.scope import customer_scope, get_customer_in_scope

__all__ = [
    "EDIT",
    "PROPOSE",
    "READ",
    "Principal",
    "customer_scope",
    "field_right",
    "get_customer_in_scope",
    "load_principal",
    "may_import",
    "may_reveal",
    "role_rights",
]
