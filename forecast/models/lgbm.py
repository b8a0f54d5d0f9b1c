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
mean's (``"mean"``), or the quantiles other than q50 q50's (``"median"``), which trains the outer quantiles
in fewer rounds for about the same accuracy.

With ``calibrate=True`` the quantiles other than q50 are shifted by offsets measured on the last weeks
before the origin (`forecast.models.lgbm_parts`); the mean and q50 are unchanged. It is off by default
because it costs an extra fit and helps only where the raw band is too narrow; a pipeline can list the
model twice (``[models.lightgbm]`` and ``[models.lightgbm_calibrated]`` with ``model = "lightgbm"`` and
``calibrate = true``) and let its objective pick. The steps of the fit live in `forecast.models.lgbm_parts`,
which a partitioned run (`forecast.engine`) runs through the `FitsInParts` interface.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import date
from typing import Any, Self

import numpy as np
import polars as pl

from forecast.config import FeaturesConfig
from forecast.config_checks import check_lightgbm_params
from forecast.contracts import SERIES
from forecast.distribution import ordered_around
from forecast.errors import ConfigError, InputError
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
from forecast.models import lgbm_parts as parts
from forecast.models.base import FitsInParts, Forecaster, PartContext, quantile_column
from forecast.models.lgbm_parts import TrainingSet, category_codes

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
REQUIRED = ["article_id", "store_id", "week", "units"]


class LightGBMForecaster(Forecaster, FitsInParts[SeriesMatrix, TrainingSet]):
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
    holiday_weight : weight of rows whose target is a holiday week (5 matches a metric that weighs holiday
        weeks five times, as Walmart's WMAE does).
    active_weeks : by default, forecast the series that sold within this many weeks before the origin.
    target : ``"residual"`` (correct the seasonal baseline) or ``"level"`` (scaled units).
    calibrate : shift the quantiles other than q50 so their held-out levels match the nominal ones.
    calibration_weeks : the last weeks before the origin whose targets calibrate the quantiles.
    denoise_rank : when set, each article's stores × weeks history up to the fit origin is replaced by its
        rank-k SVD for the feature ``f_seasonal_svd``, which then drives the seasonal baseline (the basis is
        computed once at the fit origin, from weeks up to it).
    denoise_target : with `denoise_rank`, training targets are the denoised units too. Neither is on by
        default: the gain alone is small, and in the blend with stlf.svd both models would then share
        their denoising, which makes their errors alike and the blend worse.
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
    alias : the model's name in the forecasts and the leaderboard (default ``"lightgbm"``).

    Examples
    --------
    >>> model = LightGBMForecaster(FeaturesConfig(), [0.1, 0.5, 0.9], seed=1)
    >>> model.name
    'lightgbm'
    >>> LightGBMForecaster(calibrate=True, alias="lightgbm_calibrated").name
    'lightgbm_calibrated'
    """

    default_name = "lightgbm"
    learns_across_series = True
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
        alias: str | None = None,
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
        self.alias = alias

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        """Refuse unknown LightGBM parameters and an unknown `quantile_start`."""
        for key in ("params", "quantile_params"):
            if params.get(key):
                check_lightgbm_params(params[key], f"`{key}`")
        start = params.get("quantile_start", "average")
        if start not in parts.QUANTILE_STARTS:
            msg = f"`quantile_start` must be one of {list(parts.QUANTILE_STARTS)}, got {start!r}"
            raise ConfigError(msg)

    # ------------------------------------------------------------------ helpers

    def _spec(self) -> FeatureSpec:
        return FeatureSpec.from_config(self.features, prices=self.price_features)

    def _lgb_params(
        self, objective: str, alpha: float | None = None, names: Sequence[str] = ()
    ) -> dict[str, Any]:
        """LightGBM's parameters for one booster; `names` are the training columns, whose price features
        (`forecast.features.price`) constrain the mean so that a lower price never forecasts a lower mean.
        LightGBM has no monotone constraints for the quantile loss, so the quantiles learn it freely."""
        params = {**DEFAULT_PARAMS, **(self.params or {}), "objective": objective, "seed": self.seed}
        if alpha is not None:
            params["alpha"] = alpha
        signs = monotone_signs(list(names))
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
        self,
        m: SeriesMatrix,
        origins: list[int],
        max_h: int,
        last: int | None,
        codes: dict[str, dict[str, int]],
        keep: float = 1.0,
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

    # ------------------------------------------------------------------ fit

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
        train = self._training_rows(m, self.sample_share(self.candidate_rows(m)), codes)
        rows = parts.training_set(self, train, origin, codes)
        self.matrix_ = m
        self._set_fitted(rows, parts.fit_boosters(self, rows))
        return self

    def feature_frame(self, panel: pl.DataFrame | pl.LazyFrame, origin: date) -> pl.DataFrame:
        """Training rows (features, ``scale``, target ``units``) the model would learn from at `origin`."""
        data = self._checked(panel, origin)
        m = self._build(data, origin)
        codes = category_codes(data.filter(pl.col("week") <= origin))
        return self._training_rows(m, self.sample_share(self.candidate_rows(m)), codes)

    def _training_rows(self, m: SeriesMatrix, keep: float, codes: dict[str, dict[str, int]]) -> pl.DataFrame:
        origins, last = self._origins(m)
        return self._frame(m, origins, self.max_horizon, last, codes, keep)

    def _set_fitted(self, rows: TrainingSet, trained: dict[str, Any]) -> None:
        """Keep what the fit learnt; the model counts as fitted from here (``origin_``)."""
        self.feature_names_ = rows.feature_names
        self.codes_ = rows.codes
        self.models_, self.offsets_ = parts.split_trained(trained)
        self.origin_ = rows.origin

    # ------------------------------------------------------------------ a fit in parts (`FitsInParts`)

    def part_features(self, history: pl.DataFrame, origin: date, context: PartContext) -> SeriesMatrix:
        """The feature matrix of one part's history at `origin`, with the run's totals and holidays."""
        return self._build(self._checked(history, origin), origin, context.totals, context.holidays)

    def candidate_rows(self, features: SeriesMatrix) -> int:
        """Training rows the matrix gives before sampling."""
        origins, last = self._origins(features)
        return training_rows(features, origins, self.max_horizon, last)

    def sample_share(self, candidates: int) -> float:
        """The share of candidate rows kept so that about `max_rows` remain."""
        return min(1.0, self.max_rows / max(candidates, 1))

    def part_rows(self, features: SeriesMatrix, share: float, context: PartContext) -> pl.DataFrame:
        """The part's training rows (a seeded hash per row decides, so the split does not matter)."""
        return self._training_rows(features, share, category_codes(context.keys))

    def training_set(self, rows: pl.DataFrame, origin: date, context: PartContext) -> TrainingSet:
        """Every part's training rows as the boosters' inputs."""
        return parts.training_set(self, rows, origin, category_codes(context.keys))

    def sub_fits(self) -> list[str]:
        """The boosters (mean, each quantile) and the calibration, a continued booster after its start."""
        return parts.booster_jobs(self)

    def starts_from(self, job: str) -> str | None:
        """The booster `job` continues (`quantile_start`), if any."""
        return parts.starts_from(self, job)

    def fit_sub(self, training: TrainingSet, job: str, start: Any = None) -> Any:
        """One booster (or the calibration's offsets) trained on `training`."""
        return parts.train_job(self, training, job, start=start)

    def assemble(
        self, training: TrainingSet, results: dict[str, Any], origin: date, first_week: date
    ) -> LightGBMForecaster:
        """A fitted copy holding the boosters (no matrix yet: `for_part` or `at` gives it one)."""
        del origin, first_week  # the training set carries the origin
        model = self.clone()
        model._set_fitted(training, results)
        return model

    def for_part(self, features: SeriesMatrix, history: pl.DataFrame, origin: date) -> LightGBMForecaster:
        """This fitted model predicting from a part's feature matrix."""
        del history
        return self.with_matrix(features, origin)

    def at(
        self,
        history: pl.DataFrame,
        origin: date | None = None,
        totals: pl.DataFrame | None = None,
        holidays: Sequence[date] | None = None,
    ) -> LightGBMForecaster:
        """This fitted model reading its features from `history` up to `origin` (default its last week):
        a copy sharing the trees, for new history."""
        when = origin if origin is not None else history["week"].max()
        assert isinstance(when, date)
        return self.with_matrix(self._build(self._checked(history, when), when, totals, holidays), when)

    def with_matrix(self, m: SeriesMatrix, origin: date) -> Self:
        """This fitted model predicting from the matrix `m` built at `origin` (a copy sharing the trees)."""
        self.check_fitted()
        model = copy.copy(self)
        model.matrix_, model.origin_ = m, origin
        return model

    # ------------------------------------------------------------------ predict

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
        frame = self._frame(m, [m.weeks - 1], horizon, None, self.codes_)
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
        for job in [j for j in self.sub_fits() if j in columns]:  # a start before what continues it
            first = self.starts_from(job)
            own = np.asarray(self.models_[job].predict(x))  # type: ignore[union-attr]
            scores[job] = own if first is None else scores[first] + own
        values = {c: np.maximum((scores[c] + base) * scale, 0.0) for c in columns}
        quant = np.sort(np.column_stack([values[c] for c in columns[1:]]), axis=1)
        quant = self._shift(quant, columns[1:], frame["horizon"].to_numpy(), scale)
        out = self.forecast_frame(frame, values["mean"], quant)
        return out.sort(*SERIES, "horizon")
