"""Route plans, their figures and moves, and background jobs (线路规划、后台任务)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from sqlalchemy import select
from strawberry.scalars import JSON

from domain.models import Job as JobRow
from domain.models import RoutePlan as PlanRow
from domain.models import RoutePlanItem as Item
from schema.context import Info

KM = 1000.0
MIN = 60.0


@strawberry.type(description="后台任务：规划等长时间计算在后台运行，可读进度、可取消")
class Job:
    id: int
    kind: str
    status: str = strawberry.field(description="queued | running | done | failed | cancelled")
    progress: float = strawberry.field(description="进度 0–1")
    message: str | None = strawberry.field(description="当前步骤")
    error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


def job_node(row: JobRow) -> Job:
    return Job(
        id=row.id, kind=row.kind, status=row.status, progress=row.progress, message=row.message,
        error=row.error, created_at=row.created_at, started_at=row.started_at,
        finished_at=row.finished_at,
    )  # fmt: skip


@strawberry.type(description="一条线路在规划前或规划后的指标")
class PlanRouteStats:
    stops: int
    load: int = strawberry.field(description="预计装载（条）")
    capacity: int = strawberry.field(description="车辆装载能力（条）")
    distance_km: float
    duration_min: float = strawberry.field(description="出车到回站，含服务和等待")
    travel_min: float
    shift_min: float = strawberry.field(description="班次时长")
    feasible: bool = strawberry.field(description="装载、班次、点数等约束是否都满足")
    violations: list[str]


def _stats(raw: dict[str, Any]) -> PlanRouteStats:
    return PlanRouteStats(
        stops=raw["stops"], load=raw["load"], capacity=raw["capacity"],
        distance_km=round(raw["distanceM"] / KM, 2), duration_min=round(raw["durationS"] / MIN, 1),
        travel_min=round(raw["travelS"] / MIN, 1), shift_min=round(raw["shiftS"] / MIN, 1),
        feasible=raw["feasible"], violations=raw["violations"],
    )  # fmt: skip


@strawberry.type(description="规划前后一条线路的对比")
class PlanRoute:
    route_id: int
    code: str
    name: str
    weekday: int
    before: PlanRouteStats | None
    after: PlanRouteStats | None


@strawberry.type(description="规划前或规划后的合计")
class PlanTotals:
    travel_min: float
    distance_km: float
    duration_min: float
    violations: int = strawberry.field(description="违反约束的条数")


def _totals(raw: dict[str, Any] | None) -> PlanTotals | None:
    if raw is None:
        return None
    return PlanTotals(
        travel_min=round(raw["travelS"] / MIN, 1), distance_km=round(raw["distanceM"] / KM, 2),
        duration_min=round(raw["durationS"] / MIN, 1), violations=len(raw["violations"]),
    )  # fmt: skip


@strawberry.type(description="规划建议的一处调整：客户从哪条线路、第几位，调到哪里")
class PlanMove:
    customer_id: int
    from_route_id: int | None
    from_sequence: int | None
    to_route_id: int | None
    to_sequence: int | None
    from_order_batch: int | None
    to_order_batch: int | None
    from_visit_batch: int | None
    to_visit_batch: int | None


@strawberry.type(description="线路规划：算好但尚未执行；提交后成为线路调整工单，审批通过才生效")
class RoutePlan:
    id: int
    kind: str = strawberry.field(
        description="day | quarterly | resequence | insert | visit_batches"
    )
    status: str = strawberry.field(
        description="computing | ready | failed | cancelled | submitted | applied | stale"
    )
    depot_id: int | None
    weekday: int | None
    manager_id: int | None
    created_at: dt.datetime
    ticket_id: int | None
    summary: JSON | None = strawberry.field(
        description="完整的规划指标（每天、每条线路、求解耗时）"
    )
    _job_id: strawberry.Private[int | None]
    _raw: strawberry.Private[dict[str, Any] | None]

    @strawberry.field(description="计算它的后台任务（进度、取消）")
    def job(self, info: Info) -> Job | None:
        if self._job_id is None:
            return None
        row = info.context.session.get(JobRow, self._job_id)
        return job_node(row) if row is not None else None

    @strawberry.field(description="规划前合计")
    def before(self) -> PlanTotals | None:
        return _totals((self._raw or {}).get("before"))

    @strawberry.field(description="规划后合计")
    def after(self) -> PlanTotals | None:
        return _totals((self._raw or {}).get("after"))

    @strawberry.field(description="总行驶时间较规划前节省的比例")
    def saving(self) -> float | None:
        raw = self._raw or {}
        if "before" not in raw or not raw["before"]["travelS"]:
            return None
        return round(1 - raw["after"]["travelS"] / raw["before"]["travelS"], 4)

    @strawberry.field(description="每条线路规划前后的指标")
    def routes(self) -> list[PlanRoute]:
        raw = self._raw or {}
        if "before" not in raw:
            return []
        before = {r["routeId"]: r for r in raw["before"]["routes"]}
        after = {r["routeId"]: r for r in raw["after"]["routes"]}
        out = []
        for route_id in dict.fromkeys([*before, *after]):
            ref = after.get(route_id) or before[route_id]
            out.append(PlanRoute(
                route_id=route_id, code=ref["code"], name=ref["name"], weekday=ref["weekday"],
                before=_stats(before[route_id]) if route_id in before else None,
                after=_stats(after[route_id]) if route_id in after else None,
            ))  # fmt: skip
        return out

    @strawberry.field(description="无法满足约束、保留在原线路的客户")
    def unassigned_ids(self) -> list[int]:
        return list((self._raw or {}).get("unassigned", []))

    @strawberry.field(description="建议的调整（客户、原线路/顺序、新线路/顺序）")
    def moves(self, info: Info, first: int = 200, offset: int = 0) -> list[PlanMove]:
        first = max(0, min(first, 1000))
        rows = info.context.session.scalars(
            select(Item).where(Item.plan_id == self.id).order_by(Item.customer_id)
            .offset(max(offset, 0)).limit(first)
        )  # fmt: skip
        return [
            PlanMove(
                customer_id=r.customer_id, from_route_id=r.old_route_id,
                from_sequence=r.old_sequence, to_route_id=r.new_route_id,
                to_sequence=r.new_sequence, from_order_batch=r.old_order_batch,
                to_order_batch=r.new_order_batch, from_visit_batch=r.old_visit_batch,
                to_visit_batch=r.new_visit_batch,
            )
            for r in rows
        ]  # fmt: skip

    @strawberry.field(description="调整的客户数")
    def moves_count(self) -> int:
        return int((self._raw or {}).get("moves", 0))


def plan_node(row: PlanRow) -> RoutePlan:
    return RoutePlan(
        id=row.id, kind=row.kind, status=row.status, depot_id=row.depot_id, weekday=row.weekday,
        manager_id=row.manager_id, created_at=row.created_at, ticket_id=row.ticket_id,
        summary=row.summary, _job_id=row.job_id, _raw=row.summary,
    )  # fmt: skip


@strawberry.type(description="订货批次、送货日与拜访批次不一致的客户")
class BatchViolation:
    customer_id: int
    code: str
    kind: str = strawberry.field(
        description="no_route | no_order_batch | order_not_before_delivery | no_visit_batch"
    )
    message: str
