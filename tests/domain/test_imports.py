"""Customer import: per-row findings, nothing written on a refusal, exact rows and their
ledger on success, --all-valid, repeated files (real PostGIS, the 300-shop demo city)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from domain.catalogue import field
from domain.customers.present import present_record
from domain.customers.update import update_customer
from domain.errors import DUPLICATE, DomainError
from domain.imports import import_customers_now, read_table
from domain.ledger import IMPORT_RECORD, current_record, history, record_as_of, replay
from domain.models import Customer, Import, LedgerEntry
from domain.vault import Vault, is_envelope
from tests.domain.conftest import PrincipalFor
from tests.import_data import customer_records, headers, write_csv, write_xlsx

FORMATS = "便利店、超市、食杂店、烟酒商店、娱乐服务类、其他"
OUTSIDE = "地理位置(经纬度)不在公司服务区域内"


def _points(session: Session, n: int) -> list[tuple[float, float]]:
    rows = session.execute(
        text("SELECT ST_X(location), ST_Y(location) FROM customers ORDER BY id LIMIT :n"),
        {"n": n},
    ).all()
    return [(float(x), float(y)) for x, y in rows]


def _counts(session: Session) -> tuple[int, int, int]:
    return (
        session.scalar(select(func.count()).select_from(Customer)) or 0,
        session.scalar(select(func.count()).select_from(LedgerEntry)) or 0,
        session.scalar(select(func.count()).select_from(Import)) or 0,
    )


def _run(session: Session, path: Path, vault: Vault, **kw: Any) -> Any:
    return import_customers_now(session, read_table(path), actor_name="tester", vault=vault, **kw)


def _cell(header: list[str], row: list[Any], label: str, value: Any) -> None:
    row[header.index(label)] = value


def _bad_file(session: Session, tmp_path: Path) -> tuple[Path, list[tuple[Any, ...]]]:
    header = headers()
    rows = customer_records(_points(session, 8))
    existing_code, existing_licence = session.execute(
        select(Customer.customer_code, Customer.licence_no)
        .where(Customer.status != "closed")
        .order_by(Customer.id)
        .limit(1)
    ).one()
    _cell(header, rows[1], "专卖许可证号", "98ABC")  # row 3
    _cell(header, rows[2], "客户代码", rows[0][0])  # row 4: the code of row 2
    _cell(header, rows[3], "客户代码", existing_code)  # row 5
    lng, lat = rows[4][header.index("经度")], rows[4][header.index("纬度")]
    _cell(header, rows[4], "经度", lat)  # row 6: swapped
    _cell(header, rows[4], "纬度", lng)
    _cell(header, rows[5], "经度", "100.0")  # row 7: far west of the city
    _cell(header, rows[5], "纬度", "30.0")
    _cell(header, rows[6], "零售业态", "百货")  # row 8
    _cell(header, rows[7], "专卖许可证号", existing_licence)  # row 9
    swapped = (
        "地理位置(经纬度)的经度须在-180到180之间、纬度须在-90到90之间"
        f"（经纬度是否颠倒？应先经度后纬度：经度 {float(lng):g}，纬度 {float(lat):g}）"
    )
    expected = [
        (3, "licence_no", "专卖许可证号", "INVALID_FORMAT", "专卖许可证号须为12位数字"),
        (4, "customer_code", "客户代码", "DUPLICATE", "客户代码与第2行重复"),
        (5, "customer_code", "客户代码", "DUPLICATE", "客户代码已被其他客户使用"),
        (6, "location", "地理位置(经纬度)", "OUT_OF_RANGE", swapped),
        (7, "location", "地理位置(经纬度)", "OUTSIDE_SERVICE_AREA", OUTSIDE),
        (8, "business_format", "零售业态", "NOT_ALLOWED_VALUE", f"零售业态须为以下之一：{FORMATS}"),
        (9, "licence_no", "专卖许可证号", "DUPLICATE", "专卖许可证号已被其他在营客户使用"),
    ]  # fmt: skip
    return write_csv(tmp_path / "bad.csv", header, rows), expected


def test_a_file_with_bad_rows_gives_exact_errors_and_imports_nothing(
    city: Session, vault: Vault, tmp_path: Path
) -> None:
    # given a file with Chinese headers, one good row and seven bad ones
    path, expected = _bad_file(city, tmp_path)
    before = _counts(city)
    # when importing it
    result = _run(city, path, vault)
    # then every finding is reported per row and field, and nothing is written
    assert [i.cells() for i in result.issues] == expected
    assert (result.import_id, result.total, result.imported, result.refused) == (None, 8, 0, 7)
    assert result.warnings == ()
    assert _counts(city) == before


def test_all_valid_imports_only_the_valid_rows(city: Session, vault: Vault, tmp_path: Path) -> None:
    # given the same file with one good row
    path, expected = _bad_file(city, tmp_path)
    customers, ledger, imports = _counts(city)
    # when importing the valid rows
    result = _run(city, path, vault, all_valid=True)
    # then only row 2 is imported, the findings are the same and the import counts them
    assert [i.cells() for i in result.issues] == expected
    assert (result.imported, result.refused) == (1, 7)
    assert _counts(city) == (customers + 1, ledger + 1, imports + 1)
    run = city.get(Import, result.import_id)
    assert run is not None
    assert (run.status, run.rows_total, run.rows_inserted, run.rows_refused) == ("done", 8, 1, 7)
    imported = city.scalars(
        select(Customer.customer_code).where(Customer.id.in_(result.customer_ids))
    )
    assert list(imported) == ["990000000001"]


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_a_valid_file_imports_exactly_its_rows_with_their_ledger(
    city: Session, vault: Vault, tmp_path: Path, kind: str
) -> None:
    # given a valid file of 25 shops (XLSX cells as numbers where Excel would make them)
    rows = customer_records(_points(city, 25))
    header = headers()
    writer = write_csv if kind == "csv" else write_xlsx
    path = writer(tmp_path / f"good.{kind}", header, rows)
    customers, ledger, imports = _counts(city)
    # when importing it
    result = _run(city, path, vault)
    # then exactly those rows are new customers
    assert (result.imported, result.refused, result.issues) == (25, 0, ())
    city.expire_all()
    shops = city.scalars(
        select(Customer).where(Customer.id.in_(result.customer_ids)).order_by(Customer.id)
    ).all()
    assert [c.customer_code for c in shops] == [r[0] for r in rows]
    first = shops[0]
    assert (first.shop_name, first.licence_no, first.phone) == (rows[0][1], rows[0][2], rows[0][11])
    assert (first.business_format, first.status, first.order_method) == (
        "supermarket",
        "active",
        "online",
    )
    assert first.admin_region_id is not None
    assert first.location_input == {"lng": rows[0][18], "lat": rows[0][19], "crs": "WGS84"}
    # each with one ledger entry holding the whole record: 18 columns, the point, 4 defaults
    # and the region, personal values sealed in it
    stored = city.scalars(
        select(LedgerEntry).where(LedgerEntry.customer_id.in_(result.customer_ids))
    ).all()
    assert sorted(e.customer_id for e in stored) == sorted(result.customer_ids)
    assert {(e.field_key, e.source, e.old_value) for e in stored} == {
        (IMPORT_RECORD, "import", None)
    }
    assert _counts(city) == (customers + 25, ledger + 25, imports + 1)
    record = next(e.new_value for e in stored if e.customer_id == first.id)
    assert len(record) == 24 and record["shop_name"] == rows[0][1]
    for key, clear in (("phone", rows[0][11]), ("bank_account", rows[0][12]),
                       ("id_number", rows[0][13])):  # fmt: skip
        assert is_envelope(record[key]) and vault.open(record[key]) == clear
        assert clear not in json.dumps(record[key])
    # readable through the domain as one line per field: personal values masked
    lines = history(city, first.id)
    assert len(lines) == 24 and {e.source for e in lines} == {"import"}
    assert [e.field_key for e in lines] == sorted(record, key=lambda k: field(k).position)
    entries = {e.field_key: e for e in lines}
    assert entries["shop_name"].new == rows[0][1] and entries["shop_name"].old is None
    assert entries["shop_name"].label_zh == "店铺名称"
    assert entries["phone"].new == "139****" + rows[0][11][-4:]
    assert history(city, first.id, limit=5) == lines[:5]
    run = city.get(Import, result.import_id)
    assert run is not None and run.status == "done" and run.sha256 == read_table(path).sha256
    assert run.request_id == city.scalar(
        select(LedgerEntry.request_id).where(LedgerEntry.customer_id == first.id).limit(1)
    )


def test_english_headers_gcj02_points_and_unknown_columns(
    city: Session, vault: Vault, tmp_path: Path
) -> None:
    # given English keys, a point in GCJ-02 and a column the catalogue does not know
    header = [*headers(english=True), "备注"]
    rows = [[*r, "旧系统备注"] for r in customer_records(_points(city, 2))]
    rows[0][header.index("crs")] = "GCJ-02"
    path = write_csv(tmp_path / "english.csv", header, rows)
    # when importing
    result = _run(city, path, vault)
    # then both rows are in, the unknown column is reported and ignored
    assert result.imported == 2
    assert [w.cells() for w in result.warnings] == [
        (1, "备注", "备注", "UNKNOWN_FIELD", "未知列「备注」，已忽略")
    ]
    # and the GCJ-02 point is stored in WGS-84, a few hundred metres from the input
    shop = city.get(Customer, result.customer_ids[0])
    assert shop is not None and shop.location_input is not None
    assert shop.location_input["crs"] == "GCJ02"
    moved = city.scalar(
        select(
            func.ST_Distance(
                func.ST_Transform(Customer.location, 3857),
                func.ST_Transform(
                    func.ST_SetSRID(func.ST_MakePoint(*map(float, rows[0][18:20])), 4326), 3857
                ),
            )
        ).where(Customer.id == shop.id)
    )
    assert moved is not None and 100 < moved < 1500


def test_the_same_file_twice_is_refused_as_a_duplicate(
    city: Session, vault: Vault, tmp_path: Path
) -> None:
    # given a file imported once
    path = write_csv(tmp_path / "once.csv", headers(), customer_records(_points(city, 3)))
    first = _run(city, path, vault)
    before = _counts(city)
    # when importing it again, then it is refused and nothing changes
    with pytest.raises(DomainError) as err:
        _run(city, path, vault)
    assert err.value.code == DUPLICATE
    assert (
        err.value.message.startswith("该文件已于")
        and f"导入编号{first.import_id}" in err.value.message
    )
    assert _counts(city) == before


def test_a_missing_required_field_and_a_broken_header(
    city: Session, vault: Vault, tmp_path: Path
) -> None:
    # given a file without the shop name column
    header = headers()
    keep = [i for i, h in enumerate(header) if h != field("shop_name").label_zh]
    rows = [[r[i] for i in keep] for r in customer_records(_points(city, 1))]
    path = write_csv(tmp_path / "noname.csv", [header[i] for i in keep], rows)
    before = _counts(city)
    # then each row is refused for it
    result = _run(city, path, vault)
    assert [i.cells() for i in result.issues] == [
        (2, "shop_name", "店铺名称", "REQUIRED", "店铺名称不能为空")
    ]
    # and a file naming one field twice is refused as a whole
    twice = write_csv(tmp_path / "twice.csv", ["客户代码", "customer_code"], [["1", "2"]])
    result = _run(city, twice, vault)
    assert [i.cells() for i in result.issues] == [
        (1, "customer_code", "客户代码", "INVALID_FORMAT",
         "列「customer_code」与列「客户代码」对应同一字段，请删除其一"),
    ]  # fmt: skip
    assert _counts(city) == before


def test_ledger_values_are_the_records_json_forms(
    city: Session, vault: Vault, tmp_path: Path
) -> None:
    # given rows with trailing zeros in decimals, a GCJ-02 point and a customer manager
    manager = city.scalar(
        text("SELECT id FROM users WHERE role = 'customer_manager' AND is_active ORDER BY id")
    )
    header = [*headers(), "注册资金", "客户经理", "是否示范户"]
    rows = [[*r, "1000.00", manager, "是"] for r in customer_records(_points(city, 3))]
    rows[0][header.index("营业面积")] = "30.0"
    rows[1][header.index("坐标系")] = "BD09"
    path = write_csv(tmp_path / "forms.csv", header, rows)
    # when importing
    result = _run(city, path, vault)
    assert result.imported == 3, result.issues
    # then each ledger entry, opened, is the JSON form of the stored value (as edits write it)
    city.expire_all()
    for customer_id in result.customer_ids:
        shop = city.get(Customer, customer_id)
        assert shop is not None
        entries = city.scalars(
            select(LedgerEntry).where(LedgerEntry.customer_id == customer_id)
        ).all()
        from_ledger = replay({}, sorted(entries, key=lambda e: e.id), vault)
        record = {k: v for k, v in current_record(shop).items() if v is not None}
        assert from_ledger == record
    first = city.get(Customer, result.customer_ids[0])
    assert first is not None and str(first.business_area_m2) == "30.0"


def test_an_imported_record_in_the_history_and_as_of_a_date(
    city: Session, vault: Vault, principal_for: PrincipalFor, tmp_path: Path
) -> None:
    # given an imported shop whose phone is changed a day after the import
    rows = customer_records(_points(city, 1))
    result = _run(city, write_csv(tmp_path / "one.csv", headers(), rows), vault)
    shop = city.get(Customer, result.customer_ids[0])
    assert shop is not None
    imported = current_record(shop)
    (at,) = city.scalars(select(LedgerEntry.at).where(LedgerEntry.customer_id == shop.id))
    update_customer(
        city, principal_for("market_dept"), shop.id, shop.version, {"phone": "13911112222"},
        vault=vault, now=at + dt.timedelta(days=1),
    )  # fmt: skip
    # then as of the import the record is the imported one, personal values restored from
    # the seal and masked when presented
    assert record_as_of(city, shop, at, vault) == imported
    assert imported["phone"] == rows[0][11] and imported["id_number"] == rows[0][13]
    shown = present_record(record_as_of(city, shop, at, vault))
    assert shown["phone"] == "139****" + rows[0][11][-4:] and shown["id_number"] != rows[0][13]
    # and before the import every imported field was empty
    before = record_as_of(city, shop, at - dt.timedelta(seconds=1), vault)
    filled = {k for k, v in imported.items() if v is not None}
    assert len(filled) == 24 and all(before[k] is None for k in filled)
    # and the history shows the edit, then the import field by field
    lines = history(city, shop.id)
    assert [(e.field_key, e.source) for e in lines[:2]] == [
        ("phone", "edit"),
        ("customer_code", "import"),
    ]
    assert [e.field_key for e in lines[1:]] == sorted(filled, key=lambda k: field(k).position)
    assert all(e.old is None for e in lines[1:]) and len(history(city, shop.id, limit=3)) == 3
    masked = "139****" + rows[0][11][-4:]
    assert lines[0].old == masked and {e.new for e in lines if e.field_key == "phone"} == {
        masked,
        "139****2222",
    }


def test_gbk_csv_and_system_columns(city: Session, vault: Vault, tmp_path: Path) -> None:
    # given a CSV saved by Excel in GBK, with a system-computed column (综合分类)
    header = [*headers(), "综合分类"]
    rows = [[*r, "城网便利店1"] for r in customer_records(_points(city, 2))]
    body = write_csv(tmp_path / "utf8.csv", header, rows).read_text(encoding="utf-8-sig")
    path = tmp_path / "gbk.csv"
    path.write_bytes(body.encode("gb18030"))
    # when importing it
    result = _run(city, path, vault)
    # then the rows are read, and the system column is reported and ignored
    assert result.imported == 2
    assert [w.cells() for w in result.warnings] == [
        (
            1,
            "classification",
            "综合分类",
            "READ_ONLY_FIELD",
            "综合分类由系统自动生成，导入时忽略此列",
        )
    ]
    shop = city.get(Customer, result.customer_ids[0])
    assert shop is not None and shop.classification is None
    assert shop.shop_name == rows[0][1]


def test_only_csv_and_xlsx_are_read(tmp_path: Path) -> None:
    path = tmp_path / "customers.txt"
    path.write_text("客户代码\n990000000001\n", encoding="utf-8")
    with pytest.raises(DomainError) as err:
        read_table(path)
    assert (err.value.code, err.value.message) == ("INVALID_FORMAT", "只能导入CSV或XLSX文件")


def test_xlsx_cells_rows_and_broken_files(tmp_path: Path) -> None:
    """Excel's numbers, dates and blanks as the validation expects them; the row numbers
    a user sees in Excel (blank rows counted, never reported); a broken file refused."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["客户代码", "许可证号", "许可证有效期起", "备注"])
    sheet.append([None, None, None, None])  # row 2: blank, skipped but counted
    sheet.append([610111050001, 610111100001.0, dt.date(2026, 1, 2), 1.5])
    sheet.append(["  ", None, dt.datetime(2026, 3, 4, 5, 6), "备注"])
    path = tmp_path / "customers.xlsx"
    book.save(path)
    table = read_table(path)
    assert table.header == ("客户代码", "许可证号", "许可证有效期起", "备注")
    assert [n for n, _ in table.rows] == [3, 4]
    first, second = (cells for _, cells in table.rows)
    assert first[:3] == (610111050001, 610111100001, dt.date(2026, 1, 2))
    assert type(first[1]) is int and first[3] == 1.5
    assert second[1] is None and second[2] == dt.datetime(2026, 3, 4, 5, 6)

    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(DomainError) as err:
        read_table(broken)
    assert (err.value.code, err.value.message) == (
        "INVALID_FORMAT", "无法读取XLSX文件（文件损坏或不是Excel文件）"
    )  # fmt: skip
