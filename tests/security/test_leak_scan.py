"""Personal-data leak scan (issue 9, part 2): after the authorization walk, every response
body, rendered page, export file and log line it produced is searched for the demo city's
clear phone numbers, ID numbers and bank accounts (read as the owner from the customers
table, and through the vault from the ledger and ticket changes), and for anything shaped
like a mobile number or an ID number. The only clear value a caller may see is one its role
may reveal (rights.csv), and only where the read is logged: the one field a reveal answer is
for, and an export file; log lines may hold none. Zero hits is the only pass. The scan is
tests/leaks.py, which the fuzzers (tests/fuzz) run over every answer too.
"""

from __future__ import annotations

from domain.masking import mask
from tests.leaks import Artifact, clear_values, report, scan
from tests.security.conftest import VAULT, City, Walk


def test_the_scanner_finds_a_planted_clear_value(city: City) -> None:
    clear = clear_values(city.engine, VAULT)
    phone = next(v for v, k in clear.items() if k == "phone")
    id_number = next(v for v, k in clear.items() if k == "id_number")
    bank = next(v for v, k in clear.items() if k == "bank_account")
    home = next(v for v, k in clear.items() if k == "home_address")
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
        Artifact("county_dept", "page", "home", f"<td>{home}</td>"),  # no home_address grant
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
        "home_address",
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
    clear = clear_values(city.engine, VAULT)
    assert any(v in a.text for a in reveals for v in clear), "the walk reveals nothing in clear"
    hits = scan(walk.recorder.artifacts, clear)
    assert hits == [], report(hits)
