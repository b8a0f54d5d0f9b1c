"""`forecast buy` run as a real command in a subprocess on canonical files of a small simulated shop."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from forecast.config import SimulateConfig
from forecast.simulate import simulate_dataset
from forecast.simulate.canonical import write_canonical

REPO = Path(__file__).resolve().parents[1]
BUY = "\n[buy]\nlead_weeks = 4\nsalvage_ratio = 0.2\ncase_pack = 3\n"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("shop")
    ds = simulate_dataset(SimulateConfig(articles=120, stores=2, weeks=80, seed=3, cold_start_share=0.1))
    write_canonical(ds, folder / "data")
    return folder / "data"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "forecast", "buy", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def pipeline(tmp_path: Path, data: Path, buy: str = BUY) -> Path:
    path = tmp_path / "shop.toml"
    text = f'name = "shop"\n[data]\nadapter = "canonical"\npath = "{data}"\n[forecast]\nhorizon = 8\n{buy}'
    path.write_text(text, encoding="utf-8")
    return path


def copy_with_articles(shop: Path, tmp_path: Path, articles: pl.DataFrame) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    for file in shop.iterdir():
        (data / file.name).write_bytes(file.read_bytes())
    articles.write_csv(data / "articles.csv")
    return data


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_buy_writes_the_plan_and_the_first_delivery(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run(pipeline(tmp_path, shop), "--out", out)
    assert result.returncode == 0, result.stderr
    plan = pl.read_csv(out / "buy_plan.csv", try_parse_dates=True)
    assert plan.columns[:5] == ["article_id", "launch_week", "order_week", "units", "packs"]
    future = pl.read_csv(shop / "articles.csv").filter(pl.col("is_future"))
    assert sorted(plan["article_id"]) == sorted(future["article_id"])
    assert (plan["units"] % 3 == 0).all()
    assert (plan["units"] == 3 * plan["packs"]).all()
    lead = (plan["launch_week"] - plan["order_week"]).dt.total_days()
    assert (lead == 28).all()
    assert (plan["season_q10"] <= plan["season_q90"]).all()
    split = pl.read_csv(out / "buy_allocation.csv")
    sent = split.group_by("article_id").agg(pl.col("units").sum())
    bought = plan.select("article_id", pl.col("units").alias("bought"))
    assert (sent.join(bought, on="article_id")["units"] <= sent.join(bought, on="article_id")["bought"]).all()


def test_negative_lead_time_is_one_line(shop: Path, tmp_path: Path) -> None:
    line = one_error_line(run(pipeline(tmp_path, shop), "--lead-weeks", "-3", "--out", tmp_path / "o"))
    assert "--lead-weeks" in line
    assert "-3" in line
    line = one_error_line(
        run(pipeline(tmp_path, shop, "\n[buy]\nlead_weeks = -1\n"), "--out", tmp_path / "o")
    )
    assert "buy.lead_weeks" in line


def test_missing_costs_are_one_line(shop: Path, tmp_path: Path) -> None:
    articles = pl.read_csv(shop / "articles.csv").with_columns(
        pl.when(pl.col("is_future")).then(None).otherwise(pl.col("unit_cost")).alias("unit_cost")
    )
    data = copy_with_articles(shop, tmp_path, articles)
    line = one_error_line(run(pipeline(tmp_path, data), "--out", tmp_path / "o"))
    assert "unit_cost" in line
    assert "fix:" in line


def test_article_without_launch_date_is_one_line(shop: Path, tmp_path: Path) -> None:
    articles = pl.read_csv(shop / "articles.csv")
    first = articles.filter(pl.col("is_future"))["article_id"][0]
    articles = articles.with_columns(
        pl.when(pl.col("article_id") == first)
        .then(None)
        .otherwise(pl.col("launch_date"))
        .alias("launch_date")
    )
    data = copy_with_articles(shop, tmp_path, articles)
    line = one_error_line(run(pipeline(tmp_path, data), "--out", tmp_path / "o"))
    assert first in line
    assert "launch" in line


def test_no_new_article_writes_empty_files_with_headers(shop: Path, tmp_path: Path) -> None:
    articles = pl.read_csv(shop / "articles.csv")
    launched = articles.with_columns(
        pl.when(pl.col("is_future")).then(pl.lit("2023-01-02")).otherwise("launch_date").alias("launch_date"),
        pl.lit(False).alias("is_future"),
    )
    data = copy_with_articles(shop, tmp_path, launched)
    out = tmp_path / "out"
    result = run(pipeline(tmp_path, data), "--out", out)
    assert result.returncode == 0, result.stderr
    plan = pl.read_csv(out / "buy_plan.csv")
    assert plan.height == 0
    assert "season_q90" in plan.columns
    assert pl.read_csv(out / "buy_allocation.csv").columns[:2] == ["store_id", "article_id"]
