"""The engine as frames in, frames out: features of a panel's rows, for any part of its articles.

`origin_features` and `horizon_features` run the very code the global LightGBM model trains and predicts
with (`forecast.features.design` over a `forecast.features.matrix.SeriesMatrix`); they return keys and
dates beside the features so they can be joined, compared and tested.

Partitions: the features of an article's rows depend only on that article's rows and on the category ×
store totals (`forecast.features.hierarchy.group_totals`). Given the rows of a subset of articles and the
totals of the whole panel, both functions return exactly the rows the whole panel gives for those articles.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import polars as pl

from forecast.contracts import SERIES
from forecast.features.calendar import with_calendar
from forecast.features.design import _sums, design, origin_block
from forecast.features.matrix import SeriesMatrix, build_matrix
from forecast.features.spec import FeatureSpec


def _matrix(panel: pl.DataFrame, totals: pl.DataFrame | None) -> SeriesMatrix | None:
    if panel.height == 0:
        return None
    weeks = [panel["week"].max(), None if totals is None else totals["week"].max()]
    return build_matrix(panel, max(w for w in weeks if isinstance(w, date)), totals)


def _dated(m: SeriesMatrix, feats: pl.DataFrame, rows: np.ndarray) -> pl.DataFrame:
    keys = m.keys.select(SERIES)[rows]
    origin = (pl.lit(m.start) + pl.duration(weeks=pl.col("origin"))).alias("origin")
    return pl.concat([keys, feats], how="horizontal").with_columns(origin)


def origin_features(
    panel: pl.DataFrame, spec: FeatureSpec, totals: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Origin features of every panel row (series × week), the row's week read as the origin.

    Returns ``article_id, store_id, week`` and ``scale`` plus the columns of
    `forecast.features.design.origin_block`, sorted by series and week. `totals`: see the module docstring.
    """
    m = _matrix(panel, totals)
    if m is None:
        return pl.DataFrame(schema={"article_id": pl.Utf8, "store_id": pl.Utf8, "week": pl.Date})
    sums = _sums(m.units)
    parts = []
    for o in range(m.weeks):
        rows = np.flatnonzero(m.alive[:, o])
        if len(rows):
            block = {name: values[rows] for name, values in origin_block(m, sums, o, spec).items()}
            frame = pl.DataFrame(block).with_columns(pl.lit(m.week(o)).alias("week"))
            parts.append(pl.concat([m.keys.select(SERIES)[rows], frame], how="horizontal"))
    out = pl.concat(parts)
    return out.select(*SERIES, "week", pl.exclude([*SERIES, "week"])).sort([*SERIES, "week"])


def horizon_features(
    panel: pl.DataFrame,
    spec: FeatureSpec,
    origins: Sequence[date],
    max_h: int,
    *,
    totals: pl.DataFrame | None = None,
    targets: bool = False,
) -> pl.DataFrame:
    """Rows of every series × origin in `origins` × horizon 1..`max_h`, as a model reads them.

    With `targets`, the panel's weeks after an origin give the target ``units`` (known weeks only) and the
    rows stop at the panel's last week, as in training; without, features read only weeks ``<= origin``.
    Columns: ``article_id, store_id, origin, week, horizon``, ``scale``, the ``f_`` columns (target calendar
    included when ``spec.calendar``), and ``units, holiday`` with `targets`.
    """
    m = _matrix(panel, totals)
    if m is None or max_h < 1:
        return pl.DataFrame(schema={"article_id": pl.Utf8, "store_id": pl.Utf8, "origin": pl.Date})
    cols = sorted({(o - m.start).days // 7 for o in origins if m.start <= o <= m.week(m.weeks - 1)})
    # the matrix holds the whole panel: features at an origin must (and are tested to) read only up to it
    feats, rows = design(m, cols, max_h, spec, last=m.weeks - 1 if targets else None)
    if feats.height == 0:
        return pl.DataFrame(schema={"article_id": pl.Utf8, "store_id": pl.Utf8, "origin": pl.Date})
    out = _dated(m, feats, rows).with_columns(
        (pl.col("origin") + pl.duration(weeks=pl.col("horizon"))).alias("week")
    )
    if spec.calendar:
        out = with_calendar(out, m.is_end)
    head = [*SERIES, "origin", "week", "horizon"]
    return out.select(*head, pl.exclude(head)).sort([*SERIES, "origin", "horizon"])
