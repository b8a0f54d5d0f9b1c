"""`forecast markdown PIPELINE --out DIR`: prices to the season's end for the articles whose season ends."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import typer

from forecast import interrupts
from forecast.cli.common import DATA, DATA_SEED, PIPELINE, console
from forecast.errors import InputError

OUT = typer.Option(Path("out/markdown"), "--out", help="Folder for markdowns.csv and its summary.")
PRICES = typer.Option(
    None, "--prices", help="Planned prices CSV (article_id, store_id or ALL, week, price): the current plan."
)
FORECASTS = typer.Option(
    None, "--forecasts", help="Forecasts CSV to plan from (default: fit the pipeline's model on all history)."
)
PRICE_COLUMNS = ("article_id", "store_id", "week", "price")


def dated(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    """`frame` with its ``week`` column read as dates (an `InputError` naming the row when one is not)."""
    if frame.schema.get("week") != pl.Utf8:
        return frame.with_columns(pl.col("week").cast(pl.Date))
    parsed = frame.with_columns(pl.col("week").str.to_date("%Y-%m-%d", strict=False).alias("_week"))
    bad = parsed.with_row_index("_row", offset=1).filter(pl.col("_week").is_null())
    if bad.height:
        msg = f"week must be a date like 2024-03-04, got {bad['week'][0]!r}"
        raise InputError(msg, file=str(path), column="week", row=int(bad["_row"][0]), fix="write YYYY-MM-DD")
    return parsed.drop("week").rename({"_week": "week"})


def read_prices(path: Path) -> pl.DataFrame:
    """The planned prices file, with its columns checked."""
    from forecast.cli.inputs import read_table

    frame = read_table(path, "prices")
    missing = [c for c in PRICE_COLUMNS if c not in frame.columns]
    if missing:
        msg = f"missing column(s) {missing}"
        raise InputError(
            msg, file=str(path), column=missing[0], fix=f"give the columns {list(PRICE_COLUMNS)}"
        )
    bad = frame.with_row_index("_row", offset=1).filter(pl.col("price").cast(pl.Float64, strict=False) <= 0)
    if bad.height:
        msg = f"price must be > 0, got {bad['price'][0]!r}"
        raise InputError(
            msg, file=str(path), column="price", row=int(bad["_row"][0]), fix="correct the price"
        )
    return dated(frame, path).with_columns(pl.col("price").cast(pl.Float64))


def command(
    pipeline: Path = PIPELINE,
    out: Path = OUT,
    data: Path | None = DATA,
    prices: Path | None = PRICES,
    forecasts: Path | None = FORECASTS,
    data_seed: int | None = DATA_SEED,
) -> None:
    """Choose a discount per remaining week for the articles whose season ends within the horizon."""
    from forecast.adapters import load_dataset
    from forecast.allocation.sources import run_inputs
    from forecast.cli.inputs import read_forecasts
    from forecast.config import load_pipeline
    from forecast.io import check_output, publish_set, staging_dir
    from forecast.markdown.config import MarkdownConfig
    from forecast.markdown.output import FILES, stage_files, stock_frame, totals_line
    from forecast.markdown.plan import plan_markdowns
    from forecast.models import default_model
    from forecast.panel import build_panel
    from forecast.predict import predict_all

    check_output(out, folder=True)
    config = load_pipeline(pipeline, data=data, data_seed=data_seed)
    settings = config.markdown or MarkdownConfig()
    planned = read_prices(prices) if prices is not None else None
    with console.status("loading data") as status:
        ds = load_dataset(config)
        status.update("building the panel")
        panel = build_panel(ds).collect()
        if forecasts is not None:
            demand = dated(read_forecasts(forecasts), forecasts)
        else:
            demand = predict_all(ds, panel, config, default_model(config), progress=status.update)
        demand = demand.drop("model") if "model" in demand.columns else demand
        inputs = run_inputs(ds, panel, demand, config)
        status.update("planning markdowns")
        result = plan_markdowns(
            demand, panel, ds.articles, stock_frame(inputs.store_stock, inputs.dc_stock), settings,
            config.business, stores=ds.stores, prices=planned,
        )  # fmt: skip
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    with staging_dir(out) as staging:
        files = stage_files(result, staging)
        with interrupts.held(), publish_set(out, files):
            interrupts.check()
            interrupts.settle()
    console.print(totals_line(result))
    console.print(f"wrote {', '.join(FILES)} to {out}")
