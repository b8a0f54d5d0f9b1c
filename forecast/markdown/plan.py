"""From frames to a markdown plan: which units, their stock and demand, the planner, ``markdowns.csv``.

**Units.** The articles whose catalogue ``end_date`` falls within ``weeks`` weeks of the first forecast week,
and those named in ``[markdown] articles``; chain-wide (cluster ``ALL``) or per store cluster.
**Stock.** Store stock + in transit + DC stock of the article; per cluster, the clusters' store stock plus
the DC and in-transit units split over the clusters in proportion to their forecast demand.
**Demand.** The forecast rows of the unit's stores summed per week: means add up; quantiles are combined as
for independent stores (mean + the deviations from the mean added in quadrature). The rows are at the
price they assumed (`forecast.markdown.response`), the ladder rows follow from the fitted lift.
**Current plan.** The planned prices (``--prices``: rows of the article's stores or ``ALL``, averaged per
unit and week), else the last known price held: evaluated under the same demand model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import polars as pl

from forecast.config import BusinessConfig
from forecast.contracts import quantile_columns
from forecast.distribution import DemandDistribution
from forecast.errors import InputError
from forecast.markdown.config import MarkdownConfig
from forecast.markdown.planner import (
    MarkdownProblem,
    Outcome,
    PlanResult,
    evaluate_path,
    monte_carlo,
    outcome_of,
    solve,
)
from forecast.markdown.response import chain_weeks, elasticity_for, fit_elasticity, lift, scaled_ladder
from forecast.markdown.rules import FixedRule, SellThroughRule, follow

ALL = "ALL"
UNIT = ["article_id", "cluster"]


@dataclass
class MarkdownResult:
    """``markdowns`` (one row per unit × week), ``summary`` (one row per unit), the fitted ``elasticities``
    and ``totals`` (expected profit of the plan and of the current prices, the Monte-Carlo check)."""

    markdowns: pl.DataFrame
    summary: pl.DataFrame
    elasticities: pl.DataFrame
    totals: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    curves: pl.DataFrame | None = None  # expected cumulative sell-through per unit × week under each policy


@dataclass
class _Units:
    keys: pl.DataFrame  # article_id, cluster, list_price, unit_cost, salvage, end_date, group, stock
    weeks: list[date]
    base: DemandDistribution  # one row per unit × week, at the assumed price
    assumed: np.ndarray  # (U, T) discount the base rows assumed
    current: np.ndarray  # (U,) discount now
    planned: np.ndarray  # (U, T) discount of the current plan


def plan_markdowns(
    forecasts: pl.DataFrame,
    panel: pl.DataFrame,
    articles: pl.DataFrame,
    stock: pl.DataFrame,
    config: MarkdownConfig,
    business: BusinessConfig | None = None,
    *,
    stores: pl.DataFrame | None = None,
    prices: pl.DataFrame | None = None,
) -> MarkdownResult:
    """The markdown plan of the units the config selects (module docstring).

    `stock` rows: ``article_id``, ``store_id`` (a store, or ``DC`` / null for DC and in-transit units) and
    ``units``. `stores` gives the ``cluster`` of each store when ``config.level`` is ``cluster``.
    """
    business = business or BusinessConfig()
    elasticities = fit_elasticity(chain_weeks(panel, articles))
    units, warnings = _build_units(forecasts, panel, articles, stock, config, business, stores, prices)
    if units.keys.height == 0:
        empty = _frames(units, None, np.zeros(0))
        return MarkdownResult(empty[0], empty[1], elasticities, {"units": 0.0}, warnings)
    beta = elasticity_for(units.keys["group"], elasticities)
    problem = _problem(units, beta, config)
    result = solve(problem, config.max_steps, config.min_weeks_between)
    planned = _evaluate_planned(units, beta, problem)
    totals = _totals(problem, result, planned, config)
    outcomes = {"recommended": result.outcome, "current": planned}
    for rule in (SellThroughRule(), FixedRule()):
        levels = follow(rule, problem, _life_share(units), config.max_steps, config.min_weeks_between)
        outcomes[rule.name] = outcome_of(problem, levels)
        totals[f"rule_{rule.name}_expected_profit"] = float(outcomes[rule.name].profit.sum())
    markdowns, summary = _frames(units, (problem, result, planned), beta)
    curves = _curves(units, problem, outcomes)
    return MarkdownResult(markdowns, summary, elasticities, totals, warnings, curves)


def _life_share(units: _Units) -> np.ndarray:
    """Share of its life each unit's article has lived at each plan week (U, T)."""
    week = np.array(units.weeks, dtype="datetime64[D]")[None, :]
    launch = units.keys["launch"].cast(pl.Date).to_numpy().astype("datetime64[D]")[:, None]
    end = units.keys["end_date"].cast(pl.Date).to_numpy().astype("datetime64[D]")[:, None]
    life = np.maximum((end - launch).astype(float), 1.0)
    return np.clip((week - launch).astype(float) / life, 0.0, 1.0)


def _curves(units: _Units, problem: MarkdownProblem, outcomes: dict[str, Outcome]) -> pl.DataFrame:
    grid = units.keys.select(UNIT).join(
        pl.DataFrame({"week": units.weeks}, schema={"week": pl.Date}), how="cross"
    )
    stock = np.maximum(problem.stock, 1e-9)[:, None]
    parts = [
        grid.with_columns(
            pl.lit(policy).alias("policy"),
            pl.Series("sold_share", (np.cumsum(outcome.units, axis=1) / stock).ravel()),
            pl.Series("expected_profit", np.repeat(outcome.profit, problem.weeks)),
        )
        for policy, outcome in outcomes.items()
    ]
    return pl.concat(parts)


def _problem(units: _Units, beta: np.ndarray, config: MarkdownConfig) -> MarkdownProblem:
    discounts = config.discounts()
    n_weeks = len(units.weeks)
    relative = (
        lift(discounts[None, None, :], beta[:, None, None]) / lift(units.assumed, beta[:, None])[:, :, None]
    )
    keys = units.keys
    list_price = keys["list_price"].to_numpy().astype(float)
    week_start = np.array(units.weeks, dtype="datetime64[D]")
    ends = keys["end_date"].cast(pl.Date).to_numpy().astype("datetime64[D]")
    level = np.clip(np.searchsorted(discounts, units.current - 0.005), 0, discounts.size - 1)
    return MarkdownProblem(
        discounts=discounts,
        list_price=list_price,
        demand=scaled_ladder(units.base, relative.reshape(-1, discounts.size)),
        stock=keys["stock"].to_numpy().astype(float),
        holding_cost=config.holding_cost_ratio * list_price,
        salvage=keys["salvage"].to_numpy().astype(float),
        open_weeks=week_start[None, :n_weeks] <= ends[:, None],
        level=level,
        steps_used=np.zeros(keys.height, dtype=np.int64),
        weeks_held=np.full(keys.height, config.min_weeks_between, dtype=np.int64),
    )


def _evaluate_planned(units: _Units, beta: np.ndarray, problem: MarkdownProblem) -> Outcome:
    factor = lift(units.planned, beta[:, None]) / lift(units.assumed, beta[:, None])
    demand = scaled_ladder(units.base, factor.reshape(-1, 1))
    price = np.round(problem.list_price[:, None] * (1.0 - units.planned), 2)
    return evaluate_path(
        demand, price, problem.stock, problem.holding_cost, problem.salvage, problem.open_weeks
    )


def _totals(
    problem: MarkdownProblem, result: PlanResult, planned: Outcome, config: MarkdownConfig
) -> dict[str, float]:
    """Expected profit of the plan, the current prices and the current price held; the Monte-Carlo gap."""
    rng = np.random.default_rng(config.seed)
    n_check = min(config.check_units, problem.units)
    check = np.sort(rng.choice(problem.units, size=n_check, replace=False)) if n_check else np.zeros(0, int)
    totals = {
        "units": float(problem.units),
        "expected_profit": float(result.outcome.profit.sum()),
        "current_expected_profit": float(planned.profit.sum()),
        "keep_price_expected_profit": float(result.keep.profit.sum()),
        "search_nodes": float(result.nodes),
        "checked_units": float(n_check),
    }
    if n_check:
        rows = problem.rows(result.levels)[check].ravel()
        exact = monte_carlo(
            problem.demand.subset(rows), problem.prices(result.levels)[check], problem.stock[check],
            problem.holding_cost[check], problem.salvage[check], problem.open_weeks[check], config.samples,
            config.seed,
        )  # fmt: skip
        approx = float(result.outcome.profit[check].sum())
        totals["checked_expected_profit"] = approx
        totals["checked_monte_carlo_profit"] = float(exact.profit.sum())
        totals["approximation_gap"] = (approx - float(exact.profit.sum())) / max(
            abs(float(exact.profit.sum())), 1e-9
        )
    return totals


def _build_units(
    forecasts: pl.DataFrame,
    panel: pl.DataFrame,
    articles: pl.DataFrame,
    stock: pl.DataFrame,
    config: MarkdownConfig,
    business: BusinessConfig,
    stores: pl.DataFrame | None,
    prices: pl.DataFrame | None,
) -> tuple[_Units, list[str]]:
    first: date = forecasts["week"].cast(pl.Date).min()  # type: ignore[assignment]
    weeks = [first + timedelta(weeks=k) for k in range(config.weeks)]
    catalogue = _catalogue(panel, articles, config, business, first, weeks[-1] + timedelta(days=6))
    clusters = _clusters(stores, config)
    rows = _with_cluster(
        forecasts.filter(pl.col("article_id").is_in(catalogue["article_id"].implode())), clusters
    )
    last_price = _last_prices(panel)
    keys = rows.select(UNIT).unique().sort(UNIT).join(catalogue, on="article_id", how="inner")
    grid = keys.select(UNIT).join(pl.DataFrame({"week": weeks}), how="cross")
    base, assumed_price = _base_demand(rows, grid, last_price)
    keys = keys.join(_stock(stock, clusters, rows), on=UNIT, how="left").with_columns(
        pl.col("stock").fill_null(0.0)
    )
    keys = (
        keys.join(last_price, on="article_id", how="left")
        .with_columns(pl.col("last_price").fill_null(pl.col("list_price")))
        .sort(UNIT)
    )
    list_price = keys["list_price"].to_numpy().astype(float)[:, None]
    current = np.clip(1.0 - keys["last_price"].to_numpy().astype(float) / list_price[:, 0], 0.0, 0.95)
    assumed = np.clip(1.0 - assumed_price.reshape(keys.height, len(weeks)) / list_price, 0.0, 0.95)
    planned = _planned(prices, grid, clusters, keys, current, len(weeks))
    warnings = []
    missing = sorted(set(config.articles) - set(keys["article_id"].to_list()))
    if missing:
        warnings.append(f"named markdown article(s) without forecasts, not planned: {missing[:5]}")
    return _Units(keys, weeks, base, assumed, current, planned), warnings


def _catalogue(
    panel: pl.DataFrame,
    articles: pl.DataFrame,
    config: MarkdownConfig,
    business: BusinessConfig,
    first: date,
    last: date,
) -> pl.DataFrame:
    """article_id, list_price, unit_cost, salvage, end_date, group of the articles to plan."""
    if "end_date" not in articles.columns and not config.articles:
        msg = "the articles table has no end_date, so no season end is known"
        raise InputError(
            msg, file="articles", column="end_date", fix="add end_date or name [markdown] articles"
        )
    cols = articles.columns
    panel_list = panel.group_by("article_id").agg(
        pl.col("list_price").max().alias("_panel_list"),
        pl.col("week").min().cast(pl.Date).alias("_first_week"),
    )
    frame = articles.join(panel_list, on="article_id", how="left").with_columns(
        pl.coalesce(*([pl.col("list_price")] if "list_price" in cols else []), pl.col("_panel_list"))
        .cast(pl.Float64)
        .fill_null(business.default_price)
        .alias("list_price"),
        (pl.col("end_date").cast(pl.Date) if "end_date" in cols else pl.lit(last, pl.Date)).alias("end_date"),
        (pl.col("category").cast(pl.Utf8) if "category" in cols else pl.lit("all")).alias("group"),
        pl.coalesce(
            *([pl.col("launch_date").cast(pl.Date)] if "launch_date" in cols else []),
            pl.col("_first_week"),
            pl.lit(first),
        ).alias("launch"),
    )
    cost = pl.col("unit_cost").cast(pl.Float64) if "unit_cost" in cols else pl.lit(None, pl.Float64)
    frame = frame.with_columns(
        cost.fill_null(business.unit_cost_ratio * pl.col("list_price")).alias("unit_cost")
    )
    salvage = (
        pl.col("salvage_value").cast(pl.Float64) if "salvage_value" in cols else pl.lit(None, pl.Float64)
    )
    frame = frame.with_columns(salvage.fill_null(config.salvage_ratio * pl.col("unit_cost")).alias("salvage"))
    # without a catalogue end of sale only the named articles are planned, to the horizon's end
    ending = pl.col("end_date").is_between(first, last) if "end_date" in cols else pl.lit(False)
    named = pl.col("article_id").is_in(pl.Series(config.articles, dtype=pl.Utf8).implode())
    frame = frame.filter(ending | named).with_columns(
        pl.when(ending).then(pl.col("end_date")).otherwise(pl.max_horizontal("end_date", pl.lit(last)))
    )
    return frame.select("article_id", "list_price", "unit_cost", "salvage", "end_date", "launch", "group")


def _clusters(stores: pl.DataFrame | None, config: MarkdownConfig) -> pl.DataFrame | None:
    """store_id -> cluster (None: chain-wide)."""
    if config.level == "chain":
        return None
    if stores is None or "cluster" not in stores.columns:
        msg = '`markdown.level = "cluster"` needs the stores\' cluster'
        raise InputError(
            msg, file="stores", column="cluster", fix='add a cluster column or set level = "chain"'
        )
    return stores.select(pl.col("store_id").cast(pl.Utf8), pl.col("cluster").cast(pl.Utf8).fill_null(ALL))


def _with_cluster(frame: pl.DataFrame, clusters: pl.DataFrame | None) -> pl.DataFrame:
    if clusters is None:
        return frame.with_columns(pl.lit(ALL).alias("cluster"))
    joined = frame.join(clusters, on="store_id", how="left")
    return joined.with_columns(pl.col("cluster").fill_null(ALL))


def _last_prices(panel: pl.DataFrame) -> pl.DataFrame:
    """The article's last known price: the mean over its stores in its last priced week."""
    priced = panel.filter(pl.col("price").is_not_null() & (pl.col("price") > 0))
    last = priced.group_by("article_id").agg(pl.col("week").max().alias("_last"))
    return (
        priced.join(last, on="article_id")
        .filter(pl.col("week") == pl.col("_last"))
        .group_by("article_id")
        .agg(pl.col("price").mean().alias("last_price"))
    )


def _base_demand(
    rows: pl.DataFrame, grid: pl.DataFrame, last_price: pl.DataFrame
) -> tuple[DemandDistribution, np.ndarray]:
    """One distribution per unit × week of `grid` and the price its rows assumed."""
    qcols = list(quantile_columns(rows.columns))
    price = pl.col("price").cast(pl.Float64) if "price" in rows.columns else pl.lit(None, pl.Float64)
    rows = rows.join(last_price, on="article_id", how="left").with_columns(
        price.fill_null(pl.col("last_price")).alias("_assumed"), pl.col("week").cast(pl.Date)
    )
    deviations = [
        ((pl.col(q) - pl.col("mean")).sum().sign() * ((pl.col(q) - pl.col("mean")) ** 2).sum().sqrt()).alias(
            q
        )
        for q in qcols
    ]
    pooled = rows.group_by([*UNIT, "week"]).agg(pl.col("mean").sum(), *deviations, pl.col("_assumed").mean())
    pooled = pooled.with_columns([(pl.col("mean") + pl.col(q)).clip(lower_bound=0.0).alias(q) for q in qcols])
    full = grid.join(pooled, on=[*UNIT, "week"], how="left").sort([*UNIT, "week"])
    full = full.with_columns(
        pl.col("mean").fill_null(0.0),
        pl.col("_assumed").fill_null(strategy="forward").fill_null(strategy="backward").over(UNIT),
    )
    return DemandDistribution.from_frame(full), full["_assumed"].fill_null(0.0).to_numpy().astype(float)


def _stock(stock: pl.DataFrame, clusters: pl.DataFrame | None, rows: pl.DataFrame) -> pl.DataFrame:
    """Units per unit: its stores' stock, plus the DC and in-transit units split by forecast demand."""
    frame = stock.select("article_id", pl.col("store_id").cast(pl.Utf8), pl.col("units").cast(pl.Float64))
    in_store = frame.filter(pl.col("store_id").is_not_null() & (pl.col("store_id") != "DC"))
    central = frame.filter(pl.col("store_id").is_null() | (pl.col("store_id") == "DC"))
    stores_part = _with_cluster(in_store, clusters).group_by(UNIT).agg(pl.col("units").sum())
    share = (
        rows.group_by(UNIT)
        .agg(pl.col("mean").sum())
        .with_columns((pl.col("mean") / pl.col("mean").sum().over("article_id")).fill_nan(0.0).alias("share"))
    )
    dc = central.group_by("article_id").agg(pl.col("units").sum().alias("dc"))
    split = share.join(dc, on="article_id").select(*UNIT, (pl.col("dc") * pl.col("share")).alias("units"))
    return pl.concat([stores_part, split]).group_by(UNIT).agg(pl.col("units").sum().alias("stock"))


def _planned(
    prices: pl.DataFrame | None,
    grid: pl.DataFrame,
    clusters: pl.DataFrame | None,
    keys: pl.DataFrame,
    current: np.ndarray,
    n_weeks: int,
) -> np.ndarray:
    """Discount of the current plan per unit × week: the planned prices where given, else the current one."""
    held = np.repeat(current[:, None], n_weeks, axis=1)
    if prices is None or prices.height == 0:
        return held
    frame = prices.select(
        "article_id", pl.col("store_id").cast(pl.Utf8), pl.col("week").cast(pl.Date), "price"
    )
    chain = frame.filter(pl.col("store_id") == ALL).drop("store_id")
    stores = _with_cluster(frame.filter(pl.col("store_id") != ALL), clusters)
    by_unit = stores.group_by([*UNIT, "week"]).agg(pl.col("price").mean().alias("_unit_price"))
    full = grid.join(by_unit, on=[*UNIT, "week"], how="left").join(
        chain.rename({"price": "_chain_price"}), on=["article_id", "week"], how="left"
    )
    full = full.sort([*UNIT, "week"]).join(keys.select(*UNIT, "list_price"), on=UNIT, how="left")
    price = pl.coalesce("_unit_price", "_chain_price") / pl.col("list_price")
    given = full.select((1.0 - price).clip(0.0, 0.95))[:, 0].to_numpy().astype(float).reshape(-1, n_weeks)
    for t in range(1, n_weeks):  # a week without a planned price keeps the one planned before it
        given[:, t] = np.where(np.isnan(given[:, t]), given[:, t - 1], given[:, t])
    return np.where(np.isnan(given), held, given)


def _frames(
    units: _Units,
    solved: tuple[MarkdownProblem, PlanResult, Outcome] | None,
    beta: np.ndarray,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``markdowns`` (unit × week) and ``summary`` (unit) frames; empty ones with their columns."""
    grid = units.keys.select(UNIT).join(
        pl.DataFrame({"week": units.weeks}, schema={"week": pl.Date}), how="cross"
    )
    if solved is None:
        markdowns = grid.with_columns([pl.lit(None, pl.Float64).alias(c) for c in MARKDOWN_COLUMNS[3:]])
        summary = units.keys.select(UNIT).with_columns(
            [pl.lit(None, pl.Float64).alias(c) for c in SUMMARY_COLUMNS[2:]]
        )
        return markdowns, summary
    problem, result, planned = solved
    discount = problem.discounts[result.levels]
    planned_price = np.round(problem.list_price[:, None] * (1.0 - units.planned), 2)
    columns = {
        "discount": 100.0 * discount,
        "price": problem.prices(result.levels),
        "expected_units": result.outcome.units,
        "expected_revenue": result.outcome.revenue,
        "expected_leftover_end": result.outcome.stock_end,
        "current_discount": 100.0 * units.planned,
        "current_price": planned_price,
        "current_expected_units": planned.units,
        "current_expected_revenue": planned.revenue,
        "current_expected_leftover_end": planned.stock_end,
    }
    markdowns = grid.with_columns(
        [pl.Series(k, np.round(v, 2).ravel(), dtype=pl.Float64) for k, v in columns.items()]
    )
    open_weeks = pl.Series("_open", problem.open_weeks.ravel())
    markdowns = markdowns.filter(open_weeks).select(MARKDOWN_COLUMNS)
    moved = np.diff(np.column_stack([problem.level, result.levels]), axis=1) > 0
    first_step = np.where(moved.any(axis=1), moved.argmax(axis=1), -1)
    summary = units.keys.select(UNIT).with_columns(
        pl.Series("stock_units", problem.stock),
        pl.Series("elasticity", beta),
        pl.Series("season_weeks_left", problem.open_weeks.sum(axis=1)),
        pl.Series(
            "first_markdown_week", [units.weeks[i] if i >= 0 else None for i in first_step], dtype=pl.Date
        ),
        pl.Series("final_discount", 100.0 * discount[:, -1]),
        pl.Series("expected_units", result.outcome.units.sum(axis=1)),
        pl.Series("expected_leftover_end", result.outcome.stock_end[:, -1]),
        pl.Series("expected_profit", result.outcome.profit),
        pl.Series("current_expected_units", planned.units.sum(axis=1)),
        pl.Series("current_expected_leftover_end", planned.stock_end[:, -1]),
        pl.Series("current_expected_profit", planned.profit),
    )
    return markdowns, summary.select(SUMMARY_COLUMNS)


MARKDOWN_COLUMNS = [
    "article_id", "cluster", "week", "discount", "price", "expected_units", "expected_revenue",
    "expected_leftover_end", "current_discount", "current_price", "current_expected_units",
    "current_expected_revenue", "current_expected_leftover_end",
]  # fmt: skip
SUMMARY_COLUMNS = [
    "article_id", "cluster", "stock_units", "elasticity", "season_weeks_left", "first_markdown_week",
    "final_discount", "expected_units", "expected_leftover_end", "expected_profit", "current_expected_units",
    "current_expected_leftover_end", "current_expected_profit",
]  # fmt: skip
