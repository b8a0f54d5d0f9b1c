"""Demand models: statsforecast baselines, the global LightGBM model and the cold-start model."""

from forecast.models.base import FORECAST_COLUMNS, Forecaster, quantile_column

__all__ = ["FORECAST_COLUMNS", "Forecaster", "quantile_column"]
