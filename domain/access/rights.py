"""The rights matrix, held as data in ``rights.csv``.

Per role: its scope (own shops, team, county, city), the owner departments whose fields
it edits directly, the approval roles it fills, the personal fields it may reveal, and
whether it may propose changes to fields it does not own. A field's right for a
principal follows from the catalogue's owner and maintenance class:

- ``auto`` fields (computed) are read-only for everyone;
- a field whose owner is among the role's ``edits`` is edited directly (applied the same day);
- otherwise the role may propose (a change ticket to the owner department), or only read.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from domain.access.principal import Principal
from domain.catalogue import FieldSpec

RIGHTS_FILE = Path(__file__).with_name("rights.csv")
SCOPES = ("own", "team", "county", "city")

Right = Literal["edit", "propose", "read"]
EDIT: Right = "edit"
PROPOSE: Right = "propose"
READ: Right = "read"


@dataclass(frozen=True)
class RoleRights:
    role: str
    scope: str
    edits: frozenset[str]
    approves: frozenset[str]
    reveals: frozenset[str]
    proposes: bool


def _set(raw: str) -> frozenset[str]:
    return frozenset(p.strip() for p in raw.split("|") if p.strip())


def load_rights(path: Path = RIGHTS_FILE) -> dict[str, RoleRights]:
    out: dict[str, RoleRights] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            if row["scope"] not in SCOPES:
                raise ValueError(f"{path.name}:{line}: unknown scope {row['scope']!r}")
            out[row["role"]] = RoleRights(
                role=row["role"],
                scope=row["scope"],
                edits=_set(row["edits"]),
                approves=_set(row["approves"]),
                reveals=_set(row["reveals"]),
                proposes=row["proposes"].strip() == "yes",
            )
    return out


@cache
def _rights() -> dict[str, RoleRights]:
    return load_rights()


def role_rights(role: str) -> RoleRights:
    try:
        return _rights()[role]
    except KeyError:
        raise ValueError(f"role {role!r} is missing from {RIGHTS_FILE.name}") from None


def field_right(principal: Principal, spec: FieldSpec) -> Right:
    """Edit directly, propose, or only read this field (scope is checked separately)."""
    if spec.maintenance == "auto":
        return READ
    rights = role_rights(principal.role)
    if spec.owner in rights.edits:
        return EDIT
    return PROPOSE if rights.proposes else READ


def may_reveal(principal: Principal, spec: FieldSpec) -> bool:
    """Whether the role holds the grant to see this personal field unmasked (on request)."""
    return spec.personal and spec.key in role_rights(principal.role).reveals


def may_import(principal: Principal) -> bool:
    """New records in bulk are onboarding data: city-wide roles that maintain the market
    department's fields, and the information department (bulk changes)."""
    rights = role_rights(principal.role)
    return rights.scope == "city" and (
        "market_dept" in rights.edits or principal.role == "it_admin"
    )
