"""forecast: demand forecasting, business backtesting and stock allocation for fashion retail."""

from forecast.config import PipelineConfig, load_pipeline
from forecast.dataset import Dataset
from forecast.errors import ConfigError, ForecastError, InfeasibleError, InputError

__all__ = [
    "ConfigError",
    "Dataset",
    "ForecastError",
    "InfeasibleError",
    "InputError",
    "PipelineConfig",
    "load_pipeline",
]
__version__ = "0.1.0"
