"""Write a simulated `Dataset` as the canonical CSV files the canonical adapter reads."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from forecast.adapters.canonical import PRICES_FILE
from forecast.config import DataConfig
from forecast.dataset import Dataset
from forecast.io import write_csv

TRUE_DEMAND_FILE = "true_demand.csv"
TRUE_PRICE_RESPONSE_FILE = "true_price_response.csv"  # ground truth: no adapter reads it


def canonical_files() -> dict[str, str]:
    """Table name -> file name, from the `DataConfig` defaults (plus ``true_demand.csv``)."""
    names = DataConfig()
    return {
        "sales": names.sales,
        "articles": names.articles,
        "stores": names.stores,
        "stock": names.stock,
        "dc_stock": names.dc_stock,
        "prices": PRICES_FILE,
        "true_demand": TRUE_DEMAND_FILE,
    }


def write_canonical(
    ds: Dataset, out_dir: str | Path, price_response: pl.DataFrame | None = None
) -> list[Path]:
    """Write every table of `ds` that is present as CSV into `out_dir`, each file atomically, and the
    simulator's true price response (`forecast.simulate.retail.true_price_response`) when given.

    Returns
    -------
    list[Path]
        The files written, in the order of `canonical_files`.
    """
    out = Path(out_dir)
    written = []
    for table, file_name in canonical_files().items():
        frame = getattr(ds, table)
        if frame is not None:
            written.append(write_csv(frame, out / file_name))
    if price_response is not None:
        written.append(write_csv(price_response, out / TRUE_PRICE_RESPONSE_FILE))
    return written
