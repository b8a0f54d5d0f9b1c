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


def markdown_first(
    demand: pl.DataFrame,
    panel: pl.DataFrame,
    ds: Dataset,
    inputs: AllocationInputs,
    config: PipelineConfig,
) -> tuple[MarkdownResult, pl.DataFrame, AllocationInputs]:
    """The markdown plan made before allocating (``[markdown] apply_to_plans``), the demand at its
    recommended prices and the allocation inputs with the recommended prices (`forecast.markdown.apply`).
    The DC and store stock stay those the plan was made from."""
    from forecast.allocation.sources import run_inputs
    from forecast.markdown.apply import allocation_prices, repriced_demand

    assert config.markdown is not None
    result = markdown_step(demand, panel, ds, inputs, config)
    repriced = repriced_demand(
        demand, result, ds.stores, config.markdown, inputs.dc_stock, config.business.default_price
    )
    prices = allocation_prices(repriced, result, config.allocation.cover_weeks)
    priced = run_inputs(ds, panel, demand, config, planned=prices)
    return result, repriced, priced
