"""Administrative regions, the service area and depots."""

from __future__ import annotations

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import Boolean, ForeignKey, Numeric, Text
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base, pg_enum

REGION_KINDS = ("urban_district", "suburban_district", "county")
DEPOT_KINDS = ("distribution_centre", "transit_station", "pickup_point")


class Region(Base):
    """A district or county (行政区域) as a polygon."""

    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(pg_enum("region_kind", *REGION_KINDS))
    is_urban: Mapped[bool] = mapped_column(Boolean)
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=True)
    )


class ServiceArea(Base):
    """The company's service area; points outside it (beyond the buffer) are refused."""

    __tablename__ = "service_areas"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    buffer_m: Mapped[float] = mapped_column(Numeric(8, 1), server_default="0")
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=True)
    )


class Depot(Base):
    """Distribution centre (配送中心), transit stations (中转站) and pickup points (定点取货)."""

    __tablename__ = "depots"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(pg_enum("depot_kind", *DEPOT_KINDS))
    address: Mapped[str | None] = mapped_column(Text)
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    # The depot a pickup point or transit station is supplied from.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("depots.id"))
    location: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))
