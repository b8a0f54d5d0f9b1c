"""Newsvendor business evaluation on hand-computed cases."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats

from forecast.business import (
    evaluate_business,
    evaluate_rows,
    poisson_quantile,
    profit,
)


def _row(**values: float) -> pl.DataFrame:
    base = {
        "model": "m",
        "units": 5.0,
        "mean": 4.0,
        "q10": 2.0,
        "q50": 4.0,
        "q90": 6.0,
        "price": 10.0,
        "unit_cost": 5.0,
        "holding_cost": 1.0,
    }
    base.update(values)
    return pl.DataFrame({k: [v] for k, v in base.items()})


def test_stock_interpolates_between_quantiles_and_money_by_hand() -> None:
    # tau = (10 - 5) / (10 - 5 + 1) = 5/6 (between q50 and q90)
    # stock = 4 + (5/6 - 0.5) / 0.4 * (6 - 4) = 4 + 5/3 = 17/3
    # demand 5 < stock: sales 5, lost 0, leftover 17/3 - 5 = 2/3
    # revenue 50, lost cost 0, holding 1 * 2/3, profit = 50 - 5*5 - 2/3
    out = evaluate_rows(_row()).row(0, named=True)
    assert out["tau"] == pytest.approx(5 / 6)
    assert out["stock_units"] == pytest.approx(17 / 3)
    assert out["sales_units"] == pytest.approx(5.0)
    assert out["lost_sales_units"] == 0.0
    assert out["overstock_units"] == pytest.approx(2 / 3)
    summary = evaluate_business(_row()).row(0, named=True)
    assert summary["revenue"] == pytest.approx(50.0)
    assert summary["holding_cost"] == pytest.approx(2 / 3)
    assert summary["profit"] == pytest.approx(50 - 25 - 2 / 3)


def test_lost_sales_when_demand_exceeds_stock() -> None:
    # h = 5 -> tau = 5 / 10 = 0.5 -> stock = q50 = 4; demand 9: sales 4, lost 5
    # revenue 40; lost_sales_cost (10 - 5) * 5 = 25; profit = 40 - 5*4 - 0 = 20
    out = evaluate_business(_row(units=9.0, holding_cost=5.0)).row(0, named=True)
    assert out["lost_sales_units"] == pytest.approx(5.0)
    assert out["lost_sales_cost"] == pytest.approx(25.0)
    assert out["overstock_units"] == 0.0
    assert out["profit"] == pytest.approx(20.0)


def test_extreme_fractiles_use_the_tails_of_the_distribution() -> None:
    # q = 2, 4, 6 with mean 4: the tails continue the outer slopes (a = 1.5, b = 6.5; see test_distribution)
    # h = 0 -> tau = 1 -> the upper end 6.5; price below cost -> tau = 0 -> the lower end 1.5
    assert evaluate_rows(_row(holding_cost=0.0))["stock_units"].item() == pytest.approx(6.5)
    assert evaluate_rows(_row(unit_cost=12.0))["stock_units"].item() == pytest.approx(1.5)
    # h = 45 -> tau = 5/50 = 0.1 -> exactly q10
    assert evaluate_rows(_row(holding_cost=45.0))["stock_units"].item() == pytest.approx(2.0)
    # h = 0.5 -> tau = 5/5.5 = 0.909 -> in the upper tail: 6 + (0.909 − 0.9)/0.1 · 0.5
    tau = 5 / 5.5
    expected = 6 + (tau - 0.9) / 0.1 * 0.5
    assert evaluate_rows(_row(holding_cost=0.5))["stock_units"].item() == pytest.approx(expected)


def test_one_profit_formula_for_backtest_and_plan() -> None:
    # (p − c)·sales − h·leftover − ship·units, by hand: 6·3 − 0.5·2 − 0.25·4 = 16
    assert profit(3.0, 2.0, price=10.0, unit_cost=4.0, holding_cost=0.5, ship_cost=0.25, units_sent=4.0) == 16
    out = evaluate_rows(_row()).row(0, named=True)
    by_formula = profit(
        out["sales_units"],
        out["overstock_units"],
        price=10.0,
        unit_cost=5.0,
        holding_cost=1.0,
        ship_cost=0.0,
        units_sent=0.0,
    )
    assert out["profit"] == pytest.approx(by_formula)


def test_a_mean_above_q90_moves_the_newsvendor_stock_only_in_the_tail() -> None:
    # intermittent row: q10 = q50 = q90 = 0, mean 0.3 -> 90% zero, 10% spread over 0..6;
    # tau = 5/6 < 0.9 -> stock 0; with h = 0.1: tau = 5/5.1 = 0.980 -> stock (0.980 − 0.9)/0.1 · 6
    row = _row(mean=0.3, q10=0.0, q50=0.0, q90=0.0)
    assert evaluate_rows(row)["stock_units"].item() == pytest.approx(0.0)
    tau = 5 / 5.1
    assert evaluate_rows(row.with_columns(holding_cost=pl.lit(0.1)))["stock_units"].item() == pytest.approx(
        (tau - 0.9) / 0.1 * 6
    )


def test_negative_demand_is_clipped_to_zero() -> None:
    # returns (units -3) -> demand 0: sales 0, leftover = stock 17/3, profit = -1 * 17/3
    out = evaluate_business(_row(units=-3.0)).row(0, named=True)
    assert out["revenue"] == 0.0
    assert out["overstock_units"] == pytest.approx(17 / 3)
    assert out["profit"] == pytest.approx(-17 / 3)


def test_mean_only_forecast_uses_poisson_quantile() -> None:
    frame = _row(mean=3.0).drop("q10", "q50", "q90")
    # Poisson(3): P(N <= 4) = 0.815 < 5/6 <= P(N <= 5) = 0.916 -> stock 5
    expected = stats.poisson.ppf(5 / 6, 3.0)
    assert expected == 5.0
    assert evaluate_rows(frame)["stock_units"].item() == pytest.approx(5.0)
    assert poisson_quantile(np.array([0.0, 2.0]), np.array([0.9, 0.0])).tolist() == [0.0, 0.0]
