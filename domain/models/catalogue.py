"""The field catalogue as a table, synchronised from ``domain/catalogue/fields.csv``."""

from __future__ import annotations

from sqlalchemy import Boolean, SmallInteger, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base


class FieldDefinition(Base):
    __tablename__ = "field_catalogue"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    position: Mapped[int] = mapped_column(SmallInteger)
    label_zh: Mapped[str] = mapped_column(Text)
    group: Mapped[str] = mapped_column(Text)
    national: Mapped[bool] = mapped_column(Boolean)
    maintenance: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(Text)
    approval: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text)
    column: Mapped[str] = mapped_column(Text)
    choices: Mapped[list[dict[str, str]]] = mapped_column(JSONB)
    personal: Mapped[bool] = mapped_column(Boolean)
    notes: Mapped[str] = mapped_column(Text)
