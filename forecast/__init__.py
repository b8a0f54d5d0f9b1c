"""forecast: demand forecasting, business backtesting and stock allocation for fashion retail."""

import os

# OpenMP threads (LightGBM's) that wait for each other spin a long time before sleeping by default: on a busy
# machine the spinning thread holds the core its partner needs, and multi-threaded fits slow down many times
# over. A shorter spin keeps the fast hand-over without that stall. Set before LightGBM loads the OpenMP
# runtime, unless the environment says otherwise; results do not depend on it.
os.environ.setdefault("GOMP_SPINCOUNT", "20000")

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
