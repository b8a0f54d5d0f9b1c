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

Names: a model's ``name`` (the ``model`` column of its forecasts) is its ``alias`` parameter when given, else
its class's `default_name`, so a second configuration of a class needs no subclass (statsforecast's way).

Fitting in parts: a model that learns across series (``learns_across_series = True``) is fitted on a Dask
cluster only if it implements `FitsInParts`, the steps `forecast.engine` asks for; the engine never reads or
writes a model's own fields. A cold-start model does the same through `LaunchFitsInParts`.
"""

from __future__ import annotations

import copy
import inspect
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar, Generic, Self, TypeVar

import numpy as np
import polars as pl

from forecast.contracts import FORECAST_COLUMNS, SERIES, output_levels, quantile_column
from forecast.distribution import coherent_rows
from forecast.errors import NotFittedError

__all__ = [
    "FORECAST_COLUMNS",
    "Estimator",
    "FitsInParts",
    "Forecaster",
    "LaunchFitsInParts",
    "LaunchForecaster",
    "PartContext",
    "quantile_column",
]


class Estimator:
    """Parameters by constructor introspection, clone, the fitted check and the output builder."""

    default_name: ClassVar[str] = "model"
    # parameters that are themselves models, with the registered model a pipeline table builds by default
    submodels: ClassVar[dict[str, str]] = {}
    alias: str | None = None
    quantiles: Sequence[float] = (0.1, 0.5, 0.9)

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        """Refuse bad values among `params` (a pipeline table's) with a `ConfigError`; none by default."""
        del params

    @property
    def name(self) -> str:
        """The ``model`` column of the forecasts: `alias` when set, else the class's `default_name`."""
        return self.alias or self.default_name

    @name.setter
    def name(self, value: str) -> None:
        self.alias = value

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

    def with_params(self, **changes: Any) -> Self:
        """An unfitted copy with the parameters in `changes` replaced (the others cloned as `clone` does)."""
        unknown = sorted(set(changes) - set(self._param_names()))
        if unknown:
            msg = f"{type(self).__name__} has no parameter(s) {unknown}; allowed: {self._param_names()}"
            raise TypeError(msg)
        params = {**self.clone().get_params(), **changes}
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

    def forecast_frame(
        self, keys: pl.DataFrame, mean: Any, quantiles: Any, *, keep: str = "mean"
    ) -> pl.DataFrame:
        """The forecasts contract frame: `keys` (article_id, store_id, week, horizon, in row order), the
        `mean` per row and `quantiles` (rows × `levels`), made one demand distribution by
        `forecast.distribution.coherent_rows`: no negative value, no crossing quantiles, and a mean the
        quantiles can hold (`keep` says which of the two gives way)."""
        names = [quantile_column(q) for q in self.levels]
        raw = np.asarray(quantiles, dtype=np.float64).reshape(keys.height, len(names))
        mean, values = coherent_rows(np.asarray(mean), np.array(self.levels), raw, keep=keep)
        frame = keys.select(
            *[pl.col(c).cast(pl.Utf8) for c in SERIES],
            pl.col("week").cast(pl.Date),
            pl.col("horizon").cast(pl.Int32),
            pl.lit(self.name, pl.Utf8).alias("model"),
            pl.Series("mean", mean),
            *[pl.Series(name, values[:, i]) for i, name in enumerate(names)],
        )
        extra = [n for n in names if n not in FORECAST_COLUMNS]
        return frame.select(*FORECAST_COLUMNS, *extra)


def _is_data(value: Any) -> bool:
    return isinstance(value, pl.DataFrame | pl.LazyFrame)


class Forecaster(Estimator, ABC):
    """A demand model of active series (see the module docstring).

    ``learns_across_series``: False for a model fitted series by series (a partitioned run fits it on each
    part's history); True for a model whose fit reads every series at once, which a partitioned run can
    fit only through `FitsInParts`.
    """

    learns_across_series: ClassVar[bool] = False

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


# ---------------------------------------------------------------------------- fitting in parts

PartFeatures = TypeVar("PartFeatures")
TrainingRows = TypeVar("TrainingRows")


@dataclass(frozen=True)
class PartContext:
    """What every article group of a partitioned run shares at one origin, added up over the groups.

    ``totals``: the category × store totals per week (`forecast.features.hierarchy.group_totals`, exact);
    ``holidays``: the holiday weeks; ``keys``: every (store_id, category) pair of the history.
    """

    totals: pl.DataFrame
    holidays: tuple[date, ...]
    keys: pl.DataFrame


class FitsInParts(ABC, Generic[PartFeatures, TrainingRows]):
    """The steps that fit a model learning across series from article groups (`forecast.engine`).

    Put together, the steps give the model `fit` gives on the whole panel:

    1. each part: `part_features` (its features at the origin, read with the run's `PartContext`) and
       `candidate_rows` (how many training rows they offer);
    2. once: `sample_share` of the candidates summed over the parts;
    3. each part: `part_rows`, the training rows it contributes at that share;
    4. once: `training_set` from every part's rows; then each of `sub_fits` (boosters, sub-models) is a
       task `fit_sub`, after the one `starts_from` names;
    5. once: `assemble`, the fitted model (it predicts nothing until given a part's features);
    6. each part: ``assembled.for_part(...)`` predicts the part's series.

    No step changes the model it is called on.
    """

    @abstractmethod
    def part_features(self, history: pl.DataFrame, origin: date, context: PartContext) -> PartFeatures:
        """The features of one part's `history` at `origin`."""

    @abstractmethod
    def candidate_rows(self, features: PartFeatures) -> int:
        """Training rows `features` offer before sampling."""

    @abstractmethod
    def sample_share(self, candidates: int) -> float:
        """The share of the run's `candidates` training rows kept."""

    @abstractmethod
    def part_rows(self, features: PartFeatures, share: float, context: PartContext) -> pl.DataFrame:
        """The training rows one part contributes, sampled with `share`."""

    @abstractmethod
    def training_set(self, rows: pl.DataFrame, origin: date, context: PartContext) -> TrainingRows:
        """Every part's `rows` put together as the sub-fits' inputs."""

    @abstractmethod
    def sub_fits(self) -> list[str]:
        """The sub-fits trained as separate tasks, each after the one `starts_from` names."""

    @abstractmethod
    def starts_from(self, job: str) -> str | None:
        """The sub-fit whose result `fit_sub` of `job` continues, if any."""

    @abstractmethod
    def fit_sub(self, training: TrainingRows, job: str, start: Any = None) -> Any:
        """One sub-fit trained on `training` (`start`: the result of `starts_from(job)`)."""

    @abstractmethod
    def assemble(
        self, training: TrainingRows, results: dict[str, Any], origin: date, first_week: date
    ) -> Forecaster:
        """A copy fitted at `origin` from the sub-fits' `results` (`first_week`: the run's first week)."""

    @abstractmethod
    def for_part(self, features: PartFeatures, history: pl.DataFrame, origin: date) -> Forecaster:
        """This assembled model predicting one part's series from its `features` (and `history`)."""


class LaunchFitsInParts(ABC):
    """The steps that fit a cold-start model from article groups (`forecast.engine`).

    Each part gives its launches (`forecast.features.launch.launch_inputs` over `launch_weeks` weeks);
    `launch_sub_fits` lists the sub-fits trained as separate tasks (`fit_launch_sub`) on the design that
    `launch_design` builds from every part's launches, and `assemble_launches` puts them together. A model
    that lists none is fitted in one task by `fit_launches(..., threads)`.
    """

    @abstractmethod
    def launch_weeks(self) -> int:
        """Weeks from launch the model learns (each part's launch inputs cover them)."""

    @abstractmethod
    def launch_sub_fits(self) -> list[int]:
        """The sub-fits trained as separate tasks (empty: the model is fitted in one task)."""

    @abstractmethod
    def launch_design(
        self, inputs: Any, origin: date, *, articles: pl.DataFrame, trends: pl.DataFrame | None
    ) -> Any:
        """The training design from every part's launch `inputs` (the model itself is not changed)."""

    @abstractmethod
    def fit_launch_sub(self, design: Any, job: int) -> Any:
        """One sub-fit trained on `design`."""

    @abstractmethod
    def assemble_launches(self, design: Any, results: list[Any]) -> LaunchForecaster:
        """The fitted model from `design` and every sub-fit's result, in `launch_sub_fits` order."""

    @abstractmethod
    def fit_launches(
        self,
        inputs: Any,
        origin: date,
        *,
        articles: pl.DataFrame,
        trends: pl.DataFrame | None = None,
        threads: int | None = None,
    ) -> LaunchForecaster:
        """`fit` from every part's launch `inputs` in one task, with `threads` threads."""
