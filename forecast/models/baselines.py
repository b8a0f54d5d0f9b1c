"""Statistical baselines from statsforecast, one model per series, behind the `Forecaster` protocol.

Methods: ``seasonal_naive``, ``naive``, ``window_average``, ``historic_average``, ``auto_ets``,
``croston_optimized``, ``tsb``, ``adida``, ``imapa``.

Each series' history is its panel rows up to the origin, padded with zero weeks up to the origin when the
series stopped selling earlier (no sale recorded = nothing sold). Quantiles:

- methods with prediction intervals (seasonal naive, naive, historic average, AutoETS) give q_tau from the
  interval of level 100·|1 − 2·tau| (level 80 gives q10 and q90); q50 = the point forecast;
- the others (window average and the intermittent-demand methods) get split-conformal intervals from the
  method's own out-of-sample errors: the series' last ``max(2, conformal_weeks // horizon)`` non-overlapping
  windows of `horizon` weeks are each forecast by the method refitted on the weeks before the window (as
  statsforecast's ``ConformalIntervals(h=horizon, n_windows=...)`` does), and q_tau = point forecast ∓ the
  conformal quantile of the absolute errors at level 100·|1 − 2·tau| (− below the median, + above).
  The errors are pooled over the windows and the horizon steps (these methods forecast a flat line, so the
  steps share one error scale, and pooling gives a stable quantile from a year of weeks where one score per
  window and step would not), and the quantile is the finite-sample one: the ⌈(n + 1)·level⌉-th smallest of
  the n errors;
- a series too short for two windows (fewer than 2·horizon + 1 weeks), or on which the method fails in a
  window, instead gets q_tau = point forecast +
  the tau-quantile of its recent deviations from its own mean (the last `residual_weeks` weeks);
- every forecast is then clipped at 0 (``nonnegative=True``: demand) and the quantiles made non-decreasing.

Fallbacks: a series shorter than `season_length` weeks gets the naive forecast from ``seasonal_naive``; a
method that fails on a series (e.g. AutoETS on a tiny history) or returns NaN falls back to naive.

Speed: ``naive``, ``seasonal_naive`` and ``window_average`` are computed for all the series of one history
length at once (`forecast.models.baseline_arrays`: statsforecast's arithmetic on an array of series, equal to
the per-series path; a series with a non-finite week still takes that path), which is much faster on many
series (`benchmarks/baselines.py`). The other methods call statsforecast's ``forecast`` per series.

Why not statsforecast's own ``ConformalIntervals`` with ``StatsForecast(fallback_model=Naive())``: its scores
are quantiles per horizon step over a few windows, not pooled with the finite-sample rank, so its bands are
narrower than the nominal level and it is slower; and its fallback replaces the point forecast too on series
shorter than two windows, most of the demo's seasonal articles.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl

from forecast.contracts import SERIES
from forecast.errors import ConfigError
from forecast.models import baseline_arrays as arrays
from forecast.models.base import Forecaster

METHODS = (
    "seasonal_naive",
    "naive",
    "window_average",
    "historic_average",
    "auto_ets",
    "croston_optimized",
    "tsb",
    "adida",
    "imapa",
)
WITH_INTERVALS = ("seasonal_naive", "naive", "historic_average", "auto_ets")
VECTORISED = ("seasonal_naive", "naive", "window_average")
IDS = SERIES


def _statsforecast_model(
    method: str, season_length: int, window_size: int, alpha_d: float, alpha_p: float
) -> Any:
    from statsforecast import models as sf

    factories: dict[str, Callable[[], Any]] = {
        "seasonal_naive": lambda: sf.SeasonalNaive(season_length=season_length),
        "naive": sf.Naive,
        "window_average": lambda: sf.WindowAverage(window_size=window_size),
        "historic_average": sf.HistoricAverage,
        "auto_ets": lambda: sf.AutoETS(season_length=season_length),
        "croston_optimized": sf.CrostonOptimized,
        "tsb": lambda: sf.TSB(alpha_d=alpha_d, alpha_p=alpha_p),
        "adida": sf.ADIDA,
        "imapa": sf.IMAPA,
    }
    return factories[method]()


class StatsForecastModel(Forecaster):
    """A statsforecast method fitted per article × store series.

    Parameters
    ----------
    method : one of `METHODS`; also the ``model`` column of the forecasts.
    quantiles : quantile levels to output (q10, q50 and q90 are always included).
    season_length : weeks per season for seasonal methods.
    window_size : weeks averaged by ``window_average``.
    alpha_d, alpha_p : TSB smoothing of demand size and probability.
    conformal_weeks : weeks of rolling-origin errors calibrating methods without intervals (at least two
        windows of the forecast horizon are always used).
    residual_weeks : recent weeks whose deviations give the quantiles of methods without intervals on series
        too short for conformal windows.
    nonnegative : clip forecasts at 0 (demand cannot be negative).
    alias : the model's name in the forecasts (default: the method).

    Examples
    --------
    >>> panel = pl.DataFrame({"article_id": ["a"] * 3, "store_id": ["s"] * 3,
    ...     "week": [date(2024, 1, 1), date(2024, 1, 8), date(2024, 1, 15)], "units": [1.0, 2.0, 3.0]})
    >>> StatsForecastModel("naive").fit(panel, date(2024, 1, 15)).predict(1)["mean"].to_list()
    [3.0]
    """

    def __init__(
        self,
        method: str,
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
        season_length: int = 52,
        *,
        window_size: int = 4,
        alpha_d: float = 0.1,
        alpha_p: float = 0.1,
        conformal_weeks: int = 52,
        residual_weeks: int = 52,
        nonnegative: bool = True,
        alias: str | None = None,
    ) -> None:
        if method not in METHODS:
            msg = f"baseline method must be one of {METHODS}, got {method!r}"
            raise ConfigError(msg)
        self.method = method
        self.quantiles = quantiles
        self.season_length = season_length
        self.window_size = window_size
        self.alpha_d = alpha_d
        self.alpha_p = alpha_p
        self.conformal_weeks = conformal_weeks
        self.residual_weeks = residual_weeks
        self.nonnegative = nonnegative
        self.alias = alias

    @property
    def name(self) -> str:
        """The ``model`` column of the forecasts: `alias`, else the method."""
        return self.alias or self.method

    @name.setter
    def name(self, value: str) -> None:
        self.alias = value

    def fit(
        self,
        panel: pl.DataFrame,
        origin: date,
        *,
        articles: pl.DataFrame | None = None,
        exog: pl.DataFrame | None = None,
    ) -> StatsForecastModel:
        """Keep each series' weekly units up to `origin` (statsforecast fits at predict time)."""
        del articles, exog  # univariate methods: each series' own history only
        hist = panel.lazy() if isinstance(panel, pl.DataFrame) else panel
        self.history_ = (
            hist.filter(pl.col("week") <= origin)
            .select(*IDS, "week", pl.col("units").cast(pl.Float64).fill_null(0.0))
            .sort([*IDS, "week"])
            .group_by(IDS, maintain_order=True)
            .agg(pl.col("units"), pl.col("week").last().alias("last_week"))
            .collect()
        )
        self.origin_ = origin
        return self

    def predict(self, horizon: int, series: pl.DataFrame | None = None) -> pl.DataFrame:
        """Forecast weeks origin+1..origin+horizon for `series` (default: series with a row at the origin)."""
        self.check_fitted()
        hist = self.history_
        if series is None:
            wanted = hist.filter(pl.col("last_week") == self.origin_).select(IDS)
        else:
            wanted = series.select(IDS).unique(maintain_order=True)
        rows = wanted.join(hist, on=IDS, how="left", maintain_order="left")
        values = self._forecast_all(rows, horizon)
        return self._frame(rows.select(IDS), values, horizon)

    # ------------------------------------------------------------------ internals

    def _forecast_all(self, rows: pl.DataFrame, horizon: int) -> np.ndarray:
        """Array (series, horizon, 1 + quantiles): the mean then each quantile."""
        out = np.zeros((rows.height, horizon, 1 + len(self.levels)))
        histories = _Histories(rows, self.origin_)
        per_series = np.flatnonzero(histories.lengths > 0)
        if self.method in VECTORISED:
            per_series = self._forecast_vectorised(histories, horizon, out)
        if per_series.size:
            model = _statsforecast_model(
                self.method, self.season_length, self.window_size, self.alpha_d, self.alpha_p
            )
            naive = _statsforecast_model(
                "naive", self.season_length, self.window_size, self.alpha_d, self.alpha_p
            )
            levels = arrays.interval_levels(self.levels)
            for i in per_series:
                out[i] = self._forecast_one(histories.one(int(i)), horizon, model, naive, levels)
        return self._finish(out)

    def _forecast_vectorised(self, histories: _Histories, horizon: int, out: np.ndarray) -> np.ndarray:
        """Fill `out` for the series of each history length at once; the series with a non-finite week
        are left to the per-series path (their indices are returned)."""
        left = []
        for n in np.unique(histories.lengths[histories.lengths > 0]):
            index, y = histories.of_length(int(n))
            finite = np.isfinite(y).all(axis=1)
            left.append(index[~finite])
            if finite.all():
                out[index] = self._vectorised(y, horizon)
            elif finite.any():
                out[index[finite]] = self._vectorised(y[finite], horizon)
        return np.concatenate(left) if left else np.zeros(0, dtype=np.int64)

    def _vectorised(self, y: np.ndarray, horizon: int) -> np.ndarray:
        if self.method == "naive":
            return arrays.naive(y, horizon, self.levels)
        if self.method == "seasonal_naive":
            return arrays.seasonal_naive(y, horizon, self.season_length, self.levels)
        return arrays.window_average(
            y,
            horizon,
            self.window_size,
            self.levels,
            conformal_weeks=self.conformal_weeks,
            residual_weeks=self.residual_weeks,
        )

    def _finish(self, out: np.ndarray) -> np.ndarray:
        if self.nonnegative:
            out = np.maximum(out, 0.0)
        out[:, :, 1:] = np.maximum.accumulate(out[:, :, 1:], axis=2)
        return out

    def _forecast_one(
        self, y: np.ndarray, horizon: int, model: Any, naive: Any, levels: list[int]
    ) -> np.ndarray:
        use_naive = self.method == "seasonal_naive" and len(y) < self.season_length
        result = None
        if not use_naive:
            result = self._call(model, y, horizon, levels if self.method in WITH_INTERVALS else None)
        if result is None:
            result = self._call(naive, y, horizon, levels)
            if result is None:
                result = {"mean": np.full(horizon, y[-1])}
            return self._from_intervals(result, horizon)
        if self.method in WITH_INTERVALS:
            return self._from_intervals(result, horizon)
        scores = self._conformity_scores(model, y, horizon)
        if scores is None:
            return self._from_residuals(result["mean"], y)
        return self._from_conformal(result["mean"], scores)

    @staticmethod
    def _call(model: Any, y: np.ndarray, horizon: int, levels: list[int] | None) -> dict[str, Any] | None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result: dict[str, Any] = model.forecast(y=y, h=horizon, level=levels)
        except Exception:  # any per-series failure falls back to the naive forecast
            return None
        if not np.all(np.isfinite(result["mean"])):
            return None
        return result

    def _from_intervals(self, result: dict[str, Any], horizon: int) -> np.ndarray:
        mean = np.asarray(result["mean"], dtype=float)
        cols = [mean]
        for q in self.levels:
            level = round(100 * abs(1 - 2 * q))
            key = f"lo-{level}" if q < 0.5 else f"hi-{level}"
            cols.append(mean if q == 0.5 or key not in result else np.asarray(result[key], dtype=float))
        return np.nan_to_num(np.stack(cols, axis=1)[:horizon])

    def _conformity_scores(self, model: Any, y: np.ndarray, horizon: int) -> np.ndarray | None:
        """Absolute errors of `model` refitted before each of the last windows of `y`; None if too short."""
        n_windows = min(max(2, self.conformal_weeks // horizon), (len(y) - 1) // horizon)
        if n_windows < 2:
            return None
        scores = np.empty((n_windows, horizon))
        for i in range(n_windows):
            train_end = len(y) - (n_windows - i) * horizon
            result = self._call(model, y[:train_end], horizon, None)
            if result is None:
                return None
            scores[i] = np.abs(y[train_end : train_end + horizon] - result["mean"][:horizon])
        return scores.reshape(-1)

    def _from_conformal(self, mean: np.ndarray, scores: np.ndarray) -> np.ndarray:
        mean = np.asarray(mean, dtype=float)
        cols = [mean]
        for q in self.levels:
            level = abs(1 - 2 * q)
            # finite-sample split-conformal quantile: the ceil((n + 1) * level)-th smallest score
            rank = min(len(scores), int(np.ceil((len(scores) + 1) * level - 1e-9)))
            margin = 0.0 if rank == 0 else float(np.sort(scores)[rank - 1])
            cols.append(mean - margin if q < 0.5 else mean + margin)
        return np.nan_to_num(np.stack(cols, axis=1))

    def _from_residuals(self, mean: np.ndarray, y: np.ndarray) -> np.ndarray:
        recent = y[-self.residual_weeks :]
        offsets = np.quantile(recent - recent.mean(), self.levels)
        mean = np.asarray(mean, dtype=float)
        cols = [mean] + [mean + offset for offset in offsets]
        return np.nan_to_num(np.stack(cols, axis=1))

    def _frame(self, ids: pl.DataFrame, values: np.ndarray, horizon: int) -> pl.DataFrame:
        n = ids.height
        keys = pl.DataFrame(
            {
                "article_id": np.repeat(ids["article_id"].to_numpy(), horizon),
                "store_id": np.repeat(ids["store_id"].to_numpy(), horizon),
                "week": pl.Series(
                    [self.origin_ + timedelta(weeks=int(h)) for h in range(1, horizon + 1)] * n, dtype=pl.Date
                ),
                "horizon": np.tile(np.arange(1, horizon + 1, dtype=np.int32), n),
            }
        )
        quantiles = values[:, :, 1:].reshape(n * horizon, values.shape[2] - 1)
        return self.forecast_frame(keys, values[:, :, 0].reshape(-1), quantiles)


class _Histories:
    """The series' weekly units up to the origin, zero-padded to it: one flat array and each series' span."""

    def __init__(self, rows: pl.DataFrame, origin: date) -> None:
        observed = rows["units"].list.len().fill_null(0).to_numpy().astype(np.int64)
        weeks_since = rows.select(
            ((pl.lit(origin) - pl.col("last_week")).dt.total_days() // 7).clip(lower_bound=0).fill_null(0)
        ).to_series()
        pad = np.where(observed > 0, weeks_since.to_numpy().astype(np.int64), 0)
        self.observed = observed
        self.lengths = observed + pad
        self.starts = np.cumsum(observed) - observed
        units = rows["units"].filter(rows["units"].list.len() > 0)
        self.values = units.explode().to_numpy().astype(float) if units.len() else np.zeros(0)

    def one(self, i: int) -> np.ndarray:
        """Series `i`'s history, padded with zero weeks up to the origin."""
        start, count = self.starts[i], self.observed[i]
        return np.concatenate([self.values[start : start + count], np.zeros(self.lengths[i] - count)])

    def of_length(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The indices of the series of history length `n` and their histories, an array (series, n)."""
        index = np.flatnonzero(self.lengths == n)
        counts = self.observed[index]
        y = np.zeros((index.size, n))
        row = np.repeat(np.arange(index.size), counts)
        col = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        y[row, col] = self.values[np.repeat(self.starts[index], counts) + col]
        return index, y
