"""Reading the input files of `forecast allocate` and `forecast replenish` the same way.

`read_inputs` reads every given file with `read_table` (the adapters' reader and checks: CSV, gzip-compressed
CSV or Parquet) and forecasts with `read_forecasts` (the forecasts' value rules); `relabelled` turns an input
error the planners raise about a frame ("dc stock") into one naming the file; `with_holding_cost` fills the
holding cost the pipeline's ``business.holding_cost_ratio`` gives, to cents, where the DC stock has none.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
from rich.table import Table

from forecast.adapters.common import read_errors, scan_table
from forecast.adapters.scan import ROW
from forecast.business import cents
from forecast.checks import check_values
from forecast.contracts import SERIES, quantile_columns
from forecast.errors import InputError
from forecast.io import unneutralise_frame
from forecast.schemas import check_forecast_values

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
    """Read a CSV, gzip-compressed CSV or Parquet input the way the adapters read their sources
    (`forecast.adapters.common.scan_table`: UTF-8, header and line-ending checks, ``_row`` numbers), then
    type its columns: ids and weeks stay text, a column whose every value is a whole number is Int64, one
    whose every value is a number is Float64, others stay text (and are refused where a number is needed).

    A missing or unreadable file is an `InputError`. The checks of the adapters apply: a duplicated column
    name, an id with a control character, or a number that is not finite or implausibly large is fatal,
    naming the file, column and row. Ids the tool neutralised for spreadsheets (``'=...``, see `forecast.io`)
    read back as written.
    """
    if not path.exists():
        msg = f"{label} file not found"
        raise InputError(msg, file=str(path), fix="check the path")
    if path.is_dir():
        msg = f"{label} path is a folder, not a file"
        raise InputError(msg, file=str(path), fix="pass the CSV file itself")
    with read_errors(path):
        text = scan_table(path).collect()
    frame = _typed(text.drop(ROW))
    frame = unneutralise_frame(frame, [c for c in _IDS if c in frame.columns])
    _check_values(frame, str(path))
    return frame


def read_forecasts(path: Path, label: str = "forecasts") -> pl.DataFrame:
    """Read a forecasts file (`read_table`) and refuse rows that break the forecasts' value rules
    (`forecast.schemas.check_forecast_values`: a negative mean or quantile, quantiles that cross), naming
    the file, the column and the rows. Every command that reads forecasts reads them with this."""
    frame = read_table(path, label)
    numbers = [c for c in ("mean", *quantile_columns(frame.columns)) if c in frame.columns]
    typed = frame.with_columns(pl.col(c).cast(pl.Float64, strict=False) for c in numbers)
    check_forecast_values(typed, str(path))
    return frame


def _typed(text: pl.DataFrame) -> pl.DataFrame:
    """Text columns typed as a CSV reader infers them (ids and ``week`` stay text; empty cells are null)."""
    out = []
    for column in text.columns:
        values = text[column].replace("", None)
        if column not in _IDS and column != "week":
            for dtype in (pl.Int64, pl.Float64):
                with contextlib.suppress(pl.exceptions.PolarsError):
                    values = values.cast(dtype, strict=True)
                    break
        out.append(values)
    return pl.DataFrame(out)


def _check_values(frame: pl.DataFrame, file: str) -> None:
    """Fatal for control characters in ids and for numbers that are not finite or implausibly large
    (`forecast.checks.check_values`); a week that did not read as text or a date is not a week."""
    if "week" in frame.columns and frame.schema["week"] not in (pl.Utf8, pl.Date, pl.Datetime):
        msg = f"week must be an ISO date like 2024-03-04, got {frame['week'][0]!r}"
        raise InputError(msg, file=file, column="week", row=1, fix="write weeks as YYYY-MM-DD")
    numbers = [*NUMERIC, *quantile_columns(frame.columns)]
    numbers += [c for c, dtype in frame.schema.items() if dtype.is_numeric()]
    check_values(frame, file, ids=_IDS, numbers=numbers)


def read_inputs(files: dict[str, Path | None]) -> dict[str, pl.DataFrame]:
    """Every given file (label -> path; None = not given) read with `read_table` (the one labelled
    ``forecasts`` with `read_forecasts`), by label."""
    return {
        label: (read_forecasts if label == "forecasts" else read_table)(path, label)
        for label, path in files.items()
        if path is not None
    }


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
