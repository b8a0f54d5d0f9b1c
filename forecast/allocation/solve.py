"""`allocate`: the optimised plan for one allocation week."""

from __future__ import annotations

import logging
import time
from datetime import date

import polars as pl

from forecast.allocation.demand import DemandModel
from forecast.allocation.inputs import AllocationProblem, build_problem
from forecast.allocation.model import build_increments, optimise, packs_of
from forecast.allocation.results import AllocationResult, build_result
from forecast.allocation.rules import rule_profits
from forecast.config import AllocationConfig

log = logging.getLogger(__name__)


def allocate(
    forecasts: pl.DataFrame,
    dc_stock: pl.DataFrame,
    stores: pl.DataFrame,
    store_stock: pl.DataFrame | None,
    config: AllocationConfig,
    *,
    week: date | None = None,
) -> AllocationResult:
    """Send DC stock to stores to maximise expected profit; see `forecast.allocation` for the model.

    Parameters
    ----------
    forecasts, dc_stock, stores, store_stock
        Frames in the file contracts (store_stock may be None: nothing on hand).
    config
        Presentation minimum, default holding/ship costs, time limit, target gap, cover weeks, demand model.
    week
        The allocation week (default: the first forecast week); demand covers `config.cover_weeks` weeks.

    Raises
    ------
    InputError
        A file breaks its contract (names file, column, row and fix).
    InfeasibleError
        A constraint cannot hold (names the constraint and the rows).
    """
    return solve_problem(build_problem(forecasts, dc_stock, stores, store_stock, config, week=week), config)


def solve_problem(problem: AllocationProblem, config: AllocationConfig) -> AllocationResult:
    """Optimise an already built `AllocationProblem`."""
    started = time.perf_counter()
    demand = DemandModel.from_problem(problem)
    inc = build_increments(problem, demand)
    best, method = optimise(problem, inc, time_limit_s=config.time_limit_s, max_gap=config.max_gap)
    packs = packs_of(problem, inc, best.taken)
    seconds = time.perf_counter() - started
    baseline = float(inc.base_value.sum())
    result = build_result(
        problem,
        demand,
        packs,
        bound=baseline + best.bound,
        solve_seconds=seconds,
        status=best.status,
        method=method,
    )
    if result.gap <= config.max_gap and result.status == "heuristic":
        result.status = "within_gap"
    result.rule_profits = rule_profits(problem, demand)
    log.info(
        "allocation: %d pairs, %d pack increments, expected profit %.2f, gap %.4f%%, %.2fs (%s)",
        problem.n_pairs,
        inc.size,
        result.expected_profit,
        100 * result.gap,
        seconds,
        method,
    )
    return result
