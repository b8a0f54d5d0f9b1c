"""report.html: one self-contained page a planner can read (inline CSS, plots as base64 PNG, no links out).

Sections: warnings, the champion and why, the leaderboard (accuracy and money per model, WAPE in percent), the
coming weeks' forecast with its 10-90% band for the biggest articles and a new article, forecast versus actual
for the biggest articles in the backtest, the plan (its expected profit beside the planners' rules on the same
demand, per store and per article), and the data summary with rejected rows by reason.

`forecast.report.plots` draws the figures, `forecast.report.page` writes the HTML page; `ReportData`
(`forecast.report.data`) is what both read.
"""

from forecast.report.data import ReportData
from forecast.report.page import (
    champion_reason,
    html_table,
    money,
    percent,
    plan_comparison,
    render_report,
    write_report,
)
from forecast.report.plots import (
    article_figure,
    cold_start_article,
    cold_start_figure,
    coming_articles,
    coming_figure,
    figures,
    leaderboard_figure,
    plan_figure,
    png,
    store_totals,
    top_articles,
)

__all__ = [
    "ReportData",
    "article_figure",
    "champion_reason",
    "cold_start_article",
    "cold_start_figure",
    "coming_articles",
    "coming_figure",
    "figures",
    "html_table",
    "leaderboard_figure",
    "money",
    "percent",
    "plan_comparison",
    "plan_figure",
    "png",
    "render_report",
    "store_totals",
    "top_articles",
    "write_report",
]
