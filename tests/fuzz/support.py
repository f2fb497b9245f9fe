"""What every answer of the fuzzers must look like (including the personal-data leak scan
of every answer and of the log records written meanwhile), and the strategies they draw
from."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import graphql
from hypothesis import strategies as st
from hypothesis_graphql import nodes

from domain.errors import ERROR_CODES
from tests.leaks import Artifact, Recorder, report, scan

SDL = (Path(__file__).parents[2] / "schema" / "schema.graphql").read_text(encoding="utf-8")
# codes an answer may carry: the domain's, and the transport's own (INTERNAL is a defect)
CODES = {*ERROR_CODES, "UNAUTHENTICATED"}
# what would betray the server's insides: a stack trace, the database driver or SQL
LEAKS = re.compile(
    r"Traceback|File \"|psycopg|sqlalchemy|SELECT |INSERT INTO|UPDATE \w+ SET|DELETE FROM|"
    r" FROM \w|\bWHERE \w|SQLSTATE|\.py\b",
    re.IGNORECASE,
)


def check_answer(res: Any, sent: str = "") -> dict[str, Any]:
    """An answer of POST /graphql: no 5xx, a JSON object, no leak, errors in the shapes the
    API documents (``message``; ``extensions.code`` from the known codes; never INTERNAL).

    ``sent`` is the request's text: a value the client sent and the server echoes (e.g. in
    "Variable '$x' has invalid value ...") is not a leak, so the check reads only what the
    server added."""
    assert res.status_code < 500, (res.status_code, res.text[:2000], sent[:3000])
    assert res.headers["content-type"].startswith("application/json"), res.headers
    body = json.loads(res.text)  # strict: a NaN in an answer would fail here too
    assert isinstance(body, dict), body
    text = res.text
    for found in LEAKS.finditer(text):
        assert found.group(0).lower() in sent.lower(), (found.group(0), text[:2000])
    if res.status_code != 200:
        assert res.status_code in (400, 401, 403, 405, 413), res.status_code
        assert set(body) == {"errors"} and len(body["errors"]) == 1, body
    else:
        assert "data" in body or "errors" in body, body
        assert set(body) <= {"data", "errors"}, body
    for error in body.get("errors", []):
        assert isinstance(error.get("message"), str) and error["message"], error
        assert set(error) <= {"message", "locations", "path", "extensions"}, error
        ext = error.get("extensions") or {}
        assert ext.get("code") != "INTERNAL", (error, sent[:2000])
        if "code" in ext:
            assert ext["code"] in CODES, error
    _check_user_errors(body.get("data"))
    return body


# --- the personal-data leak scan (tests/leaks.py) ------------------------------------------

# the records of the ``retailgis`` loggers (tests/fuzz/conftest.py adds the collector), read
# and emptied by each answer's scan
LOGS = Recorder()
# what the scan read: answers ("bodies") and log records ("logs"); and what the fuzzers ran
# ("runs", "cases"), for the last check of the suite (tests/fuzz/test_leak_scan.py)
SCANNED: Counter[str] = Counter()


def scan_answer(clear: dict[str, str], role: str | None, text: str, sent: str) -> None:
    """No clear phone, ID number or bank account in an answer of GraphQL, nor in a log
    record written since the last answer. GraphQL has no reveal answer, so no role may see a
    clear value there, even one holding the grant; a number shaped like one that the caller
    sent and the server echoes is the caller's own."""
    SCANNED["bodies"] += 1
    label = sent[:80].replace("\n", " ")
    _assert_clean([Artifact(role, "graphql", label, text, sent=sent)], clear, sent)


def scan_logs(clear: dict[str, str]) -> None:
    """The log records written since the last answer (e.g. when the app stops)."""
    _assert_clean([], clear, "")


def _assert_clean(found: list[Artifact], clear: dict[str, str], sent: str) -> None:
    taken = len(LOGS.artifacts)
    logs = LOGS.artifacts[:taken]
    del LOGS.artifacts[:taken]  # a record appended meanwhile (another thread) stays
    for record in logs:
        record.sent = sent
    SCANNED["logs"] += len(logs)
    hits = scan(found + logs, clear)
    assert hits == [], "personal data in clear:\n" + report(hits) + f"\nsent: {sent[:2000]}"


def _check_user_errors(data: Any) -> None:
    """Every payload ``errors: [UserError]`` that was selected holds known codes."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "errors" and isinstance(value, list):
                    for e in value:
                        assert isinstance(e, dict), e
                        if "code" in e:
                            assert e["code"] in ERROR_CODES, e
                        if "message" in e:
                            assert isinstance(e["message"], str) and e["message"], e
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)


# --- values -------------------------------------------------------------------------------


def node(value: Any) -> graphql.ValueNode:
    """A GraphQL literal for a JSON-like value."""
    if value is None:
        return graphql.NullValueNode()
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return nodes.Float(value)
    if isinstance(value, str):
        return nodes.String(value)
    if isinstance(value, list):
        return nodes.List([node(v) for v in value])
    return nodes.Object(
        [graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=node(v))
         for k, v in value.items() if re.fullmatch(r"[_A-Za-z][_0-9A-Za-z]*", k)]
    )  # fmt: skip


finite = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | finite | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), inner, max_size=4)
    ),
    max_leaves=12,
)
# a position in and around Xi'an, or anywhere
lng_lat = st.one_of(
    st.tuples(st.floats(107.5, 110.0), st.floats(33.5, 35.0)),
    st.tuples(st.floats(-180, 180), st.floats(-90, 90)),
    st.tuples(finite, finite),
)


@st.composite
def geometries(draw: st.DrawFn) -> dict[str, Any]:
    """Points, lines and polygons (valid or not: bow-ties, open rings, tiny rings)."""
    kind = draw(st.sampled_from(["Point", "LineString", "Polygon", "MultiPolygon", "Other"]))
    pts = [list(p) for p in draw(st.lists(lng_lat, min_size=1, max_size=8))]
    if kind == "Point":
        return {"type": "Point", "coordinates": pts[0]}
    if kind == "LineString":
        return {"type": "LineString", "coordinates": pts}
    ring = pts + ([pts[0]] if draw(st.booleans()) else [])
    polygon = [ring]
    if kind == "Polygon":
        return {"type": "Polygon", "coordinates": polygon}
    if kind == "MultiPolygon":
        return {"type": "MultiPolygon", "coordinates": [polygon]}
    return draw(
        st.dictionaries(st.sampled_from(["type", "coordinates", "crs", "bbox"]), json_values)
    )


def iso(value: Any) -> str:
    return str(value.isoformat())


CUSTOM_SCALARS = {
    "Date": st.one_of(st.dates().map(iso), st.text(max_size=12)).map(nodes.String),
    "DateTime": st.one_of(
        st.datetimes().map(iso),
        st.datetimes(timezones=st.timezones()).map(iso),
        st.text(max_size=12),
    ).map(nodes.String),
    "Time": st.one_of(st.times().map(iso), st.text(max_size=8)).map(nodes.String),
    "Decimal": st.one_of(st.decimals(allow_nan=False).map(str), st.text(max_size=8)).map(
        nodes.String
    ),
    "JSON": json_values.map(node),
    "GeoJSON": geometries().map(node),
}
