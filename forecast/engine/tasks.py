"""What the workers run: per part of the articles, the stages of one fold (or of the final fit), and the one
task that trains a global model on the rows every part sampled.

Per-series models (``Forecaster.scope == "series"``) are fitted on the part's history and scored there. A
global model (LightGBM, alone or in the blend) is fitted in four steps: each part's history at the origin is
summarised (category × store totals, holiday weeks, store and category codes: `fold_summary`), the client
adds the summaries up (`FoldContext.combine`), each part builds its feature matrix with the whole run's
totals and counts its candidate training rows (`global_matrix`), each part draws its training rows with the
run's sampling share (`global_rows`, a seeded hash per row, so the rows drawn do not depend on the split),
the rows are put together once (`global_rows_set`) and each booster (mean, each quantile, the calibration)
is a task of its own (`global_booster`), so a fold's boosters train on several workers at once;
`global_train` hands them to the model: the one the single-machine run fits.
Each part then predicts with it from its own matrix (`global_predict`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import polars as pl

from forecast.backtest import Fold, ScoredGroup, fold_data, history_at, score_groups, scored_rows
from forecast.censoring import uncensor
from forecast.config import PipelineConfig
from forecast.engine.parts import Part
from forecast.features.hierarchy import add_totals, group_totals
from forecast.features.launch import LaunchInputs, launch_inputs
from forecast.features.matrix import SeriesMatrix, holiday_weeks
from forecast.models.base import Forecaster
from forecast.models.blend import BlendForecaster
from forecast.models.coldstart import ColdStartForecaster
from forecast.models.lgbm import LightGBMForecaster, TrainingSet, category_codes
from forecast.models.oracle import build_oracle
from forecast.panel import sale_ends
from forecast.prices import price_plan, with_plan_price

Scored = tuple[pl.DataFrame, int]
Booster = Any  # a lightgbm.Booster, or the calibration's offsets


def global_component(model: Forecaster) -> LightGBMForecaster | None:
    """The part of `model` that learns across series, fitted in parts; None for a per-series model."""
    if isinstance(model, LightGBMForecaster):
        return model
    if isinstance(model, BlendForecaster) and isinstance(model.global_model, LightGBMForecaster):
        return model.global_model
    return None


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


@dataclass(frozen=True)
class FoldContext:
    """The run's totals, holidays and codes at one origin: the reduce step of the parts' summaries."""

    totals: pl.DataFrame
    holidays: tuple[date, ...]
    codes: dict[str, dict[str, int]]

    @classmethod
    def combine(cls, parts: list[FoldSummary]) -> FoldContext:
        keys = pl.concat([p.codes for p in parts]).unique()
        holidays = tuple(sorted({w for p in parts for w in p.holidays}))
        return cls(add_totals([p.totals for p in parts]), holidays, category_codes(keys))


def global_matrix(model: LightGBMForecaster, data: Fold, ctx: FoldContext) -> tuple[int, SeriesMatrix | None]:
    """The part's feature matrix with the run's totals, and its candidate training rows."""
    if data.history.height == 0:
        return 0, None
    m = model.part_matrix(data.history, data.origin, ctx.totals, ctx.holidays)
    return model.candidate_rows(m), m


def candidates(counted: tuple[int, SeriesMatrix | None]) -> int:
    return counted[0]


def global_rows(
    model: LightGBMForecaster, counted: tuple[int, SeriesMatrix | None], keep: float, ctx: FoldContext
) -> pl.DataFrame:
    """The part's sampled training rows."""
    _, m = counted
    if m is None:
        return pl.DataFrame()
    return model.clone().training_part(m, keep, ctx.codes)


def global_rows_set(
    model: LightGBMForecaster, origin: date, ctx: FoldContext, *parts: pl.DataFrame
) -> tuple[LightGBMForecaster, TrainingSet]:
    """Every part's rows put together as the boosters' inputs, and the model (no boosters yet) they train."""
    frames = [p for p in parts if p.height]
    rows = pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()
    shell = model.clone()
    return shell, shell.training_set(rows, origin, ctx.codes)


def global_booster(
    prepared: tuple[LightGBMForecaster, TrainingSet], job: str, start: Booster | None = None
) -> Booster:
    """One of the global model's boosters (or its calibration), trained on all the parts' rows; `start` is
    the booster it continues (`LightGBMForecaster.starts_from`)."""
    shell, rows = prepared
    return shell.train_job(rows, job, start=start)


def global_train(
    prepared: tuple[LightGBMForecaster, TrainingSet], jobs: list[str], *boosters: Booster
) -> LightGBMForecaster:
    """The global model holding its boosters (no matrix): what `LightGBMForecaster.fit_rows` returns."""
    shell, _ = prepared
    return copy.copy(shell).with_boosters(dict(zip(jobs, boosters, strict=True)))


def global_view(
    model: Forecaster,
    trained: LightGBMForecaster,
    counted: tuple[int, SeriesMatrix | None],
    data: Fold,
    start: date,
) -> Forecaster:
    """`model` fitted for the part: the trained global model reading the part's matrix (and, for the
    blend, the local model fitted on the part's history)."""
    _, m = counted
    view = trained.with_matrix(m, data.origin) if m is not None else trained
    if isinstance(model, BlendForecaster):
        return model.assembled(view, data.history, data.origin, start).with_prices(data.plan)
    return view.with_prices(data.plan)


def global_scores(
    model: Forecaster,
    trained: LightGBMForecaster,
    counted: tuple[int, SeriesMatrix | None],
    data: Fold,
    part: Part,
    config: PipelineConfig,
    start: date,
) -> list[Scored]:
    """The global model's scored rows on the part's fold."""
    if data.active.height == 0 or counted[1] is None:
        return []
    view = global_view(model, trained, counted, data, start)
    raw = view.predict(config.backtest_horizon, data.active)
    return [scored_rows(data, raw, model.name, sale_ends(part.ds))]


def global_predict(
    model: Forecaster,
    trained: LightGBMForecaster,
    counted: tuple[int, SeriesMatrix | None],
    data: Fold,
    horizon: int,
    start: date,
) -> pl.DataFrame:
    """The global champion's raw forecasts of the part's active series."""
    if data.active.height == 0 or counted[1] is None:
        return pl.DataFrame()
    raw = global_view(model, trained, counted, data, start).predict(horizon, data.active)
    return with_plan_price(raw, data.plan)


# ---------------------------------------------------------------------------- cold start in parts


def first_week(data: Fold) -> date | None:
    """The part's first history week (the run's is the least of the parts')."""
    week = data.history["week"].min() if data.history.height else None
    return week if isinstance(week, date) else None


def launch_part(
    model: ColdStartForecaster, data: Fold, articles: pl.DataFrame, start: date | None
) -> LaunchInputs:
    """The part's launches and launch grid up to the origin (`forecast.features.launch.launch_inputs`)."""
    return launch_inputs(data.history, data.origin, articles, int(model._param("weeks")), start)


def cold_design(
    model: ColdStartForecaster,
    origin: date,
    articles: pl.DataFrame,
    trends: pl.DataFrame | None,
    *parts: LaunchInputs,
) -> tuple[ColdStartForecaster, np.ndarray, np.ndarray]:
    """The cold-start model (no boosters yet) and its training arrays, from every part's launches."""
    shell = model.clone()
    inputs = LaunchInputs.concat(list(parts))
    features, units = shell.launch_design(inputs, origin, articles=articles, trends=trends)
    return shell, features, units


def cold_week(design: tuple[ColdStartForecaster, np.ndarray, np.ndarray], week: int) -> Any:
    """The cold-start boosters of one week from launch."""
    shell, features, units = design
    return shell.train_week(features, units, week)


def cold_predict(
    design: tuple[ColdStartForecaster, np.ndarray, np.ndarray],
    launches: pl.DataFrame,
    horizon: int,
    *weeks: Any,
) -> pl.DataFrame:
    """The cold-start model holding every week's boosters; its raw forecasts of the new articles."""
    fitted = copy.copy(design[0])
    fitted.models_ = list(weeks)
    return fitted.predict(horizon, launches)


def cold_start(
    model: ColdStartForecaster,
    origin: date,
    articles: pl.DataFrame,
    trends: pl.DataFrame | None,
    launches: pl.DataFrame,
    horizon: int,
    *parts: LaunchInputs,
) -> pl.DataFrame:
    """The cold-start model fitted on every part's launches in one task (a model that adds to
    `ColdStartForecaster.fit_launches`, e.g. a calibrated one); its raw forecasts of the new articles."""
    inputs = LaunchInputs.concat(list(parts))
    fitted = model.clone()
    # its weeks train in as many threads as the worker has (not one per core of the machine)
    fitted.params = {**(fitted.params or {}), "jobs": worker_threads()}
    fitted.fit_launches(inputs, origin, articles=articles, trends=trends)
    return fitted.predict(horizon, launches)


def worker_threads() -> int:
    """The threads of the Dask worker running the calling task (1 outside a worker)."""
    from distributed import get_worker

    try:
        return max(int(get_worker().state.nthreads), 1)
    except ValueError:  # not in a worker
        return 1
