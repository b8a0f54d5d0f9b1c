"""The markdown step of `forecast run`: only with a [markdown] section; its files, report and MLflow."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from mlflow import MlflowClient
from test_job import OUTPUTS, fake_stages, sqlite_uri, tiny_config

from forecast.job import run_job
from forecast.markdown.config import MarkdownConfig
from forecast.markdown.output import FILES


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
