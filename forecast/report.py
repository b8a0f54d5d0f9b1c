"""report.html: one self-contained page a planner can read (inline CSS, plots as base64 PNG, no links out).

Sections: warnings, the champion and why, the leaderboard (accuracy and money per model, WAPE in percent), the
coming weeks' forecast with its 10-90% band for the biggest articles and a new article, forecast versus actual
for the biggest articles in the backtest, the plan (its expected profit beside the planners' rules on the same
demand, per store and per article), and the data summary with rejected rows by reason.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
from matplotlib.figure import Figure

from forecast.io import write_text

MONEY = ("revenue", "lost_sales_cost", "holding_cost", "profit", "expected_profit", "price", "unit_cost")
TOP_ARTICLES = 3
PLAN_ARTICLES_SHOWN = 30
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;
max-width:1100px;color:#1d2430;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d8dde6}
.sub{color:#5b6472;margin-top:0}table{border-collapse:collapse;margin:.6rem 0;font-size:.88rem}
th,td{border:1px solid #d8dde6;padding:.25rem .55rem;text-align:right}th{background:#f1f4f8}
td:first-child,th:first-child{text-align:left}tr.champion td{background:#e7f5ea;font-weight:600}
.kpi{display:inline-block;margin:.3rem 1.2rem .3rem 0}.kpi b{display:block;font-size:1.3rem}
.scroll{overflow-x:auto}img{max-width:100%;height:auto;border:1px solid #eef0f4;margin:.4rem 0}
.note{color:#5b6472;font-size:.85rem}
"""


@dataclass
class ReportData:
    """Everything the report shows; frames follow the package's file contracts.

    ``backtest_forecasts`` is `BacktestResult.forecasts` (with ``fold`` and actual ``units``); ``forecasts``
    the final forecasts (cold-start rows have model ``cold_start``); ``history`` the panel (article_id,
    store_id, week, units) for context around the backtest; ``true_demand`` (synthetic data only: week,
    store_id, article_id, demand) supplies actuals for weeks not yet sold.
    """

    pipeline: str
    objective: str
    champion: str
    leaderboard: pl.DataFrame
    backtest_forecasts: pl.DataFrame
    forecasts: pl.DataFrame
    plan: pl.DataFrame
    fingerprint: Mapping[str, Any] = field(default_factory=dict)
    rejects: pl.DataFrame | None = None
    history: pl.DataFrame | None = None
    true_demand: pl.DataFrame | None = None
    allocation: Mapping[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    target_unit: str = "units"
    store_summary: pl.DataFrame | None = None
    article_summary: pl.DataFrame | None = None
    warnings: Sequence[str] = ()
    replenishment: pl.DataFrame | None = None  # weekly summary of the multi-week plan
    replenishment_stock: pl.DataFrame | None = None  # its article × week planned stock and demand
    markdowns: pl.DataFrame | None = None  # `forecast.whatif.markdown_comparison`: planned vs list price


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
    if data.markdowns is not None and data.markdowns.height:
        from forecast.whatif import markdown_figure

        out["markdowns.png"] = png(markdown_figure(data.markdowns, data.target_unit))
    if data.plan.height:
        out["plan_by_store.png"] = png(plan_figure(store_totals(data.plan)))
    if data.replenishment_stock is not None and data.replenishment_stock.height:
        from forecast.replenish.figure import stock_figure

        out["replenishment_stock.png"] = png(stock_figure(data.replenishment_stock))
    return out


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def _img(data: bytes, alt: str) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if value.is_integer():
            return f"{value:,.0f}"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.3f}"
    return html.escape(str(value))


def money(value: float) -> str:
    """Money as every output prints it: to cents, with thousands separators."""
    return "–" if math.isnan(value) else f"{value:,.2f}"


def percent(value: float) -> str:
    """A ratio (WAPE, gap) as a percentage."""
    return "–" if math.isnan(value) else f"{100 * value:.1f}%"


def _column_cell(column: str, value: Any) -> str:
    if isinstance(value, float) and column in ("wape", "wape_true", "bias_true"):
        return percent(value)
    if isinstance(value, float) and (column in MONEY or "profit" in column):
        return money(value)
    return _cell(value)


def html_table(frame: pl.DataFrame, highlight: str | None = None) -> str:
    """An HTML table of `frame` (WAPE in percent, money to cents); the row whose first cell equals
    `highlight` is marked."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    rows = []
    for row in frame.iter_rows():
        mark = ' class="champion"' if highlight is not None and str(row[0]) == highlight else ""
        cells = "".join(f"<td>{_column_cell(c, v)}</td>" for c, v in zip(frame.columns, row, strict=True))
        rows.append(f"<tr{mark}>{cells}</tr>")
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    return f'<div class="scroll">{table}</div>'


def champion_reason(leaderboard: pl.DataFrame, champion: str, objective: str) -> str:
    """One paragraph: why the champion won, in the objective's terms, against the runner-up."""
    board = leaderboard.with_columns(pl.col(objective).cast(pl.Float64))
    mine = board.filter(pl.col("model") == champion)
    others = board.filter(pl.col("model") != champion)
    if mine.height == 0:
        return f"{html.escape(champion)} was chosen."
    value = float(mine[objective][0])
    text = (
        f"<b>{html.escape(champion)}</b> has the best {html.escape(objective)} of {board.height} backtested "
        f"models: {_column_cell(objective, value)} per fold"
    )
    if others.height:
        runner = others.row(0, named=True)
        diff = value - float(runner[objective])
        gap = _column_cell(objective, abs(diff))
        text += f", {gap} {'more' if diff >= 0 else 'less'} than {html.escape(runner['model'])}"
    if "wape" in board.columns:
        text += f"; its WAPE is {percent(float(mine['wape'][0]))}"
    return text + ". Champions are picked by money, not by forecast error alone."


def _kpis(items: Mapping[str, Any]) -> str:
    return "".join(f'<span class="kpi">{html.escape(k)}<b>{_cell(v)}</b></span>' for k, v in items.items())


def _data_section(data: ReportData) -> str:
    fp = data.fingerprint
    kpis = {
        "sales rows": fp.get("sales_rows", "–"),
        "from": fp.get("date_min", "–"),
        "to": fp.get("date_max", "–"),
        "articles": fp.get("articles", "–"),
        "stores": fp.get("stores", "–"),
        "rejected rows": fp.get("rows_rejected", 0),
    }
    parts = [f"<div>{_kpis(kpis)}</div>"]
    rows_read = fp.get("rows_read") or {}
    if rows_read:
        kept = fp.get("rows_kept") or {}
        files = pl.DataFrame(
            {
                "file": list(rows_read),
                "rows read": [int(v) for v in rows_read.values()],
                "rows kept": [int(kept.get(k, v)) for k, v in rows_read.items()],
            }
        )
        parts.append(html_table(files))
    rejects = data.rejects
    if rejects is not None and rejects.height:
        by_reason = rejects.group_by(["file", "reason"]).agg(pl.len().alias("rows")).sort(["file", "reason"])
        parts.append("<h3>Rejected rows by reason</h3>" + html_table(by_reason))
        parts.append('<p class="note">Every rejected row is listed in rejects.csv.</p>')
    else:
        parts.append('<p class="note">No rows were rejected.</p>')
    if fp.get("sales_sha256"):
        parts.append(
            f'<p class="note">Sales content hash (SHA-256): {html.escape(str(fp["sales_sha256"]))}</p>'
        )
    return "".join(parts)


def plan_comparison(allocation: Mapping[str, Any]) -> pl.DataFrame:
    """The plan's expected profit beside the planners' rules on the same demand distributions."""
    from forecast.allocation.rules import RULE_LABELS

    total = float(allocation.get("expected_profit", math.nan))
    rules = dict(allocation.get("rule_profits") or {})
    names = ["optimised plan", *[RULE_LABELS.get(k, k) for k in rules]]
    values = [total, *[float(v) for v in rules.values()]]
    return pl.DataFrame(
        {
            "policy": names,
            "expected_profit": values,
            "plan's extra profit": [total - v for v in values],
        }
    )


def _plan_section(data: ReportData, plots: Mapping[str, bytes]) -> str:
    alloc = data.allocation
    if data.plan.height == 0:
        return "<p>The plan sends nothing: no store gains expected profit from more stock.</p>"
    summary = {
        "expected profit": money(float(alloc.get("expected_profit", data.plan["expected_profit"].sum()))),
        "units sent": _cell(float(data.plan["units"].sum())),
        "stores served": int(data.plan.filter(pl.col("units") > 0)["store_id"].n_unique()),
        "optimality gap": percent(float(alloc.get("gap", math.nan))),
    }
    parts = [f"<div>{_kpis(summary)}</div>"]
    parts.append(
        "<p>Expected profit = (price − unit cost) × expected sales − holding cost × expected leftover − "
        "ship cost × units sent, over everything each store holds of an article after delivery (stock "
        "already on hand sells first and pays no shipping). plan.csv lists every store × article that "
        "receives units or holds stock; its rows add up to this figure.</p>"
    )
    if alloc.get("rule_profits"):
        parts.append("<h3>Plan against the planners' rules (same demand distributions)</h3>")
        parts.append(html_table(plan_comparison(alloc)))
    if "plan_by_store.png" in plots:
        parts.append(_img(plots["plan_by_store.png"], "units sent per store"))
    stores = data.store_summary if data.store_summary is not None else store_totals(data.plan)
    parts.append("<h3>Per store</h3>" + html_table(stores))
    if data.article_summary is not None and data.article_summary.height:
        articles = data.article_summary.sort("expected_profit", descending=True, maintain_order=True)
        shown = articles.head(PLAN_ARTICLES_SHOWN)
        note = (
            f'<p class="note">Top {shown.height} of {articles.height} articles by expected profit; '
            "all are in plan_article_summary.csv.</p>"
            if articles.height > shown.height
            else ""
        )
        parts.append("<h3>Per article</h3>" + html_table(shown) + note)
    return "".join(parts)


def _warnings_section(data: ReportData) -> str:
    if not data.warnings:
        return ""
    items = "".join(f"<li>{html.escape(w)}</li>" for w in data.warnings)
    return f"<h2>Warnings</h2><ul>{items}</ul>"


def _forecast_section(plots: Mapping[str, bytes]) -> str:
    parts = []
    articles = [name for name in plots if name.startswith("article_")]
    if articles:
        parts.append(
            "<p>The biggest articles of the backtest: what the champion forecast at each fold origin "
            "(line, with the 10–90% band; store quantiles summed, so the band is wide) against what sold.</p>"
        )
        parts.extend(_img(plots[name], name) for name in articles)
    return "".join(parts) or "<p>No backtest forecasts to plot.</p>"


def _coming_section(data: ReportData, plots: Mapping[str, bytes]) -> str:
    parts = []
    coming = [name for name in plots if name.startswith("coming_")]
    if coming:
        parts.append(
            "<p>The forecast of the coming weeks for the biggest articles, with its 10–90% band (store "
            "quantiles summed, so the band is wide), after the last 26 weeks sold.</p>"
        )
        parts.extend(_img(plots[name], name) for name in coming)
    cold = cold_start_article(data.forecasts)
    cold_plot = next((name for name in plots if name.startswith("cold_start_")), None)
    if cold is not None and cold_plot is not None:
        _, known = cold_start_figure(data.forecasts, data.true_demand, cold, data.target_unit)
        note = "with its true demand" if known else "no actuals yet: it has not sold"
        parts.append(
            f"<h3>A new article</h3><p>Cold-start forecast for {html.escape(cold)} with its 10–90% band "
            f"({note}).</p>"
        )
        parts.append(_img(plots[cold_plot], cold_plot))
    return "".join(parts) or "<p>No forecasts to plot.</p>"


def _markdown_section(data: ReportData, plots: Mapping[str, bytes]) -> list[str]:
    if data.markdowns is None or "markdowns.png" not in plots:
        return []
    from forecast.whatif import markdown_section

    return ["<h3>Planned markdowns</h3>", markdown_section(data.markdowns), _img(plots["markdowns.png"], "")]


def _replenishment_section(data: ReportData, plots: Mapping[str, bytes]) -> list[str]:
    if data.replenishment is None:
        return []
    from forecast.replenish.figure import section

    return ["<h2>Replenishment plan</h2>", section(data.replenishment, dict(plots), _img, html_table)]


def render_report(data: ReportData, plots: Mapping[str, bytes] | None = None) -> str:
    """The report as one self-contained HTML page (pass `plots` from `figures` to reuse them)."""
    plots = figures(data) if plots is None else plots
    title = f"Demand forecast and allocation: {html.escape(data.pipeline)}"
    run = f" · MLflow run {html.escape(data.run_id)}" if data.run_id else ""
    board = html_table(data.leaderboard, highlight=data.champion)
    body = [
        f"<h1>{title}</h1><p class='sub'>objective: {html.escape(data.objective)}{run}</p>",
        _warnings_section(data),
        "<h2>Champion</h2>",
        f"<p>{champion_reason(data.leaderboard, data.champion, data.objective)}</p>",
        "<h2>Leaderboard</h2>",
        "<p>Accuracy (WAPE, MAE, …) and money (revenue, lost sales, overstock, profit) per model, "
        "averaged over the backtest folds; best first. Where the true demand is known (simulated data), "
        "wape_true and bias_true score the mean against it on every week, stockout weeks included, which "
        "the sales alone cannot.</p>",
        board,
        _img(plots["leaderboard.png"], "leaderboard") if "leaderboard.png" in plots else "",
        "<h2>The coming weeks</h2>",
        _coming_section(data, plots),
        *_markdown_section(data, plots),
        "<h2>Forecast versus actual (backtest)</h2>",
        _forecast_section(plots),
        "<h2>Allocation plan</h2>",
        _plan_section(data, plots),
        *_replenishment_section(data, plots),
        "<h2>Data</h2>",
        _data_section(data),
    ]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{title}</title>"
        f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>"
    )


def write_report(html_text: str, path: str | Path) -> Path:
    """Write the page atomically."""
    return write_text(html_text, path)
