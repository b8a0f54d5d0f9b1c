"""Equal-weight blend of the global LightGBM model and the local per-series stlf.svd model.

The two models err differently: LightGBM learns across every series from origin-anchored features, stlf.svd
(`forecast.models.svd_stl`) denoises each article's stores together and extrapolates each series' own STL
decomposition. Their forecasts are averaged column by column (mean with mean, each quantile with the same
quantile: an average of quantile functions, which keeps them ordered). A series only one model forecasts keeps
that model's values. Then the Christmas shift of `forecast.models.svd_stl` is applied to the blend: both parts
copy last year's pre-Christmas weeks (LightGBM through its seasonal baseline), so the source year is the last
one in history.

The blend learns across series through its global model, so a partitioned run fits it through
`FitsInParts`: the global model's steps, then the local model on each part's history. Equal weights are the
default because no other weighting or third member was better on every backtest fold.
"""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import polars as pl

from forecast.contracts import SERIES, WEEKLY_KEY
from forecast.errors import ConfigError
from forecast.models.base import FitsInParts, Forecaster, PartContext
from forecast.models.svd_stl import SVDSTLForecaster, shift_christmas


class BlendForecaster(Forecaster, FitsInParts[Any, Any]):
    """Average of a global model and `SVDSTLForecaster` (Christmas shift applied to the average).

    Parameters
    ----------
    global_model : the global model (LightGBM), unfitted.
    local_model : the local model, unfitted (default: `SVDSTLForecaster` with the global model's
        quantiles); its own Christmas shift is turned off, since the shift is applied once, to the blend.
    alias : the model's name in the forecasts and the leaderboard (default ``"lightgbm_svd"``).

    In a pipeline, ``[models.lightgbm_svd]`` takes ``global_model`` as an inline table of LightGBM's
    parameters, e.g. ``global_model = { holiday_weight = 5.0, calibrate = true }``.

    Examples
    --------
    >>> from forecast.models.lgbm import LightGBMForecaster
    >>> BlendForecaster(LightGBMForecaster()).name
    'lightgbm_svd'
    """

    default_name = "lightgbm_svd"
    learns_across_series = True
    submodels = {"global_model": "lightgbm", "local_model": "stlf_svd"}

    def __init__(
        self,
        global_model: Forecaster,
        local_model: SVDSTLForecaster | None = None,
        alias: str | None = None,
    ) -> None:
        self.global_model = global_model
        self.local_model = local_model
        self.alias = alias

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

    # ------------------------------------------------------------------ a fit in parts (`FitsInParts`)

    def _parts(self) -> FitsInParts[Any, Any]:
        if not isinstance(self.global_model, FitsInParts):
            msg = f"{self.name}: its global model {self.global_model.name!r} cannot be fitted in parts"
            raise ConfigError(msg)
        return self.global_model

    def part_features(self, history: pl.DataFrame, origin: date, context: PartContext) -> Any:
        return self._parts().part_features(history, origin, context)

    def candidate_rows(self, features: Any) -> int:
        return self._parts().candidate_rows(features)

    def sample_share(self, candidates: int) -> float:
        return self._parts().sample_share(candidates)

    def part_rows(self, features: Any, share: float, context: PartContext) -> pl.DataFrame:
        return self._parts().part_rows(features, share, context)

    def training_set(self, rows: pl.DataFrame, origin: date, context: PartContext) -> Any:
        return self._parts().training_set(rows, origin, context)

    def sub_fits(self) -> list[str]:
        return self._parts().sub_fits()

    def starts_from(self, job: str) -> str | None:
        return self._parts().starts_from(job)

    def fit_sub(self, training: Any, job: str, start: Any = None) -> Any:
        return self._parts().fit_sub(training, job, start)

    def assemble(
        self, training: Any, results: dict[str, Any], origin: date, first_week: date
    ) -> BlendForecaster:
        """A fitted copy holding the assembled global model; the local model is fitted per part
        (`for_part`), so without a part only `forecast_from` works."""
        model = self.clone()
        model.global_ = self._parts().assemble(training, results, origin, first_week)
        model.start_, model.origin_ = first_week, origin
        return model

    def for_part(self, features: Any, history: pl.DataFrame, origin: date) -> BlendForecaster:
        """This assembled blend predicting a part's series: the global model reading the part's features,
        the local model fitted on the part's history."""
        self.check_fitted()
        assembled = self.global_
        assert isinstance(assembled, FitsInParts)
        model = self.clone()
        model.global_ = assembled.for_part(features, history, origin)
        model.local_ = model._local().fit(history, origin)
        model.start_, model.origin_ = self.start_, origin
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
