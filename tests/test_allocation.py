"""Allocation: exactness against brute force, constraints on random instances, demand, rules, errors."""

from __future__ import annotations

import itertools
import math
from datetime import date
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from forecast.allocation import (
    allocate,
    allocate_cover,
    allocate_proportional,
    build_problem,
    evaluate_plan,
    expected_profit,
)
from forecast.allocation.demand import DemandModel
from forecast.allocation.results import PLAN_COLUMNS
from forecast.config import AllocationConfig
from forecast.errors import InfeasibleError, InputError
from forecast.ids import natural_order

WEEK = date(2024, 3, 4)
EXACT = AllocationConfig(max_gap=0.0, time_limit_s=30)
Frames = tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]


def make_frames(
    means: np.ndarray,
    *,
    available: list[int],
    packs: list[int],
    capacity: list[int],
    prices: list[float] | None = None,
    holding: list[float] | None = None,
    on_hand: np.ndarray | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Frames of a stores × articles instance with mean demand `means[store, article]`."""
    n_store, n_art = means.shape
    stores = [f"S{i}" for i in range(n_store)]
    articles = [f"A{j}" for j in range(n_art)]
    forecasts = pl.DataFrame(
        {
            "article_id": [a for _ in stores for a in articles],
            "store_id": [s for s in stores for _ in articles],
            "week": [WEEK] * (n_store * n_art),
            "horizon": 1,
            "model": "m",
            "mean": means.ravel().astype(float),
        }
    )
    prices = prices or [10.0] * n_art
    dc = pl.DataFrame(
        {
            "article_id": articles,
            "available_units": available,
            "pack_size": packs,
            "unit_cost": [p / 2 for p in prices],
            "price": prices,
            "holding_cost": holding or [1.0] * n_art,
        }
    )
    store_frame = pl.DataFrame({"store_id": stores, "capacity_units": capacity, "ship_cost": 0.5})
    hand = np.zeros_like(means, dtype=int) if on_hand is None else on_hand
    stock = pl.DataFrame(
        {
            "store_id": [s for s in stores for _ in articles],
            "article_id": [a for _ in stores for a in articles],
            "on_hand": hand.ravel(),
        }
    )
    return forecasts, dc, store_frame, stock


def poisson_profit(
    mean: float, stock: int, units: int, price: float, cost: float, hold: float, ship: float
) -> float:
    """Independent oracle: expected profit by summing the Poisson pmf."""
    demand = np.arange(0, int(mean * 10 + stock + 50))
    pmf = stats.poisson.pmf(demand, mean)
    sales = float((np.minimum(demand, stock) * pmf).sum())
    return (price - cost) * sales - ship * units - hold * (stock - sales)


def brute_force(frames: Frames, presentation_min: int = 0, max_packs: int = 4) -> float:
    forecasts, dc, stores, stock = frames
    joined = (
        forecasts.join(stock, on=["store_id", "article_id"])
        .join(dc, on="article_id")
        .join(stores, on="store_id")
    )
    rows: list[dict[str, Any]] = joined.sort("store_id", "article_id").to_dicts()
    best = -math.inf
    for combo in itertools.product(range(max_packs + 1), repeat=len(rows)):
        units = [k * r["pack_size"] for k, r in zip(combo, rows, strict=True)]
        sent: dict[str, int] = {}
        filled: dict[str, int] = {}
        ok: bool = True
        for u, r in zip(units, rows, strict=True):
            sent[r["article_id"]] = sent.get(r["article_id"], 0) + u
            filled[r["store_id"]] = filled.get(r["store_id"], 0) + u + r["on_hand"]
            ok = ok and (u == 0 or r["on_hand"] + u >= presentation_min)
        ok &= all(sent[a] <= dc.filter(pl.col("article_id") == a)["available_units"][0] for a in sent)
        ok &= all(filled[s] <= stores.filter(pl.col("store_id") == s)["capacity_units"][0] for s in filled)
        if not ok:
            continue
        value = sum(
            poisson_profit(
                r["mean"], r["on_hand"] + u, u, r["price"], r["unit_cost"], r["holding_cost"], r["ship_cost"]
            )
            for u, r in zip(units, rows, strict=True)
        )
        best = max(best, value)
    return best


@pytest.mark.parametrize(
    ("means", "available", "packs", "capacity", "pmin"),
    [
        (np.array([[3.0, 1.0], [2.0, 4.0]]), [5, 6], [1, 2], [6, 5], 0),
        (np.array([[5.0, 0.5], [1.5, 6.0]]), [6, 8], [2, 3], [7, 9], 0),
        (np.array([[2.5, 2.0], [3.5, 1.0]]), [6, 6], [2, 1], [8, 8], 3),
        (np.array([[8.0, 4.0, 1.0]]), [9, 6, 4], [3, 2, 1], [10], 2),
    ],
)
def test_optimum_matches_brute_force(means, available, packs, capacity, pmin):
    frames = make_frames(
        means, available=available, packs=packs, capacity=capacity, prices=[10.0, 14.0, 6.0][: means.shape[1]]
    )
    config = AllocationConfig(max_gap=0.0, presentation_min=pmin)
    result = allocate(*frames, config)
    best = brute_force(frames, pmin)
    assert result.objective == pytest.approx(best, rel=1e-7, abs=1e-7)
    assert result.bound >= result.objective - 1e-7
    assert 0.0 <= result.gap <= 1e-9 or result.status == "optimal"
    # without the MIP: the repaired flow plan is feasible and the flow bound really bounds the optimum
    flow = allocate(*frames, AllocationConfig(max_gap=1.0, presentation_min=pmin))
    assert flow.method == "min-cost flow + rounding"
    assert flow.objective <= best + 1e-7 <= flow.bound + 1e-6


def _check_constraints(result, frames, pmin=0):
    forecasts, dc, stores, stock = frames
    plan = result.plan
    assert plan.columns == PLAN_COLUMNS
    assert natural_order(plan, ["store_id", "article_id"]).equals(plan)
    # every store × article that receives units or holds stock, and no other
    assert ((plan["units"] > 0) | (plan["on_hand_before"] > 0)).all()
    holding = stock.filter(pl.col("on_hand") > 0).join(forecasts, on=["store_id", "article_id"], how="semi")
    assert holding.join(plan, on=["store_id", "article_id"], how="anti").is_empty()
    check_rows(result)
    joined = plan.join(dc, on="article_id")
    assert (joined["units"] % joined["pack_size"] == 0).all()
    assert (joined["units"] == joined["packs"] * joined["pack_size"]).all()
    sent = joined.group_by("article_id").agg(pl.col("units").sum(), pl.col("available_units").first())
    assert (sent["units"] <= sent["available_units"]).all()
    held = stock.group_by("store_id").agg(pl.col("on_hand").sum())
    used = stores.join(held, on="store_id", how="left").join(
        plan.group_by("store_id").agg(pl.col("units").sum()), on="store_id", how="left"
    )
    assert (used["on_hand"].fill_null(0) + used["units"].fill_null(0) <= used["capacity_units"]).all()
    shipped = plan.filter(pl.col("units") > 0)
    assert (shipped["on_hand_before"] + shipped["units"] >= pmin).all()


def check_rows(result) -> None:
    """The plan's rows obey the demand distribution and reconcile with the money model to the cent."""
    plan = result.plan
    stock = plan["on_hand_before"] + plan["units"]
    assert (plan["expected_sales"] <= plan["demand_mean"]).all()
    assert (plan["expected_sales"] <= stock).all()
    assert (plan["expected_leftover"] >= 0).all()
    np.testing.assert_allclose(plan["expected_sales"] + plan["expected_leftover"], stock, atol=1e-9)
    money = (
        (plan["price"] - plan["unit_cost"]) * plan["expected_sales"]
        - plan["holding_cost"] * plan["expected_leftover"]
        - plan["ship_cost"] * plan["units"]
    )
    np.testing.assert_allclose(plan["expected_profit"], money.round(2), atol=1e-9)
    assert result.expected_profit == pytest.approx(round(float(plan["expected_profit"].sum()), 2), abs=1e-9)


@st.composite
def instances(draw):
    n_store = draw(st.integers(1, 4))
    n_art = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    means = rng.gamma(1.5, 2.0, (n_store, n_art)) * (rng.random((n_store, n_art)) > 0.2)
    on_hand = rng.poisson(0.5, (n_store, n_art))
    frames = make_frames(
        means,
        available=list(rng.integers(0, 20, n_art)),
        packs=list(rng.choice([1, 2, 3, 5], n_art)),
        capacity=list(on_hand.sum(axis=1) + rng.integers(4, 25, n_store)),
        prices=list(np.round(rng.uniform(2, 30, n_art), 2)),
        holding=list(np.round(rng.uniform(0, 3, n_art), 2)),
        on_hand=on_hand,
    )
    if draw(st.booleans()):  # random quantiles, too high for the mean at times (crossing ones are refused)
        spread = rng.uniform(-0.5, 3.0, (means.size, 3)) * (1 + means.reshape(-1, 1))
        q = np.sort(np.round(means.reshape(-1, 1) + spread * np.array([-0.6, 0.0, 1.0]), 2), axis=1)
        quantiles = pl.DataFrame(q, schema=["q10", "q50", "q90"]).with_columns(pl.all().clip(lower_bound=0))
        frames = (pl.concat([frames[0], quantiles], how="horizontal"), *frames[1:])
    return frames, draw(st.sampled_from([0, 0, 2, 4]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_constraints_hold_and_optimum_beats_rules(case):
    # also the distribution rules on every plan row (`check_rows`): expected_sales <= min(demand_mean,
    # on_hand_before + units), expected_sales + expected_leftover = on_hand_before + units, money to the cent
    frames: Frames = case[0]
    pmin: int = case[1]
    config = AllocationConfig(max_gap=0.0, presentation_min=pmin)
    result = allocate(*frames, config)
    _check_constraints(result, frames, pmin)
    assert result.bound >= result.objective - 1e-6
    for rule in (allocate_proportional(*frames, config), allocate_cover(*frames, config)):
        _check_constraints(rule, frames, pmin)
        assert rule.objective <= result.objective + 1e-6
        assert math.isnan(rule.gap)


def test_flow_path_on_a_larger_instance_reports_a_small_gap():
    rng = np.random.default_rng(5)
    means = rng.gamma(2.0, 1.5, (25, 40))
    frames = make_frames(
        means,
        available=list((0.6 * means.sum(axis=0)).astype(int)),
        packs=list(rng.choice([1, 2, 4], 40)),
        capacity=list((0.7 * means.sum(axis=1)).astype(int)),
        prices=list(rng.uniform(5, 40, 40)),
        holding=list(rng.uniform(0.5, 3, 40)),
    )
    result = allocate(*frames, AllocationConfig(max_gap=0.01))
    _check_constraints(result, frames)
    assert result.method.startswith("min-cost flow")
    assert 0.0 <= result.gap <= 0.01
    assert result.bound >= result.objective
    assert result.objective > max(
        allocate_proportional(*frames, AllocationConfig()).objective,
        allocate_cover(*frames, AllocationConfig()).objective,
    )
    # the plan total recomputed from the plan's rows alone
    problem = result.problem
    assert problem is not None
    assert expected_profit(result.plan, problem) == pytest.approx(result.expected_profit, abs=1e-9)
    assert result.expected_profit == pytest.approx(result.objective, abs=0.01 * problem.n_pairs)


def test_poisson_expected_sales_match_the_pmf():
    model = DemandModel(np.array([0.0, 0.7, 4.0, 30.0]), np.array([0.1, 0.5, 0.9]), np.full((4, 3), np.nan))
    for stock in (0, 1, 3, 8, 40):
        got = model.expected_sales(np.arange(4), np.full(4, stock))
        demand = np.arange(200)
        want = [
            (np.minimum(demand, stock) * stats.poisson.pmf(demand, mu)).sum() for mu in (0.0, 0.7, 4.0, 30.0)
        ]
        np.testing.assert_allclose(got, want, atol=1e-9)


def test_quantile_expected_sales_match_numeric_integration():
    values = np.array([[2.0, 5.0, 9.0], [0.0, 0.0, 3.0], [4.0, 4.0, 4.0], [0.0, 1.0, 2.0]])
    means = np.array([5.5, 0.9, 4.0, 1.0])
    model = DemandModel(means, np.array([0.1, 0.5, 0.9]), values)
    dist = model.distribution
    u = np.linspace(0, 1, 1_000_001)
    for row in range(values.shape[0]):
        q = np.interp(u, dist.knot_levels, dist.knot_values[row])
        assert np.trapezoid(q, u) == pytest.approx(means[row], rel=1e-6)
        for stock in (0, 1, 2, 4, 7, 15):
            want = np.trapezoid(np.minimum(q, stock), u)
            got = model.expected_sales(np.array([row]), np.array([stock]))[0]
            assert got == pytest.approx(want, abs=1e-6)
    # with stock beyond any demand, expected sales are the mean
    np.testing.assert_allclose(model.expected_sales(np.arange(4), np.full(4, 1000)), means)


def test_quantile_demand_changes_the_plan():
    means = np.array([[4.0, 4.0]])
    frames = make_frames(means, available=[30, 30], packs=[1, 1], capacity=[100], holding=[1.0, 1.0])
    wide = frames[0].with_columns(q10=pl.lit(0.0), q50=pl.lit(2.0), q90=pl.lit(14.0))
    narrow = frames[0].with_columns(q10=pl.lit(3.0), q50=pl.lit(4.0), q90=pl.lit(5.0))
    units = {}
    for name, forecasts in (("wide", wide), ("narrow", narrow)):
        result = allocate(forecasts, *frames[1:], EXACT)
        units[name] = int(result.plan["units"].sum())
    assert units["wide"] > units["narrow"]
    poisson = build_problem(wide, *frames[1:], AllocationConfig(demand="poisson"))
    assert not DemandModel.from_problem(poisson).is_quantile.any()
    assert DemandModel.from_problem(build_problem(wide, *frames[1:], AllocationConfig())).is_quantile.all()


def test_cover_weeks_sum_the_forecast_weeks():
    means = np.array([[3.0]])
    forecasts, dc, stores, stock = make_frames(means, available=[50], packs=[1], capacity=[100])
    two = pl.concat([forecasts, forecasts.with_columns(week=pl.lit(date(2024, 3, 11)), mean=pl.lit(5.0))])
    problem = build_problem(two, dc, stores, stock, AllocationConfig(cover_weeks=2))
    assert problem.pair_mean.tolist() == [8.0]
    assert problem.weeks == [WEEK, date(2024, 3, 11)]
    later = build_problem(two, dc, stores, stock, AllocationConfig(), week=date(2024, 3, 11))
    assert later.pair_mean.tolist() == [5.0]


def test_evaluate_plan_against_known_demand():
    means = np.array([[3.0, 2.0]])
    frames = make_frames(
        means,
        available=[10, 10],
        packs=[2, 1],
        capacity=[50],
        prices=[10.0, 20.0],
        holding=[1.0, 2.0],
        on_hand=np.array([[1, 0]]),
    )
    problem = build_problem(*frames, AllocationConfig())
    plan = pl.DataFrame({"store_id": ["S0"], "article_id": ["A0"], "units": [4]})
    actual = pl.DataFrame({"store_id": ["S0", "S0"], "article_id": ["A0", "A1"], "units": [3, 2]})
    money = evaluate_plan(plan, actual, problem)
    # A0: stock 5, sells 3, leftover 2; A1: stock 0, loses 2
    assert money["sales_units"] == 3
    assert money["revenue"] == pytest.approx(30.0)
    assert money["lost_sales_units"] == 2
    assert money["lost_sales_cost"] == pytest.approx(2 * (20.0 - 10.0))
    assert money["holding_cost"] == pytest.approx(2 * 1.0)
    assert money["ship_cost"] == pytest.approx(4 * 0.5)
    # profit = (p − c)·sales − h·leftover − ship·units = 5·3 − 1·2 − 0.5·4
    assert money["profit"] == pytest.approx(15.0 - 2.0 - 2.0)


def test_summaries_reconcile_with_the_plan():
    rng = np.random.default_rng(2)
    means = rng.gamma(2.0, 2.0, (3, 5))
    frames = make_frames(means, available=[6] * 5, packs=[2] * 5, capacity=[12, 12, 12])
    result = allocate(*frames, AllocationConfig())
    summary = result.article_summary
    assert summary["units_sent"].sum() == result.plan["units"].sum()
    assert (summary["left_at_dc"] == summary["dc_available_units"] - summary["units_sent"]).all()
    assert (result.store_summary["capacity_used"] <= result.store_summary["capacity_units"]).all()
    assert result.store_summary["expected_profit"].sum() == pytest.approx(result.expected_profit, abs=1e-6)
    assert summary["expected_profit"].sum() == pytest.approx(result.expected_profit, abs=1e-6)


def _base():
    return make_frames(np.array([[3.0, 2.0]]), available=[10, 10], packs=[2, 1], capacity=[20])


@pytest.mark.parametrize(
    ("mutate", "error", "words"),
    [
        (lambda f: (f[0], f[1].with_columns(pack_size=pl.lit(0)), f[2], f[3]), InputError, "pack_size"),
        (lambda f: (f[0], f[1].with_columns(pack_size=pl.lit(-2)), f[2], f[3]), InputError, "pack_size"),
        (lambda f: (f[0], f[1], f[2], f[3].with_columns(on_hand=pl.lit(-1))), InputError, "on_hand"),
        (
            lambda f: (f[0], f[1].with_columns(available_units=pl.lit(-3)), f[2], f[3]),
            InputError,
            "available",
        ),
        (lambda f: (f[0], f[1], f[2], f[3].with_columns(on_hand=pl.lit(15))), InfeasibleError, "capacity"),
        (lambda f: (f[0].with_columns(store_id=pl.lit("S9")), *f[1:]), InputError, "'S9'"),
        (lambda f: (f[0].drop("mean"), *f[1:]), InputError, "mean"),
        (lambda f: (f[0], f[1].drop("pack_size"), f[2], f[3]), InputError, "pack_size"),
        (lambda f: (f[0], f[1], f[2].drop("capacity_units"), f[3]), InputError, "capacity_units"),
        (lambda f: (f[0].with_columns(mean=pl.lit(-1.0)), *f[1:]), InputError, "mean"),
        (
            lambda f: (
                pl.concat([f[0].with_columns(model=pl.lit("a")), f[0].with_columns(model=pl.lit("b"))]),
                *f[1:],
            ),
            InputError,
            "several models",
        ),
        (lambda f: (pl.concat([f[0], f[0]]), *f[1:]), InputError, "duplicate"),
        (lambda f: (f[0], f[1].with_columns(price=pl.lit(0.0)), f[2], f[3]), InputError, "price"),
    ],
)
def test_bad_inputs_raise_one_line_errors(mutate, error, words):
    frames: Frames = mutate(_base())
    with pytest.raises(error) as info:
        allocate(*frames, AllocationConfig())
    message = str(info.value)
    assert words in message
    assert "\n" not in message


def test_presentation_minimum_above_capacity_is_infeasible():
    frames = make_frames(np.array([[3.0]]), available=[10], packs=[1], capacity=[4])
    with pytest.raises(InfeasibleError, match="presentation minimum"):
        allocate(*frames, AllocationConfig(presentation_min=5))


def test_unknown_week_and_absent_articles():
    forecasts, dc, stores, stock = _base()
    with pytest.raises(InputError, match="not a forecast week"):
        allocate(forecasts, dc, stores, stock, AllocationConfig(), week=date(2030, 1, 7))
    result = allocate(forecasts, dc.filter(pl.col("article_id") == "A0"), stores, stock, AllocationConfig())
    assert set(result.plan["article_id"]) <= {"A0"}
    assert any("not in the DC stock" in w for w in result.warnings)


def test_no_store_stock_and_empty_dc():
    forecasts, dc, stores, _ = _base()
    result = allocate(forecasts, dc.with_columns(available_units=pl.lit(0)), stores, None, AllocationConfig())
    assert result.plan.is_empty()
    assert result.gap == 0.0
    assert result.objective == pytest.approx(result.baseline)


def test_champion_and_cold_start_rows_allocate_together():
    # a forecasts file from `forecast predict` holds the champion's rows and the cold-start model's rows
    forecasts, dc, stores, stock = _base()
    mixed = forecasts.with_columns(
        model=pl.when(pl.col("article_id") == forecasts["article_id"][0])
        .then(pl.lit("lightgbm"))
        .otherwise(pl.lit("cold_start"))
    )
    assert mixed["model"].n_unique() == 2
    mixed_plan = allocate(mixed, dc, stores, stock, AllocationConfig()).plan
    single_plan = allocate(forecasts, dc, stores, stock, AllocationConfig()).plan
    assert mixed_plan.equals(single_plan)


def test_plan_row_reconciles_by_hand():
    # one store, one article: Poisson(2) demand, price 10, unit cost 4 (make_frames: price / 2 -> use 5),
    # holding 1, ship 0.5, one unit on hand. A unit more at stock y gains (p − c + h)·P(D > y) − h − ship
    # = 6·P(D >= y + 1) − 1.5: P(D >= 2) = 1 − 3e⁻² = 0.5940 (+2.06), P(D >= 3) = 1 − 5e⁻² = 0.3233 (+0.44),
    # P(D >= 4) = 0.1429 (−0.64): send 2 units, stock 3.
    # expected sales E[min(D, 3)] = P(D>=1) + P(D>=2) + P(D>=3) = 0.8647 + 0.5940 + 0.3233 = 1.78,
    # leftover 3 − 1.78 = 1.22, profit = 5·1.78 − 1·1.22 − 0.5·2 = 6.68
    frames = make_frames(np.array([[2.0]]), available=[5], packs=[1], capacity=[10], on_hand=np.array([[1]]))
    result = allocate(*frames, EXACT)
    row = result.plan.row(0, named=True)
    assert (row["units"], row["on_hand_before"]) == (2, 1)
    assert (row["demand_mean"], row["expected_sales"], row["expected_leftover"]) == (2.0, 1.78, 1.22)
    assert (row["price"], row["unit_cost"], row["holding_cost"], row["ship_cost"]) == (10.0, 5.0, 1.0, 0.5)
    assert row["expected_profit"] == 6.68
    assert result.expected_profit == 6.68
    # the rules on the same demand: proportional sends all 5 units (stock 6), cover sends 3 (stock 4)
    assert set(result.rule_profits) == {"proportional", "cover"}
    assert max(result.rule_profits.values()) < result.expected_profit


def test_stock_only_pairs_are_in_the_plan_and_its_total():
    means = np.array([[3.0, 2.0]])
    frames = make_frames(means, available=[0, 4], packs=[1, 1], capacity=[20], on_hand=np.array([[5, 0]]))
    result = allocate(*frames, EXACT)
    rows = {r["article_id"]: r for r in result.plan.iter_rows(named=True)}
    assert rows["A0"]["units"] == 0
    assert rows["A0"]["on_hand_before"] == 5
    assert rows["A1"]["units"] > 0
    check_rows(result)
    assert result.store_summary["expected_profit"].sum() == pytest.approx(result.expected_profit, abs=1e-9)


def test_ids_sort_naturally_in_the_plan():
    forecasts, dc, stores, stock = make_frames(
        np.full((3, 2), 3.0), available=[30, 30], packs=[1, 1], capacity=[50, 50, 50]
    )
    store_names = {"S0": "10", "S1": "2", "S2": "1"}
    article_names = {"A0": "A10", "A1": "A2"}
    rename = [pl.col("store_id").replace(store_names), pl.col("article_id").replace(article_names)]
    forecasts, stock = forecasts.with_columns(rename), stock.with_columns(rename)
    dc = dc.with_columns(pl.col("article_id").replace(article_names))
    stores = stores.with_columns(pl.col("store_id").replace(store_names))
    result = allocate(forecasts, dc, stores, stock, EXACT)
    assert result.plan["store_id"].unique(maintain_order=True).to_list() == ["1", "2", "10"]
    assert result.plan.filter(pl.col("store_id") == "1")["article_id"].to_list() == ["A2", "A10"]
    assert result.article_summary["article_id"].to_list() == ["A2", "A10"]
    assert result.store_summary["store_id"].to_list() == ["1", "2", "10"]


def test_crossing_quantiles_are_refused_by_the_library_too() -> None:
    forecasts, dc, stores, stock = make_frames(
        np.array([[2.0, 3.0]]), available=[4, 4], packs=[1, 1], capacity=[9]
    )
    crossing = forecasts.with_columns(q10=pl.lit(5.0), q50=pl.lit(1.0), q90=pl.lit(6.0))
    with pytest.raises(InputError, match=r"forecasts: column 'q50', row 1: quantiles cross"):
        allocate(crossing, dc, stores, stock, AllocationConfig())
