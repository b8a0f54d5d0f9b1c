"""The feature engine every model reads its features from.

- `spec`: `FeatureSpec`, the declarative list of what to build, read from a pipeline's `FeaturesConfig`.
- `matrix`: the panel up to an origin as a series × week matrix (the fast path), with hierarchy totals.
- `design`: series × origin × horizon rows of lags, windows, aligned seasonal values, scaling, hierarchy.
- `seasonal`: the holiday-aligned week a year before a target week.
- `hierarchy`: category × store totals (a global reduce step) and article totals.
- `calendar`: target-week and launch-day calendars.
- `frames`: the engine as frames in, frames out, for any part of the articles.
- `price`: price features of the target week, from the charged and planned prices.
- `launch`: launch-day features of articles with no history (attributes, calendar, trends, drop size).
"""

from forecast.features.calendar import CALENDAR_COLUMNS, launch_calendar, with_calendar
from forecast.features.design import design, training_rows
from forecast.features.frames import horizon_features, origin_features
from forecast.features.hierarchy import group_totals
from forecast.features.matrix import PriceBlock, SeriesMatrix, build_matrix, denoise, with_plan
from forecast.features.price import MONOTONE, PRICE_FEATURES, monotone_signs
from forecast.features.seasonal import seasonal_offset
from forecast.features.spec import FeatureSpec

__all__ = [
    "CALENDAR_COLUMNS",
    "MONOTONE",
    "PRICE_FEATURES",
    "FeatureSpec",
    "PriceBlock",
    "SeriesMatrix",
    "build_matrix",
    "denoise",
    "design",
    "group_totals",
    "horizon_features",
    "launch_calendar",
    "monotone_signs",
    "origin_features",
    "seasonal_offset",
    "training_rows",
    "with_calendar",
    "with_plan",
]
