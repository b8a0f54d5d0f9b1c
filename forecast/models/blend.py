"""Equal-weight blend of the global LightGBM model and the local per-series stlf.svd model.

The two models err differently: LightGBM learns across every series from origin-anchored features, stlf.svd
(`forecast.models.svd_stl`) denoises each article's stores together and extrapolates each series' own STL
decomposition. Their forecasts are averaged column by column (mean with mean, each quantile with the same
quantile: an average of quantile functions, which keeps them ordered). A series only one model forecasts keeps
that model's values. Then the Christmas shift of `forecast.models.svd_stl` is applied to the blend: both parts
copy last year's pre-Christmas weeks (LightGBM through its seasonal baseline), so the source year is the last
one in history.

Measured on Walmart (``benchmarks/walmart.py``, WMAE of q50, pipelines/walmart.toml's settings): 26-week fold
LightGBM 1,279, stlf.svd 1,307, blend 1,204; holiday fold LightGBM 1,783, stlf.svd 1,817, blend 1,596. Other
members and weights measured on the 26-week fold and on ``--folds val`` (13 weeks before it) did not beat the
equal-weight pair on both: LightGBM with ``target="level"`` (26 weeks 1,188 in a three-way average, val no
change, holidays worse), stlf.svd at ranks 6/20 or STL seasonal windows 5/7, more boosting rounds (26 weeks
1,196, val no change), other weights (0.3-0.6).
"""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import polars as pl

from forecast.contracts import SERIES, WEEKLY_KEY
from forecast.models.base import Forecaster
from forecast.models.svd_stl import SVDSTLForecaster, shift_christmas


class BlendForecaster(Forecaster):
    """Average of a global model and `SVDSTLForecaster` (Christmas shift applied to the average).

    Parameters
    ----------
    global_model : the global model (LightGBM), unfitted.
    local_model : the local model, unfitted (default: `SVDSTLForecaster` with the global model's
        quantiles); its own Christmas shift is turned off, since the shift is applied once, to the blend.

    Examples
    --------
    >>> from forecast.models.lgbm import LightGBMForecaster
    >>> BlendForecaster(LightGBMForecaster()).name
    'lightgbm_svd'
    """

    name = "lightgbm_svd"

    def __init__(self, global_model: Forecaster, local_model: SVDSTLForecaster | None = None) -> None:
        self.global_model = global_model
        self.local_model = local_model

    def _local(self) -> SVDSTLForecaster:
        """An unfitted local model without its own Christmas shift."""
        params: dict[str, Any] = {} if self.local_model is None else self.local_model.get_params()
        return SVDSTLForecaster(
            **{**params, "quantiles": self.global_model.quantiles, "christmas_shift": False}
        )

    def fit(
        self,
        panel: pl.DataFrame,
        origin: date,
        *,
        articles: pl.DataFrame | None = None,
        exog: pl.DataFrame | None = None,
    ) -> BlendForecaster:
        """Fit both models on the weeks up to `origin`; returns self."""
        data = panel.collect() if isinstance(panel, pl.LazyFrame) else panel
        self.global_ = self.global_model.clone().fit(data, origin, articles=articles, exog=exog)
        self.local_ = self._local().fit(data, origin)
        self.start_ = data["week"].min()
        self.origin_ = origin
        return self

    def assembled(
        self, trained: Forecaster, history: pl.DataFrame | None, origin: date, start: date
    ) -> BlendForecaster:
        """This blend fitted from parts: `trained` is the global model fitted on every part (reading the
        part's features), the local model is fitted on the part's `history` (none: only `forecast_from`
        works), `start` is the whole run's first week."""
        model = self.clone()
        model.global_ = trained
        if history is not None:
            model.local_ = model._local().fit(history, origin)
        model.start_, model.origin_ = start, origin
        return model

    @property
    def quantiles(self) -> list[float]:  # type: ignore[override]
        """The global model's quantile levels."""
        return list(self.global_model.quantiles)

    def predict(self, horizon: int, series: pl.DataFrame | None = None) -> pl.DataFrame:
        """Blend of both models' forecasts for `series` (default: the global model's active series)."""
        self.check_fitted()
        first = self.global_.predict(horizon, series)
        wanted = series if series is not None else first.select(SERIES).unique()
        start = self.start_
        assert isinstance(start, date)
        return self._combine(first, self.local_, horizon, wanted, start)

    def with_prices(self, plan: pl.DataFrame | None) -> BlendForecaster:
        """This blend with its global model forecasting under the price plan `plan` (a copy)."""
        self.check_fitted()
        model = copy.copy(self)
        model.global_ = self.global_.with_prices(plan)
        return model

    def forecast_from(self, history: pl.DataFrame, horizon: int, series: pl.DataFrame) -> pl.DataFrame:
        """Forecast from new history (an MLflow input slice): the global model keeps what it learnt, the
        local model is refitted on the slice, as a per-series model's fit is."""
        self.check_fitted()
        origin = history["week"].max()
        assert isinstance(origin, date)
        first = self.global_.forecast_from(history, horizon, series)
        local = self._local().fit(history, origin)
        start = history["week"].min()
        assert isinstance(start, date)
        return self._combine(first, local, horizon, series, start)

    def _combine(
        self,
        first: pl.DataFrame,
        local: SVDSTLForecaster,
        horizon: int,
        wanted: pl.DataFrame,
        start: date,
    ) -> pl.DataFrame:
        second = local.predict(horizon, wanted)
        values = [c for c in first.columns if c == "mean" or (c.startswith("q") and c in second.columns)]
        both = first.join(
            second.select(*WEEKLY_KEY, *values), on=WEEKLY_KEY, how="full", coalesce=True, suffix="_local"
        )
        both = both.with_columns(
            pl.col("horizon").fill_null(
                ((pl.col("week") - pl.col("week").min()).dt.total_days() // 7 + 1).cast(pl.Int32)
            )
        )
        blended = both.with_columns(
            pl.mean_horizontal(pl.col(c), pl.col(f"{c}_local")).alias(c) for c in values
        ).select(*WEEKLY_KEY, "horizon", *values)
        shifted = shift_christmas(blended, values, start=start, source_years=local.christmas_source_years())
        quantiles = sorted((c for c in values if c != "mean"), key=lambda c: float(c[1:]))
        out = self.forecast_frame(shifted, shifted["mean"], shifted.select(quantiles).to_numpy())
        return out.sort(*SERIES, "horizon")


class CalibratedBlendForecaster(BlendForecaster):
    """The blend registered as ``lightgbm_svd_calibrated``: its global model is LightGBM with calibrated
    quantiles (``calibrate=True``), averaged with stlf.svd's quantiles as they are, so the band widens by
    half the LightGBM offsets.

    On Walmart's 3-fold backtest (``benchmarks/calibration.py pipelines/walmart.toml --blend``) its q10-q90
    band covers 81.3% of actuals against the raw blend's 79.2% (below q10 9.6% against 11.3%, above q90 9.1%
    against 9.5%), pinball 389.89 against 389.60 and profit 146,286,529 against 146,263,598.

    Examples
    --------
    >>> from forecast.models.lgbm import LightGBMForecaster
    >>> CalibratedBlendForecaster(LightGBMForecaster(calibrate=True)).name
    'lightgbm_svd_calibrated'
    """

    name = "lightgbm_svd_calibrated"
