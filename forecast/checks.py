"""The value checks every input file goes through, beside its pandera schema (`forecast.schemas`).

One home for the rules a value must meet wherever it is read (the adapters' sources, the files `forecast
allocate` and `forecast replenish` read, and any later command's inputs):

- `value_rules`: an id has no control character; a number is finite and plausible (at most
  `MAX_MAGNITUDE` in size) and, where the column asks it, not negative. The adapters turn a failing row into
  a reject (`forecast.adapters.common.parse_columns`); a command's input file fails on it (`check_values`).
- the schema of a table (`check_schema` for DC stock, stores and store stock; `forecast.schemas
  .check_forecast_values` for forecasts) and the structural checks (`require`, `unique_keys`, `whole`),
  each failure one `InputError` naming the file, column, 1-based data row and a fix.

Examples
--------
>>> from forecast.schemas import StoresInput
>>> frame = pl.DataFrame({"store_id": ["S1", "S2"], "capacity_units": [10, -1]})
>>> try:
...     check_schema(frame, StoresInput, "stores.csv")
... except InputError as exc:
...     print(exc)
stores.csv: column 'capacity_units', row 2: must be >= 0, got -1.0; fix: correct capacity_units in that row
"""

from __future__ import annotations

from collections.abc import Iterable

import pandera.polars as pa
import polars as pl

from forecast.errors import InputError
from forecast.schemas import reason

__all__ = [
    "CONTROL",
    "MAX_MAGNITUDE",
    "check_rows",
    "check_schema",
    "check_values",
    "first_bad",
    "numeric",
    "require",
    "text_ids",
    "unique_keys",
    "value_rules",
    "whole",
]

CONTROL = r"[\x00-\x1f\x7f]"
MAX_MAGNITUDE = 1e12  # no count, price or capacity of a retailer's row comes near this
CONTROL_REASON = "control character in id (tab, newline, ...)"
FINITE_REASON = "not a finite number"
LARGE_REASON = f"implausibly large (beyond ±{MAX_MAGNITUDE:.0e})"


def value_rules(column: str, kind: str, *, non_negative: bool = False) -> list[tuple[pl.Expr, str]]:
    """(failing-value mask, reason) pairs of `column` holding values of `kind` (``"id"`` or ``"float"``;
    other kinds have no value rule here). The mask is null where the value is null.

    Examples
    --------
    >>> frame = pl.DataFrame({"units": [1.0, float("inf"), -2.0]})
    >>> rules = value_rules("units", "float", non_negative=True)
    >>> [frame.select(mask).to_series().to_list() for mask, _ in rules]
    [[False, True, False], [False, False, False], [False, False, True]]
    """
    value = pl.col(column)
    if kind == "id":
        return [(value.str.contains(CONTROL), CONTROL_REASON)]
    if kind != "float":
        return []
    rules = [
        (~value.is_finite(), FINITE_REASON),
        (value.is_finite() & (value.abs() > MAX_MAGNITUDE), LARGE_REASON),
    ]
    if non_negative:
        rules.append((value.is_finite() & (value < 0), f"negative {column} (must be >= 0)"))
    return rules


def check_values(frame: pl.DataFrame, file: str, *, ids: Iterable[str], numbers: Iterable[str]) -> None:
    """Raise `InputError` at the first value of `frame` that breaks `value_rules` (the `ids` columns as
    ids, the `numbers` columns as numbers: text there that is not a number fails as not finite), naming
    the column, the 1-based data row and how many rows break the rule."""
    text_ids = [c for c in ids if c in frame.columns and frame.schema[c] == pl.Utf8]
    columns = [c for c in dict.fromkeys(numbers) if c in frame.columns]
    columns = [c for c in columns if frame.schema[c] == pl.Utf8 or frame.schema[c].is_numeric()]
    work = frame.select(
        *text_ids,
        *[pl.col(c).cast(pl.Float64, strict=False).alias(c) for c in columns],
        pl.int_range(1, pl.len() + 1).alias("_row"),
    )
    rules = [(c, mask, why) for c in text_ids for mask, why in value_rules(c, "id")]
    for column in columns:
        if frame.schema[column] == pl.Utf8:  # text that does not parse is null after the cast
            unparsed = pl.col(column).is_null() & pl.lit(frame[column].is_not_null())
            rules.append((column, unparsed, FINITE_REASON))
        rules += [(column, mask, why) for mask, why in value_rules(column, "float")]
    for column, mask, why in rules:
        bad = work.filter(mask.fill_null(False))["_row"]
        if bad.len():
            row = int(bad[0])
            msg = f"{why}: {frame[column][row - 1]!r} ({bad.len():,} row(s))"
            fix = f"correct {column} (numbers must be finite, ids plain text)"
            raise InputError(msg, file=file, column=column, row=row, fix=fix)


def require(frame: pl.DataFrame, columns: tuple[str, ...], file: str) -> None:
    """Every column of `columns` is in `frame`."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        msg = f"missing column(s) {missing}; found {frame.columns}"
        raise InputError(msg, file=file, fix=f"provide columns {list(columns)}")


def first_bad(frame: pl.DataFrame, bad: pl.Expr) -> int | None:
    """1-based data row of the first row where `bad` holds (or is null), else None."""
    rows = frame.with_row_index("_row").filter(bad.fill_null(True))["_row"]
    return None if rows.is_empty() else int(rows[0]) + 1


def check_rows(frame: pl.DataFrame, bad: pl.Expr, file: str, column: str, problem: str, fix: str) -> None:
    """Raise naming the first row where `bad` holds (or is null)."""
    row = first_bad(frame, bad)
    if row is not None:
        value = frame[column][row - 1]
        msg = f"{problem}, got {value!r}"
        raise InputError(msg, file=file, column=column, row=row, fix=fix)


def numeric(frame: pl.DataFrame, columns: tuple[str, ...], file: str) -> pl.DataFrame:
    """`columns` (those present) as numbers: text columns are parsed strictly, numbers kept."""
    for col in columns:
        if col in frame.columns and not frame[col].dtype.is_numeric():
            try:
                frame = frame.with_columns(pl.col(col).cast(pl.Float64, strict=True))
            except pl.exceptions.PolarsError as exc:
                msg = f"values must be numbers ({exc.__class__.__name__})"
                raise InputError(msg, file=file, column=col, fix="use '.' decimals and no text") from exc
    return frame


def whole(frame: pl.DataFrame, col: str, file: str, minimum: int) -> None:
    """`col` holds whole numbers >= `minimum` (an empty value fails)."""
    value = pl.col(col).cast(pl.Float64)
    check_rows(
        frame,
        (value < minimum) | (value != value.floor()),
        file,
        col,
        f"must be a whole number >= {minimum}",
        f"correct {col} in that row",
    )


def unique_keys(frame: pl.DataFrame, keys: list[str], file: str) -> None:
    """One row per `keys`."""
    dup = frame.select(keys).is_duplicated()
    if dup.any():
        row = int(dup.arg_true()[0]) + 1
        key = {k: frame[k][row - 1] for k in keys}
        msg = f"duplicate key {key}"
        raise InputError(msg, file=file, row=row, fix=f"keep one row per {' × '.join(keys)}")


def text_ids(frame: pl.DataFrame, keys: tuple[str, ...]) -> pl.DataFrame:
    """The id columns of `keys` (those present) as text."""
    return frame.with_columns([pl.col(k).cast(pl.Utf8) for k in keys if k in frame.columns])


def check_schema(frame: pl.DataFrame, schema: type[pa.DataFrameModel], file: str) -> pl.DataFrame:
    """`frame` with its schema's numeric columns as Float64 and ids as text, after `schema`'s checks.

    Text that is not a number and the first failing row (by row, then by the schema's column order) raise
    `InputError`; columns the schema does not name pass unchanged.
    """
    columns = schema.to_schema().columns
    floats = tuple(name for name, col in columns.items() if str(col.dtype) == "Float64")
    ids = tuple(name for name, col in columns.items() if str(col.dtype) == "String")
    frame = numeric(text_ids(frame, ids), floats, file)
    frame = frame.with_columns([pl.col(c).cast(pl.Float64) for c in floats if c in frame.columns])
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise _first_failure(exc.failure_cases, list(columns), file) from exc
    return frame


def _first_failure(cases: pl.DataFrame, order: list[str], file: str) -> InputError:
    missing = cases.filter(pl.col("index").is_null())
    if missing.height:
        first = missing.row(0, named=True)
        msg = f"{first['check']}: {first['failure_case']}"
        return InputError(msg, file=file, column=first["column"], fix="give the columns of the file contract")
    rank = {name: i for i, name in enumerate(order)}
    ranked = cases.with_columns(pl.col("column").replace_strict(rank, default=len(rank)).alias("_rank"))
    first = ranked.sort("index", "_rank").row(0, named=True)
    column, value = first["column"], first["failure_case"]
    shown = "None" if value is None else (repr(float(value)) if _is_number(value) else repr(value))
    msg = f"{reason(first['check'])}, got {shown}"
    row = int(first["index"]) + 1
    return InputError(msg, file=file, column=column, row=row, fix=f"correct {column} in that row")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
