"""Calibrated q10/q90 for the cold-start model: conformal offsets measured on its latest launches.

Quantile boosters fitted on every launch are under-dispersed on new launches: their q10-q90 band holds fewer
held-out sales than 80%. A cold-start model with ``calibrate=True`` (`ColdStartForecaster`) fits as usual
and, in the spirit of conformalized quantile regression, measures how far off its outer quantiles are on a
time-ordered holdout of the launches known at the origin:

1. the launched pairs are ordered by launch week; the cut is the launch week after which the latest
   `holdout_share` of them launched (`holdout_cut`);
2. a second model with the same parameters is fitted at the cut on what was known then: the launches and the
   weeks from launch up to the cut (`inputs_before`);
3. it forecasts the held-out launches (those after the cut); for each quantile level ``q`` other than 0.5 and
   each week from launch, the offset is the ``q``-quantile of the residual ``y - q_hat`` over the held-out
   pairs' weeks that ended by the origin (`launch_offsets`): a share ``q`` of them falls at or below the
   shifted quantile. Weeks with fewer than `MIN_WEEK_ROWS` residuals take the pooled offset, weeks past the
   model's last week the last week's. Without enough launches on either side of the cut (or fewer than
   `MIN_LAUNCHES` whose whole window ended by it) there are no offsets and the band is the raw one;
4. the offsets are added to the full model's quantiles at prediction time (`shift_quantiles`); quantiles
   stay on their side of q50, in order and at or above 0. ``q50`` is never changed, so the point forecast
   (and WAPE) is the uncalibrated model's; the mean is raised where the wider band cannot hold it
   (`forecast.distribution.raise_mean_to_quantiles`, as the cold-start model does for its own band): it is
   the mean of the calibrated distribution the allocator reads, not a point forecast.

Everything is read from the launch inputs up to the origin, so data after the origin cannot change the
offsets. The calibration costs one more fit of the cold-start model, on the older launches. The default
holdout is the latest 20% of launches: a larger share covers more but calibrates on older launches.
Coverage is only as good as the latest launches are like the next ones. Offsets in units are the default;
offsets in band widths (``relative=True``) were not better.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from forecast.contracts import quantile_columns
from forecast.distribution import ordered_around
from forecast.features import launch as cf
from forecast.models.lgbm_parts import weighted_quantile

if TYPE_CHECKING:
    from forecast.models.coldstart import ColdStartForecaster

KEY = cf.KEY
MIN_WEEK_ROWS = 50  # held-out residuals a week from launch needs for its own offsets
MIN_LAUNCHES = 20  # launched pairs needed on each side of the cut to calibrate at all
MIN_SPREAD = 1.0  # units: the smallest band width relative offsets are measured in


def holdout_cut(pairs: pl.DataFrame, share: float) -> date | None:
    """The launch week after which the latest `share` of `pairs` launched (None: too few on a side).

    Examples
    --------
    >>> weeks = [date(2024, 1, 1) + (k // 10) * (date(2024, 1, 8) - date(2024, 1, 1)) for k in range(100)]
    >>> pairs = pl.DataFrame({"article_id": [str(k) for k in range(100)], "launch_week": weeks})
    >>> holdout_cut(pairs, 0.2)
    datetime.date(2024, 2, 19)
    """
    launch = pairs["launch_week"].sort()
    if launch.len() == 0:
        return None
    cut = launch[int(np.floor((1.0 - share) * (launch.len() - 1)))]
    older = int((launch <= cut).sum())
    if older < MIN_LAUNCHES or launch.len() - older < MIN_LAUNCHES:
        return None
    return cut  # type: ignore[no-any-return]


def inputs_before(inputs: cf.LaunchInputs, cut: date) -> cf.LaunchInputs:
    """The launch inputs as known at `cut`: launches by the cut, their weeks from launch up to it."""
    pairs = inputs.pairs.filter(pl.col("launch_week") <= cut)
    later = inputs.pairs.filter(pl.col("launch_week") > cut).select(KEY)
    grid = inputs.grid.filter(pl.col("_week") <= cut).join(pairs.select(KEY), on=KEY, how="semi")
    return cf.LaunchInputs(pairs=pairs, grid=grid, seen=inputs.seen.join(later, on=KEY, how="anti"))


def held_out_forecasts(
    model: ColdStartForecaster,
    inputs: cf.LaunchInputs,
    share: float,
    *,
    articles: pl.DataFrame,
    trends: pl.DataFrame | None = None,
) -> pl.DataFrame | None:
    """Forecasts of the held-out launches by `model` (unfitted; a clone is fitted at the holdout cut) with
    their actual ``units``, one row per pair and week from launch that ended by the origin; None when there
    are too few launches to hold some out, or fewer than `MIN_LAUNCHES` whose window ended by the cut."""
    cut = holdout_cut(inputs.pairs, share)
    if cut is None:
        return None
    weeks = model.launch_weeks()
    before = inputs_before(inputs, cut)
    complete = before.grid.group_by(KEY).len().filter(pl.col("len") == weeks).height
    if complete < MIN_LAUNCHES:
        return None
    older = model.clone().fit_launches(before, cut, articles=articles, trends=trends)
    held = inputs.pairs.filter(pl.col("launch_week") > cut)
    forecast = older.predict(weeks, held.select(*KEY, "launch_week"))
    scored = forecast.join(inputs.grid.select(*KEY, "horizon", "units"), on=[*KEY, "horizon"], how="inner")
    return scored if scored.height >= MIN_LAUNCHES else None


def spread(forecasts: pl.DataFrame) -> np.ndarray:
    """Width of each row's outer band (lowest to highest quantile), at least `MIN_SPREAD` units."""
    columns = list(quantile_columns(forecasts.columns))
    values = forecasts.select(columns).to_numpy().astype(np.float64)
    return np.maximum(values[:, -1] - values[:, 0], MIN_SPREAD)


def launch_offsets(scored: pl.DataFrame, weeks: int, *, relative: bool = False) -> dict[str, np.ndarray]:
    """Offsets (indexed by week from launch 0..`weeks`) of the quantiles other than q50 from held-out
    forecasts with actuals (`held_out_forecasts`): in units, or with `relative` in band widths (`spread`)."""
    units, horizon = scored["units"].to_numpy(), scored["horizon"].to_numpy()
    scale = spread(scored) if relative else np.ones(scored.height)
    return {
        column: _week_offsets((units - scored[column].to_numpy()) / scale, horizon, level, weeks)
        for column, level in quantile_columns(scored.columns).items()
        if column != "q50"
    }


def _week_offsets(residual: np.ndarray, horizon: np.ndarray, level: float, weeks: int) -> np.ndarray:
    ones = np.ones(len(residual))
    pooled = weighted_quantile(residual, ones, level)
    offsets = np.full(weeks + 1, pooled)
    for h in range(1, weeks + 1):
        rows = horizon == h
        if rows.sum() >= MIN_WEEK_ROWS:
            offsets[h] = weighted_quantile(residual[rows], ones[rows], level)
    return offsets


def shift_quantiles(
    forecasts: pl.DataFrame, offsets: dict[str, np.ndarray], *, relative: bool = False
) -> pl.DataFrame:
    """`forecasts` with each offset column shifted by its week-from-launch offset (``horizon``; times the
    row's `spread` with `relative`), kept on its side of q50, ordered and at or above 0; ``q50`` and ``mean``
    are left as they are.

    Examples
    --------
    >>> rows = pl.DataFrame({"horizon": [1, 2], "mean": [5.0, 5.0], "q10": [2.0, 2.0], "q50": [4.0, 4.0],
    ...     "q90": [6.0, 6.0]})
    >>> offsets = {"q10": np.array([0.0, -1.0, -3.0]), "q90": np.array([0.0, 2.0, -5.0])}
    >>> shift_quantiles(rows, offsets).select("q10", "q50", "q90").rows()
    [(1.0, 4.0, 8.0), (0.0, 4.0, 4.0)]
    >>> shift_quantiles(rows, offsets, relative=True).select("q10", "q50", "q90").rows()  # times the width, 4
    [(0.0, 4.0, 14.0), (0.0, 4.0, 4.0)]
    """
    if not offsets or forecasts.height == 0:
        return forecasts
    columns = list(quantile_columns(forecasts.columns))
    values = forecasts.select(columns).to_numpy().astype(np.float64)
    scale = spread(forecasts) if relative else np.ones(forecasts.height)
    step = np.clip(forecasts["horizon"].to_numpy(), 1, None)
    middle = columns.index("q50")
    out = values.copy()
    for i, column in enumerate(columns):
        if column in offsets:
            table = offsets[column]
            out[:, i] = np.maximum(values[:, i] + table[np.minimum(step, len(table) - 1)] * scale, 0.0)
    shifted = ordered_around(out, middle)
    return forecasts.with_columns(pl.Series(c, shifted[:, i]) for i, c in enumerate(columns))
