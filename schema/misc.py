"""me and fieldCatalogue."""

from __future__ import annotations

import strawberry

from domain.access import role_rights
from domain.catalogue import catalogue
from domain.models import OrgUnit
from domain.models import User as UserRow
from schema.context import Info
from schema.users import User, user_node


@strawberry.type
class Me:
    user: User
    role: str
    scope: str = strawberry.field(description="own | team | county | city")
    org_unit_code: str
    org_unit_name: str


@strawberry.type
class FieldChoice:
    code: str
    label: str


@strawberry.type(description="A field of the customer record, from the catalogue")
class FieldDefinition:
    key: str
    label: str
    group: str
    national: bool
    maintenance: str
    owner: str
    approval: str | None
    type: str
    personal: bool
    choices: list[FieldChoice]


@strawberry.type
class MiscQueries:
    @strawberry.field(description="The caller: user, role, scope")
    def me(self, info: Info) -> Me:
        principal = info.context.require()
        session = info.context.session
        user = session.get(UserRow, principal.user_id)
        unit = session.get(OrgUnit, principal.org_unit_id)
        assert user is not None and unit is not None
        return Me(
            user=user_node(user), role=principal.role, scope=role_rights(principal.role).scope,
            org_unit_code=unit.code, org_unit_name=unit.name,
        )  # fmt: skip

    @strawberry.field(description="The field catalogue of the customer record")
    def field_catalogue(self, info: Info) -> list[FieldDefinition]:
        info.context.require()
        return [
            FieldDefinition(
                key=s.key, label=s.label_zh, group=s.group, national=s.national,
                maintenance=s.maintenance, owner=s.owner, approval=s.approval, type=s.type,
                personal=s.personal,
                choices=[FieldChoice(code=c.code, label=c.label_zh) for c in s.choices],
            )
            for s in catalogue()
        ]  # fmt: skip
