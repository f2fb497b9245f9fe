"""The authorization matrix (authz_matrix.csv beside this file) and its probes.

Each operation that can reach one shop (a GraphQL field, a mutation, an admin route) has a
probe: the request a caller of a role makes against the target shop of one scope, and how
its answer reads as an outcome:

- ``allowed``: the shop (or its ticket) is reached. Mutations are sent with a deliberate
  defect found only after the scope check (an old version, a point outside the service
  area, the shop's own route, a ticket returned to its maker), so they change nothing;
- ``hidden``: not found (null, absent from the list, NOT_FOUND, HTTP 404): its existence
  is not disclosed;
- ``forbidden``: the role may not do this at all, whatever the shop (FORBIDDEN, HTTP 403).

Operations that reach no particular shop are in the matrix with the scope ``-`` and the
outcome for the role (``allowed``/``forbidden``), or ``n/a`` with a reason where the
walk does not call them (sign-in, sign-out, CSP reports).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mapbox_vector_tile
from openpyxl import load_workbook
from starlette.testclient import TestClient

from domain.planning.moves import NOT_IN_SCOPE
from tests.security.conftest import Recorder, Target

MATRIX_FILE = Path(__file__).with_name("authz_matrix.csv")
OUTCOMES = ("allowed", "hidden", "forbidden", "n/a")


@dataclass(frozen=True)
class Row:
    role: str
    operation: str
    scope: str
    expected: str
    note: str


def read_matrix() -> list[Row]:
    with MATRIX_FILE.open(encoding="utf-8") as f:
        return [
            Row(r["role"], r["operation"], r["scope"], r["expected"], r["note"])
            for r in csv.DictReader(f)
        ]


class Caller:
    """One role's ways in: a bearer token for GraphQL, a signed-in admin client; every
    answer goes to the recorder."""

    def __init__(
        self,
        role: str,
        app: TestClient,
        token: str,
        admin: TestClient,
        csrf: str,
        recorder: Recorder,
    ) -> None:
        self.role, self.app, self.token = role, app, token
        self.admin, self.csrf, self.recorder = admin, csrf, recorder

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        res = self.app.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        self.recorder.add(self.role, "graphql", query.split("{", 2)[1][:60], res.text)
        body: dict[str, Any] = res.json()
        assert res.status_code == 200 and body.get("data") is not None, res.text
        return body

    def get(self, url: str) -> Any:
        res = self.admin.get(url, follow_redirects=False)
        self._page(f"GET {url}", res)
        return res

    def post(self, url: str, data: dict[str, Any], *, reveal: str | None = None) -> Any:
        res = self.admin.post(
            url,
            data={**data, "csrf_token": self.csrf},
            headers={"X-CSRF-Token": self.csrf},
            follow_redirects=False,
        )
        self._page(f"POST {url}", res, reveal)
        return res

    def _page(self, label: str, res: Any, reveal: str | None = None) -> None:
        kind = res.headers.get("content-type", "")
        if "spreadsheetml" in kind:
            self.recorder.add(self.role, "export", label, xlsx_text(res.content))
        elif kind.startswith("application/x-protobuf") or label.endswith(".pbf"):
            self.recorder.add(self.role, "page", label, json.dumps(decode_tile(res.content)))
        else:
            self.recorder.add(
                self.role,
                "export" if "csv" in kind else "page",
                label,
                res.text,
                reveal_field=reveal,
            )
        assert res.status_code < 500, (label, res.status_code, res.text[:500])


def xlsx_text(content: bytes) -> str:
    book = load_workbook(io.BytesIO(content), read_only=True)
    cells = [
        str(v)
        for ws in book.worksheets
        for row in ws.iter_rows(values_only=True)
        for v in row
        if v is not None
    ]
    return "\n".join(cells)


def decode_tile(content: bytes) -> dict[str, Any]:
    return mapbox_vector_tile.decode(content) if content else {}  # type: ignore[no-any-return]


# -- how answers read ------------------------------------------------------------------------


def _codes(body: dict[str, Any], payload: str) -> set[str]:
    data = body.get("data") or {}
    errors = (data.get(payload) or {}).get("errors") or []
    codes = {e["code"] for e in errors}
    codes |= {(e.get("extensions") or {}).get("code") for e in body.get("errors") or []}
    return {c for c in codes if c}


def _by_code(codes: set[str]) -> str:
    if "NOT_FOUND" in codes:
        return "hidden"
    if "FORBIDDEN" in codes:
        return "forbidden"
    assert codes, "a probe must be refused for its deliberate defect: nothing may change"
    return "allowed"


def _by_status(status: int) -> str:
    return {404: "hidden", 403: "forbidden"}.get(status, "allowed")


def _present(found: bool) -> str:
    return "allowed" if found else "hidden"


PERSONAL = "phone idNumber bankAccount homeAddress"

# -- the probes ------------------------------------------------------------------------------

Probe = Callable[[Caller, Target], str]


def q_customer_id(c: Caller, t: Target) -> str:
    body = c.gql(f"query($i:Int){{customer(id:$i){{id {PERSONAL}}}}}", {"i": t.id})
    return _present(body["data"]["customer"] is not None)


def q_customer_code(c: Caller, t: Target) -> str:
    body = c.gql(
        f"query($c:String){{customer(code:$c){{id {PERSONAL} history{{field old new}}"
        " tickets{id changes{field old new}}}}",
        {"c": t.code},
    )
    return _present(body["data"]["customer"] is not None)


def q_customers(c: Caller, t: Target) -> str:
    body = c.gql(
        f"query($s:String){{customers(filter:{{search:$s}},first:50){{totalCount"
        f" edges{{node{{id {PERSONAL}}}}}}}}}",
        {"s": t.code},
    )
    edges = body["data"]["customers"]["edges"]
    return _present(any(e["node"]["id"] == t.id for e in edges))


def q_customers_manager(c: Caller, t: Target) -> str:
    """Filtered by the target's route: the list never holds a shop out of scope."""
    body = c.gql(
        "query($r:Int){customers(filter:{routeId:$r},first:200){edges{node{id phone}}}}",
        {"r": t.route_id},
    )
    return _present(any(e["node"]["id"] == t.id for e in body["data"]["customers"]["edges"]))


def q_ticket(c: Caller, t: Target) -> str:
    body = c.gql("query($i:Int!){ticket(id:$i){id changes{field old new}}}", {"i": t.ticket_id})
    return _present(body["data"]["ticket"] is not None)


def q_ticket_customer(c: Caller, t: Target) -> str:
    body = c.gql(
        f"query($i:Int!){{ticket(id:$i){{id customer{{id {PERSONAL}}}}}}}", {"i": t.ticket_id}
    )
    ticket = body["data"]["ticket"]
    return _present(ticket is not None and ticket["customer"] is not None)


def q_tickets(c: Caller, t: Target) -> str:
    body = c.gql("{tickets(first:200){edges{node{id customerId changes{field old new}}}}}")
    return _present(any(e["node"]["id"] == t.ticket_id for e in body["data"]["tickets"]["edges"]))


def q_route_stops(c: Caller, t: Target) -> str:
    body = c.gql(f"query($i:Int!){{route(id:$i){{id stops{{id {PERSONAL}}}}}}}", {"i": t.route_id})
    route = body["data"]["route"]
    return _present(route is not None and any(s["id"] == t.id for s in route["stops"]))


def q_routes_stops(c: Caller, t: Target) -> str:
    body = c.gql("{routes{id stops{id phone}}}")
    return _present(any(s["id"] == t.id for r in body["data"]["routes"] for s in r["stops"]))


def m_update(c: Caller, t: Target) -> str:
    body = c.gql(
        'mutation($i:Int!){updateCustomer(id:$i,version:-1,changes:[{field:"shop_name",'
        'value:"矩阵"}]){errors{code}}}',
        {"i": t.id},
    )
    return _by_code(_codes(body, "updateCustomer"))


def m_location(c: Caller, t: Target) -> str:
    body = c.gql(
        "mutation($i:Int!){proposeLocation(customerId:$i,point:{lng:100.0,lat:30.0})"
        "{errors{code}}}",
        {"i": t.id},
    )
    return _by_code(_codes(body, "proposeLocation"))


def m_route(c: Caller, t: Target) -> str:
    body = c.gql(
        "mutation($i:Int!,$r:Int!){proposeRouteAssignment(customerIds:[$i],routeId:$r)"
        "{errors{code}}}",
        {"i": t.id, "r": t.route_id},
    )
    return _by_code(_codes(body, "proposeRouteAssignment"))


def _decision(name: str, args: str) -> Probe:
    def probe(c: Caller, t: Target) -> str:
        body = c.gql(
            f"mutation($i:Int!){{{name}(id:$i{args}){{errors{{code}}}}}}", {"i": t.ticket_id}
        )
        return _by_code(_codes(body, name))

    return probe


def a_customer_page(c: Caller, t: Target) -> str:
    return _by_status(c.get(f"/admin/customers/{t.code}").status_code)


def a_customer_edit(c: Caller, t: Target) -> str:
    res = c.post(f"/admin/customers/{t.code}", {"version": "-1", "shop_name": "矩阵"})
    return _by_status(res.status_code)


def a_customer_reveal(c: Caller, t: Target) -> str:
    res = c.post(
        f"/admin/customers/{t.code}/reveal", {"field": "phone", "purpose": "核对"}, reveal="phone"
    )
    return _by_status(res.status_code)


def a_customer_list(c: Caller, t: Target) -> str:
    # the search box echoes the code: a row links to the shop
    return _present(f'/customers/{t.code}">' in c.get(f"/admin/customers?q={t.code}").text)


def a_export(c: Caller, t: Target) -> str:
    res = c.post("/admin/files/export", {"format": "xlsx", "q": t.code})
    assert res.status_code == 200, res.text[:300]
    return _present(t.code in xlsx_text(res.content))


def a_ticket_page(c: Caller, t: Target) -> str:
    return _by_status(c.get(f"/admin/queue/{t.ticket_id}").status_code)


def _admin_decision(action: str) -> Probe:
    def probe(c: Caller, t: Target) -> str:
        res = c.post(f"/admin/queue/{t.ticket_id}/{action}", {"comment": "矩阵", "reason": "矩阵"})
        return _by_status(res.status_code)

    return probe


def _around(lng: float, lat: float, d: float = 0.0004) -> str:
    ring = [
        [lng - d, lat - d],
        [lng + d, lat - d],
        [lng + d, lat + d],
        [lng - d, lat + d],
        [lng - d, lat - d],
    ]
    return json.dumps({"type": "Polygon", "coordinates": [ring]})


def a_planner_select(c: Caller, t: Target) -> str:
    res = c.post("/admin/planner/select", {"polygon": _around(t.lng, t.lat)})
    found = re.search(r'data-selected="([^"]*)"', res.text)
    ids = json.loads(found.group(1).replace("&#34;", '"')) if found else []
    return _present(t.id in ids)


def a_planner_move(c: Caller, t: Target) -> str:
    res = c.post("/admin/planner/move", {"customer": str(t.id), "target_route": str(t.route_id)})
    if res.status_code == 403 or "只有配送部可以进行线路规划" in res.text:  # may_plan
        return "forbidden"
    assert 'id="move-errors"' in res.text, res.text[:300]  # refused: nothing changed
    return "hidden" if NOT_IN_SCOPE in res.text else "allowed"


def _tile(lng: float, lat: float, z: int = 16) -> tuple[int, int, int]:
    n = 2**z
    x = int((lng + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


def a_tile(c: Caller, t: Target) -> str:
    z, x, y = _tile(t.lng, t.lat)
    res = c.get(f"/admin/planner/tiles/{z}/{x}/{y}.pbf")
    assert res.status_code == 200
    layers = decode_tile(res.content)
    ids = {f["properties"].get("id") for layer in layers.values() for f in layer["features"]}
    return _present(t.id in ids)


SEARCH = "graphql Query.customers(filter.search) + CustomerConnection.edges, CustomerEdge.node"
PROBES: dict[str, Probe] = {
    "graphql Query.customer(id)": q_customer_id,
    "graphql Query.customer(code) + Customer.history, Customer.tickets": q_customer_code,
    SEARCH: q_customers,
    "graphql Query.customers(filter.routeId)": q_customers_manager,
    "graphql Query.ticket": q_ticket,
    "graphql Ticket.customer": q_ticket_customer,
    "graphql Query.tickets + TicketConnection.edges, TicketEdge.node": q_tickets,
    "graphql Query.route + DeliveryRoute.stops": q_route_stops,
    "graphql Query.routes + DeliveryRoute.stops": q_routes_stops,
    "graphql Mutation.updateCustomer": m_update,
    "graphql Mutation.proposeLocation": m_location,
    "graphql Mutation.proposeRouteAssignment": m_route,
    "graphql Mutation.approveTicket": _decision("approveTicket", ""),
    "graphql Mutation.rejectTicket": _decision("rejectTicket", ',reason:"矩阵"'),
    "graphql Mutation.returnTicket": _decision("returnTicket", ',reason:"矩阵"'),
    "graphql Mutation.withdrawTicket": _decision("withdrawTicket", ""),
    "admin GET /admin/customers/{code}": a_customer_page,
    "admin POST /admin/customers/{code}": a_customer_edit,
    "admin POST /admin/customers/{code}/reveal": a_customer_reveal,
    "admin GET /admin/customers": a_customer_list,
    "admin POST /admin/files/export": a_export,
    "admin GET /admin/queue/{ticket_id:int}": a_ticket_page,
    "admin POST /admin/queue/{ticket_id:int}/approve": _admin_decision("approve"),
    "admin POST /admin/queue/{ticket_id:int}/reject": _admin_decision("reject"),
    "admin POST /admin/queue/{ticket_id:int}/return": _admin_decision("return"),
    "admin POST /admin/planner/select": a_planner_select,
    "admin POST /admin/planner/move": a_planner_move,
    "admin GET /admin/planner/tiles/{z:int}/{x:int}/{y:int}.pbf": a_tile,
}


# -- operations that reach no particular shop: the role decides ----------------------------


def _untargeted_query(query: str) -> Callable[[Caller], str]:
    def probe(c: Caller) -> str:
        body = c.gql(query)
        codes = {(e.get("extensions") or {}).get("code") for e in body.get("errors") or []}
        return "forbidden" if "FORBIDDEN" in codes else "allowed"

    return probe


def _untargeted_mutation(name: str, call: str) -> Callable[[Caller], str]:
    def probe(c: Caller) -> str:
        body = c.gql(f"mutation{{{name}{call}{{errors{{code}}}}}}")
        codes = _codes(body, name)
        assert codes, "a probe must be refused: nothing may change"
        return "forbidden" if "FORBIDDEN" in codes else "allowed"

    return probe


def _untargeted_get(url: str) -> Callable[[Caller], str]:
    def probe(c: Caller) -> str:
        return _by_status(c.get(url).status_code)

    return probe


ONBOARD = (
    '(input:{customerCode:"x",shopName:"x",licenceNo:"x",licenceIssuedOn:"2026-01-01",'
    'licenceExpiresOn:"2025-01-01",responsiblePerson:"x",address:"x",'
    "location:{lng:100.0,lat:30.0},customerManagerId:0})"
)
UNTARGETED: dict[str, Callable[[Caller], str]] = {
    "graphql Query.me": _untargeted_query("{me{role scope user{id}}}"),
    "graphql Query.fieldCatalogue": _untargeted_query("{fieldCatalogue{key}}"),
    "graphql Query.depots": _untargeted_query("{depots{id}}"),
    "graphql Query.regions": _untargeted_query("{regions{id}}"),
    "graphql Query.serviceArea": _untargeted_query("{serviceArea{name}}"),
    "graphql Query.routePlan": _untargeted_query("{routePlan(id:0){id}}"),
    "graphql Query.job": _untargeted_query("{job(id:0){id}}"),
    "graphql Query.batchViolations": _untargeted_query("{batchViolations{customerId code}}"),
    "graphql Query.apiVersion": _untargeted_query("{apiVersion}"),
    "graphql Mutation.onboardCustomer": _untargeted_mutation("onboardCustomer", ONBOARD),
    "graphql Mutation.planRoutes": _untargeted_mutation(
        "planRoutes", "(input:{depotId:0,weekday:1})"
    ),
    "graphql Mutation.submitRoutePlan": _untargeted_mutation("submitRoutePlan", "(id:0)"),
    "graphql Mutation.planVisitBatches": _untargeted_mutation("planVisitBatches", "(managerId:0)"),
    "graphql Mutation.cancelJob": _untargeted_mutation("cancelJob", "(id:0)"),
    "admin GET /admin/": _untargeted_get("/admin/"),
    "admin GET /admin/queue": _untargeted_get("/admin/queue"),
    "admin GET /admin/files": _untargeted_get("/admin/files"),
    # an import job's panel: its creator's, or a city role's; another's is 404 (test_files)
    "admin GET /admin/files/jobs/{job_id:int}": _untargeted_get("/admin/files/jobs/0"),
    "admin GET /admin/tokens": _untargeted_get("/admin/tokens"),
    "admin GET /admin/calendar": _untargeted_get("/admin/calendar"),
    "admin GET /admin/planner": _untargeted_get("/admin/planner"),
    "admin GET /admin/planner/panel": _untargeted_get("/admin/planner/panel"),
    "admin GET /admin/map/background.geojson": _untargeted_get("/admin/map/background.geojson"),
    "admin GET /admin/planner/plans/{plan_id:int}": _untargeted_get("/admin/planner/plans/0"),
    # route lines pass through every stop: drawn for city roles only, depots for all
    "admin GET /admin/planner/overlay.geojson": _untargeted_get(
        "/admin/planner/overlay.geojson?depot=1&weekday=1"
    ),
}
