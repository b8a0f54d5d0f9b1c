"""Exogenous drivers (store × week series such as Walmart's ``features.csv``) as features of a row.

A driver whose name starts with one of `PLANNED` (promotions: Walmart's MarkDown1-5) is a plan, known for
the coming weeks at the origin: a row reads its value at the target week ``o + h``. Every other driver
(temperature, fuel price, CPI, unemployment) is only known once it happened: a row reads its value at the
origin week ``o``. A row with no value (a week or store the table lacks) reads NaN. A null ``store_id``
applies to every store; a store's own row wins.

Columns: ``f_exog_<name>`` for each numeric column of the table.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl

from forecast.features.matrix import SeriesMatrix

PLANNED = ("markdown", "promo")


def is_planned(name: str) -> bool:
    """Whether the driver `name` is a plan read at the target week.

    Examples
    --------
    >>> is_planned("markdown3"), is_planned("temperature")
    (True, False)
    """
    return name.lower().startswith(PLANNED)


def with_exog(m: SeriesMatrix, exog: pl.DataFrame | None, extra: int) -> SeriesMatrix:
    """`m` with ``exog``: each numeric driver as a series × (weeks + `extra`) array (NaN unknown)."""
    if exog is None or exog.height == 0:
        return m
    names = [c for c in exog.columns if c not in ("week", "store_id") and exog[c].dtype.is_numeric()]
    n_cols = m.weeks + max(extra, 0)
    col = ((pl.col("week").cast(pl.Date) - pl.lit(m.start)).dt.total_days() // 7).alias("_col")
    rows = exog.with_columns(col).filter((pl.col("_col") >= 0) & (pl.col("_col") < n_cols))
    stores = m.keys["store_id"].cast(pl.Utf8).to_list()
    index = {store: i for i, store in enumerate(sorted(set(stores)))}
    series_store = np.array([index[s] for s in stores], dtype=np.int64)
    chain = rows.filter(pl.col("store_id").is_null())
    own = rows.filter(pl.col("store_id").cast(pl.Utf8).is_in(list(index)))
    out: dict[str, np.ndarray] = {}
    for name in names:
        grid = np.full((len(index), n_cols), np.nan)
        for part in (chain, own):  # a store's own row is written last and wins
            values = part[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
            cols = part["_col"].to_numpy()
            if part is chain:
                grid[:, cols] = values[None, :]
            else:
                which = np.array([index[s] for s in part["store_id"].cast(pl.Utf8).to_list()], dtype=np.int64)
                grid[which, cols] = values
        out[name] = grid[series_store]
    return replace(m, exog=out)


def exog_features(m: SeriesMatrix, o: int, h: int) -> dict[str, np.ndarray]:
    """The ``f_exog_`` features of every series for origin column `o` and horizon `h` (module docstring)."""
    out = {}
    for name, values in m.exog.items():
        last = values.shape[1] - 1
        at = min(o + h, last) if is_planned(name) else min(o, last)
        out[f"f_exog_{name}"] = values[:, at]
    return out
