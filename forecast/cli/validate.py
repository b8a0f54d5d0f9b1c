"""`forecast validate PIPELINE`: ingestion and validation only, with a short report."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from forecast.cli.common import DATA, PIPELINE, console
from forecast.dataset import Dataset
from forecast.io import check_output, write_csv

OUT = typer.Option(None, "--out", help="Folder for rejects.csv (written only when rows were rejected).")


def command(pipeline: Path = PIPELINE, data: Path | None = DATA, out: Path | None = OUT) -> None:
    """Read and validate the pipeline's data; report rows read, kept and rejected per file."""
    from forecast.adapters import load_dataset
    from forecast.config import load_pipeline
    from forecast.validation import check_dataset

    if out is not None:
        check_output(out, folder=True, names=["rejects.csv"])
    config = load_pipeline(pipeline, data=data)
    with console.status(f"reading {config.data.adapter} data"):
        ds = load_dataset(config)
        check_dataset(ds)
    report = Console(width=max(Console().width, 100), soft_wrap=True)
    _report(ds, report)
    if out is not None and ds.rejects.height:
        path = write_csv(ds.rejects, out / "rejects.csv")
        report.print(f"rejects written to {path}")


def _report(ds: Dataset, report: Console) -> None:
    from forecast.validation import file_counts, rejects_by_reason, summarize

    files = Table(title=f"{ds.name}: files", title_justify="left")
    for column in ("file", "rows read", "kept", "rejected"):
        files.add_column(column, justify="left" if column == "file" else "right")
    for name, read, kept, rejected in file_counts(ds).iter_rows():
        files.add_row(name, f"{read:,}", f"{kept:,}", f"{rejected:,}")
    report.print(files)
    facts = summarize(ds)
    report.print(
        f"sales: {facts['sales_rows']:,} rows ({ds.grain}, {ds.target_unit}), "
        f"{facts['first_date']}..{facts['last_date']}, "
        f"{facts['negative_rows']:,} negative rows kept (returns)"
    )
    report.print(
        f"articles: {facts['articles']:,} in catalogue ({facts['articles_sold']:,} with sales, "
        f"{facts['future_articles']:,} future); "
        f"stores: {facts['stores']:,} ({facts['stores_sold']:,} with sales); series: {facts['series']:,}"
    )
    reasons = rejects_by_reason(ds)
    if reasons.height:
        table = Table(title="rejects by reason", title_justify="left")
        for column in reasons.columns:
            table.add_column(column)
        for row in reasons.head(20).iter_rows():
            table.add_row(*(str(v) for v in row))
        report.print(table)
    kept, rejected = facts["sales_rows"], facts["rows_rejected"]
    report.print(f"ok: {ds.name} valid: {kept:,} sales rows kept, {rejected:,} rows rejected")
