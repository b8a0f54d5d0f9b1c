"""The column contracts shared by every stage: series keys, forecast columns, quantile naming.

A series is one article in one store (`SERIES`). A forecasts frame holds `FORECAST_COLUMNS` and may carry
more quantile columns named by `quantile_column` (``q10``, ``q97.5``); `quantile_columns` reads them back with
their levels, sorted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SERIES: list[str] = ["article_id", "store_id"]
WEEKLY_KEY: list[str] = [*SERIES, "week"]
DEFAULT_QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)
FORECAST_VALUES: list[str] = ["mean", "q10", "q50", "q90"]
FORECAST_COLUMNS: list[str] = [*WEEKLY_KEY, "horizon", "model", *FORECAST_VALUES]
QUANTILE_COLUMN = re.compile(r"^q(\d+(?:\.\d+)?)$")


def quantile_column(q: float) -> str:
    """Column name of quantile `q`: 0.1 -> "q10", 0.5 -> "q50", 0.975 -> "q97.5".

    Examples
    --------
    >>> quantile_column(0.9)
    'q90'
    >>> quantile_column(0.975)
    'q97.5'
    """
    pct = round(q * 100, 6)
    return f"q{int(pct)}" if float(pct).is_integer() else f"q{pct:g}"


def quantile_columns(columns: Iterable[str]) -> dict[str, float]:
    """Map each quantile column name (``q10``, ``q97.5``...) to its level, sorted by level.

    Examples
    --------
    >>> quantile_columns(["mean", "q90", "q10", "q50"])
    {'q10': 0.1, 'q50': 0.5, 'q90': 0.9}
    """
    found = {}
    for name in columns:
        match = QUANTILE_COLUMN.match(name)
        if match and 0 < float(match.group(1)) < 100:
            found[name] = float(match.group(1)) / 100
    return dict(sorted(found.items(), key=lambda item: item[1]))


def output_levels(quantiles: Iterable[float]) -> list[float]:
    """The quantile levels a model writes: those asked for plus the contract's q10/q50/q90, sorted, unique.

    Examples
    --------
    >>> output_levels([0.25, 0.5])
    [0.1, 0.25, 0.5, 0.9]
    """
    return sorted({round(float(q), 6) for q in (*quantiles, *DEFAULT_QUANTILES)})
