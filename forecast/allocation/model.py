"""The allocation optimiser: concave per-pack gains, a min-cost-flow LP bound, rounding, repair and a MIP.

Each store × article's expected profit ``(p − c)·E[min(D, I + x)] − h·E[(I + x − D)+] − c_ship·x`` (the money
model of `forecast.business.profit`) is concave in the units ``x``, so its gain per extra pack shrinks pack by
pack. The problem is then a transportation problem with convex costs: DC article -> store arcs, one per pack
(the first ``k`` packs merged into one lot when the presentation minimum needs ``k`` packs), article supply
and store capacity as arc limits. Its LP relaxation is a min-cost flow (OR-Tools ``SimpleMinCostFlow``), exact
up to the integer cost scaling, which is added back to the bound. Flooring the flow to whole packs gives a
feasible plan; a greedy pass fills what flooring freed. Small instances whose gap exceeds ``max_gap`` are
finished by a MIP (SCIP) warm-started from that plan.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow
from ortools.linear_solver import pywraplp

from forecast.allocation.demand import DemandModel
from forecast.allocation.inputs import AllocationProblem
from forecast.business import profit
from forecast.errors import ForecastError

MIP_MAX_INCREMENTS = 20_000  # larger instances rely on the flow bound and the repaired rounding
_MAX_SCALED_COST = 1e8
_MIN_GAIN = 1e-9


@dataclass
class Increments:
    """Candidate shipments: per pair, consecutive increments of `packs` packs (money `gain`), best first."""

    pair: np.ndarray
    packs: np.ndarray
    units: np.ndarray
    gain: np.ndarray
    base_value: np.ndarray  # per pair: expected profit of the stock already on hand

    @property
    def size(self) -> int:
        return int(self.pair.size)


@dataclass
class Solution:
    taken: np.ndarray  # increments taken per pair
    gain: float  # expected profit added by the shipments
    bound: float  # upper bound on `gain`
    status: str


def pair_value(
    problem: AllocationProblem, demand: DemandModel, pair: np.ndarray, stock: np.ndarray
) -> np.ndarray:
    """Expected profit of stock ``y`` before shipping cost: ``(p − c)·E[min(D, y)] − h·E[(y − D)+]``."""
    art = problem.pair_article[pair]
    sales = demand.expected_sales(pair, stock)
    nothing = np.zeros_like(sales)
    return profit(
        sales,
        stock - sales,
        price=problem.price[art],
        unit_cost=problem.unit_cost[art],
        holding_cost=problem.holding_cost[art],
        ship_cost=nothing,
        units_sent=nothing,
    )


def _pack_limits(problem: AllocationProblem, demand: DemandModel) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: packs worth considering and packs the presentation minimum demands (0 = none)."""
    art, store = problem.pair_article, problem.pair_store
    pack, on_hand = problem.pack_size[art], problem.pair_on_hand
    hold, ship = problem.holding_cost[art], problem.ship_cost[store]
    # a unit more at stock y gains (p − c + h)·P(D > y) − h − ship: worth it only while P(D > y) > threshold
    spread = problem.price[art] - problem.unit_cost[art] + hold
    threshold = np.divide(hold + ship, spread, out=np.ones_like(spread), where=spread > 0)
    useful = demand.max_useful_units(np.arange(problem.n_pairs), threshold)
    lot = np.where(on_hand < problem.presentation_min, -(-(problem.presentation_min - on_hand) // pack), 0)
    packs = np.maximum(-(-np.maximum(useful - on_hand, 0) // pack), lot)
    shippable = np.minimum(problem.usable_units[art], np.maximum(problem.residual_capacity[store], 0)) // pack
    packs = np.where(lot > shippable, 0, np.minimum(packs, shippable))
    return packs.astype(np.int64), lot.astype(np.int64)


def build_increments(problem: AllocationProblem, demand: DemandModel) -> Increments:
    """Per-pack gains of every pair, lots merged, only the leading run of positive gains kept."""
    packs, lot = _pack_limits(problem, demand)
    all_pairs = np.arange(problem.n_pairs)
    base = pair_value(problem, demand, all_pairs, problem.pair_on_hand.astype(float))
    pair = np.repeat(all_pairs, packs)
    starts = np.cumsum(packs) - packs
    k = np.arange(pair.size) - np.repeat(starts, packs) + 1
    art = problem.pair_article[pair]
    pack = problem.pack_size[art]
    stock = problem.pair_on_hand[pair] + k * pack
    value = pair_value(problem, demand, pair, stock.astype(float))
    previous = np.where(k == 1, base[pair], np.concatenate([[0.0], value[:-1]]))
    gain = value - previous - problem.ship_cost[problem.pair_store[pair]] * pack
    first = np.flatnonzero((k == 1) | (k > lot[pair]))
    gain = np.add.reduceat(gain, first) if first.size else gain[:0]
    inc_packs = np.add.reduceat(np.ones_like(k), first) if first.size else k[:0]
    pair = pair[first]
    # gains shrink pack by pair, so keep each pair's leading run of positive gains
    bad = (gain <= _MIN_GAIN).astype(np.int64)
    run = np.cumsum(bad)
    group_start = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]]) if pair.size else np.zeros(0, np.int64)
    offset = np.repeat(run[group_start] - bad[group_start], np.diff(np.r_[group_start, pair.size]))
    keep = (run - offset) == 0
    units = inc_packs[keep] * problem.pack_size[problem.pair_article[pair[keep]]]
    return Increments(pair[keep], inc_packs[keep], units, gain[keep], base)


def solve_flow(problem: AllocationProblem, inc: Increments) -> tuple[np.ndarray, float]:
    """LP relaxation as a min-cost flow: units on each increment and an upper bound on the total gain."""
    n_art, n_store = problem.article_ids.size, problem.store_ids.size
    sink = 1 + n_art + n_store
    supply = problem.usable_units
    cap = np.maximum(problem.residual_capacity, 0)
    if inc.size == 0 or supply.sum() == 0:
        return np.zeros(inc.size), 0.0
    per_unit = inc.gain / inc.units
    scale = _MAX_SCALED_COST / per_unit.max()
    costs = -np.round(per_unit * scale).astype(np.int64)
    art_nodes = 1 + np.arange(n_art)
    store_nodes = 1 + n_art + np.arange(n_store)
    inc_tails, inc_heads = (
        art_nodes[problem.pair_article[inc.pair]],
        store_nodes[problem.pair_store[inc.pair]],
    )
    # source -> article (DC units), article -> sink (left at the DC), increments, store -> sink (capacity)
    tails = np.concatenate([np.zeros(n_art, np.int64), art_nodes, inc_tails, store_nodes])
    heads = np.concatenate([art_nodes, np.full(n_art, sink), inc_heads, np.full(n_store, sink)])
    caps = np.concatenate([supply, supply, inc.units, cap])
    arc_costs = np.concatenate([np.zeros(2 * n_art, np.int64), costs, np.zeros(n_store, np.int64)])
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int32), heads.astype(np.int32), caps.astype(np.int64), arc_costs.astype(np.int64)
    )
    total = int(supply.sum())
    flow.set_node_supply(0, total)
    flow.set_node_supply(sink, -total)
    status = flow.solve()
    if status != flow.OPTIMAL:
        msg = f"the min-cost flow relaxation failed with status {status}"
        raise ForecastError(msg)
    first_inc = 2 * n_art
    units = np.asarray(flow.flows(np.arange(first_inc, first_inc + inc.size)), dtype=float)
    # rounding each unit cost by at most 0.5/scale moves any plan's value by at most that per unit shipped
    slack = 0.5 / scale * min(total, int(cap.sum()))
    return units, float(-flow.optimal_cost() / scale + slack)


def _group_starts(pair: np.ndarray, n_pairs: int) -> np.ndarray:
    """Index of each pair's first increment (increments are sorted by pair); pairs without any get -1."""
    starts = np.full(n_pairs, -1, dtype=np.int64)
    if pair.size:
        first = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
        starts[pair[first]] = first
    return starts


def round_flow(problem: AllocationProblem, inc: Increments, units: np.ndarray) -> np.ndarray:
    """Whole increments per pair from the LP flow: the leading increments the flow fills completely."""
    full = (units >= inc.units).astype(np.int64)
    taken = np.zeros(problem.n_pairs, dtype=np.int64)
    if inc.size:
        # an increment counts only when every earlier increment of its pair is full too
        run = np.cumsum(1 - full)
        starts = _group_starts(inc.pair, problem.n_pairs)
        before = run[starts[inc.pair]] - (1 - full[starts[inc.pair]])
        np.add.at(taken, inc.pair, ((run - before) == 0).astype(np.int64))
    return taken


def _taken_usage(problem: AllocationProblem, inc: Increments, taken: np.ndarray) -> tuple[np.ndarray, float]:
    starts = _group_starts(inc.pair, problem.n_pairs)
    position = np.arange(inc.size) - starts[inc.pair]
    chosen = position < taken[inc.pair]
    return chosen, float(inc.gain[chosen].sum())


def repair(problem: AllocationProblem, inc: Increments, taken: np.ndarray) -> np.ndarray:
    """Greedy fill: add the next increment with the best gain per unit while DC stock and capacity allow."""
    taken = taken.copy()
    starts = _group_starts(inc.pair, problem.n_pairs)
    counts = np.bincount(inc.pair, minlength=problem.n_pairs)
    chosen, _ = _taken_usage(problem, inc, taken)
    dc_left = problem.usable_units - np.bincount(
        problem.pair_article[inc.pair[chosen]], weights=inc.units[chosen], minlength=problem.article_ids.size
    ).astype(np.int64)
    cap_left = np.maximum(problem.residual_capacity, 0) - np.bincount(
        problem.pair_store[inc.pair[chosen]], weights=inc.units[chosen], minlength=problem.store_ids.size
    ).astype(np.int64)
    while True:
        open_pairs = np.flatnonzero(taken < counts)
        nxt = starts[open_pairs] + taken[open_pairs]
        art, store = problem.pair_article[open_pairs], problem.pair_store[open_pairs]
        fits = (inc.units[nxt] <= dc_left[art]) & (inc.units[nxt] <= cap_left[store])
        nxt, art, store = nxt[fits], art[fits], store[fits]
        if nxt.size == 0:
            return taken
        order = np.argsort(-inc.gain[nxt] / inc.units[nxt], kind="stable")
        added = 0
        for i in order:
            units = int(inc.units[nxt[i]])
            if units <= dc_left[art[i]] and units <= cap_left[store[i]]:
                dc_left[art[i]] -= units
                cap_left[store[i]] -= units
                taken[inc.pair[nxt[i]]] += 1
                added += 1
        if added == 0:
            return taken


def solve_mip(
    problem: AllocationProblem, inc: Increments, hint: np.ndarray, time_limit_s: float, max_gap: float
) -> Solution | None:
    """Exact MIP over the increments (binary, in order per pair), warm-started from `hint`."""
    solver = pywraplp.Solver.CreateSolver("SCIP")
    if solver is None:
        return None
    take = [solver.BoolVar(f"z{i}") for i in range(inc.size)]
    starts = _group_starts(inc.pair, problem.n_pairs)
    for i in range(inc.size):
        if starts[inc.pair[i]] != i:
            solver.Add(take[i] <= take[i - 1])
    for index, limit, owner in (
        (problem.pair_article[inc.pair], problem.usable_units, "article"),
        (problem.pair_store[inc.pair], np.maximum(problem.residual_capacity, 0), "store"),
    ):
        del owner
        for key in np.unique(index):
            members = np.flatnonzero(index == key)
            solver.Add(sum(int(inc.units[i]) * take[i] for i in members) <= int(limit[key]))
    solver.Maximize(sum(float(inc.gain[i]) * take[i] for i in range(inc.size)))
    chosen, _ = _taken_usage(problem, inc, hint)
    solver.SetHint(take, [float(c) for c in chosen])
    status = run_mip(solver, time_limit_s, max_gap)
    if status is None:
        return None
    values = np.array([v.solution_value() > 0.5 for v in take])
    taken = np.bincount(inc.pair[values], minlength=problem.n_pairs).astype(np.int64)
    label = "optimal" if status == pywraplp.Solver.OPTIMAL else "feasible"
    return Solution(taken, float(inc.gain[values].sum()), float(solver.Objective().BestBound()), label)


def optimise(
    problem: AllocationProblem, inc: Increments, *, time_limit_s: float, max_gap: float
) -> tuple[Solution, str]:
    """Best plan found (increments taken per pair) with its bound; the second value names the method."""
    start = time.perf_counter()
    units, bound = solve_flow(problem, inc)
    taken = repair(problem, inc, round_flow(problem, inc, units))
    _, gain = _taken_usage(problem, inc, taken)
    best = Solution(taken, gain, max(bound, gain), "heuristic")
    method = "min-cost flow + rounding"
    if relative_gap(best.gain, best.bound) > max_gap and inc.size <= MIP_MAX_INCREMENTS:
        left = max(time_limit_s - (time.perf_counter() - start), 1.0)
        mip = solve_mip(problem, inc, taken, left, max_gap)
        if mip is not None:
            bound = min(best.bound, mip.bound)
            if mip.gain > best.gain:
                best = Solution(mip.taken, mip.gain, max(bound, mip.gain), mip.status)
            else:
                best = Solution(best.taken, best.gain, max(bound, best.gain), best.status)
            method = "min-cost flow + SCIP MIP"
    return best, method


def relative_gap(gain: float, bound: float) -> float:
    """(bound − gain) / bound on the profit the shipments add (0 when nothing can be gained)."""
    if bound <= _MIN_GAIN:
        return 0.0
    return max(bound - gain, 0.0) / bound


def packs_of(problem: AllocationProblem, inc: Increments, taken: np.ndarray) -> np.ndarray:
    """Packs per pair from the number of increments taken per pair."""
    chosen, _ = _taken_usage(problem, inc, taken)
    return np.bincount(inc.pair[chosen], weights=inc.packs[chosen], minlength=problem.n_pairs).astype(
        np.int64
    )


def run_mip(solver: pywraplp.Solver, time_limit_s: float, max_gap: float) -> int | None:
    """Solve `solver` within `time_limit_s` seconds to a relative MIP gap of `max_gap`; the status when a
    plan was found (optimal or feasible), else None."""
    solver.SetTimeLimit(int(time_limit_s * 1000))
    params = pywraplp.MPSolverParameters()
    params.SetDoubleParam(params.RELATIVE_MIP_GAP, max_gap)
    status = solver.Solve(params)
    return status if status in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE) else None
