"""The exact MIP of the replenishment model (SCIP): binary packs in order per row, orders in whole cases with
minimum order quantities, DC balance and capacity per week, store capacity per week, purchase budget.

Used to finish small instances and, in the tests, as the reference optimum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from ortools.linear_solver import pywraplp

from forecast.allocation.model import run_mip
from forecast.replenish.inputs import ReplenishProblem
from forecast.replenish.model import Increments, order_caps
from forecast.replenish.results import Plan

MIP_MAX_INCREMENTS = 6_000


@dataclass
class ExactSolution:
    plan: Plan
    value: float  # Σ gains − purchase + DC salvage (the objective without the known stock's constant)
    bound: float
    status: str


def solve_exact(
    problem: ReplenishProblem,
    inc: Increments,
    hint: Plan | None = None,
    *,
    time_limit_s: float = 60.0,
    max_gap: float = 0.0,
) -> ExactSolution | None:
    """Solve the MIP over the increments of `inc`; None when SCIP is unavailable or finds nothing."""
    solver = pywraplp.Solver.CreateSolver("SCIP")
    if solver is None:
        return None
    n_a, n_t = problem.article_ids.size, problem.n_weeks
    take = [solver.BoolVar(f"z{i}") for i in range(inc.size)]
    for i in range(1, inc.size):
        if inc.row[i] == inc.row[i - 1]:
            solver.Add(take[i] <= take[i - 1])
    cases: dict[tuple[int, int], pywraplp.Variable] = {}
    caps = order_caps(problem, inc)
    for a in (int(x) for x in np.flatnonzero(problem.orderable)):
        case = int(problem.case_pack[a])
        most = int(np.ceil(caps[a] / case)) + int(np.ceil(problem.moq_units[a] / case))
        for t in range(n_t - int(problem.supplier_lead[a])):
            if most <= 0:
                continue
            n = solver.IntVar(0, most, f"n{a}_{t}")
            cases[(a, t)] = n
            if problem.moq_units[a] > 0:
                y = solver.BoolVar(f"y{a}_{t}")
                solver.Add(case * n >= int(problem.moq_units[a]) * y)
                solver.Add(n <= most * y)
    ship_by: dict[tuple[int, int], list[int]] = {}
    art = problem.row_article[inc.row]
    for i in range(inc.size):
        ship_by.setdefault((int(art[i]), int(inc.ship_week[i])), []).append(i)
    end: dict[tuple[int, int], Any] = {}
    for a in range(n_a):
        stock: Any = float(problem.dc_on_hand[a])
        for t in range(n_t):
            stock = stock + float(problem.dc_inbound[a, t])
            t_order = t - int(problem.supplier_lead[a])
            if (a, t_order) in cases:
                stock = stock + int(problem.case_pack[a]) * cases[(a, t_order)]
            stock = stock - sum(int(inc.units[i]) * take[i] for i in ship_by.get((a, t), []))
            end[(a, t)] = stock
            solver.Add(stock >= 0)
    if problem.dc_capacity is not None:
        for t in range(n_t):
            solver.Add(sum(end[(a, t)] for a in range(n_a)) <= problem.dc_capacity)
    store = problem.row_store[inc.row]
    week = problem.row_week[inc.row]
    by_store_week: dict[tuple[int, int], list[int]] = {}
    for i in range(inc.size):
        by_store_week.setdefault((int(store[i]), int(week[i])), []).append(i)
    for (s, t), members in by_store_week.items():
        room = float(np.floor(problem.capacity_units[s] - problem.store_known[s, t] + 1e-9))
        solver.Add(sum(int(inc.units[i]) * take[i] for i in members) <= room)
    purchase: Any = sum(float(problem.unit_cost[a] * problem.case_pack[a]) * n for (a, _), n in cases.items())
    if problem.budget is not None and cases:
        solver.Add(purchase <= problem.budget)
    salvage: Any = sum(float(problem.salvage_value[a]) * end[(a, n_t - 1)] for a in range(n_a))
    solver.Maximize(sum(float(inc.gain[i]) * take[i] for i in range(inc.size)) - purchase + salvage)
    if hint is not None:
        _set_hint(solver, problem, inc, hint, take, cases)
    status = run_mip(solver, time_limit_s, max_gap)
    if status is None:
        return None
    chosen = np.array([v.solution_value() > 0.5 for v in take], dtype=bool)
    packs = np.bincount(inc.row[chosen], minlength=problem.n_rows).astype(np.int64)
    orders = np.zeros((n_a, n_t))
    for (a, t), n in cases.items():
        orders[a, t] = round(n.solution_value()) * int(problem.case_pack[a])
    label = "optimal" if status == pywraplp.Solver.OPTIMAL else "feasible"
    # the objective's constant part (DC on-hand salvage) is inside `salvage`, so bound and value match it
    return ExactSolution(
        Plan(packs, orders), solver.Objective().Value(), solver.Objective().BestBound(), label
    )


def _set_hint(
    solver: pywraplp.Solver,
    problem: ReplenishProblem,
    inc: Increments,
    hint: Plan,
    take: list[pywraplp.Variable],
    cases: dict[tuple[int, int], pywraplp.Variable],
) -> None:
    start = np.r_[0, np.flatnonzero(inc.row[1:] != inc.row[:-1]) + 1] if inc.size else np.zeros(0, np.int64)
    position = np.arange(inc.size) - np.repeat(start, np.diff(np.r_[start, inc.size]))
    chosen = position < hint.row_packs[inc.row]
    variables = list(take) + list(cases.values())
    values = [float(c) for c in chosen] + [
        float(hint.orders[a, t] // problem.case_pack[a]) for (a, t) in cases
    ]
    solver.SetHint(variables, values)
