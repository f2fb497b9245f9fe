"""Personal-data leak scan (issue 9, part 2): after the authorization walk, every response
body, rendered page, export file and log line it produced is searched for the demo city's
clear phone numbers, ID numbers and bank accounts (read from the customers table as the
owner), and for anything shaped like a mobile number or an ID number. The only clear value
a caller may see is one its role may reveal (rights.csv), and only where the read is
logged: the one field a reveal answer is for, and an export file; log lines may hold none.
Zero hits is the only pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.access.rights import role_rights
from domain.masking import mask
from domain.models import Customer
from tests.security.conftest import Artifact, City, Walk

FIELDS = {"phone": "phone", "id_number": "id_number", "bank_account": "bank_account"}
MOBILE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")
ID_NUMBER = re.compile(r"(?<![0-9])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z])")


@dataclass(frozen=True)
class Hit:
    artifact: str
    field: str
    value: str


def clear_values(city: City) -> dict[str, str]:
    """Each clear personal value of the city -> its field (short values are skipped: a
    four-digit tail is what masking keeps)."""
    out: dict[str, str] = {}
    with Session(city.engine) as s:
        rows = s.execute(select(Customer.phone, Customer.id_number, Customer.bank_account))
        for phone, id_number, bank in rows:
            for key, value in (("phone", phone), ("id_number", id_number), ("bank_account", bank)):
                if value and len(value) >= 8:
                    out[value] = key
    return out


def _may_show(artifact: Artifact, key: str) -> bool:
    """Clear only where the role holds the grant and the read is logged: a reveal answer
    (personal_data_reveals) for the field asked, or an export file (export_logs)."""
    if artifact.role is None or key not in role_rights(artifact.role).reveals:
        return False
    return artifact.reveal_field == key or artifact.kind == "export"


def scan(artifacts: list[Artifact], clear: dict[str, str]) -> list[Hit]:
    hits = []
    for a in artifacts:
        label = f"{a.role or 'log'} {a.kind} {a.label}"
        for value, key in clear.items():
            if value in a.text and not _may_show(a, key):
                hits.append(Hit(label, key, value))
        shaped = [("phone", m) for m in MOBILE.findall(a.text)]
        shaped += [("id_number", m) for m in ID_NUMBER.findall(a.text)]
        for key, value in shaped:
            if value not in clear and not _may_show(a, key):
                hits.append(Hit(label, f"{key}-shaped", value))
    return hits


def test_the_scanner_finds_a_planted_clear_value(city: City) -> None:
    clear = clear_values(city)
    phone = next(v for v, k in clear.items() if k == "phone")
    id_number = next(v for v, k in clear.items() if k == "id_number")
    bank = next(v for v, k in clear.items() if k == "bank_account")
    shown = f'{{"phone":"{mask("phone", phone)}","idNumber":"{mask("id_number", id_number)}"}}'
    masked = Artifact("customer_manager", "graphql", "masked", shown)
    planted = [
        Artifact("it_admin", "graphql", "body", f'{{"phone":"{phone}"}}'),
        Artifact("county_dept", "page", "page", f"<td>{id_number}</td>"),
        Artifact("sales_dept", "export", "file", f"x\n{bank}\n"),  # no bank grant
        Artifact(None, "log", "retailgis.test", f"updated phone to {phone}"),
        # a reveal answer of another field than the one asked for
        Artifact("customer_manager", "page", "reveal", f"<b>{id_number}</b>", reveal_field="phone"),
        Artifact("it_admin", "page", "unknown", "电话 13912345678 身份证 61010419900101123X"),
    ]
    assert scan([masked], clear) == []
    hits = scan(planted, clear)
    assert [h.field for h in hits] == [
        "phone",
        "id_number",
        "bank_account",
        "phone",
        "id_number",
        "phone-shaped",
        "id_number-shaped",
    ]
    # a reveal of the phone by a role holding the grant is what reveals are for
    allowed = Artifact("customer_manager", "page", "reveal", f"<b>{phone}</b>", "phone")
    assert scan([allowed], clear) == []


def test_no_response_page_export_or_log_line_holds_a_clear_personal_value(
    walk: Walk, city: City
) -> None:
    kinds = {a.kind for a in walk.recorder.artifacts}
    assert {"graphql", "page", "export", "log"} <= kinds, kinds
    reveals = [a for a in walk.recorder.artifacts if a.reveal_field]
    clear = clear_values(city)
    assert any(v in a.text for a in reveals for v in clear), "the walk reveals nothing in clear"
    hits = scan(walk.recorder.artifacts, clear)
    assert hits == [], "\n".join(f"{h.artifact}: {h.field}" for h in hits)
