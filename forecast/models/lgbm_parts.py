"""LightGBM's fit in steps: the training set, the boosters (each its own step) and the quantile calibration.

`LightGBMForecaster.fit` runs these steps one after the other on the whole panel; a partitioned run
(`forecast.engine`) runs them through the `forecast.models.base.FitsInParts` interface the model implements
with them: each article group builds its training rows, the rows are put together once (`training_set`,
in one order, so the parts' rows train exactly the model the whole panel's rows do) and each booster of
`booster_jobs` is a task (`train_job`), after the one `starts_from` names.

The calibration (``calibrate=True``) shifts the quantiles other than q50, in the spirit of conformalized
quantile regression and using only weeks ``<= origin``: the training rows are split at
``cut = origin - calibration_weeks``; the outer-quantile boosters are fitted on rows whose target week is
``<= cut`` and predict the rows whose origin is ``>= cut`` (their targets are still ``<= origin``). For each
level ``q`` and horizon, the offset is the weighted ``q``-quantile of the residual ``y - q_hat`` in scaled
units (weights = training weights): a share ``q`` of held-out actuals falls at or below the shifted
quantile. Horizons with too few calibration rows reuse the previous horizon's offsets (pooled offsets when
even horizon 1 is thin). Quantile boosters fitted on all rows are under-dispersed out of sample, which is
why the calibration exists; it costs one extra fit of the outer-quantile boosters on the older rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import polars as pl

from forecast.contracts import SERIES
from forecast.models.base import quantile_column

if TYPE_CHECKING:
    from forecast.models.lgbm import LightGBMForecaster

QUANTILE_STARTS = ("average", "mean", "median")  # where the quantile boosters start
CATEGORICAL = ["f_store", "f_category"]
MIN_CALIBRATION_ROWS = 50  # pooled calibration rows needed to calibrate at all
MIN_HORIZON_ROWS = 300  # calibration rows needed for a horizon's own offsets
CALIBRATION = "calibration"  # the booster job that computes the quantile offsets
Trained = lgb.Booster | dict[str, np.ndarray] | None


@dataclass(frozen=True)
class TrainingSet:
    """The boosters' inputs (`training_set`): features, scaled target and weights, what the calibration reads
    (scale, baseline; target week, origin, units and horizon in ``held``), and what a fitted model keeps
    (feature names, store and category codes, the origin)."""

    x: np.ndarray
    target: np.ndarray
    weight: np.ndarray
    scale: np.ndarray
    base: np.ndarray
    held: dict[str, np.ndarray]
    feature_names: list[str]
    codes: dict[str, dict[str, int]]
    origin: date

    @property
    def height(self) -> int:
        return len(self.target)


def category_codes(keys: pl.DataFrame) -> dict[str, dict[str, int]]:
    """1-based codes of the stores and categories in `keys`; values unseen later map to missing."""
    out: dict[str, dict[str, int]] = {}
    for col in ("store_id", "category"):
        values = keys.select(pl.col(col).cast(pl.Utf8).fill_null("").unique().sort()).to_series().to_list()
        out[col] = {value: code for code, value in enumerate(values, start=1)}
    return out


def training_set(
    model: LightGBMForecaster, train: pl.DataFrame, origin: date, codes: dict[str, dict[str, int]]
) -> TrainingSet:
    """The boosters' inputs from the training rows of every part (in any order: they are sorted first)."""
    if model.quantile_start not in QUANTILE_STARTS:
        msg = f"`quantile_start` must be one of {list(QUANTILE_STARTS)}, got {model.quantile_start!r}"
        raise ValueError(msg)
    if train.height:
        order = ["origin", "horizon", *SERIES]
        train = train.sort(order, descending=[True, False, False, False])
    if model.target == "residual" and train.height:
        # rows without last year's week would teach corrections of a different baseline
        seasonal = train.filter(pl.col("f_seasonal_52").is_not_nan())
        train = seasonal if seasonal.height else train
    names = [c for c in train.columns if c.startswith("f_")] + ["horizon"]
    if train.height == 0:
        empty = np.zeros(0)
        return TrainingSet(np.zeros((0, len(names))), empty, empty, empty, empty, {}, names, codes, origin)
    scale = train["scale"].to_numpy()
    base = model._base(train)
    target = train["units"].to_numpy() / scale - base
    weight = scale * np.where(train["holiday"].to_numpy(), model.holiday_weight, 1.0)
    held = {
        "week": train["week"].to_numpy(),
        "origin": train["origin"].to_numpy(),
        "units": train["units"].to_numpy(),
        "horizon": train["horizon"].to_numpy(),
    }
    x = train.select(pl.col(names).cast(pl.Float64)).to_numpy()
    return TrainingSet(x, target, weight, scale, base, held, names, codes, origin)


def booster_jobs(model: LightGBMForecaster) -> list[str]:
    """The mean, each quantile, and the calibration; a booster that continues another's comes after it."""
    quantiles = [quantile_column(q) for q in model.levels]
    jobs = ["mean", *sorted(quantiles, key=lambda job: starts_from(model, job) is not None)]
    return [*jobs, CALIBRATION] if model.calibrate else jobs


def starts_from(model: LightGBMForecaster, job: str) -> str | None:
    """The job whose booster `job` continues: the quantiles continue the mean's with
    ``quantile_start="mean"`` (not with ``target="level"``, whose Tweedie mean scores logs), the quantiles
    other than q50 continue q50's with ``"median"``. The calibration fits its own on its older rows."""
    if job in ("mean", CALIBRATION) or model.quantile_start == "average":
        return None
    if model.quantile_start == "mean":
        return "mean" if model.target == "residual" else None
    return None if job == "q50" else "q50"


def fit_boosters(model: LightGBMForecaster, rows: TrainingSet) -> dict[str, Trained]:
    """Every job of `booster_jobs` trained in one process on one binned copy of `rows`."""
    data = dataset(rows) if rows.height else None
    trained: dict[str, Trained] = {}
    scores: dict[str, np.ndarray] = {}  # a start's scores on the rows, once for all that continue it
    for job in booster_jobs(model):
        first = starts_from(model, job)
        start = trained[first] if first is not None else None
        if isinstance(start, lgb.Booster) and first is not None and first not in scores:
            scores[first] = np.asarray(start.predict(rows.x))
        score = scores.get(first) if first is not None else None
        booster = start if isinstance(start, lgb.Booster) else None
        trained[job] = train_job(model, rows, job, data, start=booster, start_score=score)
    return trained


def train_job(
    model: LightGBMForecaster,
    rows: TrainingSet,
    job: str,
    data: lgb.Dataset | None = None,
    *,
    start: lgb.Booster | None = None,
    start_score: np.ndarray | None = None,
) -> Trained:
    """One job of `booster_jobs` (a column's booster, or the calibration's offsets) trained on `rows` (None
    without rows); `data` is `rows` already binned. `start` is the booster of `starts_from(job)`: this one
    learns what to add to its scores (`start_score`, computed when not given) and holds only its own trees."""
    if rows.height == 0:
        return None
    if job == CALIBRATION:
        return calibration(model, rows)
    data = data if data is not None else dataset(rows)
    if job == "mean":
        return lgb.train(model._lgb_params(mean_objective(model, rows), names=rows.feature_names), data)
    first = starts_from(model, job)
    if first is not None and start is None:
        msg = f"the {job} booster continues the {first} booster (`quantile_start`): pass it as `start`"
        raise ValueError(msg)
    level = next(q for q in model.levels if quantile_column(q) == job)
    if first is None or start is None:
        return lgb.train(model._lgb_params("quantile", level), data)
    score = start_score if start_score is not None else np.asarray(start.predict(rows.x))
    return continued(model, level, data, score)


def mean_objective(model: LightGBMForecaster, rows: TrainingSet) -> str:
    positive = model.target == "level" and bool((rows.target >= 0).all())
    return "tweedie" if positive else "regression"


def continued(model: LightGBMForecaster, level: float, data: lgb.Dataset, score: np.ndarray) -> lgb.Booster:
    """The `level` quantile's trees (with `quantile_params`) on top of the scores `score` of `data`'s rows:
    a copy of the binned rows carries them, so `data` keeps training from scratch."""
    params = {**model._lgb_params("quantile", level), **(model.quantile_params or {})}
    # binned with the training parameters, as `lgb.train` would (its pre-filter reads min_data_in_leaf)
    built = data._update_params(params).construct()
    scored = built.subset(list(range(built.num_data()))).construct()
    scored.set_init_score(score)  # on the built copy: a lazy subset would drop it
    return lgb.train(params, scored)


def dataset(rows: TrainingSet, keep: np.ndarray | None = None) -> lgb.Dataset:
    """`rows` (or those where `keep` holds) binned for LightGBM."""
    x, target, weight = rows.x, rows.target, rows.weight
    if keep is not None:
        x, target, weight = x[keep], target[keep], weight[keep]
    return lgb.Dataset(
        x,
        target,
        weight=weight,
        feature_name=rows.feature_names,
        categorical_feature=CATEGORICAL,
        free_raw_data=False,
    )


def split_trained(trained: dict[str, Any]) -> tuple[dict[str, lgb.Booster], dict[str, np.ndarray]]:
    """The boosters by column and the calibration's offsets among `train_job`'s results."""
    models = {job: result for job, result in trained.items() if isinstance(result, lgb.Booster)}
    offsets = trained.get(CALIBRATION) or {}
    return models, offsets


def calibration(model: LightGBMForecaster, rows: TrainingSet) -> dict[str, np.ndarray]:
    """Per-level offsets (scaled units, indexed by horizon) from rows held out at the last weeks."""
    outer = [q for q in model.levels if q != 0.5]
    cut = np.datetime64(rows.origin - timedelta(weeks=model.calibration_weeks))
    early = rows.held["week"] <= cut
    late = rows.held["origin"] >= cut
    if not outer or early.sum() < MIN_CALIBRATION_ROWS or late.sum() < MIN_CALIBRATION_ROWS:
        return {}
    scale, base = rows.scale[late], rows.base[late]
    data = dataset(rows, early)
    # boosters that continue another's continue one fitted on these rows too
    first = starts_from(model, quantile_column(outer[0]))
    start: lgb.Booster | None = None
    if first == "mean":
        start = lgb.train(model._lgb_params(mean_objective(model, rows), names=rows.feature_names), data)
    elif first is not None:
        start = lgb.train(model._lgb_params("quantile", 0.5), data)
    held = rows.x[late]
    score = np.asarray(start.predict(rows.x[early])) if start is not None else None
    start_held = np.asarray(start.predict(held)) if start is not None else None
    raw = []
    for q in outer:
        if score is None or start_held is None:
            predicted = lgb.train(model._lgb_params("quantile", q), data).predict(held)
        else:
            predicted = start_held + continued(model, q, data, score).predict(held)
        raw.append(np.maximum((predicted + base) * scale, 0.0))
    values = np.sort(np.column_stack(raw), axis=1)
    residual = (rows.held["units"][late][:, None] - values) / scale[:, None]
    horizon = rows.held["horizon"][late]
    weight = rows.weight[late]
    return {
        quantile_column(q): _horizon_offsets(residual[:, i], weight, horizon, q, model.max_horizon)
        for i, q in enumerate(outer)
    }


def weighted_quantile(values: np.ndarray, weights: np.ndarray, level: float) -> float:
    """The smallest value whose weighted share of values at or below it reaches `level`.

    Examples
    --------
    >>> weighted_quantile(np.array([3.0, 1.0, 2.0]), np.array([1.0, 1.0, 2.0]), 0.5)
    2.0
    """
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, level * cumulative[-1]))
    return float(values[order][min(index, len(values) - 1)])


def _horizon_offsets(
    residual: np.ndarray, weight: np.ndarray, horizon: np.ndarray, level: float, max_horizon: int
) -> np.ndarray:
    """Offsets indexed by horizon 0..`max_horizon`: a horizon's own when it has enough rows, else carried."""
    offsets = np.zeros(max_horizon + 1)
    current = weighted_quantile(residual, weight, level)
    for h in range(1, max_horizon + 1):
        rows = horizon == h
        if rows.sum() >= MIN_HORIZON_ROWS:
            current = weighted_quantile(residual[rows], weight[rows], level)
        offsets[h] = current
    return offsets
