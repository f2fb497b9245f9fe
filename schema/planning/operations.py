"""planRoutes, submitRoutePlan, planVisitBatches, cancelJob; routePlan, job and
batchViolations. Planning is queued as a background job: the mutation answers at once
with the plan (status ``computing``) and its job, whose progress the client polls."""

from __future__ import annotations

from enum import Enum

import strawberry

from domain import planning
from domain.errors import NOT_FOUND, DomainError
from domain.jobs import get_job, request_cancel
from domain.models import RoutePlan as PlanRow
from schema.context import Info
from schema.errors import UserError
from schema.planning.types import BatchViolation, Job, RoutePlan, job_node, plan_node
from schema.tickets.payloads import IdempotencyKey, in_savepoint
from schema.tickets.types import Ticket, ticket_node


@strawberry.enum(description="规划方式")
class PlanMode(Enum):
    DAY = "day"
    QUARTERLY = "quarterly"
    RESEQUENCE = "resequence"
    INSERT = "insert"


@strawberry.enum(description="线路均衡规则")
class BalanceRule(Enum):
    NONE = "none"
    STOPS = "stops"
    DURATION = "duration"


@strawberry.input(description="线路规划请求")
class PlanRoutesInput:
    mode: PlanMode = PlanMode.DAY
    depot_id: int | None = strawberry.field(default=None, description="配送中心或中转站")
    weekday: int | None = strawberry.field(default=None, description="送货日 1–7（day、insert）")
    route_id: int | None = strawberry.field(default=None, description="要重排顺序的线路")
    customer_ids: list[int] = strawberry.field(
        default_factory=list, description="要插入线路的客户（insert）"
    )
    locked_route_ids: list[int] = strawberry.field(
        default_factory=list, description="保持不动的线路"
    )
    balance: BalanceRule = BalanceRule.STOPS
    balance_tolerance: float = strawberry.field(default=0.15, description="均衡容差（±比例）")
    max_stops: int | None = strawberry.field(default=None, description="每条线路最多送货点数")
    service_minutes: int | None = strawberry.field(default=None, description="每点服务时间")
    time_limit_seconds: float | None = strawberry.field(default=None, description="计算时限")
    days: list[int] = strawberry.field(
        default_factory=list, description="季度调整使用的送货日（默认站点现有的送货日）"
    )


def _request(data: PlanRoutesInput) -> planning.PlanRequest:
    return planning.PlanRequest(
        mode=data.mode.value, depot_id=data.depot_id, weekday=data.weekday,
        route_id=data.route_id, customer_ids=tuple(data.customer_ids),
        locked_route_ids=tuple(data.locked_route_ids), balance_rule=data.balance.value,
        balance_tolerance=data.balance_tolerance, max_stops=data.max_stops,
        service_min=data.service_minutes, time_limit_s=data.time_limit_seconds,
        days=tuple(data.days),
    )  # fmt: skip


@strawberry.type
class PlanPayload:
    plan: RoutePlan | None
    job: Job | None
    errors: list[UserError]


@strawberry.type
class SubmitRoutePlanPayload:
    plan: RoutePlan | None
    ticket: Ticket | None
    errors: list[UserError]


@strawberry.type
class JobPayload:
    job: Job | None
    errors: list[UserError]


def _plan_payload(info: Info, row: PlanRow | None, errors: list[UserError]) -> PlanPayload:
    if row is None:
        return PlanPayload(plan=None, job=None, errors=errors)
    plan = plan_node(row)
    return PlanPayload(plan=plan, job=plan.job(info), errors=errors)


@strawberry.type
class PlanningMutations:
    @strawberry.mutation(
        description="计算线路规划（后台任务，不执行任何调整）：立即返回规划和任务，可读进度"
    )
    def plan_routes(
        self, info: Info, input: PlanRoutesInput, idempotency_key: IdempotencyKey = None
    ) -> PlanPayload:
        ctx = info.context
        principal = ctx.require()
        row, errors = in_savepoint(
            ctx, lambda: planning.start_route_plan(ctx.session, principal, _request(input))
        )
        return _plan_payload(info, row, errors)

    @strawberry.mutation(description="把算好的规划提交为线路调整工单（审批通过后才生效）")
    def submit_route_plan(
        self, info: Info, id: int, reason: str | None = None,
        idempotency_key: IdempotencyKey = None,
    ) -> SubmitRoutePlanPayload:  # fmt: skip
        ctx = info.context
        principal = ctx.require()

        def action() -> tuple[PlanRow, object]:
            ticket = planning.submit_plan(
                ctx.session, principal, id, reason=reason, vault=ctx.vault, now=ctx.now
            )
            return planning.get_plan(ctx.session, principal, id), ticket

        done, errors = in_savepoint(ctx, action)
        if done is None:
            return SubmitRoutePlanPayload(plan=None, ticket=None, errors=errors)
        plan, ticket = done
        return SubmitRoutePlanPayload(plan=plan_node(plan), ticket=ticket_node(ticket), errors=[])

    @strawberry.mutation(
        description="为客户经理计算拜访批次（后台任务）：就近成片、各批数量相差不超过 ±10%"
    )
    def plan_visit_batches(
        self, info: Info, manager_id: int, batches: int = 5,
        idempotency_key: IdempotencyKey = None,
    ) -> PlanPayload:  # fmt: skip
        ctx = info.context
        principal = ctx.require()
        row, errors = in_savepoint(
            ctx,
            lambda: planning.start_visit_batches(ctx.session, principal, manager_id, batches),
        )
        return _plan_payload(info, row, errors)

    @strawberry.mutation(description="取消排队或运行中的后台任务")
    def cancel_job(self, info: Info, id: int) -> JobPayload:
        ctx = info.context
        principal = ctx.require()
        row, errors = in_savepoint(ctx, lambda: request_cancel(ctx.session, principal, id))
        return JobPayload(job=job_node(row) if row is not None else None, errors=errors)


@strawberry.type
class PlanningQueries:
    @strawberry.field(description="一个线路规划（算好但尚未执行）及其前后指标和调整")
    def route_plan(self, info: Info, id: int) -> RoutePlan | None:
        ctx = info.context
        principal = ctx.require()
        try:
            return plan_node(planning.get_plan(ctx.session, principal, id))
        except DomainError as err:
            if err.code == NOT_FOUND:
                return None
            raise

    @strawberry.field(description="一个后台任务的状态和进度")
    def job(self, info: Info, id: int) -> Job | None:
        ctx = info.context
        principal = ctx.require()
        try:
            return job_node(get_job(ctx.session, principal, id))
        except DomainError:
            return None

    @strawberry.field(description="订货批次、送货日与拜访批次的一致性检查（管辖范围内）")
    def batch_violations(
        self, info: Info, manager_id: int | None = None, depot_id: int | None = None,
        first: int = 200,
    ) -> list[BatchViolation]:  # fmt: skip
        ctx = info.context
        principal = ctx.require()
        rows = planning.batch_violations(
            ctx.session, principal, manager_id=manager_id, depot_id=depot_id,
            limit=max(1, min(first, 1000)),
        )  # fmt: skip
        return [BatchViolation(customer_id=r["customerId"], code=r["code"], kind=r["kind"],
                               message=r["message"]) for r in rows]  # fmt: skip
