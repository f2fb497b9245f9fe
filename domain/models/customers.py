"""The retail customer archive (零售客户档案): the 68 catalogue fields as typed columns.

Column names follow ``domain/catalogue/fields.csv`` (its ``column`` column); a test keeps
the two in step. Stops of a delivery route are the customers on it ordered by
``delivery_sequence`` (unique per route, deferrable so a route can be re-sequenced).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base, catalogue_enum, utcnow_column


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint("customer_code ~ '^[0-9]{12}$'", name="customer_code_format"),
        CheckConstraint("licence_no ~ '^[0-9]{12}$'", name="licence_no_format"),
        CheckConstraint(
            "licence_expires_on IS NULL OR licence_issued_on IS NULL"
            " OR licence_expires_on > licence_issued_on",
            name="licence_dates",
        ),
        CheckConstraint("order_batch BETWEEN 1 AND 7", name="order_batch_weekday"),
        CheckConstraint("visit_batch BETWEEN 1 AND 7", name="visit_batch_weekday"),
        CheckConstraint("call_batch BETWEEN 1 AND 7", name="call_batch_weekday"),
        CheckConstraint("business_scale BETWEEN 1 AND 3", name="business_scale_range"),
        CheckConstraint("delivery_sequence > 0", name="delivery_sequence_positive"),
        CheckConstraint(
            "(delivery_route_id IS NULL) = (delivery_sequence IS NULL)",
            name="route_has_sequence",
        ),
        CheckConstraint("version > 0", name="version_positive"),
        CheckConstraint("merged_into_id IS NULL OR status = 'closed'", name="merged_is_closed"),
        CheckConstraint("merged_into_id <> id", name="not_merged_into_self"),
        UniqueConstraint(
            "delivery_route_id",
            "delivery_sequence",
            deferrable=True,
            initially="DEFERRED",
        ),
        # One active licence number per shop; closed shops keep theirs in the archive.
        Index(
            "uq_customers_active_licence_no",
            "licence_no",
            unique=True,
            postgresql_where="status <> 'closed'",
        ),
        Index("ix_customers_customer_manager_id", "customer_manager_id"),
        Index("ix_customers_admin_region_id", "admin_region_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    created_at: Mapped[dt.datetime] = utcnow_column()
    updated_at: Mapped[dt.datetime] = utcnow_column()
    # Archive lifecycle: a closed shop keeps its record; a duplicate points at its survivor.
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))

    # identity 识别信息
    customer_code: Mapped[str] = mapped_column(Text, unique=True)
    shop_name: Mapped[str] = mapped_column(Text)
    licence_no: Mapped[str] = mapped_column(Text)
    licence_type: Mapped[str | None] = mapped_column(catalogue_enum("licence_type"))
    issuing_bureau: Mapped[str | None] = mapped_column(Text)
    licence_issued_on: Mapped[dt.date | None] = mapped_column(Date)
    licence_expires_on: Mapped[dt.date | None] = mapped_column(Date)
    annual_review_on: Mapped[dt.date | None] = mapped_column(Date)
    responsible_person: Mapped[str | None] = mapped_column(Text)

    # basic 基本信息
    address: Mapped[str | None] = mapped_column(Text)
    location: Mapped[WKBElement | None] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=True)
    )
    # Provenance of the location: the coordinates as entered and their system
    # ({"lng", "lat", "crs"}); ``location`` itself is always WGS-84.
    location_input: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    admin_region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    business_scope: Mapped[str | None] = mapped_column(Text)
    business_format: Mapped[str | None] = mapped_column(catalogue_enum("business_format"))
    business_nature: Mapped[str | None] = mapped_column(catalogue_enum("business_nature"))
    customer_nature: Mapped[str | None] = mapped_column(catalogue_enum("customer_nature"))
    registered_capital: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    business_area_m2: Mapped[Decimal | None] = mapped_column(Numeric(10, 1))
    display_form: Mapped[str | None] = mapped_column(catalogue_enum("display_form"))
    tax_id: Mapped[str | None] = mapped_column(Text)
    tax_type: Mapped[str | None] = mapped_column(catalogue_enum("tax_type"))
    bank_name: Mapped[str | None] = mapped_column(Text)
    bank_account: Mapped[str | None] = mapped_column(Text)
    contact_person: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    home_address: Mapped[str | None] = mapped_column(Text)
    mailing_address: Mapped[str | None] = mapped_column(Text)
    id_number: Mapped[str | None] = mapped_column(Text)
    market_type: Mapped[str | None] = mapped_column(catalogue_enum("market_type"))
    status: Mapped[str] = mapped_column(catalogue_enum("status"), server_default="active")
    joined_on: Mapped[dt.date | None] = mapped_column(Date)
    photo_shopfront: Mapped[str | None] = mapped_column(Text)

    # business mode 业务模式
    order_method: Mapped[str | None] = mapped_column(catalogue_enum("order_method"))
    settlement_method: Mapped[str | None] = mapped_column(catalogue_enum("settlement_method"))
    invoice_type: Mapped[str | None] = mapped_column(catalogue_enum("invoice_type"))
    order_frequency: Mapped[str | None] = mapped_column(catalogue_enum("order_frequency"))
    order_batch: Mapped[int | None] = mapped_column(SmallInteger)
    order_cycle_days: Mapped[int | None] = mapped_column(SmallInteger)
    fulfilment_mode: Mapped[str | None] = mapped_column(catalogue_enum("fulfilment_mode"))
    pickup_point_id: Mapped[int | None] = mapped_column(ForeignKey("depots.id"))

    # business level 经营水平 (the auto fields are computed from purchase records)
    business_scale: Mapped[int | None] = mapped_column(SmallInteger)
    purchase_qty: Mapped[Decimal | None] = mapped_column(Numeric(12, 1))
    purchase_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    avg_price: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    brand_count: Mapped[int | None] = mapped_column(Integer)
    sales_structure: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    monthly_agreed_qty: Mapped[int | None] = mapped_column(Integer)
    quota_class: Mapped[str | None] = mapped_column(catalogue_enum("quota_class"))
    total_limit: Mapped[int | None] = mapped_column(Integer)
    item_limit: Mapped[int | None] = mapped_column(Integer)
    promotion_behaviour: Mapped[str | None] = mapped_column(catalogue_enum("promotion_behaviour"))

    # compliance 守法信息
    compliance: Mapped[str | None] = mapped_column(catalogue_enum("compliance"))

    # service 服务信息
    customer_manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    phone_order_clerk: Mapped[str | None] = mapped_column(Text)
    delivery_person: Mapped[str | None] = mapped_column(Text)
    monopoly_officer: Mapped[str | None] = mapped_column(Text)
    delivery_route_id: Mapped[int | None] = mapped_column(ForeignKey("delivery_routes.id"))
    delivery_segment: Mapped[str | None] = mapped_column(Text)
    delivery_sequence: Mapped[int | None] = mapped_column(Integer)
    visit_batch: Mapped[int | None] = mapped_column(SmallInteger)
    call_batch: Mapped[int | None] = mapped_column(SmallInteger)
    credit_rating: Mapped[str | None] = mapped_column(catalogue_enum("credit_rating"))
    classification: Mapped[str | None] = mapped_column(Text)
    is_monitored: Mapped[bool | None] = mapped_column(Boolean)
    is_model_shop: Mapped[bool | None] = mapped_column(Boolean)
    network_scale: Mapped[str | None] = mapped_column(catalogue_enum("network_scale"))
    satisfaction: Mapped[int | None] = mapped_column(SmallInteger)
    photo_counter: Mapped[str | None] = mapped_column(Text)


class PurchaseRecord(Base):
    """Monthly purchases of one shop: cartons (条), amount in yuan, brand count."""

    __tablename__ = "purchase_records"
    __table_args__ = (
        CheckConstraint("cartons >= 0", name="cartons_nonnegative"),
        CheckConstraint("amount_yuan >= 0", name="amount_nonnegative"),
        CheckConstraint("brand_count >= 0", name="brand_count_nonnegative"),
        CheckConstraint("extract(day from month) = 1", name="month_first_day"),
        Index("ix_purchase_records_month", "month"),  # the latest month: one lookup
    )

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    cartons: Mapped[Decimal] = mapped_column(Numeric(10, 1))
    amount_yuan: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    brand_count: Mapped[int] = mapped_column(Integer)
