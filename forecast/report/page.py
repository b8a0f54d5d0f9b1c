"""report.html: the page itself (inline CSS, the figures of `forecast.report.plots` inlined as base64 PNG,
no links out)."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from forecast.io import write_text
from forecast.markdown.report import markdown_section
from forecast.report.data import ReportData
from forecast.report.plots import cold_start_article, cold_start_figure, figures, store_totals

MONEY = ("revenue", "lost_sales_cost", "holding_cost", "profit", "expected_profit", "price", "unit_cost")
PLAN_ARTICLES_SHOWN = 30
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;
max-width:1240px;color:#1d2430;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d8dde6}
.sub{color:#5b6472;margin-top:0}table{border-collapse:collapse;margin:.6rem 0;font-size:.88rem}
th,td{border:1px solid #d8dde6;padding:.25rem .55rem;text-align:right}th{background:#f1f4f8}
td:first-child,th:first-child{text-align:left}tr.champion td{background:#e7f5ea;font-weight:600}
.kpi{display:inline-block;margin:.3rem 1.2rem .3rem 0}.kpi b{display:block;font-size:1.3rem}
.scroll{overflow-x:auto;max-width:100%}th{vertical-align:bottom}li,p{overflow-wrap:break-word}
img{max-width:100%;height:auto;border:1px solid #eef0f4;margin:.4rem 0}
.note{color:#5b6472;font-size:.85rem}
"""


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
    # a long column name may break after its underscores, so a wide table fits a laptop screen
    head = "".join(f"<th>{html.escape(c).replace('_', '_<wbr>')}</th>" for c in frame.columns)
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


def _planned_markdowns_section(data: ReportData, plots: Mapping[str, bytes]) -> list[str]:
    if data.planned_markdowns is None or "planned_markdowns.png" not in plots:
        return []
    from forecast.whatif import planned_markdowns_section

    figure = _img(plots["planned_markdowns.png"], "")
    return ["<h3>Planned markdowns</h3>", planned_markdowns_section(data.planned_markdowns), figure]


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
        *_planned_markdowns_section(data, plots),
        "<h2>Forecast versus actual (backtest)</h2>",
        _forecast_section(plots),
        "<h2>Allocation plan</h2>",
        _plan_section(data, plots),
        *_replenishment_section(data, plots),
        *markdown_section(data.markdown, plots, _img, html_table),
        *data.sections,
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
