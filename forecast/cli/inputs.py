"""Reading the input files of `forecast allocate` and `forecast replenish` the same way.

`read_inputs` reads every given file with `read_table` (the adapters' checks); `relabelled` turns an input
error the planners raise about a frame ("dc stock") into one naming the file; `with_holding_cost` fills the
holding cost the pipeline's ``business.holding_cost_ratio`` gives, to cents, where the DC stock has none.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
from rich.table import Table

from forecast.adapters.common import CONTROL, MAX_MAGNITUDE, check_header
from forecast.business import cents
from forecast.contracts import QUANTILE_COLUMN, SERIES
from forecast.errors import InputError
from forecast.io import unneutralise_frame

SHOWN_ROWS = 8
_IDS = dict.fromkeys(SERIES, pl.Utf8)
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
        if dtype == pl.Utf8 and (column in NUMERIC or QUANTILE_COLUMN.match(column)):
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


def read_inputs(files: dict[str, Path | None]) -> dict[str, pl.DataFrame]:
    """Every given file (label -> path; None = not given) read with `read_table`, by label."""
    return {label: read_table(path, label) for label, path in files.items() if path is not None}


@contextmanager
def relabelled(files: dict[str, Path | None]) -> Iterator[None]:
    """Re-raise an `InputError` about an input frame (labelled as in `files`) naming its file."""
    try:
        yield
    except InputError as exc:
        path = files.get(exc.file or "")
        if path is None:
            raise
        raise InputError(exc.problem, file=str(path), column=exc.column, row=exc.row, fix=exc.fix) from exc


def with_holding_cost(dc: pl.DataFrame, holding_cost_ratio: float) -> pl.DataFrame:
    """`dc` with its empty (or missing) holding costs set to `holding_cost_ratio` × price, in cents."""
    if "price" not in dc.columns:
        return dc
    default = cents(pl.col("price").cast(pl.Float64, strict=False) * holding_cost_ratio)
    hold = (
        pl.col("holding_cost").cast(pl.Float64).fill_null(default)
        if "holding_cost" in dc.columns
        else default
    )
    return dc.with_columns(holding_cost=hold)


def table(title: str, frame: pl.DataFrame) -> Table:
    table = Table(title=title, title_justify="left")
    for col in frame.columns:
        table.add_column(col, justify="left" if col.endswith("_id") else "right")
    for row in frame.head(SHOWN_ROWS).iter_rows():
        table.add_row(*(f"{v:,.2f}" if isinstance(v, float) else str(v) for v in row))
    return table
