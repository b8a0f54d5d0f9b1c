"""Store-level simulation: demand draws, deliveries, stockouts, sales, returns, and the canonical tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

import numpy as np
import polars as pl

from forecast.config import SimulateConfig
from forecast.dataset import Dataset
from forecast.simulate.catalogue import (
    CATEGORY_NAMES,
    COLOUR_NAMES,
    DROP_LOOKAHEAD_WEEKS,
    FABRIC_NAMES,
    REGIONS,
    Articles,
    Stores,
    make_articles,
    make_stores,
    week_dates,
)
from forecast.simulate.demand import article_week_mean, store_fit

DISPERSION = 2.0  # negative-binomial shape: smaller = burstier store demand
MAX_MEAN_UNITS = 20.0  # cap on the weekly mean of one article in one store
RETURN_RATE = 0.04  # share of units sold that come back
UNDER_SUPPLY_RATE = 0.12  # share of deliveries the DC can only partly fill
FORECAST_NOISE = 0.35  # log-sd of the planner's error when sizing deliveries
DC_HORIZON_WEEKS = 8  # DC stock covers roughly this many weeks of future demand
PLAN_WEEKS = 26  # the prices table plans this many weeks after the last week of sales
RESPONSE_DISCOUNTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)  # discount levels of `true_price_response`
ARTICLE_ATTRIBUTES = ["season", "collection", "colour", "fabric"]
STORE_ATTRIBUTES = ["region", "size_sqm", "cluster"]


@dataclass
class _Book:
    """Week-by-week ledger of every article × store, shape (articles, stores, weeks)."""

    demand: np.ndarray
    sales: np.ndarray
    returns: np.ndarray
    on_hand: np.ndarray


class Assortment(NamedTuple):
    """The simulator's first draws: the catalogue, the stores, each article's weekly mean curve at its planned
    prices, and which stores carry which article; `rng` continues from there."""

    rng: np.random.Generator
    articles: Articles
    stores: Stores
    curve: np.ndarray  # (articles, weeks) expected chain demand per store-fit unit at the planned price
    price: np.ndarray  # (articles, weeks) the planned price
    carried: np.ndarray  # (articles, stores) True where the store carries the article


def draw_assortment(cfg: SimulateConfig) -> Assortment:
    """The draws every rebuild of the simulated retailer starts from, in the simulator's order (so a replay
    that rebuilds its true demand meets the same articles and stores as `simulate_dataset`)."""
    rng = np.random.default_rng(cfg.seed)
    articles = make_articles(rng, cfg.articles, cfg.start, cfg.weeks, cfg.cold_start_share)
    stores = make_stores(rng, cfg.stores)
    horizon = cfg.weeks + DROP_LOOKAHEAD_WEEKS + DC_HORIZON_WEEKS
    curve, price = article_week_mean(articles, cfg.start, np.arange(horizon))
    carried = rng.random((len(articles), len(stores))) < stores.assortment[None, :]
    carried[np.arange(len(articles)), rng.integers(0, len(stores), size=len(articles))] = True
    return Assortment(rng, articles, stores, curve, price, carried)


def simulate_dataset(cfg: SimulateConfig) -> Dataset:
    """Simulate a fashion retailer and return its canonical tables, with the true demand beside the sales.

    Parameters
    ----------
    cfg
        Size (articles, stores, weeks), first Monday, cold-start share and seed. Same config, same tables.

    Returns
    -------
    Dataset
        ``sales`` (weekly rows; returns as separate negative rows), ``articles``, ``stores``, ``stock``
        (end-of-week on hand), ``dc_stock``, ``prices`` (chain-wide, every week an article is on sale,
        the markdown schedule included, up to `PLAN_WEEKS` after the last week of sales) and
        ``true_demand``.

    Examples
    --------
    >>> from forecast.config import SimulateConfig
    >>> ds = simulate_dataset(SimulateConfig(articles=20, stores=3, weeks=30, seed=1))
    >>> ds.sales.columns
    ['date', 'store_id', 'article_id', 'units', 'price']
    """
    rng, articles, stores, curve, price, carried = draw_assortment(cfg)
    mean = np.minimum(curve[:, None, :] * (store_fit(articles, stores) * carried)[:, :, None], MAX_MEAN_UNITS)
    book = _run_stores(rng, mean, articles, stores, cfg.weeks)
    alive = (mean[:, :, : cfg.weeks] > 0) & carried[:, :, None]
    mondays = week_dates(cfg.start, cfg.weeks)
    tables = {
        "sales": _sales_frame(book, price, articles, stores, mondays),
        "articles": _articles_frame(articles, cfg.start, cfg.weeks),
        "stores": _stores_frame(stores, book),
        "stock": _cube_frame({"on_hand": book.on_hand}, alive, articles, stores, mondays),
        "dc_stock": _dc_stock_frame(rng, articles, mean, price, cfg.weeks),
        "prices": _prices_frame(articles, curve, price, cfg.start, cfg.weeks + PLAN_WEEKS),
        "true_demand": _cube_frame(
            {"demand": book.demand, "expected_demand": mean[:, :, : cfg.weeks]},
            alive,
            articles,
            stores,
            mondays,
        ),
    }
    n_rows = {f"{name}.csv": frame.height for name, frame in tables.items()}
    return Dataset(
        name="simulate",
        sales=tables["sales"],
        articles=tables["articles"],
        stores=tables["stores"],
        stock=tables["stock"],
        dc_stock=tables["dc_stock"],
        true_demand=tables["true_demand"],
        prices=tables["prices"],
        rows_read=n_rows,
        grain="weekly",
        article_attributes=list(ARTICLE_ATTRIBUTES),
        store_attributes=list(STORE_ATTRIBUTES),
    )


def _prices_frame(
    articles: Articles, curve: np.ndarray, price: np.ndarray, start: date, weeks: int
) -> pl.DataFrame:
    """Chain-wide (``ALL``) price of every article in every week it is on sale, up to week `weeks`."""
    weeks = min(weeks, curve.shape[1])
    a, t = np.nonzero(curve[:, :weeks] > 0)
    mondays = np.array(week_dates(start, weeks), dtype="datetime64[D]")
    frame = pl.DataFrame(
        {
            "article_id": articles.article_id[a].astype(str),
            "store_id": "ALL",
            "week": pl.Series(mondays[t]).cast(pl.Date),
            "price": price[a, t].astype(np.float64),
            "promo": np.zeros(a.shape[0]),
        }
    )
    return frame.sort("week", "article_id")


def true_price_response(cfg: SimulateConfig) -> pl.DataFrame:
    """Each article's true price response: the ground truth of `simulate_dataset(cfg)`, never model input.

    The expected demand of an article at price ``p`` is its expected demand at the list price times
    ``lift = (p / list_price) ** -elasticity`` (`forecast.simulate.demand`), in every store and week.
    One row per article and discount level in `RESPONSE_DISCOUNTS`: ``article_id, list_price, elasticity,
    discount, price, lift``.

    Examples
    --------
    >>> response = true_price_response(SimulateConfig(articles=5, stores=2, weeks=30, seed=1))
    >>> response.filter(pl.col("discount") == 0.0)["lift"].to_list()
    [1.0, 1.0, 1.0, 1.0, 1.0]
    """
    articles = make_articles(
        np.random.default_rng(cfg.seed), cfg.articles, cfg.start, cfg.weeks, cfg.cold_start_share
    )
    levels = np.array(RESPONSE_DISCOUNTS)
    n = len(articles)
    discount = np.tile(levels, n)
    elasticity = np.repeat(articles.elasticity, levels.shape[0])
    return pl.DataFrame(
        {
            "article_id": np.repeat(articles.article_id, levels.shape[0]).astype(str),
            "list_price": np.repeat(articles.list_price, levels.shape[0]),
            "elasticity": elasticity,
            "discount": discount,
            "price": np.repeat(articles.list_price, levels.shape[0]) * (1.0 - discount),
            "lift": (1.0 - discount) ** -elasticity,
        }
    )


def _run_stores(
    rng: np.random.Generator, mean: np.ndarray, articles: Articles, stores: Stores, weeks: int
) -> _Book:
    """Week by week: deliveries arrive, customers come, stock runs out, some units come back later."""
    n_a, n_s = mean.shape[:2]
    demand = rng.poisson(mean[:, :, :weeks] * rng.gamma(DISPERSION, 1 / DISPERSION, (n_a, n_s, weeks)))
    planned = mean * rng.lognormal(0.0, FORECAST_NOISE, (n_a, n_s))[:, :, None]
    cum_plan = np.concatenate([np.zeros((n_a, n_s, 1)), np.cumsum(planned, axis=2)], axis=2)
    cycle = stores.cycle_weeks
    sales = np.zeros((n_a, n_s, weeks), dtype=np.int64)
    returns = np.zeros((n_a, n_s, weeks + 4), dtype=np.int64)
    on_hand = np.zeros((n_a, n_s, weeks), dtype=np.int64)
    stock = np.zeros((n_a, n_s), dtype=np.int64)
    life_end = (articles.launch + articles.life_weeks)[:, None]
    store_index = np.arange(n_s)
    for t in range(weeks):
        age = t - articles.launch[:, None]
        alive = mean[:, :, t] > 0
        first = alive & ((age == 0) | ((t == 0) & (age > 0)))
        due = alive & ((t % cycle)[None, :] == (stores.cycle_offset % cycle)[None, :])
        due &= (age > 0) & (age < articles.life_weeks[:, None] - 2)
        end = np.minimum(t + cycle, cum_plan.shape[2] - 1)
        cover = cum_plan[:, store_index, end] - cum_plan[:, :, t]
        target = np.ceil(np.where(first, 1.4, 1.3) * cover).astype(np.int64)
        order = np.where(first | due, np.maximum(target - stock, 0), 0)
        short = rng.random((n_a, n_s)) < UNDER_SUPPLY_RATE
        order = np.where(short, np.floor(order * rng.uniform(0.0, 0.5, (n_a, n_s))).astype(np.int64), order)
        available = stock + order + returns[:, :, t]
        sales[:, :, t] = np.minimum(demand[:, :, t], available)
        stock = available - sales[:, :, t]
        on_hand[:, :, t] = stock
        back = rng.binomial(sales[:, :, t], RETURN_RATE)
        lag = rng.integers(1, 4, size=(n_a, n_s))
        for k in (1, 2, 3):
            # a return counts only while the article is still on sale in that store
            keep = (lag == k) & (t + k < life_end)
            returns[:, :, t + k] += np.where(keep, back, 0)
    return _Book(demand=demand, sales=sales, returns=returns[:, :, :weeks], on_hand=on_hand)


def _cube_frame(
    values: dict[str, np.ndarray],
    mask: np.ndarray,
    articles: Articles,
    stores: Stores,
    mondays: list[date],
) -> pl.DataFrame:
    """One row per article × store × week where `mask` holds, with one column per cube of `values`."""
    a, s, t = np.nonzero(mask)
    frame = pl.DataFrame(
        {
            "week": pl.Series(np.array(mondays, dtype="datetime64[D]")[t]).cast(pl.Date),
            "store_id": stores.store_id[s].astype(str),
            "article_id": articles.article_id[a].astype(str),
            **{column: cube[a, s, t].astype(np.float64) for column, cube in values.items()},
        }
    )
    return frame.sort("week", "store_id", "article_id")


def _sales_frame(
    book: _Book, price: np.ndarray, articles: Articles, stores: Stores, mondays: list[date]
) -> pl.DataFrame:
    dates = np.array(mondays, dtype="datetime64[D]")
    parts = []
    for units, sign in ((book.sales, 1.0), (book.returns, -1.0)):
        a, s, t = np.nonzero(units)
        parts.append(
            pl.DataFrame(
                {
                    "date": pl.Series(dates[t]).cast(pl.Date),
                    "store_id": stores.store_id[s].astype(str),
                    "article_id": articles.article_id[a].astype(str),
                    "units": sign * units[a, s, t].astype(np.float64),
                    "price": price[a, t].astype(np.float64),
                }
            )
        )
    frame = pl.concat(parts)
    return frame.sort(["date", "store_id", "article_id", "units"], descending=[False, False, False, True])


def _articles_frame(articles: Articles, start: date, weeks: int) -> pl.DataFrame:
    launch = np.datetime64(start, "D") + (articles.launch * 7).astype("timedelta64[D]")
    # the last day on sale: the Sunday that ends the article's last week of life
    end = launch + (articles.life_weeks * 7 - 1).astype("timedelta64[D]")
    return pl.DataFrame(
        {
            "article_id": articles.article_id.astype(str),
            "category": np.array(CATEGORY_NAMES)[articles.category],
            "launch_date": pl.Series(launch).cast(pl.Date),
            "list_price": articles.list_price,
            "unit_cost": articles.unit_cost,
            "is_future": articles.launch >= weeks,
            "end_date": pl.Series(end).cast(pl.Date),
            "season": articles.season.astype(str),
            "collection": articles.collection.astype(str),
            "colour": np.array(COLOUR_NAMES)[articles.colour],
            "fabric": np.array(FABRIC_NAMES)[articles.fabric],
        }
    )


def _stores_frame(stores: Stores, book: _Book) -> pl.DataFrame:
    # room for the busiest week's stock plus a quarter, in tens of units
    peak = book.on_hand.sum(axis=0).max(axis=1) if book.on_hand.size else np.zeros(len(stores))
    capacity = np.maximum(np.ceil(peak * 1.25 / 10) * 10, 50.0)
    return pl.DataFrame(
        {
            "store_id": stores.store_id.astype(str),
            "capacity_units": capacity.astype(np.float64),
            "region": np.array(REGIONS)[stores.region],
            "size_sqm": stores.size_sqm.astype(np.float64),
            "cluster": stores.cluster.astype(str),
        }
    )


def _dc_stock_frame(
    rng: np.random.Generator, articles: Articles, mean: np.ndarray, price: np.ndarray, weeks: int
) -> pl.DataFrame:
    """DC stock of the articles still on sale after the last week or not launched yet.

    Sized from the expected demand of the first `DC_HORIZON_WEEKS` weeks ahead (from the launch for cold-start
    articles), times a random 0.6-1.3 so some articles are scarce; whole packs only.
    """
    chain = mean.sum(axis=1)
    first = np.maximum(articles.launch, weeks)
    idx = first[:, None] + np.arange(DC_HORIZON_WEEKS)[None, :]
    expected = np.take_along_axis(chain, idx, axis=1).sum(axis=1)
    keep = expected > 0
    packs = np.maximum(np.floor(expected * rng.uniform(0.6, 1.3, len(articles)) / articles.pack_size), 1)
    next_price = price[np.arange(len(articles)), first]
    frame = pl.DataFrame(
        {
            "article_id": articles.article_id.astype(str),
            "available_units": (packs * articles.pack_size).astype(np.float64),
            "pack_size": articles.pack_size.astype(np.float64),
            "unit_cost": articles.unit_cost,
            "price": next_price,
            "holding_cost": np.round(0.1 * next_price, 2),
        }
    )
    return frame.filter(pl.Series(keep))
