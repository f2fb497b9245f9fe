"""Route planning: a depot's day, the quarterly re-plan, re-sequencing, insertion of new
shops and visit batches, computed by background jobs, and shops moved on the map, computed
at once, into stored plans that become tickets; their approval applies the plan through
the ledger."""

from domain.planning.moves import plan_move
from domain.planning.requests import PlanRequest
from domain.planning.service import SETTINGS, may_plan, run_plan_job, start_route_plan
from domain.planning.settings import PlanningSettings
from domain.planning.submit import apply_plan_ticket, get_plan, submit_plan
from domain.planning.visits import batch_violations, start_visit_batches

__all__ = [
    "SETTINGS",
    "PlanRequest",
    "PlanningSettings",
    "apply_plan_ticket",
    "batch_violations",
    "get_plan",
    "may_plan",
    "plan_move",
    "run_plan_job",
    "start_route_plan",
    "start_visit_batches",
    "submit_plan",
]
