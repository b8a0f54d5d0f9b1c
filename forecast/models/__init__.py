"""Demand models: statsforecast baselines, the global LightGBM model and the cold-start model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from forecast.models.base import FORECAST_COLUMNS, Forecaster, quantile_column

if TYPE_CHECKING:
    from forecast.config import PipelineConfig
    from forecast.dataset import Dataset


def build_models(config: PipelineConfig, ds: Dataset) -> list[Forecaster]:
    """The backtested models the pipeline names: its baselines, then LightGBM when enabled.

    LightGBM learns the horizons 1..max(forecast horizon, backtest horizon), no more. With
    ``models.svd_blend`` the LightGBM model is blended with the stlf.svd model (name ``lightgbm_svd``).

    The cold-start model is not in this list (it only forecasts articles with no history); see
    `build_cold_start`. Model modules are imported lazily, so a pipeline without LightGBM never loads it.
    """
    from forecast.models.baselines import StatsForecastModel

    models: list[Forecaster] = [
        StatsForecastModel(method, quantiles=config.forecast.quantiles) for method in config.models.baselines
    ]
    if config.models.lightgbm:
        from forecast.models.lgbm import LightGBMForecaster

        lgbm = LightGBMForecaster(
            features=config.features,
            quantiles=config.forecast.quantiles,
            seed=config.forecast.seed,
            params=config.models.lightgbm_params,
            articles=ds.articles,
            exog=ds.exog,
            calibrate=config.models.calibrate_quantiles,
            holiday_weight=config.models.holiday_weight,
            # only the horizons the pipeline asks for: the backtest's and the forecast's
            max_horizon=max(config.forecast.horizon, config.backtest_horizon),
        )
        if config.models.svd_blend:
            from forecast.models.blend import BlendForecaster

            models.append(BlendForecaster(lgbm))
        else:
            models.append(lgbm)
    return models


def build_cold_start(config: PipelineConfig, ds: Dataset) -> Any | None:
    """The cold-start model (`ColdStartForecaster`) when the pipeline enables it, else None."""
    if not config.models.cold_start:
        return None
    from forecast.models.coldstart import ColdStartForecaster

    return ColdStartForecaster(
        quantiles=config.forecast.quantiles,
        seed=config.forecast.seed,
        articles=ds.articles,
        trends=ds.trends,
        attributes=ds.article_attributes or None,
    )


__all__ = ["FORECAST_COLUMNS", "Forecaster", "build_cold_start", "build_models", "quantile_column"]
