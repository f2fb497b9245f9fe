"""Server time of two admin pages on the 100,000-shop demo city: the customer list with a
search and two filters (target p50 < 150 ms) and a planner map tile at city zoom (target
p50 < 50 ms).

The app is called in-process through its ASGI interface (no network, no browser): what is
measured is the server's own time per request, the session gate (cookie → session row →
principal) included. Signed in as the city-wide market department user. Last line:
``{"list_p50_ms": …, "tile_p50_ms": …}``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from benchdb import bench_database, ensure_demo_city  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from api.app import create_app  # noqa: E402
from api.db import make_engine  # noqa: E402
from api.secrets import make_vault  # noqa: E402
from api.settings import Settings  # noqa: E402
from domain.models import User  # noqa: E402
from domain.signin import start_session  # noqa: E402

SHOPS = 100_000
WARMUP = 5
RUNS = 60
CITY_ZOOM = 12
SEARCH = "便利"


def tile_of(lng: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lng + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def pick(engine: Any) -> dict[str, Any]:
    """The busiest county and business format, the distribution centre's busiest weekday,
    and the tile holding the centre of that day's shops."""
    with engine.connect() as conn:
        county = conn.execute(text(
            "SELECT r.code, count(*) FROM customers c JOIN regions r ON r.id = c.admin_region_id"
            " GROUP BY r.code ORDER BY 2 DESC LIMIT 1")).one()  # fmt: skip
        fmt = conn.execute(text(
            "SELECT business_format, count(*) FROM customers WHERE business_format IS NOT NULL"
            " GROUP BY 1 ORDER BY 2 DESC LIMIT 1")).one()  # fmt: skip
        day = conn.execute(text(
            "SELECT d.id, r.weekday, count(*), ST_X(ST_Centroid(ST_Collect(c.location))),"
            " ST_Y(ST_Centroid(ST_Collect(c.location)))"
            " FROM customers c JOIN delivery_routes r ON r.id = c.delivery_route_id"
            " JOIN depots d ON d.id = r.depot_id WHERE d.kind = 'distribution_centre'"
            " GROUP BY d.id, r.weekday ORDER BY 3 DESC LIMIT 1")).one()  # fmt: skip
    x, y = tile_of(day[3], day[4], CITY_ZOOM)
    return {
        "county": county[0], "county_shops": county[1], "format": fmt[0],
        "depot": day[0], "weekday": day[1], "day_shops": day[2], "tile": (CITY_ZOOM, x, y),
    }  # fmt: skip


def session_cookie(engine: Any) -> str:
    with Session(engine) as s:
        user = s.query(User).filter(User.username == "market_dept").one()
        info = start_session(
            s, user_id=user.id, ip="127.0.0.1", user_agent="bench", now=dt.datetime.now(dt.UTC)
        )
        s.commit()
    return info.session_id


async def timed(client: httpx.AsyncClient, url: str) -> tuple[list[float], httpx.Response]:
    last = None
    for _ in range(WARMUP):
        last = await client.get(url)
        if last.status_code != 200:
            raise SystemExit(f"{url} answered {last.status_code}: {last.text[:300]}")
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        last = await client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert last.status_code == 200, last.status_code
    assert last is not None
    return times, last


def figures(times: list[float]) -> dict[str, float]:
    q = statistics.quantiles(times, n=100)
    return {"p50_ms": round(statistics.median(times), 2), "p90_ms": round(q[89], 2),
            "min_ms": round(min(times), 2)}  # fmt: skip


async def measure(app: Any, cookie: str, p: dict[str, Any]) -> dict[str, dict[str, float]]:
    transport = httpx.ASGITransport(app=app)
    out: dict[str, dict[str, float]] = {}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench", cookies={"rgis_session": cookie}
    ) as client:
        lists = {
            "list (search + county + format)": {
                "q": SEARCH, "county": p["county"], "business_format": p["format"]},
            "list (no filter, first page)": {},
        }  # fmt: skip
        for name, params in lists.items():
            times, res = await timed(client, "/admin/customers?" + urlencode(params))
            out[name] = figures(times)
            print(f"{name:36} {out[name]}  ({len(res.content):,} bytes)", flush=True)
        z, x, y = p["tile"]
        tiles = {
            "tile (depot + weekday)": {"depot": p["depot"], "weekday": p["weekday"]},
            "tile (depot, all weekdays)": {"depot": p["depot"]},
        }
        for name, params in tiles.items():
            url = f"/admin/planner/tiles/{z}/{x}/{y}.pbf?" + urlencode(params)
            times, res = await timed(client, url)
            out[name] = figures(times)
            print(f"{name:36} {out[name]}  ({len(res.content):,} bytes)", flush=True)
    return out


def main() -> None:
    with bench_database() as url:
        ensure_demo_city(url, SHOPS)
        engine = make_engine(url, pool_size=4)
        p = pick(engine)
        print(
            f"data: county {p['county']} ({p['county_shops']:,} shops), format {p['format']}, "
            f"depot {p['depot']} weekday {p['weekday']} ({p['day_shops']:,} shops), "
            f"tile z/x/y {'/'.join(map(str, p['tile']))}"
        )
        settings = Settings(app_env="production", data_dir=Path(tempfile.mkdtemp()))
        app = create_app(settings, engine, vault=make_vault(Settings.from_env()))
        cookie = session_cookie(engine)
        out = asyncio.run(measure(app, cookie, p))
        engine.dispose()
    last = {
        "list_p50_ms": out["list (search + county + format)"]["p50_ms"],
        "tile_p50_ms": out["tile (depot + weekday)"]["p50_ms"],
    }
    print(json.dumps(last))


if __name__ == "__main__":
    main()
