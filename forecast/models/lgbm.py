"""The global LightGBM demand model: one model across every article × store, direct multi-horizon.

Each training row is (series, origin ``o``, horizon ``h``): features read only weeks ``<= o``
(`forecast.features`), the target is the units of week ``o + h``, and ``h`` plus the target week's
calendar (holidays included) are features, so one model forecasts every horizon without feeding its own
forecasts back. Targets and value features are divided by the series' level at the origin and rows are
weighted by that level, so the loss is the error in units while series of every size share one model.

By default (``target="residual"``) the trees learn the correction to a baseline, last year's holiday-aligned
week times the year-on-year growth, on rows where that week is known; a season's peak then comes from the
baseline even when no earlier peak is in the training targets. ``target="level"`` learns the scaled units
themselves (Tweedie mean when no unit is negative). Censored (stockout) weeks are never targets and are
ignored by the value features, so a stockout is not learned as low demand.

The mean comes from a squared-error model, each quantile from its own quantile-loss model (q50 is the point
forecast for absolute-error metrics such as WMAE). Quantiles are sorted per row; outputs are clipped at zero.
A quantile booster starts from the weighted quantile of the targets (``quantile_start="average"``), or
continues the trees of another booster with ``quantile_params`` (e.g. fewer rounds): every quantile the
mean's (``"mean"``), or the quantiles other than q50 q50's (``"median"``, the demo's: q10 and q90 take 40
rounds on top of q50's 120 instead of 120 of their own, a quarter less CPU per fit). A booster that continues
another is a task after it in a partitioned run (`starts_from`).

Quantile-loss boosters fitted on all rows are under-dispersed out of sample (their q10-q90 band covered 68-73%
of Walmart actuals), so `fit` can calibrate the quantiles other than q50 (``calibrate=True``), in the spirit
of conformalized quantile regression and using only weeks ``<= origin``: the training rows are split at
``cut = origin - calibration_weeks``; the outer-quantile boosters are fitted on rows whose target week is
``<= cut`` and predict the rows whose origin is ``>= cut`` (their targets are still ``<= origin``). For each
level ``q`` and horizon, the offset is the weighted ``q``-quantile of the residual ``y - q_hat`` in scaled
units (weights = training weights): a share ``q`` of held-out actuals falls at or below the shifted quantile.
The boosters are then refitted on all rows as usual and the offsets, times each series' scale, are added at
prediction time; horizons with too few calibration rows reuse the previous horizon's offsets (pooled offsets
when even horizon 1 is thin), longer ones the last horizon's. The mean and q50 are left exactly as they were;
the other quantiles are kept on their side of q50 and in order. The calibration costs one extra fit of the
outer-quantile boosters on the older rows.

Calibration is off in ``lightgbm`` (unless ``[models] calibrate_quantiles``) and on in the model registered
as ``lightgbm_calibrated`` (`CalibratedLightGBM`), so a pipeline can list both and its objective decides. The
stock the newsvendor backtest holds is read between q50 and q90 for a critical fractile above 0.5 (Walmart's
is 0.89), so the q90 offset moves the profit and the q10 offset hardly does. Measured on the pipelines' 3-fold
backtests (``benchmarks/calibration.py``: one calibrated fit per fold, scored without offsets, with both, and
with the lower or the upper one only; ``forecast backtest ... --models lightgbm,lightgbm_calibrated`` prints
the same raw and calibrated figures):

=============  ==============================  =====================
metric         Walmart (raw -> calibrated)     demo (raw -> calibrated)
=============  ==============================  =====================
coverage_80    0.727 -> 0.773                  0.893 -> 0.901
below q10      0.148 -> 0.107                  0.046 -> 0.040
above q90      0.126 -> 0.120                  0.061 -> 0.059
pinball        409.49 -> 408.69                0.3110 -> 0.3112
profit         146,097,039 -> 146,107,625      19,213 -> 19,107
=============  ==============================  =====================

On Walmart the calibrated band is better on every figure (the lower offset alone: coverage 0.768, profit
146,095,835); on the demo, whose intermittent units already fall inside the raw band 89% of the time (a zero
week is inside a band whose q10 is 0), it costs 0.6% of the profit; there the wider band also leaves 34% of
the scored rows with a lower q50 after `forecast.distribution.coherent_forecasts` (their mean cannot hold
the band, so every quantile is scaled down; the model's own q50 is unchanged). An earlier feature layer
measured 0.729 -> 0.800 and a lower profit on Walmart (146,090,246 -> 146,023,325); unweighted residual
quantiles were worse on both.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl

from forecast.config import QUANTILE_STARTS, FeaturesConfig
from forecast.contracts import SERIES
from forecast.distribution import ordered_around
from forecast.errors import InputError
from forecast.features import (
    FeatureSpec,
    SeriesMatrix,
    build_matrix,
    denoise,
    design,
    monotone_signs,
    training_rows,
    with_calendar,
    with_plan,
)
from forecast.features.exog import with_exog
from forecast.models.base import Forecaster, quantile_column

DEFAULT_PARAMS: dict[str, Any] = {
    "learning_rate": 0.08,
    "num_leaves": 63,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "num_iterations": 200,
    "num_threads": 1,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}
CATEGORICAL = ["f_store", "f_category"]
MIN_CALIBRATION_ROWS = 50  # pooled calibration rows needed to calibrate at all
MIN_HORIZON_ROWS = 300  # calibration rows needed for a horizon's own offsets
REQUIRED = ["article_id", "store_id", "week", "units"]
CALIBRATION = "calibration"  # the booster job that computes the quantile offsets


@dataclass(frozen=True)
class TrainingSet:
    """The boosters' inputs (`LightGBMForecaster.training_set`): features, scaled target and weights, and what
    the calibration reads (scale, baseline; target week, origin, units and horizon in ``held``)."""

    x: np.ndarray
    target: np.ndarray
    weight: np.ndarray
    scale: np.ndarray
    base: np.ndarray
    held: dict[str, np.ndarray]

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


class LightGBMForecaster(Forecaster):
    """Global gradient-boosted model forecasting the mean and quantiles of weekly units.

    Parameters
    ----------
    features : lags and rolling windows (lag 52 is replaced by the holiday-aligned seasonal value).
    quantiles : quantile levels to forecast (0.1, 0.5 and 0.9 are always included).
    seed : seed of LightGBM and of the training-row sample.
    params : LightGBM parameters overriding `DEFAULT_PARAMS`.
    max_horizon : horizons 1..`max_horizon` are trained on; a longer forecast reuses the last horizon's
        trees. The pipeline passes the horizons it forecasts (`PipelineConfig.model_horizon`), no more.
    train_weeks : how many weeks of origins before the fit origin make training rows.
    origin_step : weeks between training origins.
    max_rows : training rows kept (a seeded sample when there are more).
    holiday_weight : weight of rows whose target is a holiday week (5 reproduces Walmart's WMAE).
    active_weeks : by default, forecast the series that sold within this many weeks before the origin.
    target : ``"residual"`` (correct the seasonal baseline) or ``"level"`` (scaled units).
    calibrate : shift the quantiles other than q50 so their held-out levels match the nominal ones.
    calibration_weeks : the last weeks before the origin whose targets calibrate the quantiles.
    denoise_rank : when set, each article's stores × weeks history up to the fit origin is replaced by its
        rank-k SVD for the feature ``f_seasonal_svd``, which then drives the seasonal baseline (the basis is
        computed once at the fit origin, from weeks up to it).
    denoise_target : with `denoise_rank`, training targets are the denoised units too. Neither is on by
        default: on Walmart (q50 WMAE, 26-week / holiday folds) rank 12 gave 1,280 / 1,805 against 1,284 /
        1,811, but its blend with stlf.svd was worse (1,220 against 1,207 on the 26-week fold: the two
        models then share their denoising); denoised targets gave 1,288.
    quantile_start : where the quantile boosters start: ``"average"`` (LightGBM's weighted quantile of the
        targets), ``"mean"`` (each continues the mean booster's trees) or ``"median"`` (the quantiles other
        than q50 continue q50's). A Tweedie mean (level target) is never continued.
    quantile_params : LightGBM parameters overriding `params` for the boosters that continue another's.
    price_features : read the target week's price features (`forecast.features.price`); the mean booster
        is monotone in them (LightGBM's ``monotone_constraints``), so a lower price never forecasts a lower
        mean (LightGBM cannot constrain a quantile loss: the quantiles learn the response freely). The
        prices after the origin come from `with_prices`.
    exog_features : read the exogenous drivers `fit` is given (`forecast.features.exog`: promotions at the
        target week, other drivers at the origin). Off by default: a pipeline keeps them only where they win
        on a validation fold (not in a partitioned run, whose parts do not carry them).

    Examples
    --------
    >>> model = LightGBMForecaster(FeaturesConfig(), [0.1, 0.5, 0.9], seed=1)
    >>> model.name
    'lightgbm'
    """

    name = "lightgbm"
    plan_: pl.DataFrame | None = None  # the price plan `predict` assumes (`with_prices`)
    exog_: pl.DataFrame | None = None  # the exogenous drivers `fit` was given (with `exog_features`)

    def __init__(
        self,
        features: FeaturesConfig | None = None,
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
        seed: int = 42,
        params: dict[str, Any] | None = None,
        *,
        max_horizon: int = 26,
        train_weeks: int = 104,
        origin_step: int = 2,
        max_rows: int = 150_000,
        holiday_weight: float = 1.0,
        active_weeks: int = 8,
        target: str = "residual",
        calibrate: bool = False,
        calibration_weeks: int = 13,
        denoise_rank: int | None = None,
        denoise_target: bool = False,
        quantile_start: str = "average",
        quantile_params: dict[str, Any] | None = None,
        price_features: bool = True,
        exog_features: bool = False,
    ) -> None:
        self.features = features
        self.quantiles = quantiles
        self.seed = seed
        self.params = params
        self.max_horizon = max_horizon
        self.train_weeks = train_weeks
        self.origin_step = origin_step
        self.max_rows = max_rows
        self.holiday_weight = holiday_weight
        self.active_weeks = active_weeks
        self.target = target
        self.calibrate = calibrate
        self.calibration_weeks = calibration_weeks
        self.denoise_rank = denoise_rank
        self.denoise_target = denoise_target
        self.quantile_start = quantile_start
        self.quantile_params = quantile_params
        self.price_features = price_features
        self.exog_features = exog_features

    # ------------------------------------------------------------------ helpers

    def _spec(self) -> FeatureSpec:
        return FeatureSpec.from_config(self.features, prices=self.price_features)

    def _lgb_params(self, objective: str, alpha: float | None = None) -> dict[str, Any]:
        params = {**DEFAULT_PARAMS, **(self.params or {}), "objective": objective, "seed": self.seed}
        if alpha is not None:
            params["alpha"] = alpha
        # the price features' signs (`forecast.features.price`): a lower price never forecasts a lower mean;
        # LightGBM has no monotone constraints for the quantile loss, so the quantiles learn it freely
        signs = monotone_signs(getattr(self, "feature_names_", []))
        if any(signs) and objective != "quantile":
            params["monotone_constraints"] = signs
        return params

    def with_prices(self, plan: pl.DataFrame | None) -> LightGBMForecaster:
        """This fitted model forecasting under the price plan `plan` (article_id, store_id, week, price,
        optional promo; weeks without a row carry the last price forward): a copy sharing the trees."""
        model = copy.copy(self)
        model.plan_ = plan
        return model

    def _frame(
        self, m: SeriesMatrix, origins: list[int], max_h: int, last: int | None, keep: float = 1.0
    ) -> pl.DataFrame:
        """Design rows with keys, target week and calendar and categorical features."""
        feats, rows = design(
            m,
            origins,
            max_h,
            self._spec(),
            last=last,
            keep=keep,
            seed=self.seed,
            denoised_target=self.denoise_target,
        )
        if feats.height == 0:
            return feats
        codes = getattr(self, "codes_", None) or category_codes(m.keys)
        keys = m.keys.with_columns(
            pl.col("store_id")
            .replace_strict(codes["store_id"], default=None, return_dtype=pl.Int32)
            .alias("f_store"),
            pl.col("category")
            .fill_null("")
            .replace_strict(codes["category"], default=None, return_dtype=pl.Int32)
            .alias("f_category"),
        )
        target = pl.col("origin") + pl.col("horizon")
        frame = pl.concat([keys[rows], feats], how="horizontal").with_columns(
            (pl.lit(m.start) + pl.duration(weeks=target)).alias("week"),
            (pl.lit(m.start) + pl.duration(weeks=pl.col("origin"))).alias("origin"),
        )
        return with_calendar(frame, m.is_end)

    def _base(self, frame: pl.DataFrame) -> np.ndarray:
        """Scaled baseline the trees correct: last year's aligned week times the year-on-year growth."""
        if self.target == "level":
            return np.zeros(frame.height)
        growth = pl.col("f_yoy").fill_nan(None).fill_null(1.0).clip(0.5, 2.0)
        source = "f_seasonal_svd" if "f_seasonal_svd" in frame.columns else "f_seasonal_52"
        seasonal = pl.col(source).fill_nan(None) * growth
        recent = pl.col("f_roll_mean_4").fill_nan(None) if "f_roll_mean_4" in frame.columns else pl.lit(None)
        base = seasonal.fill_null(recent).fill_null(0.0)
        return frame.select(base.cast(pl.Float64)).to_series().to_numpy()

    def _build(
        self,
        data: pl.DataFrame,
        origin: date,
        totals: pl.DataFrame | None = None,
        holidays: Sequence[date] | None = None,
    ) -> SeriesMatrix:
        m = build_matrix(data, origin, totals, holidays)
        if self.exog_features:
            m = with_exog(m, self.exog_, self.max_horizon)
        return denoise(m, self.denoise_rank) if self.denoise_rank else m

    def _matrix(self, frame: pl.DataFrame) -> np.ndarray:
        # features the rows cannot have (prices of an input without them) are missing values to the trees
        absent = [pl.lit(None, pl.Float64).alias(c) for c in self.feature_names_ if c not in frame.columns]
        frame = frame.with_columns(absent) if absent else frame
        return frame.select(pl.col(self.feature_names_).cast(pl.Float64)).to_numpy()

    def _origins(self, m: SeriesMatrix) -> tuple[list[int], int]:
        """Training origins (matrix columns, newest first) and the last column a target may take."""
        last = m.weeks - 1
        first = max(last - self.train_weeks, 4)
        return list(range(last - 1, first - 1, -self.origin_step)), last

    @staticmethod
    def _checked(panel: pl.DataFrame | pl.LazyFrame, origin: date) -> pl.DataFrame:
        data = panel.collect() if isinstance(panel, pl.LazyFrame) else panel
        missing = [c for c in REQUIRED if c not in data.columns]
        if missing:
            msg = f"panel lacks column(s) {missing}"
            raise InputError(msg, column=missing[0], fix="build it with forecast.panel.build_panel")
        if data.filter(pl.col("week") <= origin).height == 0:
            msg = f"panel has no week on or before the origin {origin.isoformat()!r}"
            raise InputError(msg, column="week", fix="pick an origin inside the panel's weeks")
        return data

    # ------------------------------------------------------------------ a fit in parts
    # `fit` is these steps on the whole panel; a partitioned run (`forecast.engine`) runs the matrix steps on
    # each part of the articles (with the whole run's totals and holidays) and the boosters once, on the
    # parts' training rows put together: one global model, the same as `fit` on the whole panel.

    def part_matrix(
        self,
        history: pl.DataFrame,
        origin: date,
        totals: pl.DataFrame | None = None,
        holidays: Sequence[date] | None = None,
    ) -> SeriesMatrix:
        """The feature matrix of (a part of) the history at `origin`."""
        return self._build(self._checked(history, origin), origin, totals, holidays)

    def candidate_rows(self, m: SeriesMatrix) -> int:
        """Training rows `m` gives before sampling (summed over parts: the whole run's)."""
        origins, last = self._origins(m)
        return training_rows(m, origins, self.max_horizon, last)

    def keep_share(self, candidates: int) -> float:
        """The share of candidate rows kept so that about `max_rows` remain."""
        return min(1.0, self.max_rows / max(candidates, 1))

    def training_part(self, m: SeriesMatrix, keep: float, codes: dict[str, dict[str, int]]) -> pl.DataFrame:
        """Training rows of `m` (features, ``scale``, target ``units``), sampled with `keep`."""
        self.codes_ = codes
        origins, last = self._origins(m)
        return self._frame(m, origins, self.max_horizon, last, keep)

    def fit_rows(
        self, train: pl.DataFrame, origin: date, codes: dict[str, dict[str, int]]
    ) -> LightGBMForecaster:
        """Train the boosters on `train` (the training rows of every part, in any order); returns self.

        Rows are put in one order (origin newest first, horizon, series) first, so the parts' rows train
        exactly the model the whole panel's rows do. Predicting needs a matrix: `at`. The steps apart
        (`training_set`, `train_job` per `booster_jobs`, `with_boosters`) are what a partitioned run
        spreads over its workers: each booster is a task, after the one `starts_from` names.
        """
        rows = self.training_set(train, origin, codes)
        dataset = self._dataset(rows) if rows.height else None
        trained: dict[str, lgb.Booster | dict[str, np.ndarray] | None] = {}
        scores: dict[str, np.ndarray] = {}  # a start's scores on the rows, once for all that continue it
        for job in self.booster_jobs():
            first = self.starts_from(job)
            start = trained[first] if first is not None else None
            if isinstance(start, lgb.Booster) and first is not None and first not in scores:
                scores[first] = np.asarray(start.predict(rows.x))
            score = scores.get(first) if first is not None else None
            trained[job] = self.train_job(rows, job, dataset, start=start, start_score=score)  # type: ignore[arg-type]
        return self.with_boosters(trained)

    def training_set(
        self, train: pl.DataFrame, origin: date, codes: dict[str, dict[str, int]]
    ) -> TrainingSet:
        """The boosters' inputs from the training rows (any order; see `fit_rows`); sets the feature names,
        codes and origin on self, so that self, once given its boosters, predicts."""
        if self.quantile_start not in QUANTILE_STARTS:
            msg = f"`quantile_start` must be one of {list(QUANTILE_STARTS)}, got {self.quantile_start!r}"
            raise ValueError(msg)
        self.codes_ = codes
        self.origin_ = origin
        self.models_: dict[str, lgb.Booster | None] = {}
        self.offsets_: dict[str, np.ndarray] = {}
        if train.height:
            order = ["origin", "horizon", *SERIES]
            train = train.sort(order, descending=[True, False, False, False])
        if self.target == "residual" and train.height:
            # rows without last year's week would teach corrections of a different baseline
            seasonal = train.filter(pl.col("f_seasonal_52").is_not_nan())
            train = seasonal if seasonal.height else train
        self.feature_names_ = [c for c in train.columns if c.startswith("f_")] + ["horizon"]
        if train.height == 0:
            empty = np.zeros(0)
            return TrainingSet(np.zeros((0, len(self.feature_names_))), empty, empty, empty, empty, {})
        scale = train["scale"].to_numpy()
        base = self._base(train)
        target = train["units"].to_numpy() / scale - base
        weight = scale * np.where(train["holiday"].to_numpy(), self.holiday_weight, 1.0)
        held = {
            "week": train["week"].to_numpy(),
            "origin": train["origin"].to_numpy(),
            "units": train["units"].to_numpy(),
            "horizon": train["horizon"].to_numpy(),
        }
        return TrainingSet(self._matrix(train), target, weight, scale, base, held)

    def booster_jobs(self) -> list[str]:
        """What `train_job` trains for this model: the mean, each quantile, and the calibration; a booster
        that continues another's (`starts_from`) comes after it."""
        quantiles = [quantile_column(q) for q in self.levels]
        jobs = ["mean", *sorted(quantiles, key=lambda job: self.starts_from(job) is not None)]
        return [*jobs, CALIBRATION] if self.calibrate else jobs

    def starts_from(self, job: str) -> str | None:
        """The job whose booster `train_job` continues for `job`, if any: the quantiles continue the mean's
        with ``quantile_start="mean"`` (not with ``target="level"``, whose Tweedie mean scores logs), the
        quantiles other than q50 continue q50's with ``"median"``. The calibration fits its own on its
        older rows."""
        if job in ("mean", CALIBRATION) or self.quantile_start == "average":
            return None
        if self.quantile_start == "mean":
            return "mean" if self.target == "residual" else None
        return None if job == "q50" else "q50"

    def train_job(
        self,
        rows: TrainingSet,
        job: str,
        dataset: lgb.Dataset | None = None,
        *,
        start: lgb.Booster | None = None,
        start_score: np.ndarray | None = None,
    ) -> lgb.Booster | dict[str, np.ndarray] | None:
        """One booster of `booster_jobs` (a column's, or the calibration's offsets) trained on `rows` (None
        when there are no rows); `dataset` is `rows` already binned (`_dataset`), shared by the boosters of
        one process. `start` is the booster of `starts_from(job)`: this one learns what to add to its
        scores (`start_score`, its predictions on `rows`, computed when not given), and holds only its own
        trees; the forecast adds the two (`_outputs`)."""
        if rows.height == 0:
            return None
        if job == CALIBRATION:
            return self._calibration(rows)
        data = dataset if dataset is not None else self._dataset(rows)
        if job == "mean":
            return lgb.train(self._lgb_params(self._mean_objective(rows)), data)
        first = self.starts_from(job)
        if first is not None and start is None:
            msg = f"the {job} booster continues the {first} booster (`quantile_start`): pass it as `start`"
            raise ValueError(msg)
        level = next(q for q in self.levels if quantile_column(q) == job)
        if first is None or start is None:
            return lgb.train(self._lgb_params("quantile", level), data)
        score = start_score if start_score is not None else np.asarray(start.predict(rows.x))
        return self._continued(level, data, score)

    def _mean_objective(self, rows: TrainingSet) -> str:
        positive = self.target == "level" and bool((rows.target >= 0).all())
        return "tweedie" if positive else "regression"

    def _continued(self, level: float, data: lgb.Dataset, score: np.ndarray) -> lgb.Booster:
        """The `level` quantile's trees (with `quantile_params`) on top of the scores `score` of `data`'s
        rows: a copy of the binned rows carries them, so `data` keeps training from scratch."""
        params = {**self._lgb_params("quantile", level), **(self.quantile_params or {})}
        # binned with the training parameters, as `lgb.train` would (its pre-filter reads min_data_in_leaf)
        built = data._update_params(params).construct()
        scored = built.subset(list(range(built.num_data()))).construct()
        scored.set_init_score(score)  # on the built copy: a lazy subset would drop it
        return lgb.train(params, scored)

    def with_boosters(
        self, trained: dict[str, lgb.Booster | dict[str, np.ndarray] | None]
    ) -> LightGBMForecaster:
        """Self (after `training_set`) holding the boosters `train_job` trained, by job; returns self."""
        models: dict[str, lgb.Booster | None] = {}
        offsets: dict[str, np.ndarray] = {}
        for job, result in trained.items():
            if isinstance(result, lgb.Booster):
                models[job] = result
            elif job == CALIBRATION and result is not None:
                offsets = result
        self.models_, self.offsets_ = models, offsets
        return self

    def at(
        self,
        history: pl.DataFrame,
        origin: date | None = None,
        totals: pl.DataFrame | None = None,
        holidays: Sequence[date] | None = None,
    ) -> LightGBMForecaster:
        """This fitted model reading its features from `history` up to `origin` (default its last week):
        a copy sharing the trees, for a part of the articles or for new history."""
        when = origin if origin is not None else history["week"].max()
        assert isinstance(when, date)
        return self.with_matrix(self.part_matrix(history, when, totals, holidays), when)

    def with_matrix(self, m: SeriesMatrix, origin: date) -> LightGBMForecaster:
        """This fitted model predicting from the matrix `m` built at `origin` (a copy sharing the trees)."""
        self.check_fitted()
        model = copy.copy(self)
        model.matrix_, model.origin_ = m, origin
        return model

    # ------------------------------------------------------------------ API

    def feature_frame(self, panel: pl.DataFrame | pl.LazyFrame, origin: date) -> pl.DataFrame:
        """Training rows (features, ``scale``, target ``units``) the model would learn from at `origin`."""
        m = self.part_matrix(self._checked(panel, origin), origin)
        codes = getattr(self, "codes_", None) or category_codes(m.keys)
        return self.training_part(m, self.keep_share(self.candidate_rows(m)), codes)

    def fit(
        self,
        panel: pl.DataFrame,
        origin: date,
        *,
        articles: pl.DataFrame | None = None,
        exog: pl.DataFrame | None = None,
    ) -> LightGBMForecaster:
        """Learn from the panel's weeks up to `origin`; returns self.

        The catalogue's category reaches the model through the panel; `articles` is not read, `exog` only
        with `exog_features`.
        """
        del articles
        self.exog_ = exog if self.exog_features else None
        data = self._checked(panel, origin)
        # codes fixed at fit time, so a slice of the panel (a pyfunc input) gets the same store/category codes
        codes = category_codes(data.filter(pl.col("week") <= origin))
        m = self._build(data, origin)
        train = self.training_part(m, self.keep_share(self.candidate_rows(m)), codes)
        self.fit_rows(train, origin, codes)
        self.matrix_ = m
        return self

    def _dataset(self, rows: TrainingSet, keep: np.ndarray | None = None) -> lgb.Dataset:
        """`rows` (or those where `keep` holds) binned for LightGBM."""
        x, target, weight = rows.x, rows.target, rows.weight
        if keep is not None:
            x, target, weight = x[keep], target[keep], weight[keep]
        names = self.feature_names_
        return lgb.Dataset(
            x, target, weight=weight, feature_name=names, categorical_feature=CATEGORICAL, free_raw_data=False
        )

    def _calibration(self, rows: TrainingSet) -> dict[str, np.ndarray]:
        """Per-level offsets (scaled units, indexed by horizon) from rows held out at the last weeks."""
        outer = [q for q in self.levels if q != 0.5]
        cut = np.datetime64(self.origin_ - timedelta(weeks=self.calibration_weeks))
        early = rows.held["week"] <= cut
        late = rows.held["origin"] >= cut
        if not outer or early.sum() < MIN_CALIBRATION_ROWS or late.sum() < MIN_CALIBRATION_ROWS:
            return {}
        scale, base = rows.scale[late], rows.base[late]
        data = self._dataset(rows, early)
        # boosters that continue another's continue one fitted on these rows too
        first = self.starts_from(quantile_column(outer[0]))
        start: lgb.Booster | None = None
        if first == "mean":
            start = lgb.train(self._lgb_params(self._mean_objective(rows)), data)
        elif first is not None:
            start = lgb.train(self._lgb_params("quantile", 0.5), data)
        held = rows.x[late]
        score = np.asarray(start.predict(rows.x[early])) if start is not None else None
        start_held = np.asarray(start.predict(held)) if start is not None else None
        raw = []
        for q in outer:
            if score is None or start_held is None:
                predicted = lgb.train(self._lgb_params("quantile", q), data).predict(held)
            else:
                predicted = start_held + self._continued(q, data, score).predict(held)
            raw.append(np.maximum((predicted + base) * scale, 0.0))
        values = np.sort(np.column_stack(raw), axis=1)
        residual = (rows.held["units"][late][:, None] - values) / scale[:, None]
        horizon = rows.held["horizon"][late]
        weight = rows.weight[late]
        return {
            quantile_column(q): _horizon_offsets(residual[:, i], weight, horizon, q, self.max_horizon)
            for i, q in enumerate(outer)
        }

    def _active(self, m: SeriesMatrix) -> np.ndarray:
        last = m.weeks - 1
        recent = np.nan_to_num(m.units[:, max(last - self.active_weeks + 1, 0) :]) != 0
        return recent.any(axis=1)

    def predict(self, horizon: int, series: pl.DataFrame | None = None) -> pl.DataFrame:
        """Forecast weeks origin+1..origin+`horizon` for `series` (default: series sold in `active_weeks`)."""
        self.check_fitted()
        if horizon < 1:
            msg = f"`horizon` must be at least 1 week, got {horizon!r}"
            raise ValueError(msg)
        m = with_plan(self.matrix_, self.plan_, horizon)
        frame = self._frame(m, [m.weeks - 1], horizon, None)
        if series is None:
            wanted = m.keys.filter(pl.Series(self._active(m))).select(SERIES)
        else:
            wanted = series.select(pl.col(c).cast(pl.Utf8) for c in SERIES).unique()
        frame = frame.join(wanted, on=SERIES, how="semi") if frame.height else frame
        return self._outputs(frame)

    def forecast_from(self, history: pl.DataFrame, horizon: int, series: pl.DataFrame) -> pl.DataFrame:
        """Forecast from new history (an MLflow input slice) with the trees learnt at `fit`: only the
        features are read from `history`, up to its last week."""
        return self.at(history).predict(horizon, series)

    def _shift(
        self, quant: np.ndarray, columns: list[str], horizon: np.ndarray, scale: np.ndarray
    ) -> np.ndarray:
        """Add the calibration offsets to the quantiles other than q50, keeping them ordered around q50."""
        offsets = getattr(self, "offsets_", {})
        if not offsets:
            return quant
        steps = np.clip(horizon, 1, self.max_horizon)
        out = quant.copy()
        for i, column in enumerate(columns):
            if column in offsets:
                out[:, i] = np.maximum(quant[:, i] + offsets[column][steps] * scale, 0.0)
        return ordered_around(out, columns.index("q50"))

    def _outputs(self, frame: pl.DataFrame) -> pl.DataFrame:
        columns = ["mean", *[quantile_column(q) for q in self.levels]]
        if frame.height == 0 or not self.models_:
            keys = {c: pl.Utf8 for c in SERIES} | {"week": pl.Date, "horizon": pl.Int32}
            return self.forecast_frame(pl.DataFrame(schema=keys), [], np.zeros((0, len(columns) - 1)))
        x = self._matrix(frame.with_columns(pl.col("horizon").clip(upper_bound=self.max_horizon)))
        scale, base = frame["scale"].to_numpy(), self._base(frame)
        scores: dict[str, np.ndarray] = {}
        for job in [j for j in self.booster_jobs() if j in columns]:  # a start before what continues it
            first = self.starts_from(job)
            own = np.asarray(self.models_[job].predict(x))  # type: ignore[union-attr]
            scores[job] = own if first is None else scores[first] + own
        values = {c: np.maximum((scores[c] + base) * scale, 0.0) for c in columns}
        quant = np.sort(np.column_stack([values[c] for c in columns[1:]]), axis=1)
        quant = self._shift(quant, columns[1:], frame["horizon"].to_numpy(), scale)
        out = self.forecast_frame(frame, values["mean"], quant)
        return out.sort(*SERIES, "horizon")


class CalibratedLightGBM(LightGBMForecaster):
    """`LightGBMForecaster` with its quantile calibration on, registered as its own model
    (``lightgbm_calibrated``) so that a backtest ranks it beside the raw one by the pipeline's objective.

    Examples
    --------
    >>> model = CalibratedLightGBM(FeaturesConfig(), [0.1, 0.5, 0.9], seed=1, calibrate=True)
    >>> model.name, model.calibrate
    ('lightgbm_calibrated', True)
    """

    name = "lightgbm_calibrated"


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
