"""`forecast predict PIPELINE --out FILE`: fit on all history and forecast every active and new series."""

from __future__ import annotations

from pathlib import Path

import typer

from forecast.cli.common import DATA, DATA_SEED, HORIZON, PIPELINE, PRICES, SEED, console
from forecast.config import load_pipeline

OUT_FILE = typer.Option(..., "--out", help="Forecasts CSV to write, e.g. out/forecasts.csv.")
MODEL = typer.Option(
    None,
    "--model",
    help=(
        "Model to forecast with (default: the last of the pipeline's models that learns across series, "
        "else its first)."
    ),
)


def command(
    pipeline: Path = PIPELINE,
    out: Path = OUT_FILE,
    data: Path | None = DATA,
    horizon: int | None = HORIZON,
    seed: int | None = SEED,
    model: str | None = MODEL,
    data_seed: int | None = DATA_SEED,
    prices: Path | None = PRICES,
) -> None:
    """Forecast the horizon for every active article x store and every catalogue article not sold yet."""
    from forecast.adapters import load_dataset
    from forecast.io import check_output, write_csv
    from forecast.panel import build_panel
    from forecast.predict import predict_all

    check_output(out, folder=False)
    from forecast.models import check_models, default_model

    config = load_pipeline(pipeline, data=data, horizon=horizon, seed=seed, data_seed=data_seed)
    check_models(config)
    config.data.prices_override = prices
    name = model or default_model(config)
    with console.status("loading data") as status:
        ds = load_dataset(config)
        status.update("building the panel")
        panel = build_panel(ds).collect()
        forecasts = predict_all(ds, panel, config, name, progress=status.update)
    path = write_csv(forecasts, out)
    counts = forecasts.group_by("model", maintain_order=True).len()
    by_model = ", ".join(f"{m} {n:,}" for m, n in counts.iter_rows())
    typer.echo(f"wrote {path}: {forecasts.height:,} rows ({by_model or name})")
