"""Origin-anchored, level-scaled features for the global LightGBM model.

The panel is held as a dense series × week matrix (NaN outside a series' selling life and on censored weeks,
whose sales are only a lower bound of demand). Every feature of a row (series, origin ``o``, horizon ``h``)
reads matrix columns ``<= o`` only, so nothing after the origin can leak. Values are divided by the series'
level at the origin (mean absolute weekly units over the last 52 weeks), which lets one model serve series of
any size; `scale` is returned beside the features so predictions can be put back into units.

The seasonal value is holiday-aligned: for a target week near a holiday whose date moves (Super Bowl, Easter,
Labor Day, Thanksgiving) it is the week at the same distance from that holiday one year earlier, else the week
52 weeks earlier.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from forecast.calendar import holiday_dates

SERIES = ["article_id", "store_id"]
MOVING_HOLIDAYS = ("super_bowl", "easter", "labor_day", "thanksgiving")
ALIGN_WEEKS = 3  # a target week this close to a moving holiday is aligned on that holiday
CALENDAR_COLUMNS = [
    "f_cal_week_of_year",
    "f_cal_month",
    "f_cal_is_holiday",
    "f_cal_holiday",
    "f_cal_weeks_to_christmas",
    "f_cal_weeks_since_christmas",
    "f_cal_weeks_to_thanksgiving",
    "f_cal_weeks_since_thanksgiving",
]
MIN_SCALE = 1.0  # units; keeps near-dead series from blowing up their scaled values


@dataclass
class SeriesMatrix:
    """The panel up to the origin as arrays: row i of every array is series ``keys[i]``."""

    keys: pl.DataFrame  # article_id, store_id, category (Utf8)
    start: date  # week label of column 0
    units: np.ndarray  # series × weeks, NaN outside the selling life and on censored weeks
    alive: np.ndarray  # series × weeks, True inside the selling life
    holiday: np.ndarray  # weeks, the panel's holiday flag
    is_end: bool  # week labels name the last day of the week
    denoised: np.ndarray | None = None  # units after per-article low-rank denoising (see `denoise`)

    @property
    def weeks(self) -> int:
        return int(self.units.shape[1])

    def week(self, index: int) -> date:
        return self.start + timedelta(weeks=index)


def build_matrix(panel: pl.DataFrame, origin: date) -> SeriesMatrix:
    """Dense matrix of the panel's rows with ``week <= origin`` (weeks are 7 days apart)."""
    rows = panel.filter(pl.col("week") <= origin)
    if "category" not in rows.columns:
        rows = rows.with_columns(pl.lit(None, pl.Utf8).alias("category"))
    start = rows["week"].min()
    assert isinstance(start, date)
    keys = (
        rows.group_by(SERIES).agg(pl.col("category").drop_nulls().first()).sort(SERIES).with_row_index("row")
    )
    n_weeks = (origin - start).days // 7 + 1
    cells = rows.join(keys.select([*SERIES, "row"]), on=SERIES).with_columns(
        ((pl.col("week") - pl.lit(start)).dt.total_days() // 7).alias("col")
    )
    censored = cells["censored"].fill_null(False) if "censored" in cells.columns else None
    units = np.full((keys.height, n_weeks), np.nan)
    alive = np.zeros((keys.height, n_weeks), dtype=bool)
    r, c = cells["row"].to_numpy(), cells["col"].to_numpy()
    values = cells["units"].cast(pl.Float64).fill_null(0.0).to_numpy().copy()
    if censored is not None:
        values[censored.to_numpy()] = np.nan
    units[r, c] = values
    alive[r, c] = True
    holiday = np.zeros(n_weeks, dtype=bool)
    if "is_holiday" in cells.columns:
        flagged = cells.filter(pl.col("is_holiday").fill_null(False))["col"].unique().to_numpy()
        holiday[flagged] = True
    is_end = start.isoweekday() != 1
    return SeriesMatrix(keys.drop("row"), start, units, alive, holiday, is_end)


def denoise(m: SeriesMatrix, rank: int) -> SeriesMatrix:
    """`m` with ``denoised``: each article's stores × weeks block replaced by its rank-`rank` SVD.

    Unknown weeks count as zero in the decomposition and stay NaN in the result. The decomposition reads the
    matrix, i.e. weeks up to the origin it was built at.
    """
    from forecast.models.svd_stl import low_rank

    filled = np.nan_to_num(m.units)
    out = np.full_like(filled, np.nan)
    articles = m.keys["article_id"].to_numpy()
    for article in np.unique(articles):
        members = np.flatnonzero(articles == article)
        out[members] = low_rank(filled[members], rank)
    out[np.isnan(m.units)] = np.nan
    return SeriesMatrix(m.keys, m.start, m.units, m.alive, m.holiday, m.is_end, out)


def _holiday_week_offset(week: date, name: str, is_end: bool) -> int:
    """Signed whole weeks from the week holding holiday `name` (the nearest one in time) to `week`."""
    first = week - timedelta(days=6) if is_end else week
    offsets = []
    for year in (first.year - 1, first.year, first.year + 1):
        day = holiday_dates(year)[name]
        holiday_first = day - timedelta(days=(day - first).days % 7)
        offsets.append((first - holiday_first).days // 7)
    return min(offsets, key=abs)


def seasonal_offset(target: date, is_end: bool) -> int:
    """Weeks back to the aligned week a year before `target` (52 unless a moving holiday is near)."""
    for name in MOVING_HOLIDAYS:
        offset = _holiday_week_offset(target, name, is_end)
        if abs(offset) <= ALIGN_WEEKS:
            for back in (52, 53, 51, 54, 50):
                if _holiday_week_offset(target - timedelta(weeks=back), name, is_end) == offset:
                    return back
    return 52


def _window_mean(cum: np.ndarray, cnt: np.ndarray, end: int, width: int) -> np.ndarray:
    """Mean of matrix columns end-width+1..end ignoring NaN (cumulative sums with a leading zero column)."""
    lo = max(end + 1 - width, 0)
    hi = end + 1
    n = cnt[:, hi] - cnt[:, lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (cum[:, hi] - cum[:, lo]) / np.maximum(n, 1), np.nan)


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


def origin_block(
    m: SeriesMatrix, sums: _Sums, o: int, lags: list[int], windows: list[int]
) -> dict[str, np.ndarray]:
    """Features of every series at origin column `o` (before scaling), plus ``scale``."""
    abs_mean = _window_mean(sums.absolute, sums.count, o, 52)
    scale = np.maximum(np.nan_to_num(abs_mean, nan=0.0), MIN_SCALE)
    out: dict[str, np.ndarray] = {"scale": scale, "f_log_level": np.log1p(scale)}
    for k in lags:
        if k < 52 and o - k + 1 >= 0:
            out[f"f_lag_{k}"] = m.units[:, o - k + 1] / scale
        elif k < 52:
            out[f"f_lag_{k}"] = np.full(len(scale), np.nan)
    for w in windows:
        out[f"f_roll_mean_{w}"] = _window_mean(sums.value, sums.count, o, w) / scale
    out["f_zero_share_13"] = _window_mean(sums.zeros, sums.count, o, 13)
    recent = _window_mean(sums.value, sums.count, o, 13)
    year_ago = _window_mean(sums.value, sums.count, o - 52, 13) if o >= 52 else np.full(len(scale), np.nan)
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


def _group_index(values: np.ndarray, groups: np.ndarray, n_groups: int, weights: np.ndarray) -> np.ndarray:
    """Per group Σ values / Σ weights over rows where values are known, broadcast back to rows."""
    known = ~np.isnan(values)
    num = np.bincount(groups[known], weights=values[known], minlength=n_groups)
    den = np.bincount(groups[known], weights=weights[known], minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (num / den)[groups]


def target_block(
    m: SeriesMatrix, o: int, h: int, scale: np.ndarray, groups: dict[str, tuple[np.ndarray, int]]
) -> dict[str, np.ndarray]:
    """Features that depend on the target week ``o + h``: aligned seasonal values and their group indices."""
    target = o + h
    back = seasonal_offset(m.week(target), m.is_end)
    s52 = _seasonal(m, o, target, back)
    near = np.stack([_seasonal(m, o, target, back + d) for d in (-1, 0, 1)])
    # series with no aligned week at all get NaN (missing for the trees), not a warning
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        smooth = np.nanmean(near, axis=0) if np.isfinite(near).any() else near[1]
    out = {
        "f_seasonal_52": s52 / scale,
        "f_seasonal_smooth": smooth / scale,
        "f_seasonal_104": _seasonal(m, o, target, back + 52) / scale,
    }
    for name, (index, n_groups) in groups.items():
        out[f"f_{name}_seasonal"] = _group_index(s52, index, n_groups, scale)
    if m.denoised is not None:
        out["f_seasonal_svd"] = _seasonal(m, o, target, back, m.denoised) / scale
    return out


def group_codes(keys: pl.DataFrame) -> dict[str, tuple[np.ndarray, int]]:
    """Integer group of each series: same article across stores, same category within a store."""
    out = {}
    for name, cols in (("article", ["article_id"]), ("cat_store", ["category", "store_id"])):
        codes = keys.select(pl.struct(cols).rank("dense").cast(pl.Int64) - 1).to_series().to_numpy()
        out[name] = (codes, int(codes.max()) + 1 if len(codes) else 0)
    return out


def design(
    m: SeriesMatrix,
    origins: list[int],
    max_h: int,
    lags: list[int],
    windows: list[int],
    *,
    last: int | None = None,
    keep: float = 1.0,
    seed: int = 0,
    denoised_target: bool = False,
) -> tuple[pl.DataFrame, np.ndarray]:
    """Feature rows for every series × origin × horizon 1..max_h and the series row index of each.

    When `last` is given (training), only targets in columns ``<= last`` are produced, with the target
    column ``units`` and the flag ``holiday``; rows whose target is censored or outside the series' life are
    left out, and each other row is kept with probability `keep` (seeded by `seed`).
    """
    rng = np.random.default_rng(seed)
    sums = _sums(m.units)
    groups = group_codes(m.keys)
    blocks: list[dict[str, np.ndarray]] = []
    n = m.units.shape[0]
    index = np.arange(n)
    for o in origins:
        base = origin_block(m, sums, o, lags, windows)
        for h in range(1, max_h + 1):
            if last is not None and o + h > last:
                break
            block = dict(base)
            block.update(target_block(m, o, h, base["scale"], groups))
            block["origin"] = np.full(n, o)
            block["horizon"] = np.full(n, h)
            block["row"] = index
            if last is not None:
                targets = m.denoised if denoised_target and m.denoised is not None else m.units
                block["units"] = targets[:, o + h]
                block["holiday"] = np.full(n, m.holiday[o + h])
                mask = ~np.isnan(block["units"]) & (rng.random(n) < keep)
                block = {name: values[mask] for name, values in block.items()}
            blocks.append(block)
    if not blocks:
        return pl.DataFrame(), np.zeros(0, dtype=np.int64)
    columns = {name: np.concatenate([b[name] for b in blocks]) for name in blocks[0]}
    rows = columns.pop("row")
    return pl.DataFrame(columns), rows


def training_rows(m: SeriesMatrix, origins: list[int], max_h: int, last: int) -> int:
    """How many rows `design` makes for training before sampling."""
    valid = (~np.isnan(m.units)).sum(axis=0)
    return int(sum(valid[o + 1 : min(o + max_h, last) + 1].sum() for o in origins))
