"""Generated customer files for the import tests and ``bench/import.py``: rows of the
basic-information table with Chinese headers, valid for a city whose service area holds
the given points."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from domain.catalogue import field

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
FORMATS = ("便利店", "超市", "食杂店", "烟酒商店", "娱乐服务类", "其他")
KEYS = (
    "customer_code", "shop_name", "licence_no", "licence_type", "licence_issued_on",
    "licence_expires_on", "responsible_person", "address", "business_format", "market_type",
    "business_nature", "phone", "bank_account", "id_number", "joined_on", "order_batch",
    "visit_batch", "business_area_m2",
)  # fmt: skip
POINT_HEADERS = ("经度", "纬度", "坐标系")


def id_number(seq: int) -> str:
    body = f"610102{1960 + seq % 40}{1 + seq % 12:02d}{1 + seq % 28:02d}{seq % 1000:03d}"
    total = sum(int(d) * w for d, w in zip(body, ID_WEIGHTS, strict=True))
    return body + ID_CHECK[total % 11]


def headers(*, english: bool = False) -> list[str]:
    names = [k if english else field(k).label_zh for k in KEYS]
    return names + (["lng", "lat", "crs"] if english else list(POINT_HEADERS))


def customer_record(seq: int, lng: float, lat: float) -> list[Any]:
    """One valid row (codes 99…/licences 98…, unused by the demo city) at a WGS-84 point."""
    issued = dt.date(2020, 1, 1) + dt.timedelta(days=seq % 1000)
    return [
        f"99{seq:010d}", f"导入测试商店{seq}号", f"98{seq:010d}", "零售许可证",
        issued.isoformat(), (issued + dt.timedelta(days=5 * 365)).isoformat(),
        f"张{seq % 97}", f"测试路{seq % 500}号", FORMATS[seq % 6], "城网" if seq % 3 else "农网",
        "个体", f"139{seq % 100_000_000:08d}", f"6222{seq:014d}", id_number(seq),
        issued.isoformat(), 1 + seq % 6, 1 + seq % 5, f"{20 + seq % 80}.5",
        f"{lng:.6f}", f"{lat:.6f}", "WGS84",
    ]  # fmt: skip


def customer_records(points: Sequence[tuple[float, float]], start: int = 1) -> list[list[Any]]:
    return [customer_record(start + i, lng, lat) for i, (lng, lat) in enumerate(points)]


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("客户基础信息表")
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    book.save(path)
    return path
