"""File output helpers: every file the package writes lands atomically, and a set of files lands as one.

- `atomic_path` / `write_csv` / `write_text`: a temporary file beside the target, renamed onto it on success.
- `staging_dir` and `publish_set`: outputs are written into a staging folder beside the output folder, then
  moved in together; the files they replace are kept aside until the whole set is in, so a failure or an
  interrupt puts the previous files back (`publish_set` is the one step of a job that touches ``--out``).
- Only regular files are ever replaced: a folder, a symbolic link or a special file (FIFO, socket, device)
  where an output goes stops the write before anything is moved (`refuse_foreign`), so nothing the tool did
  not write is ever deleted.
- Temporary files, staging and backup folders carry the pid of the process that made them; a later write to
  the same folder removes those whose process is gone (a ``kill -9`` leaves nothing behind for long), and puts
  back the previous files of a publication that was cut off.
- CSV cells a spreadsheet would run as a formula (text starting with ``= + - @``, a tab or a carriage
  return) get a leading single quote, as OWASP recommends against CSV injection; numbers are never touched.
  Control characters inside text (only rejected values can hold them) are written as visible escapes
  (``\\n``, ``\\t``), so no cell splits a line.
  `unneutralise` undoes it for files the tool reads back (its own forecasts).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import polars as pl

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_STALE = re.compile(r"^\..+\.(?:staging|backup|partial)\.(\d+)\.[^.]+(?:\.tmp)?$")
_JOURNAL = ".journal"


def pid_alive(pid: int) -> bool:
    """True when a process with id `pid` exists."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(folder: Path) -> list[Path]:
    """Remove temporary files, staging and backup folders left in `folder` by processes that are gone.

    A backup folder left by a publication that was cut off first puts the previous outputs back.
    """
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _STALE.match(entry.name)
        if match is None or pid_alive(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and ".backup." in entry.name:
                _recover(entry, folder / entry.name[1:].split(".backup.")[0])
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
    return removed


def _kind(path: Path) -> str | None:
    """What sits at `path` when it is not a regular file the tool may replace (None: nothing or a file)."""
    try:
        mode = path.lstat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "a folder" if stat.S_ISDIR(mode) else "a special file"


def refuse_foreign(out: Path, names: Iterable[str], *, option: str = "--out") -> None:
    """Raise `ConfigError` when any of `names` in folder `out` is not a regular file.

    Publishing replaces the files at its outputs' paths; a folder, a link or a special file there was not
    written by the tool, so the write stops before anything is moved and the line names the path.
    """
    from forecast.errors import ConfigError

    for name in names:
        path = out / name
        kind = _kind(path)
        if kind is not None:
            msg = (
                f"{option}: {str(path)!r} is {kind}, where an output file goes; nothing was written; "
                f"fix: move or rename it, or pass {option} another location"
            )
            raise ConfigError(msg)


def check_output(path: str | Path, *, folder: bool, option: str = "--out", names: Iterable[str] = ()) -> Path:
    """Raise `ConfigError` unless `path` can be written: a folder (`folder`) or a file, with no regular
    file where a parent folder must be, and no folder, link or special file at a file output's path (the
    file itself, or `names` inside the folder). Checked before any work, so a bad path fails in a second."""
    from forecast.errors import ConfigError

    target = Path(path)
    if folder:
        refuse_foreign(target, names, option=option)
    elif not target.is_dir():
        refuse_foreign(target.parent, [target.name, *names], option=option)
    fix = f"pass {option} a {'folder' if folder else 'file'} path whose parent folders can be created"
    for parent in [target, *target.parents] if folder else list(target.parents):
        if parent.exists() and not parent.is_dir():
            msg = f"{option} {str(target)!r}: {str(parent)!r} is a file, not a folder; fix: {fix}"
            raise ConfigError(msg)
    if not folder and target.is_dir():
        msg = f"{option} {str(target)!r} is a folder; fix: {fix}"
        raise ConfigError(msg)
    existing = next((p for p in [target, *target.parents] if p.exists()), None)
    mode = os.W_OK | os.X_OK if existing is not None and existing.is_dir() else os.W_OK
    if existing is not None and not os.access(existing, mode):
        msg = f"{option} {str(target)!r}: {str(existing)!r} is not writable; fix: {fix}"
        raise ConfigError(msg)
    return target


def make_parents(folder: Path) -> list[Path]:
    """Create `folder` and its missing parents; return the folders this call created (outermost first)."""
    missing = [p for p in [folder, *folder.parents] if not p.exists()][::-1]
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def remove_if_empty(created: list[Path]) -> None:
    """Remove folders `make_parents` created when they are still empty (a failed write leaves no trace)."""
    for folder in reversed(created):
        with contextlib.suppress(OSError):
            folder.rmdir()


def _marker(name: str, kind: str) -> str:
    return f".{name}.{kind}.{os.getpid()}."


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    A failure or an interrupt inside the block leaves `path` untouched (no half-written file).
    """
    target = Path(path)
    refuse_foreign(target.parent, [target.name])
    created = make_parents(target.parent)
    remove_stale(target.parent)
    fd, tmp_name = tempfile.mkstemp(prefix=_marker(target.name, "partial"), suffix=".tmp", dir=target.parent)
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
        if not target.exists():
            remove_if_empty(created)


def neutralise(value: str) -> str:
    """`value` made safe for a spreadsheet (OWASP CSV injection): a leading quote before a formula start.

    Examples
    --------
    >>> neutralise("=HYPERLINK(1)"), neutralise("-5"), neutralise("A-1")
    ("'=HYPERLINK(1)", "'-5", 'A-1')
    """
    return f"'{value}" if value.startswith(FORMULA_START) else value


def unneutralise(value: str) -> str:
    """The text `neutralise` was given (cells that were not neutralised come back unchanged).

    Examples
    --------
    >>> unneutralise("'=1+2"), unneutralise("'quoted")
    ('=1+2', "'quoted")
    """
    if len(value) > 1 and value[0] == "'" and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


def safe_for_spreadsheets(frame: pl.DataFrame) -> pl.DataFrame:
    """Text columns with formula-starting cells neutralised; numbers, dates and booleans untouched."""
    starts = "^[" + re.escape("".join(FORMULA_START)) + "]"
    text = [c for c, dtype in frame.schema.items() if dtype in (pl.Utf8, pl.Categorical, pl.Enum)]
    if text:
        frame = frame.with_columns(pl.col(c).cast(pl.Utf8) for c in text)
        # a line break inside a cell (a rejected id quoted in rejects.csv) would split rows for
        # line-based tools: control characters are written as visible escapes
        frame = frame.with_columns(
            pl.col(c)
            .str.replace_all("\n", "\\n", literal=True)
            .str.replace_all("\r", "\\r", literal=True)
            .str.replace_all("\t", "\\t", literal=True)
            .str.replace_all(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "\ufffd")
            for c in text
        )
        formula = [pl.col(c).str.contains(starts) for c in text]
        frame = frame.with_columns(
            pl.when(risky).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
            for c, risky in zip(text, formula, strict=True)
        )
    renamed = {c: neutralise(c) for c in frame.columns if neutralise(c) != c}
    return frame.rename(renamed) if renamed else frame


def unneutralise_frame(frame: pl.DataFrame, columns: Iterable[str] | None = None) -> pl.DataFrame:
    """Undo `safe_for_spreadsheets` on the text `columns` (default: every text column)."""
    starts = "^'[" + re.escape("".join(FORMULA_START)) + "]"
    names = [c for c in (columns or frame.columns) if c in frame.columns and frame.schema[c] == pl.Utf8]
    if not names:
        return frame
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(starts)).then(pl.col(c).str.slice(1)).otherwise(pl.col(c)).alias(c)
        for c in names
    )


def write_csv(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write `frame` as UTF-8 CSV with ISO dates, atomically, with formula-starting text neutralised."""
    with atomic_path(path) as tmp:
        safe_for_spreadsheets(frame).write_csv(
            tmp, date_format="%Y-%m-%d", datetime_format="%Y-%m-%dT%H:%M:%S"
        )
    return Path(path)


def write_text(text: str, path: str | Path) -> Path:
    """Write `text` as UTF-8, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


@contextlib.contextmanager
def staging_dir(out: Path) -> Iterator[Path]:
    """A fresh folder beside `out` (same filesystem, so moving files in is a rename); always removed.

    Staging folders left by processes that are gone are removed first.
    """
    created = make_parents(out.parent)
    remove_stale(out.parent)
    staging = Path(tempfile.mkdtemp(prefix=_marker(out.name, "staging"), dir=out.parent))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if not out.exists():
            remove_if_empty(created)


@contextlib.contextmanager
def publish_set(
    out: Path, files: Mapping[str, Path], *, remove: Iterable[str] = ()
) -> Iterator[dict[str, Path]]:
    """Move the staged `files` (key -> path) into folder `out` as one set; yield key -> published path.

    Files of `out` with the same names, and those named in `remove`, are moved aside first; a folder, link
    or special file at any of those names stops it before anything moves (`refuse_foreign`). When the block
    raises (or an interrupt is raised in it), the new files are taken out and the old ones put back;
    otherwise the old ones are deleted. Callers hold signals around it (`forecast.interrupts.held`).
    """
    names = [path.name for path in files.values()] + [n for n in remove if n not in files]
    refuse_foreign(out, names)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale(out.parent)
    backup = Path(tempfile.mkdtemp(prefix=_marker(out.name, "backup"), dir=out.parent))
    existed = {name: (out / name).exists() for name in names}
    (backup / _JOURNAL).write_text(
        "".join(f"{int(existed[name])}\t{name}\n" for name in names), encoding="utf-8"
    )
    try:
        published: dict[str, Path] = {}
        for name in names:
            if existed[name]:
                os.replace(out / name, backup / name)
        for key, path in files.items():
            os.replace(path, out / path.name)
            published[key] = out / path.name
        yield published
    except BaseException:
        _recover(backup, out)
        shutil.rmtree(backup, ignore_errors=True)
        raise
    (backup / _JOURNAL).unlink()  # first: a sweep must never undo a publication that completed
    shutil.rmtree(backup, ignore_errors=True)


def _recover(backup: Path, out: Path) -> None:
    """Undo a publication from its backup folder's journal: new files out, previous files back."""
    try:
        lines = (backup / _JOURNAL).read_text(encoding="utf-8").splitlines()
    except OSError:
        return
    for line in lines:
        flag, _, name = line.partition("\t")
        if not name:
            continue
        saved, target = backup / name, out / name
        if saved.exists():
            os.replace(saved, target)
        elif flag == "0":
            target.unlink(missing_ok=True)
