"""Markdown policies judged on true demand: a season's end replayed on the synthetic retailer.

**The world.** `simulate_dataset` gives the history (sales, prices, stock) of ``cfg.weeks`` weeks; the
replay covers the ``weeks`` weeks after it. Its articles are those on sale at the last history week whose
season (the catalogue's launch + life) ends within the replay. The true expected demand of every store at
any discount is the simulator's own (`forecast.simulate.demand`: life cycle × calendar × region fit ×
``(1 − d)^(−elasticity)``, capped per store as the simulator does), rebuilt from the same seed. A week's
chain-wide demand is Poisson with the stores' expected demand × their gamma noise (the simulator's
dispersion) summed; the noise and the Poisson draw's uniform are fixed per article × week, so every policy
meets the same customers and a deeper discount never brings fewer.

**Stock.** The article's stock at the end of the history in the stores plus the DC's (the simulator's
``stock`` and ``dc_stock``), pooled: replenishment moves it to where it sells, so each week's sales are
``min(demand, stock)`` chain-wide. Left over at the season's end: salvaged at ``salvage_ratio`` × unit cost.
The purchase cost is sunk; the season's profit is revenue − holding cost + salvage
(`forecast.markdown.planner.week_profit`, i.e. `forecast.business.profit` at unit cost 0).

**The week.** Each policy sets this week's price from what it has seen (history + its own weeks so far),
true demand at that price meets the stock, leftovers carry on. Every policy starts from the catalogue's
price at the end of the history and keeps the planners' rules (ladder, never up, ``max_steps`` steps
counted from the replay's first week, ``min_weeks_between``) except the catalogue's own schedule, which is
replayed as it was planned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

import numpy as np
import polars as pl

from forecast.config import SimulateConfig
from forecast.dataset import Dataset
from forecast.distribution import poisson_quantile
from forecast.markdown.config import MarkdownConfig
from forecast.markdown.planner import week_profit
from forecast.markdown.response import lift
from forecast.markdown.rules import RuleState
from forecast.simulate import simulate_dataset
from forecast.simulate.catalogue import Articles
from forecast.simulate.demand import discount, store_fit
from forecast.simulate.retail import DISPERSION, MAX_MEAN_UNITS, draw_assortment

IMPUTE_ROUNDS = 3  # rounds of the stockout imputation of the history


@dataclass
class World:
    """The replayed articles (index `a`) over the replay's weeks (index `t`)."""

    article_id: np.ndarray  # (A,) str
    category: np.ndarray  # (A,) str
    list_price: np.ndarray
    unit_cost: np.ndarray
    elasticity: np.ndarray  # the true one: only the oracle reads it
    store_base: np.ndarray  # (A, S, T) true expected demand per store at the list price
    noise: np.ndarray  # (A, S, T) the stores' gamma noise
    uniform: np.ndarray  # (A, T) the Poisson draw's uniform
    open_weeks: np.ndarray  # (A, T) weeks still in the article's season
    life_share: np.ndarray  # (A, T) share of its life lived at each week
    catalogue: np.ndarray  # (A, T) the catalogue's own discount
    start_discount: np.ndarray  # (A,) discount in the history's last week
    weeks_held: np.ndarray  # (A,) weeks that price has held
    stock: np.ndarray  # (A,) units in the stores and at the DC
    history: pl.DataFrame  # chain-wide weekly sales before the replay: article_id, week, units, discount
    weeks: list[date]  # the replay's Mondays

    def store_means(self, discounts: np.ndarray, t: int) -> np.ndarray:
        """Expected demand per store (A, S, L) at ladder `discounts` (L,) in week `t`, before noise."""
        factor = lift(discounts[None, :], self.elasticity[:, None])
        return np.minimum(self.store_base[:, :, t, None] * factor[:, None, :], MAX_MEAN_UNITS)

    def demand(self, discounts: np.ndarray, t: int) -> np.ndarray:
        """The week's chain-wide demand (units) at `discounts` (A,), noise included."""
        factor = lift(discounts, self.elasticity)
        rate = np.minimum(self.store_base[:, :, t] * factor[:, None], MAX_MEAN_UNITS) * self.noise[:, :, t]
        return poisson_quantile(rate.sum(axis=1), self.uniform[:, t])


def build_world(cfg: SimulateConfig, weeks: int = 8, seed: int = 0) -> World:
    """Simulate the history with `cfg` and rebuild the true demand of the `weeks` after it (module
    docstring); `seed` draws the replay's demand noise."""
    ds = simulate_dataset(cfg)
    _, articles, stores, curve, price, carried = draw_assortment(cfg)  # the simulator's own draws
    end = articles.launch + articles.life_weeks
    keep = np.flatnonzero((articles.launch < cfg.weeks) & (end > cfg.weeks + 1) & (end <= cfg.weeks + weeks))
    t_idx = cfg.weeks + np.arange(weeks)
    catalogue_lift = (price / articles.list_price[:, None]) ** -articles.elasticity[:, None]
    list_curve = curve / np.where(catalogue_lift > 0, catalogue_lift, 1.0)
    fit = store_fit(articles, stores) * carried
    store_base = list_curve[keep][:, None, :][:, :, t_idx] * fit[keep][:, :, None]
    noise_rng = np.random.default_rng([cfg.seed, seed])
    noise = noise_rng.gamma(DISPERSION, 1 / DISPERSION, store_base.shape)
    age = t_idx[None, :] - articles.launch[keep][:, None]
    history_age = (cfg.weeks - 1) - articles.launch[keep]
    sub = _subset(articles, keep)
    past = discount(sub, np.arange(-1, -60, -1)[None, :] + history_age[:, None] + 1)
    start_discount = past[:, 0]
    held = np.argmax(past != start_discount[:, None], axis=1)
    held = np.where((past == start_discount[:, None]).all(axis=1), past.shape[1], held)
    ids = articles.article_id[keep].astype(str)
    return World(
        article_id=ids,
        category=np.array([str(c) for c in _categories(ds, ids)]),
        list_price=articles.list_price[keep],
        unit_cost=articles.unit_cost[keep],
        elasticity=articles.elasticity[keep],
        store_base=store_base,
        noise=noise,
        uniform=noise_rng.random((keep.size, weeks)),
        open_weeks=age < articles.life_weeks[keep][:, None],
        life_share=np.clip(age / articles.life_weeks[keep][:, None], 0.0, 1.0),
        catalogue=discount(sub, age),
        start_discount=start_discount,
        weeks_held=held,
        stock=_stock(ds, ids),
        history=_history(ds, ids),
        weeks=[cfg.start + timedelta(weeks=cfg.weeks + k) for k in range(weeks)],
    )


def _subset(articles: Articles, keep: np.ndarray) -> Articles:
    return Articles(**{k: v[keep] for k, v in vars(articles).items()})


def _categories(ds: Dataset, ids: np.ndarray) -> list[str]:
    table = dict(zip(ds.articles["article_id"].to_list(), ds.articles["category"].to_list(), strict=True))
    return [table[i] for i in ids]


def _stock(ds: Dataset, ids: np.ndarray) -> np.ndarray:
    """Units on hand in the stores at the history's last week plus the DC's, per article."""
    assert ds.stock is not None
    assert ds.dc_stock is not None
    last = ds.stock["week"].max()
    stores = ds.stock.filter(pl.col("week") == last).group_by("article_id").agg(pl.col("on_hand").sum())
    dc = ds.dc_stock.select("article_id", pl.col("available_units").alias("dc"))
    frame = (
        pl.DataFrame({"article_id": ids})
        .join(stores, on="article_id", how="left")
        .join(dc, on="article_id", how="left")
    )
    return (
        frame.select(pl.col("on_hand").fill_null(0.0) + pl.col("dc").fill_null(0.0))[:, 0]
        .to_numpy()
        .astype(float)
    )


def _history(ds: Dataset, ids: np.ndarray) -> pl.DataFrame:
    """Chain-wide weekly demand seen before the replay, per replayed article, with its discount.

    A store that ended a week with no stock sold less than its demand; its demand there is imputed as the
    expected demand above its sales, ``E[D | D >= sales]`` for D Poisson with mean the store's share × the
    week's chain demand, and share and chain demand are re-estimated from the imputed weeks
    (``IMPUTE_ROUNDS`` rounds, an EM for censored demand).
    """
    assert ds.stock is not None
    keep = pl.col("article_id").is_in(pl.Series(ids).implode())
    sales = ds.sales.filter((pl.col("units") > 0) & keep).rename({"date": "week"})
    stock = ds.stock.filter(keep).select("article_id", "store_id", "week", "on_hand")
    prices = sales.group_by("article_id", "week").agg(pl.col("price").mean())
    rows = stock.join(sales.drop("price"), on=["article_id", "store_id", "week"], how="left")
    rows = rows.with_columns(
        pl.col("units").fill_null(0.0).alias("sold"), (pl.col("on_hand") <= 0).alias("out")
    )
    rows = rows.with_columns(pl.col("sold").alias("units"))
    for _ in range(IMPUTE_ROUNDS):
        mean = (
            pl.col("units").sum().over("article_id", "store_id")
            / pl.col("units").sum().over("article_id")
            * pl.col("units").sum().over("article_id", "week")
        )
        rows = rows.with_columns(mean.fill_nan(0.0).alias("mu"))
        rows = rows.with_columns(
            pl.Series("units", _above(rows["mu"].to_numpy(), rows["sold"].to_numpy(), rows["out"].to_numpy()))
        )
    weekly = rows.group_by("article_id", "week").agg(pl.col("units").sum())
    list_price = ds.articles.select("article_id", "list_price", "category")
    return (
        weekly.join(prices, on=["article_id", "week"], how="inner")
        .join(list_price, on="article_id")
        .select(
            "article_id",
            "week",
            "units",
            (1.0 - pl.col("price") / pl.col("list_price")).clip(0.0, 0.95).alias("discount"),
            "category",
            pl.lit(False).alias("censored"),
        )
        .sort("article_id", "week")
    )


def _above(mean: np.ndarray, sold: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``E[D | D >= sold]`` for D ~ Poisson(mean) where `out`, else `sold`."""
    from scipy import stats

    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = stats.poisson.sf(sold - 2, mean) / stats.poisson.sf(sold - 1, mean)
        above = np.where(np.isfinite(ratio), mean * ratio, sold)
    return np.where(out, np.maximum(above, sold), sold)


@dataclass
class Season:
    """A policy's season so far: the rules' state (`RuleState`), the stock and its own weeks."""

    state: RuleState
    stock: np.ndarray
    start_stock: np.ndarray
    log: list[pl.DataFrame]  # per week played: article_id, week, units, discount, censored


class Policy(Protocol):
    name: str

    def discount(self, world: World, season: Season, t: int, settings: MarkdownConfig) -> np.ndarray:
        """This week's discount per article (shares of the list price)."""
        ...


@dataclass
class Result:
    """Season totals per article of one policy."""

    profit: np.ndarray
    revenue: np.ndarray
    units: np.ndarray
    leftover: np.ndarray
    start_stock: np.ndarray


def ladder_level(discounts: np.ndarray, ladder: np.ndarray) -> np.ndarray:
    """The ladder level at or just above each discount (the deepest one beyond it)."""
    return np.clip(np.searchsorted(ladder, discounts - 0.005), 0, ladder.size - 1)


def play(world: World, policy: Policy, settings: MarkdownConfig) -> Result:
    """One policy through the replay's weeks (module docstring)."""
    ladder = settings.discounts()
    n = world.article_id.size
    state = RuleState(
        level=ladder_level(world.start_discount, ladder),
        steps=np.zeros(n, dtype=np.int64),
        held=np.minimum(world.weeks_held, settings.min_weeks_between),
        sold_share=np.zeros(n),
        season_share=np.zeros(n),
        life_share=world.life_share[:, 0],
    )
    season = Season(state, world.stock.copy(), world.stock.copy(), [])
    hold = settings.holding_cost_ratio * world.list_price
    money, revenue = np.zeros(n), np.zeros(n)
    season_weeks = np.maximum(world.open_weeks.sum(axis=1), 1)
    for t in range(len(world.weeks)):
        state.season_share, state.life_share = t / season_weeks, world.life_share[:, t]
        cut = policy.discount(world, season, t, settings)
        open_t = world.open_weeks[:, t]
        demand = np.where(open_t, world.demand(cut, t), 0.0)
        sold = np.minimum(demand, season.stock)
        season.stock = season.stock - sold
        price = np.round(world.list_price * (1.0 - cut), 2)
        money += week_profit(sold, season.stock, price, np.where(open_t, hold, 0.0))
        revenue += price * sold
        state.sold_share = 1.0 - season.stock / np.maximum(season.start_stock, 1e-9)
        season.log.append(_week_rows(world, t, sold, cut, open_t & (demand >= sold + season.stock)))
    salvage = settings.salvage_ratio * world.unit_cost
    units = season.start_stock - season.stock
    return Result(money + salvage * season.stock, revenue, units, season.stock, season.start_stock)


def _week_rows(world: World, t: int, sold: np.ndarray, cut: np.ndarray, censored: np.ndarray) -> pl.DataFrame:
    open_t = world.open_weeks[:, t]
    return pl.DataFrame(
        {
            "article_id": world.article_id[open_t],
            "week": [world.weeks[t]] * int(open_t.sum()),
            "units": sold[open_t],
            "discount": cut[open_t],
            "category": world.category[open_t],
            "censored": censored[open_t],
        }
    )
