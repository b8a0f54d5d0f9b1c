"""How many units to buy: the newsvendor on each article's season distribution, in whole packs, with
supplier minimums and an optional purchase budget shared by the articles.

For an order of Q units and season demand D (a discrete distribution: equally likely totals, the rows of
`atoms`), with price p, unit cost c and salvage value s per unit left at the season's end:

    expected profit(Q) = (p − c)·E[min(D, Q)] − (c − s)·E[(Q − D)+]

It is concave in Q, maximal at the critical fractile tau = (p − c) / (p − s) of D (the newsvendor), so in
whole packs the best order is one of the two pack multiples around that quantile (`best_orders`). A supplier
minimum m makes the choice 0 or at least m: the best multiple of at least m is the smallest one when the
fractile lies below m. A purchase budget couples the articles: when the unconstrained orders cost more than
the budget, `budget_orders` chooses every article's packs with OR-Tools CP-SAT, each article's expected profit
tabulated per pack count (a separable concave objective, with the minimums making it non-convex).

Examples
--------
>>> atoms = np.array([[0.0, 10.0, 20.0, 30.0]])
>>> best_orders(atoms, np.array([1.0]), np.array([0.4]), np.array([0.15]), np.array([1]), np.array([0]))
array([20.])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PROFIT_SCALE = 1_000_000  # expected profit is scaled to whole numbers for CP-SAT, relative to the largest
COST_SCALE = 100_000  # spend is scaled to whole numbers for CP-SAT, relative to the budget


def expected_outcome(atoms: np.ndarray, units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """E[min(D, Q)] and E[(Q − D)+] per article for orders `units` (D: the rows of `atoms`)."""
    q = np.asarray(units, dtype=np.float64)[:, None]
    sales = np.minimum(atoms, q).mean(axis=1)
    return np.asarray(sales), np.asarray(q[:, 0] - sales)


def expected_profit(
    atoms: np.ndarray, units: np.ndarray, price: np.ndarray, unit_cost: np.ndarray, salvage: np.ndarray
) -> np.ndarray:
    """(p − c)·E[min(D, Q)] − (c − s)·E[(Q − D)+] per article.

    Examples
    --------
    >>> expected_profit(np.array([[0.0, 10.0]]), np.array([10.0]), np.array([1.0]), np.array([0.4]),
    ...     np.array([0.1]))
    array([1.5])
    """
    sales, leftover = expected_outcome(atoms, units)
    return np.asarray((price - unit_cost) * sales - (unit_cost - salvage) * leftover)


def realised_profit(
    demand: np.ndarray, units: np.ndarray, price: np.ndarray, unit_cost: np.ndarray, salvage: np.ndarray
) -> np.ndarray:
    """The profit of orders `units` once the season's demand is known (negative demand counts as 0)."""
    d = np.clip(demand, 0.0, None)
    sold = np.minimum(d, units)
    return np.asarray((price - unit_cost) * sold - (unit_cost - salvage) * (units - sold))


def critical_fractile(price: np.ndarray, unit_cost: np.ndarray, salvage: np.ndarray) -> np.ndarray:
    """tau = (p − c) / (p − s): 0 where the margin is not positive."""
    margin = price - unit_cost
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = np.where(margin > 0, margin / np.maximum(price - salvage, 1e-12), 0.0)
    return np.asarray(np.clip(tau, 0.0, 1.0))


def fractile_units(atoms: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """The smallest atom whose cumulative probability reaches tau: a maximiser of the continuous order."""
    k = atoms.shape[1]
    index = np.clip(np.ceil(tau * k - 1e-9).astype(np.int64) - 1, 0, k - 1)
    chosen = np.take_along_axis(np.sort(atoms, axis=1), index[:, None], axis=1)[:, 0]
    return np.asarray(np.where(tau > 0, chosen, 0.0))


def best_orders(
    atoms: np.ndarray,
    price: np.ndarray,
    unit_cost: np.ndarray,
    salvage: np.ndarray,
    pack: np.ndarray,
    minimum: np.ndarray,
) -> np.ndarray:
    """The best order per article without a budget: whole `pack` multiples, 0 or at least `minimum`."""
    pack = np.maximum(np.asarray(pack, dtype=np.float64), 1.0)
    target = fractile_units(atoms, critical_fractile(price, unit_cost, salvage))
    lowest = np.ceil(np.asarray(minimum, dtype=np.float64) / pack) * pack  # smallest order allowed above 0
    below = np.floor(target / pack) * pack
    candidates = np.column_stack([below, below + pack])
    candidates = np.where(candidates < lowest[:, None], lowest[:, None], candidates)
    values = np.column_stack(
        [expected_profit(atoms, candidates[:, j], price, unit_cost, salvage) for j in range(2)]
    )
    pick = np.argmax(values, axis=1)  # ties: the smaller order
    best = candidates[np.arange(len(pick)), pick]
    value = values[np.arange(len(pick)), pick]
    return np.asarray(np.where((value > 0) & (target > 0), best, 0.0))


@dataclass(frozen=True)
class BudgetSolution:
    """Orders under a budget, the solver's status and whether the budget bound the plan."""

    units: np.ndarray
    status: str
    binding: bool


def budget_orders(
    atoms: np.ndarray,
    price: np.ndarray,
    unit_cost: np.ndarray,
    salvage: np.ndarray,
    pack: np.ndarray,
    minimum: np.ndarray,
    budget: float | None,
    time_limit_s: float = 30.0,
) -> BudgetSolution:
    """The best orders whose cost Σ unit_cost·units stays within `budget` (None: no budget)."""
    free = best_orders(atoms, price, unit_cost, salvage, pack, minimum)
    if budget is None or float((unit_cost * free).sum()) <= budget:
        return BudgetSolution(free, "unconstrained", False)
    pack = np.maximum(np.asarray(pack, dtype=np.float64), 1.0)
    most = np.round(free / pack).astype(np.int64)
    lowest = np.ceil(np.asarray(minimum, dtype=np.float64) / pack).astype(np.int64)
    tables = [
        expected_profit(
            np.repeat(atoms[i : i + 1], most[i] + 1, axis=0),
            pack[i] * np.arange(most[i] + 1),
            price[i],
            unit_cost[i],
            salvage[i],
        )
        for i in range(len(most))
    ]
    packs, status = _solve_packs(tables, unit_cost * pack, lowest, float(budget), time_limit_s)
    return BudgetSolution(packs * pack, status, True)


def _solve_packs(
    tables: list[np.ndarray], pack_cost: np.ndarray, lowest: np.ndarray, budget: float, time_limit_s: float
) -> tuple[np.ndarray, str]:
    """CP-SAT over pack counts n_i in {0} ∪ [lowest_i, len(table_i) − 1] maximising Σ table_i[n_i] with
    Σ pack_cost_i·n_i <= budget; spend is rounded up and the budget down, so the plan never exceeds it."""
    from ortools.sat.python import cp_model

    top = max(1e-12, max((float(np.abs(t).max()) for t in tables if len(t)), default=1.0))
    unit = budget / COST_SCALE if budget > 0 else 1.0
    model = cp_model.CpModel()
    counts, spend, value = [], [], []
    for i, table in enumerate(tables):
        n_max = len(table) - 1
        allowed = [0, *range(max(1, int(lowest[i])), n_max + 1)] if n_max >= 1 else [0]
        n = model.new_int_var_from_domain(cp_model.Domain.from_values(allowed), f"n{i}")
        scaled = [int(round(v / top * PROFIT_SCALE)) for v in table]
        v = model.new_int_var(min(scaled), max(scaled), f"v{i}")
        model.add_element(n, scaled, v)
        counts.append(n)
        value.append(v)
        spend.append(int(math.ceil(float(pack_cost[i]) / unit - 1e-9)))
    model.add(sum(c * n for c, n in zip(spend, counts, strict=True)) <= int(math.floor(budget / unit + 1e-9)))
    model.maximize(sum(value))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = 1  # one worker: the same plan on every run
    solver.parameters.random_seed = 0
    code = solver.solve(model)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return np.zeros(len(tables)), "no solution in the time limit: nothing ordered"
    packs = np.array([solver.value(n) for n in counts], dtype=np.float64)
    return packs, "optimal" if code == cp_model.OPTIMAL else "feasible (time limit)"
