"""The fuzzers' personal-data leak scan (tests/leaks.py, run by ``City.post`` over every
answer and the log records written meanwhile) is not vacuous: it fails on a clear value
planted in an answer or in a log record, for a role holding the reveal grant too (GraphQL
has no reveal answer), and, last of the suite, it read the fuzzers' answers.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from domain.masking import mask
from tests.fuzz.conftest import City
from tests.fuzz.support import SCANNED, scan_answer

PERSONAL = "{ customers(first: 20) { totalCount edges { node { phone idNumber bankAccount } } } }"


def _unmasked(kind: str, value: Any) -> Any:
    return None if value is None else str(value)


def _values(city: City, field: str) -> list[str]:
    return sorted(v for v, k in city.clear.items() if k == field)


def test_masked_answers_pass_the_scan(city: City) -> None:
    # given the personal fields asked for by roles that may or may not reveal them
    for role in ("customer_manager", "county_dept", "licensing", "it_admin"):
        body = city.post({"query": PERSONAL}, role).json()
        nodes = [e["node"] for e in body["data"]["customers"]["edges"]]
        # then they come masked (and the scan, run by City.post, found nothing)
        shown = [n["phone"] for n in nodes if n["phone"]]
        assert shown and all("****" in p for p in shown), (role, nodes[:3])


@pytest.mark.parametrize("role", ["county_dept", "licensing"])
def test_a_clear_value_in_an_answer_fails_the_scan(
    city: City, monkeypatch: pytest.MonkeyPatch, role: str
) -> None:
    # given masking switched off on the customer list (licensing holds the phone and ID
    # number grants, but a GraphQL answer is no reveal answer)
    monkeypatch.setattr("schema.customers.columns.mask", _unmasked)
    monkeypatch.setattr("schema.customers.types.mask", _unmasked)
    # when a role reads the personal fields, then the scan fails the answer
    with pytest.raises(AssertionError, match="personal data in clear") as failed:
        city.post({"query": PERSONAL}, role)
    assert f"{role} graphql" in str(failed.value)
    assert ": phone\n" in str(failed.value) and ": id_number\n" in str(failed.value)
    # (the value itself is not repeated in the message)
    assert not any(v in str(failed.value) for v in _values(city, "phone"))


def test_a_clear_value_in_a_log_record_fails_the_scan(city: City) -> None:
    bank = _values(city, "bank_account")[0]
    logging.getLogger("retailgis.graphql").warning("request x: account %s", bank)
    with pytest.raises(AssertionError, match=r"log log retailgis\.graphql: bank_account"):
        city.post({"query": "{ apiVersion }"})
    # the record was read once: the next answer is clean
    city.post({"query": "{ apiVersion }"})


def test_numbers_shaped_like_personal_data_fail_unless_the_caller_sent_them(city: City) -> None:
    phone, id_number = _values(city, "phone")[0], _values(city, "id_number")[0]
    masked = f'{{"phone":"{mask("phone", phone)}","idNumber":"{mask("id_number", id_number)}"}}'
    scan_answer(city.clear, "it_admin", masked, "")
    shaped = '{"errors":[{"message":"Int cannot represent: 13912345678 61010419900101123X"}]}'
    with pytest.raises(AssertionError, match=r"phone-shaped\n.*id_number-shaped"):
        scan_answer(city.clear, None, shaped, '{"query": "{ apiVersion }"}')
    # echoed: the caller's own numbers
    scan_answer(city.clear, None, shaped, '{"v": 13912345678, "w": "61010419900101123X"}')
    # a clear value of the city is a hit even if the caller sent it
    with pytest.raises(AssertionError, match=r"it_admin graphql .*: phone"):
        scan_answer(city.clear, "it_admin", f'"{phone}"', f'{{"v": "{phone}"}}')


def test_the_leak_scan_read_the_fuzzers_answers() -> None:
    """Last of the suite: every fuzz run's answers were scanned (each run checks its own,
    tests/fuzz/test_graphql_fuzz.py), and there were many."""
    if not SCANNED["runs"]:
        pytest.skip("no fuzz run in this session (tests/fuzz/test_graphql_fuzz.py)")
    assert SCANNED["cases"] >= 20 * SCANNED["runs"], SCANNED
    assert SCANNED["bodies"] >= SCANNED["cases"], SCANNED
    if SCANNED["runs"] >= 10:  # the default suite: 7 query runs of 40, 3 mutation runs of 60
        assert SCANNED["bodies"] >= 400, SCANNED
