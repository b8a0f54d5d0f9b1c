"""The report's figures: matplotlib figures of the leaderboard, the backtest and coming forecasts of the
biggest articles, a new article's cold-start forecast and the plan per store, as PNG bytes (`figures`)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date

import polars as pl
from matplotlib.figure import Figure

from forecast.markdown.report import markdown_figures
from forecast.report.data import ReportData

TOP_ARTICLES = 3


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes (no timestamp metadata, so reruns give the same bytes)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def leaderboard_figure(leaderboard: pl.DataFrame, objective: str, champion: str) -> Figure:
    """Horizontal bars of the objective per model, the champion highlighted."""
    board = leaderboard.select("model", objective).fill_nan(None).fill_null(0.0)
    fig = Figure(figsize=(8, 0.45 * board.height + 1.2))
    ax = fig.subplots()
    names = board["model"].to_list()
    colours = ["#2f8f46" if name == champion else "#8fa3bf" for name in names]
    ax.barh(names[::-1], board[objective].to_list()[::-1], color=colours[::-1])
    ax.set_xlabel(f"{objective} (mean per backtest fold)")
    ax.set_title("Models by the business objective")
    return fig


def _by_week(frame: pl.DataFrame, values: Sequence[str], keys: Sequence[str] = ("week",)) -> pl.DataFrame:
    present = [v for v in values if v in frame.columns]
    return frame.group_by(list(keys)).agg(pl.col(present).sum()).sort(list(keys))


def top_articles(backtest: pl.DataFrame, model: str, n: int = TOP_ARTICLES) -> list[str]:
    """The `n` articles with the most actual units in the model's backtest rows (ties by id)."""
    rows = backtest.filter(pl.col("model") == model)
    totals = rows.group_by("article_id").agg(pl.col("units").fill_null(0).sum().alias("total"))
    return totals.sort(["total", "article_id"], descending=[True, False]).head(n)["article_id"].to_list()


def article_figure(
    backtest: pl.DataFrame, history: pl.DataFrame | None, article: str, model: str, target_unit: str
) -> Figure:
    """Actual weekly units (all stores) against each fold's forecast path with its 10-90% band."""
    rows = backtest.filter((pl.col("model") == model) & (pl.col("article_id") == article))
    fig = Figure(figsize=(9, 3.2))
    ax = fig.subplots()
    first = rows["week"].min() if rows.height else None
    if history is not None and isinstance(first, date):
        past = history.filter(pl.col("article_id") == article)
        past = past.filter(pl.col("week") >= pl.lit(first) - pl.duration(weeks=26))
        actual = _by_week(past, ["units"])
    else:
        actual = _by_week(rows.unique(["store_id", "week"]), ["units"])
    ax.plot(actual["week"].to_list(), actual["units"].to_list(), color="#1d2430", lw=1.6, label="actual")
    for fold in sorted(rows["fold"].unique().to_list()) if "fold" in rows.columns else []:
        path = _by_week(rows.filter(pl.col("fold") == fold), ["mean", "q10", "q90"])
        weeks = path["week"].to_list()
        if {"q10", "q90"} <= set(path.columns):
            ax.fill_between(weeks, path["q10"].to_list(), path["q90"].to_list(), color="#2f8f46", alpha=0.15)
        ax.plot(weeks, path["mean"].to_list(), color="#2f8f46", lw=1.4, label=f"forecast, fold {fold}")
    ax.set_title(f"Article {article}: {model} backtest forecasts vs actual (all stores)")
    ax.set_ylabel(target_unit)
    ax.legend(fontsize=7, ncol=4, loc="upper left")
    fig.autofmt_xdate()
    return fig


def coming_articles(forecasts: pl.DataFrame, n: int = TOP_ARTICLES) -> list[str]:
    """The `n` articles with the largest forecast over the coming weeks (cold-start rows aside)."""
    rows = forecasts.filter(pl.col("model") != "cold_start") if "model" in forecasts.columns else forecasts
    totals = rows.group_by("article_id").agg(pl.col("mean").sum().alias("total"))
    return totals.sort(["total", "article_id"], descending=[True, False]).head(n)["article_id"].to_list()


def coming_figure(
    forecasts: pl.DataFrame, history: pl.DataFrame | None, article: str, target_unit: str
) -> Figure:
    """The last 26 weeks sold (all stores) and the coming weeks' forecast with its 10-90% band."""
    rows = forecasts.filter(pl.col("article_id") == article)
    path = _by_week(rows, ["mean", "q10", "q90"])
    fig = Figure(figsize=(9, 3.2))
    ax = fig.subplots()
    first = path["week"].min() if path.height else None
    if history is not None and isinstance(first, date):
        past = history.filter(
            (pl.col("article_id") == article) & (pl.col("week") >= pl.lit(first) - pl.duration(weeks=26))
        )
        actual = _by_week(past, ["units"])
        ax.plot(actual["week"].to_list(), actual["units"].to_list(), color="#1d2430", lw=1.6, label="sold")
    weeks = path["week"].to_list()
    if {"q10", "q90"} <= set(path.columns):
        ax.fill_between(
            weeks, path["q10"].to_list(), path["q90"].to_list(), color="#2f8f46", alpha=0.18, label="10-90%"
        )
    ax.plot(weeks, path["mean"].to_list(), color="#2f8f46", lw=1.6, marker="o", ms=3, label="forecast")
    ax.set_title(f"Article {article}: the coming weeks (all stores)")
    ax.set_ylabel(target_unit)
    ax.legend(fontsize=8, loc="upper left")
    fig.autofmt_xdate()
    return fig


def cold_start_article(forecasts: pl.DataFrame) -> str | None:
    """The cold-start article with the largest forecast, if any."""
    if "model" not in forecasts.columns:
        return None
    cold = forecasts.filter(pl.col("model") == "cold_start")
    if cold.height == 0:
        return None
    totals = cold.group_by("article_id").agg(pl.col("mean").sum().alias("total"))
    return str(totals.sort(["total", "article_id"], descending=[True, False])["article_id"][0])


def cold_start_figure(
    forecasts: pl.DataFrame, true_demand: pl.DataFrame | None, article: str, target_unit: str
) -> tuple[Figure, bool]:
    """A new article's forecast curve (all stores) and, when known, its true demand. Returns (figure, with
    actuals)."""
    rows = forecasts.filter((pl.col("article_id") == article) & (pl.col("model") == "cold_start"))
    path = _by_week(rows, ["mean", "q10", "q90"])
    fig = Figure(figsize=(9, 3.2))
    ax = fig.subplots()
    weeks = path["week"].to_list()
    if {"q10", "q90"} <= set(path.columns):
        ax.fill_between(weeks, path["q10"].to_list(), path["q90"].to_list(), color="#c9702b", alpha=0.18)
    ax.plot(weeks, path["mean"].to_list(), color="#c9702b", lw=1.6, marker="o", ms=3, label="forecast")
    known = False
    if true_demand is not None and true_demand.height:
        truth = true_demand.filter(
            (pl.col("article_id") == article)
            & pl.col("week").is_in(pl.Series(weeks, dtype=pl.Date).implode())
        )
        if truth.height:
            actual = _by_week(truth, ["demand"])
            ax.plot(
                actual["week"].to_list(), actual["demand"].to_list(), color="#1d2430", lw=1.4, label="actual"
            )
            known = True
    ax.set_title(f"Cold start: article {article} (no sales history), all stores")
    ax.set_ylabel(target_unit)
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    return fig, known


def store_totals(plan: pl.DataFrame) -> pl.DataFrame:
    """The plan summed per store."""
    values = [
        c for c in ("units", "packs", "expected_sales", "expected_leftover", "expected_profit") if c in plan
    ]
    out = plan.group_by("store_id").agg(pl.len().alias("articles"), pl.col(values).sum())
    return out.sort("store_id")


def plan_figure(totals: pl.DataFrame) -> Figure:
    fig = Figure(figsize=(9, 3.0))
    ax = fig.subplots()
    ax.bar(totals["store_id"].to_list(), totals["units"].to_list(), color="#4c6fa8")
    ax.set_title("Units sent per store")
    ax.set_ylabel("units")
    ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    return fig


def figures(data: ReportData) -> dict[str, bytes]:
    """Every plot of the report, as PNG bytes by file name (the job also logs them to MLflow)."""
    out = {"leaderboard.png": png(leaderboard_figure(data.leaderboard, data.objective, data.champion))}
    bt = data.backtest_forecasts
    if bt.height:
        for article in top_articles(bt, data.champion):
            fig = article_figure(bt, data.history, article, data.champion, data.target_unit)
            out[f"article_{_safe(article)}.png"] = png(fig)
    if data.forecasts.height:
        for article in coming_articles(data.forecasts):
            fig = coming_figure(data.forecasts, data.history, article, data.target_unit)
            out[f"coming_{_safe(article)}.png"] = png(fig)
    cold = cold_start_article(data.forecasts)
    if cold is not None:
        fig, _ = cold_start_figure(data.forecasts, data.true_demand, cold, data.target_unit)
        out[f"cold_start_{_safe(cold)}.png"] = png(fig)
    if data.planned_markdowns is not None and data.planned_markdowns.height:
        from forecast.whatif import planned_markdowns_figure

        out["planned_markdowns.png"] = png(planned_markdowns_figure(data.planned_markdowns, data.target_unit))
    if data.plan.height:
        out["plan_by_store.png"] = png(plan_figure(store_totals(data.plan)))
    if data.replenishment_stock is not None and data.replenishment_stock.height:
        from forecast.replenish.figure import stock_figure

        out["replenishment_stock.png"] = png(stock_figure(data.replenishment_stock))
    out.update(markdown_figures(data.markdown, png))
    return out


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
