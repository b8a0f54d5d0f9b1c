"""The contract every forecasting model follows.

A model is fitted on a panel (see `forecast.panel`) holding only weeks up to the forecast origin, then asked
for
the weeks after the origin. Output frames use the forecasts file contract:
``article_id, store_id, week, horizon, model, mean, q10, q50, q90`` (more ``qNN`` columns allowed), with
``horizon`` = 1 for the first week after the origin and quantiles non-decreasing.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol, runtime_checkable

import polars as pl

from forecast.contracts import FORECAST_COLUMNS, quantile_column

__all__ = ["FORECAST_COLUMNS", "Forecaster", "quantile_column"]


@runtime_checkable
class Forecaster(Protocol):
    """A demand model. `fit` returns self; `predict` before `fit` raises `NotFittedError`."""

    name: str

    def fit(self, panel: pl.DataFrame, origin: date) -> Forecaster:
        """Learn from `panel` rows with ``week <= origin`` (the caller guarantees nothing later is passed)."""
        ...

    def predict(self, horizon: int, series: pl.DataFrame | None = None) -> pl.DataFrame:
        """Forecast weeks origin+1..origin+horizon for `series` (article_id, store_id; default: active)."""
        ...
