"""Replenishment: weekly DC → store shipments and supplier orders over several weeks (OR-Tools)."""

from forecast.replenish.inputs import ReplenishProblem, build_problem
from forecast.replenish.results import Plan, ReplenishResult, check_plan, outcome
from forecast.replenish.solve import replenish, solve_problem

__all__ = [
    "Plan",
    "ReplenishProblem",
    "ReplenishResult",
    "build_problem",
    "check_plan",
    "outcome",
    "replenish",
    "solve_problem",
]
