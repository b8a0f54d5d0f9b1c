"""The report's markdown section: expected profit of the recommended plan beside the current prices and the
rules, and the expected sell-through curves of the top articles under each."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping

import polars as pl
from matplotlib.figure import Figure

from forecast.markdown.plan import MarkdownResult

TOP_UNITS = 4
FIGURE = "markdown_sell_through.png"
POLICIES = {
    "recommended": ("#2f8f46", "-"),
    "current": ("#1d2430", "--"),
    "sell_through": ("#d08c2b", ":"),
    "fixed": ("#8fa3bf", "-."),
}


def top_units(summary: pl.DataFrame, n: int = TOP_UNITS) -> pl.DataFrame:
    """The `n` units (article × cluster) with the most stock, ties by id."""
    return summary.sort(["stock_units", "article_id", "cluster"], descending=[True, False, False]).head(n)


def comparison(result: MarkdownResult) -> pl.DataFrame:
    """Expected season profit per policy, from the plan's totals."""
    t = result.totals
    rows = [
        ("recommended plan", t.get("expected_profit", 0.0)),
        ("current prices", t.get("current_expected_profit", 0.0)),
        ("current price held", t.get("keep_price_expected_profit", 0.0)),
        ("sell-through rule", t.get("rule_sell_through_expected_profit", 0.0)),
        ("fixed rule", t.get("rule_fixed_expected_profit", 0.0)),
    ]
    return pl.DataFrame(rows, schema=["policy", "expected_profit"], orient="row")


def sell_through_figure(result: MarkdownResult) -> Figure:
    """One panel per top unit: expected cumulative sell-through per week under each policy."""
    top = top_units(result.summary)
    fig = Figure(figsize=(9, 2.4 * max(top.height, 1)))
    axes = fig.subplots(max(top.height, 1), 1, squeeze=False)[:, 0]
    curves = result.curves if result.curves is not None else pl.DataFrame()
    for ax, (article, cluster) in zip(axes, top.select("article_id", "cluster").iter_rows(), strict=False):
        rows = curves.filter((pl.col("article_id") == article) & (pl.col("cluster") == cluster))
        for policy, (colour, style) in POLICIES.items():
            line = rows.filter(pl.col("policy") == policy).sort("week")
            ax.plot(
                line["week"].to_list(), line["sold_share"].to_list(), color=colour, ls=style, label=policy
            )
        ax.set_title(f"Article {article} ({cluster})", fontsize=10)
        ax.set_ylabel("share sold")
        ax.set_ylim(0, 1.05)
    axes[0].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def markdown_figures(result: MarkdownResult | None, png: Callable[[Figure], bytes]) -> dict[str, bytes]:
    """The section's plot as PNG bytes by file name (none when nothing was planned)."""
    if result is None or result.summary.height == 0:
        return {}
    return {FIGURE: png(sell_through_figure(result))}


def markdown_section(
    result: MarkdownResult | None,
    plots: Mapping[str, bytes],
    img: Callable[[bytes, str], str],
    table: Callable[[pl.DataFrame], str],
) -> list[str]:
    """The section's HTML fragments (none without a markdown step)."""
    if result is None:
        return []
    parts = ["<h2>Markdown plan</h2>"]
    if result.summary.height == 0:
        return [*parts, "<p>No article's season ends within the markdown horizon.</p>"]
    n = int(result.totals.get("units", 0))
    gap = result.totals.get("approximation_gap")
    note = "" if gap is None else f" The expected-stock figure is {100 * gap:+.1f}% off a Monte-Carlo check."
    parts.append(
        f"<p>{n:,} articles (× cluster) whose season ends within the horizon: expected profit to the "
        f"season's end, purchase cost sunk, under each policy.{html.escape(note)}</p>"
    )
    parts.append(table(comparison(result)))
    if FIGURE in plots:
        parts.append(img(plots[FIGURE], "expected sell-through of the top articles"))
    return parts
