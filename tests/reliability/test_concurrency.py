"""Proof under load (issue 9, part 4): approvals racing over HTTP against the real server.

`retailgis serve` runs in a subprocess with two uvicorn worker processes over a committed
300-shop demo city. Twenty users of the delivery department are both the makers of 100
pending location changes (single step, applied on one approval) and their checkers. Then
1,000 `approveTicket` calls, 64 in flight, each a (ticket, caller) pair that includes
every ticket's maker: exactly one approval per ticket applies, once, and by a checker
who is not its maker; every other answer is a typed refusal, never a server error.
Idempotency keys replayed at the same moment answer once, byte for byte.
"""

from __future__ import annotations

import asyncio
import collections
import http.client
import json
import random
import statistics
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.pgcluster import EmbeddedCluster
from domain.models import Customer, IdempotencyKey, LedgerEntry, Ticket, TicketChange, TicketStep
from tests.reliability.approvals import (
    ALREADY_APPLIED,
    CALLS,
    IN_FLIGHT,
    MOVES,
    SELF_APPROVAL,
    TICKETS,
    Answer,
    City,
    assert_clean,
    call_plan,
    fire,
    percentile,
    raced,
    served_city,
    server_log_is_clean,
)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def city(pg_cluster: EmbeddedCluster) -> Iterator[City]:
    with served_city(pg_cluster) as served:
        yield served


def test_a_thousand_concurrent_approvals_apply_each_ticket_once_and_never_by_its_maker(
    city: City,
) -> None:
    # given 100 pending location changes, each made by one of the twenty checkers
    ids = city.ticket_ids()
    with Session(city.engine) as s:
        shops = dict(
            s.execute(select(Ticket.id, Ticket.customer_id).where(Ticket.id.in_(ids))).all()
        )
        versions = dict(
            s.execute(
                select(Customer.id, Customer.version).where(Customer.id.in_(shops.values()))
            ).all()
        )
        assert s.scalar(select(func.count()).where(LedgerEntry.ticket_id.in_(ids))) == 0
    plan = call_plan(city, random.Random(20261103))
    assert sum(caller == city.makers[t] for t, caller, _ in plan) >= TICKETS

    # when 1,000 approvals are sent, 64 at a time
    start = time.perf_counter()
    answers = asyncio.run(fire(city, plan))
    wall = time.perf_counter() - start

    # then every answer is HTTP 200 with no stack trace or SQL, and no error was logged
    assert_clean(answers)
    server_log_is_clean(city)
    # and the maker's calls are refused as self-approvals, whatever the ticket's state
    outcomes: dict[str, list[Answer]] = collections.defaultdict(list)
    for a in answers:
        payload = a.payload()
        if a.caller == city.makers[a.ticket_id]:
            assert payload == {"ticket": None, "errors": [SELF_APPROVAL]}, a
            outcomes["self"].append(a)
        elif payload["errors"] == []:
            ticket = payload["ticket"]
            assert ticket["id"] == a.ticket_id and ticket["status"] == "applied", a
            assert ticket["steps"] == [{"decision": "approve", "decidedBy": {"id": a.caller}}]
            outcomes["applied"].append(a)
        else:  # the others found it decided
            assert payload == {"ticket": None, "errors": [ALREADY_APPLIED]}, a
            outcomes["late"].append(a)
    # and exactly one call per ticket applied it
    winners = {a.ticket_id: a.caller for a in outcomes["applied"]}
    assert len(outcomes["applied"]) == TICKETS and sorted(winners) == sorted(ids)
    assert len(outcomes["self"]) + len(outcomes["late"]) == CALLS - TICKETS
    # (and the calls really raced: most applying calls had another call on their ticket
    # in flight at the same time)
    overlapped = raced(answers, {a.ticket_id: a for a in outcomes["applied"]})
    assert overlapped >= TICKETS * 0.9, overlapped

    # and the database agrees: 100 applied, one approval each, by the winner, never the maker
    with Session(city.engine) as s:
        statuses = dict(s.execute(select(Ticket.id, Ticket.status).where(Ticket.id.in_(ids))).all())
        assert statuses == {t: "applied" for t in ids}
        decided = s.execute(
            select(TicketStep.ticket_id, TicketStep.decided_by_id, TicketStep.maker_id)
            .where(TicketStep.ticket_id.in_(ids), TicketStep.decision == "approve")
        ).all()  # fmt: skip
        assert len(decided) == TICKETS
        assert {t: by for t, by, _ in decided} == winners
        assert [t for t, by, maker in decided if by == maker or by == city.makers[t]] == []
        # and each ticket's changes were applied once: one ledger row per changed field (the
        # proposed location, and the region when the new point lies in another one)
        ledger = collections.Counter(
            s.execute(
                select(LedgerEntry.ticket_id, LedgerEntry.field_key)
                .where(LedgerEntry.ticket_id.in_(ids))
            ).all()
        )  # fmt: skip
        assert [entry for entry, n in ledger.items() if n > 1] == []
        proposed = set(
            s.execute(
                select(TicketChange.ticket_id, TicketChange.field_key)
                .where(TicketChange.ticket_id.in_(ids))
            ).all()
        )  # fmt: skip
        assert proposed == {(t, "location") for t in ids}
        assert proposed <= set(ledger) and {k for _, k in set(ledger) - proposed} <= {
            "admin_region"
        }
        actors = set(
            s.execute(
                select(LedgerEntry.ticket_id, LedgerEntry.actor_id)
                .where(LedgerEntry.ticket_id.in_(ids))
            )
        )  # fmt: skip
        assert actors == set(winners.items())
        # and each shop moved to a new version exactly once
        after = dict(
            s.execute(select(Customer.id, Customer.version).where(Customer.id.in_(versions))).all()
        )
        assert after == {c: v + 1 for c, v in versions.items()}

    latencies = [a.seconds * 1000 for a in answers]
    print(
        f"\n{CALLS} approveTicket calls ({IN_FLIGHT} in flight, 2 worker processes): "
        f"{wall:.2f} s wall, {CALLS / wall:.0f} calls/s, "
        f"p50 {statistics.median(latencies):.1f} ms, p95 {percentile(latencies, 0.95):.1f} ms, "
        f"max {max(latencies):.1f} ms; applied {len(outcomes['applied'])}, "
        f"self-approvals refused {len(outcomes['self'])}, late {len(outcomes['late'])}, "
        f"tickets raced {overlapped}"
    )


def _all_in_flight_together(answers: list[Answer]) -> bool:
    """Whether every call was sent before the first answer came back."""
    return max(a.started for a in answers) < min(a.ended for a in answers)


def _keys_of(city: City, user_id: int) -> int:
    with Session(city.engine) as s:
        return s.scalar(select(func.count()).where(IdempotencyKey.user_id == user_id)) or 0


def test_one_key_sent_twenty_times_at_once_applies_once_and_answers_the_same(
    city: City,
) -> None:
    # given a pending ticket and a checker who did not make it
    ticket_id = city.spare(0)
    maker = city.makers[ticket_id]
    checker = next(u for u in sorted(city.tokens) if u != maker)
    keys_before = _keys_of(city, checker)
    # when the checker sends the same keyed approval twenty times at once
    answers = asyncio.run(fire(city, [(ticket_id, checker, f"approve-{ticket_id}")] * 20))
    assert _all_in_flight_together(answers)
    # then every answer is the first one, byte for byte: the ticket applied, by this checker
    assert_clean(answers)
    server_log_is_clean(city)
    assert len({a.text for a in answers}) == 1
    assert answers[0].payload() == {
        "ticket": {"id": ticket_id, "status": "applied",
                   "steps": [{"decision": "approve", "decidedBy": {"id": checker}}]},
        "errors": [],
    }  # fmt: skip
    # and the change was applied once, with one decision and one stored answer
    with Session(city.engine) as s:
        assert s.scalar(select(func.count()).where(LedgerEntry.ticket_id == ticket_id)) == 1
        decided = s.scalars(
            select(TicketStep.decided_by_id).where(TicketStep.ticket_id == ticket_id)
        ).all()
        assert decided == [checker]
    assert _keys_of(city, checker) == keys_before + 1


def test_keys_of_several_callers_replayed_at_once_answer_each_caller_consistently(
    city: City,
) -> None:
    # given a pending ticket, its maker and four checkers, each using the same key string
    # (keys belong to their user: one caller's answer is never replayed to another)
    ticket_id = city.spare(1)
    maker = city.makers[ticket_id]
    checkers = [u for u in sorted(city.tokens) if u != maker][:4]
    key = f"approve-again-{ticket_id}"
    plan: list[tuple[int, int, str | None]] = [
        (ticket_id, user, key) for user in [maker, *checkers] for _ in range(10)
    ]
    random.Random(7).shuffle(plan)
    # when all fifty calls are sent at once
    answers = asyncio.run(fire(city, plan))
    assert _all_in_flight_together(answers)
    # then each caller gets one answer, ten times over
    assert_clean(answers)
    server_log_is_clean(city)
    by_caller: dict[int, set[str]] = collections.defaultdict(set)
    for a in answers:
        by_caller[a.caller].add(a.text)
    assert {u: len(texts) for u, texts in by_caller.items()} == {u: 1 for u in [maker, *checkers]}
    first = {u: json.loads(next(iter(texts)))["data"]["approveTicket"]
             for u, texts in by_caller.items()}  # fmt: skip
    # the maker a self-approval refusal, one checker the approval, the others a refusal
    assert first[maker] == {"ticket": None, "errors": [SELF_APPROVAL]}
    winners = [u for u in checkers if first[u]["errors"] == []]
    assert len(winners) == 1
    assert first[winners[0]]["ticket"]["status"] == "applied"
    assert [first[u] for u in checkers if u not in winners] == [
        {"ticket": None, "errors": [ALREADY_APPLIED]}
    ] * 3
    # and the change was applied once, decided by the winner
    with Session(city.engine) as s:
        ledger = s.execute(
            select(LedgerEntry.field_key, LedgerEntry.actor_id)
            .where(LedgerEntry.ticket_id == ticket_id)
        ).all()  # fmt: skip
        assert [tuple(r) for r in ledger] == [("location", winners[0])]
        stored = s.scalar(select(func.count()).where(IdempotencyKey.key == key))
        assert stored == 5  # one per caller


def test_route_changes_onto_one_route_approved_at_once_each_get_their_own_place(
    city: City,
) -> None:
    # given ten route changes, each proposing its shop for the place after the route's last
    # stop (the same place: each was proposed while none was applied)
    with Session(city.engine) as s:
        proposed = s.execute(
            select(TicketChange.ticket_id, TicketChange.field_key, TicketChange.new_value)
            .where(TicketChange.ticket_id.in_(city.moves))
        ).all()  # fmt: skip
        last = s.scalar(
            select(func.max(Customer.delivery_sequence))
            .where(Customer.delivery_route_id == city.route_id)
        )  # fmt: skip
    assert {(k, v) for _, k, v in proposed} == {
        ("delivery_route", city.route_id), ("delivery_sequence", (last or 0) + 1)
    }  # fmt: skip
    # when checkers approve them all at once, five calls a ticket
    rng = random.Random(11)
    plan: list[tuple[int, int, str | None]] = [
        (t, rng.choice([u for u in city.tokens if u != maker]), None)
        for t, maker in city.moves.items()
        for _ in range(5)
    ]
    rng.shuffle(plan)
    answers = asyncio.run(fire(city, plan))
    # then no call failed: each ticket applied once, the other calls found it decided
    assert_clean(answers)
    server_log_is_clean(city)
    payloads = [a.payload() for a in answers]
    applied = [p["ticket"]["id"] for p in payloads if p["errors"] == []]
    assert sorted(applied) == sorted(city.moves)
    assert [p["errors"] for p in payloads if p["errors"]] == [[ALREADY_APPLIED]] * (
        len(plan) - MOVES
    )
    # and the shops took the places after the last stop, one each, in the order applied
    with Session(city.engine) as s:
        shops = s.execute(
            select(Customer.id, Customer.delivery_sequence)
            .join(Ticket, Ticket.customer_id == Customer.id)
            .where(Ticket.id.in_(city.moves), Customer.delivery_route_id == city.route_id)
        ).all()  # fmt: skip
        places = sorted(seq for _, seq in shops)
        assert places == list(range((last or 0) + 1, (last or 0) + 1 + MOVES))
        # and the ledger has each shop's route and place once, as the ticket finally holds
        ledger = collections.Counter(
            s.execute(
                select(LedgerEntry.ticket_id, LedgerEntry.field_key)
                .where(LedgerEntry.ticket_id.in_(city.moves))
            ).all()
        )  # fmt: skip
        assert ledger == {
            (t, k): 1 for t in city.moves for k in ("delivery_route", "delivery_sequence")
        }
        held = dict(
            s.execute(
                select(TicketChange.ticket_id, TicketChange.new_value).where(
                    TicketChange.ticket_id.in_(city.moves),
                    TicketChange.field_key == "delivery_sequence",
                )
            ).all()
        )
        by_ticket = dict(
            s.execute(
                select(Ticket.id, Customer.delivery_sequence)
                .join(Customer, Customer.id == Ticket.customer_id)
                .where(Ticket.id.in_(city.moves))
            ).all()
        )  # fmt: skip
        assert held == by_ticket


def test_an_idle_keep_alive_connection_outlasts_the_client_pools_expiry(city: City) -> None:
    # given one connection that has served a request
    host, port = city.base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", "/healthz")
        assert conn.getresponse().read() and conn.sock is not None
        sock = conn.sock
        # when it sits idle longer than uvicorn's default (5 s) and than httpx keeps its own
        time.sleep(6)
        # then the server still answers on it (it had closed it: a pooled client sending
        # at that moment got a reset instead of an answer)
        conn.request("GET", "/healthz")
        res = conn.getresponse()
        assert res.status == 200 and res.read() and conn.sock is sock
    finally:
        conn.close()
