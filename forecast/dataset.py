"""The canonical in-memory dataset every adapter produces and every stage consumes.

Canonical tables (Polars frames; column names are the contract):

- ``sales``: one row per transaction line or per weekly observation.
  ``date`` (Date: transaction day, or the week label for weekly sources), ``store_id`` (Utf8),
  ``article_id`` (Utf8), ``units`` (Float64: the target; negative = returns), ``price`` (Float64, nullable:
  unit selling price). Optional: ``is_holiday`` (Boolean, when the source flags holiday weeks).
- ``articles``: ``article_id`` (Utf8, unique), ``category`` (Utf8, nullable: product type / department,
  used for hierarchy aggregates), ``launch_date`` (Date, nullable), ``end_date`` (Date, optional
  and nullable: the planned last day on sale; no demand is forecast after it), ``list_price``
  (Float64, nullable), ``unit_cost`` (Float64, nullable), ``is_future`` (Boolean: catalogue article to be
  launched, whose sales, if any in the source, are never history), plus attribute columns named in
  ``Dataset.article_attributes``.
- ``stores``: ``store_id`` (Utf8, unique), ``capacity_units`` (Float64, nullable), plus attribute columns
  named in ``Dataset.store_attributes``.
- ``stock`` (optional): ``week`` (Date), ``store_id``, ``article_id``, ``on_hand`` (Float64).
- ``exog`` (optional): ``week`` (Date), ``store_id`` (Utf8, nullable = applies to every store), numeric
  columns.
- ``trends`` (optional): ``week`` (Date), ``term`` (Utf8, lower case), ``value`` (Float64).
- ``prices`` (optional): ``article_id``, ``store_id`` (``ALL`` = every store), ``week`` (Date), ``price``
  (Float64) and ``promo`` (Float64 0/1, nullable): what was charged in past weeks, what is planned in later
  ones (`forecast.prices`).
- ``rejects``: ``file``, ``row`` (1-based data row, header excluded), ``column``, ``reason``, ``value``.
- ``dc_stock`` (optional): the allocation contract's DC stock columns.
- ``true_demand`` (optional, synthetic data only): ``week``, ``store_id``, ``article_id``, ``demand``
  (realised demand, before stockouts cut it) and ``expected_demand`` (the rate it was drawn from).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import polars as pl

WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")

REJECT_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.Utf8(),
    "row": pl.Int64(),
    "column": pl.Utf8(),
    "reason": pl.Utf8(),
    "value": pl.Utf8(),
}


def empty_rejects() -> pl.DataFrame:
    """An empty rejects frame with the contract's columns."""
    return pl.DataFrame(schema=REJECT_SCHEMA)


@dataclass
class Dataset:
    """Canonical tables plus what a stage needs to know about them.

    ``week_label`` is the weekday that labels a week: ``"MON"`` (weeks start on Monday, the default) or the
    weekday a source uses (Walmart labels weeks by the Friday they end on: ``"FRI"`` with
    ``week_label_is_end``).
    ``target_unit`` is what ``sales.units`` counts (``"units"``, or ``"USD"`` for Walmart's dollar sales).
    ``rows_read`` maps each source file name to the data rows read from it; for each file
    rows read = rows kept + rows rejected.
    """

    name: str
    sales: pl.DataFrame
    articles: pl.DataFrame
    stores: pl.DataFrame
    stock: pl.DataFrame | None = None
    exog: pl.DataFrame | None = None
    trends: pl.DataFrame | None = None
    dc_stock: pl.DataFrame | None = None
    true_demand: pl.DataFrame | None = None
    prices: pl.DataFrame | None = None
    rejects: pl.DataFrame = field(default_factory=empty_rejects)
    rows_read: dict[str, int] = field(default_factory=dict)
    grain: Literal["transactions", "weekly"] = "weekly"
    target_unit: str = "units"
    week_label: str = "MON"
    week_label_is_end: bool = False
    article_attributes: list[str] = field(default_factory=list)
    store_attributes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.week_label not in WEEKDAYS:
            msg = f"`week_label` must be one of {WEEKDAYS}, got {self.week_label!r}"
            raise ValueError(msg)

    def rows_kept(self) -> dict[str, int]:
        """Rows kept per source file: rows read minus rows rejected from that file."""
        rejected = (
            dict(self.rejects.group_by("file").agg(pl.col("row").n_unique()).iter_rows())
            if self.rejects.height
            else {}
        )
        return {name: n - int(rejected.get(name, 0)) for name, n in self.rows_read.items()}
