"""Naive, seasonal naive and window average over many series of one length at once.

Each function takes `y`, an array (series, weeks) of histories that all have the same length (the caller
groups series by length, so every reduction runs over the same number of weeks as statsforecast's does on
one series), and returns the array (series, horizon, 1 + quantiles) that `StatsForecastModel`'s per-series
path builds before clipping: the mean, then each quantile of `quantiles`. The arithmetic is statsforecast's
(`statsforecast.utils._naive`, ``_seasonal_naive``, ``_calculate_sigma``, ``_calculate_intervals``;
``WindowAverage``) and the conformal and residual bands are those of `forecast.models.baselines`, operation
for operation, so the results equal the per-series path's (tests/test_baseline_arrays.py checks it).

- naive: mean = the last week; sigma = sqrt(sum of squared one-week differences / (n − 1)) (0 for n = 1);
  q_tau = mean ∓ z·sigma·sqrt(step), z the normal quantile of level 100·|1 − 2·tau|.
- seasonal naive (n ≥ season length): mean = the last season repeated; sigma from the differences with the
  week one season earlier, over n − season length; the band grows with sqrt(1 + whole seasons ahead).
- window average: mean = the mean of the last `window_size` weeks; quantiles from the pooled absolute errors
  of the method refitted before each of the last windows of `horizon` weeks (split-conformal), or from the
  recent deviations from the series' own mean when the series is too short for two windows; a series
  shorter than `window_size` gets the naive forecast and band.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def interval_levels(quantiles: Sequence[float]) -> list[int]:
    """The prediction-interval levels (percent) that give `quantiles`, as the per-series path asks them."""
    return sorted({round(100 * abs(1 - 2 * q)) for q in quantiles if q != 0.5})


def _normal_quantiles(levels: list[int]) -> dict[int, float]:
    from statsforecast.utils import _quantiles

    if not levels:
        return {}
    z = _quantiles(np.asarray(levels))
    return {level: z[i] for i, level in enumerate(levels)}


def _sigma(residuals: np.ndarray, n: int) -> np.ndarray:
    """statsforecast's ``_calculate_sigma`` per row: residuals keep statsforecast's leading NaNs so that the
    sums run over the same elements in the same order."""
    if n <= 0:
        return np.zeros(residuals.shape[0])
    return np.sqrt(np.nansum(residuals**2, axis=1) / n)


def _from_intervals(mean: np.ndarray, sigmah: np.ndarray, quantiles: Sequence[float]) -> np.ndarray:
    """Mean and interval bounds as columns: (series, horizon, 1 + quantiles)."""
    z = _normal_quantiles(interval_levels(quantiles))
    cols = [mean]
    for q in quantiles:
        if q == 0.5:
            cols.append(mean)
            continue
        spread = z[round(100 * abs(1 - 2 * q))] * sigmah
        cols.append(mean - spread if q < 0.5 else mean + spread)
    return np.nan_to_num(np.stack(cols, axis=2))


def naive(y: np.ndarray, horizon: int, quantiles: Sequence[float]) -> np.ndarray:
    """Naive forecasts with statsforecast's ``Naive`` intervals for the rows of `y`."""
    m, n = y.shape
    mean = np.repeat(y[:, -1:], horizon, axis=1)
    residuals = np.full((m, n), np.nan)
    residuals[:, 1:] = y[:, 1:] - y[:, :-1]
    sigma = _sigma(residuals, n - 1)
    sigmah = sigma[:, None] * np.sqrt(np.arange(1, horizon + 1))[None, :]
    return _from_intervals(mean, sigmah, quantiles)


def seasonal_naive(y: np.ndarray, horizon: int, season_length: int, quantiles: Sequence[float]) -> np.ndarray:
    """Seasonal naive forecasts with statsforecast's ``SeasonalNaive`` intervals; naive when `y` is shorter
    than a season."""
    m, n = y.shape
    if n < season_length:
        return naive(y, horizon, quantiles)
    repeats = -(-horizon // season_length)
    mean = np.tile(y[:, n - season_length :], (1, repeats))[:, :horizon]
    residuals = np.full((m, n), np.nan)
    residuals[:, season_length:] = y[:, season_length:] - y[:, : n - season_length]
    sigma = _sigma(residuals, n - season_length)
    k = np.floor(np.arange(horizon) / season_length)
    sigmah = sigma[:, None] * np.sqrt(k + 1)[None, :]
    return _from_intervals(mean, sigmah, quantiles)


def window_average(
    y: np.ndarray,
    horizon: int,
    window_size: int,
    quantiles: Sequence[float],
    *,
    conformal_weeks: int,
    residual_weeks: int,
) -> np.ndarray:
    """Window-average forecasts with split-conformal (or residual) quantiles, naive below `window_size`."""
    m, n = y.shape
    if n < window_size:
        return naive(y, horizon, quantiles)
    mean = np.repeat(y[:, n - window_size :].mean(axis=1)[:, None], horizon, axis=1)
    scores = _conformity_scores(y, horizon, window_size, conformal_weeks)
    cols = [mean]
    if scores is None:
        recent = y[:, -residual_weeks:]
        offsets = np.quantile(recent - recent.mean(axis=1, keepdims=True), list(quantiles), axis=1)
        cols += [mean + offsets[j][:, None] for j in range(len(quantiles))]
        return np.nan_to_num(np.stack(cols, axis=2))
    scores.sort(axis=1)
    count = scores.shape[1]
    for q in quantiles:
        level = abs(1 - 2 * q)
        rank = min(count, int(np.ceil((count + 1) * level - 1e-9)))
        margin = np.zeros(m) if rank == 0 else scores[:, rank - 1]
        cols.append(mean - margin[:, None] if q < 0.5 else mean + margin[:, None])
    return np.nan_to_num(np.stack(cols, axis=2))


def _conformity_scores(
    y: np.ndarray, horizon: int, window_size: int, conformal_weeks: int
) -> np.ndarray | None:
    """(series, windows · horizon) absolute errors of the window average refitted before each of the last
    windows; None when there are fewer than two windows or the first one has under `window_size` weeks."""
    m, n = y.shape
    n_windows = min(max(2, conformal_weeks // horizon), (n - 1) // horizon)
    if n_windows < 2 or n - n_windows * horizon < window_size:
        return None
    scores = np.empty((m, n_windows, horizon))
    for i in range(n_windows):
        train_end = n - (n_windows - i) * horizon
        fitted = y[:, train_end - window_size : train_end].mean(axis=1)
        scores[:, i] = np.abs(y[:, train_end : train_end + horizon] - fitted[:, None])
    return scores.reshape(m, -1)
