"""Hierarchy aggregates: the category in the store (spans articles) and the article across its stores.

A group's weekly total counts the units of its series on weeks whose sales are known (a censored week is
left out); its level at an origin is the mean absolute total over the 52 weeks to the origin, counting only
weeks the group sold on record, at least `MIN_SCALE`. The feature ``f_<group>_seasonal`` of a target week
is the group's total at the aligned week a year before it over the group's level at the origin: the
group's seasonal index, read from weeks up to the origin only.

Category × store totals span articles, so a run split by article group cannot compute them inside a part:
`group_totals` is the small global aggregate (category × store × week) computed first, from every article
(totals of parts add up: ``group_totals(a) + group_totals(b)`` summed by key equals ``group_totals(a ∪ b)``),
and joined into each part by `forecast.features.matrix.build_matrix`. Article totals stay inside a part,
whose articles carry all their stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

MIN_SCALE = 1.0  # units; keeps near-dead series and groups from blowing up their scaled values
LEVEL_WEEKS = 52
GROUP_KEY = ["category", "store_id"]


EXACT = pl.Decimal(38, 6)  # totals are summed as decimals: the same to the last bit in any row order


def group_totals(panel: pl.DataFrame | pl.LazyFrame, *, exact: bool = False) -> pl.DataFrame:
    """Category × store × week totals of known units: ``category, store_id, week, units, rows``.

    The reduce step of a partitioned run: compute it on the whole panel (or sum it over the parts) and
    pass it to `build_matrix` of each part. Units are summed as decimals with 6 places, so the totals do
    not depend on the order of the rows; with `exact`, ``units`` stays a decimal, for parts' totals to be
    summed exactly (`add_totals`) before they are used.

    Examples
    --------
    >>> panel = pl.DataFrame({"article_id": ["a", "b"], "store_id": ["s", "s"], "category": ["c", "c"],
    ...     "week": [date(2024, 1, 1)] * 2, "units": [1.0, 2.0], "censored": [False, False]})
    >>> group_totals(panel)["units"].to_list()
    [3.0]
    """
    frame = panel.lazy()
    names = frame.collect_schema().names()
    category = pl.col("category").cast(pl.Utf8) if "category" in names else pl.lit(None, pl.Utf8)
    known = ~pl.col("censored").fill_null(False) if "censored" in names else pl.lit(True)
    return (
        frame.filter(known)
        .select(
            category.alias("category"),
            pl.col("store_id").cast(pl.Utf8),
            pl.col("week"),
            pl.col("units").cast(pl.Float64).fill_null(0.0).cast(EXACT),
        )
        .group_by(GROUP_KEY + ["week"])
        .agg(pl.col("units").sum(), pl.len().cast(pl.Int64).alias("rows"))
        .sort(GROUP_KEY + ["week"], nulls_last=True)
        .with_columns(pl.col("units") if exact else pl.col("units").cast(pl.Float64))
        .collect()
    )


def add_totals(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """The sum by key of parts' exact totals (`group_totals` with ``exact=True``), as `group_totals` of
    the whole: summed exactly, then ``units`` as floats."""
    key = GROUP_KEY + ["week"]
    frames = [p for p in parts if p.height]
    if not frames:
        return parts[0].with_columns(pl.col("units").cast(pl.Float64))
    return (
        pl.concat(frames)
        .group_by(key)
        .agg(pl.col("units").sum(), pl.col("rows").sum())
        .sort(key, nulls_last=True)
        .with_columns(pl.col("units").cast(pl.Float64))
    )


@dataclass
class GroupSeries:
    """Weekly totals and levels of groups on a week axis, and the group row of each series."""

    of_series: np.ndarray  # group row of each matrix series
    offset: int  # matrix column c is column c + offset here
    units: np.ndarray  # groups × weeks, NaN on weeks without a known row
    level: np.ndarray  # groups × weeks, the level at each week read as an origin

    def seasonal(self, col: int, origin: int) -> np.ndarray:
        """Per series: the group's total at matrix column `col` over its level at column `origin`."""
        at, now = col + self.offset, origin + self.offset
        if col > origin or at < 0:
            return np.full(len(self.of_series), np.nan)
        return (self.units[:, at] / self.level[:, now])[self.of_series]


def _levels(units: np.ndarray) -> np.ndarray:
    """Mean absolute known total over the `LEVEL_WEEKS` weeks to each column, at least `MIN_SCALE`."""
    known = ~np.isnan(units)
    zero = np.zeros((units.shape[0], 1))
    cum = np.concatenate([zero, np.cumsum(np.where(known, np.abs(units), 0.0), axis=1)], axis=1)
    cnt = np.concatenate([zero, np.cumsum(known, axis=1)], axis=1)
    hi = np.arange(1, units.shape[1] + 1)
    lo = np.maximum(hi - LEVEL_WEEKS, 0)
    n = cnt[:, hi] - cnt[:, lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, (cum[:, hi] - cum[:, lo]) / np.maximum(n, 1), 0.0)
    return np.asarray(np.maximum(mean, MIN_SCALE))


def article_series(units: np.ndarray, keys: pl.DataFrame) -> GroupSeries:
    """Totals of each article across its stores, from the matrix's own units (NaN = unknown)."""
    codes = keys.select(pl.col("article_id").rank("dense").cast(pl.Int64) - 1).to_series().to_numpy()
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    known = ~np.isnan(units)
    totals = np.zeros((n_groups, units.shape[1]))
    counts = np.zeros((n_groups, units.shape[1]))
    np.add.at(totals, codes, np.where(known, units, 0.0))
    np.add.at(counts, codes, known)
    totals[counts == 0] = np.nan
    return GroupSeries(codes, 0, totals, _levels(totals))


def cat_store_series(totals: pl.DataFrame, keys: pl.DataFrame, start: date, origin: date) -> GroupSeries:
    """Category × store totals (from `group_totals`, weeks up to `origin`) lined up with matrix `keys`."""
    rows = totals.filter(pl.col("week") <= origin)
    first = rows["week"].min()
    axis_start = min(start, first) if isinstance(first, date) else start
    groups = rows.select(GROUP_KEY).unique().sort(GROUP_KEY, nulls_last=True).with_row_index("_group")
    n_weeks = (origin - axis_start).days // 7 + 1
    units = np.full((groups.height, n_weeks), np.nan)
    cells = rows.join(groups, on=GROUP_KEY, nulls_equal=True)
    col = ((cells["week"] - axis_start).dt.total_days() // 7).to_numpy()
    units[cells["_group"].to_numpy(), col] = cells["units"].to_numpy()
    series = keys.select(pl.col("category").cast(pl.Utf8), pl.col("store_id").cast(pl.Utf8))
    member = series.join(groups, on=GROUP_KEY, how="left", nulls_equal=True, maintain_order="left")
    # a series whose group is not in the totals (none of its weeks is known) reads a group of NaN
    missing = member["_group"].is_null().to_numpy()
    of_series = member["_group"].fill_null(0).cast(pl.Int64).to_numpy().copy()
    if missing.any():
        units = np.vstack([units, np.full((1, n_weeks), np.nan)])
        of_series[missing] = groups.height
    offset = (start - axis_start).days // 7
    return GroupSeries(of_series, offset, units, _levels(units))
