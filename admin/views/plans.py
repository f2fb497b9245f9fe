"""Route planning from the planner's map: start a day plan, a re-sequence of one route or a
manager's visit batches (background jobs run by the worker), poll the job's progress
(htmx every second, with a cancel button), show before/after per route from the stored
plan, and submit it as a ticket."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin.views.tiles import parse_filter
from admin.web import config, db, field_errors, form, now, principal, render, view
from domain import planning
from domain.errors import INVALID, DomainError
from domain.jobs import FINISHED, get_job, request_cancel
from domain.models import Job, RoutePlan
from domain.planning.submit import KIND_NAMES

TEMPLATE = "planner/plan.html"


def _seconds(raw: Any) -> float | None:
    text = str(raw or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise DomainError(INVALID, "计算时限须为数字（秒）", "timeLimitSeconds") from None


def _errors(err: DomainError) -> list[str]:
    return [m for ms in field_errors(err).values() for m in ms]


def _request(data: Any) -> planning.PlanRequest:
    """The form as a PlanRequest, as the GraphQL planRoutes builds it (mode day or
    resequence; balance by stops within ±15 %)."""
    f = parse_filter(data)
    mode = str(data.get("mode") or "day")
    if mode not in ("day", "resequence"):
        raise DomainError(INVALID, "规划方式须为 day 或 resequence", "mode")
    return planning.PlanRequest(
        mode=mode, depot_id=f.depot_id, weekday=f.weekday,  # type: ignore[arg-type]
        route_id=f.route_id if mode == "resequence" else None,
        time_limit_s=_seconds(data.get("time_limit")),
    )  # fmt: skip


def plan_context(plan: RoutePlan, job: Job | None) -> dict[str, Any]:
    summary = plan.summary or {}
    rows: list[dict[str, Any]] = []
    if "routes" in (summary.get("before") or {}):
        before = {r["routeId"]: r for r in summary["before"]["routes"]}
        after = {r["routeId"]: r for r in summary["after"]["routes"]}
        for route_id in dict.fromkeys([*before, *after]):
            ref = after.get(route_id) or before[route_id]
            rows.append({"code": ref["code"], "name": ref["name"],
                         "before": before.get(route_id), "after": after.get(route_id)})  # fmt: skip
    return {
        "plan": plan, "job": job, "summary": summary, "rows": rows,
        "kind_name": KIND_NAMES.get(plan.kind, plan.kind),
        "running": job is not None and job.status not in FINISHED,
    }  # fmt: skip


def _render_plan(request: Request, plan_id: int, **extra: Any) -> Response:
    who = principal(request)
    with db(request) as session:
        plan = planning.get_plan(session, who, plan_id)
        job = get_job(session, who, plan.job_id) if plan.job_id else None
        ctx = plan_context(plan, job)
    return render(request, TEMPLATE, {**ctx, **extra})


def _started(request: Request, start: Any) -> Response:
    try:
        with db(request) as session:
            plan_id = start(session).id
    except DomainError as err:
        return render(request, TEMPLATE, {"errors": _errors(err)})
    return _render_plan(request, plan_id)


@view
def start_plan(request: Request) -> Response:
    data = form(request)
    try:
        req = _request(data)
    except DomainError as err:
        return render(request, TEMPLATE, {"errors": _errors(err)})
    return _started(request, lambda s: planning.start_route_plan(s, principal(request), req))


@view
def start_visits(request: Request) -> Response:
    data = form(request)
    manager, batches = str(data.get("manager") or ""), str(data.get("batches") or "5")
    if not manager.isdigit() or not batches.isdigit():
        return render(request, TEMPLATE, {"errors": ["请先在筛选中选择客户经理"]})
    return _started(
        request,
        lambda s: planning.start_visit_batches(s, principal(request), int(manager), int(batches)),
    )


@view
def show_plan(request: Request) -> Response:
    try:
        return _render_plan(request, int(request.path_params["plan_id"]))
    except DomainError as err:
        return render(request, TEMPLATE, {"errors": _errors(err)})


@view
def cancel(request: Request) -> Response:
    plan_id = int(request.path_params["plan_id"])
    message = None
    try:
        with db(request) as session:
            plan = planning.get_plan(session, principal(request), plan_id)
            if plan.job_id is None:
                raise DomainError(INVALID, "该规划没有后台任务", "id")
            request_cancel(session, principal(request), plan.job_id)
        message = "已请求取消，任务将在下一次进度报告时停止。"
    except DomainError as err:
        message = err.message
    try:
        return _render_plan(request, plan_id, message=message)
    except DomainError as err:
        return render(request, TEMPLATE, {"errors": _errors(err)})


@view
def submit(request: Request) -> Response:
    plan_id = int(request.path_params["plan_id"])
    reason = str(form(request).get("reason") or "").strip()[:500] or None
    cfg = config(request)
    try:
        with db(request) as session:
            ticket = planning.submit_plan(
                session, principal(request), plan_id, reason=reason, vault=cfg.vault,
                now=now(request),
            )  # fmt: skip
            ticket_id = ticket.id
    except DomainError as err:
        try:
            return _render_plan(request, plan_id, errors=_errors(err))
        except DomainError:
            return render(request, TEMPLATE, {"errors": _errors(err)})
    return _render_plan(request, plan_id, ticket_id=ticket_id)


ROUTES: list[BaseRoute] = [
    Route("/planner/plans", start_plan, methods=["POST"]),
    Route("/planner/visits", start_visits, methods=["POST"]),
    Route("/planner/plans/{plan_id:int}", show_plan),
    Route("/planner/plans/{plan_id:int}/cancel", cancel, methods=["POST"]),
    Route("/planner/plans/{plan_id:int}/submit", submit, methods=["POST"]),
]
