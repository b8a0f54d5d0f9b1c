"""Replenishment policies of the replay: this week's shipments (stores × articles) and orders (articles).

``plan`` is the optimiser (``plan_service``: the same with a goodwill cost of 2.5 × price per expected
lost sale and carry share 0.25, for a higher fill rate); ``base_stock`` and ``s_S`` are order-up-to
policies at the newsvendor fractile over lead time + review period; ``proportional`` and ``cover`` ship
by the allocation rules and order like base-stock. `ReplenishPolicy` plugs each into the replay core
(`forecast.replay.core`); see `forecast.replenish.replay`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from forecast.config import AllocationConfig, ReplenishmentConfig
from forecast.replay.core import SEASON_OPEN, Decision, Market, WeekView

POLICIES = ("plan", "plan_service", "base_stock", "s_S", "proportional", "cover")
PLANS = ("plan", "plan_service")
REVIEW_WEEKS = 1


@dataclass
class PolicyInput:
    world: Market
    week: int
    store: np.ndarray
    store_pipe: np.ndarray
    dc: np.ndarray
    dc_pipe: np.ndarray
    forecast: pl.DataFrame  # article_id, store_id, horizon, week, mean, qNN (horizon 1 = this week)
    config: ReplenishmentConfig  # the plan's; ``plan_service`` uses `service_config`
    service_config: ReplenishmentConfig | None = None


@dataclass
class ReplenishPolicy:
    """One replenishment policy of `POLICIES` as a replay-core policy (`forecast.replay.core.Policy`)."""

    name: str
    config: ReplenishmentConfig
    service_config: ReplenishmentConfig | None = None

    def decide(self, view: WeekView) -> Decision:
        state = view.state
        inputs = PolicyInput(
            world=view.market,
            week=view.week,
            store=state.store,
            store_pipe=state.store_pipe,
            dc=state.dc,
            dc_pipe=state.dc_pipe,
            forecast=view.forecast,
            config=self.config,
            service_config=self.service_config,
        )
        shipments, orders = decide(self.name, inputs)
        return Decision(shipments, orders)


def decide(policy: str, inp: PolicyInput) -> tuple[np.ndarray, np.ndarray]:
    """(shipments, orders) in units for this week."""
    if policy in PLANS:
        config = inp.service_config if policy == "plan_service" and inp.service_config else inp.config
        return _plan(inp, config)
    levels = _levels(inp)
    if policy == "base_stock":
        return _ship_up_to(inp, levels, reorder=False), _order_up_to(inp, levels, reorder=False)
    if policy == "s_S":
        return _ship_up_to(inp, levels, reorder=True), _order_up_to(inp, levels, reorder=True)
    if policy in ("proportional", "cover"):
        return _rule(inp, policy), _order_up_to(inp, levels, reorder=False)
    msg = f"policy must be one of {POLICIES}, got {policy!r}"
    raise ValueError(msg)


def _cube(inp: PolicyInput, values: np.ndarray) -> np.ndarray:
    """Forecast rows (sorted by article, store, horizon) as an array (stores, articles, horizon)."""
    n_s, n_a = inp.store.shape
    return values.reshape(n_a, n_s, -1).transpose(1, 0, 2)


@dataclass
class _Levels:
    quantile: np.ndarray  # (stores, articles, horizon) demand quantile at the fractile
    mean: np.ndarray


def _levels(inp: PolicyInput) -> _Levels:
    from forecast.business import stock_levels

    world, w = inp.world, inp.week
    fc = inp.forecast.sort("article_id", "store_id", "horizon")
    a_idx = {a: i for i, a in enumerate(world.article_ids)}
    art = fc["article_id"].replace_strict(a_idx, return_dtype=pl.Int64).to_numpy()
    p = world.price[art, min(w, world.price.shape[1] - 1)]
    c, h = world.unit_cost[art], world.holding[art, min(w, world.price.shape[1] - 1)]
    tau = np.clip((p - c) / np.maximum(p - c + h, 1e-9), 0.0, 1.0)
    q = stock_levels(fc.with_columns(tau=pl.Series(tau))).to_numpy()
    last = world.season_last[art]
    alive = (w + fc["horizon"].to_numpy() - 1) <= last
    return _Levels(
        _cube(inp, np.where(alive, q, 0.0)), _cube(inp, np.where(alive, fc["mean"].to_numpy(), 0.0))
    )


def _position(inp: PolicyInput) -> np.ndarray:
    return inp.store + inp.store_pipe[:, :, inp.week :].sum(axis=2)


def _ship_up_to(inp: PolicyInput, lv: _Levels, *, reorder: bool) -> np.ndarray:
    lead = 1
    target = lv.quantile[:, :, : lead + REVIEW_WEEKS].sum(axis=2)
    position = _position(inp)
    if reorder:
        top = target + lv.mean[:, :, lead + REVIEW_WEEKS : lead + 2 * REVIEW_WEEKS].sum(axis=2)
        need = np.where(position < target, top - position, 0.0)
    else:
        need = np.maximum(target - position, 0.0)
    pack = inp.world.pack[None, :]
    need = np.ceil(np.maximum(need, 0.0) / pack - 1e-9) * pack
    return _ration(need, inp.dc, inp.world.pack)


def _ration(need: np.ndarray, dc: np.ndarray, pack: np.ndarray) -> np.ndarray:
    """Cut each article's store needs pro rata (whole packs) when the DC holds less than their sum."""
    total = need.sum(axis=0)
    share = np.where(total > dc, dc / np.maximum(total, 1e-9), 1.0)
    return np.floor(need * share[None, :] / pack[None, :] + 1e-9) * pack[None, :]


def _order_up_to(inp: PolicyInput, lv: _Levels, *, reorder: bool) -> np.ndarray:
    world = inp.world
    lead = world.supplier_lead
    horizon = lv.quantile.shape[2]
    span = np.minimum(lead + 1 + REVIEW_WEEKS, horizon)
    cum_q = np.cumsum(lv.quantile.sum(axis=0), axis=1)  # (articles, horizon)
    cum_m = np.cumsum(lv.mean.sum(axis=0), axis=1)
    idx = np.arange(world.article_ids.size)
    target = cum_q[idx, span - 1]
    position = inp.dc + inp.dc_pipe[:, inp.week :].sum(axis=1) + _position(inp).sum(axis=0)
    if reorder:
        extra = cum_m[idx, np.minimum(span, horizon - 1)] - cum_m[idx, span - 1]
        need = np.where(position < target, target + extra - position, 0.0)
    else:
        need = np.maximum(target - position, 0.0)
    case = world.case
    return np.ceil(np.maximum(need, 0.0) / case - 1e-9) * case


def _rule(inp: PolicyInput, policy: str) -> np.ndarray:
    from forecast.allocation.inputs import build_problem
    from forecast.allocation.rules import cover_packs, proportional_packs

    world, w = inp.world, inp.week
    lead = 1
    week = inp.forecast.filter(pl.col("horizon") == lead + 1).drop("horizon")
    alive = (
        world.season_last[
            week["article_id"]
            .replace_strict({a: i for i, a in enumerate(world.article_ids)}, return_dtype=pl.Int64)
            .to_numpy()
        ]
        >= w + lead
    )
    week = week.with_columns(pl.when(pl.Series(alive)).then(pl.col("mean")).otherwise(0.0).alias("mean"))
    position = _position(inp)
    dc = pl.DataFrame(
        {
            "article_id": world.article_ids,
            "available_units": inp.dc,
            "pack_size": world.pack,
            "unit_cost": world.unit_cost,
            "price": world.price[:, min(w + lead, world.price.shape[1] - 1)],
        }
    )
    stores = pl.DataFrame(
        {"store_id": world.store_ids, "capacity_units": np.maximum(world.capacity, position.sum(axis=1))}
    )
    s, a = np.nonzero(position > 0)
    stock = pl.DataFrame(
        {"store_id": world.store_ids[s], "article_id": world.article_ids[a], "on_hand": position[s, a]}
    )
    problem = build_problem(week, dc, stores, stock, AllocationConfig())
    packs = proportional_packs(problem) if policy == "proportional" else cover_packs(problem, 2.0)
    out = np.zeros_like(inp.store)
    s_idx = {x: i for i, x in enumerate(world.store_ids)}
    a_idx = {x: i for i, x in enumerate(world.article_ids)}
    rows_s = np.array([s_idx[x] for x in problem.store_ids[problem.pair_store]])
    rows_a = np.array([a_idx[x] for x in problem.article_ids[problem.pair_article]])
    out[rows_s, rows_a] = packs * problem.pack_size[problem.pair_article]
    return out


def _plan(inp: PolicyInput, config: ReplenishmentConfig) -> tuple[np.ndarray, np.ndarray]:
    from forecast.replenish.solve import replenish

    world, w = inp.world, inp.week
    first = world.weeks[0]
    on = lambda k: first + timedelta(weeks=int(k))  # noqa: E731
    n_weeks = world.price.shape[1]
    fc = inp.forecast
    a_idx = {a: i for i, a in enumerate(world.article_ids)}
    art = fc["article_id"].replace_strict(a_idx, return_dtype=pl.Int64).to_numpy()
    t = np.minimum(w + fc["horizon"].to_numpy() - 1, n_weeks - 1)
    fc = fc.with_columns(price=pl.Series(world.price[art, t])).drop("horizon")
    now = min(w, n_weeks - 1)
    ends = [on(k) if k < SEASON_OPEN else None for k in world.season_last]
    dc = pl.DataFrame(
        {
            "article_id": world.article_ids,
            "available_units": inp.dc,
            "pack_size": world.pack,
            "unit_cost": world.unit_cost,
            "price": world.price[:, now],
            "holding_cost": world.holding[:, now],
            "salvage_value": world.salvage,
            "season_end": pl.Series(ends, dtype=pl.Date),
        }
    )
    stores = pl.DataFrame({"store_id": world.store_ids, "capacity_units": world.capacity, "lead_weeks": 1})
    s, a = np.nonzero(inp.store > 0)
    stock = pl.DataFrame(
        {"store_id": world.store_ids[s], "article_id": world.article_ids[a], "on_hand": inp.store[s, a]}
    )
    transit = _transit(inp, on)
    suppliers = pl.DataFrame(
        {
            "article_id": world.article_ids,
            "supplier_id": "V",
            "lead_weeks": world.supplier_lead,
            "moq_units": 0,
            "case_pack": world.case,
        }
    )
    result = replenish(fc, dc, stores, stock, config, in_transit=transit, suppliers=suppliers)
    week = on(w)
    ships = np.zeros_like(inp.store)
    sent = result.shipments.filter(pl.col("ship_week") == week)
    s_idx = {x: i for i, x in enumerate(world.store_ids)}
    ships[
        sent["store_id"].replace_strict(s_idx, return_dtype=pl.Int64).to_numpy(),
        sent["article_id"].replace_strict(a_idx, return_dtype=pl.Int64).to_numpy(),
    ] = sent["units"].to_numpy()
    orders = np.zeros(world.article_ids.size)
    placed = result.orders.filter(pl.col("order_week") == week)
    orders[placed["article_id"].replace_strict(a_idx, return_dtype=pl.Int64).to_numpy()] = placed[
        "units"
    ].to_numpy()
    return ships, orders


def _transit(inp: PolicyInput, on: Any) -> pl.DataFrame:
    world, w = inp.world, inp.week
    s, a, k = np.nonzero(inp.store_pipe[:, :, w + 1 :])
    a2, k2 = np.nonzero(inp.dc_pipe[:, w + 1 :])
    stores = np.r_[world.store_ids[s], np.full(a2.size, "DC")]
    arts = np.r_[world.article_ids[a], world.article_ids[a2]]
    weeks = [on(w + 1 + x) for x in np.r_[k, k2]]
    units = np.r_[inp.store_pipe[s, a, w + 1 + k], inp.dc_pipe[a2, w + 1 + k2]]
    return pl.DataFrame(
        {
            "article_id": arts,
            "store_id": stores,
            "arrive_week": pl.Series(weeks, dtype=pl.Date),
            "units": units,
        }
    )
