"""The replay core on a hand-sized market: arrivals, store room and DC limits, the ledger, prices that move
demand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from forecast.replay.core import (
    SEASON_OPEN,
    Decision,
    Market,
    StockState,
    WeekView,
    run_policies,
    settle_week,
    summarise_ledger,
)

WEEKS = [date(2024, 1, 1) + timedelta(weeks=k) for k in range(3)]


def market(**changes: object) -> Market:
    """Two stores, one article selling at 10 (cost 4, holding 0.5, salvage 1), 3 units demanded per store
    and week, 2 units in each store and 10 at the DC at the start."""
    values: dict[str, object] = {
        "weeks": WEEKS,
        "article_ids": np.array(["a"]),
        "store_ids": np.array(["s1", "s2"]),
        "demand": np.full((2, 1, 3), 3.0),
        "price": np.full((1, 3), 10.0),
        "unit_cost": np.array([4.0]),
        "holding": np.full((1, 3), 0.5),
        "salvage": np.array([1.0]),
        "season_last": np.array([SEASON_OPEN]),
        "pack": np.array([1.0]),
        "case": np.array([1.0]),
        "supplier_lead": np.array([2]),
        "capacity": np.array([100.0, 4.0]),
        "on_hand": np.array([[2.0], [2.0]]),
        "dc_start": np.array([10.0]),
    }
    values.update(changes)
    return Market(**values)  # type: ignore[arg-type]


def test_a_week_sells_what_is_on_hand_and_ships_for_next_week() -> None:
    m = market()
    state = StockState.start(m)
    state.land(0)
    ledger = settle_week(m, state, 0, Decision(np.array([[6.0], [6.0]]), np.array([5.0])))
    # store 2 has room for 4 - 2 = 2 units only; both stores sell their 2 units on hand (demand 3 each)
    assert ledger["shipped_units"] == 8.0
    assert (ledger["sales_units"], ledger["lost_sales_units"], ledger["revenue"]) == (4.0, 2.0, 40.0)
    assert ledger["purchase_cost"] == 20.0  # 5 units ordered at 4
    assert ledger["holding_cost"] == 0.0  # the stores are empty at the week's end
    assert state.dc.tolist() == [2.0]
    state.land(1)
    assert state.store[:, 0].tolist() == [6.0, 2.0]
    state.land(2)
    assert state.dc.tolist() == [7.0]  # the order lands after the supplier's two weeks


def test_shipments_are_cut_to_the_dc_stock() -> None:
    m = market(dc_start=np.array([3.0]))
    state = StockState.start(m)
    ledger = settle_week(m, state, 0, Decision(np.array([[4.0], [2.0]]), np.array([0.0])))
    assert ledger["shipped_units"] <= 3.0
    assert state.dc.tolist() == [3.0 - ledger["shipped_units"]]


def test_a_season_end_salvages_what_is_left() -> None:
    m = market(season_last=np.array([0]), demand=np.full((2, 1, 3), 1.0))
    state = StockState.start(m)
    ledger = settle_week(m, state, 0, Decision(np.zeros((2, 1)), np.zeros(1)))
    # 1 unit left in each store and 10 at the DC, salvaged at 1 each
    assert (ledger["leftover_units"], ledger["leftover_value"]) == (12.0, 12.0)
    assert state.store.sum() == 0
    assert state.dc.sum() == 0


@dataclass
class Hold:
    """Ships nothing and orders nothing; charges `price` when given."""

    name: str
    price: float | None = None

    def decide(self, view: WeekView) -> Decision:
        n_s, n_a = view.state.store.shape
        price = None if self.price is None else np.full(n_a, self.price)
        return Decision(np.zeros((n_s, n_a)), np.zeros(n_a), price)


@dataclass
class HalfPriceDoublesDemand:
    base: np.ndarray

    def __call__(self, week: int, price: np.ndarray) -> np.ndarray:
        return self.base[:, :, week] * np.where(price < 10.0, 2.0, 1.0)[None, :]


def test_policies_plug_in_and_a_price_moves_the_demand_source() -> None:
    m = market(demand=np.full((2, 1, 3), 1.0))
    m.true_demand = HalfPriceDoublesDemand(m.demand)
    ledger = run_policies(m, [Hold("full"), Hold("half", 5.0)], lambda _w: pl.DataFrame())
    assert ledger.height == 2 * 3 + 2  # a row per policy and week, then a closing row each
    summary = summarise_ledger(ledger).sort("policy")
    full, half = summary.row(0, named=True), summary.row(1, named=True)
    # full price: 1 unit per store and week of 2 on hand -> 4 sold over 3 weeks, 2 lost
    assert (full["sales_units"], full["revenue"], full["demand_units"]) == (4.0, 40.0, 6.0)
    # half price doubles demand: 2 per store in week 1 sells everything on hand
    assert (half["sales_units"], half["revenue"], half["demand_units"]) == (4.0, 20.0, 12.0)
    # closing: the DC's 10 units at salvage 1; profit = revenue + salvage - purchases - holding - shipping
    holding = 0.5 * 2  # one unit left in each store after week 1 at full price
    assert full["profit"] == pytest.approx(40.0 + 10.0 - holding)
    assert half["profit"] == pytest.approx(20.0 + 10.0)
    assert full["fill_rate"] == pytest.approx(4 / 6)
