"""The shops' own attributes (identity, basic, business mode), vectorised over all shops.

Enum values are the catalogue's codes; probability tables are keyed by code and checked
against ``fields.csv`` so a renamed code fails loudly instead of writing a bad value.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from domain.catalogue import choice_codes
from domain.demo.common import BoolArray, DateArray, FloatArray, IntArray, to_metres
from domain.demo.geography import City
from domain.demo.locations import Places
from domain.demo.names import (
    BANKS,
    BUSINESS_SCOPES,
    person_names,
    shop_names,
)
from domain.demo.numbers import (
    bank_accounts,
    id_numbers,
    landlines,
    mobile_phones,
    tax_ids,
    unique_digits,
)
from domain.demo.pgcopy import Column

FORMATS = choice_codes("business_format")
FORMAT_MIX_URBAN = {"convenience": .34, "supermarket": .13, "grocery": .20,
                    "tobacco_liquor": .23, "entertainment": .06, "other": .04}  # fmt: skip
FORMAT_MIX_RURAL = {"convenience": .10, "supermarket": .11, "grocery": .56,
                    "tobacco_liquor": .13, "entertainment": .04, "other": .06}  # fmt: skip
ENTERPRISE_SHARE = {"convenience": .20, "supermarket": .45, "grocery": .03,
                    "tobacco_liquor": .10, "entertainment": .35, "other": .10}  # fmt: skip
AREA_MEDIAN_M2 = {"convenience": 60, "supermarket": 220, "grocery": 30,
                  "tobacco_liquor": 35, "entertainment": 120, "other": 25}  # fmt: skip
STATUS_P = {"active": 0.97, "suspended": 0.02, "closed": 0.01}
ORDER_METHOD_P = {"online": 0.80, "phone": 0.10, "mobile": 0.06, "wechat": 0.04}
FREQUENCY_P = {"weekly": 0.92, "biweekly": 0.06, "monthly": 0.02}
CYCLE_DAYS = {"weekly": 7, "biweekly": 14, "monthly": 30}
PROMOTION_P = {"none": 0.70, "occasional": 0.25, "frequent": 0.05}
OTHER_ORIGINS = ("610124", "610115", "610114", "610425", "610426", "610521", "610581",
                 "610602", "612301", "610302", "610623", "610102")  # fmt: skip
COMPOUNDS = ("阳光小区", "金色家园", "翠华小区", "枫林绿洲", "曲江花园", "紫薇田园都市",
             "融侨馨苑", "绿地世纪城", "万科城", "电力家属院", "铁路新村", "幸福里",
             "锦园新世纪", "龙湖香醍", "南郊家属院", "建工家属院")  # fmt: skip
RESIDENT_SHARE = 0.55  # owners who live at the shop


def codes_p(key: str, table: dict[str, float]) -> tuple[tuple[str, ...], FloatArray]:
    """Codes and probabilities of a catalogue enum, in catalogue order."""
    allowed = choice_codes(key)
    unknown = set(table) - set(allowed)
    if unknown:
        raise ValueError(f"demo uses unknown {key} codes: {sorted(unknown)}")
    codes = tuple(c for c in allowed if c in table)
    p = np.array([table[c] for c in codes])
    return codes, p / p.sum()


def choose(
    rng: np.random.Generator, key: str, table: dict[str, float], n: int
) -> tuple[IntArray, tuple[str, ...]]:
    codes, p = codes_p(key, table)
    return rng.choice(len(codes), size=n, p=p), codes


@dataclass
class Shops:
    """All shops as arrays (row i is customer id i + 1) and their COPY columns so far."""

    n: int
    as_of: dt.date
    places: Places
    region_codes: list[str]
    joined: DateArray
    newest: BoolArray
    fmt: IntArray  # index into FORMATS
    status: IntArray  # index into choice_codes("status")
    enterprise: BoolArray
    area_m2: FloatArray
    names: list[str]
    owners: list[str]
    phones: list[str]
    cols: dict[str, Column] = field(default_factory=dict)

    @property
    def ids(self) -> IntArray:
        return np.arange(1, self.n + 1, dtype=np.int64)

    @property
    def urban(self) -> BoolArray:
        return self.places.urban


def _joined_dates(rng: np.random.Generator, n: int, as_of: dt.date) -> tuple[DateArray, BoolArray]:
    newest_count = min(n, max(3, round(n * 0.003)))
    recent_count = round(n * 0.08)
    days = rng.integers(366, 3650, size=n)
    kind = rng.permutation(n)
    newest = kind < newest_count
    recent = (kind >= newest_count) & (kind < newest_count + recent_count)
    days[newest] = rng.integers(1, 8, size=int(newest.sum()))
    days[recent] = rng.integers(8, 366, size=int(recent.sum()))
    return np.datetime64(as_of, "D") - days.astype("timedelta64[D]"), newest


def _add_years(dates: DateArray, years: int) -> DateArray:
    """``dates`` plus whole years (29 Feb becomes 28 Feb)."""
    uniq, inv = np.unique(dates, return_inverse=True)
    out = []
    for d in uniq.astype(dt.date).tolist():
        try:
            out.append(d.replace(year=d.year + years))
        except ValueError:
            out.append(d.replace(year=d.year + years, day=28))
    return np.array(out, dtype="datetime64[D]")[inv]


def generate_shops(
    city: City, raw_places: Places, as_of: dt.date, rng: np.random.Generator
) -> Shops:
    """Identity, basic and business-mode attributes; shops ordered by joining date."""
    n = len(raw_places.lng)
    joined, newest = _joined_dates(rng, n, as_of)
    order = np.lexsort((rng.random(n), joined))
    places = raw_places.take(order)
    joined, newest = joined[order], newest[order]
    regions = city.regions
    region_codes = [regions[i].spec.code for i in places.region.tolist()]
    region_names = [regions[i].spec.name for i in places.region.tolist()]
    urban = places.urban

    fmt = np.empty(n, dtype=np.int64)
    for mask, mix in ((urban, FORMAT_MIX_URBAN), (~urban, FORMAT_MIX_RURAL)):
        idx, codes = choose(rng, "business_format", mix, int(mask.sum()))
        fmt[mask] = np.array([FORMATS.index(c) for c in codes])[idx]
    fmt_codes = [FORMATS[i] for i in fmt.tolist()]

    status, _ = choose(rng, "status", STATUS_P, n)
    status[newest] = choice_codes("status").index("active")
    enterprise = rng.random(n) < np.array([ENTERPRISE_SHARE[c] for c in FORMATS])[fmt]
    area = np.round(
        np.array([AREA_MEDIAN_M2[c] for c in FORMATS], dtype=np.float64)[fmt]
        * rng.lognormal(0.0, 0.35, n)
        * np.where(urban, 1.0, 0.8),
        1,
    )
    area = np.maximum(area, 6.0)
    owners = person_names(rng, n)
    names = shop_names(rng, fmt_codes, owners)
    phones = mobile_phones(rng, n)
    landline = rng.random(n) < 0.08
    for i, number in zip(
        np.flatnonzero(landline).tolist(), landlines(rng, int(landline.sum())), strict=True
    ):
        phones[i] = number

    shops = Shops(n, as_of, places, region_codes, joined, newest, fmt, status, enterprise, area,
                  names, owners, phones)  # fmt: skip
    _identity(shops, rng, city)
    _basic(shops, rng, region_names)
    _business_mode(shops, rng, city)
    return shops


def _identity(shops: Shops, rng: np.random.Generator, city: City) -> None:
    n, ids, as_of = shops.n, shops.ids, shops.as_of
    cols = shops.cols
    cols["id"] = Column("int", ids)
    cols["version"] = Column("int", np.ones(n, dtype=np.int64))
    cols["created_at"] = Column("template", shops.joined, labels=("{} 09:00:00+08",))
    cols["updated_at"] = cols["created_at"]
    cols["customer_code"] = Column(
        "raw",
        [f"6101{rc[4:6]}{i:06d}" for rc, i in zip(shops.region_codes, ids.tolist(), strict=True)],
    )
    cols["shop_name"] = Column("text", shops.names)
    licence = [""] * n
    for r, region in enumerate(city.regions):
        members = np.flatnonzero(shops.places.region == r)
        numbers = unique_digits(rng, len(members), 6, first_min=2)
        for i, num in zip(members.tolist(), numbers, strict=True):
            licence[i] = region.spec.code + num
    cols["licence_no"] = Column("raw", licence)
    temporary = rng.random(n) < 0.01
    cols["licence_type"] = Column(
        "enum", temporary.astype(np.int64), labels=choice_codes("licence_type")
    )
    bureaus = tuple(f"西安市{r.spec.name}烟草专卖局" for r in city.regions)
    cols["issuing_bureau"] = Column("enum", shops.places.region, labels=bureaus)
    today = np.datetime64(as_of, "D")
    # A licence runs five years; older shops hold a renewed one issued in the last five years.
    renewal = today - rng.integers(20, 5 * 365 - 10, size=n).astype("timedelta64[D]")
    first = shops.joined - rng.integers(3, 30, size=n).astype("timedelta64[D]")
    issued = np.where(shops.joined > today - np.timedelta64(5 * 365 - 40, "D"), first, renewal)
    expires = _add_years(issued, 5)
    cols["licence_issued_on"] = Column("date", issued)
    cols["licence_expires_on"] = Column("date", expires)
    review = today - rng.integers(5, 360, size=n).astype("timedelta64[D]")
    cols["annual_review_on"] = Column("date", np.maximum(review, issued))
    cols["responsible_person"] = Column("text", shops.owners)


def _basic(shops: Shops, rng: np.random.Generator, region_names: list[str]) -> None:
    n, cols, places, urban = shops.n, shops.cols, shops.places, shops.urban
    fmt_codes = [FORMATS[i] for i in shops.fmt.tolist()]
    cols["address"] = Column("text", places.address)
    cols["admin_region_id"] = Column("int", places.region + 1)
    scope_pick = rng.integers(0, 2, size=n).tolist()
    cols["business_scope"] = Column(
        "text", [BUSINESS_SCOPES[f][k] for f, k in zip(fmt_codes, scope_pick, strict=True)]
    )
    cols["business_format"] = Column("enum", shops.fmt, labels=FORMATS)
    cols["business_nature"] = Column(
        "enum", shops.enterprise.astype(np.int64), labels=choice_codes("business_nature")
    )
    chain_p = np.where(
        np.isin(shops.fmt, [FORMATS.index("convenience"), FORMATS.index("supermarket")]), 0.16, 0.01
    )
    u = rng.random(n)
    nature = np.where(u < chain_p, 1, np.where(u > 0.97, 2, 0))  # ordinary / chain / key_account
    cols["customer_nature"] = Column("enum", nature, labels=choice_codes("customer_nature"))
    capital_small = np.array([10_000, 20_000, 30_000, 50_000, 100_000], dtype=np.float64)
    capital_big = np.array([500_000, 1_000_000, 2_000_000, 5_000_000], dtype=np.float64)
    capital = np.where(
        shops.enterprise,
        capital_big[rng.integers(0, len(capital_big), n)],
        capital_small[rng.integers(0, len(capital_small), n)],
    )
    cols["registered_capital"] = Column("dec2", capital)
    cols["business_area_m2"] = Column("dec1", shops.area_m2)
    shelf_heavy = shops.fmt == FORMATS.index("supermarket")
    display = np.where(
        shelf_heavy, rng.choice(3, n, p=[0.05, 0.55, 0.40]), rng.choice(3, n, p=[0.40, 0.10, 0.50])
    )
    cols["display_form"] = Column("enum", display, labels=choice_codes("display_form"))
    cols["tax_id"] = Column("raw", tax_ids(rng, shops.region_codes, shops.enterprise))
    general = shops.enterprise & (rng.random(n) < 0.6)
    cols["tax_type"] = Column("enum", general.astype(np.int64), labels=choice_codes("tax_type"))
    w_urban = np.array([b[2] for b in BANKS])
    w_rural = np.array([b[3] for b in BANKS])
    bank = np.where(
        urban,
        rng.choice(len(BANKS), n, p=w_urban / w_urban.sum()),
        rng.choice(len(BANKS), n, p=w_rural / w_rural.sum()),
    )
    local = rng.random(n) < 0.5
    branches: dict[tuple[int, str], str] = {}  # share one string per distinct branch
    branch = []
    for b, locality, reg, loc in zip(
        bank.tolist(), places.locality, region_names, local.tolist(), strict=True
    ):
        place = locality if loc else reg[:-1]
        name = branches.get((b, place))
        if name is None:
            suffix = "支行" if loc or b % 2 else "分理处"
            name = branches[(b, place)] = f"{BANKS[b][0]}西安{place}{suffix}"
        branch.append(name)
    cols["bank_name"] = Column("text", branch)
    cols["bank_account"] = Column("raw", bank_accounts(rng, [BANKS[b][1] for b in bank.tolist()]))
    other = person_names(rng, n)
    same = rng.random(n) < 0.7
    cols["contact_person"] = Column(
        "text", [o if s else c for o, c, s in zip(shops.owners, other, same.tolist(), strict=True)]
    )
    cols["phone"] = Column("raw", shops.phones)
    home = _home_addresses(rng, shops, region_names)
    cols["home_address"] = Column("text", home)
    mail_home = rng.random(n) < 0.1
    cols["mailing_address"] = Column(
        "text",
        [h if m else a for a, h, m in zip(places.address, home, mail_home.tolist(), strict=True)],
    )
    u = rng.random(n).tolist()
    origin = [
        OTHER_ORIGINS[int(v / 0.3 * len(OTHER_ORIGINS))] if v < 0.3 else rc
        for v, rc in zip(u, shops.region_codes, strict=True)
    ]
    age_days = np.clip(rng.normal(45, 10, n), 22, 68) * 365.25
    births = np.datetime64(shops.as_of, "D") - age_days.astype("timedelta64[D]")
    cols["id_number"] = Column("raw", id_numbers(rng, origin, births, rng.random(n) < 0.6))
    cols["market_type"] = Column(
        "enum", (~urban).astype(np.int64), labels=choice_codes("market_type")
    )
    cols["status"] = Column("enum", shops.status, labels=choice_codes("status"))
    cols["joined_on"] = Column("date", shops.joined)
    codes = cols["customer_code"].values
    cols["photo_shopfront"] = Column("template", codes, labels=("photos/{}/shopfront.jpg",))
    cols["photo_counter"] = Column("template", codes, labels=("photos/{}/counter.jpg",))


def _home_addresses(rng: np.random.Generator, shops: Shops, region_names: list[str]) -> list[str]:
    n = shops.n
    resident = rng.random(n) < RESIDENT_SHARE
    compound = rng.integers(0, len(COMPOUNDS), n).tolist()
    building = rng.integers(1, 30, n).tolist()
    unit = rng.integers(1, 6, n).tolist()
    floor = rng.integers(1, 25, n).tolist()
    room = rng.integers(1, 4, n).tolist()
    at_shop = (resident | ~shops.urban).tolist()
    out = []
    for i in range(n):
        if at_shop[i]:
            out.append(shops.places.address[i])
        else:
            out.append(
                f"西安市{region_names[i]}{shops.places.segment[i]}{COMPOUNDS[compound[i]]}"
                f"{building[i]}号楼{unit[i]}单元{floor[i]}0{room[i]}室"
            )
    return out


def _business_mode(shops: Shops, rng: np.random.Generator, city: City) -> None:
    n, cols, newest = shops.n, shops.cols, shops.newest
    method, methods = choose(rng, "order_method", ORDER_METHOD_P, n)
    method[newest] = methods.index("online")
    cols["order_method"] = Column("enum", method, labels=methods)
    cash = rng.random(n) < np.where(shops.urban, 0.06, 0.16)
    cash &= ~newest
    settlement = choice_codes("settlement_method")
    cols["settlement_method"] = Column(
        "enum",
        np.where(cash, settlement.index("cash"), settlement.index("electronic")),
        labels=settlement,
    )
    general = cols["tax_type"].values
    vat = (np.asarray(general) == 1) & (rng.random(n) < 0.8)
    cols["invoice_type"] = Column("enum", vat.astype(np.int64), labels=choice_codes("invoice_type"))
    freq, freqs = choose(rng, "order_frequency", FREQUENCY_P, n)
    freq[newest] = freqs.index("weekly")
    cols["order_frequency"] = Column("enum", freq, labels=freqs)
    cols["order_cycle_days"] = Column("int", np.array([CYCLE_DAYS[f] for f in freqs])[freq])
    pickups = [d for d in city.depots if d.spec.kind == "pickup_point"]
    px, py = to_metres(
        np.array([d.spec.lng for d in pickups]), np.array([d.spec.lat for d in pickups])
    )
    x, y = to_metres(shops.places.lng, shops.places.lat)
    dist = np.hypot(x[:, None] - px, y[:, None] - py)
    nearest = np.argmin(dist, axis=1)
    near = dist[np.arange(n), nearest] < 4000
    pickup = near & ~shops.urban & (rng.random(n) < 0.45) & ~newest
    modes = choice_codes("fulfilment_mode")
    cols["fulfilment_mode"] = Column(
        "enum", np.where(pickup, modes.index("pickup"), modes.index("delivery")), labels=modes
    )
    pickup_ids = np.array([d.id for d in pickups], dtype=np.int64)[nearest]
    cols["pickup_point_id"] = Column("int", pickup_ids, null=~pickup)
    promo, promos = choose(rng, "promotion_behaviour", PROMOTION_P, n)
    cols["promotion_behaviour"] = Column("enum", promo, labels=promos)
