"""The report's replenishment plot and section: planned store stock per week against forecast demand."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl
from matplotlib.figure import Figure

TOP_ARTICLES = 4


def top_articles(article_weeks: pl.DataFrame, n: int = TOP_ARTICLES) -> list[str]:
    """The `n` articles with the most forecast demand over the horizon (ties by id)."""
    totals = article_weeks.group_by("article_id").agg(pl.col("demand_mean").sum())
    return (
        totals.sort(["demand_mean", "article_id"], descending=[True, False]).head(n)["article_id"].to_list()
    )


def stock_figure(article_weeks: pl.DataFrame) -> Figure:
    """One panel per top article: planned stock in the stores (known + arriving) and forecast demand."""
    names = top_articles(article_weeks)
    fig = Figure(figsize=(9, 2.4 * max(len(names), 1)))
    axes = fig.subplots(max(len(names), 1), 1, squeeze=False)[:, 0]
    for ax, article in zip(axes, names, strict=False):
        rows = article_weeks.filter(pl.col("article_id") == article).sort("week")
        weeks = rows["week"].to_list()
        ax.bar(weeks, rows["planned_stock_units"].to_list(), width=4, color="#8fa3bf", label="planned stock")
        ax.plot(
            weeks, rows["demand_mean"].to_list(), color="#2f8f46", lw=1.8, marker="o", label="forecast demand"
        )
        ax.plot(
            weeks, rows["expected_sales"].to_list(), color="#1d2430", lw=1.0, ls="--", label="expected sales"
        )
        ax.set_title(f"Article {article}: all stores", fontsize=10)
        ax.set_ylabel("units")
    axes[0].legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def section(
    summary: pl.DataFrame | None,
    figures: dict[str, bytes],
    img: Callable[[bytes, str], str],
    table: Callable[[pl.DataFrame], str],
) -> str:
    """HTML of the report's replenishment section (`img` and `table` are the report's helpers)."""
    if summary is None:
        return "<p>No replenishment plan in this run.</p>"
    parts = [
        "<p>Weekly DC → store shipments and supplier orders over the horizon; bars: stock planned in the "
        "stores each week, line: the forecast demand.</p>"
    ]
    if "replenishment_stock.png" in figures:
        parts.append(img(figures["replenishment_stock.png"], "planned stock against forecast demand"))
    parts.append(table(summary))
    return "".join(parts)
