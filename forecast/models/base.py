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

FORECAST_COLUMNS = ["article_id", "store_id", "week", "horizon", "model", "mean", "q10", "q50", "q90"]


def quantile_column(q: float) -> str:
    """Column name of quantile `q`: 0.1 -> "q10", 0.5 -> "q50", 0.975 -> "q97.5".

    Examples
    --------
    >>> quantile_column(0.9)
    'q90'
    """
    pct = round(q * 100, 6)
    return f"q{int(pct)}" if float(pct).is_integer() else f"q{pct:g}"


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
