"""The working calendar's years entered by IT in the admin (工作日历): each State Council
holiday schedule as published, kept append-only (a correction is a new row; the latest row
of a year is in force), with who entered it and when."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base, utcnow_column


class CalendarYear(Base):
    __tablename__ = "calendar_years"
    __table_args__ = (
        CheckConstraint("year BETWEEN 2000 AND 2100", name="year_in_range"),
        Index("ix_calendar_years_year_id", "year", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    # the notice it comes from, e.g. 国办发明电〔2026〕7号
    source: Mapped[str] = mapped_column(Text)
    holidays: Mapped[list[dt.date]] = mapped_column(ARRAY(Date))
    workdays: Mapped[list[dt.date]] = mapped_column(ARRAY(Date))
    # the whole year's schedule: the package is not consulted for it
    complete: Mapped[bool] = mapped_column(Boolean)
    entered_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    entered_at: Mapped[dt.datetime] = utcnow_column()
    note: Mapped[str | None] = mapped_column(Text)
