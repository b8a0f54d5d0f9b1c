"""The contract every forecasting model follows, with scikit-learn's estimator semantics.

- The constructor only stores its parameters (`get_params` reads them back, `clone` makes an unfitted copy
  with the same parameters); nothing in `fit` or `predict` changes them, so one instance can be refitted on
  every backtest fold and a copy is never needed to keep the original intact.
- Data arrives in ``fit(panel, origin, *, articles=None, exog=None)``: the panel (see `forecast.panel`)
  holding only weeks up to the forecast origin, the catalogue and the exogenous series. `fit` returns
  self and sets trailing-underscore attributes, ``origin_`` among them.
- ``predict(horizon, series)`` forecasts the weeks after the origin; before `fit` it raises
  `NotFittedError` (`check_fitted`, the one check every model uses).
- Output frames follow the forecasts file contract, built by `forecast_frame` for every model:
  ``article_id, store_id, week, horizon, model, mean, q10, q50, q90`` (more ``qNN`` columns allowed), with
  ``horizon`` = 1 for the first week after the origin and the quantiles non-decreasing. Each model writes
  the levels of `levels`: those it was asked for plus q10/q50/q90 (`forecast.contracts.output_levels`).
- ``forecast_from(history, horizon, series)`` forecasts from new history (an MLflow input slice) with what
  the model learnt; by default a fresh copy is fitted on the history, as a local model's fit is.

Cold start has its own small contract (`LaunchForecaster`): ``fit(panel, origin, *, articles, trends)``
learns from past launches, ``predict(horizon, launches)`` forecasts articles that have not sold yet.
"""

from __future__ import annotations

import copy
import inspect
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import date
from typing import Any, Self

import numpy as np
import polars as pl

from forecast.contracts import FORECAST_COLUMNS, SERIES, output_levels, quantile_column
from forecast.errors import NotFittedError

__all__ = ["FORECAST_COLUMNS", "Estimator", "Forecaster", "LaunchForecaster", "quantile_column"]


class Estimator:
    """Parameters by constructor introspection, clone, the fitted check and the output builder."""

    name: str = "model"
    quantiles: Sequence[float] = (0.1, 0.5, 0.9)

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [
            p.name
            for p in signature.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, by name, as stored."""
        return {name: getattr(self, name) for name in self._param_names()}

    def clone(self) -> Self:
        """An unfitted model with the same parameters (nested models cloned, other values copied)."""
        params = {
            key: value.clone() if isinstance(value, Estimator) else copy.deepcopy(value)
            for key, value in self.get_params().items()
        }
        return type(self)(**params)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if not _is_data(v))
        return f"{type(self).__name__}({shown})"

    @property
    def is_fitted(self) -> bool:
        """True once `fit` ran (it sets ``origin_``)."""
        return hasattr(self, "origin_")

    def check_fitted(self) -> None:
        """Raise `NotFittedError` when `fit` has not run."""
        if not self.is_fitted:
            msg = (
                f"This {type(self).__name__} instance is not fitted yet. "
                "Call 'fit' with a panel and an origin first."
            )
            raise NotFittedError(msg)

    @property
    def levels(self) -> list[float]:
        """The quantile levels the model writes: those asked for plus q10, q50 and q90."""
        return output_levels(self.quantiles)

    def forecast_frame(self, keys: pl.DataFrame, mean: Any, quantiles: Any) -> pl.DataFrame:
        """The forecasts contract frame: `keys` (article_id, store_id, week, horizon, in row order), the
        `mean` per row and `quantiles` (rows × `levels`), sorted per row so they never cross."""
        names = [quantile_column(q) for q in self.levels]
        values = np.sort(np.asarray(quantiles, dtype=np.float64).reshape(keys.height, len(names)), axis=1)
        frame = keys.select(
            *[pl.col(c).cast(pl.Utf8) for c in SERIES],
            pl.col("week").cast(pl.Date),
            pl.col("horizon").cast(pl.Int32),
            pl.lit(self.name, pl.Utf8).alias("model"),
            pl.Series("mean", np.asarray(mean, dtype=np.float64).reshape(-1)),
            *[pl.Series(name, values[:, i]) for i, name in enumerate(names)],
        )
        extra = [n for n in names if n not in FORECAST_COLUMNS]
        return frame.select(*FORECAST_COLUMNS, *extra)


def _is_data(value: Any) -> bool:
    return isinstance(value, pl.DataFrame | pl.LazyFrame)


class Forecaster(Estimator, ABC):
    """A demand model of active series (see the module docstring)."""

    @abstractmethod
    def fit(
        self,
        panel: pl.DataFrame,
        origin: date,
        *,
        articles: pl.DataFrame | None = None,
        exog: pl.DataFrame | None = None,
    ) -> Self:
        """Learn from `panel` rows with ``week <= origin`` (the caller guarantees nothing later is passed)."""

    @abstractmethod
    def predict(self, horizon: int, series: pl.DataFrame | None = None) -> pl.DataFrame:
        """Forecast weeks origin+1..origin+horizon for `series` (article_id, store_id; default: active)."""

    def with_prices(self, plan: pl.DataFrame | None) -> Self:
        """This fitted model forecasting under the price plan `plan` (`forecast.prices.price_plan`).

        A model that does not read prices forecasts the same under any plan: itself.
        """
        del plan
        return self

    def forecast_from(self, history: pl.DataFrame, horizon: int, series: pl.DataFrame) -> pl.DataFrame:
        """Forecast `horizon` weeks after the last week of `history` for `series`, from that history.

        By default an unfitted copy is fitted on `history` (the model itself stays as it was): what a local
        statistical model's fit is. A global model overrides this to keep what it learnt.
        """
        origin = history["week"].max()
        assert isinstance(origin, date)
        return self.clone().fit(history, origin).predict(horizon, series)


class LaunchForecaster(Estimator, ABC):
    """A cold-start model: forecasts the first weeks of articles that have no sales yet."""

    @abstractmethod
    def fit(
        self,
        panel: pl.DataFrame,
        origin: date,
        *,
        articles: pl.DataFrame,
        trends: pl.DataFrame | None = None,
    ) -> Self:
        """Learn from the launches inside `panel` up to `origin`, with the catalogue `articles`."""

    @abstractmethod
    def predict(self, horizon: int, launches: pl.DataFrame | None = None) -> pl.DataFrame:
        """Weeks 1..`horizon` from launch of `launches` (article_id, store_id, launch_week)."""
