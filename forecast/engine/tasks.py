"""What the workers run: per part of the articles, the stages of one fold (or of the final fit), and the one
task that trains a global model on the rows every part sampled.

Per-series models (``Forecaster.learns_across_series`` False) are fitted on the part's history and scored
there. A model that learns across series is fitted through the steps it declares
(`forecast.models.base.FitsInParts`), asked in this order: each part's history at the origin is summarised
(category × store totals, holiday weeks, store and category keys: `fold_summary`) and the summaries are added
up into the run's `PartContext` (`combine`); each part builds its features and counts its candidate
training rows (`global_features`); each part draws its training rows with the run's sampling share
(`global_rows`); the rows are put together once (`global_training`) and each sub-fit the model lists is a
task of its own (`global_sub_fit`), so a fold's boosters train on several workers at once; `global_assemble`
asks the model to put them together: the model the single-machine run fits. Each part then predicts with
it from its own features (`global_predict`). The cold-start model is fitted the same way through
`forecast.models.base.LaunchFitsInParts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from forecast.backtest import Fold, ScoredGroup, fold_data, history_at, score_groups, scored_rows
from forecast.censoring import uncensor
from forecast.config import PipelineConfig
from forecast.engine.parts import Part
from forecast.features.hierarchy import add_totals, group_totals
from forecast.features.launch import LaunchInputs, launch_inputs
from forecast.features.matrix import holiday_weeks
from forecast.models.base import FitsInParts, Forecaster, LaunchFitsInParts, LaunchForecaster, PartContext
from forecast.models.oracle import build_oracle
from forecast.panel import sale_ends
from forecast.prices import price_plan, with_plan_price

Scored = tuple[pl.DataFrame, int]
PartModel = FitsInParts[Any, Any]
Counted = tuple[int, Any]  # a part's candidate training rows and its features (None: no history)


# ---------------------------------------------------------------------------- one part at one origin


def fold_part(part: Part, fold: int, origin: date, config: PipelineConfig, scored: bool) -> Fold:
    """The part's history at `origin` and its active series (with the scored grid for a backtest fold)."""
    ends = sale_ends(part.ds)
    if scored:
        return fold_data(part.panel, fold, origin, config, part.ds, ends)
    hist, active = history_at(part.panel, origin, config.forecast.active_weeks, ends)
    plan = price_plan(hist, part.ds.prices, origin, config.forecast.horizon, active, ends)
    return Fold(fold, origin, uncensor(hist, config.demand), active, pl.DataFrame(), plan)


def local_scores(part: Part, data: Fold, models: list[Forecaster], config: PipelineConfig) -> list[Scored]:
    """Per-series models (and the oracle, when the data has the true demand) scored on the part's fold."""
    if data.active.height == 0:
        return []
    oracle = build_oracle(part.ds.true_demand, config.forecast.quantiles)
    scored = [*models, *([oracle] if oracle is not None else [])]
    ends = sale_ends(part.ds)
    out = []
    for model in scored:
        fitted = model.fit(data.history, data.origin, articles=part.ds.articles, exog=part.ds.exog)
        fitted = fitted.with_prices(data.plan)
        out.append(scored_rows(data, fitted.predict(config.backtest_horizon, data.active), model.name, ends))
    return out


def local_predict(part: Part, data: Fold, model: Forecaster, horizon: int) -> pl.DataFrame:
    """A per-series champion fitted on the part's whole history; its raw forecasts of the active series."""
    if data.active.height == 0:
        return pl.DataFrame()
    fitted = model.fit(data.history, data.origin, articles=part.ds.articles, exog=part.ds.exog)
    return with_plan_price(fitted.with_prices(data.plan).predict(horizon, data.active), data.plan)


def fold_groups(*results: list[Scored]) -> list[ScoredGroup]:
    """One fold's scored rows of every part and model put together per model, with their metrics."""
    return score_groups([scored for result in results for scored in result])


# ---------------------------------------------------------------------------- a global model in parts


@dataclass
class FoldSummary:
    totals: pl.DataFrame
    holidays: list[date]
    codes: pl.DataFrame


def fold_summary(data: Fold) -> FoldSummary:
    """What the global model needs from the part's history: exact totals, holiday weeks, store/category."""
    hist = data.history.filter(pl.col("week") <= data.origin)
    if "category" not in hist.columns:
        hist = hist.with_columns(pl.lit(None, pl.Utf8).alias("category"))
    keys = hist.select(pl.col("store_id").cast(pl.Utf8), pl.col("category").cast(pl.Utf8)).unique()
    return FoldSummary(group_totals(hist, exact=True), holiday_weeks(hist), keys)


def combine(*parts: FoldSummary) -> PartContext:
    """The run's totals, holidays and keys at one origin: the reduce step of the parts' summaries."""
    keys = pl.concat([p.codes for p in parts]).unique()
    holidays = tuple(sorted({w for p in parts for w in p.holidays}))
    return PartContext(add_totals([p.totals for p in parts]), holidays, keys)


def global_features(model: PartModel, data: Fold, ctx: PartContext) -> Counted:
    """The part's features with the run's totals, and its candidate training rows."""
    if data.history.height == 0:
        return 0, None
    features = model.part_features(data.history, data.origin, ctx)
    return model.candidate_rows(features), features


def candidates(counted: Counted) -> int:
    return counted[0]


def sample_share(model: PartModel, *counts: int) -> float:
    return float(model.sample_share(sum(counts)))


def global_rows(model: PartModel, counted: Counted, share: float, ctx: PartContext) -> pl.DataFrame:
    """The part's sampled training rows."""
    _, features = counted
    if features is None:
        return pl.DataFrame()
    return model.part_rows(features, share, ctx)


def global_training(model: PartModel, origin: date, ctx: PartContext, *parts: pl.DataFrame) -> Any:
    """Every part's rows put together as the model's training set."""
    frames = [p for p in parts if p.height]
    rows = pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()
    return model.training_set(rows, origin, ctx)


def global_sub_fit(model: PartModel, training: Any, job: str, start: Any = None) -> Any:
    """One of the model's sub-fits on every part's rows (`start`: the one it continues)."""
    return model.fit_sub(training, job, start)


def global_assemble(
    model: PartModel, training: Any, origin: date, first_week: date, jobs: list[str], *results: Any
) -> PartModel:
    """The model fitted from its sub-fits (it reads no part's features yet)."""
    fitted = model.assemble(training, dict(zip(jobs, results, strict=True)), origin, first_week)
    assert isinstance(fitted, FitsInParts)
    return fitted


def global_scores(
    trained: PartModel, counted: Counted, data: Fold, part: Part, config: PipelineConfig
) -> list[Scored]:
    """The fitted model's scored rows on the part's fold."""
    if data.active.height == 0 or counted[1] is None:
        return []
    view = trained.for_part(counted[1], data.history, data.origin).with_prices(data.plan)
    raw = view.predict(config.backtest_horizon, data.active)
    return [scored_rows(data, raw, view.name, sale_ends(part.ds))]


def global_predict(trained: PartModel, counted: Counted, data: Fold, horizon: int) -> pl.DataFrame:
    """The fitted champion's raw forecasts of the part's active series."""
    if data.active.height == 0 or counted[1] is None:
        return pl.DataFrame()
    view = trained.for_part(counted[1], data.history, data.origin).with_prices(data.plan)
    return with_plan_price(view.predict(horizon, data.active), data.plan)


# ---------------------------------------------------------------------------- cold start in parts


def first_week(data: Fold) -> date | None:
    """The part's first history week (the run's is the least of the parts')."""
    week = data.history["week"].min() if data.history.height else None
    return week if isinstance(week, date) else None


def launch_part(
    model: LaunchFitsInParts, data: Fold, articles: pl.DataFrame, start: date | None
) -> LaunchInputs:
    """The part's launches and launch grid up to the origin (`forecast.features.launch.launch_inputs`)."""
    return launch_inputs(data.history, data.origin, articles, model.launch_weeks(), start)


def cold_design(
    model: LaunchFitsInParts,
    origin: date,
    articles: pl.DataFrame,
    trends: pl.DataFrame | None,
    *parts: LaunchInputs,
) -> Any:
    """The cold-start model's training design from every part's launches."""
    inputs = LaunchInputs.concat(list(parts))
    return model.launch_design(inputs, origin, articles=articles, trends=trends)


def cold_sub_fit(model: LaunchFitsInParts, design: Any, job: int) -> Any:
    """One of the cold-start model's sub-fits (a week from launch)."""
    return model.fit_launch_sub(design, job)


def cold_predict(
    model: LaunchFitsInParts, design: Any, launches: pl.DataFrame, horizon: int, *results: Any
) -> pl.DataFrame:
    """The cold-start model assembled from its sub-fits; its raw forecasts of the new articles."""
    return model.assemble_launches(design, list(results)).predict(horizon, launches)


def cold_start(
    model: LaunchFitsInParts,
    origin: date,
    articles: pl.DataFrame,
    trends: pl.DataFrame | None,
    launches: pl.DataFrame,
    horizon: int,
    *parts: LaunchInputs,
) -> pl.DataFrame:
    """The cold-start model fitted on every part's launches in one task (a model that lists no sub-fits);
    its raw forecasts of the new articles."""
    inputs = LaunchInputs.concat(list(parts))
    assert isinstance(model, LaunchForecaster)
    fresh = model.clone()
    assert isinstance(fresh, LaunchFitsInParts)
    # its weeks train in as many threads as the worker has (not one per core of the machine)
    fitted = fresh.fit_launches(inputs, origin, articles=articles, trends=trends, threads=worker_threads())
    return fitted.predict(horizon, launches)


def worker_threads() -> int:
    """The threads of the Dask worker running the calling task (1 outside a worker)."""
    from distributed import get_worker

    try:
        return max(int(get_worker().state.nthreads), 1)
    except ValueError:  # not in a worker
        return 1
