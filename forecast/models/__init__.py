"""Demand models and their registry: the one place models are listed.

A model is registered under its name with a factory that builds it, unfitted, from the pipeline config
(`register`); the backtest, `forecast predict`, the replay, the CLI's ``--models`` and the pipeline's
``[models]`` section all read the registry. Adding a model:

>>> from forecast.models import register, registered
>>> from forecast.models.baselines import StatsForecastModel
>>> register("naive_copy", lambda config: StatsForecastModel("naive", config.forecast.quantiles))
>>> "naive_copy" in registered()
True
>>> unregister("naive_copy")

then name it in ``[models] baselines`` (or ``forecast backtest --models naive_copy``). Model modules are
imported by the factories, so a pipeline without LightGBM never loads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from forecast.errors import ConfigError
from forecast.models.base import FORECAST_COLUMNS, Forecaster, LaunchForecaster, quantile_column
from forecast.models.baselines import METHODS as STATSFORECAST_METHODS

if TYPE_CHECKING:
    from forecast.config import PipelineConfig

Factory = Callable[["PipelineConfig"], Forecaster]
_REGISTRY: dict[str, Factory] = {}


def register(name: str, factory: Factory, *, replace: bool = False) -> None:
    """Register `factory` (pipeline config -> unfitted model named `name`) under `name`."""
    if name in _REGISTRY and not replace:
        msg = f"model {name!r} is already registered; pass replace=True to replace it"
        raise ConfigError(msg)
    _REGISTRY[name] = factory


def unregister(name: str) -> None:
    """Remove `name` from the registry (tests that register a model take it back out)."""
    _REGISTRY.pop(name, None)


def registered() -> list[str]:
    """Registered model names, in registration order."""
    return list(_REGISTRY)


def create(name: str, config: PipelineConfig) -> Forecaster:
    """The unfitted model registered as `name`, built from `config`."""
    if name not in _REGISTRY:
        msg = f"unknown model {name!r}; choose one of {registered()}"
        raise ConfigError(msg)
    model = _REGISTRY[name](config)
    if model.name != name:
        msg = f"the factory registered as {name!r} built a model named {model.name!r}"
        raise ConfigError(msg)
    return model


def build_models(config: PipelineConfig) -> list[Forecaster]:
    """The backtested models the pipeline names (`ModelsConfig.names`), built from the registry."""
    return [create(name, config) for name in config.models.names()]


def build_cold_start(config: PipelineConfig, attributes: list[str] | None = None) -> LaunchForecaster | None:
    """The cold-start model (`ColdStartForecaster`; `CalibratedColdStart` with ``[models]
    calibrate_cold_start``) when the pipeline enables it, else None.

    `attributes` are the catalogue columns the dataset names as article attributes (default: every text
    column of the catalogue).
    """
    if not config.models.cold_start:
        return None
    from forecast.models.coldstart import ColdStartForecaster
    from forecast.models.launch_calibration import CalibratedColdStart

    kind = CalibratedColdStart if config.models.calibrate_cold_start else ColdStartForecaster
    return kind(quantiles=config.forecast.quantiles, seed=config.forecast.seed, attributes=attributes or None)


def _statsforecast(method: str) -> Factory:
    def factory(config: PipelineConfig) -> Forecaster:
        from forecast.models.baselines import StatsForecastModel

        return StatsForecastModel(method, quantiles=config.forecast.quantiles)

    return factory


def _lightgbm(config: PipelineConfig, *, calibrated: bool = False, inner: bool = False) -> Forecaster:
    """LightGBM learns the horizons the pipeline forecasts (`PipelineConfig.model_horizon`), no more.

    `calibrated` turns its quantile calibration on (else ``[models] calibrate_quantiles`` decides) and builds
    the `CalibratedLightGBM` registered as ``lightgbm_calibrated``, or with `inner` the plain class a blend
    holds.
    """
    from forecast.models.lgbm import CalibratedLightGBM, LightGBMForecaster

    kind = CalibratedLightGBM if calibrated and not inner else LightGBMForecaster
    return kind(
        features=config.features,
        quantiles=config.forecast.quantiles,
        seed=config.forecast.seed,
        params=config.models.lightgbm_params,
        quantile_start=config.models.lightgbm_quantile_start,
        quantile_params=config.models.lightgbm_quantile_params or None,
        calibrate=calibrated or config.models.calibrate_quantiles,
        holiday_weight=config.models.holiday_weight,
        max_horizon=config.model_horizon,
        active_weeks=config.forecast.active_weeks,
        max_rows=config.models.max_rows,
    )


def _lightgbm_calibrated(config: PipelineConfig) -> Forecaster:
    return _lightgbm(config, calibrated=True)


def _lightgbm_svd(config: PipelineConfig) -> Forecaster:
    from forecast.models.blend import BlendForecaster

    return BlendForecaster(_lightgbm(config))


def _lightgbm_svd_calibrated(config: PipelineConfig) -> Forecaster:
    """The blend of calibrated LightGBM quantiles with stlf.svd's (averaged in as they are)."""
    from forecast.models.blend import CalibratedBlendForecaster

    return CalibratedBlendForecaster(_lightgbm(config, calibrated=True, inner=True))


def _stlf_svd(config: PipelineConfig) -> Forecaster:
    from forecast.models.svd_stl import SVDSTLForecaster

    return SVDSTLForecaster(config.forecast.quantiles, active_weeks=config.forecast.active_weeks)


for _method in STATSFORECAST_METHODS:
    register(_method, _statsforecast(_method))
register("lightgbm", _lightgbm)
register("lightgbm_svd", _lightgbm_svd)
register("lightgbm_calibrated", _lightgbm_calibrated)
register("lightgbm_svd_calibrated", _lightgbm_svd_calibrated)
register("stlf_svd", _stlf_svd)

__all__ = [
    "FORECAST_COLUMNS",
    "Factory",
    "Forecaster",
    "LaunchForecaster",
    "build_cold_start",
    "build_models",
    "create",
    "quantile_column",
    "register",
    "registered",
    "unregister",
]
