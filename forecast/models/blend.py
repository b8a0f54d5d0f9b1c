"""Equal-weight blend of the global LightGBM model and the local per-series stlf.svd model.

The two models err differently: LightGBM learns across every series from origin-anchored features, stlf.svd
(`forecast.models.svd_stl`) denoises each article's stores together and extrapolates each series' own STL
decomposition. Their forecasts are averaged column by column (mean with mean, each quantile with the same
quantile: an average of quantile functions, which keeps them ordered). A series only one model forecasts keeps
that model's values. Then the Christmas shift of `forecast.models.svd_stl` is applied to the blend: both parts
copy last year's pre-Christmas weeks (LightGBM through its seasonal baseline), so the source year is the last
one in history.

Measured on Walmart (``benchmarks/walmart.py``, WMAE of q50): 26-week fold LightGBM 1,284, stlf.svd 1,307,
blend 1,207; holiday fold LightGBM 1,811, stlf.svd 1,817, blend 1,602.
"""

from __future__ import annotations

import copy
from datetime import date

import polars as pl

from forecast.models.base import FORECAST_COLUMNS, Forecaster
from forecast.models.svd_stl import SVDSTLForecaster, shift_christmas

SERIES = ["article_id", "store_id"]
KEYS = [*SERIES, "week"]


class BlendForecaster:
    """Average of a global model and `SVDSTLForecaster` (Christmas shift applied to the average).

    Examples
    --------
    >>> from forecast.models.lgbm import LightGBMForecaster
    >>> BlendForecaster(LightGBMForecaster()).name
    'lightgbm_svd'
    """

    name = "lightgbm_svd"

    def __init__(self, global_model: Forecaster, local_model: SVDSTLForecaster | None = None) -> None:
        self.global_model = global_model
        quantiles = getattr(global_model, "quantiles", (0.1, 0.5, 0.9))
        self.local_model = local_model or SVDSTLForecaster(quantiles, christmas_shift=False)
        self.local_model.christmas_shift = False  # applied once, to the blend

    def fit(self, panel: pl.DataFrame | pl.LazyFrame, origin: date) -> BlendForecaster:
        """Fit both models on the weeks up to `origin`; returns self."""
        data = panel.collect() if isinstance(panel, pl.LazyFrame) else panel
        self.global_model.fit(data, origin)
        self.local_model.fit(data, origin)
        self.start_ = data["week"].min()
        return self

    def predict(self, horizon: int, series: pl.DataFrame | None = None) -> pl.DataFrame:
        """Blend of both models' forecasts for `series` (default: the global model's active series)."""
        first = self.global_model.predict(horizon, series)
        wanted = series if series is not None else first.select(SERIES).unique()
        start = self.start_
        assert isinstance(start, date)
        return self._combine(first, self.local_model, horizon, wanted, start)

    def predict_from(
        self, panel: pl.DataFrame, origin: date, horizon: int, series: pl.DataFrame
    ) -> pl.DataFrame:
        """Forecast from new history (an MLflow input slice): the global model keeps what it learnt, the
        local model is refitted on the slice, as a per-series model's fit is."""
        from forecast.pyfunc import forecast_from

        history = panel.filter(pl.col("week") <= origin)
        first = forecast_from(self.global_model, history, horizon)
        local = copy.deepcopy(self.local_model).fit(history, origin)
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
        both = first.join(second.select(*KEYS, *values), on=KEYS, how="full", coalesce=True, suffix="_local")
        both = both.with_columns(
            pl.col("horizon").fill_null(
                ((pl.col("week") - pl.col("week").min()).dt.total_days() // 7 + 1).cast(pl.Int32)
            )
        )
        blended = both.with_columns(
            pl.mean_horizontal(pl.col(c), pl.col(f"{c}_local")).alias(c) for c in values
        ).select(*SERIES, "week", "horizon", pl.lit(self.name).alias("model"), *values)
        years = local._full_years()[-1:]  # noqa: SLF001 - the copied year: the last full one in history
        shifted = shift_christmas(blended, values, start=start, source_years=years)
        quantiles = sorted((c for c in values if c != "mean"), key=lambda c: float(c[1:]))
        ordered = shifted.with_columns(
            pl.concat_list(quantiles).list.sort().list.to_struct(fields=quantiles).alias("_q")
        ).drop(quantiles)
        out = ordered.unnest("_q")
        head = [c for c in FORECAST_COLUMNS if c in out.columns]
        return out.select(head + [c for c in out.columns if c not in head]).sort(*SERIES, "horizon")
