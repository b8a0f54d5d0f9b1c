"""The markdown planner: the best price path to the season's end for many units at once.

A unit is an article chain-wide or in one store cluster. Over the weeks ``t = 0 .. T-1`` left in its season it
holds stock ``I_t`` (stores + in transit + DC, pooled: replenishment moves it to where it sells) and is sold
at a discount from a ladder ``d_0 < ... < d_{L-1}`` under the planners' rules: the discount never goes back
up, at most ``K`` steps, at least ``M`` weeks at a price before the next step. The objective, its purchase
cost being sunk, is the season's expected profit (`forecast.business.profit` with unit cost 0, plus salvage):

    Σ_t [ p_t·S_t − h·(I_t − S_t) ]  +  v·I_T,    S_t = E[min(D_t(p_t), I_t)],   I_{t+1} = I_t − S_t

**Expected-stock approximation.** The stock carried into a week is its expected value, not its distribution.
Since ``E[min(D, y)]`` is concave in ``y``, this overstates the sales of a plan a little when stock is tight;
`monte_carlo` evaluates a plan exactly (demand drawn week by week, stock carried as drawn) and the planning
step reports the gap.

**Exact search.** With the stock in the state, two different price paths never reach the same state, so the
dynamic programme over (week, ladder level, steps used, weeks at the price, stock) is the tree of valid
price paths with shared prefixes: every path is evaluated once, week by week, for all units of the same
starting state at once (numpy across units), and each unit takes its best path. The result is exact for the
model above; `solve` refuses a tree larger than ``MAX_NODES`` (fewer steps or weeks fix it). A path that
does not beat keeping the current price by more than a rounding error is not taken.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecast.business import profit
from forecast.distribution import DemandDistribution
from forecast.errors import ConfigError

MAX_NODES = 200_000  # price-path prefixes per starting state
UNIT_CHUNK = 4_000  # units searched at once (memory: nodes × units floats)
TIE = 1e-9  # relative profit difference below which the current price is kept


@dataclass
class MarkdownProblem:
    """`U` units, `T` weeks, `L` ladder levels.

    ``demand`` has one row per unit × week × level, row ``(u·T + t)·L + l``: demand of unit `u` in week `t`
    at discount ``discounts[l]``. ``open_weeks`` (U, T) says which weeks are still in the unit's season
    (weeks after it sell nothing and hold nothing). ``level``, ``steps_used`` and ``weeks_held`` give the
    unit's state when the plan starts: its ladder level, the steps already taken and the weeks its price has
    held.
    """

    discounts: np.ndarray
    list_price: np.ndarray
    demand: DemandDistribution
    stock: np.ndarray
    holding_cost: np.ndarray
    salvage: np.ndarray
    open_weeks: np.ndarray
    level: np.ndarray
    steps_used: np.ndarray
    weeks_held: np.ndarray

    @property
    def units(self) -> int:
        return int(self.list_price.size)

    @property
    def weeks(self) -> int:
        return int(self.open_weeks.shape[1])

    def rows(self, levels: np.ndarray) -> np.ndarray:
        """Demand rows of a plan: `levels` (U, T) -> row indexes (U, T)."""
        u = np.arange(self.units)[:, None]
        t = np.arange(self.weeks)[None, :]
        return (u * self.weeks + t) * self.discounts.size + levels

    def prices(self, levels: np.ndarray) -> np.ndarray:
        return np.round(self.list_price[:, None] * (1.0 - self.discounts[levels]), 2)


@dataclass
class Outcome:
    """Expected figures of one price path per unit: units, revenue, stock at each week's end, profit."""

    units: np.ndarray
    revenue: np.ndarray
    stock_end: np.ndarray
    profit: np.ndarray


@dataclass
class PlanResult:
    """The chosen ladder level per unit and week, its outcome and that of keeping the current price."""

    levels: np.ndarray
    outcome: Outcome
    keep: Outcome
    nodes: int


def week_profit(
    sales: np.ndarray, leftover: np.ndarray, price: np.ndarray, holding: np.ndarray
) -> np.ndarray:
    """A week's profit with the purchase cost sunk: `forecast.business.profit` at unit cost 0."""
    nothing = np.zeros_like(sales)
    return profit(
        sales,
        leftover,
        price=price,
        unit_cost=nothing,
        holding_cost=holding,
        ship_cost=nothing,
        units_sent=nothing,
    )


def evaluate_path(
    demand: DemandDistribution,
    price: np.ndarray,
    stock: np.ndarray,
    holding_cost: np.ndarray,
    salvage: np.ndarray,
    open_weeks: np.ndarray,
) -> Outcome:
    """Expected outcome of fixed prices (U, T) under the expected-stock approximation.

    `demand` has one row per unit × week (row ``u·T + t``) at the prices given.

    Examples
    --------
    >>> d = DemandDistribution.build(np.array([4.0, 4.0]))
    >>> out = evaluate_path(d, np.array([[10.0, 10.0]]), np.array([3.0]), np.array([0.0]), np.array([1.0]),
    ...     np.ones((1, 2), dtype=bool))
    >>> bool(out.units.sum() <= 3.0), bool(out.profit[0] <= 30.0)
    (True, True)
    """
    n_units, n_weeks = price.shape
    level = np.asarray(stock, dtype=float).copy()
    units = np.zeros((n_units, n_weeks))
    stock_end = np.zeros((n_units, n_weeks))
    money = np.zeros(n_units)
    rows = np.arange(n_units) * n_weeks
    for t in range(n_weeks):
        sold = np.where(open_weeks[:, t], demand.expected_sales(level, rows + t), 0.0)
        level = np.maximum(level - sold, 0.0)
        hold = np.where(open_weeks[:, t], holding_cost, 0.0)
        money += week_profit(sold, level, price[:, t], hold)
        units[:, t], stock_end[:, t] = sold, level
    return Outcome(units, price * units, stock_end, money + salvage * level)


def monte_carlo(
    demand: DemandDistribution,
    price: np.ndarray,
    stock: np.ndarray,
    holding_cost: np.ndarray,
    salvage: np.ndarray,
    open_weeks: np.ndarray,
    samples: int,
    seed: int = 0,
) -> Outcome:
    """The same outcome as `evaluate_path`, exactly: demand drawn each week, stock carried as drawn; the mean
    over `samples` seasons."""
    rng = np.random.default_rng(seed)
    n_units, n_weeks = price.shape
    level = np.repeat(np.asarray(stock, dtype=float), samples)
    units = np.zeros((n_units, n_weeks))
    stock_end = np.zeros((n_units, n_weeks))
    money = np.zeros(n_units * samples)
    rows = np.repeat(np.arange(n_units) * n_weeks, samples)
    for t in range(n_weeks):
        draws = demand.subset(rows + t).quantile(rng.random(rows.size))
        open_t = np.repeat(open_weeks[:, t], samples)
        sold = np.where(open_t, np.minimum(draws, level), 0.0)
        level = level - sold
        money += week_profit(
            sold,
            level,
            np.repeat(price[:, t], samples),
            np.where(open_t, 1.0, 0.0) * np.repeat(holding_cost, samples),
        )
        units[:, t] = sold.reshape(n_units, samples).mean(axis=1)
        stock_end[:, t] = level.reshape(n_units, samples).mean(axis=1)
    money += np.repeat(salvage, samples) * level
    return Outcome(units, price * units, stock_end, money.reshape(n_units, samples).mean(axis=1))


def solve(problem: MarkdownProblem, max_steps: int, min_weeks_between: int) -> PlanResult:
    """The best valid price path of every unit (module docstring), with its outcome and that of keeping the
    current price."""
    levels = np.repeat(problem.level[:, None], problem.weeks, axis=1).astype(np.int64)
    state = np.column_stack(
        [problem.level, problem.steps_used, np.minimum(problem.weeks_held, min_weeks_between)]
    )
    nodes = 0
    for start in np.unique(state, axis=0):
        members = np.flatnonzero((state == start).all(axis=1))
        tree = _path_tree(
            int(start[0]), int(start[1]), int(start[2]), problem.discounts.size, problem.weeks,
            max_steps, min_weeks_between,
        )  # fmt: skip
        nodes += sum(len(level) for level, _ in tree)
        for chunk in np.array_split(members, max(1, -(-members.size // UNIT_CHUNK))):
            levels[chunk] = _best_paths(problem, chunk, tree)
    keep = np.repeat(problem.level[:, None], problem.weeks, axis=1)
    return PlanResult(levels, outcome_of(problem, levels), outcome_of(problem, keep), nodes)


def outcome_of(problem: MarkdownProblem, levels: np.ndarray) -> Outcome:
    """Expected outcome (`evaluate_path`) of ladder levels (U, T)."""
    demand = problem.demand.subset(problem.rows(levels).ravel())
    return evaluate_path(
        demand,
        problem.prices(levels),
        problem.stock,
        problem.holding_cost,
        problem.salvage,
        problem.open_weeks,
    )


Tree = list[tuple[np.ndarray, np.ndarray]]  # per week: (level of each node, index of its parent node)


def _path_tree(
    level: int, steps: int, held: int, n_levels: int, weeks: int, max_steps: int, gap: int
) -> Tree:
    """Every valid price path from one starting state, as a tree of prefixes (breadth first; a node's first
    child keeps its price, so node 0 of every week is the path that never changes it)."""
    frontier = [(level, steps, held)]
    tree: Tree = []
    total = 0
    for _ in range(weeks):
        nxt, lv, parent = [], [], []
        for i, (lev, used, since) in enumerate(frontier):
            nxt.append((lev, used, min(since + 1, gap)))
            lv.append(lev)
            parent.append(i)
            if used < max_steps and since >= gap:
                for deeper in range(lev + 1, n_levels):
                    nxt.append((deeper, used + 1, min(1, gap)))
                    lv.append(deeper)
                    parent.append(i)
        total += len(nxt)
        if total > MAX_NODES:
            msg = (
                f"the markdown plan has more than {MAX_NODES:,} price paths per starting state; fix: lower "
                "`markdown.max_steps` or `markdown.weeks`, or raise `min_weeks_between`"
            )
            raise ConfigError(msg)
        tree.append((np.array(lv, dtype=np.int64), np.array(parent, dtype=np.int64)))
        frontier = nxt
    return tree


def _best_paths(problem: MarkdownProblem, units: np.ndarray, tree: Tree) -> np.ndarray:
    """Evaluate every path of `tree` for `units` (expected stock) and trace back each unit's best."""
    n_levels, n_weeks = problem.discounts.size, problem.weeks
    stock = problem.stock[units][None, :].astype(float)
    value = np.zeros_like(stock)
    hold = problem.holding_cost[units][None, :]
    base_row = (units * n_weeks)[None, :]
    for t, (lev, parent) in enumerate(tree):
        stock, value = stock[parent], value[parent]
        rows = (base_row + t) * n_levels + lev[:, None]
        open_t = problem.open_weeks[units, t][None, :]
        sold = problem.demand.expected_sales(stock.ravel(), rows.ravel()).reshape(stock.shape)
        sold = np.where(open_t, sold, 0.0)
        stock = np.maximum(stock - sold, 0.0)
        price = np.round(problem.list_price[units][None, :] * (1.0 - problem.discounts[lev][:, None]), 2)
        value = value + week_profit(sold, stock, price, np.where(open_t, hold, 0.0))
    value = value + problem.salvage[units][None, :] * stock
    best = np.argmax(value, axis=0)
    scale = np.maximum(np.abs(value[0]), 1.0)
    best = np.where(value[best, np.arange(units.size)] - value[0] > TIE * scale, best, 0)
    out = np.empty((units.size, n_weeks), dtype=np.int64)
    node = best
    for t in range(n_weeks - 1, -1, -1):
        lev, parent = tree[t]
        out[:, t] = lev[node]
        node = parent[node]
    return out
