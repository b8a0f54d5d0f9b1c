"""Writing a markdown plan: ``markdowns.csv``, ``markdown_summary.csv`` and ``markdown_response.csv``."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from forecast.io import write_csv
from forecast.markdown.plan import MarkdownResult
from forecast.outputs import csv_precision

FILES = ("markdowns.csv", "markdown_summary.csv", "markdown_response.csv")


def stock_frame(
    store_stock: pl.DataFrame | None, dc_stock: pl.DataFrame | None, in_transit: pl.DataFrame | None = None
) -> pl.DataFrame:
    """The stock rows `forecast.markdown.plan.plan_markdowns` reads: store stock (``on_hand``), DC stock
    (``available_units``) and units in transit (``units``), as ``article_id, store_id, units``; DC and
    in-transit rows without a store carry a null ``store_id``."""
    parts = [pl.DataFrame(schema={"article_id": pl.Utf8, "store_id": pl.Utf8, "units": pl.Float64})]
    if store_stock is not None:
        parts.append(store_stock.select("article_id", "store_id", pl.col("on_hand").alias("units")))
    if dc_stock is not None:
        parts.append(
            dc_stock.select(
                "article_id",
                pl.lit(None, pl.Utf8).alias("store_id"),
                pl.col("available_units").alias("units"),
            )
        )
    if in_transit is not None:
        store = pl.col("store_id") if "store_id" in in_transit.columns else pl.lit(None, pl.Utf8)
        parts.append(in_transit.select("article_id", store.alias("store_id"), "units"))
    cast = [
        pl.col("article_id").cast(pl.Utf8),
        pl.col("store_id").cast(pl.Utf8),
        pl.col("units").cast(pl.Float64),
    ]
    return pl.concat([p.select(cast) for p in parts])


def stage_files(result: MarkdownResult, folder: Path) -> dict[str, Path]:
    """Write the three files into `folder` (a staging folder); key -> path."""
    frames = (result.markdowns, result.summary, result.elasticities)
    return {
        name.removesuffix(".csv"): write_csv(csv_precision(frame), folder / name)
        for name, frame in zip(FILES, frames, strict=True)
    }


def totals_line(result: MarkdownResult) -> str:
    """One line of the plan's totals for the console and the logs."""
    t = result.totals
    if not t.get("units"):
        return "no article's season ends within the markdown horizon; nothing to plan"
    gain = t["expected_profit"] - t["current_expected_profit"]
    line = (
        f"{int(t['units']):,} units planned: expected profit {t['expected_profit']:,.2f} against "
        f"{t['current_expected_profit']:,.2f} under the current prices ({gain:+,.2f})"
    )
    if "approximation_gap" in t:
        line += (
            f"; Monte-Carlo check on {int(t['checked_units']):,} units: the expected-stock figure is "
            f"{100 * t['approximation_gap']:+.2f}% off the exact one"
        )
    return line
