"""File output helpers: every file the package writes lands atomically (temp file + rename)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import polars as pl


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    A failure or an interrupt inside the block leaves `path` untouched (no half-written file).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600 files; give the output the permissions a normal write would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_csv(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write `frame` as UTF-8 CSV with ISO dates, atomically."""
    with atomic_path(path) as tmp:
        frame.write_csv(tmp, date_format="%Y-%m-%d", datetime_format="%Y-%m-%dT%H:%M:%S")
    return Path(path)


def write_text(text: str, path: str | Path) -> Path:
    """Write `text` as UTF-8, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
