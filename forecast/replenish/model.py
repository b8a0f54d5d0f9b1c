"""The replenishment model: per-pack gains of every store × article × week and a time-expanded network.

Formulation (README "Replenishment"). Each forecast row (store s, article a, week t) starts the week with
its projected known stock K (on hand and in transit, see `forecast.replenish.inputs`). New units u arriving
in week t are that week's delivery: the row's expected profit is

    p_t·E[min(D_t, K + u)] − h·E[(K + u − D_t)+] + v·(E[(K + u − D_t)+] − E[(K − D_t)+]) − ship_s·u

— units of a week's delivery that do not sell that week are valued at the salvage value v (a lower bound: in
the store they would carry over and may still sell). Expected sales come from the row's demand distribution
(`forecast.allocation.demand`), so each extra pack's gain is exact and shrinks pack by pack. DC stock left at
the horizon's end is worth v too; ordered units cost the unit cost c.

Every pack of every row is an arc of a min-cost flow: DC(a, t − L_s) → store-week(s, t) → sink, the store-week
arc capped by the store's free capacity; DC(a, t) → DC(a, t + 1) carries DC stock; supplier orders enter at
DC(a, t + L_a) at cost c. Budget and DC capacity are priced in (Lagrangian); the flow value at any prices
plus the priced limits bounds the optimum from above. Orders are rounded to case packs and minimum order
quantities, the flow is solved again with those orders fixed, partial packs are rounded down and a greedy
pass refills; small instances are finished by an exact SCIP MIP (`forecast.replenish.exact`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow

from forecast.errors import ForecastError
from forecast.replenish.inputs import ReplenishProblem

MAX_PACKS_PER_ROW = 60
_MAX_SCALED_COST = 1e8
_MIN_GAIN = 1e-9


@dataclass
class Increments:
    """Candidate shipments, one pack each, in order per row: row, units, money gain, ship week."""

    row: np.ndarray
    units: np.ndarray
    gain: np.ndarray
    ship_week: np.ndarray
    base_value: np.ndarray  # per row: expected profit of the known stock alone

    @property
    def size(self) -> int:
        return int(self.row.size)


def row_value(problem: ReplenishProblem, rows: np.ndarray, stock: np.ndarray) -> np.ndarray:
    """``(p + h − v)·E[min(D, y)] + (v − h)·y`` for stock y: expected profit before shipping cost, up to the
    known stock's salvage term (which does not depend on the shipment)."""
    art = problem.row_article[rows]
    price = problem.row_price[rows] + problem.row_shortage[rows]
    hold, salvage = problem.holding_cost[art], problem.row_carry[rows]
    return (price + hold - salvage) * problem.demand.expected_sales(rows, stock) + (salvage - hold) * stock


def known_value(problem: ReplenishProblem) -> np.ndarray:
    """Per row: expected profit of the known stock alone (leftover salvaged in the season's last week)."""
    rows = np.arange(problem.n_rows)
    art = problem.row_article
    known = problem.row_known
    sales = problem.demand.expected_sales(rows, known)
    left = known - sales
    last = problem.row_week == problem.season_last[art]
    return (
        problem.row_shortage * (sales - problem.row_mean)
        + problem.row_price * sales
        - problem.holding_cost[art] * left
        + np.where(last, problem.salvage_value[art] * left, 0.0)
    )


def build_increments(problem: ReplenishProblem) -> Increments:
    """Per-pack gains of every row that can still receive stock, only the leading run of positive gains."""
    n = problem.n_rows
    rows = np.arange(n)
    art, store = problem.row_article, problem.row_store
    pack = problem.pack_size[art]
    ship_week = problem.row_week - problem.store_lead[store]
    price, hold, salvage = (
        problem.row_price + problem.row_shortage,
        problem.holding_cost[art],
        problem.row_carry,
    )
    ship = problem.ship_cost[store]
    denom = price + hold - salvage
    with np.errstate(divide="ignore", invalid="ignore"):
        threshold = np.where(denom > 0, (hold + ship) / denom, 1.0)
    useful = problem.demand.max_useful_units(rows, np.clip(threshold, 0.0, 1.0))
    room = np.maximum(problem.capacity_units[store] - problem.store_known[store, problem.row_week], 0)
    packs = -(-np.maximum(useful - problem.row_known, 0) // pack)
    packs = np.minimum(np.minimum(packs, room // pack), MAX_PACKS_PER_ROW)
    packs = np.where((ship_week >= 0) & (threshold < 1.0), packs, 0).astype(np.int64)
    base = known_value(problem)
    row = np.repeat(rows, packs)
    k = np.arange(row.size) - np.repeat(np.cumsum(packs) - packs, packs) + 1
    unit = pack[row]
    known = problem.row_known[row]
    gain = (
        row_value(problem, row, known + k * unit)
        - row_value(problem, row, known + (k - 1) * unit)
        - ship[row] * unit
    )
    bad = (gain <= _MIN_GAIN).astype(np.int64)
    run = np.cumsum(bad)
    start = np.flatnonzero(np.r_[True, row[1:] != row[:-1]]) if row.size else np.zeros(0, np.int64)
    offset = np.repeat(run[start] - bad[start], np.diff(np.r_[start, row.size]))
    keep = (run - offset) == 0
    row = row[keep]
    return Increments(row, unit[keep].astype(np.int64), gain[keep], ship_week[row], base)


@dataclass
class Prices:
    """Lagrangian prices: per unit of purchase money (budget) and per unit held at the DC each week."""

    budget: float
    dc: np.ndarray


@dataclass
class FlowPlan:
    """A (possibly fractional-pack) plan in units: per increment, per article × order week, DC end stock."""

    inc_units: np.ndarray
    order_units: np.ndarray  # (articles, T) by order week
    dc_end: np.ndarray  # (articles, T)
    bound: float  # Lagrangian upper bound on the objective (NaN when orders were fixed)


def order_caps(problem: ReplenishProblem, inc: Increments) -> np.ndarray:
    """Most units worth ordering per article: all its candidate packs."""
    return np.bincount(problem.row_article[inc.row], weights=inc.units, minlength=problem.article_ids.size)


def solve_flow(
    problem: ReplenishProblem, inc: Increments, prices: Prices, fixed_orders: np.ndarray | None = None
) -> FlowPlan:
    """Min-cost flow of the network at `prices`; with `fixed_orders` (articles × T, by order week) the orders
    are supply instead of decisions."""
    n_a, n_s, n_t = problem.article_ids.size, problem.store_ids.size, problem.n_weeks
    dc_node = np.arange(n_a * n_t).reshape(n_a, n_t)
    sw_node = n_a * n_t + np.arange(n_s * n_t).reshape(n_s, n_t)
    ord_node, sink = n_a * n_t + n_s * n_t, n_a * n_t + n_s * n_t + 1
    supply = np.zeros((n_a, n_t))
    supply[:, 0] += problem.dc_on_hand
    supply += problem.dc_inbound
    lead = problem.supplier_lead
    if fixed_orders is not None:
        for t in range(n_t):
            arrive = t + lead
            ok = arrive < n_t
            np.add.at(supply, (np.flatnonzero(ok), arrive[ok]), fixed_orders[ok, t])
    total = float(supply.sum())
    caps_orders = order_caps(problem, inc)
    order_a, order_t = _order_arcs(problem) if fixed_orders is None else (np.zeros(0, np.int64),) * 2
    order_total = float(caps_orders[np.unique(order_a)].sum()) if order_a.size else 0.0
    big = total + order_total + 1.0
    tails, heads, caps, costs = [], [], [], []

    def arcs(t: np.ndarray, h: np.ndarray, c: np.ndarray, cost: np.ndarray) -> None:
        tails.append(t)
        heads.append(h)
        caps.append(c)
        costs.append(cost)

    dc_price = prices.dc
    arcs(
        dc_node[:, :-1].ravel(),
        dc_node[:, 1:].ravel(),
        np.full(n_a * (n_t - 1), big),
        np.tile(dc_price[:-1], n_a),
    )
    arcs(dc_node[:, -1], np.full(n_a, sink), np.full(n_a, big), dc_price[-1] - problem.salvage_value)
    first_inc = sum(len(t) for t in tails)
    store = problem.row_store[inc.row]
    arcs(
        dc_node[problem.row_article[inc.row], inc.ship_week],
        sw_node[store, problem.row_week[inc.row]],
        inc.units.astype(float),
        -inc.gain / inc.units,
    )
    room = np.floor(np.maximum(problem.capacity_units[:, None] - problem.store_known, 0) + 1e-9)
    arcs(sw_node.ravel(), np.full(n_s * n_t, sink), room.ravel(), np.zeros(n_s * n_t))
    first_order = sum(len(t) for t in tails)
    arcs(
        np.full(order_a.size, ord_node),
        dc_node[order_a, order_t + lead[order_a]],
        caps_orders[order_a],
        problem.unit_cost[order_a] * (1.0 + prices.budget),
    )
    arcs(np.array([ord_node]), np.array([sink]), np.array([order_total]), np.zeros(1))
    tail, head = np.concatenate(tails), np.concatenate(heads)
    cap, cost = np.concatenate(caps), np.concatenate(costs)
    scale = _MAX_SCALED_COST / max(float(np.abs(cost).max(initial=0.0)), 1e-9)
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        tail.astype(np.int32),
        head.astype(np.int32),
        np.round(cap).astype(np.int64),
        np.round(cost * scale).astype(np.int64),
    )
    node_supply = np.zeros(sink + 1, dtype=np.int64)
    node_supply[: n_a * n_t] = np.round(supply.ravel()).astype(np.int64)
    node_supply[ord_node] = round(order_total)
    node_supply[sink] = -int(node_supply[:sink].sum())
    flow.set_nodes_supplies(np.arange(sink + 1, dtype=np.int32), node_supply)
    status = flow.solve()
    if status != flow.OPTIMAL:
        msg = f"replenishment: the min-cost flow failed with status {status}"
        raise ForecastError(msg)
    flows = np.asarray(flow.flows(np.arange(tail.size)), dtype=float)
    inc_units = flows[first_inc : first_inc + inc.size]
    order_units = np.zeros((n_a, n_t))
    np.add.at(order_units, (order_a, order_t), flows[first_order : first_order + order_a.size])
    dc_end = np.zeros((n_a, n_t))
    dc_end[:, :-1] = flows[: n_a * (n_t - 1)].reshape(n_a, n_t - 1)
    dc_end[:, -1] = flows[n_a * (n_t - 1) : n_a * n_t]
    bound = float("nan")
    if fixed_orders is None:
        # any plan's cost moves by at most 0.5/scale per unit on each of its arcs (at most T + 3 per unit)
        slack = 0.5 / scale * (total + order_total) * (n_t + 3)
        value = -float((flows * cost).sum())
        bound = value + slack + prices.budget * (problem.budget or 0.0)
        if problem.dc_capacity is not None:
            bound += float(dc_price.sum()) * problem.dc_capacity
    return FlowPlan(inc_units, order_units, dc_end, bound)


def _order_arcs(problem: ReplenishProblem) -> tuple[np.ndarray, np.ndarray]:
    """(article, order week) of every order that arrives inside the horizon."""
    n_t = problem.n_weeks
    art, week = np.meshgrid(np.arange(problem.article_ids.size), np.arange(n_t), indexing="ij")
    ok = problem.orderable[art] & (week + problem.supplier_lead[art] < n_t)
    return art[ok], week[ok]
