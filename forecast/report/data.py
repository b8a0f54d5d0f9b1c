"""What the report shows (`ReportData`), shared by its figures (`forecast.report.plots`) and its page
(`forecast.report.page`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from forecast.markdown.report import MarkdownResult


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
    markdown: MarkdownResult | None = None  # the markdown plan, when the pipeline has [markdown]
    planned_markdowns: pl.DataFrame | None = None  # `forecast.whatif.planned_markdowns`: planned vs list
    sections: Sequence[str] = ()  # further HTML sections of other steps (e.g. the buy), before "Data"
