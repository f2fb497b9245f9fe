"""Organisation: org units (city, county, market area), departments, users, API tokens."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from domain.models.base import Base, pg_enum, utcnow_column

ORG_UNIT_KINDS = ("city", "county", "market_area")
DEPARTMENT_CODES = ("licensing", "market_dept", "delivery_dept", "sales_dept", "it")
ROLES = (
    "customer_manager",
    "market_manager",
    "county_dept",
    "market_dept",
    "delivery_dept",
    "sales_dept",
    "licensing",
    "it_admin",
)
ROLE_LABELS_ZH = {
    "customer_manager": "客户经理",
    "market_manager": "市场经理",
    "county_dept": "县区营销部",
    "market_dept": "营销中心市场部",
    "delivery_dept": "营销中心配送部",
    "sales_dept": "营销中心销售部",
    "licensing": "专卖管理所",
    "it_admin": "信息科",
}


class OrgUnit(Base):
    """The city company, its county/district marketing departments and their market areas."""

    __tablename__ = "org_units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(pg_enum("org_unit_kind", *ORG_UNIT_KINDS))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    # A county unit covers one administrative region; its scope is the shops located there.
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), unique=True)


class Department(Base):
    """City-level functional departments that own catalogue fields and ticket steps."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(pg_enum("department_code", *DEPARTMENT_CODES), unique=True)
    name: Mapped[str] = mapped_column(Text)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))


class User(Base):
    """A person who signs in (admin) or on whose behalf an app token acts."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(Text, unique=True)
    display_name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(pg_enum("user_role", *ROLES))
    # The scope: city, county or market area the user acts in.
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    phone: Mapped[str | None] = mapped_column(Text)
    password_hash: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[dt.datetime] = utcnow_column()

    org_unit: Mapped[OrgUnit] = relationship(lazy="raise")


class ApiToken(Base):
    """Bearer tokens for client apps; only a SHA-256 hash of the secret is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(Text)
    token_hash: Mapped[str] = mapped_column(Text, unique=True)
    prefix: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = utcnow_column()
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
