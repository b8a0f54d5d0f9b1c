"""Replenishment plans: their money under the model, the constraint checks, and the planners' files."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from forecast.errors import InfeasibleError
from forecast.ids import natural_order
from forecast.replenish.inputs import ReplenishProblem

SHIPMENT_COLUMNS = [
    "store_id",
    "article_id",
    "ship_week",
    "arrive_week",
    "units",
    "packs",
    "known_stock",
    "stock_after",
    "demand_mean",
    "expected_sales",
    "expected_leftover",
    "price",
    "ship_cost",
    "expected_profit_added",
]
ORDER_COLUMNS = [
    "article_id",
    "order_week",
    "arrive_week",
    "units",
    "cases",
    "supplier_id",
    "unit_cost",
    "cost",
]
SUMMARY_COLUMNS = [
    "week",
    "shipped_units",
    "store_arrivals_units",
    "ordered_units",
    "dc_arrivals_units",
    "purchase_cost",
    "dc_stock_end",
    "store_stock_units",
    "store_capacity_units",
    "demand_mean",
    "expected_sales",
    "expected_lost_sales",
    "expected_leftover",
    "expected_profit",
]


@dataclass
class Plan:
    """Packs per forecast row (arriving in the row's week) and order units per article × order week."""

    row_packs: np.ndarray
    orders: np.ndarray


@dataclass
class ReplenishResult:
    """A plan, its files and how good it is.

    `objective` is the expected profit over the horizon under the model (README "Replenishment");
    `baseline` the same with nothing shipped or ordered; `bound` an upper bound on `objective`; `gap` =
    (bound − objective) / (bound − baseline), relative to the profit the plan adds.
    """

    shipments: pl.DataFrame
    orders: pl.DataFrame
    summary: pl.DataFrame
    article_weeks: pl.DataFrame
    objective: float
    bound: float
    baseline: float
    gap: float
    solve_seconds: float
    status: str
    method: str
    plan: Plan
    warnings: list[str] = field(default_factory=list)
    problem: ReplenishProblem | None = field(default=None, repr=False)


@dataclass
class Outcome:
    units: np.ndarray
    sales: np.ndarray
    leftover: np.ndarray
    profit: np.ndarray  # per row, before purchase cost and DC salvage
    dc_end: np.ndarray  # (articles, T)
    purchase: float
    objective: float


def dc_flows(problem: ReplenishProblem, plan: Plan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(supply arriving, units shipped, stock at the end) per article × week."""
    n_a, n_t = problem.article_ids.size, problem.n_weeks
    supply = problem.dc_inbound.copy()
    supply[:, 0] += problem.dc_on_hand
    for t in range(n_t):
        arrive = t + problem.supplier_lead
        ok = arrive < n_t
        np.add.at(supply, (np.flatnonzero(ok), arrive[ok]), plan.orders[ok, t])
    units = plan.row_packs * problem.pack_size[problem.row_article]
    ship_week = problem.row_week - problem.store_lead[problem.row_store]
    shipped = np.zeros((n_a, n_t))
    sent = units > 0
    np.add.at(shipped, (problem.row_article[sent], ship_week[sent]), units[sent])
    return supply, shipped, np.cumsum(supply - shipped, axis=1)


def outcome(problem: ReplenishProblem, plan: Plan) -> Outcome:
    """Expected sales, leftover and profit of every row, DC stock and the plan's expected profit."""
    rows = np.arange(problem.n_rows)
    art, store = problem.row_article, problem.row_store
    units = (plan.row_packs * problem.pack_size[art]).astype(float)
    stock = problem.row_known + units
    sales = problem.demand.expected_sales(rows, stock)
    leftover = stock - sales
    known_left = problem.row_known_left
    salvage, hold = problem.salvage_value[art], problem.holding_cost[art]
    last = problem.row_week == problem.season_last[art]
    profit = (
        problem.row_shortage * (sales - problem.row_mean)
        + problem.row_price * sales
        - hold * leftover
        + problem.row_carry * (leftover - known_left)
        + np.where(last, salvage * known_left, 0.0)
        - problem.ship_cost[store] * units
    )
    _, _, dc_end = dc_flows(problem, plan)
    purchase = float((plan.orders.sum(axis=1) * problem.unit_cost).sum())
    objective = float(profit.sum() + (problem.salvage_value * dc_end[:, -1]).sum() - purchase)
    return Outcome(units, sales, leftover, profit, dc_end, purchase, objective)


def check_plan(problem: ReplenishProblem, plan: Plan) -> None:
    """Reconcile a plan with every constraint; raise `InfeasibleError` naming the first broken one."""
    art, store = problem.row_article, problem.row_store
    weeks = problem.weeks
    if (plan.row_packs < 0).any() or (plan.orders < 0).any():
        msg = "plan check: negative packs or orders"
        raise InfeasibleError(msg)
    ship_week = problem.row_week - problem.store_lead[store]
    early = (plan.row_packs > 0) & (ship_week < 0)
    if early.any():
        i = np.flatnonzero(early)[0]
        where = f"store {problem.store_ids[store[i]]!r}"
        msg = f"store lead time: {where} cannot receive by {weeks[problem.row_week[i]]}"
        raise InfeasibleError(msg)
    _check_orders(problem, plan)
    _, _, dc_end = dc_flows(problem, plan)
    short = dc_end < -1e-9
    if short.any():
        a, t = np.argwhere(short)[0]
        where = f"article {problem.article_ids[a]!r}"
        msg = f"dc stock: {where} is short by {-dc_end[a, t]:g} units in week {weeks[t]}"
        raise InfeasibleError(msg)
    if problem.dc_capacity is not None:
        held = dc_end.sum(axis=0)
        over = np.flatnonzero(held > problem.dc_capacity + 1e-6)
        if over.size:
            t = over[0]
            msg = (
                f"dc capacity: {held[t]:g} units held at the end of week {weeks[t]} > {problem.dc_capacity:g}"
            )
            raise InfeasibleError(msg)
    filled = problem.store_known.copy()
    units = plan.row_packs * problem.pack_size[art]
    np.add.at(filled, (store, problem.row_week), units)
    full = filled > problem.capacity_units[:, None] + 1e-9
    if full.any():
        s, t = np.argwhere(full)[0]
        msg = (
            f"store capacity: plan fills store {problem.store_ids[s]!r} to {filled[s, t]:g} units in week "
            f"{weeks[t]} > {problem.capacity_units[s]:g}"
        )
        raise InfeasibleError(msg)


def _check_orders(problem: ReplenishProblem, plan: Plan) -> None:
    weeks = problem.weeks
    ordered = plan.orders > 0
    if not ordered.any():
        return
    for a, t in np.argwhere(ordered):
        units, article = plan.orders[a, t], problem.article_ids[a]
        if not problem.orderable[a] or t + problem.supplier_lead[a] >= problem.n_weeks:
            msg = (
                f"supplier: article {article!r} cannot be ordered in week {weeks[t]} (no supplier, too late)"
            )
            raise InfeasibleError(msg)
        if units % problem.case_pack[a] or units < problem.moq_units[a]:
            msg = (
                f"supplier: order of {units:g} units of article {article!r} in week {weeks[t]} breaks "
                f"case pack {problem.case_pack[a]} or MOQ {problem.moq_units[a]}"
            )
            raise InfeasibleError(msg)
    spend = float((plan.orders.sum(axis=1) * problem.unit_cost).sum())
    if problem.budget is not None and spend > problem.budget + 1e-6:
        msg = f"budget: orders cost {spend:,.2f} > purchase budget {problem.budget:,.2f}"
        raise InfeasibleError(msg)


def build_result(
    problem: ReplenishProblem, plan: Plan, *, bound: float, seconds: float, status: str, method: str
) -> ReplenishResult:
    """Check the plan and assemble its files, summary and objective."""
    check_plan(problem, plan)
    done = outcome(problem, plan)
    empty = Plan(np.zeros_like(plan.row_packs), np.zeros_like(plan.orders))
    baseline = outcome(problem, empty).objective
    bound = max(bound, done.objective)
    added = bound - baseline
    gap = 0.0 if added <= 1e-9 else max(bound - done.objective, 0.0) / added
    return ReplenishResult(
        shipments=_shipments(problem, plan, done),
        orders=_orders(problem, plan),
        summary=_summary(problem, plan, done),
        article_weeks=_article_weeks(problem, done),
        objective=done.objective,
        bound=bound,
        baseline=baseline,
        gap=gap if math.isfinite(gap) else math.nan,
        solve_seconds=seconds,
        status=status,
        method=method,
        plan=plan,
        warnings=list(problem.warnings),
        problem=problem,
    )


def _week_dates(problem: ReplenishProblem, index: np.ndarray) -> pl.Series:
    first = np.datetime64(problem.weeks[0], "D")
    return pl.Series(first + (index * 7).astype("timedelta64[D]")).cast(pl.Date)


def _shipments(problem: ReplenishProblem, plan: Plan, done: Outcome) -> pl.DataFrame:
    sent = np.flatnonzero(plan.row_packs > 0)
    art, store = problem.row_article[sent], problem.row_store[sent]
    base = outcome(problem, Plan(np.zeros_like(plan.row_packs), plan.orders)).profit[sent]
    frame = pl.DataFrame(
        {
            "store_id": problem.store_ids[store].astype(str),
            "article_id": problem.article_ids[art].astype(str),
            "ship_week": _week_dates(problem, problem.row_week[sent] - problem.store_lead[store]),
            "arrive_week": _week_dates(problem, problem.row_week[sent]),
            "units": done.units[sent].astype(np.int64),
            "packs": plan.row_packs[sent].astype(np.int64),
            "known_stock": problem.row_known[sent].astype(np.int64),
            "stock_after": (problem.row_known[sent] + done.units[sent]).astype(np.int64),
            "demand_mean": problem.row_mean[sent],
            "expected_sales": done.sales[sent],
            "expected_leftover": done.leftover[sent],
            "price": problem.row_price[sent],
            "ship_cost": problem.ship_cost[store],
            "expected_profit_added": done.profit[sent] - base,
        }
    )
    return natural_order(frame, ["store_id", "article_id"]).sort("ship_week", maintain_order=True)


def _orders(problem: ReplenishProblem, plan: Plan) -> pl.DataFrame:
    a, t = np.nonzero(plan.orders > 0)
    units = plan.orders[a, t]
    frame = pl.DataFrame(
        {
            "article_id": problem.article_ids[a].astype(str),
            "order_week": _week_dates(problem, t),
            "arrive_week": _week_dates(problem, t + problem.supplier_lead[a]),
            "units": units.astype(np.int64),
            "cases": (units // problem.case_pack[a]).astype(np.int64),
            "supplier_id": problem.supplier_ids[a].astype(str),
            "unit_cost": problem.unit_cost[a],
            "cost": units * problem.unit_cost[a],
        },
        schema_overrides={"order_week": pl.Date, "arrive_week": pl.Date},
    )
    return natural_order(frame, ["article_id"]).sort("order_week", maintain_order=True)


def _summary(problem: ReplenishProblem, plan: Plan, done: Outcome) -> pl.DataFrame:
    n_t = problem.n_weeks
    supply, shipped, _ = dc_flows(problem, plan)
    week = problem.row_week
    per_week = lambda values: np.bincount(week, weights=values, minlength=n_t)  # noqa: E731
    stock = problem.row_known + done.units
    profit = per_week(done.profit)
    profit[-1] += float((problem.salvage_value * done.dc_end[:, -1]).sum())
    purchase = (plan.orders * problem.unit_cost[:, None]).sum(axis=0)
    return pl.DataFrame(
        {
            "week": problem.weeks,
            "shipped_units": shipped.sum(axis=0),
            "store_arrivals_units": per_week(done.units),
            "ordered_units": plan.orders.sum(axis=0),
            "dc_arrivals_units": supply.sum(axis=0) - np.r_[problem.dc_on_hand.sum(), np.zeros(n_t - 1)],
            "purchase_cost": purchase,
            "dc_stock_end": done.dc_end.sum(axis=0),
            "store_stock_units": per_week(stock),
            "store_capacity_units": np.full(n_t, float(problem.capacity_units.sum())),
            "demand_mean": per_week(problem.row_mean),
            "expected_sales": per_week(done.sales),
            "expected_lost_sales": per_week(np.maximum(problem.row_mean - done.sales, 0.0)),
            "expected_leftover": per_week(done.leftover),
            "expected_profit": profit - purchase,
        },
        schema_overrides={"week": pl.Date},
    ).select(SUMMARY_COLUMNS)


def _article_weeks(problem: ReplenishProblem, done: Outcome) -> pl.DataFrame:
    """Per article × week: planned store stock (known + arriving), forecast demand and expected sales."""
    frame = pl.DataFrame(
        {
            "article_id": problem.article_ids[problem.row_article].astype(str),
            "week": _week_dates(problem, problem.row_week),
            "planned_stock_units": problem.row_known + done.units,
            "demand_mean": problem.row_mean,
            "expected_sales": done.sales,
        }
    )
    return frame.group_by("article_id", "week").agg(pl.all().sum()).sort("article_id", "week")
