"""Declarative base, naming convention and shared column helpers."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Enum, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from domain.catalogue import choice_codes

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow_column() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def pg_enum(name: str, *values: str) -> Enum:
    """A native PostgreSQL enum with the given stored values."""
    return Enum(*values, name=name, native_enum=True, create_constraint=False)


def catalogue_enum(field_key: str) -> Enum:
    """The PostgreSQL enum of a catalogue field, its values taken from the catalogue file."""
    return pg_enum(f"customer_{field_key}", *choice_codes(field_key))
