"""Helpers of the customer archive and files tests: shops of a manager, counts, import
files with one bad row."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from domain.models import Customer, LedgerEntry, User
from tests.admin.conftest import Demo
from tests.import_data import customer_records, headers, write_csv

BAD_LICENCE = "98ABC"
BAD_LICENCE_MESSAGE = "专卖许可证号须为12位数字"
ROW_CODE = re.compile(r'<a href="/admin/customers/(\d{12})">')


def listed_codes(html: str) -> list[str]:
    """The customer codes of a list page, in order."""
    return ROW_CODE.findall(html)


def total_of(html: str) -> int:
    found = re.search(r'<b id="customer-total">(\d+)</b>', html)
    assert found, "no total on the page"
    return int(found.group(1))


def manager_id(demo: Demo, username: str) -> int:
    return int(demo.scalar(select(User.id).where(User.username == username)))


def shop_of(demo: Demo, username: str, nth: int = 0) -> Customer:
    """The nth active shop (by code) of a customer manager, detached."""
    with Session(demo.engine, expire_on_commit=False) as s:
        shops = s.scalars(
            select(Customer)
            .join(User, User.id == Customer.customer_manager_id)
            .where(User.username == username, Customer.status == "active")
            .order_by(Customer.customer_code)
        ).all()
        return shops[nth]


def customer(demo: Demo, code: str) -> Customer:
    with Session(demo.engine, expire_on_commit=False) as s:
        found = s.scalar(select(Customer).where(Customer.customer_code == code))
        assert found is not None
        return found


def customers_count(demo: Demo) -> int:
    return int(demo.scalar(select(func.count()).select_from(Customer)))


def ledger_count(demo: Demo, customer_id: int | None = None) -> int:
    stmt = select(func.count()).select_from(LedgerEntry)
    if customer_id is not None:
        stmt = stmt.where(LedgerEntry.customer_id == customer_id)
    return int(demo.scalar(stmt))


def import_file(demo: Demo, folder: Path, start: int, rows: int, bad_row: int | None) -> Path:
    """A customer file of ``rows`` valid new shops at existing shops' points; with
    ``bad_row`` (the file's row number, header = 1) carrying a malformed licence number."""
    with Session(demo.engine) as s:
        points = s.execute(
            text("SELECT ST_X(location), ST_Y(location) FROM customers ORDER BY id LIMIT :n"),
            {"n": rows},
        ).all()
    header = headers()
    records: list[list[Any]] = customer_records([(float(x), float(y)) for x, y in points], start)
    if bad_row is not None:
        records[bad_row - 2][header.index("专卖许可证号")] = BAD_LICENCE
    return write_csv(folder / f"customers-{start}.csv", header, records)


def new_codes(start: int, rows: int) -> list[str]:
    return [f"99{seq:010d}" for seq in range(start, start + rows)]


class _FormReader(HTMLParser):
    """The fields a browser would submit from the form with ``form_id``."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id, self.inside, self.select = form_id, False, ""
        self.values: dict[str, str] = {}
        self.first_option: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside or "form" in a:
            return
        if tag == "input" and a.get("name") and a.get("type") != "checkbox":
            self.values[a["name"]] = a.get("value", "")
        elif tag == "textarea" and a.get("name"):
            self.values[a["name"]] = ""
        elif tag == "select":
            self.select = a.get("name", "")
        elif tag == "option" and self.select:
            self.first_option.setdefault(self.select, a.get("value", ""))
            if "selected" in a:
                self.values[self.select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select" and self.select:
            self.values.setdefault(self.select, self.first_option.get(self.select, ""))
            self.select = ""


def form_values(html: str, form_id: str) -> dict[str, str]:
    reader = _FormReader(form_id)
    reader.feed(html)
    return reader.values
