"""Per-request context: the database session, the caller, the vault, the clock, loaders."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError
from sqlalchemy.orm import Session
from strawberry.types import Info as StrawberryInfo

from domain.access import Principal
from domain.vault import Vault


class NotAuthenticated(GraphQLError):
    def __init__(self) -> None:
        super().__init__("需要登录或有效的访问令牌", extensions={"code": "UNAUTHENTICATED"})


@dataclass
class Context:
    session: Session
    principal: Principal | None
    vault: Vault
    now: dt.datetime
    request_id: uuid.UUID
    loaders: dict[str, Any] = field(default_factory=dict)

    def require(self) -> Principal:
        if self.principal is None:
            raise NotAuthenticated()
        return self.principal


Info = StrawberryInfo[Context, None]
