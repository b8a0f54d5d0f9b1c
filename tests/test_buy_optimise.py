"""The buy optimiser against brute force, and its monotonicity and budget properties."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from forecast.buy.optimise import best_orders, budget_orders, expected_profit, fractile_units


def _instance(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    atoms = np.sort(rng.integers(0, 30, size=(n, 6)).astype(np.float64), axis=1)
    price = rng.uniform(5.0, 10.0, size=n).round(2)
    cost = (price * rng.uniform(0.3, 0.7, size=n)).round(2)
    salvage = (cost * rng.uniform(0.0, 0.8, size=n)).round(2)
    pack = rng.integers(1, 5, size=n).astype(np.float64)
    minimum = rng.choice([0.0, 5.0, 12.0], size=n)
    return {
        "atoms": atoms,
        "price": price,
        "cost": cost,
        "salvage": salvage,
        "pack": pack,
        "minimum": minimum,
    }


def _choices(pack: float, minimum: float, top: float) -> list[float]:
    return [q for q in np.arange(0.0, top + pack + 1e-9, pack) if q == 0 or q >= minimum]


def _brute(inst: dict[str, np.ndarray], budget: float | None) -> float:
    """The best total expected profit over every allowed order combination."""
    n = len(inst["price"])
    options = [_choices(inst["pack"][i], inst["minimum"][i], inst["atoms"][i].max() + 12) for i in range(n)]
    best = -np.inf
    for combo in itertools.product(*options):
        units = np.array(combo)
        if budget is not None and float((inst["cost"] * units).sum()) > budget + 1e-9:
            continue
        value = expected_profit(inst["atoms"], units, inst["price"], inst["cost"], inst["salvage"]).sum()
        best = max(best, float(value))
    return best


def _value(inst: dict[str, np.ndarray], units: np.ndarray) -> float:
    return float(expected_profit(inst["atoms"], units, inst["price"], inst["cost"], inst["salvage"]).sum())


@pytest.mark.parametrize("seed", range(12))
def test_unconstrained_orders_equal_brute_force(seed: int) -> None:
    inst = _instance(np.random.default_rng(seed), 2)
    units = best_orders(
        inst["atoms"], inst["price"], inst["cost"], inst["salvage"], inst["pack"], inst["minimum"]
    )
    assert _value(inst, units) == pytest.approx(_brute(inst, None), abs=1e-9)
    assert np.all(units % inst["pack"] == 0)
    assert np.all((units == 0) | (units >= inst["minimum"]))


@pytest.mark.parametrize("seed", range(12))
def test_budget_orders_equal_brute_force(seed: int) -> None:
    inst = _instance(np.random.default_rng(100 + seed), 3)
    free = best_orders(
        inst["atoms"], inst["price"], inst["cost"], inst["salvage"], inst["pack"], inst["minimum"]
    )
    budget = round(0.5 * float((inst["cost"] * free).sum()), 2)
    plan = budget_orders(
        inst["atoms"], inst["price"], inst["cost"], inst["salvage"], inst["pack"], inst["minimum"], budget
    )
    assert float((inst["cost"] * plan.units).sum()) <= budget + 1e-9
    assert _value(inst, plan.units) == pytest.approx(_brute(inst, budget), rel=1e-5, abs=1e-6)


def test_budget_is_never_exceeded() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        inst = _instance(rng, 8)
        budget = float(rng.uniform(0.0, 300.0))
        plan = budget_orders(
            inst["atoms"], inst["price"], inst["cost"], inst["salvage"], inst["pack"], inst["minimum"], budget
        )
        assert float((inst["cost"] * plan.units).sum()) <= budget + 1e-9
        assert np.all((plan.units == 0) | (plan.units >= inst["minimum"]))


def test_more_salvage_never_buys_less() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        inst = _instance(rng, 5)
        more = np.minimum(inst["salvage"] + rng.uniform(0.0, 2.0, size=5), inst["cost"])
        args = (inst["pack"], inst["minimum"])
        low = best_orders(inst["atoms"], inst["price"], inst["cost"], inst["salvage"], *args)
        high = best_orders(inst["atoms"], inst["price"], inst["cost"], more, *args)
        assert np.all(high >= low)


def test_fractile_is_the_newsvendor_quantile() -> None:
    atoms = np.array([[1.0, 2.0, 3.0, 4.0]])
    assert fractile_units(atoms, np.array([0.5])).tolist() == [2.0]
    assert fractile_units(atoms, np.array([0.51])).tolist() == [3.0]
    assert fractile_units(atoms, np.array([0.0])).tolist() == [0.0]


def test_no_margin_buys_nothing() -> None:
    atoms = np.array([[5.0, 10.0]])
    one = np.array([1.0])
    assert best_orders(atoms, one, one, 0.5 * one, one, 0 * one).tolist() == [0.0]
