"""Rolling-horizon replay of replenishment policies on the synthetic retailer, judged against TRUE demand.

Setting (all policies alike): the articles on sale in the stores at the replay's start (cold-start launches
during the replay are left out). Each article's season ends in the last week the simulator gives it demand
(the catalogue's planned end of sale); its planned weekly price comes from the panel (markdowns included).
Costs: the catalogue's unit cost c, holding h = ``holding_ratio`` (1%) × price per unit left in a store at
a week's end, salvage v = ``salvage_ratio`` × c for every unit left at the season's end (or the
replay's end), ship cost 0. Stores receive shipments ``store_lead`` weeks after they leave the DC and hold at
most their ``capacity_units``; suppliers deliver 2-4 weeks after the order (per article) in cases of two
packs.
The DC starts with ``dc_weeks`` weeks of the chain's true mean demand (whole packs) and the stores with
their recorded stock.

Each week: every model forecast is refitted on the history up to the week before (`history_at`, no later
data) and forecasts `horizon` weeks; each policy decides this week's shipments and orders from that forecast
and the state it has reached; DC arrivals land, store arrivals land, the week's true demand is met (sales =
min(demand, stock), the rest is lost), leftovers carry to the next week.

Policies: ``plan`` (`forecast.replenish.replenish`, its first week executed); ``base_stock`` (order-up-to
the forecast quantile at τ = (p − c) / (p − c + h) of demand over lead time + review period, stores from
the DC, rationed by need when the DC runs short, DC orders by the echelon position); ``s_S`` (the same
reorder point s, orders only when the position falls below s, up to S = s + one week's mean demand);
``proportional`` and ``cover`` (the allocation rules of `forecast.allocation.rules` for store shipments,
the base-stock echelon rule for orders).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import polars as pl

from forecast.config import PipelineConfig, ReplenishmentConfig, SimulateConfig
from forecast.contracts import SERIES, quantile_columns
from forecast.dataset import Dataset
from forecast.replenish.policies import PLANS, POLICIES, PolicyInput, decide

STORE_LEAD = 1
Progress = Callable[[str], None]


@dataclass
class ReplayConfig:
    weeks: int = 12
    horizon: int = 8
    articles: int = 160
    stores: int = 10
    history_weeks: int = 70
    seed: int = 3
    model: str = "window_average"
    dc_weeks: float = 3.0
    salvage_ratio: float = 0.3
    holding_ratio: float = 0.01  # per unit left in a store at a week's end, share of the week's price
    policies: tuple[str, ...] = POLICIES
    plan_config: ReplenishmentConfig = field(default_factory=lambda: ReplenishmentConfig(time_limit_s=20.0))
    service_config: ReplenishmentConfig = field(
        default_factory=lambda: ReplenishmentConfig(time_limit_s=20.0, carry_share=0.25, shortage_ratio=2.5)
    )


@dataclass
class ReplayResult:
    summary: pl.DataFrame  # one row per policy
    weekly: pl.DataFrame  # one row per policy × week


@dataclass
class _World:
    """The facts every policy shares: ids, true demand, prices, costs, seasons, leads."""

    weeks: list[date]
    article_ids: np.ndarray
    store_ids: np.ndarray
    demand: np.ndarray  # (stores, articles, weeks) true demand
    price: np.ndarray  # (articles, weeks)
    unit_cost: np.ndarray
    holding: np.ndarray  # (articles, weeks)
    salvage: np.ndarray
    season_last: np.ndarray  # last selling week index (may exceed the replay)
    pack: np.ndarray
    case: np.ndarray
    supplier_lead: np.ndarray
    capacity: np.ndarray
    on_hand: np.ndarray  # (stores, articles) at the start
    dc_start: np.ndarray


@dataclass
class _State:
    store: np.ndarray  # (stores, articles)
    store_pipe: np.ndarray  # (stores, articles, weeks + pad) arrivals
    dc: np.ndarray
    dc_pipe: np.ndarray  # (articles, weeks + pad)
    money: dict[str, float] = field(default_factory=dict)


def replay(cfg: ReplayConfig, progress: Progress | None = None) -> ReplayResult:
    """Replay `cfg.weeks` weeks for every policy; see the module docstring."""
    from forecast.panel import build_panel
    from forecast.simulate import simulate_dataset

    say = progress or (lambda _line: None)
    sim = SimulateConfig(articles=cfg.articles, stores=cfg.stores, weeks=cfg.history_weeks, seed=cfg.seed)
    ds = simulate_dataset(sim)
    panel = build_panel(ds).collect()
    pipeline = PipelineConfig(name="replay")
    world = _world(ds, panel, cfg)
    states = {p: _start(world, cfg) for p in cfg.policies}
    weekly = []
    all_weeks = sorted(panel["week"].unique().to_list())
    for w, week in enumerate(world.weeks):
        origin = all_weeks[all_weeks.index(week) - 1]
        say(f"week {week}: forecasting from {origin}")
        forecast = _forecast(panel, origin, world, cfg, pipeline)
        for policy in cfg.policies:
            state = states[policy]
            _land(state, w)
            inputs = PolicyInput(
                world=world,
                week=w,
                store=state.store,
                store_pipe=state.store_pipe,
                dc=state.dc,
                dc_pipe=state.dc_pipe,
                forecast=forecast,
                config=cfg.plan_config,
                service_config=cfg.service_config,
            )
            shipments, orders = decide(policy, inputs)
            weekly.append({"policy": policy, "week": week, **_execute(world, state, w, shipments, orders)})
    for policy, state in states.items():
        weekly.append({"policy": policy, "week": None, **_close(world, state)})
    return _results(pl.DataFrame(weekly))


def _world(ds: Dataset, panel: pl.DataFrame, cfg: ReplayConfig) -> _World:
    assert ds.true_demand is not None
    assert ds.stock is not None
    all_weeks = sorted(panel["week"].unique().to_list())
    weeks = all_weeks[-cfg.weeks :]
    origin = all_weeks[-cfg.weeks - 1]
    sold = panel.filter((pl.col("week") <= origin) & (pl.col("week") > origin - timedelta(weeks=4)))
    active = sold.filter(pl.col("units") > 0).select("article_id").unique()
    alive = ds.true_demand.group_by("article_id").agg(pl.col("week").max()).filter(pl.col("week") >= weeks[0])
    active = active.join(alive, on="article_id", how="semi").sort("article_id")
    td = ds.true_demand.join(active, on="article_id", how="semi")
    article_ids = active["article_id"].to_numpy()
    store_ids = np.array(sorted(ds.stores["store_id"].to_list()))
    a_idx = {a: i for i, a in enumerate(article_ids)}
    s_idx = {s: i for i, s in enumerate(store_ids)}
    w_idx = {w: i for i, w in enumerate(weeks)}
    demand = np.zeros((store_ids.size, article_ids.size, len(weeks)))
    rows = td.filter(pl.col("week").is_in(weeks))
    np.add.at(
        demand,
        (
            rows["store_id"].replace_strict(s_idx).to_numpy(),
            rows["article_id"].replace_strict(a_idx).to_numpy(),
            rows["week"].replace_strict(w_idx).to_numpy(),
        ),
        rows["demand"].to_numpy(),
    )
    last = td.group_by("article_id").agg(pl.col("week").max())
    last_week = last.join(active, on="article_id", how="right").sort("article_id")["week"]
    season_last = np.array([(d - weeks[0]).days // 7 if d < all_weeks[-1] else 10_000 for d in last_week])
    price = _prices(panel, ds.articles, article_ids, weeks)
    catalogue = ds.articles
    unit_cost = (
        catalogue.join(active, on="article_id", how="right").sort("article_id")["unit_cost"].to_numpy()
    )
    rng = np.random.default_rng(cfg.seed)
    packs = ds.dc_stock.select("article_id", "pack_size") if ds.dc_stock is not None else None
    pack = np.ones(article_ids.size)
    if packs is not None:
        pack = active.join(packs, on="article_id", how="left")["pack_size"].fill_null(1.0).to_numpy()
    stock = ds.stock.filter(pl.col("week") == origin).join(active, on="article_id", how="semi")
    on_hand = np.zeros((store_ids.size, article_ids.size))
    np.add.at(
        on_hand,
        (
            stock["store_id"].replace_strict(s_idx).to_numpy(),
            stock["article_id"].replace_strict(a_idx).to_numpy(),
        ),
        stock["on_hand"].to_numpy(),
    )
    weekly_mean = demand[:, :, : min(4, len(weeks))].sum(axis=0).mean(axis=1)
    dc_start = np.floor(cfg.dc_weeks * weekly_mean / pack) * pack
    capacity = ds.stores.sort("store_id")["capacity_units"]
    capacity = np.maximum(capacity.to_numpy(), on_hand.sum(axis=1))
    return _World(
        weeks=weeks,
        article_ids=article_ids,
        store_ids=store_ids,
        demand=demand,
        price=price,
        unit_cost=unit_cost.astype(float),
        holding=cfg.holding_ratio * price,
        salvage=cfg.salvage_ratio * unit_cost.astype(float),
        season_last=season_last,
        pack=pack,
        case=2 * pack,
        supplier_lead=rng.integers(2, 5, article_ids.size),
        capacity=capacity.astype(float),
        on_hand=on_hand,
        dc_start=dc_start,
    )


def _prices(panel: pl.DataFrame, articles: pl.DataFrame, ids: np.ndarray, weeks: list[date]) -> np.ndarray:
    """Planned price per article × week: the panel's mean price, carried forward, else the list price."""
    grid = pl.DataFrame({"article_id": ids}).join(pl.DataFrame({"week": weeks}), how="cross")
    mean = (
        panel.filter(pl.col("price").is_not_null()).group_by("article_id", "week").agg(pl.col("price").mean())
    )
    lists = articles.select("article_id", "list_price")
    full = (
        grid.join(mean, on=["article_id", "week"], how="left")
        .sort("article_id", "week")
        .with_columns(pl.col("price").forward_fill().backward_fill().over("article_id"))
        .join(lists, on="article_id", how="left")
        .with_columns(pl.coalesce("price", "list_price").alias("price"))
    )
    return full["price"].to_numpy().reshape(ids.size, len(weeks))


def _start(world: _World, cfg: ReplayConfig) -> _State:
    pad = len(world.weeks) + 10
    n_s, n_a = world.on_hand.shape
    money = dict.fromkeys(
        (
            "revenue",
            "sales_units",
            "demand_units",
            "lost_sales_units",
            "holding_cost",
            "purchase_cost",
            "ship_cost",
            "leftover_units",
            "leftover_value",
            "shipped_units",
            "ordered_units",
        ),
        0.0,
    )
    del cfg
    return _State(
        world.on_hand.copy(), np.zeros((n_s, n_a, pad)), world.dc_start.copy(), np.zeros((n_a, pad)), money
    )


def _forecast(
    panel: pl.DataFrame, origin: date, world: _World, cfg: ReplayConfig, pipeline: PipelineConfig
) -> pl.DataFrame:
    """Forecast rows for the horizon from `origin` (zero after the season's end), with the planned price."""
    from forecast.backtest import history_at
    from forecast.models.baselines import StatsForecastModel

    hist, _ = history_at(panel, origin, pipeline.forecast.active_weeks)
    active = pl.DataFrame({"article_id": world.article_ids}).join(
        pl.DataFrame({"store_id": world.store_ids}), how="cross"
    )
    model = StatsForecastModel(cfg.model, quantiles=pipeline.forecast.quantiles)
    fc = model.fit(hist.join(active, on=SERIES, how="semi"), origin).predict(cfg.horizon, active)
    qcols = list(quantile_columns(fc.columns))
    grid = active.join(pl.DataFrame({"horizon": list(range(1, cfg.horizon + 1))}), how="cross")
    fc = grid.join(fc.select(*SERIES, "horizon", "mean", *qcols), on=[*SERIES, "horizon"], how="left")
    return fc.with_columns(
        pl.col("mean", *qcols).fill_null(0.0).clip(lower_bound=0.0),
        (pl.lit(origin) + pl.duration(weeks=pl.col("horizon"))).alias("week"),
    )


def _execute(
    world: _World, state: _State, w: int, shipments: np.ndarray, orders: np.ndarray
) -> dict[str, float]:
    """Send shipments and orders, land this week's arrivals, meet the true demand, carry the rest."""
    money = state.money
    cap_left = world.capacity - state.store.sum(axis=1) - state.store_pipe.sum(axis=(1, 2))
    shipments = _fit_rooms(shipments, cap_left)
    sent = shipments.sum(axis=0)
    if (sent > state.dc + 1e-9).any():  # a policy may not send what the DC does not hold
        share = np.where(sent > state.dc, state.dc / np.maximum(sent, 1e-9), 1.0)
        shipments = np.floor(shipments * share[None, :])
    state.dc -= shipments.sum(axis=0)
    state.store_pipe[:, :, w + STORE_LEAD] += shipments
    state.dc_pipe[np.arange(orders.size), w + world.supplier_lead] += orders
    demand = world.demand[:, :, w]
    sales = np.minimum(demand, state.store)
    state.store -= sales
    revenue = float((sales * world.price[None, :, w]).sum())
    holding = float((state.store * world.holding[None, :, w]).sum())
    purchase = float((orders * world.unit_cost).sum())
    ended = world.season_last == w
    left = float(state.store[:, ended].sum() + state.dc[ended].sum())
    left_value = float(((state.store[:, ended].sum(axis=0) + state.dc[ended]) * world.salvage[ended]).sum())
    state.store[:, ended] = 0
    state.dc[ended] = 0
    out = {
        "revenue": revenue,
        "sales_units": float(sales.sum()),
        "demand_units": float(demand.sum()),
        "lost_sales_units": float((demand - sales).sum()),
        "holding_cost": holding,
        "purchase_cost": purchase,
        "ship_cost": 0.0,
        "leftover_units": left,
        "leftover_value": left_value,
        "shipped_units": float(shipments.sum()),
        "ordered_units": float(orders.sum()),
    }
    for k, v in out.items():
        money[k] += v
    return out


def _land(state: _State, w: int) -> None:
    """Deliveries due this week reach the stores and the DC before anything is decided."""
    state.store += state.store_pipe[:, :, w]
    state.store_pipe[:, :, w] = 0
    state.dc += state.dc_pipe[:, w]
    state.dc_pipe[:, w] = 0


def _fit_rooms(shipments: np.ndarray, room: np.ndarray) -> np.ndarray:
    """Scale a store's shipments down (whole units) when they exceed its free room."""
    want = shipments.sum(axis=1)
    factor = np.where(want > np.maximum(room, 0), np.maximum(room, 0) / np.maximum(want, 1), 1.0)
    return np.floor(shipments * factor[:, None])


def _close(world: _World, state: _State) -> dict[str, float]:
    """What is left at the replay's end (stores, DC, in transit) is valued at salvage."""
    units = state.store.sum(axis=0) + state.dc + state.store_pipe.sum(axis=(0, 2)) + state.dc_pipe.sum(axis=1)
    out = dict.fromkeys(state.money, 0.0)
    out["leftover_units"] = float(units.sum())
    out["leftover_value"] = float((units * world.salvage).sum())
    return out


def _results(weekly: pl.DataFrame) -> ReplayResult:
    sums = [c for c in weekly.columns if c not in ("policy", "week")]
    summary = weekly.group_by("policy", maintain_order=True).agg(pl.col(sums).sum())
    summary = summary.with_columns(
        (
            pl.col("revenue")
            + pl.col("leftover_value")
            - pl.col("purchase_cost")
            - pl.col("holding_cost")
            - pl.col("ship_cost")
        ).alias("profit"),
        (pl.col("sales_units") / pl.col("demand_units")).alias("fill_rate"),
    )
    others = summary.filter(~pl.col("policy").is_in(PLANS))
    best = float(others["profit"].max()) if others.height else float("nan")  # type: ignore[arg-type]
    summary = summary.with_columns((pl.col("profit") / best - 1.0).alias("vs_best_policy"))
    return ReplayResult(summary=summary, weekly=weekly.filter(pl.col("week").is_not_null()))
