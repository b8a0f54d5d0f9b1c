"""Article and store ids in the order a person reads them: A2 before A10, store 2 before store 10."""

from __future__ import annotations

import re
from collections.abc import Sequence

import polars as pl

_DIGITS = re.compile(r"(\d+)")


def natural_key(value: str) -> tuple[tuple[str | int, ...], str]:
    """Sort key: runs of digits compare as numbers, the rest as text (ties broken by the text itself).

    Examples
    --------
    >>> sorted(["A10", "A2", "B1", "A2b"], key=natural_key)
    ['A2', 'A2b', 'A10', 'B1']
    """
    parts = _DIGITS.split(value)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), value


def natural_order(frame: pl.DataFrame, keys: Sequence[str], then: Sequence[str] = ()) -> pl.DataFrame:
    """`frame` sorted by `keys` in natural id order, then by the columns `then` (nulls last).

    Examples
    --------
    >>> frame = pl.DataFrame({"store_id": ["10", "2", "1"], "week": [1, 2, 3]})
    >>> natural_order(frame, ["store_id"])["store_id"].to_list()
    ['1', '2', '10']
    """
    if frame.height == 0:
        return frame
    ranks = []
    out = frame.with_row_index("_row")
    for key in keys:
        values = frame[key].cast(pl.Utf8).unique().drop_nulls().to_list()
        ordered = sorted(values, key=natural_key)
        rank = f"_rank_{key}"
        table = pl.DataFrame({key: ordered, rank: range(len(ordered))}, schema={key: pl.Utf8, rank: pl.Int64})
        out = out.with_columns(pl.col(key).cast(pl.Utf8).alias(f"_text_{key}")).join(
            table.rename({key: f"_text_{key}"}), on=f"_text_{key}", how="left"
        )
        ranks.append(rank)
    out = out.sort([*ranks, *then, "_row"], nulls_last=True)
    return out.select(frame.columns)
