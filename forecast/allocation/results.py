"""Plans in the file contract, their summaries and checks, and the money they make (expected or realised)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from forecast.allocation.demand import DemandModel
from forecast.allocation.inputs import AllocationProblem
from forecast.business import profit
from forecast.errors import InfeasibleError, InputError
from forecast.ids import natural_order

PLAN_COLUMNS = [
    "store_id",
    "article_id",
    "week",
    "units",
    "packs",
    "on_hand_before",
    "demand_mean",
    "expected_sales",
    "expected_leftover",
    "price",
    "unit_cost",
    "holding_cost",
    "ship_cost",
    "expected_profit",
]
UNIT_DECIMALS = 2
MONEY_DECIMALS = 2


@dataclass
class AllocationResult:
    """A plan and how good it is.

    `plan` has one row per store × article that receives units or already holds stock; `expected_profit` is
    the plan's total, the sum of its rows' ``expected_profit`` (`forecast.business.profit` of each row, with
    sales and leftover rounded to 2 decimals and money to cents): the one figure every output prints.
    `rule_profits` holds the same total for the planners' rules on the same demand. `objective` and `bound`
    are the solver's (unrounded) value of the plan and upper bound; `baseline` its value with nothing shipped;
    `gap` = (bound − objective) / (bound − baseline), relative to the profit the shipments add, so the profit
    of stock already on hand does not flatter it (NaN for the rules).
    """

    plan: pl.DataFrame
    store_summary: pl.DataFrame
    article_summary: pl.DataFrame
    expected_profit: float
    objective: float
    bound: float
    gap: float
    solve_seconds: float
    status: str
    method: str = ""
    baseline: float = 0.0
    rule_profits: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    problem: AllocationProblem | None = field(default=None, repr=False)

    @property
    def better_rule(self) -> tuple[str, float] | None:
        """The rule with the higher expected profit on the same demand, if the rules were computed."""
        if not self.rule_profits:
            return None
        name = max(self.rule_profits, key=lambda k: self.rule_profits[k])
        return name, self.rule_profits[name]


@dataclass
class PairOutcome:
    units: np.ndarray
    expected_sales: np.ndarray
    expected_leftover: np.ndarray
    expected_profit: np.ndarray


def _pair_money(
    problem: AllocationProblem, units: np.ndarray, sales: np.ndarray, leftover: np.ndarray
) -> np.ndarray:
    art, store = problem.pair_article, problem.pair_store
    return profit(
        sales,
        leftover,
        price=problem.price[art],
        unit_cost=problem.unit_cost[art],
        holding_cost=problem.holding_cost[art],
        ship_cost=problem.ship_cost[store],
        units_sent=units.astype(float),
    )


def pair_outcome(problem: AllocationProblem, demand: DemandModel, packs: np.ndarray) -> PairOutcome:
    """Expected sales, leftover and profit of every pair when it receives `packs` packs (unrounded)."""
    units = packs * problem.pack_size[problem.pair_article]
    stock = (problem.pair_on_hand + units).astype(float)
    sales = demand.expected_sales(np.arange(problem.n_pairs), stock)
    leftover = stock - sales
    return PairOutcome(units, sales, leftover, _pair_money(problem, units, sales, leftover))


def rounded_outcome(problem: AllocationProblem, demand: DemandModel, packs: np.ndarray) -> PairOutcome:
    """`pair_outcome` as the plan writes it: sales to 2 decimals, leftover = stock − sales, profit from
    those figures to cents, so every row reconciles exactly with the money model."""
    exact = pair_outcome(problem, demand, packs)
    stock = problem.pair_on_hand + exact.units
    sales = np.round(exact.expected_sales, UNIT_DECIMALS)
    leftover = np.round(stock - sales, UNIT_DECIMALS)
    money = np.round(_pair_money(problem, exact.units, sales, leftover), MONEY_DECIMALS)
    return PairOutcome(exact.units, sales, leftover, money)


def plan_total(outcome: PairOutcome) -> float:
    """The plan's expected profit: the sum of its rows (pairs that neither hold nor receive stock add 0)."""
    return round(float(outcome.expected_profit.sum()), MONEY_DECIMALS)


def check_plan(problem: AllocationProblem, packs: np.ndarray) -> None:
    """Reconcile a plan with its constraints; raise `InfeasibleError` naming the first broken one."""
    units = packs * problem.pack_size[problem.pair_article]
    if (packs < 0).any():
        msg = "plan check: negative packs"
        raise InfeasibleError(msg)
    sent = np.bincount(problem.pair_article, weights=units, minlength=problem.article_ids.size)
    over = np.flatnonzero(sent > problem.available_units)
    if over.size:
        a = over[0]
        article, have = problem.article_ids[a], problem.available_units[a]
        msg = f"dc stock: plan sends {sent[a]:g} units of article {article!r}, the DC has {have}"
        raise InfeasibleError(msg)
    filled = problem.store_on_hand_units + np.bincount(
        problem.pair_store, weights=units, minlength=problem.store_ids.size
    )
    over = np.flatnonzero(filled > problem.capacity_units)
    if over.size:
        s = over[0]
        store, capacity = problem.store_ids[s], problem.capacity_units[s]
        msg = f"store capacity: plan fills store {store!r} to {filled[s]:g} units > {capacity}"
        raise InfeasibleError(msg)
    short = (units > 0) & (problem.pair_on_hand + units < problem.presentation_min)
    if short.any():
        i = np.flatnonzero(short)[0]
        store, article = (
            problem.store_ids[problem.pair_store[i]],
            problem.article_ids[problem.pair_article[i]],
        )
        msg = (
            f"presentation minimum: store {store!r} article {article!r} ends below {problem.presentation_min}"
        )
        raise InfeasibleError(msg)


def build_result(
    problem: AllocationProblem,
    demand: DemandModel,
    packs: np.ndarray,
    *,
    bound: float,
    solve_seconds: float,
    status: str,
    method: str,
) -> AllocationResult:
    """Check `packs` (per pair) and assemble the plan, summaries, total and gap."""
    check_plan(problem, packs)
    baseline = float(pair_outcome(problem, demand, np.zeros_like(packs)).expected_profit.sum())
    objective = float(pair_outcome(problem, demand, packs).expected_profit.sum())
    gap = math.nan
    if not math.isnan(bound):
        added = bound - baseline
        gap = 0.0 if added <= 1e-9 else max(bound - objective, 0.0) / added
    outcome = rounded_outcome(problem, demand, packs)
    pairs = _pair_frame(problem, packs, outcome)
    held = (pl.col("units") > 0) | (pl.col("on_hand_before") > 0)
    plan = natural_order(pairs.filter(held).select(PLAN_COLUMNS), ["store_id", "article_id"])
    return AllocationResult(
        plan=plan,
        store_summary=_store_summary(problem, pairs),
        article_summary=_article_summary(problem, pairs),
        expected_profit=plan_total(outcome),
        objective=objective,
        bound=bound,
        gap=gap,
        solve_seconds=solve_seconds,
        status=status,
        method=method,
        baseline=baseline,
        warnings=list(problem.warnings),
        problem=problem,
    )


def _pair_frame(problem: AllocationProblem, packs: np.ndarray, outcome: PairOutcome) -> pl.DataFrame:
    art, store = problem.pair_article, problem.pair_store
    return pl.DataFrame(
        {
            "store_id": problem.store_ids[problem.pair_store].astype(str),
            "article_id": problem.article_ids[problem.pair_article].astype(str),
            "week": [problem.week] * problem.n_pairs,
            "units": outcome.units.astype(np.int64),
            "packs": packs.astype(np.int64),
            "on_hand_before": problem.pair_on_hand.astype(np.int64),
            "demand_mean": np.round(problem.pair_mean, UNIT_DECIMALS),
            "expected_sales": outcome.expected_sales,
            "expected_leftover": outcome.expected_leftover,
            "price": problem.price[art],
            "unit_cost": problem.unit_cost[art],
            "holding_cost": problem.holding_cost[art],
            "ship_cost": problem.ship_cost[store],
            "expected_profit": outcome.expected_profit,
        },
        schema_overrides={"week": pl.Date},
    )


def _shipped_totals(
    frame: pl.DataFrame, pairs: pl.DataFrame, key: str, *, units: str, partners: str
) -> pl.DataFrame:
    """`frame` plus, per `key`: units shipped, partners that get some, expected profit (0 when none)."""
    agg = pairs.group_by(key).agg(
        pl.col("units").sum().alias(units),
        (pl.col("units") > 0).sum().alias(partners),
        pl.col("expected_profit").sum(),
    )
    return frame.join(agg, on=key, how="left").with_columns(
        pl.col(units, partners).fill_null(0), pl.col("expected_profit").fill_null(0.0).round(MONEY_DECIMALS)
    )


def _store_summary(problem: AllocationProblem, pairs: pl.DataFrame) -> pl.DataFrame:
    stores = pl.DataFrame(
        {
            "store_id": problem.store_ids.astype(str),
            "capacity_units": problem.capacity_units,
            "on_hand_units": problem.store_on_hand_units,
        }
    )
    return (
        _shipped_totals(stores, pairs, "store_id", units="units", partners="articles")
        .with_columns(capacity_used=pl.col("on_hand_units") + pl.col("units"))
        .with_columns(
            utilisation=(pl.col("capacity_used") / pl.col("capacity_units").clip(lower_bound=1)).round(4)
        )
        .select(
            "store_id",
            "units",
            "articles",
            "on_hand_units",
            "capacity_used",
            "capacity_units",
            "utilisation",
            "expected_profit",
        )
        .pipe(natural_order, ["store_id"])
    )


def _article_summary(problem: AllocationProblem, pairs: pl.DataFrame) -> pl.DataFrame:
    arts = pl.DataFrame(
        {
            "article_id": problem.article_ids.astype(str),
            "pack_size": problem.pack_size,
            "dc_available_units": problem.available_units,
        }
    )
    return (
        _shipped_totals(arts, pairs, "article_id", units="units_sent", partners="stores")
        .with_columns(left_at_dc=pl.col("dc_available_units") - pl.col("units_sent"))
        .select(
            "article_id",
            "pack_size",
            "units_sent",
            "dc_available_units",
            "left_at_dc",
            "stores",
            "expected_profit",
        )
        .pipe(natural_order, ["article_id"])
    )


def plan_packs(plan: pl.DataFrame | AllocationResult, problem: AllocationProblem) -> np.ndarray:
    """Packs per pair of `problem` from a plan frame (rows for pairs without a forecast are an error)."""
    frame = plan.plan if isinstance(plan, AllocationResult) else plan
    keys = pl.DataFrame(
        {
            "store_id": problem.store_ids[problem.pair_store].astype(str),
            "article_id": problem.article_ids[problem.pair_article].astype(str),
            "_pair": np.arange(problem.n_pairs),
        }
    )
    rows = frame.select(pl.col("store_id", "article_id").cast(pl.Utf8), pl.col("units").cast(pl.Int64))
    joined = rows.join(keys, on=["store_id", "article_id"], how="left")
    if joined["_pair"].null_count():
        first = joined.filter(pl.col("_pair").is_null()).row(0, named=True)
        msg = f"plan row for store {first['store_id']!r} article {first['article_id']!r} has no forecast"
        raise InputError(msg, file="plan", fix="plan only store × articles the forecasts cover")
    units = np.zeros(problem.n_pairs, dtype=np.int64)
    np.add.at(units, joined["_pair"].to_numpy(), joined["units"].to_numpy())
    pack = problem.pack_size[problem.pair_article]
    if (units % pack).any():
        msg = "plan units are not whole packs"
        raise InputError(msg, file="plan", column="units", fix="ship multiples of pack_size")
    return units // pack


def expected_profit(plan: pl.DataFrame | AllocationResult, problem: AllocationProblem) -> float:
    """The plan total (`AllocationResult.expected_profit`) of any plan of `problem`'s store × articles."""
    packs = plan_packs(plan, problem)
    return plan_total(rounded_outcome(problem, DemandModel.from_problem(problem), packs))


def evaluate_plan(
    plan: pl.DataFrame | AllocationResult, actual_demand: pl.DataFrame, problem: AllocationProblem
) -> dict[str, float]:
    """Money a plan makes against known demand (`actual_demand`: store_id, article_id, units of the period).

    Over every forecast store × article: sales = min(demand, on hand + units), lost = demand − sales,
    leftover = stock − sales; revenue = p·sales, lost_sales_cost = (p − c)·lost, holding_cost = h·leftover,
    ship_cost = c_ship·units and profit = `forecast.business.profit` (the plan's expected profit, realised).
    Demand rows for pairs without a forecast are ignored.
    """
    units = plan_packs(plan, problem) * problem.pack_size[problem.pair_article]
    keys = pl.DataFrame(
        {
            "store_id": problem.store_ids[problem.pair_store].astype(str),
            "article_id": problem.article_ids[problem.pair_article].astype(str),
        }
    )
    actual = actual_demand.select(
        pl.col("store_id", "article_id").cast(pl.Utf8), pl.col("units").cast(pl.Float64)
    )
    actual = actual.group_by("store_id", "article_id").agg(pl.col("units").sum())
    demand = keys.join(actual, on=["store_id", "article_id"], how="left")["units"].fill_null(0.0).to_numpy()
    art, store = problem.pair_article, problem.pair_store
    stock = problem.pair_on_hand + units
    sales = np.minimum(demand, stock)
    lost, leftover = demand - sales, stock - sales
    revenue = problem.price[art] * sales
    holding = problem.holding_cost[art] * leftover
    ship = problem.ship_cost[store] * units
    money = _pair_money(problem, units, sales, leftover)
    return {
        "units_shipped": float(units.sum()),
        "sales_units": float(sales.sum()),
        "revenue": float(revenue.sum()),
        "lost_sales_units": float(lost.sum()),
        "lost_sales_cost": float(((problem.price[art] - problem.unit_cost[art]) * lost).sum()),
        "leftover_units": float(leftover.sum()),
        "holding_cost": float(holding.sum()),
        "ship_cost": float(ship.sum()),
        "cost_of_sales": float((problem.unit_cost[art] * sales).sum()),
        "profit": float(money.sum()),
    }
