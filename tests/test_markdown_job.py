"""The markdown step of `forecast run`: only with a [markdown] section; its files, report and MLflow."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from mlflow import MlflowClient
from test_job import OUTPUTS, fake_stages, sqlite_uri, tiny_config

from forecast.errors import ConfigError
from forecast.job import run_job
from forecast.markdown.apply import repriced_demand
from forecast.markdown.config import MarkdownConfig
from forecast.markdown.output import FILES
from forecast.markdown.plan import MarkdownResult
from forecast.markdown.response import lift


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return sqlite_uri(tmp_path_factory.mktemp("markdownstore"))


def test_run_with_markdown_section_writes_the_plan(store: str, tmp_path: Path) -> None:
    config = tiny_config("tiny-markdown")
    config.markdown = MarkdownConfig(articles=["A0", "A2"], weeks=3, samples=20)
    result = run_job(config, tmp_path / "out", store, stages=fake_stages())
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert names == OUTPUTS | set(FILES)
    markdowns = pl.read_csv(tmp_path / "out" / "markdowns.csv")
    assert set(markdowns["article_id"].to_list()) == {"A0", "A2"}
    assert set(markdowns["cluster"].to_list()) == {"ALL"}
    assert "<h2>Markdown plan</h2>" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    metrics = MlflowClient(tracking_uri=store).get_run(result.run_id).data.metrics
    assert metrics["markdown_units"] == 2.0
    assert metrics["markdown_expected_profit"] >= metrics["markdown_keep_price_expected_profit"] - 1e-6


def test_run_without_markdown_section_has_no_markdown_files(store: str, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "markdowns.csv").write_text("stale\n", encoding="utf-8")
    run_job(tiny_config("tiny-no-markdown"), tmp_path / "out", store, stages=fake_stages())
    assert {p.name for p in (tmp_path / "out").iterdir()} == OUTPUTS


def _run_both_ways(store: str, tmp_path: Path) -> dict[bool, Path]:
    """The same tiny run with ``apply_to_plans`` off and on: a stock the markdown plan discounts."""
    outs = {}
    for apply in (False, True):
        config = tiny_config(f"tiny-markdown-apply-{apply}")
        config.markdown = MarkdownConfig(
            articles=["A0", "A2"], weeks=3, samples=20, salvage_ratio=0.0, apply_to_plans=apply
        )
        outs[apply] = tmp_path / f"out-{apply}"
        run_job(config, outs[apply], store, stages=fake_stages())
    return outs


def test_apply_to_plans_allocates_and_replenishes_at_the_recommended_prices(
    store: str, tmp_path: Path
) -> None:
    outs = _run_both_ways(store, tmp_path)
    markdowns = pl.read_csv(outs[True] / "markdowns.csv")
    assert markdowns.equals(pl.read_csv(outs[False] / "markdowns.csv"))  # planned before, same plan
    first = markdowns.sort("week").group_by("article_id", maintain_order=True).first()
    deeper = first.filter(pl.col("discount") > pl.col("current_discount"))
    assert deeper.height > 0  # the fixture's plan discounts below the current price
    keys = ["store_id", "article_id", "week"]
    for article, price in deeper.select("article_id", "price").rows():
        plan_on = pl.read_csv(outs[True] / "plan.csv").filter(pl.col("article_id") == article)
        plan_off = pl.read_csv(outs[False] / "plan.csv").filter(pl.col("article_id") == article)
        assert plan_on.height > 0
        assert plan_on["price"].to_list() == [price] * plan_on.height
        both = plan_on.join(plan_off, on=keys, suffix="_off")
        assert (both["demand_mean"] >= both["demand_mean_off"] - 1e-9).all()
        assert (both["demand_mean"] > both["demand_mean_off"]).any()
        ship = pl.read_csv(outs[True] / "shipments.csv").filter(pl.col("article_id") == article)
        weeks = set(markdowns.filter(pl.col("article_id") == article)["week"].to_list())
        covered = ship.filter(pl.col("arrive_week").is_in(weeks))
        assert covered.height > 0
        assert set(covered["price"].to_list()) <= set(
            markdowns.filter(pl.col("article_id") == article)["price"].to_list()
        )
    dc_on = pl.read_csv(outs[True] / "dc_stock.csv")
    dc_off = pl.read_csv(outs[False] / "dc_stock.csv")
    assert dc_on.drop("price").equals(dc_off.drop("price"))  # the stock and its costs are unchanged
    untouched = set(dc_off["article_id"].to_list()) - set(deeper["article_id"].to_list())
    kept = dc_on.filter(pl.col("article_id").is_in(untouched))
    assert kept.equals(dc_off.filter(pl.col("article_id").is_in(untouched)))
    for name in ("plan.csv", "shipments.csv"):  # an article the plan leaves alone is planned as before
        on, off = (
            pl.read_csv(outs[k] / name).filter(pl.col("article_id").is_in(untouched)) for k in (True, False)
        )
        assert on.height > 0
        assert on.equals(off), name


def test_repriced_demand_scales_mean_and_quantiles_by_the_lift_ratio() -> None:
    demand = pl.DataFrame(
        {
            "article_id": ["A", "A", "B"],
            "store_id": ["S0", "S1", "S0"],
            "week": [date(2024, 5, 20)] * 3,
            "mean": [4.0, 2.0, 3.0],
            "q10": [1.0, 0.0, 1.0],
            "q90": [7.0, 4.0, 5.0],
        }
    )
    markdowns = pl.DataFrame(
        {"article_id": ["A"], "cluster": ["ALL"], "week": [date(2024, 5, 20)], "discount": [40.0],
         "price": [6.0], "current_discount": [0.0], "current_price": [10.0]}
    )  # fmt: skip
    summary = pl.DataFrame({"article_id": ["A"], "cluster": ["ALL"], "elasticity": [2.0]})
    result = MarkdownResult(markdowns, summary, pl.DataFrame())
    dc = pl.DataFrame({"article_id": ["A", "B"], "price": [10.0, 8.0]})
    out = repriced_demand(demand, result, None, MarkdownConfig(), dc, 1.0)
    factor = float(lift(np.array(0.4), np.array(2.0)) / lift(np.array(0.0), np.array(2.0)))
    assert factor > 1.0
    for column in ("mean", "q10", "q90"):
        assert out[column].to_list() == pytest.approx(
            [*(demand[column][:2] * factor).to_list(), demand[column][2]]
        )
    assert out["price"].to_list() == [6.0, 6.0, 8.0]  # the plan's price, else the DC stock's


def test_apply_to_plans_must_be_a_boolean() -> None:
    with pytest.raises(ConfigError, match="apply_to_plans"):
        MarkdownConfig(apply_to_plans="yes")  # type: ignore[arg-type]
