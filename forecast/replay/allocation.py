"""Business replay on data whose true demand is known (the synthetic retailer): money, not forecast error.

For each of the last `weeks` weeks of the history (the target week), the origin is the week before. Every
model is fitted on the panel as known at the origin (`forecast.backtest.history_at`: rows with
``week <= origin`` only) and forecasts the target week for the series active at the origin. Then:

Allocation (`replay_allocation`)
    The DC's stock of the week is sent to the stores by three policies reading the same forecast: the
    optimiser (`forecast.allocation.allocate`), the proportional rule and the weeks-of-cover rule. Each store
    starts the week with its stock at the end of the origin week (``Dataset.stock``; returns arriving during
    the week are ignored) and the stores' ``capacity_units``. The week's TRUE demand
    (``Dataset.true_demand``) is then met: `forecast.allocation.evaluate_plan` gives revenue, sales, lost
    sales, leftover, holding cost and profit (`forecast.business.profit`: (price − unit cost)·sales −
    holding_cost − ship_cost, the allocation objective realised). Weeks are replayed independently
    (each from the recorded stock at its origin).

    DC availability: the synthetic stores already hold stock for the coming weeks, so a DC sized on total
    demand would rarely bind. Per article, the DC holds ``dc_share`` (default 0.75) of the week's true
    *shortfall* ``Σ_stores (true demand − on hand)+`` over the forecast store × articles
    (``dc_basis = "need"``), rounded to whole packs; ``dc_basis = "demand"`` uses ``dc_share`` of the total
    true demand instead. Either way the stock cannot cover all demand, and where it goes decides what sells.
    Pack sizes come from ``Dataset.dc_stock`` where it lists the article, else 1. Prices, unit and holding
    costs per unit come from `forecast.costs.attach_costs` at the target week (the planned price of that
    week, the catalogue's unit cost, the pipeline's holding cost ratio × price); shipping is free unless the
    allocation config says otherwise.

    These weeks carry no state from one to the next, and their money is the allocation's own realised
    accounting (`evaluate_plan`, over the forecast store × articles, with the plan's expected profit and the
    profit of shipping nothing beside it); the result is the replay core's `ReplayResult`
    (`forecast.replay.core`), whose week loop with carried stock runs the replenishment replay.

Stocking (`replay_stocking`)
    The newsvendor policy of `forecast.business` (stock = the forecast quantile at the critical fractile) met
    with the true demand instead of the observed (stockout-censored) sales: profit per model, the champion
    against the seasonal naive, and the share of true demand lost to stockouts.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from forecast.allocation import (
    AllocationProblem,
    AllocationResult,
    build_problem,
    evaluate_plan,
    solve_problem,
)
from forecast.allocation.rules import plan_cover, plan_proportional
from forecast.allocation.sources import dc_stock_for_week, store_stock_at, stores_for
from forecast.backtest import history_at
from forecast.business import evaluate_rows
from forecast.config import PipelineConfig
from forecast.contracts import SERIES, WEEKLY_KEY, quantile_columns
from forecast.costs import attach_costs
from forecast.dataset import Dataset
from forecast.errors import ConfigError, InputError
from forecast.models.base import Forecaster
from forecast.replay.core import Progress, ReplayResult, replay_weeks

POLICIES = ("optimiser", "proportional", "cover")
RULES = ("proportional", "cover")
MONEY_COLUMNS = (
    "units_shipped sales_units revenue lost_sales_units lost_sales_cost leftover_units holding_cost "
    "ship_cost cost_of_sales profit"
).split()
WEEK_COLUMNS = [
    *"model policy origin week pairs on_hand_units dc_units true_demand_units".split(),
    *MONEY_COLUMNS,
    "baseline_profit",
    "expected_profit",
]


@dataclass
class StockingResult:
    """Outcome of `replay_stocking`.

    summary: one row per model: newsvendor money against true demand, ``lost_share`` of true demand, and
        ``observed_profit`` (the same policy scored on observed sales outside stockout weeks, as a backtest
        sees it).
    weekly: the same per model × week.
    comparison: one row: champion, baseline, their profits and lost shares, and ``profit_ratio``.
    champion: the champion's name (given, or the best ``observed_profit``).
    """

    summary: pl.DataFrame
    weekly: pl.DataFrame
    comparison: pl.DataFrame
    champion: str


def replay_models(
    config: PipelineConfig,
    names: Sequence[str],
    *,
    lightgbm_params: dict[str, Any] | None = None,
) -> list[Forecaster]:
    """Replay models by registered name (``seasonal_naive``, ``tsb``, ``lightgbm``, ...).

    The replay forecasts one week ahead, so the models are built for a one-week horizon (LightGBM trains
    on horizon-1 rows only); `lightgbm_params` override the ``params`` of the pipeline's
    ``[models.lightgbm]`` (e.g. ``{"num_threads": 1}``).
    """
    from forecast.models import create

    one_week = dataclasses.replace(
        config,
        forecast=dataclasses.replace(config.forecast, horizon=1),
        backtest=dataclasses.replace(config.backtest, horizon=1),
    )
    if lightgbm_params:
        table = config.models.tables.get("lightgbm", {})
        tables = {
            **config.models.tables,
            "lightgbm": {**table, "params": {**table.get("params", {}), **lightgbm_params}},
        }
        one_week = dataclasses.replace(one_week, models=dataclasses.replace(config.models, tables=tables))
    return [create(name, one_week) for name in names]


def _check_inputs(ds: Dataset, models: Sequence[Forecaster]) -> None:
    if ds.true_demand is None or ds.stock is None:
        msg = f"dataset {ds.name!r} has no true demand or no store stock; the replay needs both"
        raise InputError(msg, fix="replay the synthetic retailer (adapter 'simulate')")
    names = [m.name for m in models]
    if not names or len(set(names)) != len(names):
        msg = f"the replay needs at least one model and unique model names, got {names!r}"
        raise ConfigError(msg)


def _week_facts(
    ds: Dataset, panel: pl.DataFrame, active: pl.DataFrame, weeks: tuple[date, date], config: PipelineConfig
) -> pl.DataFrame:
    """Per active series: true demand and observed units of the target week, on hand at the origin, costs."""
    assert ds.true_demand is not None
    assert ds.stock is not None
    origin, target = weeks
    demand = ds.true_demand.filter(pl.col("week") == target).select(
        *SERIES, pl.col("demand").alias("true_demand")
    )
    observed = panel.filter(pl.col("week") == target).select(*SERIES, "units", "censored")
    on_hand = ds.stock.filter(pl.col("week") == origin).select(*SERIES, "on_hand")
    facts = (
        active.join(demand, on=SERIES, how="left")
        .join(observed, on=SERIES, how="left")
        .join(on_hand, on=SERIES, how="left")
        .with_columns(
            pl.col("true_demand", "units", "on_hand").fill_null(0.0),
            pl.col("censored").fill_null(False),
            pl.lit(origin).alias("origin"),
            pl.lit(target).alias("week"),
        )
    )
    return attach_costs(facts, panel, ds.articles, config.business)


def _model_forecast(
    model: Forecaster, hist: pl.DataFrame, origin: date, active: pl.DataFrame
) -> pl.DataFrame:
    """One-week forecast of `model` for the active series; series it skips get a zero forecast."""
    forecast = model.fit(hist, origin).predict(1, active)
    quantiles = list(quantile_columns(forecast.columns))
    values = forecast.filter(pl.col("horizon") == 1).select(*SERIES, "mean", *quantiles)
    grid = active.join(values.unique(SERIES, keep="first"), on=SERIES, how="left")
    return grid.with_columns(pl.col("mean", *quantiles).cast(pl.Float64).fill_null(0.0))


def replay_forecasts(
    ds: Dataset,
    panel: pl.DataFrame | pl.LazyFrame,
    models: Sequence[Forecaster],
    config: PipelineConfig,
    *,
    weeks: int = 8,
    progress: Progress | None = None,
) -> pl.DataFrame:
    """Each model's forecast of each replay week from the week before, with the week's facts and unit money.

    Returns one row per model × target week × active series: ``model, origin, week, article_id, store_id,
    mean, q.., true_demand, units`` (observed), ``censored``, ``on_hand`` (at the origin), ``price``,
    ``unit_cost``, ``holding_cost``.
    """
    _check_inputs(ds, models)
    frame = panel.collect() if isinstance(panel, pl.LazyFrame) else panel
    say = progress or (lambda _message: None)
    parts = []
    for origin, target in replay_weeks(frame, weeks):
        hist, active = history_at(frame, origin, config.forecast.active_weeks)
        facts = _week_facts(ds, frame, active, (origin, target), config)
        for model in models:
            say(f"week {target} (origin {origin}, {active.height} series): {model.name}")
            forecast = _model_forecast(model, hist, origin, active)
            parts.append(facts.join(forecast, on=SERIES, how="left").with_columns(model=pl.lit(model.name)))
    out = pl.concat(parts, how="diagonal_relaxed")
    quantiles = list(quantile_columns(out.columns))
    lead = ["model", "origin", "week", *SERIES, "mean", *quantiles, "true_demand", "units", "censored"]
    return out.select(*lead, "on_hand", "price", "unit_cost", "holding_cost").sort("model", "week", *SERIES)


def _plans(problem: AllocationProblem, config: PipelineConfig, cover: float) -> dict[str, AllocationResult]:
    """The three policies' plans of one problem."""
    return {
        "optimiser": solve_problem(problem, config.allocation),
        "proportional": plan_proportional(problem),
        "cover": plan_cover(problem, cover),
    }


def _week_outcomes(
    rows: pl.DataFrame,
    ds: Dataset,
    config: PipelineConfig,
    *,
    dc_share: float,
    dc_basis: str,
    cover: float,
) -> list[dict[str, object]]:
    """Rows of `WEEK_COLUMNS` for one model × week (`rows`: that model's forecast rows of the week)."""
    origin, target, model = rows["origin"][0], rows["week"][0], rows["model"][0]
    dc = dc_stock_for_week(ds, rows, dc_share=dc_share, dc_basis=dc_basis)
    forecast = rows.select(*WEEKLY_KEY, "model", "mean", *quantile_columns(rows.columns))
    actual = rows.select(*SERIES, pl.col("true_demand").alias("units"))
    stock = store_stock_at(ds, origin)  # every article on the shelves at the origin takes space
    stores = stores_for(ds, forecast, dc, stock)
    problem = build_problem(forecast, dc, stores, stock, config.allocation)
    out = []
    for policy, result in _plans(problem, config, cover).items():
        money = evaluate_plan(result, actual, problem)
        baseline = evaluate_plan(result.plan.clear(), actual, problem)
        out.append(
            {
                "model": model,
                "policy": policy,
                "origin": origin,
                "week": target,
                "pairs": problem.n_pairs,
                "on_hand_units": float(problem.pair_on_hand.sum()),
                "dc_units": float(dc["available_units"].sum()),
                "true_demand_units": money["sales_units"] + money["lost_sales_units"],
                **{c: money[c] for c in MONEY_COLUMNS},
                "baseline_profit": baseline["profit"],
                "expected_profit": result.expected_profit,
            }
        )
    return out


def replay_allocation(
    ds: Dataset,
    panel: pl.DataFrame | pl.LazyFrame,
    models: Sequence[Forecaster],
    config: PipelineConfig,
    *,
    weeks: int = 8,
    progress: Progress | None = None,
    forecasts: pl.DataFrame | None = None,
    dc_share: float = 0.75,
    dc_basis: str = "need",
    cover: float = 2.0,
) -> ReplayResult:
    """Replay the last `weeks` weeks: allocate from each model's forecast by each policy, meet true demand.

    Parameters
    ----------
    ds
        The dataset with ``true_demand`` and ``stock`` (the synthetic retailer).
    panel
        `forecast.panel.build_panel(ds)`.
    models
        The forecasters to compare (unique names).
    config
        Pipeline config: ``forecast.active_weeks``, ``business`` costs and the ``allocation`` settings.
    weeks
        How many final weeks to replay.
    progress
        Called with a line per model × week.
    forecasts
        Output of `replay_forecasts` to reuse (skips fitting).
    dc_share, dc_basis
        DC availability per article and week (see the module docstring).
    cover
        Weeks of cover of the cover rule.
    """
    if forecasts is None:
        forecasts = replay_forecasts(ds, panel, models, config, weeks=weeks, progress=progress)
    else:
        _check_inputs(ds, models)
    rows: list[dict[str, object]] = []
    for (_model, _week), group in forecasts.group_by("model", "week", maintain_order=True):
        rows += _week_outcomes(group, ds, config, dc_share=dc_share, dc_basis=dc_basis, cover=cover)
    weekly = pl.DataFrame(rows).select(WEEK_COLUMNS).sort("model", "week", "policy")
    return ReplayResult(weekly=weekly, summary=summarise_allocation(weekly), forecasts=forecasts)


def _ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    return pl.when(denominator > 0).then(numerator / denominator).otherwise(None)


def summarise_allocation(weekly: pl.DataFrame) -> pl.DataFrame:
    """Totals per model × policy over the replay weeks, the lost share and the ratios to the better rule."""
    sums = ["pairs", "on_hand_units", "dc_units", "true_demand_units", *MONEY_COLUMNS]
    sums += ["baseline_profit", "expected_profit"]
    totals = weekly.group_by("model", "policy", maintain_order=True).agg(
        pl.len().alias("weeks"), *[pl.col(c).sum() for c in sums]
    )
    totals = totals.with_columns(
        _ratio(pl.col("lost_sales_units"), pl.col("true_demand_units")).alias("lost_share"),
        (pl.col("profit") - pl.col("baseline_profit")).alias("shipped_profit"),
        (pl.col("expected_profit") - pl.col("baseline_profit")).alias("_expected_shipped"),
    )
    best = (
        totals.filter(pl.col("policy").is_in(RULES))
        .group_by("model")
        .agg(
            pl.col("profit").max().alias("_best_profit"),
            pl.col("expected_profit").max().alias("_best_expected"),
            pl.col("shipped_profit").max().alias("_best_shipped"),
        )
    )
    order = {p: i for i, p in enumerate(POLICIES)}
    return (
        totals.join(best, on="model", how="left")
        .with_columns(
            _ratio(pl.col("profit"), pl.col("_best_profit")).alias("profit_vs_best_rule"),
            _ratio(pl.col("expected_profit"), pl.col("_best_expected")).alias("expected_vs_best_rule"),
            _ratio(pl.col("shipped_profit"), pl.col("_best_shipped")).alias("shipped_vs_best_rule"),
            pl.col("policy").replace_strict(order, return_dtype=pl.Int32).alias("_order"),
        )
        .sort("model", "_order")
        .drop("_order", "_expected_shipped", "_best_profit", "_best_expected", "_best_shipped")
    )


def _stocking_rows(forecasts: pl.DataFrame) -> pl.DataFrame:
    """Newsvendor outcome per row against true demand, and the observed-sales profit a backtest scores."""
    true_rows = evaluate_rows(forecasts, target_col="true_demand")
    observed = evaluate_rows(forecasts, target_col="units").select(
        pl.when(~pl.col("censored")).then(pl.col("profit")).otherwise(0.0).alias("observed_profit")
    )
    return pl.concat([true_rows, observed], how="horizontal")


def _stocking_totals(rows: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    totals = rows.group_by(by, maintain_order=True).agg(
        pl.col("true_demand").clip(lower_bound=0.0).sum().alias("true_demand_units"),
        pl.col("stock_units").sum(),
        pl.col("sales_units").sum(),
        pl.col("revenue").sum(),
        pl.col("lost_sales_units").sum(),
        pl.col("lost_sales_cost").sum(),
        pl.col("overstock_units").sum().alias("leftover_units"),
        pl.col("holding_cost_total").sum().alias("holding_cost"),
        pl.col("profit").sum(),
        pl.col("observed_profit").sum(),
    )
    return totals.with_columns(
        _ratio(pl.col("lost_sales_units"), pl.col("true_demand_units")).alias("lost_share")
    ).sort(by)


def replay_stocking(
    ds: Dataset,
    panel: pl.DataFrame | pl.LazyFrame,
    models: Sequence[Forecaster],
    config: PipelineConfig,
    *,
    weeks: int = 8,
    progress: Progress | None = None,
    forecasts: pl.DataFrame | None = None,
    champion: str | None = None,
    baseline: str = "seasonal_naive",
) -> StockingResult:
    """Stock each series at each model's critical-fractile quantile and meet the TRUE demand of the week.

    The champion is `champion` if given, else the model with the best ``observed_profit`` (what a backtest on
    observed, censored sales would pick); it is compared with `baseline`, which must be among the models.
    """
    if forecasts is None:
        forecasts = replay_forecasts(ds, panel, models, config, weeks=weeks, progress=progress)
    names = forecasts.get_column("model").unique().sort().to_list()
    for name in (baseline, champion):
        if name is not None and name not in names:
            msg = f"model {name!r} is not among the replayed models {names}"
            raise ConfigError(msg)
    rows = _stocking_rows(forecasts)
    summary = _stocking_totals(rows, ["model"])
    weekly = _stocking_totals(rows, ["model", "week"])
    if champion is None:
        champion = str(summary.sort("observed_profit", descending=True)["model"][0])
    return StockingResult(summary, weekly, _comparison(summary, champion, baseline), champion)


def _comparison(summary: pl.DataFrame, champion: str, baseline: str) -> pl.DataFrame:
    def row(name: str) -> dict[str, float]:
        return summary.filter(pl.col("model") == name).row(0, named=True)

    best, base = row(champion), row(baseline)
    ratio = best["profit"] / base["profit"] if base["profit"] > 0 else math.nan
    return pl.DataFrame(
        {
            "champion": [champion],
            "baseline": [baseline],
            "champion_profit": [best["profit"]],
            "baseline_profit": [base["profit"]],
            "profit_ratio": [ratio],
            "profit_gain": [best["profit"] - base["profit"]],
            "champion_lost_share": [best["lost_share"]],
            "baseline_lost_share": [base["lost_share"]],
            "true_demand_units": [best["true_demand_units"]],
        }
    )
