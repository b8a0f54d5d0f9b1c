"""Reading helpers shared by the adapters: raw text tables in, typed columns and rejects out.

Every source file is read the same way, streamed (`forecast.adapters.scan`): every column as text, cells
stripped, bytes checked for UTF-8, CRLF and old-Mac CR-only line endings both accepted, and only the columns
an adapter uses kept; a large CSV source is read from its Parquet copy while it is unchanged. Typed parsing
happens afterwards, column by column, so a value that does not parse rejects its row (with the reason)
instead of failing the file. A file is only fatal (`InputError`) when it cannot be used at all: missing,
empty, not UTF-8, a required column absent, or a date column that is mostly unparsable.

Rule for date columns: a column is fatal when more than half of its non-null values fail to parse as ISO
dates (``YYYY-MM-DD``), or when none parses; otherwise each failing row is rejected. A mostly-broken column
means the format is wrong (e.g. ``DD/MM/YYYY``), which rejecting rows would hide.

Every raw frame carries ``_row``: the 1-based data row (header excluded) the record came from.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Literal

import polars as pl

from forecast.adapters.scan import (
    ROW,
    csv_errors,
    default_cache_dir,
    parquet_errors,
    scan_csv_text,
    scan_parquet_text,
)
from forecast.checks import value_rules
from forecast.config import DataConfig
from forecast.dataset import REJECT_SCHEMA, empty_rejects
from forecast.errors import InputError

Kind = Literal["str", "id", "float", "bool", "date"]
DEFAULT_DATES = (date(1980, 1, 1), date(2099, 12, 31))
DATE_FORMAT = "%Y-%m-%d"
TRUE_WORDS = ("true", "t", "1", "yes", "y")
FALSE_WORDS = ("false", "f", "0", "no", "n")
PARQUET_SUFFIXES = (".parquet", ".pq")


def table_variants(path: Path) -> list[Path]:
    """The names a table may have: ``stem.csv``, ``stem.csv.gz``, ``stem.parquet``, ``stem.pq`` (and
    `path` itself first when it has another suffix).

    Examples
    --------
    >>> [p.name for p in table_variants(Path("data/sales.csv"))]
    ['sales.csv', 'sales.csv.gz', 'sales.parquet', 'sales.pq']
    """
    stem = path.name.removesuffix(".gz")
    for suffix in (".csv", *PARQUET_SUFFIXES):
        stem = stem.removesuffix(suffix)
    names = [f"{stem}{suffix}" for suffix in (".csv", ".csv.gz", *PARQUET_SUFFIXES)]
    return [path.parent / name for name in dict.fromkeys([path.name, *names])]


def find_table(folder: Path, name: str) -> Path | None:
    """Return the one table of `folder` named `name` or one of its `table_variants`, None when none exists.

    Two variants at once (``sales.csv`` beside ``sales.csv.gz``) are an `InputError`: which one is the data
    cannot be guessed.

    Examples
    --------
    >>> find_table(Path("/nonexistent"), "sales.csv") is None
    True
    """
    found = [path for path in table_variants(folder / name) if path.exists()]
    if len(found) > 1:
        names = " and ".join(repr(path.name) for path in found)
        msg = f"both {names} exist in {str(folder)!r}; the table must be given once"
        raise InputError(msg, file=found[0].name, fix="keep one of them (move the other out of the folder)")
    return found[0] if found else None


def require_file(folder: Path, name: str, fix: str) -> Path:
    """Like `find_table`, but a missing file is an `InputError`."""
    if not folder.is_dir():
        msg = f"data folder not found: {str(folder)!r}"
        raise InputError(msg, fix="pass an existing folder with --data or fix [data] path in the pipeline")
    path = find_table(folder, name)
    if path is None:
        msg = f"file not found in {str(folder)!r}"
        raise InputError(msg, file=name, fix=fix)
    return path


def check_header(names: Sequence[str], file: str) -> None:
    """Raise `InputError` for a duplicated or empty column name (a reader would silently pick one)."""
    seen: set[str] = set()
    for position, name in enumerate(names, start=1):
        if name in seen:
            msg = f"column name {name!r} appears more than once in the header (column {position})"
            raise InputError(msg, file=file, column=name, fix="give every column its own name")
        if name == ROW:
            msg = f"column name {ROW!r} is reserved"
            raise InputError(msg, file=file, column=name, fix="rename that column")
        seen.add(name)


def read_errors(path: Path) -> contextlib.AbstractContextManager[None]:
    if path.suffix.lower() not in PARQUET_SUFFIXES:
        return csv_errors(path)
    return parquet_errors(path)


def source_cache(config: DataConfig | None) -> Path | None:
    """The folder for Parquet copies of large CSV sources (`forecast.adapters.scan`); None when off."""
    if config is None or not config.cache:
        return None
    return config.cache_dir or default_cache_dir()


def scan_table(path: Path, *, null_values: Sequence[str] = (), cache: Path | None = None) -> pl.LazyFrame:
    """A CSV or Parquet table as a lazy text table (every column text, cells stripped, ``_row`` first)."""
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return scan_parquet_text(path)
    frame, names = scan_csv_text(path, null_values=null_values, cache=cache)
    check_header(names, path.name)
    return frame


def read_table(
    path: Path,
    *,
    required: Iterable[str],
    null_values: Sequence[str] = (),
    columns: Iterable[str] | None = None,
    cache: Path | None = None,
) -> pl.DataFrame:
    """Read a CSV or Parquet table as text, checking it has rows and the `required` columns.

    The file is streamed (`forecast.adapters.scan`); only ``_row`` and `columns` (default: all) are kept,
    so the other columns are never held in memory. `cache` is the folder of Parquet source copies.
    """
    frame = scan_table(path, null_values=null_values, cache=cache)
    names = frame.collect_schema().names()
    found = [c for c in names if c != ROW]
    if not found:
        msg = "file is empty (no header row)"
        raise InputError(
            msg, file=path.name, fix="export the table with a header row and at least one data row"
        )
    check_header(found, path.name)
    missing = [c for c in required if c not in found]
    if missing:
        msg = f"required column(s) {list(missing)} missing; found {found}"
        raise InputError(
            msg, file=path.name, column=missing[0], fix="rename the columns to the names required"
        )
    if columns is not None:
        keep = set(columns) | set(required)
        frame = frame.select(ROW, *[c for c in found if c in keep])
    with read_errors(path):
        text = frame.collect(engine="streaming")
    if text.height == 0:
        msg = "file has a header but no data rows"
        raise InputError(msg, file=path.name, fix="export the table with at least one data row")
    return text


def _parse_expr(column: str, kind: Kind) -> pl.Expr:
    text = pl.col(column)
    if kind == "float":
        return text.cast(pl.Float64, strict=False)
    if kind == "date":
        return text.str.strptime(pl.Date, DATE_FORMAT, strict=False)
    if kind == "bool":
        lower = text.str.to_lowercase()
        return pl.when(lower.is_in(TRUE_WORDS)).then(True).when(lower.is_in(FALSE_WORDS)).then(False)
    return text


def parse_columns(
    raw: pl.DataFrame,
    specs: Mapping[str, Kind],
    *,
    file: str,
    not_null: Iterable[str] = (),
    non_negative: Iterable[str] = (),
    dates: tuple[date, date] | None = DEFAULT_DATES,
    master: bool = False,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse text columns to their kinds; return the typed frame and the rejects it produced.

    A value that does not parse (or is missing in a `not_null` column) becomes a reject row with its reason,
    and so do an id with a control character, a number that is not finite or implausibly large, a negative
    number in a `non_negative` column and a date outside `dates`. In master data (``master=True``: the
    catalogue, stores, DC stock) a bad number is fatal instead: every row that uses it would be wrong.
    The typed frame still holds every row (failing values null); drop rejected rows with `drop_rejected`.
    """
    present = {c: k for c, k in specs.items() if c in raw.columns}
    typed = raw.with_columns(_parse_expr(c, k).alias(c) for c, k in present.items())
    parts = []
    for column, kind in present.items():
        failed = raw[column].is_not_null() & typed[column].is_null()
        if kind == "date":
            _check_date_share(raw, column, failed, file)
        if failed.any():
            bad = raw.filter(failed).select(ROW, pl.col(column).alias("value"))
            parts.append(_rejects(bad, file, column, f"unparsable {_KIND_NAMES[kind]}"))
        checks = _value_checks(column, kind, column in set(non_negative), dates)
        for mask, reason in checks:
            hit = typed.filter(mask.fill_null(False))
            if hit.height == 0:
                continue
            if master and kind == "float":
                first = hit.row(0, named=True)
                fix = f"correct {column} in the source (master data is used by every row)"
                value = raw.filter(pl.col(ROW) == first[ROW])[column][0]
                msg = f"{reason}: {value!r}"
                raise InputError(msg, file=file, column=column, row=first[ROW], fix=fix)
            bad = raw.filter(pl.col(ROW).is_in(hit[ROW].implode())).select(ROW, pl.col(column).alias("value"))
            parts.append(_rejects(bad, file, column, reason))
    for column in not_null:
        if column in raw.columns:
            missing = raw.filter(pl.col(column).is_null()).select(ROW, pl.lit(None, pl.Utf8).alias("value"))
            if missing.height:
                parts.append(_rejects(missing, file, column, "missing value"))
    return typed, concat_rejects(parts)


def _value_checks(
    column: str, kind: Kind, non_negative: bool, dates: tuple[date, date] | None
) -> list[tuple[pl.Expr, str]]:
    """(mask, reason) pairs for values that parse but cannot be right: the shared value rules
    (`forecast.checks.value_rules`) and, for a date, the plausible range."""
    if kind == "date" and dates is not None:
        low, high = dates
        reason = f"date outside the plausible range {low}..{high} (pipeline [data] date_min / date_max)"
        return [(~pl.col(column).is_between(low, high), reason)]
    return value_rules(column, kind, non_negative=non_negative)


_KIND_NAMES = {
    "float": "number",
    "date": "date (expected YYYY-MM-DD)",
    "bool": "boolean",
    "str": "text",
    "id": "text",
}


def _check_date_share(raw: pl.DataFrame, column: str, failed: pl.Series, file: str) -> None:
    n_values = int(raw[column].is_not_null().sum())
    n_failed = int(failed.sum())
    if n_failed and (n_failed == n_values or n_failed * 2 > n_values):
        first = raw.filter(failed).row(0, named=True)
        msg = (
            f"{n_failed:,} of {n_values:,} dates do not parse, first {first[column]!r}; "
            "more than half failing means the format is wrong"
        )
        raise InputError(msg, file=file, column=column, row=first[ROW], fix="write dates as YYYY-MM-DD")


def _rejects(bad: pl.DataFrame, file: str, column: str, reason: str) -> pl.DataFrame:
    return bad.select(
        pl.lit(file, pl.Utf8).alias("file"),
        pl.col(ROW).cast(pl.Int64).alias("row"),
        pl.lit(column, pl.Utf8).alias("column"),
        pl.lit(reason, pl.Utf8).alias("reason"),
        pl.col("value").cast(pl.Utf8),
    )


def reject_where(frame: pl.DataFrame, mask: pl.Expr, *, file: str, column: str, reason: str) -> pl.DataFrame:
    """Rejects for the rows of `frame` where `mask` holds, quoting `column`'s value."""
    bad = frame.filter(mask).select(ROW, pl.col(column).cast(pl.Utf8).alias("value"))
    return _rejects(bad, file, column, reason)


def concat_rejects(parts: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """Concatenate reject frames (an empty contract frame when there are none), sorted by file and row."""
    frames = [p.select(list(REJECT_SCHEMA)).cast(pl.Schema(REJECT_SCHEMA)) for p in parts if p.height]
    if not frames:
        return empty_rejects()
    return pl.concat(frames).sort("file", "row", "column", maintain_order=True)


def drop_rejected(frame: pl.DataFrame, rejects: pl.DataFrame, *, file: str) -> pl.DataFrame:
    """Rows of `frame` whose source row of `file` was not rejected."""
    rows = rejects.filter(pl.col("file") == file)["row"].unique()
    if rows.len() == 0:
        return frame
    return frame.filter(~pl.col(ROW).is_in(rows.implode()))


def check_unique(
    frame: pl.DataFrame, keys: Sequence[str], *, file: str, what: str, label: str | None = None
) -> None:
    """Raise `InputError` naming the first duplicated key and its rows when `keys` are not unique.

    `label` names the column as the source file spells it (default: the first key).
    """
    dup = frame.filter(pl.struct(keys).is_duplicated())
    if dup.height == 0:
        return
    first = dup.sort(ROW).row(0, named=True)
    rows = dup.filter(pl.all_horizontal(pl.col(k) == first[k] for k in keys))[ROW].head(3).to_list()
    key = ", ".join(f"{k}={first[k]!s}" for k in keys)
    n_keys = dup.select(keys).unique().height
    msg = f"duplicate {what} ({key}) in rows {rows}; {n_keys:,} duplicated key(s) in all"
    fix = f"keep one row per {' × '.join(keys)}"
    raise InputError(msg, file=file, column=label or keys[0], row=first[ROW], fix=fix)


def check_references(
    frame: pl.DataFrame,
    column: str,
    known: pl.Series,
    *,
    file: str,
    master: str,
    label: str | None = None,
    show: int = 5,
) -> None:
    """Raise `InputError` when `frame[column]` holds ids absent from `known` (the master data ids).

    `label` names the column as the source file spells it (default: `column`).
    """
    unknown_mask = ~pl.col(column).is_in(known.implode())
    unknown = frame.filter(unknown_mask & pl.col(column).is_not_null())
    if unknown.height == 0:
        return
    ids = unknown[column].unique(maintain_order=True)
    shown = ", ".join(repr(i) for i in ids.head(show).to_list())
    msg = f"{ids.len():,} id(s) absent from {master} ({unknown.height:,} rows), e.g. {shown}"
    fix = f"add them to {master} or drop those rows"
    raise InputError(msg, file=file, column=label or column, row=int(unknown[ROW][0]), fix=fix)


def data_folder(config: DataConfig) -> Path:
    """The adapter's data folder; a missing folder is an `InputError`."""
    folder = config.path
    if folder is None or not folder.is_dir():
        msg = f"data folder not found: {str(folder)!r}"
        raise InputError(msg, fix="pass an existing folder with --data or fix [data] path in the pipeline")
    return folder


def duplicate_rows(frame: pl.DataFrame, *, file: str, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """Rejects for rows identical to an earlier row in every column (or in `columns`): "duplicate row".

    The first of each group is kept; the others are rejected, naming it.

    Examples
    --------
    >>> frame = pl.DataFrame({"a": ["x", "x", "y"], ROW: [1, 2, 3]})
    >>> duplicate_rows(frame, file="f.csv")["reason"].to_list()
    ['duplicate row (same as row 1)']
    """
    cols = list(columns) if columns is not None else [c for c in frame.columns if c != ROW]
    if frame.height < 2 or not cols:
        return concat_rejects([])
    firsts = (
        frame.select(*cols, ROW).group_by(cols, maintain_order=True).agg(pl.col(ROW).min().alias("_first"))
    )
    ranked = frame.select(*cols, ROW).join(firsts, on=cols, how="left", nulls_equal=True)
    dups = ranked.filter(pl.col(ROW) != pl.col("_first"))
    return dups.select(
        pl.lit(file, pl.Utf8).alias("file"),
        pl.col(ROW).cast(pl.Int64).alias("row"),
        pl.lit(None, pl.Utf8).alias("column"),
        pl.format("duplicate row (same as row {})", pl.col("_first")).alias("reason"),
        pl.lit(None, pl.Utf8).alias("value"),
    ).pipe(lambda r: concat_rejects([r]))
