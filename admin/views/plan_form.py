"""The quarterly re-plan's form: what ``planRoutes(input: {mode: QUARTERLY, ...})`` takes
that a planner sets (the delivery days, the balance rule and its tolerance, the stop limit
per route, the service minutes per stop, the solver's time per day), read into a
``PlanRequest`` with every bad field named at once, beside its field, before anything is
queued."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from domain import planning
from domain.errors import INVALID, DomainError, ValidationFailed
from domain.planning import mapview
from domain.planning.requests import MAX_BUDGET_S, validate_request

DEFAULT_TOLERANCE_PCT = "15"
WEEKDAY_NAMES = {n: f"周{'一二三四五六日'[n - 1]}" for n in range(1, 8)}
BALANCE_NAMES = {"stops": "按送货点数", "duration": "按时长", "none": "不均衡"}
FIELDS = ("days", "balance", "balanceTolerance", "maxStops", "serviceMinutes", "timeLimitSeconds")


def form_context(
    session: Session, depot_id: int | None, data: Any = None,
    errors: dict[str, list[str]] | None = None,
    routes: Sequence[mapview.RouteOption] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """What the form shows: the depot's delivery days with their routes (of ``routes``, the
    active routes, when the caller has them already), the values (as entered, or the
    defaults) and the errors, by field (the rest above the button)."""
    lanes: dict[int, int] = {}
    if depot_id is not None:
        for r in mapview.routes(session, depot_id=depot_id) if routes is None else routes:
            if r.depot_id == depot_id:
                lanes[r.weekday] = lanes.get(r.weekday, 0) + 1
    errors = errors or {}
    return {
        "q": form_values(data, sorted(lanes)), "q_days": sorted(lanes), "q_lanes": lanes,
        "q_errors": errors, "weekdays": WEEKDAY_NAMES, "balance_names": BALANCE_NAMES,
        "q_general": [m for k, ms in errors.items() if k not in FIELDS for m in ms],
    }  # fmt: skip


def form_values(data: Any, route_days: Sequence[int]) -> dict[str, Any]:
    """The form's values as entered (for showing it again), or its defaults: every day the
    depot delivers on, balance by stops within ±15 %, the rest automatic."""
    if data is None:
        return {"days": list(route_days), "balance": "stops",
                "tolerance": DEFAULT_TOLERANCE_PCT, "max_stops": "", "service_min": "",
                "time_limit": ""}  # fmt: skip
    return {
        "days": [int(d) for d in data.getlist("days") if str(d).isdigit() and len(str(d)) < 3],
        **{k: str(data.get(k) or "").strip()[:20]
           for k in ("balance", "tolerance", "max_stops", "service_min", "time_limit")},
    }  # fmt: skip


# The form's words for what the domain's ``validate_request`` refuses (its ranges, in the
# form's units), by field; the tolerance, entered in %, the form checks itself.
MESSAGES = {
    "balance": "均衡规则须为按送货点数、按时长或不均衡",
    "balanceTolerance": "均衡容差须为 0 到 100 之间的数字（%）",
    "maxStops": "每条线路最多送货点数须为 1 到 1000 之间的整数",
    "serviceMinutes": "每点服务时间须为 0 到 120 之间的整数（分钟）",
    "timeLimitSeconds": f"每个送货日的计算时限须为 1 到 {MAX_BUDGET_S:.0f} 之间的数字（秒）",
}


def _number(
    data: Any, key: str, field: str, errors: list[DomainError], *, integer: bool = True
) -> Any:
    """The form's ``key`` as a number (None when empty); not a number: the field's error."""
    raw = str(data.get(key) or "").strip()
    if not raw:
        return None
    try:
        return int(raw) if integer else float(raw)
    except ValueError:
        errors.append(DomainError(INVALID, MESSAGES[field], field))
        return None


def quarter_request(
    data: Any, depot_id: int | None, route_days: Sequence[int]
) -> planning.PlanRequest:
    """The form as the quarterly PlanRequest; ValidationFailed names every bad field (the
    ranges are the domain's: ``validate_request``, in the form's words)."""
    errors: list[DomainError] = []
    raw_days = [str(d) for d in data.getlist("days")]
    if depot_id is None:
        errors.append(DomainError(INVALID, "请先在筛选中选择配送站点", "depotId"))
    elif not route_days:  # a depot unknown or without routes
        errors.append(DomainError(INVALID, "该配送站点没有可规划的送货线路", "depotId"))
    days = sorted({int(d) for d in raw_days if d.isdigit() and len(d) < 3})
    if len(days) != len(set(raw_days)):
        errors.append(DomainError(INVALID, "送货日无效", "days"))
    elif not days:
        errors.append(DomainError(INVALID, "请至少选择一个送货日", "days"))
    elif route_days and not set(days) <= set(route_days):
        errors.append(DomainError(INVALID, "所选送货日中有的该站点没有线路", "days"))
    tolerance = _number(data, "tolerance", "balanceTolerance", errors, integer=False)
    if tolerance is not None and not 0 <= tolerance <= 100:
        errors.append(DomainError(INVALID, MESSAGES["balanceTolerance"], "balanceTolerance"))
        tolerance = None
    req = planning.PlanRequest(
        mode="quarterly", depot_id=depot_id, days=tuple(days),
        balance_rule=str(data.get("balance") or "stops"),
        balance_tolerance=0.15 if tolerance is None else tolerance / 100,
        max_stops=_number(data, "max_stops", "maxStops", errors),
        service_min=_number(data, "service_min", "serviceMinutes", errors),
        time_limit_s=_number(data, "time_limit", "timeLimitSeconds", errors, integer=False),
    )  # fmt: skip
    try:
        validate_request(req)
    except DomainError as err:
        named = {e.field for e in errors}
        found = err.errors if isinstance(err, ValidationFailed) else (err,)
        errors += [
            DomainError(e.code, MESSAGES.get(e.field or "", e.message), e.field)
            for e in found
            if e.field not in named
        ]
    if errors:
        raise errors[0] if len(errors) == 1 else ValidationFailed(errors)
    return req
