"""`forecast allocate`: DC stock -> stores, written as plan.csv plus store and article summaries beside it."""

from __future__ import annotations

import csv
import re
from datetime import date
from pathlib import Path

import polars as pl
import typer
from rich.table import Table

from forecast import interrupts
from forecast.adapters.common import CONTROL, MAX_MAGNITUDE, check_header
from forecast.allocation import AllocationResult, allocate
from forecast.cli.common import console
from forecast.config import AllocationConfig, load_pipeline
from forecast.errors import InputError
from forecast.io import check_output, publish_set, staging_dir, unneutralise_frame, write_csv
from forecast.outputs import csv_precision

_IDS = {"article_id": pl.Utf8, "store_id": pl.Utf8}
_SHOWN_ROWS = 8
NUMERIC = (
    "mean",
    "available_units",
    "pack_size",
    "unit_cost",
    "price",
    "holding_cost",
    "capacity_units",
    "ship_cost",
    "on_hand",
)


def read_table(path: Path, label: str) -> pl.DataFrame:
    """Read a CSV (or Parquet) input with ids as text; a missing or unreadable file is an `InputError`.

    The checks of the adapters apply: a duplicated column name, an id with a control character, or a
    number that is not finite or implausibly large is fatal, naming the file, column and row. Ids the tool
    neutralised for spreadsheets (``'=...``, see `forecast.io`) read back as written.
    """
    if not path.exists():
        msg = f"{label} file not found"
        raise InputError(msg, file=str(path), fix="check the path")
    if path.is_dir():
        msg = f"{label} path is a folder, not a file"
        raise InputError(msg, file=str(path), fix="pass the CSV file itself")
    try:
        if path.suffix == ".parquet":
            frame = pl.read_parquet(path)
            frame = frame.with_columns([pl.col(c).cast(pl.Utf8) for c in _IDS if c in frame.columns])
        else:
            with path.open(encoding="utf-8", newline="") as handle:
                header = handle.readline()
            check_header([h.strip() for h in next(csv.reader([header]), [])], str(path))
            frame = pl.read_csv(
                path, schema_overrides=_IDS, infer_schema_length=10_000, try_parse_dates=False
            )
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError, ValueError) as exc:
        msg = f"cannot read {label} ({(str(exc).strip().splitlines() or ['unreadable'])[0]})"
        raise InputError(msg, file=str(path), fix="pass a UTF-8 CSV with a header row") from exc
    frame = unneutralise_frame(frame, [c for c in _IDS if c in frame.columns])
    _check_values(frame, str(path))
    return frame


def _check_values(frame: pl.DataFrame, file: str) -> None:
    """Fatal for control characters in ids and for numbers that are not finite or implausibly large."""
    rows = frame.with_row_index("_row", offset=1)
    checks = [
        (c, pl.col(c).str.contains(CONTROL), "control character in id (tab, newline, ...)")
        for c in _IDS
        if c in frame.columns and frame.schema[c] == pl.Utf8
    ]
    for column, dtype in frame.schema.items():
        if dtype == pl.Utf8 and (column in NUMERIC or re.fullmatch(r"q\d+(\.\d+)?", column)):
            checks.append(
                (
                    column,
                    pl.col(column).is_not_null()
                    & ~pl.col(column).cast(pl.Float64, strict=False).is_finite().fill_null(False),
                    "not a finite number",
                )
            )
        if dtype.is_float():
            checks.append((column, ~pl.col(column).is_finite(), "not a finite number"))
        if dtype.is_numeric():
            big = pl.col(column).cast(pl.Float64)
            checks.append((column, big.is_finite() & (big.abs() > MAX_MAGNITUDE), "implausibly large"))
    if "week" in frame.columns and frame.schema["week"] not in (pl.Utf8, pl.Date, pl.Datetime):
        msg = f"week must be an ISO date like 2024-03-04, got {frame['week'][0]!r}"
        raise InputError(msg, file=file, column="week", row=1, fix="write weeks as YYYY-MM-DD")
    for column, mask, problem in checks:
        bad = rows.filter(mask.fill_null(False))
        if bad.height:
            value = bad[column][0]
            msg = f"{problem}: {value!r} ({bad.height:,} row(s))"
            fix = f"correct {column} (numbers must be finite, ids plain text)"
            raise InputError(msg, file=file, column=column, row=int(bad["_row"][0]), fix=fix)


def _config(pipeline: Path | None, dc: pl.DataFrame) -> tuple[AllocationConfig, pl.DataFrame]:
    """Allocation settings from the pipeline; holding cost falls back to holding_cost_ratio × price."""
    if pipeline is None:
        return AllocationConfig(), dc
    config = load_pipeline(pipeline, require_data=False)
    alloc = config.allocation
    if alloc.holding_cost is None and "price" in dc.columns:
        default = (pl.col("price").cast(pl.Float64, strict=False) * config.business.holding_cost_ratio).round(
            2
        )
        hold = (
            pl.col("holding_cost").cast(pl.Float64).fill_null(default)
            if "holding_cost" in dc.columns
            else default
        )
        dc = dc.with_columns(holding_cost=hold)
    return alloc, dc


def _table(title: str, frame: pl.DataFrame) -> Table:
    table = Table(title=title, title_justify="left")
    for col in frame.columns:
        table.add_column(col, justify="left" if col.endswith("_id") else "right")
    for row in frame.head(_SHOWN_ROWS).iter_rows():
        table.add_row(*(f"{v:,.2f}" if isinstance(v, float) else str(v) for v in row))
    return table


def plan_lines(expected_profit: float, gap: float, rule_profits: dict[str, float]) -> list[tuple[str, str]]:
    """(label, text) lines shared by `forecast allocate` and the `forecast run` summary: the plan's total,
    its optimality gap and the rules' totals on the same demand."""
    from forecast.allocation.rules import RULE_LABELS

    lines = [("expected profit", f"{expected_profit:,.2f}"), ("optimality gap", f"{100 * gap:.3f}%")]
    if rule_profits:
        best = max(rule_profits, key=lambda k: rule_profits[k])
        rules = ", ".join(f"{RULE_LABELS.get(k, k)} {v:,.2f}" for k, v in rule_profits.items())
        diff = expected_profit - rule_profits[best]
        share = f" ({100 * diff / abs(rule_profits[best]):+.1f}%)" if rule_profits[best] else ""
        lines.append(("rules", f"{rules}; plan {diff:+,.2f}{share} vs {RULE_LABELS.get(best, best)}"))
    return lines


def _report(result: AllocationResult, out: Path) -> None:
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    stores = result.store_summary.sort("expected_profit", descending=True).select(
        "store_id",
        "units",
        pl.col("capacity_used").alias("used"),
        pl.col("capacity_units").alias("capacity"),
        pl.col("expected_profit").alias("exp. profit"),
    )
    articles = result.article_summary.sort("units_sent", descending=True).select(
        "article_id",
        pl.col("units_sent").alias("sent"),
        pl.col("dc_available_units").alias("at DC"),
        pl.col("left_at_dc").alias("left"),
        "stores",
    )
    console.print(_table(f"stores (top {_SHOWN_ROWS} of {stores.height} by expected profit)", stores))
    console.print(_table(f"articles (top {_SHOWN_ROWS} of {articles.height} by units sent)", articles))
    units = int(result.plan["units"].sum()) if result.plan.height else 0
    console.print(f"plan: {result.plan.height:,} rows, {units:,} units -> {out}")
    for label, text in plan_lines(result.expected_profit, result.gap, result.rule_profits):
        console.print(f"{label}: {text}", highlight=False)
    console.print(
        f"solved in {result.solve_seconds:.2f}s: {result.status} ({result.method})", highlight=False
    )


def _relabel(exc: InputError, files: dict[str, Path | None]) -> InputError:
    path = files.get(exc.file or "")
    if path is None:
        return exc
    return InputError(exc.problem, file=str(path), column=exc.column, row=exc.row, fix=exc.fix)


FORECASTS = typer.Option(..., "--forecasts", help="Forecasts CSV (article_id,store_id,week,mean,qNN).")
DC_STOCK = typer.Option(..., "--dc-stock", help="DC stock CSV (available_units, pack_size, prices).")
STORES = typer.Option(..., "--stores", help="Stores CSV (store_id, capacity_units, ship_cost).")
STORE_STOCK = typer.Option(None, "--store-stock", help="Store stock CSV (on_hand).")
PIPELINE_OPT = typer.Option(None, "--pipeline", help="Pipeline TOML for allocation defaults.")
WEEK = typer.Option(None, "--week", help="Allocation week (default: first forecast week).")
PLAN_OUT = typer.Option(Path("plan.csv"), "--out", help="Plan CSV; summaries are written beside it.")


def command(
    forecasts: Path = FORECASTS,
    dc_stock: Path = DC_STOCK,
    stores: Path = STORES,
    store_stock: Path | None = STORE_STOCK,
    pipeline: Path | None = PIPELINE_OPT,
    week: str | None = WEEK,
    out: Path = PLAN_OUT,
) -> None:
    """Allocate DC stock to stores in whole packs, maximising expected profit; report the optimality gap."""
    check_output(out, folder=False)
    files = {"forecasts": forecasts, "dc stock": dc_stock, "stores": stores, "store stock": store_stock}
    frames = {label: read_table(path, label) for label, path in files.items() if path is not None}
    config, frames["dc stock"] = _config(pipeline, frames["dc stock"])
    try:
        when = date.fromisoformat(week) if week else None
    except ValueError as exc:
        msg = f"--week must be an ISO date like 2024-03-04, got {week!r}"
        raise InputError(msg) from exc
    try:
        with console.status("optimising the allocation"):
            result = allocate(
                frames["forecasts"],
                frames["dc stock"],
                frames["stores"],
                frames.get("store stock"),
                config,
                week=when,
            )
    except InputError as exc:
        raise _relabel(exc, files) from exc
    _write_set(result, out)
    _report(result, out)


def _write_set(result: AllocationResult, out: Path) -> None:
    """plan.csv and its two summaries, published together (all three or none)."""
    if out.is_dir():
        msg = "--out is a folder; it names the plan CSV file"
        raise InputError(msg, file=str(out), fix="pass a file path like out/plan.csv")
    frames = {
        out.name: csv_precision(result.plan),
        f"{out.stem}_store_summary.csv": csv_precision(result.store_summary),
        f"{out.stem}_article_summary.csv": csv_precision(result.article_summary),
    }
    with staging_dir(out) as staging:
        files = {name: write_csv(frame, staging / name) for name, frame in frames.items()}
        with interrupts.held(), publish_set(out.parent, files):
            interrupts.check()
            interrupts.settle()
