"""The replenishment replay: every policy meets the same true demand and the units reconcile."""

from __future__ import annotations

import polars as pl
import pytest

from forecast.replenish.replay import ReplayConfig, replay


@pytest.fixture(scope="module")
def result():
    return replay(ReplayConfig(weeks=3, horizon=5, articles=40, stores=3, history_weeks=40, seed=2))


def test_every_policy_meets_the_same_demand(result):
    summary = result.summary
    assert set(summary["policy"]) == {"plan", "plan_service", "base_stock", "s_S", "proportional", "cover"}
    assert summary["demand_units"].n_unique() == 1
    assert (summary["sales_units"] + summary["lost_sales_units"] - summary["demand_units"]).abs().max() < 1e-6
    assert ((summary["fill_rate"] >= 0) & (summary["fill_rate"] <= 1)).all()


def test_profit_reconciles_with_its_parts(result):
    s = result.summary
    parts = s["revenue"] + s["leftover_value"] - s["purchase_cost"] - s["holding_cost"] - s["ship_cost"]
    assert (parts - s["profit"]).abs().max() < 1e-6
    weekly = result.weekly.group_by("policy").agg(weeks=pl.col("week").n_unique())
    assert (weekly["weeks"] == 3).all()
