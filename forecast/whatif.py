"""What-if: demand under another price plan, and the report's figure of planned markdowns against full price.

`forecast_under_prices` is the one function a pricing decision needs: a fitted model and a price plan in,
each article × store × week's demand distribution out (the forecasts contract, coherent, with the ``price``
each row assumed). A model that does not read prices forecasts the same under any plan.

`planned_markdowns` runs it for the articles with the most demand at a planned markdown, once more at
their list price, so the report shows what the markdown is expected to add (`planned_markdowns_figure`).
"""

from __future__ import annotations

import polars as pl
from matplotlib.figure import Figure

from forecast.contracts import SERIES, WEEKLY_KEY
from forecast.dataset import Dataset
from forecast.distribution import coherent_forecasts
from forecast.models.base import Forecaster
from forecast.panel import cut_at_sale_end, sale_ends
from forecast.prices import with_plan_price

MARKED_DOWN = 0.01  # a planned price this share or more below the list price is a markdown
TOP_MARKDOWNS = 4  # articles the report compares


def forecast_under_prices(
    model: Forecaster,
    plan: pl.DataFrame,
    horizon: int,
    series: pl.DataFrame,
    ends: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Each of `series` × weeks 1..`horizon`'s demand distribution when the prices are those of `plan`.

    Parameters
    ----------
    model
        A fitted model (its origin is the last week of its history).
    plan
        article_id, store_id, week, price and optional promo (0/1) for weeks after the origin; a series ×
        week without a row carries its last known price forward.
    series
        article_id, store_id of the series to forecast.
    ends
        `forecast.panel.sale_ends`: weeks after an article's end of sale forecast 0.

    Returns
    -------
    pl.DataFrame
        The forecasts contract (mean and quantiles, one coherent distribution per row) plus ``price``.
    """
    raw = model.with_prices(plan).predict(horizon, series)
    if ends is not None:
        raw = cut_at_sale_end(raw, ends)
    out, _ = coherent_forecasts(raw)
    return with_plan_price(out, plan)


def list_prices(ds: Dataset) -> pl.DataFrame:
    """article_id, list_price from the catalogue (empty when it has none)."""
    if "list_price" not in ds.articles.columns:
        return pl.DataFrame(schema={"article_id": pl.Utf8, "list_price": pl.Float64})
    listed = ds.articles.select(pl.col("article_id").cast(pl.Utf8), pl.col("list_price").cast(pl.Float64))
    return listed.drop_nulls().unique("article_id")


def planned_markdowns(
    model: Forecaster, forecasts: pl.DataFrame, ds: Dataset, n: int = TOP_MARKDOWNS
) -> pl.DataFrame:
    """Per week, for the `n` articles with the most forecast demand at a planned markdown: the demand at the
    planned price (``planned_units``, from `forecasts`) beside the demand at list price (``full_price_units``,
    `forecast_under_prices`), summed over stores, with the mean planned ``price`` and the ``list_price``.

    Empty when no forecast row is marked down (or `forecasts` carries no ``price``).
    """
    schema = {"article_id": pl.Utf8, "week": pl.Date, "price": pl.Float64, "list_price": pl.Float64,
              "planned_units": pl.Float64, "full_price_units": pl.Float64}  # fmt: skip
    if "price" not in forecasts.columns or forecasts.height == 0:
        return pl.DataFrame(schema=schema)
    rows = forecasts.filter(pl.col("model") == model.name).join(list_prices(ds), on="article_id", how="inner")
    marked = rows.filter(pl.col("price") < pl.col("list_price") * (1.0 - MARKED_DOWN))
    if marked.height == 0:
        return pl.DataFrame(schema=schema)
    top = (
        marked.group_by("article_id")
        .agg(pl.col("mean").sum())
        .sort(["mean", "article_id"], descending=[True, False])
    )
    chosen = rows.join(top.head(n).select("article_id"), on="article_id", how="semi")
    full_plan = chosen.select(*WEEKLY_KEY, pl.col("list_price").alias("price"))
    horizon = int(chosen["horizon"].max())  # type: ignore[arg-type]
    full = forecast_under_prices(model, full_plan, horizon, chosen.select(SERIES).unique(), sale_ends(ds))
    both = chosen.join(full.select(*WEEKLY_KEY, pl.col("mean").alias("_full")), on=WEEKLY_KEY, how="left")
    out = both.group_by("article_id", "week").agg(
        pl.col("price").mean(),
        pl.col("list_price").first(),
        pl.col("mean").sum().alias("planned_units"),
        pl.col("_full").fill_null(0.0).sum().alias("full_price_units"),
    )
    return out.sort("article_id", "week").select(list(schema))


def planned_markdowns_figure(comparison: pl.DataFrame, target_unit: str = "units") -> Figure:
    """One panel per article: weekly demand at the planned price and at list price (all stores)."""
    articles = comparison["article_id"].unique(maintain_order=True).to_list()
    fig = Figure(figsize=(9, 2.4 * max(len(articles), 1)))
    axes = fig.subplots(max(len(articles), 1), 1, squeeze=False)[:, 0]
    for ax, article in zip(axes, articles, strict=False):
        rows = comparison.filter(pl.col("article_id") == article)
        weeks = rows["week"].to_list()
        ax.plot(weeks, rows["planned_units"].to_list(), color="#c0392b", lw=1.6, marker="o", ms=3,
                label="at the planned price")  # fmt: skip
        ax.plot(weeks, rows["full_price_units"].to_list(), color="#1d2430", lw=1.4, ls="--",
                label="at list price")  # fmt: skip
        depth = rows.select((1.0 - pl.col("price") / pl.col("list_price")).max()).item()
        ax.set_title(f"Article {article}: up to {100 * float(depth):.0f}% off planned", fontsize=9)
        ax.set_ylabel(target_unit)
        ax.legend(fontsize=7, loc="upper right")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def planned_markdowns_section(comparison: pl.DataFrame) -> str:
    """The report's sentence above the figure: total demand the planned markdowns add."""
    planned = float(comparison["planned_units"].sum())
    full = float(comparison["full_price_units"].sum())
    lift = f"{planned / full:.2f}×" if full > 0 else "–"
    return (
        "<p>The articles with the most demand at a planned markdown: the champion's forecast at the planned "
        f"prices beside its forecast had they stayed at list price ({planned:,.0f} against {full:,.0f} "
        f"units over the horizon, {lift}). <code>forecast predict PIPELINE --prices FILE</code> forecasts "
        "under any other plan.</p>"
    )


__all__ = [
    "forecast_under_prices",
    "list_prices",
    "planned_markdowns",
    "planned_markdowns_figure",
    "planned_markdowns_section",
]
