"""Replenishment plans: balances and constraints, brute-force optimum, lead times, one-week equivalence."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecast.allocation import allocate
from forecast.config import AllocationConfig, ReplenishmentConfig
from forecast.errors import InfeasibleError, InputError
from forecast.replenish import Plan, build_problem, check_plan, outcome, replenish
from forecast.replenish.results import dc_flows

START = date(2024, 3, 4)


def instance(
    seed: int,
    *,
    articles: int = 2,
    stores: int = 2,
    weeks: int = 3,
    quantiles: bool = False,
    dc_units: int | None = None,
) -> dict[str, pl.DataFrame]:
    """A small random instance in the file contracts."""
    rng = np.random.default_rng(seed)
    article_ids = [f"A{i}" for i in range(articles)]
    store_ids = [f"S{i}" for i in range(stores)]
    rows = []
    for s, a, t in itertools.product(store_ids, article_ids, range(weeks)):
        mean = float(rng.uniform(0.2, 4.0))
        row = {"article_id": a, "store_id": s, "week": START + timedelta(weeks=t), "mean": mean}
        if quantiles:
            row |= {"q10": max(mean - 1.5, 0.0), "q50": mean, "q90": mean + 2.0}
        rows.append(row)
    price = np.round(rng.uniform(8, 20, articles), 2)
    dc = pl.DataFrame(
        {
            "article_id": article_ids,
            "available_units": rng.integers(0, 12, articles) if dc_units is None else [dc_units] * articles,
            "pack_size": rng.integers(1, 4, articles),
            "unit_cost": np.round(price * rng.uniform(0.3, 0.6, articles), 2),
            "price": price,
            "holding_cost": np.round(price * 0.1, 2),
        }
    )
    store_frame = pl.DataFrame(
        {
            "store_id": store_ids,
            "capacity_units": rng.integers(8, 30, stores),
            "ship_cost": np.round(rng.uniform(0, 1, stores), 2),
            "lead_weeks": rng.integers(0, 2, stores),
        }
    )
    stock = pl.DataFrame(
        {
            "store_id": store_ids,
            "article_id": [article_ids[0]] * stores,
            "on_hand": rng.integers(0, 4, stores),
        }
    )
    suppliers = pl.DataFrame(
        {
            "article_id": article_ids,
            "supplier_id": ["SUP"] * articles,
            "lead_weeks": rng.integers(1, 3, articles),
            "moq_units": rng.integers(0, 6, articles),
            "case_pack": rng.integers(1, 4, articles),
        }
    )
    return {
        "forecasts": pl.DataFrame(rows),
        "dc_stock": dc,
        "stores": store_frame,
        "store_stock": stock,
        "suppliers": suppliers,
    }


def solve(frames: dict[str, pl.DataFrame], config: ReplenishmentConfig, **extra: pl.DataFrame):
    return replenish(
        frames["forecasts"],
        frames["dc_stock"],
        frames["stores"],
        frames["store_stock"],
        config,
        suppliers=frames.get("suppliers"),
        **extra,
    )


def problem_of(frames: dict[str, pl.DataFrame], config: ReplenishmentConfig):
    return build_problem(
        frames["forecasts"],
        frames["dc_stock"],
        frames["stores"],
        frames["store_stock"],
        config,
        suppliers=frames.get("suppliers"),
    )


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    budget=st.one_of(st.none(), st.floats(0, 200)),
    dc_capacity=st.one_of(st.none(), st.integers(12, 60)),
    quantiles=st.booleans(),
)
def test_plan_keeps_every_balance_and_constraint(seed, budget, dc_capacity, quantiles):
    frames = instance(seed, articles=3, stores=3, weeks=4, quantiles=quantiles, dc_units=10)
    config = ReplenishmentConfig(weeks=4, budget=budget, dc_capacity_units=dc_capacity, time_limit_s=5)
    error = ""
    try:
        result = solve(frames, config)
    except InfeasibleError as exc:
        error = str(exc)
    if error:  # the DC's own stock does not fit its capacity and there is no order to cut
        assert error.startswith("dc capacity")
        return
    problem = result.problem
    check_plan(problem, result.plan)  # independent of the solver
    supply, shipped, end = dc_flows(problem, result.plan)
    assert np.allclose(end, np.cumsum(supply - shipped, axis=1))
    assert (end >= -1e-9).all()
    ship = result.shipments
    assert (
        ship["units"] == ship["packs"] * ship.join(frames["dc_stock"], on="article_id")["pack_size"]
    ).all()
    leads = ship.join(frames["stores"].select("store_id", "lead_weeks"), on="store_id")
    assert ((leads["arrive_week"] - leads["ship_week"]).dt.total_days() == 7 * leads["lead_weeks"]).all()
    orders = result.orders.join(frames["suppliers"], on="article_id")
    assert ((orders["arrive_week"] - orders["order_week"]).dt.total_days() == 7 * orders["lead_weeks"]).all()
    assert (orders["units"] % orders["case_pack"] == 0).all()
    assert (orders["units"] >= orders["moq_units"]).all()
    if budget is not None:
        assert result.orders["cost"].sum() <= budget + 1e-6
    if dc_capacity is not None:
        assert (result.summary["dc_stock_end"] <= dc_capacity + 1e-6).all()
    used = problem.store_known.copy()
    np.add.at(
        used,
        (problem.row_store, problem.row_week),
        result.plan.row_packs * problem.pack_size[problem.row_article],
    )
    assert (used <= problem.capacity_units[:, None] + 1e-9).all()
    assert result.objective <= result.bound + 1e-6
    assert result.summary["shipped_units"].sum() == ship["units"].sum()
    assert result.summary["ordered_units"].sum() == result.orders["units"].sum()


def brute_force(problem, max_packs: int = 3, max_cases: int = 3) -> float:
    """Best objective over every plan with up to `max_packs` packs per row and `max_cases` cases per order."""
    ship_ok = (problem.row_week - problem.store_lead[problem.row_store]) >= 0
    row_choices = [range(max_packs + 1) if ok else [0] for ok in ship_ok]
    cells = [
        (a, t)
        for a in range(problem.article_ids.size)
        for t in range(problem.n_weeks)
        if problem.orderable[a] and t + problem.supplier_lead[a] < problem.n_weeks
    ]
    order_choices = []
    for a, _ in cells:
        case, moq = int(problem.case_pack[a]), int(problem.moq_units[a])
        order_choices.append([0] + [n * case for n in range(1, max_cases + 1) if n * case >= moq])
    best = -np.inf
    for packs in itertools.product(*row_choices):
        for picks in itertools.product(*order_choices):
            orders = np.zeros((problem.article_ids.size, problem.n_weeks))
            for (a, t), units in zip(cells, picks, strict=True):
                orders[a, t] = units
            plan = Plan(np.array(packs, dtype=np.int64), orders)
            try:
                check_plan(problem, plan)
            except InfeasibleError:
                continue
            best = max(best, outcome(problem, plan).objective)
    return best


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_tiny_plan_equals_the_brute_force_optimum(seed):
    frames = instance(seed, articles=1, stores=2, weeks=2)
    frames["forecasts"] = frames["forecasts"].with_columns(pl.col("mean") * 0.6)
    frames["stores"] = frames["stores"].with_columns(pl.lit(6).alias("capacity_units"))
    frames["suppliers"] = frames["suppliers"].with_columns(
        pl.lit(1).alias("lead_weeks"), pl.lit(2).alias("case_pack")
    )
    config = ReplenishmentConfig(weeks=2, max_gap=0.0, budget=30.0)
    result = solve(frames, config)
    # every useful plan sits inside the enumerated box: at most 6 units fit a store, a case is 2 units
    assert result.plan.row_packs.max(initial=0) <= 6
    assert result.plan.orders.max(initial=0) <= 6
    best = brute_force(result.problem, max_packs=6 // int(result.problem.pack_size[0]), max_cases=3)
    assert result.objective == pytest.approx(best, abs=1e-6)


def test_mip_matches_brute_force_with_moq_and_dc_capacity():
    frames = instance(11, articles=2, stores=1, weeks=2)
    frames["stores"] = frames["stores"].with_columns(
        pl.lit(5).alias("capacity_units"), pl.lit(0).alias("lead_weeks")
    )
    frames["suppliers"] = frames["suppliers"].with_columns(
        pl.lit(1).alias("lead_weeks"), pl.lit(2).alias("case_pack"), pl.lit(4).alias("moq_units")
    )
    frames["dc_stock"] = frames["dc_stock"].with_columns(
        pl.lit(1).alias("pack_size"), pl.lit(2).alias("available_units")
    )
    config = ReplenishmentConfig(weeks=2, max_gap=0.0, dc_capacity_units=6)
    result = solve(frames, config)
    assert result.objective == pytest.approx(brute_force(result.problem, max_packs=5, max_cases=3), abs=1e-6)


def test_lead_times_shift_arrivals_exactly():
    frames = instance(3, articles=1, stores=1, weeks=6, dc_units=40)
    frames["suppliers"] = None
    frames["forecasts"] = frames["forecasts"].with_columns(pl.lit(3.0).alias("mean"))
    plans = {}
    for lead in (0, 1, 2):
        stores = frames["stores"].with_columns(
            pl.lit(lead).alias("lead_weeks"), pl.lit(1000).alias("capacity_units")
        )
        result = solve({**frames, "stores": stores}, ReplenishmentConfig(weeks=6, supplier_lead_weeks=9))
        ship = result.shipments
        assert ((ship["arrive_week"] - ship["ship_week"]).dt.total_days() == 7 * lead).all()
        assert ship["arrive_week"].min() >= START + timedelta(weeks=lead)
        plans[lead] = ship.select("arrive_week", "units")
    # the same deliveries from the week the lead time allows: arrivals agree on the weeks both can reach
    later = plans[2]["arrive_week"].min()
    for lead in (0, 1):
        same = plans[lead].filter(pl.col("arrive_week") >= later)
        assert same.equals(plans[2])


def test_in_transit_arrives_in_its_week():
    frames = instance(4, articles=1, stores=1, weeks=3, dc_units=0)
    transit = pl.DataFrame(
        {
            "article_id": ["A0", "A0"],
            "store_id": ["S0", ""],
            "arrive_week": [str(START + timedelta(weeks=1))] * 2,
            "units": [5, 7],
        }
    )
    config = ReplenishmentConfig(weeks=3, supplier_lead_weeks=5)
    with_transit = build_problem(
        frames["forecasts"], frames["dc_stock"], frames["stores"], None, config, in_transit=transit
    )
    assert with_transit.dc_inbound[0].tolist() == [0.0, 7.0, 0.0]
    assert with_transit.row_known[with_transit.row_week == 0][0] == 0
    assert with_transit.row_known[with_transit.row_week == 1][0] == 5


@pytest.mark.parametrize(("seed", "quantiles"), [(1, False), (2, True), (3, False), (4, True)])
def test_zero_lead_one_week_plan_equals_the_single_week_allocation(seed, quantiles):
    # The single-week allocation charges the unit cost on units sold (the one money model): a unit not sold
    # keeps its cost. A one-week plan whose leftovers are worth their unit cost is the same decision.
    frames = instance(seed, articles=4, stores=3, weeks=1, quantiles=quantiles, dc_units=9)
    stores = frames["stores"].with_columns(pl.lit(0).alias("lead_weeks"))
    dc = frames["dc_stock"].with_columns(pl.col("unit_cost").alias("salvage_value"))
    result = replenish(
        frames["forecasts"], dc, stores, frames["store_stock"], ReplenishmentConfig(weeks=1, max_gap=0)
    )
    single = allocate(frames["forecasts"], dc, stores, frames["store_stock"], AllocationConfig(max_gap=0))
    assert result.orders.is_empty()
    ours = result.shipments.select("store_id", "article_id", "units").sort("store_id", "article_id")
    theirs = single.plan.filter(pl.col("units") > 0).select("store_id", "article_id", "units")
    assert ours.equals(theirs.sort("store_id", "article_id"))
    # the objectives differ by the cost value of every unit held, which no decision changes
    held = frames["store_stock"].group_by("article_id").agg(pl.col("on_hand").sum())
    book = dc.join(held, on="article_id", how="left").select(
        (pl.col("unit_cost") * (pl.col("available_units") + pl.col("on_hand").fill_null(0))).sum()
    )
    assert result.objective - single.objective == pytest.approx(book.item(), rel=1e-9, abs=1e-6)


def test_bad_inputs_get_one_line_naming_the_rows():
    frames = instance(5)
    config = ReplenishmentConfig(weeks=3)
    full = frames["store_stock"].with_columns(pl.lit(500).alias("on_hand"))
    with pytest.raises(InfeasibleError, match="store capacity"):
        solve({**frames, "store_stock": full}, config)
    bad = frames["suppliers"].with_columns(pl.lit(0).alias("case_pack"))
    with pytest.raises(InputError, match="case_pack"):
        solve({**frames, "suppliers": bad}, config)
    gap = frames["forecasts"].filter(pl.col("week") != START + timedelta(weeks=1))
    with pytest.raises(InputError, match="consecutive"):
        solve({**frames, "forecasts": gap}, config)
    late = pl.DataFrame(
        {"article_id": ["A0"], "store_id": ["S0"], "arrive_week": ["2024-01-01"], "units": [1]}
    )
    with pytest.raises(InputError, match="arrive_week"):
        solve(frames, config, in_transit=late)
