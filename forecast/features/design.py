"""Feature rows of series × origin × horizon from a `SeriesMatrix`: the features every global model reads.

Every feature of a row (series, origin ``o``, horizon ``h``) reads matrix columns ``<= o`` only, so nothing
after the origin can leak. With ``spec.scale`` value features (marked V) are divided by the series' level
at the origin, ``scale`` (mean absolute weekly units over the 52 weeks to the origin, at least 1), which
lets one model serve series of any size; ``scale`` is returned beside the features so predictions can be
put back into units. Windows count known weeks only (censored weeks and weeks outside the series' life are
unknown); a window without a known week is NaN.

Columns (``k`` in ``spec.lags``, ``w`` in ``spec.windows``), one meaning each:

- ``scale``; ``f_log_level`` = log(1 + scale).
- ``f_lag_k`` (V): units of week ``o - k + 1`` (``f_lag_1`` = the origin week).
- ``f_roll_mean_w`` (V): mean units of the ``w`` weeks to ``o``.
- ``f_zero_share_13``: share of known weeks without net sales among the 13 to ``o``.
- ``f_yoy``: mean units of the 13 weeks to ``o`` over the same 13 weeks a year earlier, clipped to [0, 5].
- ``f_weeks_since_sale``: weeks from the last week with non-zero sales to ``o``.
- ``f_age``: weeks from the series' first week in the panel to ``o``.
- seasonal (V; ``spec.seasonal``): ``f_seasonal_52``, units of the holiday-aligned week a year before the
  target week ``o + h`` (`forecast.features.seasonal`) when it is ``<= o``; ``f_seasonal_smooth``, the mean
  of that week and its two neighbours; ``f_seasonal_104``, two years back; ``f_seasonal_svd``, the aligned
  week of the denoised units when the matrix carries them.
- hierarchy (``spec.hierarchy``): ``f_article_seasonal``, ``f_cat_store_seasonal``
  (`forecast.features.hierarchy`).
- prices (``spec.prices``, when the matrix has prices): the target week's price features
  (`forecast.features.price`), read from the plan after the origin.
- exogenous drivers (when the matrix carries them): ``f_exog_`` (`forecast.features.exog`).
- ``origin``, ``horizon``; training rows add the target ``units`` and its week's ``holiday`` flag.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import polars as pl

from forecast.features.exog import exog_features
from forecast.features.hierarchy import MIN_SCALE
from forecast.features.matrix import SeriesMatrix
from forecast.features.price import price_features, price_state
from forecast.features.seasonal import seasonal_offset
from forecast.features.spec import FeatureSpec

SHARE_WEEKS = 13  # window of the zero share and the year-on-year ratio


@dataclass
class _Sums:
    value: np.ndarray
    count: np.ndarray
    absolute: np.ndarray
    zeros: np.ndarray


def _sums(units: np.ndarray) -> _Sums:
    def cumulate(a: np.ndarray) -> np.ndarray:
        return np.concatenate([np.zeros((a.shape[0], 1)), np.cumsum(a, axis=1)], axis=1)

    known = ~np.isnan(units)
    filled = np.where(known, units, 0.0)
    return _Sums(
        cumulate(filled),
        cumulate(known.astype(float)),
        cumulate(np.abs(filled)),
        cumulate(known & (filled == 0)),
    )


def _window_mean(cum: np.ndarray, cnt: np.ndarray, end: int, width: int) -> np.ndarray:
    """Mean of matrix columns end-width+1..end ignoring NaN (cumulative sums with a leading zero column)."""
    lo = max(end + 1 - width, 0)
    hi = end + 1
    n = cnt[:, hi] - cnt[:, lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (cum[:, hi] - cum[:, lo]) / np.maximum(n, 1), np.nan)


def origin_block(m: SeriesMatrix, sums: _Sums, o: int, spec: FeatureSpec) -> dict[str, np.ndarray]:
    """Features of every series at origin column `o` that do not depend on the target week."""
    abs_mean = _window_mean(sums.absolute, sums.count, o, 52)
    level = np.maximum(np.nan_to_num(abs_mean, nan=0.0), MIN_SCALE)
    scale = level if spec.scale else np.ones_like(level)
    out: dict[str, np.ndarray] = {"scale": scale, "f_log_level": np.log1p(level)}
    for k in spec.lags:
        out[f"f_lag_{k}"] = m.units[:, o - k + 1] / scale if o - k + 1 >= 0 else np.full(len(scale), np.nan)
    for w in spec.windows:
        out[f"f_roll_mean_{w}"] = _window_mean(sums.value, sums.count, o, w) / scale
    out["f_zero_share_13"] = _window_mean(sums.zeros, sums.count, o, SHARE_WEEKS)
    recent = _window_mean(sums.value, sums.count, o, SHARE_WEEKS)
    year_ago = (
        _window_mean(sums.value, sums.count, o - 52, SHARE_WEEKS) if o >= 52 else np.full(len(scale), np.nan)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        out["f_yoy"] = np.clip(recent / year_ago, 0.0, 5.0)
    sold = m.alive[:, : o + 1] & (np.nan_to_num(m.units[:, : o + 1]) != 0)
    last = np.where(sold.any(axis=1), o - np.argmax(sold[:, ::-1], axis=1), np.nan)
    out["f_weeks_since_sale"] = o - last
    first = np.argmax(m.alive[:, : o + 1], axis=1).astype(float)
    out["f_age"] = np.where(m.alive[:, : o + 1].any(axis=1), o - first, np.nan)
    return out


def _seasonal(
    m: SeriesMatrix, o: int, target: int, back: int, values: np.ndarray | None = None
) -> np.ndarray:
    col = target - back
    if col < 0 or col > o:
        return np.full(m.units.shape[0], np.nan)
    return (m.units if values is None else values)[:, col]


def target_block(
    m: SeriesMatrix, o: int, h: int, scale: np.ndarray, spec: FeatureSpec
) -> dict[str, np.ndarray]:
    """Features that depend on the target week ``o + h``: aligned seasonal values and group indices."""
    target = o + h
    back = seasonal_offset(m.week(target), m.is_end)
    out: dict[str, np.ndarray] = {}
    if spec.seasonal:
        near = np.stack([_seasonal(m, o, target, back + d) for d in (-1, 0, 1)])
        # series with no aligned week at all get NaN (missing for the trees), not a warning
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            smooth = np.nanmean(near, axis=0) if np.isfinite(near).any() else near[1]
        out["f_seasonal_52"] = near[1] / scale
        out["f_seasonal_smooth"] = smooth / scale
        out["f_seasonal_104"] = _seasonal(m, o, target, back + 52) / scale
    if spec.hierarchy:
        for name, group in m.groups.items():
            out[f"f_{name}_seasonal"] = group.seasonal(target - back, o)
    if spec.seasonal and m.denoised is not None:
        out["f_seasonal_svd"] = _seasonal(m, o, target, back, m.denoised) / scale
    return out


def design(
    m: SeriesMatrix,
    origins: list[int],
    max_h: int,
    spec: FeatureSpec,
    *,
    last: int | None = None,
    keep: float = 1.0,
    seed: int = 0,
    denoised_target: bool = False,
) -> tuple[pl.DataFrame, np.ndarray]:
    """Feature rows for every series × origin × horizon 1..max_h and the series row index of each.

    When `last` is given (training), only targets in columns ``<= last`` are produced, with the target
    column ``units`` and the flag ``holiday``; rows whose target is censored or outside the series' life are
    left out, and each other row is kept with probability `keep`: a row is kept when the seeded hash of
    its series, origin and horizon (`row_draws`) falls below `keep`, so whether a row is sampled does not
    depend on which other series are in the matrix (a part of the articles samples the whole run's rows).
    """
    ids = series_ids(m.keys) if last is not None and keep < 1.0 else None
    sums = _sums(m.units)
    prices = price_state(m) if spec.prices else None
    blocks: list[dict[str, np.ndarray]] = []
    n = m.units.shape[0]
    index = np.arange(n)
    for o in origins:
        base = origin_block(m, sums, o, spec)
        for h in range(1, max_h + 1):
            if last is not None and o + h > last:
                break
            block = dict(base)
            block.update(target_block(m, o, h, base["scale"], spec))
            if prices is not None:
                block.update(price_features(prices, o, h))
            if m.exog:
                block.update(exog_features(m, o, h))
            block["origin"] = np.full(n, o)
            block["horizon"] = np.full(n, h)
            block["row"] = index
            if last is not None:
                targets = m.denoised if denoised_target and m.denoised is not None else m.units
                block["units"] = targets[:, o + h]
                block["holiday"] = np.full(n, m.holiday[o + h])
                mask = ~np.isnan(block["units"])
                if ids is not None:
                    mask &= row_draws(ids, o, h, seed) < keep
                block = {name: values[mask] for name, values in block.items()}
            blocks.append(block)
    if not blocks:
        return pl.DataFrame(), np.zeros(0, dtype=np.int64)
    columns = {name: np.concatenate([b[name] for b in blocks]) for name in blocks[0]}
    rows = columns.pop("row")
    return pl.DataFrame(columns), rows


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser over uint64 arrays (wrapping arithmetic)."""
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return np.asarray(x ^ (x >> np.uint64(31)))


def series_ids(keys: pl.DataFrame) -> np.ndarray:
    """A 64-bit hash of each series' article and store ids (Polars' hash: stable for a Polars version)."""
    joined = pl.concat_str([pl.col("article_id"), pl.col("store_id")], separator="\x1f")
    return keys.select(joined.hash(seed=0)).to_series().to_numpy().astype(np.uint64)


def row_draws(ids: np.ndarray, origin: int, horizon: int, seed: int) -> np.ndarray:
    """Uniform draws in [0, 1) per series for the row (series, `origin`, `horizon`), fixed by `seed`.

    Examples
    --------
    >>> ids = np.array([1, 2, 3], dtype=np.uint64)
    >>> bool((row_draws(ids, 5, 1, 0) == row_draws(ids[::-1], 5, 1, 0)[::-1]).all())
    True
    """
    salt = _mix(np.array([(origin << 20) ^ (horizon << 4) ^ (seed & 0xF)], dtype=np.uint64))
    salt = _mix(salt ^ np.uint64(seed & 0xFFFFFFFFFFFF))
    with np.errstate(over="ignore"):
        draws = _mix(ids ^ salt) >> np.uint64(11)
    return np.asarray(draws.astype(np.float64) / float(1 << 53))


def training_rows(m: SeriesMatrix, origins: list[int], max_h: int, last: int) -> int:
    """How many rows `design` makes for training before sampling."""
    valid = (~np.isnan(m.units)).sum(axis=0)
    return int(sum(valid[o + 1 : min(o + max_h, last) + 1].sum() for o in origins))
