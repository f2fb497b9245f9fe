"""One customer (/admin/customers/{code}): the record in the catalogue's six groups with the
caller's rights per field, personal fields masked (a role with the grant may reveal one,
logged), completeness and a small map; the edit form (applied within rights, the rest
proposed as one ticket, the record's version guarding against stale edits); the ledger with
the record as of a date; the shop's tickets. Out-of-scope shops are not found (404)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin.views.customer_form import form_groups, submitted_changes
from admin.views.customer_values import Refs, grouped, ref_names, refs_in, shown_value
from admin.web import (
    PREFIX,
    config,
    db,
    field_errors,
    form,
    is_htmx,
    now,
    principal,
    render,
    view,
)
from domain.access import Principal, customer_scope
from domain.catalogue import catalogue, field
from domain.completeness import customer_completeness
from domain.customers.present import present_customer, present_record, reveal_personal
from domain.customers.update import update_customer
from domain.errors import STALE_VERSION, DomainError
from domain.ledger import history, record_as_of, tracked_fields
from domain.models import Customer, Ticket
from domain.tickets.types import ticket_types

TABS = {"fields": "档案信息", "history": "修改台帐", "tickets": "工单"}
HISTORY_LIMIT = 200
TICKET_LIMIT = 50
TICKET_STATUS = {
    "open": "办理中", "returned": "已退回", "approved": "已批准", "applied": "已生效",
    "rejected": "已驳回", "withdrawn": "已撤回", "stale": "已失效（档案已变）",
}  # fmt: skip
SOURCES = {
    "edit": "直接修改", "ticket": "工单", "classification": "分类", "close": "歇业",
    "merge": "合并", "import": "导入", "system": "系统", "bulk": "批量变更",
}  # fmt: skip


def find_customer(session: Session, who: Principal, code: str) -> Customer | None:
    """The shop with this code in the caller's scope (None: unknown or out of scope)."""
    stmt = select(Customer).where(Customer.customer_code == code, customer_scope(who))
    return session.scalar(stmt)


def _not_found(request: Request) -> Response:
    return render(request, "customers/not_found.html", {}, status=404)


def _map_config(request: Request, customer: Customer) -> dict[str, Any] | None:
    if customer.location is None:
        return None
    point = to_shape(customer.location)  # type: ignore[arg-type]
    lng, lat = config(request).basemap.to_display(point.x, point.y)
    label = f"{customer.customer_code} {customer.shop_name}"
    return {
        "layers": [{"kind": "points", "points": [{"lng": lng, "lat": lat, "label": label}]}],
        "center": [lng, lat], "zoom": 15,
    }  # fmt: skip


def _base_ctx(
    request: Request, session: Session, who: Principal, customer: Customer
) -> dict[str, Any]:
    cfg = config(request)
    today = now(request).astimezone(cfg.calendar.tz).date()
    values = present_customer(customer)
    refs = ref_names(session, refs_in([values]))
    return {
        "customer": customer, "values": values, "refs": refs, "tabs": TABS,
        "completeness": customer_completeness(customer, calendar=cfg.calendar, today=today),
        "map_config": _map_config(request, customer), "base": f"{PREFIX}/customers",
        "shop_url": f"{PREFIX}/customers/{customer.customer_code}",
        "status_label": shown_value(field("status"), customer.status, refs),
    }  # fmt: skip


def _fields_ctx(
    request: Request, session: Session, who: Principal, ctx: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    missing = frozenset(ctx["completeness"].missing)
    groups = form_groups(
        session, who, ctx["values"], ctx["refs"], config(request).basemap, missing=missing,
        submitted=extra.pop("submitted", None),
    )  # fmt: skip
    return {**ctx, "tab": "fields", "groups": groups, "errors": {}, **extra}


def _as_of(request: Request, at_text: str) -> tuple[dt.datetime | None, str | None]:
    """The end of the given day (Asia/Shanghai) and an error when the date is invalid."""
    if not at_text:
        return None, None
    try:
        day = dt.date.fromisoformat(at_text)
    except ValueError:
        return None, "日期格式须为 YYYY-MM-DD"
    tz = config(request).calendar.tz
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tz) - dt.timedelta(
        microseconds=1
    ), None


def _history_ctx(
    request: Request, session: Session, customer: Customer, ctx: dict[str, Any]
) -> dict[str, Any]:
    entries = history(session, customer.id, limit=HISTORY_LIMIT)
    specs = tracked_fields()
    at_text = str(request.query_params.get("at") or "").strip()
    at, at_error = _as_of(request, at_text)
    record = None
    if at is not None:
        record = present_record(record_as_of(session, customer, at, config(request).vault))
    wanted = refs_in([{e.field_key: e.old for e in entries}, {e.field_key: e.new for e in entries}])
    refs: Refs = ref_names(session, wanted | refs_in([record or {}]))
    rows = [
        {"at": e.at, "actor": e.actor or "系统", "source": SOURCES.get(e.source, e.source),
         "ticket_id": e.ticket_id, "label": e.label_zh,
         "old": shown_value(specs.get(e.field_key), e.old, refs),
         "new": shown_value(specs.get(e.field_key), e.new, refs)}
        for e in entries
    ]  # fmt: skip
    as_of = None
    if record is not None:
        as_of = [
            (name, [(s.label_zh, shown_value(s, record.get(s.key), refs)) for s in fs])
            for _, name, fs in grouped(catalogue())
        ]
    return {**ctx, "tab": "history", "entries": rows, "at": at_text, "at_error": at_error,
            "as_of": as_of}  # fmt: skip


def _tickets_ctx(session: Session, customer: Customer, ctx: dict[str, Any]) -> dict[str, Any]:
    stmt = (
        select(Ticket).where(Ticket.customer_id == customer.id)
        .order_by(Ticket.id.desc()).limit(TICKET_LIMIT)
    )  # fmt: skip
    types = ticket_types()
    tickets = [
        {"id": t.id, "title": t.title, "type": types[t.type].name if t.type in types else t.type,
         "status": TICKET_STATUS.get(t.status, t.status), "created_at": t.created_at,
         "closed_at": t.closed_at}
        for t in session.scalars(stmt)
    ]  # fmt: skip
    return {**ctx, "tab": "tickets", "tickets": tickets}


def _show(request: Request, ctx: dict[str, Any]) -> Response:
    """The whole page, or (htmx) the tab's body or the detail block."""
    target = request.headers.get("hx-target")
    if is_htmx(request) and not request.headers.get("hx-history-restore-request"):
        if target == "tab-body":
            return render(request, "customers/detail.html", ctx, block="tab")
        if target == "detail":
            return render(request, "customers/detail.html", ctx, block="detail")
    return render(request, "customers/detail.html", ctx)


@view
def customer_page(request: Request) -> Response:
    who = principal(request)
    tab = str(request.query_params.get("tab") or "fields")
    tab = tab if tab in TABS else "fields"
    with db(request) as session:
        customer = find_customer(session, who, request.path_params["code"])
        if customer is None:
            return _not_found(request)
        ctx = _base_ctx(request, session, who, customer)
        if tab == "history":
            ctx = _history_ctx(request, session, customer, ctx)
        elif tab == "tickets":
            ctx = _tickets_ctx(session, customer, ctx)
        else:
            ctx = _fields_ctx(request, session, who, ctx)
    return _show(request, ctx)


def _outcome(applied: list[str], ticket: Ticket | None) -> str:
    labels = {s.key: s.label_zh for s in catalogue()}
    parts = []
    if applied:
        parts.append("已直接修改：" + "、".join(labels.get(k, k) for k in applied))
    if ticket is not None:
        parts.append(f"已提交变更工单 #{ticket.id}（{ticket.title}），待审批后生效")
    return "；".join(parts) or "提交的内容与档案相同，没有修改"


@view
def customer_edit(request: Request) -> Response:
    """Apply what the caller may edit, propose the rest; errors come back beside the fields
    and nothing is changed."""
    who = principal(request)
    data = form(request)
    code = request.path_params["code"]
    raw_version = str(data.get("version") or "")
    version = int(raw_version) if raw_version.isdigit() else -1
    reason = str(data.get("reason") or "").strip() or None
    basemap = config(request).basemap
    try:
        with db(request) as session:
            customer = find_customer(session, who, code)
            if customer is None:
                return _not_found(request)
            changes = submitted_changes(data, who, present_customer(customer), basemap)
            message = _outcome([], None)
            if changes:
                result = update_customer(
                    session, who, customer.id, version, changes, vault=config(request).vault,
                    reason=reason, now=now(request),
                )  # fmt: skip
                message = _outcome([c.key for c in result.applied], result.ticket)
    except DomainError as err:
        with db(request) as session:
            customer = find_customer(session, who, code)
            if customer is None:
                return _not_found(request)
            ctx = _base_ctx(request, session, who, customer)
            stale = err.code == STALE_VERSION
            ctx = _fields_ctx(
                request, session, who, ctx, errors=field_errors(err), stale=stale,
                submitted=None if stale else data, reason=reason or "",
            )  # fmt: skip
        return _show(request, ctx)
    with db(request) as session:
        customer = find_customer(session, who, code)
        if customer is None:  # e.g. the manager field moved it out of the caller's scope
            block = "detail" if is_htmx(request) else None
            return render(request, "customers/moved.html", {"message": message}, block=block)
        ctx = _fields_ctx(request, session, who, _base_ctx(request, session, who, customer),
                          message=message)  # fmt: skip
    return _show(request, ctx)


@view
def customer_reveal(request: Request) -> Response:
    """The clear value of one personal field for a role holding the grant (logged)."""
    who = principal(request)
    data = form(request)
    key = str(data.get("field") or "")
    purpose = str(data.get("purpose") or "")
    try:
        with db(request) as session:
            customer = find_customer(session, who, request.path_params["code"])
            if customer is None:
                return _not_found(request)
            value = reveal_personal(session, who, customer.id, key, purpose=purpose)
    except DomainError as err:
        return render(request, "customers/reveal.html", {"error": err.message, "key": key,
                      "shop_url": f"{PREFIX}/customers/{request.path_params['code']}"})  # fmt: skip
    return render(request, "customers/reveal.html", {"value": value or "（空）", "key": key})


ROUTES: list[BaseRoute] = [
    Route("/customers/{code}", customer_page, methods=["GET"]),
    Route("/customers/{code}", customer_edit, methods=["POST"]),
    Route("/customers/{code}/reveal", customer_reveal, methods=["POST"]),
]
