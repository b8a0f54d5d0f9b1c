"""`replenish`: build the problem, price budget and DC capacity, round to cases and packs, repair, polish."""

from __future__ import annotations

import logging
import time

import numpy as np
import polars as pl

from forecast.config import ReplenishmentConfig
from forecast.errors import InfeasibleError
from forecast.replenish.exact import MIP_MAX_INCREMENTS, solve_exact
from forecast.replenish.inputs import ReplenishProblem, build_problem
from forecast.replenish.model import FlowPlan, Increments, Prices, build_increments, solve_flow
from forecast.replenish.results import Plan, ReplenishResult, build_result, dc_flows, outcome

log = logging.getLogger(__name__)
PRICE_ROUNDS = 25


def replenish(
    forecasts: pl.DataFrame,
    dc_stock: pl.DataFrame,
    stores: pl.DataFrame,
    store_stock: pl.DataFrame | None,
    config: ReplenishmentConfig,
    *,
    in_transit: pl.DataFrame | None = None,
    suppliers: pl.DataFrame | None = None,
) -> ReplenishResult:
    """Plan weekly DC → store shipments and supplier orders over `config.weeks` weeks (README).

    Raises
    ------
    InputError
        A file breaks its contract (names file, column, row and fix).
    InfeasibleError
        A constraint cannot hold (names the constraint and the rows).
    """
    problem = build_problem(
        forecasts, dc_stock, stores, store_stock, config, in_transit=in_transit, suppliers=suppliers
    )
    return solve_problem(problem, config)


def solve_problem(problem: ReplenishProblem, config: ReplenishmentConfig) -> ReplenishResult:
    """Optimise an already built `ReplenishProblem`."""
    started = time.perf_counter()
    inc = build_increments(problem)
    bound, prices, relaxed = _price_limits(problem, inc)
    orders = round_orders(problem, relaxed.order_units)
    packs, orders = _ship(problem, inc, prices, orders)
    base = float(inc.base_value.sum())
    plan = Plan(packs, orders)
    value = outcome(problem, plan).objective
    total_bound = max(base + bound, value)
    status, method = "heuristic", "min-cost flow + rounding"
    gap = _gap(
        value, total_bound, outcome(problem, Plan(np.zeros_like(packs), np.zeros_like(orders))).objective
    )
    if gap > config.max_gap and inc.size <= MIP_MAX_INCREMENTS:
        left = max(config.time_limit_s - (time.perf_counter() - started), 1.0)
        exact = solve_exact(problem, inc, plan, time_limit_s=left, max_gap=config.max_gap)
        if exact is not None:
            method = "min-cost flow + SCIP MIP"
            total_bound = min(total_bound, base + exact.bound)
            if outcome(problem, exact.plan).objective >= value - 1e-9:
                plan, status = exact.plan, exact.status
    seconds = time.perf_counter() - started
    result = build_result(problem, plan, bound=total_bound, seconds=seconds, status=status, method=method)
    if result.gap <= config.max_gap and result.status == "heuristic":
        result.status = "within_gap"
    log.info(
        "replenishment: %d rows, %d packs, expected profit %.2f, bound %.2f, gap %.4f%%, %.2fs (%s)",
        problem.n_rows,
        inc.size,
        result.objective,
        result.bound,
        100 * result.gap,
        seconds,
        method,
    )
    return result


def _gap(value: float, bound: float, baseline: float) -> float:
    added = bound - baseline
    return 0.0 if added <= 1e-9 else max(bound - value, 0.0) / added


def _violations(problem: ReplenishProblem, flow: FlowPlan) -> tuple[float, np.ndarray]:
    spend = float((flow.order_units.sum(axis=1) * problem.unit_cost).sum())
    budget = spend - problem.budget if problem.budget is not None else 0.0
    held = flow.dc_end.sum(axis=0)
    dc = held - problem.dc_capacity if problem.dc_capacity is not None else np.zeros(problem.n_weeks)
    return budget, dc


def _price_limits(problem: ReplenishProblem, inc: Increments) -> tuple[float, Prices, FlowPlan]:
    """Subgradient on the budget and DC-capacity prices: best bound, and the last prices with their flow."""
    prices = Prices(0.0, np.zeros(problem.n_weeks))
    flow = solve_flow(problem, inc, prices)
    best = flow.bound
    if problem.budget is None and problem.dc_capacity is None:
        return best, prices, flow
    per_unit = float(np.median(inc.gain / inc.units)) if inc.size else 1.0
    for k in range(PRICE_ROUNDS):
        budget, dc = _violations(problem, flow)
        if budget <= 1e-9 and (dc <= 1e-9).all():
            break
        step = 1.0 / (k + 1)
        scale_b = max(problem.budget or 1.0, 1.0)
        scale_d = max(problem.dc_capacity or 1.0, 1.0)
        prices = Prices(
            max(0.0, prices.budget + step * budget / scale_b),
            np.maximum(0.0, prices.dc + step * per_unit * dc / scale_d),
        )
        flow = solve_flow(problem, inc, prices)
        best = min(best, flow.bound)
    return best, prices, flow


def round_orders(problem: ReplenishProblem, units: np.ndarray) -> np.ndarray:
    """Orders in whole cases, at least the MOQ (an order below half the MOQ is dropped), inside the budget."""
    case = problem.case_pack[:, None].astype(float)
    moq = np.ceil(problem.moq_units / problem.case_pack)[:, None] * case
    rounded = np.round(units / case) * case
    rounded = np.where(rounded < moq, np.where(units >= moq / 2, moq, 0.0), rounded)
    rounded = np.where(units > 0, rounded, 0.0)
    return _fit_budget(problem, rounded)


def _fit_budget(problem: ReplenishProblem, orders: np.ndarray) -> np.ndarray:
    """Cut cases from the latest orders until the spend fits the budget."""
    if problem.budget is None:
        return orders
    orders = orders.copy()
    cost = problem.unit_cost
    over = float((orders.sum(axis=1) * cost).sum()) - problem.budget
    for t in range(problem.n_weeks - 1, -1, -1):
        for a in np.flatnonzero(orders[:, t] > 0):
            if over <= 1e-9:
                return orders
            case = float(problem.case_pack[a])
            floor = float(max(np.ceil(problem.moq_units[a] / case) * case, case))
            cut = min(np.ceil(over / max(cost[a] * case, 1e-12)) * case, orders[a, t])
            keep = orders[a, t] - cut
            keep = keep if keep >= floor else 0.0
            over -= (orders[a, t] - keep) * cost[a]
            orders[a, t] = keep
    return orders


def _ship(
    problem: ReplenishProblem, inc: Increments, prices: Prices, orders: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Shipments for fixed orders: flow, whole packs, greedy refill; orders cut where the DC overflows."""
    for _ in range(problem.n_weeks + 1):
        flow = solve_flow(problem, inc, prices, fixed_orders=orders)
        taken = _whole_packs(inc, flow.inc_units)
        taken = _refill(problem, inc, taken, orders, flow.inc_units)
        packs = np.zeros(problem.n_rows, dtype=np.int64)
        np.add.at(packs, inc.row[taken], 1)
        if problem.dc_capacity is None:
            return packs, orders
        _, _, dc_end = dc_flows(problem, Plan(packs, orders))
        over = np.flatnonzero(dc_end.sum(axis=0) > problem.dc_capacity + 1e-6)
        if over.size == 0:
            return packs, orders
        orders = _cut_for_capacity(problem, orders, int(over[0]), float(dc_end[:, over[0]].sum()))
    week = problem.weeks[int(over[0])]
    msg = (
        f"dc capacity: stock held at the end of week {week} exceeds {problem.dc_capacity:g} units after cuts"
    )
    raise InfeasibleError(msg)


def _cut_for_capacity(problem: ReplenishProblem, orders: np.ndarray, week: int, held: float) -> np.ndarray:
    """Drop the latest orders arriving by `week` until the excess would be gone."""
    orders = orders.copy()
    excess = held - (problem.dc_capacity or 0.0)
    arrive = np.arange(problem.n_weeks)[None, :] + problem.supplier_lead[:, None]
    candidates = np.argwhere((orders > 0) & (arrive <= week))
    if candidates.size == 0:
        msg = (
            f"dc capacity: on-hand and in-transit DC stock at the end of week {problem.weeks[week]} is "
            f"{held:g} units > {problem.dc_capacity:g} and no order can be cut"
        )
        raise InfeasibleError(msg)
    for a, t in candidates[np.argsort(-arrive[candidates[:, 0], candidates[:, 1]], kind="stable")]:
        if excess <= 0:
            break
        excess -= orders[a, t]
        orders[a, t] = 0.0
    return orders


def _whole_packs(inc: Increments, units: np.ndarray) -> np.ndarray:
    """Increments filled by the flow whose earlier increments (same row) are filled too."""
    full = units >= inc.units - 1e-9
    if inc.size == 0:
        return full
    start = np.flatnonzero(np.r_[True, inc.row[1:] != inc.row[:-1]])
    gaps = np.cumsum(~full)
    first = np.repeat(start, np.diff(np.r_[start, inc.size]))
    before: np.ndarray = gaps[first] - (~full[first]).astype(np.int64)
    return full & (gaps - before == 0)


def _refill(
    problem: ReplenishProblem, inc: Increments, taken: np.ndarray, orders: np.ndarray, units: np.ndarray
) -> np.ndarray:
    """Greedy: add the partly filled next packs, best gain per unit first, while DC stock and room allow."""
    taken = taken.copy()
    packs = np.zeros(problem.n_rows, dtype=np.int64)
    np.add.at(packs, inc.row[taken], 1)
    _, _, dc_end = dc_flows(problem, Plan(packs, orders))
    slack = dc_end.copy()
    filled = problem.store_known.copy()
    np.add.at(filled, (problem.row_store[inc.row[taken]], problem.row_week[inc.row[taken]]), inc.units[taken])
    room = problem.capacity_units[:, None] - filled
    count = np.bincount(inc.row[taken], minlength=problem.n_rows)
    start = np.full(problem.n_rows, -1, dtype=np.int64)
    if inc.size:
        first = np.flatnonzero(np.r_[True, inc.row[1:] != inc.row[:-1]])
        start[inc.row[first]] = first
    partial = np.flatnonzero(~taken & (units > 1e-9))
    nxt = partial[partial == start[inc.row[partial]] + count[inc.row[partial]]]
    for i in nxt[np.argsort(-inc.gain[nxt] / inc.units[nxt], kind="stable")]:
        row = inc.row[i]
        a, s, w, t = problem.row_article[row], problem.row_store[row], inc.ship_week[i], problem.row_week[row]
        u = float(inc.units[i])
        if inc.gain[i] <= 0 or room[s, t] < u - 1e-9 or slack[a, w:].min() < u - 1e-9:
            continue
        slack[a, w:] -= u
        room[s, t] -= u
        taken[i] = True
    return taken
