"""Users as seen through the API (no personal data beyond the display name and role)."""

from __future__ import annotations

import strawberry

from domain.models import User as UserRow
from domain.models.org import ROLE_LABELS_ZH


@strawberry.type
class User:
    id: int
    username: str
    name: str
    role: str
    role_name: str


def user_node(row: UserRow) -> User:
    return User(
        id=row.id, username=row.username, name=row.display_name, role=row.role,
        role_name=ROLE_LABELS_ZH[row.role],
    )  # fmt: skip
