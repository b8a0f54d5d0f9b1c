"""The markdown planner: rules on random instances, exact optimum against brute force, never worse than
keeping the price."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast.distribution import DemandDistribution
from forecast.markdown.planner import MarkdownProblem, evaluate_path, monte_carlo, solve
from forecast.markdown.response import lift, scaled_ladder
from forecast.markdown.rules import FixedRule, SellThroughRule, follow


def _problem(
    rng: np.random.Generator, units: int, weeks: int, levels: int, quantiles: bool
) -> MarkdownProblem:
    discounts = np.sort(rng.choice(np.arange(0, 70, 10), size=levels, replace=False)) / 100.0
    base_mean = rng.gamma(2.0, 3.0, size=units * weeks)
    if quantiles:
        spread = rng.uniform(0.2, 0.8, size=units * weeks)
        values = base_mean[:, None] * np.column_stack([1 - spread, np.ones_like(spread), 1 + spread])
        base = DemandDistribution.build(base_mean, np.array([0.1, 0.5, 0.9]), values)
    else:
        base = DemandDistribution.build(base_mean)
    elasticity = rng.uniform(0.5, 3.0, size=units)
    factor = lift(discounts[None, :], np.repeat(elasticity, weeks)[:, None])
    open_weeks = np.arange(weeks)[None, :] < rng.integers(1, weeks + 1, size=units)[:, None]
    return MarkdownProblem(
        discounts=discounts,
        list_price=np.round(rng.uniform(5, 50, size=units), 2),
        demand=scaled_ladder(base, factor),
        stock=np.round(rng.uniform(0, 40, size=units)),
        holding_cost=rng.uniform(0, 1, size=units),
        salvage=rng.uniform(0, 3, size=units),
        open_weeks=open_weeks,
        level=rng.integers(0, levels, size=units),
        steps_used=rng.integers(0, 2, size=units),
        weeks_held=rng.integers(0, 4, size=units),
    )


def _valid(path: tuple[int, ...], level: int, used: int, held: int, max_steps: int, gap: int) -> bool:
    """The rules, written as a check on a whole path."""
    previous, steps, last_change = level, used, -held
    for week, lev in enumerate(path):
        if lev < previous:
            return False
        if lev > previous:
            if week - last_change < gap:
                return False
            steps, last_change = steps + 1, week
        previous = lev
    # a unit that has used its steps may still keep its price
    return steps == used or steps <= max_steps


def _value(problem: MarkdownProblem, u: int, path: tuple[int, ...]) -> float:
    one = np.array(path)[None, :]
    rows = problem.rows(np.repeat(one, problem.units, axis=0))[u]
    out = evaluate_path(
        problem.demand.subset(rows), problem.prices(np.repeat(one, problem.units, axis=0))[u : u + 1],
        problem.stock[u : u + 1], problem.holding_cost[u : u + 1], problem.salvage[u : u + 1],
        problem.open_weeks[u : u + 1],
    )  # fmt: skip
    return float(out.profit[0])


@pytest.mark.parametrize(
    ("max_steps", "gap", "quantiles"), [(2, 1, False), (1, 2, True), (3, 0, True), (0, 1, False)]
)
def test_exact_optimum_equals_brute_force(max_steps: int, gap: int, quantiles: bool) -> None:
    rng = np.random.default_rng(max_steps * 10 + gap)
    problem = _problem(rng, units=6, weeks=4, levels=4, quantiles=quantiles)
    result = solve(problem, max_steps, gap)
    for u in range(problem.units):
        state = (int(problem.level[u]), int(problem.steps_used[u]), int(problem.weeks_held[u]))
        paths = [
            p for p in itertools.product(range(problem.discounts.size), repeat=problem.weeks)
            if _valid(p, *state, max_steps, gap)
        ]  # fmt: skip
        best = max(_value(problem, u, p) for p in paths)
        assert result.outcome.profit[u] == pytest.approx(best, rel=1e-9, abs=1e-9)
        assert tuple(result.levels[u]) in paths


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    max_steps=st.integers(0, 3),
    gap=st.integers(0, 3),
    weeks=st.integers(1, 6),
    quantiles=st.booleans(),
)
def test_plans_keep_the_rules_and_never_lose_against_keeping_the_price(
    seed: int, max_steps: int, gap: int, weeks: int, quantiles: bool
) -> None:
    rng = np.random.default_rng(seed)
    problem = _problem(rng, units=8, weeks=weeks, levels=int(rng.integers(1, 6)), quantiles=quantiles)
    result = solve(problem, max_steps, gap)
    for u in range(problem.units):
        state = (int(problem.level[u]), int(problem.steps_used[u]), int(problem.weeks_held[u]))
        assert _valid(tuple(result.levels[u]), *state, max_steps, gap)
    assert (result.outcome.profit >= result.keep.profit - 1e-9).all()
    assert (result.outcome.units.sum(axis=1) <= problem.stock + 1e-9).all()


def test_monte_carlo_agrees_with_the_expected_stock_path_when_stock_is_ample() -> None:
    rng = np.random.default_rng(3)
    problem = _problem(rng, units=5, weeks=4, levels=3, quantiles=False)
    problem.stock = np.full(problem.units, 1e4)
    levels = np.repeat(problem.level[:, None], problem.weeks, axis=1)
    args = (
        problem.demand.subset(problem.rows(levels).ravel()), problem.prices(levels), problem.stock,
        problem.holding_cost, problem.salvage, problem.open_weeks,
    )  # fmt: skip
    exact = monte_carlo(*args, samples=4000, seed=1)
    approx = evaluate_path(*args)
    np.testing.assert_allclose(exact.units.sum(axis=1), approx.units.sum(axis=1), rtol=0.02)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), max_steps=st.integers(0, 3), gap=st.integers(0, 3))
def test_rules_keep_the_planners_rules(seed: int, max_steps: int, gap: int) -> None:
    rng = np.random.default_rng(seed)
    problem = _problem(rng, units=10, weeks=6, levels=5, quantiles=False)
    life = np.clip(rng.uniform(0.3, 0.9, size=(10, 1)) + 0.05 * np.arange(6)[None, :], 0, 1)
    for rule in (
        SellThroughRule(target_end=float(rng.uniform(0.5, 1.2)), depth=2),
        FixedRule(share=0.5, depth=1),
    ):
        levels = follow(rule, problem, life, max_steps, gap)
        for u in range(problem.units):
            state = (int(problem.level[u]), int(problem.steps_used[u]), int(problem.weeks_held[u]))
            assert _valid(tuple(levels[u]), *state, max_steps, gap)
