"""Vehicles and delivery routes. A route's stops are the customers on it, by sequence."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, SmallInteger, Text, Time
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base, utcnow_column


class Vehicle(Base):
    __tablename__ = "vehicles"
    __table_args__ = (
        CheckConstraint("capacity_cartons > 0", name="capacity_positive"),
        CheckConstraint("shift_end > shift_start", name="shift_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    plate: Mapped[str] = mapped_column(Text, unique=True)
    depot_id: Mapped[int] = mapped_column(ForeignKey("depots.id"), index=True)
    driver_name: Mapped[str | None] = mapped_column(Text)
    capacity_cartons: Mapped[int] = mapped_column(Integer)
    shift_start: Mapped[dt.time] = mapped_column(Time)
    shift_end: Mapped[dt.time] = mapped_column(Time)
    is_active: Mapped[bool] = mapped_column(Boolean, server_default="true")


class DeliveryRoute(Base):
    """A delivery route (送货线路): one vehicle from one depot on a fixed weekday."""

    __tablename__ = "delivery_routes"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 1 AND 7", name="weekday_range"),
        CheckConstraint("service_min_per_stop >= 0", name="service_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    depot_id: Mapped[int] = mapped_column(ForeignKey("depots.id"), index=True)
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("vehicles.id"), index=True)
    weekday: Mapped[int] = mapped_column(SmallInteger)
    service_min_per_stop: Mapped[int] = mapped_column(SmallInteger, server_default="5")
    is_active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    created_at: Mapped[dt.datetime] = utcnow_column()
