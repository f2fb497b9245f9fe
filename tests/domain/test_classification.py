"""Classification recompute: 20/60/20 per format, provisional new shops, diff, apply, ledger."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.classification import (
    ClassificationDiff,
    ScaleChange,
    apply_classification,
    compute_classification,
    recompute_classification,
)
from domain.demo import load_demo
from domain.errors import INVALID, STALE_VERSION, DomainError

AS_OF = dt.date(2025, 1, 15)
START, END = dt.date(2024, 1, 1), dt.date(2024, 12, 31)
MONTHS = tuple(dt.date(2024, m, 1) for m in range(1, 13))
LONG_AGO = dt.date(2020, 5, 1)


class Shops:
    """Hand-made shops and purchases, inserted in the test's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.seq = 0

    def add(
        self,
        cartons: float | None = None,
        amount: float | None = None,
        *,
        fmt: str | None = "convenience",
        market: str = "urban",
        months: tuple[dt.date, ...] = MONTHS,
        joined: dt.date | None = LONG_AGO,
        status: str = "active",
        scale: int | None = None,
        code: str | None = None,
    ) -> int:
        """A shop buying ``cartons`` and ``amount`` yuan in each of ``months`` (none if None)."""
        self.seq += 1
        number = f"{self.seq:012d}"
        shop_id: int = self.session.execute(
            text("""
                INSERT INTO customers (customer_code, shop_name, licence_no, business_format,
                    market_type, status, joined_on, business_scale, classification)
                VALUES (:n, :name, :n, CAST(:fmt AS customer_business_format),
                    CAST(:market AS customer_market_type), CAST(:status AS customer_status),
                    :joined, :scale, :code)
                RETURNING id"""),
            {"n": number, "name": f"测试商店{self.seq}", "fmt": fmt, "market": market,
             "status": status, "joined": joined, "scale": scale, "code": code},
        ).scalar_one()  # fmt: skip
        if cartons is not None:
            self.session.execute(
                text("INSERT INTO purchase_records VALUES (:id, :month, :cartons, :amount, 20)"),
                [{"id": shop_id, "month": m, "cartons": cartons, "amount": amount} for m in months],
            )
        return shop_id

    def ladder(self, order: list[int], **kw: Any) -> dict[int, int]:
        """Shops i in ``order`` (inserted in that order) buying 10·i cartons, 1000·i yuan a month.

        Over 12 months their score is exactly i / sum(order).
        """
        return {i: self.add(10 * i, 1000 * i, **kw) for i in order}


def scalar(session: Session, sql: str, **params: object) -> Any:
    return session.execute(text(sql), params).scalar_one()


def state(session: Session) -> list[tuple[Any, ...]]:
    """Every shop's scale, code and version, and the whole ledger."""
    shops = session.execute(
        text("SELECT id, business_scale, classification, version FROM customers ORDER BY id")
    ).all()
    ledger = session.execute(text("SELECT count(*), max(id) FROM ledger_entries")).all()
    return [tuple(r) for r in [*shops, *ledger]]


def compute(session: Session, as_of: dt.date = AS_OF) -> ClassificationDiff:
    return compute_classification(session, period_start=START, period_end=END, as_of=as_of)


def by_id(diff: ClassificationDiff) -> dict[int, ScaleChange]:
    return {c.customer_id: c for c in diff.changes}


@pytest.fixture
def shops(session: Session) -> Shops:
    return Shops(session)


@pytest.fixture
def actor_id(session: Session) -> int:
    session.execute(
        text("INSERT INTO org_units (id, code, name, kind) VALUES (1, 'c', '市', 'city')")
    )
    return int(
        scalar(session, """INSERT INTO users (username, display_name, role, org_unit_id)
            VALUES ('mk', '市场部', 'market_dept', 1) RETURNING id""")
    )  # fmt: skip


# -- the cut ------------------------------------------------------------------------------------


def test_ten_shops_split_two_six_two(session: Session, shops: Shops) -> None:
    # Given 10 convenience stores with scores i/55 (i = 1..10), inserted out of score order
    ids = shops.ladder([3, 7, 1, 10, 5, 2, 9, 4, 8, 6])

    # When the classification is computed
    diff = compute(session)

    # Then the top 2 are 大 (1), the bottom 2 小 (3), the middle 6 中 (2)
    changes = by_id(diff)
    assert {i: changes[ids[i]].new_scale for i in range(1, 11)} == {
        10: 1, 9: 1, 8: 2, 7: 2, 6: 2, 5: 2, 4: 2, 3: 2, 2: 3, 1: 3,
    }  # fmt: skip
    assert diff.shops_scored == 10
    assert diff.counts_by_scale == {"convenience": {1: 2, 2: 6, 3: 2}}
    top, bottom = changes[ids[10]], changes[ids[1]]
    assert (top.rank, top.format_count, top.score) == (1, 10, pytest.approx(10 / 55))
    assert top.reason == "业态内得分排名 1/10（前20%）→ 大"
    assert top.new_classification == "urban-convenience-1"
    assert changes[ids[5]].reason == "业态内得分排名 6/10（中间60%）→ 中"
    assert bottom.reason == "业态内得分排名 10/10（后20%）→ 小"
    assert not any(c.provisional for c in diff.changes)
    assert (diff.period_start, diff.period_end, diff.as_of) == (START, END, AS_OF)


def test_ties_are_broken_by_the_lower_customer_id(session: Session, shops: Shops) -> None:
    # Given 5 shops (k = 1): two tie at the top, two tie at the bottom
    first, second = shops.add(50, 5000), shops.add(50, 5000)
    middle = shops.add(30, 3000)
    low_a, low_b = shops.add(10, 1000), shops.add(10, 1000)

    # When computed
    changes = by_id(compute(session))

    # Then within a tie the lower id ranks first, so the boundaries split the ties
    got = {k: (changes[k].rank, changes[k].new_scale) for k in changes}
    assert got == {first: (1, 1), second: (2, 2), middle: (3, 2), low_a: (4, 2), low_b: (5, 3)}
    assert changes[first].score == changes[second].score


def test_shop_without_purchases_in_the_period_scores_zero(session: Session, shops: Shops) -> None:
    # Given 5 shops, one of which bought only before the period
    shops.ladder([1, 2, 3, 4])
    idle = shops.add(500, 50000, months=(dt.date(2023, 12, 1),))

    # When computed
    change = by_id(compute(session))[idle]

    # Then it scores 0 and is 小
    assert (change.score, change.rank, change.new_scale) == (0.0, 5, 3)
    assert change.reason == "统计期内无进货，得分为 0；业态内得分排名 5/5（后20%）→ 小"


def test_formats_are_ranked_independently(session: Session, shops: Shops) -> None:
    # Given big convenience stores and small supermarkets
    big = shops.ladder([10, 20, 30, 40, 50])
    small = shops.ladder([1, 2, 3, 4, 5], fmt="supermarket", market="rural")

    # When computed
    diff = compute(session)
    changes = by_id(diff)

    # Then each format has its own 1/3/1, whatever the other format buys
    assert [changes[big[i]].new_scale for i in (10, 20, 30, 40, 50)] == [3, 2, 2, 2, 1]
    assert [changes[small[i]].new_scale for i in (1, 2, 3, 4, 5)] == [3, 2, 2, 2, 1]
    assert changes[small[5]].new_classification == "rural-supermarket-1"
    assert changes[small[5]].score == pytest.approx(5 / 15)
    assert diff.counts_by_scale == {
        "convenience": {1: 1, 2: 3, 3: 1},
        "supermarket": {1: 1, 2: 3, 3: 1},
    }


# -- provisional new shops ----------------------------------------------------------------------


def test_new_shops_are_placed_by_the_cut_off_scores(session: Session, shops: Shops) -> None:
    # Given 10 established shops scoring i/55 (cut-offs: 大 from 9/55, 小 up to 2/55)
    ids = shops.ladder(list(range(1, 11)))
    # and shops that joined in December, with one month of purchases
    dec = (dt.date(2024, 12, 1),)
    new = {
        cartons: shops.add(cartons, cartons * 100, months=dec, joined=dt.date(2024, 12, 1))
        for cartons in (95, 90, 55, 15)
    }
    unbought = shops.add(joined=dt.date(2025, 1, 10))  # joined after the period
    alone = shops.add(40, 4000, fmt="other", months=dec, joined=dt.date(2024, 12, 1))

    # When computed
    diff = compute(session)
    changes = by_id(diff)

    # Then the established ranking and scores ignore the new shops (9 stays 大)
    assert changes[ids[9]].new_scale == 1 and changes[ids[9]].rank == 2
    assert changes[ids[9]].score == pytest.approx(9 / 55)
    # and a new shop's monthly average is set against the cut-offs (ties with c1 count as 大)
    placed = {k: (changes[v].new_scale, changes[v].rank, changes[v].provisional)
              for k, v in new.items()}  # fmt: skip
    assert placed == {95: (1, 2, True), 90: (1, 2, True), 55: (2, 6, True), 15: (3, 10, True)}
    assert changes[new[95]].score == pytest.approx(9.5 / 55)
    assert changes[new[90]].score == changes[ids[9]].score
    assert changes[new[95]].reason == "入网不足一季度，按月均进货暂定为 大（折合业态内排名 2/10）"
    assert changes[new[15]].format_count == 10
    # and shops without a month to judge, or without established peers, are 中
    assert (changes[unbought].new_scale, changes[unbought].rank) == (2, 0)
    assert changes[unbought].reason == "入网不足一季度，统计期内尚无进货月份，暂定为 中"
    assert (changes[alone].new_scale, changes[alone].format_count) == (2, 0)
    assert changes[alone].reason == "入网不足一季度，业态内暂无可比的老客户，暂定为 中"
    assert diff.counts_by_scale == {
        "convenience": {1: 4, 2: 8, 3: 3},
        "other": {1: 0, 2: 1, 3: 0},
    }


def test_a_quarter_is_counted_back_from_as_of(session: Session, shops: Shops) -> None:
    # Given two shops joined exactly three months before as_of and one day later
    on_the_day = shops.add(10, 1000, fmt="tobacco_liquor", joined=dt.date(2024, 10, 15))
    day_after = shops.add(10, 1000, fmt="tobacco_liquor", joined=dt.date(2024, 10, 16))

    # When computed
    changes = by_id(compute(session))

    # Then the first is established, the second provisional
    assert (changes[on_the_day].provisional, changes[day_after].provisional) == (False, True)


# -- who is scored, and the diff ----------------------------------------------------------------


def test_closed_shops_and_shops_without_format_are_untouched(
    session: Session, shops: Shops
) -> None:
    # Given five active shops, a closed big buyer, a suspended shop and one without a format
    ids = shops.ladder([1, 2, 3, 4])
    closed = shops.add(900, 90000, status="closed", scale=3, code="urban-convenience-3")
    suspended = shops.add(50, 5000, status="suspended")
    unformatted = shops.add(900, 90000, fmt=None, scale=2, code="urban-None-2")

    # When recomputed and applied
    diff = recompute_classification(
        session, period_start=START, period_end=END, as_of=AS_OF, actor_id=None
    )

    # Then the closed and unformatted shops are neither scored nor changed
    assert set(by_id(diff)) == {*ids.values(), suspended}
    assert diff.shops_scored == 5
    assert by_id(diff)[suspended].score == pytest.approx(50 / 150)
    sql = "SELECT business_scale, classification, version FROM customers WHERE id = ANY(:ids)"
    rows = session.execute(text(sql + " ORDER BY id"), {"ids": [closed, unformatted]}).all()
    assert [tuple(r) for r in rows] == [(3, "urban-convenience-3", 1), (2, "urban-None-2", 1)]
    assert scalar(session, "SELECT count(*) FROM customers WHERE version = 2") == 5


def test_the_diff_lists_only_changes(session: Session, shops: Shops) -> None:
    # Given ten shops already classified, except three
    ids = {
        i: shops.add(10 * i, 1000 * i, scale=s, code=f"urban-convenience-{s}")
        for i, s in ((2, 3), (3, 2), (4, 2), (6, 2), (7, 2), (8, 2), (9, 1))
    }
    ids[10] = shops.add(100, 10000, scale=2, code="urban-convenience-2")  # grew: 中 → 大
    ids[1] = shops.add(10, 1000)  # never classified
    ids[5] = shops.add(50, 5000, scale=2, code="rural-convenience-2")  # market type changed

    # When computed
    diff = compute(session)

    # Then only those three are listed, with old and new values and the reason
    assert [(c.customer_id, c.old_scale, c.new_scale, c.old_classification,
             c.new_classification) for c in diff.changes] == [
        (ids[10], 2, 1, "urban-convenience-2", "urban-convenience-1"),
        (ids[5], 2, 2, "rural-convenience-2", "urban-convenience-2"),
        (ids[1], None, 3, None, "urban-convenience-3"),
    ]  # fmt: skip
    assert [c.reason for c in diff.changes] == [
        "业态内得分排名 1/10（前20%）→ 大",
        "业态内得分排名 6/10（中间60%）→ 中",
        "业态内得分排名 10/10（后20%）→ 小",
    ]
    assert diff.counts_by_scale == {"convenience": {1: 2, 2: 6, 3: 2}}


# -- applying -----------------------------------------------------------------------------------


def test_apply_writes_the_ledger_and_bumps_versions(
    session: Session, shops: Shops, actor_id: int
) -> None:
    # Given the same ten shops, three of them out of date
    keep = {i: shops.add(10 * i, 1000 * i, scale=s, code=f"urban-convenience-{s}")
            for i, s in ((2, 3), (3, 2), (4, 2), (6, 2), (7, 2), (8, 2), (9, 1))}  # fmt: skip
    grew = shops.add(100, 10000, scale=2, code="urban-convenience-2")
    fresh = shops.add(10, 1000)
    moved = shops.add(50, 5000, scale=2, code="rural-convenience-2")
    request_id = uuid.uuid4()

    # When recomputed and applied
    diff = compute(session)
    changed = apply_classification(session, diff, actor_id=actor_id, request_id=request_id)

    # Then the three shops carry the new values, one version further
    assert changed == 3
    rows = session.execute(
        text("SELECT id, business_scale, classification, version FROM customers ORDER BY id")
    ).all()
    now = {r.id: (r.business_scale, r.classification, r.version) for r in rows}
    assert now[grew] == (1, "urban-convenience-1", 2)
    assert now[fresh] == (3, "urban-convenience-3", 2)
    assert now[moved] == (2, "urban-convenience-2", 2)
    assert all(now[k][2] == 1 for k in keep.values())
    # and the ledger holds one row per changed field: two for a scale change
    ledger = session.execute(
        text("""SELECT customer_id, field_key, old_value, new_value, source::text, actor_id,
                       request_id, ticket_id
                FROM ledger_entries ORDER BY customer_id, field_key""")
    ).all()
    assert [tuple(r) for r in ledger] == [
        (grew, "business_scale", 2, 1, "classification", actor_id, request_id, None),
        (grew, "classification", "urban-convenience-2", "urban-convenience-1",
         "classification", actor_id, request_id, None),
        (fresh, "business_scale", None, 3, "classification", actor_id, request_id, None),
        (fresh, "classification", None, "urban-convenience-3", "classification", actor_id,
         request_id, None),
        (moved, "classification", "rural-convenience-2", "urban-convenience-2",
         "classification", actor_id, request_id, None),
    ]  # fmt: skip
    assert scalar(session, "SELECT count(*) FROM ledger_entries WHERE old_value = 'null'") == 0
    assert scalar(session, "SELECT jsonb_typeof(new_value) FROM ledger_entries "
                  "WHERE field_key = 'business_scale' LIMIT 1") == "number"  # fmt: skip


def test_a_second_recompute_changes_nothing(session: Session, shops: Shops) -> None:
    # Given shops recomputed and applied once
    shops.ladder(list(range(1, 11)))
    shops.add(60, 6000, months=(dt.date(2024, 12, 1),), joined=dt.date(2024, 12, 1))
    first = recompute_classification(
        session, period_start=START, period_end=END, as_of=AS_OF, actor_id=None
    )
    after_first = state(session)

    # When recomputed again right away
    second = recompute_classification(
        session, period_start=START, period_end=END, as_of=AS_OF, actor_id=None
    )

    # Then there is nothing to change, and nothing changed
    assert len(first.changes) == 11
    assert second.changes == ()
    assert second.counts_by_scale == first.counts_by_scale
    assert state(session) == after_first


def test_compute_alone_writes_nothing(session: Session, shops: Shops) -> None:
    # Given unclassified shops
    shops.ladder([1, 2, 3])
    before = state(session)

    # When only computed (also through recompute with apply=False)
    compute(session)
    diff = recompute_classification(
        session, period_start=START, period_end=END, as_of=AS_OF, actor_id=None, apply=False
    )

    # Then nothing changed
    assert len(diff.changes) == 3
    assert state(session) == before


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (END, START, "统计期结束日 2024-01-01 早于开始日 2024-12-31"),
        (dt.date(2030, 1, 1), dt.date(2030, 12, 31),
         "统计期 2030-01-01 至 2030-12-31 内没有任何进货记录月份"),
    ],
)  # fmt: skip
def test_a_bad_period_is_refused(
    session: Session, shops: Shops, start: dt.date, end: dt.date, message: str
) -> None:
    # Given shops to classify
    shops.ladder([1, 2, 3, 4, 5])
    before = state(session)

    # When recomputed over a bad period
    with pytest.raises(DomainError) as caught:
        recompute_classification(
            session, period_start=start, period_end=end, as_of=AS_OF, actor_id=None
        )

    # Then it is refused and nothing changed
    assert (caught.value.code, caught.value.message, caught.value.field) == (
        INVALID, message, "period"
    )  # fmt: skip
    assert state(session) == before


@pytest.mark.parametrize(
    "change",
    ["business_scale = 1", "business_format = 'supermarket'", "market_type = 'rural'",
     "status = 'closed'"],
)  # fmt: skip
def test_a_diff_overtaken_by_another_change_is_refused(
    session: Session, shops: Shops, change: str
) -> None:
    # Given a computed diff, after which one of its shops was changed
    ids = shops.ladder([1, 2, 3, 4, 5])
    diff = compute(session)
    session.execute(text(f"UPDATE customers SET {change} WHERE id = :id"), {"id": ids[3]})
    before = state(session)

    # When the diff is applied
    with pytest.raises(DomainError) as caught:
        apply_classification(session, diff, actor_id=None)

    # Then it is refused as stale and nothing is written
    assert (caught.value.code, caught.value.message) == (
        STALE_VERSION, "有 1 户的经营规模或分类在计算后已变化，请重新计算"
    )  # fmt: skip
    assert state(session) == before


# -- the demo city ------------------------------------------------------------------------------


def test_demo_city_recompute_is_consistent(session: Session) -> None:
    # Given a 600-shop demo city
    as_of = dt.date(2025, 3, 18)
    load_demo(session.connection(), shops=600, seed=11, as_of=as_of)
    closed_before = session.execute(text(
        "SELECT id, business_scale, classification, version FROM customers"
        " WHERE status = 'closed' ORDER BY id")).all()  # fmt: skip

    # When the last 12 months are recomputed and applied
    start, end = dt.date(2024, 3, 1), dt.date(2025, 2, 28)
    diff = recompute_classification(
        session, period_start=start, period_end=end, as_of=as_of, actor_id=None
    )

    # Then every scored shop carries the code of its scale, established shops split 20/60/20
    # per format, closed shops are as they were, and the ledger matches the diff
    wrong = scalar(
        session,
        """SELECT count(*) FROM customers WHERE status <> 'closed'
        AND classification IS DISTINCT FROM
            market_type || '-' || business_format || '-' || business_scale""",
    )
    assert wrong == 0
    assert diff.shops_scored == scalar(
        session, "SELECT count(*) FROM customers WHERE status <> 'closed'"
    )
    established = session.execute(text("""
        SELECT business_format::text, business_scale, count(*) FROM customers
        WHERE status <> 'closed' AND joined_on <= DATE '2024-12-18'
        GROUP BY 1, 2""")).all()  # fmt: skip
    per_format: dict[str, dict[int, int]] = {}
    for fmt, scale, n in established:
        per_format.setdefault(fmt, {1: 0, 2: 0, 3: 0})[scale] = n
    for fmt, counts in per_format.items():
        n = sum(counts.values())
        k = int(0.2 * n + 0.5)
        assert (counts[1], counts[3]) == (k, k), fmt
    assert session.execute(text(
        "SELECT id, business_scale, classification, version FROM customers"
        " WHERE status = 'closed' ORDER BY id")).all() == closed_before  # fmt: skip
    scale_moves = sum(c.old_scale != c.new_scale for c in diff.changes)
    assert scalar(session, "SELECT count(*) FROM ledger_entries") == len(diff.changes) + scale_moves
    assert any(c.provisional for c in diff.changes)
    again = compute_classification(session, period_start=start, period_end=end, as_of=as_of)
    assert again.changes == ()
