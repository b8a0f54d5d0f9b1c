"""The [buy] step of `forecast run`: its files join the published set and leave with it."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from test_job import fake_stages, sqlite_uri, tiny_config

from forecast.buy.config import BuyConfig
from forecast.job import run_job


def test_buy_step_publishes_its_files_and_they_go_without_it(tmp_path: Path) -> None:
    store = sqlite_uri(tmp_path)
    config = tiny_config("tiny-buy")
    config.buy = BuyConfig(default_price=1.0, unit_cost_ratio=0.4)
    out = tmp_path / "out"
    result = run_job(config, out, store, stages=fake_stages())
    assert {"buy_plan", "buy_allocation"} <= set(result.outputs)
    plan = pl.read_csv(out / "buy_plan.csv")
    assert plan.height == 0  # the tiny catalogue has no article to launch
    assert "expected_profit" in plan.columns
    assert "Pre-season buy" in (out / "report.html").read_text(encoding="utf-8")
    config.buy = None
    run_job(config, out, store, stages=fake_stages())
    assert not (out / "buy_plan.csv").exists()
    assert not (out / "buy_allocation.csv").exists()
