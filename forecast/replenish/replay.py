"""Rolling-horizon replay of replenishment policies on the synthetic retailer, judged against TRUE demand.

Setting (all policies alike): the articles on sale in the stores at the replay's start (cold-start launches
during the replay are left out). Each article's season ends in the last week the simulator gives it demand
(the catalogue's planned end of sale); its planned weekly price comes from the panel (markdowns included).
Costs (`forecast.costs.weekly_costs` with ``ReplayConfig.business``): the catalogue's unit cost c, holding
h = 1% of the week's price per unit left in a store at a week's end, salvage v = 0.3 × c for every unit left
at the season's end (or the replay's end), ship cost 0. Stores receive shipments ``store_lead`` weeks after
they leave the DC and hold at most their ``capacity_units``; suppliers deliver 2-4 weeks after the order (per
article) in cases of two packs.
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

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import polars as pl

from forecast.config import BusinessConfig, PipelineConfig, ReplenishmentConfig, SimulateConfig
from forecast.contracts import SERIES, quantile_columns
from forecast.costs import weekly_costs
from forecast.dataset import Dataset
from forecast.replay.core import (
    SEASON_OPEN,
    Market,
    Progress,
    RecordedDemand,
    ReplayResult,
    replay_weeks,
    run_policies,
    summarise_ledger,
)
from forecast.replenish.policies import PLANS, POLICIES, ReplenishPolicy


@dataclass
class ReplayConfig:
    """The replenishment replay's retailer (simulated), forecast and policies."""

    weeks: int = 12
    horizon: int = 8
    articles: int = 160
    stores: int = 10
    history_weeks: int = 70
    seed: int = 3
    model: str = "window_average"
    dc_weeks: float = 3.0
    # money per unit (`forecast.costs`): holding is charged on every unit left in a store at each week's end,
    # so its ratio is a week's share of the price, not a season's
    business: BusinessConfig = field(
        default_factory=lambda: BusinessConfig(holding_cost_ratio=0.01, salvage_ratio=0.3)
    )
    policies: tuple[str, ...] = POLICIES
    plan_config: ReplenishmentConfig = field(default_factory=lambda: ReplenishmentConfig(time_limit_s=20.0))
    service_config: ReplenishmentConfig = field(
        default_factory=lambda: ReplenishmentConfig(time_limit_s=20.0, carry_share=0.25, shortage_ratio=2.5)
    )


def replay(cfg: ReplayConfig, progress: Progress | None = None) -> ReplayResult:
    """Replay `cfg.weeks` weeks for every policy (module docstring).

    Returns the replay core's result: ``summary`` one row per policy (ledger sums, ``profit``, ``fill_rate``
    and ``vs_best_policy``, the profit against the best policy that is not a plan), ``weekly`` one row per
    policy × week.
    """
    from forecast.panel import build_panel
    from forecast.simulate import simulate_dataset

    say = progress or (lambda _line: None)
    sim = SimulateConfig(articles=cfg.articles, stores=cfg.stores, weeks=cfg.history_weeks, seed=cfg.seed)
    ds = simulate_dataset(sim)
    panel = build_panel(ds).collect()
    pipeline = PipelineConfig(name="replay")
    market = _market(ds, panel, cfg)
    origins = [origin for origin, _target in replay_weeks(panel, cfg.weeks)]

    def forecast_at(w: int) -> pl.DataFrame:
        say(f"week {market.weeks[w]}: forecasting from {origins[w]}")
        return _forecast(panel, origins[w], market, cfg, pipeline)

    policies = [ReplenishPolicy(name, cfg.plan_config, cfg.service_config) for name in cfg.policies]
    ledger = run_policies(market, policies, forecast_at)
    summary = summarise_ledger(ledger)
    others = summary.filter(~pl.col("policy").is_in(PLANS))
    best = float(others["profit"].max()) if others.height else float("nan")  # type: ignore[arg-type]
    summary = summary.with_columns((pl.col("profit") / best - 1.0).alias("vs_best_policy"))
    return ReplayResult(weekly=ledger.filter(pl.col("week").is_not_null()), summary=summary)


def _active(ds: Dataset, panel: pl.DataFrame, weeks: list[date], origin: date) -> pl.DataFrame:
    """The articles sold in the four weeks up to `origin` whose season reaches the replay, sorted."""
    assert ds.true_demand is not None
    sold = panel.filter((pl.col("week") <= origin) & (pl.col("week") > origin - timedelta(weeks=4)))
    active = sold.filter(pl.col("units") > 0).select("article_id").unique()
    alive = ds.true_demand.group_by("article_id").agg(pl.col("week").max()).filter(pl.col("week") >= weeks[0])
    return active.join(alive, on="article_id", how="semi").sort("article_id")


def _cube(rows: pl.DataFrame, shape: tuple[int, ...], index: dict[str, dict], value: str) -> np.ndarray:
    """`value` of `rows` summed into an array of `shape`, each axis indexed by the column in `index`."""
    out = np.zeros(shape)
    axes = tuple(rows[col].replace_strict(idx).to_numpy() for col, idx in index.items())
    np.add.at(out, axes, rows[value].to_numpy())
    return out


def _market(ds: Dataset, panel: pl.DataFrame, cfg: ReplayConfig) -> Market:
    """The replay's facts (module docstring): true demand, prices and costs, seasons, packs, stock."""
    assert ds.true_demand is not None
    assert ds.stock is not None
    all_weeks = sorted(panel["week"].unique().to_list())
    weeks = all_weeks[-cfg.weeks :]
    origin = all_weeks[-cfg.weeks - 1]
    active = _active(ds, panel, weeks, origin)
    td = ds.true_demand.join(active, on="article_id", how="semi")
    article_ids = active["article_id"].to_numpy()
    store_ids = np.array(sorted(ds.stores["store_id"].to_list()))
    a_idx = {a: i for i, a in enumerate(article_ids)}
    s_idx = {s: i for i, s in enumerate(store_ids)}
    w_idx = {w: i for i, w in enumerate(weeks)}
    index = {"store_id": s_idx, "article_id": a_idx, "week": w_idx}
    demand = _cube(
        td.filter(pl.col("week").is_in(weeks)), (len(s_idx), len(a_idx), len(weeks)), index, "demand"
    )
    last = td.group_by("article_id").agg(pl.col("week").max())
    last_week = last.join(active, on="article_id", how="right").sort("article_id")["week"]
    season_last = np.array(
        [(d - weeks[0]).days // 7 if d < all_weeks[-1] else SEASON_OPEN for d in last_week]
    )
    costs = weekly_costs(panel, ds.articles, article_ids, weeks, cfg.business, rounded=False)
    money = {c: costs[c].to_numpy().reshape(article_ids.size, len(weeks)) for c in costs.columns[2:]}
    rng = np.random.default_rng(cfg.seed)
    pack = np.ones(article_ids.size)
    if ds.dc_stock is not None:
        packs = ds.dc_stock.select("article_id", "pack_size")
        pack = active.join(packs, on="article_id", how="left")["pack_size"].fill_null(1.0).to_numpy()
    stock = ds.stock.filter(pl.col("week") == origin).join(active, on="article_id", how="semi")
    on_hand = _cube(stock, (len(s_idx), len(a_idx)), {"store_id": s_idx, "article_id": a_idx}, "on_hand")
    weekly_mean = demand[:, :, : min(4, len(weeks))].sum(axis=0).mean(axis=1)
    capacity = np.maximum(ds.stores.sort("store_id")["capacity_units"].to_numpy(), on_hand.sum(axis=1))
    return Market(
        weeks=weeks,
        article_ids=article_ids,
        store_ids=store_ids,
        demand=demand,
        price=money["price"],
        unit_cost=money["unit_cost"][:, 0],
        holding=money["holding_cost"],
        salvage=money["salvage_value"][:, 0],
        season_last=season_last,
        pack=pack,
        case=2 * pack,
        supplier_lead=rng.integers(2, 5, article_ids.size),
        capacity=capacity.astype(float),
        on_hand=on_hand,
        dc_start=np.floor(cfg.dc_weeks * weekly_mean / pack) * pack,
        true_demand=RecordedDemand(demand),
    )


def _forecast(
    panel: pl.DataFrame, origin: date, market: Market, cfg: ReplayConfig, pipeline: PipelineConfig
) -> pl.DataFrame:
    """Forecast rows for the horizon from `origin` (zero after the season's end), with the planned price."""
    from forecast.backtest import history_at
    from forecast.models.baselines import StatsForecastModel

    hist, _ = history_at(panel, origin, pipeline.forecast.active_weeks)
    active = pl.DataFrame({"article_id": market.article_ids}).join(
        pl.DataFrame({"store_id": market.store_ids}), how="cross"
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
