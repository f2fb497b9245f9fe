"""Customer exports: CSV and XLSX read back, masked by role, scoped, logged; refusals write
nothing and log nothing (the 300-shop demo city)."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.catalogue import catalogue
from domain.customers.listing import CustomerQuery, customer_select
from domain.errors import INVALID, DomainError
from domain.exports import export_customers
from domain.masking import mask_bank_account, mask_id_number, mask_phone
from domain.models import Customer, ExportLog, Region
from tests.domain.conftest import PrincipalFor

LABELS = [s.label_zh for s in catalogue()]


def _csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the Chinese right
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def _xlsx_rows(data: bytes) -> tuple[str, list[list[object]]]:
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    sheet = book.worksheets[0]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    return sheet.title, rows


def _personal_shop(session: Session, region_id: int | None = None) -> Customer:
    stmt = select(Customer).where(
        Customer.phone.is_not(None),
        Customer.bank_account.is_not(None),
        Customer.id_number.is_not(None),
    )
    if region_id is not None:
        stmt = stmt.where(Customer.admin_region_id == region_id)
    shop = session.scalars(stmt.order_by(Customer.customer_code)).first()
    assert shop is not None
    return shop


def test_csv_export_by_a_county_user_is_masked_scoped_and_logged(
    city: Session, principal_for: PrincipalFor
) -> None:
    # given a county user (reveal grant: phone only) and a shop of the county
    p = principal_for("county_dept")
    region = city.get(Region, p.region_id)
    assert region is not None
    shop = _personal_shop(city, p.region_id)
    assert shop.phone and shop.bank_account and shop.id_number
    query = CustomerQuery(county=region.code, status="active")
    out = io.BytesIO()
    # when exporting the county's active shops to CSV
    result = export_customers(city, p, query, out, fmt="csv", file_name="county.csv")
    # then the file has the catalogue header and one row per shop of the list
    rows = _csv_rows(out.getvalue())
    assert rows[0] == LABELS
    expected = list(city.scalars(customer_select(p, query)))
    assert [r[0] for r in rows[1:]] == [c.customer_code for c in expected]
    assert result.rows == len(expected) > 0
    # and bank account and ID number are masked; the phone (granted) is shown
    mine = next(r for r in rows[1:] if r[0] == shop.customer_code)
    col = {label: i for i, label in enumerate(LABELS)}
    assert mine[col["银行帐号"]] == mask_bank_account(shop.bank_account)
    assert mine[col["身份证号"]] == mask_id_number(shop.id_number)
    assert mine[col["订货电话"]] == shop.phone
    assert shop.bank_account not in out.getvalue().decode("utf-8-sig")
    # and the export is logged with who, what filter and how many rows
    log = city.get(ExportLog, result.log_id)
    assert log is not None
    assert (log.user_id, log.kind, log.format, log.row_count) == (
        p.user_id,
        "customers",
        "csv",
        len(expected),
    )
    assert log.filter == {"county": region.code, "status": "active", "sort": "code"}
    assert log.revealed == ["phone"]
    assert log.file_name == "county.csv"


def test_xlsx_export_by_it_admin_masks_every_personal_field(
    city: Session, principal_for: PrincipalFor
) -> None:
    # given the IT role, which has no reveal grant at all
    p = principal_for("it_admin")
    shop = _personal_shop(city)
    assert shop.phone and shop.bank_account and shop.id_number
    out = io.BytesIO()
    # when exporting the shop found by its code to XLSX
    result = export_customers(city, p, CustomerQuery(search=shop.customer_code), out, fmt="xlsx")
    # then the workbook holds the header and that shop, every personal value masked
    title, rows = _xlsx_rows(out.getvalue())
    assert title == "客户档案"
    assert rows[0] == LABELS
    assert len(rows) == 2 and result.rows == 1
    row = dict(zip(LABELS, rows[1], strict=True))
    assert row["客户代码"] == shop.customer_code
    assert row["店铺名称"] == shop.shop_name
    assert row["订货电话"] == mask_phone(shop.phone)
    assert row["银行帐号"] == mask_bank_account(shop.bank_account)
    assert row["身份证号"] == mask_id_number(shop.id_number)
    status_label = {"active": "正常", "suspended": "暂停经营", "closed": "歇业"}[shop.status]
    assert row["客户状态"] == status_label
    log = city.get(ExportLog, result.log_id)
    assert log is not None
    assert (log.row_count, log.revealed, log.filter) == (
        1,
        [],
        {"search": shop.customer_code, "sort": "code"},
    )


def test_market_dept_export_shows_its_granted_fields(
    city: Session, principal_for: PrincipalFor
) -> None:
    p = principal_for("market_dept")
    shop = _personal_shop(city)
    out = io.BytesIO()
    result = export_customers(city, p, CustomerQuery(search=shop.customer_code), out, fmt="csv")
    row = dict(zip(LABELS, _csv_rows(out.getvalue())[1], strict=True))
    assert (row["银行帐号"], row["身份证号"]) == (shop.bank_account, shop.id_number)
    assert result.revealed == ("bank_account", "phone", "home_address", "id_number")


@pytest.mark.parametrize(
    ("fmt", "query", "field"),
    [
        ("pdf", CustomerQuery(), "format"),
        ("csv", CustomerQuery(status="gone"), "status"),
        ("xlsx", CustomerQuery(sort="random"), "sort"),
    ],
)
def test_refused_export_writes_and_logs_nothing(
    city: Session, principal_for: PrincipalFor, fmt: str, query: CustomerQuery, field: str
) -> None:
    p = principal_for("market_dept")
    out = io.BytesIO()
    with pytest.raises(DomainError) as err:
        export_customers(city, p, query, out, fmt=fmt)
    assert (err.value.code, err.value.field) == (INVALID, field)
    assert out.getvalue() == b""
    assert city.scalar(select(func.count()).select_from(ExportLog)) == 0


def test_empty_list_exports_the_header_and_logs_zero(
    city: Session, principal_for: PrincipalFor
) -> None:
    p = principal_for("market_dept")
    out = io.BytesIO()
    result = export_customers(city, p, CustomerQuery(county="none"), out, fmt="xlsx")
    _, rows = _xlsx_rows(out.getvalue())
    assert rows == [LABELS]
    log = city.get(ExportLog, result.log_id)
    assert log is not None and log.row_count == 0
