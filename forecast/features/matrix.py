"""The panel up to an origin as a dense series × week matrix: the engine's fast path.

Row ``i`` of every array is series ``keys[i]``; column 0 is the week ``start``. Units are NaN outside a
series' selling life and on censored weeks, whose sales are only a lower bound of demand. Features built
from the matrix read columns ``<= origin`` only (`forecast.features.design`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import numpy as np
import polars as pl

from forecast.contracts import SERIES
from forecast.features.hierarchy import GroupSeries, article_series, cat_store_series, group_totals


@dataclass
class PriceBlock:
    """Prices of every series by matrix column: the panel's up to the origin, then the plan's (`with_plan`).

    ``price`` may have more columns than the matrix has weeks: those after the origin hold planned prices,
    the one thing a feature of a later target week may read (a price plan is known at the origin).
    """

    price: np.ndarray  # series × columns, NaN unknown
    list_price: np.ndarray  # series, the list price at the origin (NaN unknown)
    promo: np.ndarray  # series × columns, 0/1


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
    groups: dict[str, GroupSeries] = field(default_factory=dict)  # hierarchy totals (see `build_matrix`)
    prices: PriceBlock | None = None  # the panel's prices (and a plan's, `with_plan`), when it has them
    exog: dict[str, np.ndarray] = field(default_factory=dict)  # drivers (`forecast.features.exog`)

    @property
    def weeks(self) -> int:
        return int(self.units.shape[1])

    def week(self, index: int) -> date:
        return self.start + timedelta(weeks=index)


def build_matrix(
    panel: pl.DataFrame,
    origin: date,
    totals: pl.DataFrame | None = None,
    holidays: Sequence[date] | None = None,
) -> SeriesMatrix:
    """Dense matrix of the panel's rows with ``week <= origin`` (weeks are 7 days apart).

    `totals` is the category × store aggregate of `forecast.features.hierarchy.group_totals`, computed on
    every article of the run; by default it is computed from `panel`, which is right when `panel` holds
    every article (for a part of the articles, pass the whole run's totals: the matrix then starts at their
    first week, like the whole run's). `holidays` are the weeks flagged ``is_holiday`` on any row of the
    whole run (`holiday_weeks`); by default the flags of `panel`'s rows.
    """
    rows = panel.filter(pl.col("week") <= origin)
    if "category" not in rows.columns:
        rows = rows.with_columns(pl.lit(None, pl.Utf8).alias("category"))
    totals = group_totals(rows) if totals is None else totals.filter(pl.col("week") <= origin)
    # a part of the articles lies on the whole run's week axis, so its columns mean the same weeks
    start = min(w for w in (rows["week"].min(), totals["week"].min()) if isinstance(w, date))
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
    if holidays is not None:
        cols = [(w - start).days // 7 for w in holidays if start <= w <= origin]
        holiday[np.asarray(cols, dtype=np.int64)] = True
    elif "is_holiday" in cells.columns:
        flagged = cells.filter(pl.col("is_holiday").fill_null(False))["col"].unique().to_numpy()
        holiday[flagged] = True
    is_end = start.isoweekday() != 1
    keys = keys.drop("row")
    groups = {
        "article": article_series(units, keys),
        "cat_store": cat_store_series(totals, keys, start, origin),
    }
    prices = _price_block(cells, r, c, keys.height, n_weeks)
    return SeriesMatrix(keys, start, units, alive, holiday, is_end, groups=groups, prices=prices)


def _price_block(
    cells: pl.DataFrame, r: np.ndarray, c: np.ndarray, n: int, n_weeks: int
) -> PriceBlock | None:
    """The panel's prices as a `PriceBlock` (None when the panel has no ``price`` column or no price in it,
    as Walmart's dollar sales: the model then has no price features at all)."""
    if "price" not in cells.columns or cells["price"].null_count() == cells.height:
        return None
    price = np.full((n, n_weeks), np.nan)
    price[r, c] = cells["price"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    list_price = np.full(n, np.nan)
    if "list_price" in cells.columns:
        # the list price of the series' latest week (rows are sorted by series and week)
        list_price[r] = cells["list_price"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    promo = np.zeros((n, n_weeks))
    if "promo" in cells.columns:
        promo[r, c] = cells["promo"].cast(pl.Float64).fill_null(0.0).to_numpy()
    return PriceBlock(price, list_price, promo)


def with_plan(m: SeriesMatrix, plan: pl.DataFrame | None, max_h: int) -> SeriesMatrix:
    """`m` whose prices run `max_h` weeks past the origin: the plan's where it prices a series × week
    (article_id, store_id, week, price, optional promo), else the last known price carried forward."""
    if m.prices is None:
        return m
    extra = max(max_h, 0)
    price = np.concatenate([m.prices.price[:, : m.weeks], np.full((m.units.shape[0], extra), np.nan)], axis=1)
    promo = np.concatenate([m.prices.promo[:, : m.weeks], np.zeros((m.units.shape[0], extra))], axis=1)
    if plan is not None and plan.height and extra:
        rows = m.keys.select(SERIES).with_row_index("row")
        cells = plan.join(rows, on=SERIES).with_columns(
            ((pl.col("week") - pl.lit(m.start)).dt.total_days() // 7).alias("col")
        )
        cells = cells.filter((pl.col("col") >= m.weeks) & (pl.col("col") < m.weeks + extra))
        r, c = cells["row"].to_numpy(), cells["col"].to_numpy()
        price[r, c] = cells["price"].cast(pl.Float64).fill_null(np.nan).to_numpy()
        if "promo" in cells.columns:
            promo[r, c] = cells["promo"].cast(pl.Float64).fill_null(0.0).to_numpy()
    return replace(m, prices=PriceBlock(_carried(price), m.prices.list_price, promo))


def _carried(price: np.ndarray) -> np.ndarray:
    """Each NaN replaced by the last known value to its left in its row (NaN before any)."""
    known = ~np.isnan(price)
    index = np.where(known, np.arange(price.shape[1])[None, :], 0)
    np.maximum.accumulate(index, axis=1, out=index)
    out = price[np.arange(price.shape[0])[:, None], index]
    seen = np.maximum.accumulate(known, axis=1)
    return np.where(seen, out, np.nan)


def holiday_weeks(panel: pl.DataFrame | pl.LazyFrame) -> list[date]:
    """The weeks flagged ``is_holiday`` on any row of `panel`, sorted (none without the column).

    The union over parts of the articles is the whole run's (the reduce step beside `group_totals`).
    """
    frame = panel.lazy()
    if "is_holiday" not in frame.collect_schema().names():
        return []
    weeks = frame.filter(pl.col("is_holiday").fill_null(False)).select(pl.col("week").unique().sort())
    return list(weeks.collect().to_series().to_list())


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
    return replace(m, denoised=out)
