"""Calibrated q10/q90 for the cold-start model: conformal offsets measured on its latest launches.

Quantile boosters fitted on every launch are under-dispersed on new launches (the cold-start q10-q90 band
covered 72-78% of VISUELLE's held-out weekly sales). `CalibratedColdStart` fits the cold-start model as usual
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
   model's last week the last week's;
4. the offsets are added to the full model's quantiles at prediction time (`shift_quantiles`); quantiles
   stay on their side of q50, in order and at or above 0. ``q50`` and ``mean`` are never changed, so the
   point forecast (and WAPE) is the uncalibrated model's.

Everything is read from the launch inputs up to the origin, so data after the origin cannot change the
offsets. The calibration costs one more fit of the cold-start model, on the older launches.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import polars as pl

from forecast.features import launch as cf
from forecast.models.base import quantile_column
from forecast.models.coldstart import ColdStartForecaster
from forecast.models.lgbm import weighted_quantile

KEY = cf.KEY
MIN_WEEK_ROWS = 50  # held-out residuals a week from launch needs for its own offsets
MIN_LAUNCHES = 20  # launched pairs needed on each side of the cut to calibrate at all


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


def launch_offsets(
    model: ColdStartForecaster,
    inputs: cf.LaunchInputs,
    share: float,
    *,
    articles: pl.DataFrame,
    trends: pl.DataFrame | None = None,
) -> dict[str, np.ndarray]:
    """Offsets (units, indexed by week from launch 0..weeks) of the quantiles other than q50.

    `model` is unfitted; a clone is fitted at the holdout cut and scored on the later launches (module
    docstring). Empty when there are too few launches to hold some out.
    """
    cut = holdout_cut(inputs.pairs, share)
    if cut is None:
        return {}
    weeks = int(model._param("weeks"))
    older = model.clone().fit_launches(inputs_before(inputs, cut), cut, articles=articles, trends=trends)
    held = inputs.pairs.filter(pl.col("launch_week") > cut)
    forecast = older.predict(weeks, held.select(*KEY, "launch_week"))
    scored = forecast.join(inputs.grid.select(*KEY, "horizon", "units"), on=[*KEY, "horizon"], how="inner")
    if scored.height < MIN_LAUNCHES:
        return {}
    units, horizon = scored["units"].to_numpy(), scored["horizon"].to_numpy()
    return {
        quantile_column(q): _week_offsets(units - scored[quantile_column(q)].to_numpy(), horizon, q, weeks)
        for q in older.levels
        if q != 0.5
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


def shift_quantiles(forecasts: pl.DataFrame, offsets: dict[str, np.ndarray]) -> pl.DataFrame:
    """`forecasts` with each offset column shifted by its week-from-launch offset (``horizon``), kept on its
    side of q50, ordered and at or above 0; ``q50`` and ``mean`` are left as they are.

    Examples
    --------
    >>> rows = pl.DataFrame({"horizon": [1, 2], "mean": [5.0, 5.0], "q10": [2.0, 2.0], "q50": [4.0, 4.0],
    ...     "q90": [6.0, 6.0]})
    >>> out = shift_quantiles(rows, {"q10": np.array([0.0, -1.0, -3.0]), "q90": np.array([0.0, 2.0, -5.0])})
    >>> out.select("q10", "q50", "q90").rows()
    [(1.0, 4.0, 8.0), (0.0, 4.0, 4.0)]
    """
    if not offsets or forecasts.height == 0:
        return forecasts
    columns = sorted(
        (c for c in forecasts.columns if c.startswith("q") and c[1:].isdigit()), key=lambda c: int(c[1:])
    )
    values = forecasts.select(columns).to_numpy().astype(np.float64)
    step = np.clip(forecasts["horizon"].to_numpy(), 1, None)
    middle = columns.index("q50")
    out = values.copy()
    for i, column in enumerate(columns):
        if column in offsets:
            table = offsets[column]
            out[:, i] = np.maximum(values[:, i] + table[np.minimum(step, len(table) - 1)], 0.0)
    below = np.minimum.accumulate(out[:, middle::-1], axis=1)[:, ::-1]
    above = np.maximum.accumulate(out[:, middle:], axis=1)
    shifted = np.column_stack([below[:, :middle], above])
    return forecasts.with_columns(pl.Series(c, shifted[:, i]) for i, c in enumerate(columns))


class CalibratedColdStart(ColdStartForecaster):
    """The cold-start model with q10/q90 (and any other quantile but q50) calibrated on its latest launches.

    Parameters
    ----------
    quantiles, seed, attributes, params
        As `ColdStartForecaster`.
    holdout_share
        Share of the launched pairs (the latest) the calibration holds out.

    Examples
    --------
    >>> CalibratedColdStart([0.1, 0.5, 0.9], 0).name
    'cold_start'
    """

    def __init__(
        self,
        quantiles: list[float],
        seed: int,
        attributes: list[str] | None = None,
        params: dict[str, Any] | None = None,
        holdout_share: float = 0.2,
    ) -> None:
        super().__init__(quantiles, seed, attributes, params)
        self.holdout_share = holdout_share

    def fit_launches(
        self,
        inputs: cf.LaunchInputs,
        origin: date,
        *,
        articles: pl.DataFrame,
        trends: pl.DataFrame | None = None,
    ) -> CalibratedColdStart:
        """`ColdStartForecaster.fit_launches`, then the offsets from the time-ordered holdout."""
        super().fit_launches(inputs, origin, articles=articles, trends=trends)
        plain = ColdStartForecaster(list(self.quantiles), self.seed, self.attributes, self.params)
        self.offsets_ = launch_offsets(plain, inputs, self.holdout_share, articles=articles, trends=trends)
        return self

    def predict(self, horizon: int, launches: pl.DataFrame | None = None) -> pl.DataFrame:
        """`ColdStartForecaster.predict` with the calibration offsets added (q50 and mean unchanged)."""
        return shift_quantiles(super().predict(horizon, launches), getattr(self, "offsets_", {}))
