"""Streaming reads of source tables, and a Parquet copy of each large CSV source reused while it is unchanged.

A CSV source is scanned lazily (`polars.scan_csv`, every column as text, ``_row`` = the 1-based data row) and
collected with the streaming engine, so only the columns an adapter selects are ever held in memory (H&M's
64-character customer ids never are). Only the first MiB is read eagerly, to check the header and the line
endings: a file with old-Mac line endings (CR only), which no CSV scanner reads, is small master data and is
read whole and normalised. Invalid UTF-8 and malformed lines raise a one-line `InputError` naming the
byte offset and row of the first bad byte (found by a second, chunked pass).

The Parquet copy (``[data] cache``, on by default; ``[data] cache_dir``, default ``$XDG_CACHE_HOME/forecast``
or ``~/.cache/forecast``) holds the source's text table exactly as the scan produces it (stripped cells,
``_row``), so a load from the copy gives the same `Dataset` as a load from the CSV. A copy is keyed on the
source's resolved path, size, modification time (ns) and a hash of its content (all of it up to
`FULL_HASH_BYTES`, else its first and last MiB); any change makes it stale, and writing the new copy removes
the stale one. Copies are written atomically; CSV files smaller than `CACHE_MIN_BYTES` are not copied (they
read as fast as Parquet). A cache folder that cannot be written only turns the copy off.

A gzip-compressed CSV (``sales.csv.gz``, or any CSV whose bytes start with gzip's magic number) is read the
same way: the header, UTF-8 and line-ending checks read the decompressed bytes (`open_bytes`), and the scan
decompresses it (Polars holds the decompressed text while scanning a compressed file).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import io
import os
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import polars as pl

from forecast.errors import InputError

ROW = "_row"
MIB = 1 << 20
HEAD_BYTES = MIB
CACHE_MIN_BYTES = MIB  # smaller CSV files read as fast as their copy would
FULL_HASH_BYTES = 64 * MIB
COPY_VERSION = "1"  # bump when the text table a scan produces changes
CHUNK = 16 * MIB
BOM = b"\xef\xbb\xbf"
GZIP_MAGIC = b"\x1f\x8b"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/forecast`` (else ``~/.cache/forecast``): where source copies go by default."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "forecast"


def is_gzip(path: Path) -> bool:
    """True when `path` starts with gzip's magic number (whatever its name)."""
    with path.open("rb") as handle:
        return handle.read(len(GZIP_MAGIC)) == GZIP_MAGIC


def open_bytes(path: Path) -> BinaryIO:
    """`path` opened for reading bytes, decompressed when it is gzip."""
    if is_gzip(path):
        return typing.cast(BinaryIO, gzip.open(path, "rb"))
    return path.open("rb")


def _head(path: Path) -> bytes:
    if path.is_dir():
        msg = "is a folder, not a file"
        raise InputError(msg, file=str(path), fix="remove the folder or point [data] at the right files")
    try:
        with open_bytes(path) as handle:
            return handle.read(HEAD_BYTES)
    except (OSError, EOFError) as exc:
        msg = f"cannot be read ({getattr(exc, 'strerror', None) or exc})"
        raise InputError(msg, file=str(path), fix="check the file exists and is readable") from exc


def check_utf8(path: Path) -> None:
    """Raise `InputError` naming the first byte of `path` that is not UTF-8 and its row (read in chunks)."""
    try:
        _check_utf8_chunks(path)
    except (OSError, EOFError) as exc:  # a damaged or cut gzip file
        msg = f"cannot be read ({getattr(exc, 'strerror', None) or exc})"
        raise InputError(
            msg, file=path.name, fix="check the file is complete (re-export or re-compress it)"
        ) from exc


def _check_utf8_chunks(path: Path) -> None:
    offset, lines, carry = 0, 0, b""
    with open_bytes(path) as handle:
        while chunk := handle.read(CHUNK):
            data = carry + chunk
            try:
                data.decode("utf-8")
                carry = b""
            except UnicodeDecodeError as exc:
                if exc.end == len(data) and len(data) - exc.start < 4 and len(chunk) == CHUNK:
                    carry = data[exc.start :]  # a character cut by the chunk boundary
                    data = data[: exc.start]
                else:
                    _utf8_error(path.name, data, exc.start, offset, lines)
            lines += data.count(b"\n")
            offset += len(data)


def _utf8_error(name: str, data: bytes, start: int, offset: int, lines: int) -> None:
    line = lines + data[:start].replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n")
    where = "in the header" if line == 0 else f"in data row {line}"
    msg = f"not UTF-8: byte {offset + start} ({data[start : start + 1]!r}) {where}"
    raise InputError(msg, file=name, fix="save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)")


def header_names(head: bytes) -> list[str]:
    """The header's column names (stripped), from the first bytes of a CSV file."""
    first = head.removeprefix(BOM).replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n", 1)[0]
    text = first.decode("utf-8")  # the caller checked the head decodes
    return [h.strip() for h in next(csv.reader(io.StringIO(text)), [])]


def _is_cr_only(head: bytes) -> bool:
    return b"\r" in head.replace(b"\r\n", b"")


def _text_columns(frame: pl.LazyFrame, normalise_cr: bool) -> pl.LazyFrame:
    names = [c for c in frame.collect_schema().names() if c != ROW]
    cells = [pl.col(c) for c in names]
    if normalise_cr:  # a cell quoting a line break reads as it did when line endings were rewritten
        cells = [
            c.str.replace_all("\r\n", "\n", literal=True).str.replace_all("\r", "\n", literal=True)
            for c in cells
        ]
    return frame.with_columns(pl.col(ROW).cast(pl.Int64), *[c.str.strip_chars() for c in cells])


@contextlib.contextmanager
def csv_errors(path: Path) -> Iterator[None]:
    """Turn a Polars failure while reading `path` into the one-line `InputError` of a bad CSV file."""
    try:
        yield
    except pl.exceptions.PolarsError as exc:
        check_utf8(path)  # a bad byte is named first, as a whole-file read would
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        msg = f"cannot parse as CSV ({first})"
        raise InputError(
            msg, file=path.name, fix="check the delimiter is ',' and quotes are balanced"
        ) from exc


def scan_csv_text(
    path: Path, *, null_values: Sequence[str] = (), cache: Path | None = None
) -> tuple[pl.LazyFrame, list[str]]:
    """The CSV file's text table (every column text, cells stripped, ``_row``) and its header names.

    With `cache` (a folder), a file of at least `CACHE_MIN_BYTES` is read from its Parquet copy there,
    written first when missing or stale (module docstring).
    """
    head = _head(path)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.end != len(head) or len(head) < HEAD_BYTES:
            check_utf8(path)
    if not head.removeprefix(BOM).strip():
        msg = "file is empty (no header row)"
        raise InputError(
            msg, file=path.name, fix="export the table with a header row and at least one data row"
        )
    names = header_names(head)
    if _is_cr_only(head):
        return _read_whole(path, null_values).lazy(), names
    if cache is None or path.stat().st_size < CACHE_MIN_BYTES:
        return _scan(path, null_values, head), names
    target = copy_path(path, cache, source_key(path, null_values))
    if target.exists():
        return pl.scan_parquet(target), names
    frame = _scan(path, null_values, head)
    written = write_copy(path, frame, target)
    return (pl.scan_parquet(written) if written is not None else frame), names


def _scan(path: Path, null_values: Sequence[str], head: bytes) -> pl.LazyFrame:
    scan = pl.scan_csv(
        path,
        infer_schema=False,
        null_values=list(null_values) or None,
        truncate_ragged_lines=False,
        row_index_name=ROW,
        row_index_offset=1,
    )
    return _text_columns(scan, normalise_cr=b"\r" in head)


def _read_whole(path: Path, null_values: Sequence[str]) -> pl.DataFrame:
    check_utf8(path)
    with open_bytes(path) as handle:
        data = handle.read().removeprefix(BOM).replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    with csv_errors(path):
        frame = pl.read_csv(
            io.BytesIO(data),
            infer_schema=False,
            null_values=list(null_values) or None,
            truncate_ragged_lines=False,
        )
    frame = frame.with_row_index(ROW, offset=1)
    return _text_columns(frame.lazy(), normalise_cr=False).collect()


def source_key(path: Path, null_values: Sequence[str] = ()) -> str:
    """A digest of what makes a copy of `path` valid: path, size, mtime_ns, content hash, read options."""
    stat = path.stat()
    digest = hashlib.blake2b(digest_size=16)
    for part in (COPY_VERSION, str(path.resolve()), str(stat.st_size), str(stat.st_mtime_ns), *null_values):
        digest.update(part.encode("utf-8") + b"\x00")
    with path.open("rb") as handle:
        if stat.st_size <= FULL_HASH_BYTES:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
        else:
            digest.update(handle.read(MIB))
            handle.seek(stat.st_size - MIB)
            digest.update(handle.read(MIB))
    return digest.hexdigest()


def copy_path(path: Path, cache: Path, key: str) -> Path:
    """Where the copy of `path` with `key` lives: one name per source path, a suffix per key."""
    place = hashlib.blake2b(str(path.resolve()).encode("utf-8"), digest_size=6).hexdigest()
    return cache / "sources" / f"{path.stem}-{place}-{key[:20]}.parquet"


def write_copy(path: Path, frame: pl.LazyFrame, target: Path) -> Path | None:
    """Write `frame` (the scan of `path`) to its copy `target` atomically and remove the stale copies of
    `path`; None when the cache folder cannot be written."""
    from forecast.io import atomic_path

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with csv_errors(path), atomic_path(target) as tmp:
            frame.sink_parquet(tmp)
    except OSError:
        return None
    prefix = target.name.rsplit("-", 1)[0] + "-"
    for stale in target.parent.glob(f"{prefix}*.parquet"):
        if stale != target:
            with contextlib.suppress(OSError):
                stale.unlink()
    return target


@contextlib.contextmanager
def parquet_errors(path: Path) -> Iterator[None]:
    """Turn a Polars failure while reading `path` into the one-line `InputError` of a bad Parquet file."""
    try:
        yield
    except (pl.exceptions.PolarsError, OSError) as exc:
        msg = f"cannot read Parquet ({exc})"
        raise InputError(msg, file=path.name, fix="rewrite the file as Parquet or CSV") from exc


def scan_parquet_text(path: Path) -> pl.LazyFrame:
    """A Parquet file's columns cast to text (dates as ISO) plus ``_row``."""
    if path.is_dir():
        msg = "is a folder, not a file"
        raise InputError(msg, file=str(path), fix="remove the folder or point [data] at the right files")
    try:
        scan = pl.scan_parquet(path)
        schema = scan.collect_schema()
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        msg = f"cannot read Parquet ({exc})"
        raise InputError(msg, file=path.name, fix="rewrite the file as Parquet or CSV") from exc
    casts = []
    for column, dtype in schema.items():
        if dtype.is_nested() or dtype == pl.Object:
            msg = "has a column that is not a plain value (a list or a struct?)"
            raise InputError(msg, file=path.name, column=column, fix="store one plain value per cell")
        if dtype == pl.Datetime or dtype == pl.Date:
            casts.append(pl.col(column).cast(pl.Date).dt.strftime("%Y-%m-%d"))
        else:
            casts.append(pl.col(column).cast(pl.Utf8))
    frame = scan.select(casts).with_row_index(ROW, offset=1)
    return frame.with_columns(pl.col(ROW).cast(pl.Int64), pl.exclude(ROW).str.strip_chars())
