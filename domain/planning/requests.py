"""What a planner asks for: validated into a ``PlanRequest`` before anything is queued."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from domain.errors import INVALID, DomainError, ValidationFailed

Mode = Literal["day", "quarterly", "resequence", "insert"]
MODES: tuple[Mode, ...] = ("day", "quarterly", "resequence", "insert")
RULES = ("none", "stops", "duration")
MAX_BUDGET_S = 600.0


@dataclass(frozen=True)
class PlanRequest:
    mode: Mode = "day"
    depot_id: int | None = None
    weekday: int | None = None
    route_id: int | None = None
    customer_ids: tuple[int, ...] = ()
    locked_route_ids: tuple[int, ...] = ()
    balance_rule: str = "stops"
    balance_tolerance: float = 0.15
    max_stops: int | None = None
    service_min: int | None = None
    time_limit_s: float | None = None
    days: tuple[int, ...] = ()
    seed: int = 1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> PlanRequest:
        data = dict(raw)
        for key in ("customer_ids", "locked_route_ids", "days"):
            data[key] = tuple(data.get(key) or ())
        return cls(**data)


def _check(cond: bool, errors: list[DomainError], message: str, field: str) -> None:
    if not cond:
        errors.append(DomainError(INVALID, message, field))


def validate_request(req: PlanRequest) -> None:
    """Refuse an incomplete or out-of-range request, naming every bad argument."""
    errors: list[DomainError] = []
    _check(req.mode in MODES, errors, "规划方式须为 day、quarterly、resequence 或 insert", "mode")
    if req.mode == "resequence":
        _check(req.route_id is not None, errors, "重排顺序须指定线路", "routeId")
    else:
        _check(req.depot_id is not None, errors, "须指定配送站点", "depotId")
    if req.mode in ("day", "insert"):
        _check(req.weekday is not None and 1 <= req.weekday <= 7, errors,
               "须指定送货日（1 周一 … 7 周日）", "weekday")  # fmt: skip
    if req.mode == "insert":
        _check(0 < len(req.customer_ids) <= 200, errors, "请选择 1 到 200 个要插入的客户",
               "customerIds")  # fmt: skip
    _check(req.balance_rule in RULES, errors, "均衡规则须为 none、stops 或 duration", "balance")
    _check(0.0 <= req.balance_tolerance <= 1.0, errors, "均衡容差须在 0 到 1 之间", "balance")
    _check(req.max_stops is None or 1 <= req.max_stops <= 1000, errors,
           "每条线路最多送货点数须在 1 到 1000 之间", "maxStops")  # fmt: skip
    _check(req.service_min is None or 0 <= req.service_min <= 120, errors,
           "每点服务时间须在 0 到 120 分钟之间", "serviceMinutes")  # fmt: skip
    _check(req.time_limit_s is None or 1 <= req.time_limit_s <= MAX_BUDGET_S, errors,
           f"计算时限须在 1 到 {MAX_BUDGET_S:.0f} 秒之间", "timeLimitSeconds")  # fmt: skip
    _check(all(1 <= d <= 7 for d in req.days) and len(set(req.days)) == len(req.days), errors,
           "送货日须为 1 到 7 之间且不重复", "days")  # fmt: skip
    if errors:
        raise errors[0] if len(errors) == 1 else ValidationFailed(errors)


def distinct(ids: Sequence[int]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(ids))
