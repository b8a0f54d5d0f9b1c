"""Demand, not sales: what the models learn on stockout weeks.

A censored week (`forecast.panel`: the shelf ran empty) sold ``s`` units while customers wanted ``D >= s``.
Leaving such weeks out (``[demand] censoring = "drop"``) biases the training data towards the weeks that
did not sell out, which are the weeks of lower demand; keeping ``s`` teaches the stockout as low demand.
With ``censoring = "expected"`` (the default) `uncensor` replaces ``s`` by its conditional expectation

    E[D | D >= s] = (mu - sum_{d < s} d P(D = d)) / P(D >= s)

under a negative binomial demand of mean ``mu`` and shape ``dispersion`` (variance ``mu + mu^2 / k``; the
store × article weekly demand of fashion is overdispersed), and the week then counts as an ordinary week
for every model. ``mu`` is the mean of the series' uncensored weeks at the censored week's own price within
``window`` weeks either side (a markdown's weeks sell more than the full-price weeks around them; the whole
history is known at the origin, so both sides are), else at any price within the window, else of all its
uncensored weeks, else ``s``. The imputed value is never below the sales: a censored week's demand is at
least what it sold.

The stage runs on the training history before any model fits (`forecast.backtest.fold_data`,
`forecast.predict.predict_all`); the scored actuals stay the observed sales (and the true demand where the
data has it).
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.stats import nbinom

from forecast.config import DemandConfig
from forecast.contracts import SERIES


def expected_demand_above(sales: np.ndarray, mean: np.ndarray, dispersion: float) -> np.ndarray:
    """E[D | D >= sales] for D negative binomial with mean `mean` and shape `dispersion`, per row.

    Examples
    --------
    >>> expected_demand_above(np.array([0.0, 3.0]), np.array([2.0, 2.0]), 2.0).round(3).tolist()
    [2.0, 4.4]
    """
    s = np.floor(np.maximum(sales, 0.0)).astype(np.int64)
    mu = np.maximum(mean, 1e-9)
    p = dispersion / (dispersion + mu)
    below = np.zeros_like(mu)
    for d in range(1, int(s.max(initial=0))):
        below += np.where(d < s, d * nbinom.pmf(d, dispersion, p), 0.0)
    above = nbinom.sf(s - 1, dispersion, p)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = (mu - below) / above
    # far in the tail the formula loses precision; the demand is then just above the sales
    value = np.where((above > 1e-12) & np.isfinite(value), value, s + 1.0)
    return np.maximum(value, np.maximum(sales, 0.0))


def uncensor(history: pl.DataFrame, config: DemandConfig) -> pl.DataFrame:
    """`history` with each censored week's ``units`` replaced by its expected demand (module docstring)
    and ``censored`` set to False; unchanged with ``censoring = "drop"`` or without censored weeks."""
    if config.censoring == "drop" or "censored" not in history.columns or history.height == 0:
        return history
    if not history["censored"].fill_null(False).any():
        return history
    order = [*SERIES, "week"]
    frame = history.with_row_index("_row").sort(order)
    censored = pl.col("censored").fill_null(False)
    known = pl.when(~censored).then(pl.col("units").clip(lower_bound=0.0))
    width = 2 * config.window + 1
    near = known.fill_null(0.0).rolling_sum(width, center=True, min_samples=1)
    count = (~censored).cast(pl.Float64).rolling_sum(width, center=True, min_samples=1)
    level = pl.col("price").round(2).fill_null(-1.0) if "price" in frame.columns else pl.lit(0.0)
    frame = frame.with_columns(level.alias("_level")).with_columns(
        (near / count).over([*SERIES, "_level"]).alias("_same"),
        (near / count).over(SERIES).alias("_near"),
        known.mean().over(SERIES).alias("_all"),
    )
    sold = pl.col("units") + (pl.col("returns_units") if "returns_units" in frame.columns else pl.lit(0.0))
    rows = frame.filter(censored).select(
        "_row",
        sold.clip(lower_bound=0.0).alias("_sold"),
        pl.coalesce(
            pl.col("_same").fill_nan(None), pl.col("_near").fill_nan(None), "_all", sold.clip(lower_bound=0.0)
        ).alias("_mu"),
    )
    imputed = expected_demand_above(rows["_sold"].to_numpy(), rows["_mu"].to_numpy(), config.dispersion)
    values = rows.select("_row", pl.Series("_imputed", imputed))
    out = frame.join(values, on="_row", how="left").sort("_row")
    return out.with_columns(
        pl.coalesce("_imputed", "units").alias("units"), pl.lit(False).alias("censored")
    ).select(history.columns)


__all__ = ["expected_demand_above", "uncensor"]
