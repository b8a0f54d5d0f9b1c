"""Allocation: send DC stock to stores in whole packs to maximise expected profit (OR-Tools)."""

from forecast.allocation.inputs import AllocationProblem, build_problem
from forecast.allocation.results import AllocationResult, evaluate_plan, expected_profit
from forecast.allocation.rules import allocate_cover, allocate_proportional
from forecast.allocation.solve import allocate, solve_problem

__all__ = [
    "AllocationProblem",
    "AllocationResult",
    "allocate",
    "allocate_cover",
    "allocate_proportional",
    "build_problem",
    "evaluate_plan",
    "expected_profit",
    "solve_problem",
]
