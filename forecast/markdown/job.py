"""The markdown step of `forecast run`: the plan from the run's own forecasts, stock and catalogue."""

from __future__ import annotations

import polars as pl

from forecast.allocation.sources import AllocationInputs
from forecast.config import PipelineConfig
from forecast.dataset import Dataset
from forecast.markdown.output import stock_frame
from forecast.markdown.plan import MarkdownResult, plan_markdowns


def markdown_step(
    forecasts: pl.DataFrame,
    panel: pl.DataFrame,
    ds: Dataset,
    inputs: AllocationInputs,
    config: PipelineConfig,
) -> MarkdownResult:
    """`plan_markdowns` on the run's forecasts (one row per article × store × week) and the allocation's
    stock inputs; the pipeline's ``[markdown]`` section must be set."""
    assert config.markdown is not None
    stock = stock_frame(inputs.store_stock, inputs.dc_stock)
    return plan_markdowns(
        forecasts, panel, ds.articles, stock, config.markdown, config.business, stores=ds.stores
    )
