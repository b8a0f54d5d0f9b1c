"""The tracking store itself: checking its URI, reaching it quickly, and keeping a SQLite store whole.

- `check_uri`: a malformed URI, a SQLite path that cannot be a database, or a server that does not answer
  within a few seconds is one line (`ConfigError` / `TrackingError`) before MLflow's own long retries.
- `store_lock`: for a SQLite store, an exclusive `fcntl.flock` on ``<db>.lock`` beside the database. The
  store is created and migrated under it (MLflow's table creation is not safe against a concurrent first
  run), and the registry's compare-and-move of the ``champion`` alias happens under it.
- `initialise`: a new SQLite store is a copy of an empty, migrated template database kept once per MLflow
  version and schema revision under ``$XDG_CACHE_HOME/forecast/mlflow-stores`` (else ``~/.cache``), so a
  run does not replay MLflow's alembic migrations (seconds on a loaded machine); when the template cannot
  be made or copied, MLflow creates and migrates the store itself.
- `retry_locked`: SQLite answers "database is locked" when writers collide; the call is retried briefly.
- `close_stale_runs`: runs left RUNNING by a job whose process is gone (``kill -9``, a lost machine on this
  host) are ended KILLED with the reason, and any model version they registered is taken back out.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import sqlite3
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from forecast.errors import ConfigError, TrackingError

SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks")
PROBE_SECONDS = 5.0
LOCK_RETRIES = 8
FIX = "pass --tracking-uri sqlite:///path/to/mlflow.db or http://host:port (or set MLFLOW_TRACKING_URI)"
TAG_PID, TAG_HOST, TAG_START = "forecast.pid", "forecast.host", "forecast.process_start"
TAG_PREVIOUS = "forecast.previous_alias_version"
T = TypeVar("T")
_held: dict[Path, int] = {}
_log = logging.getLogger(__name__)


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (relative paths against the cwd), else None."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///").split("?", 1)[0]).resolve()


def check_uri(uri: str) -> None:
    """Raise `ConfigError` for a malformed tracking URI, `TrackingError` for a store that cannot be used."""
    parsed = urlparse(uri)
    scheme = parsed.scheme.split("+", 1)[0].lower()
    if scheme not in SCHEMES:
        msg = f"tracking URI {uri!r} is not supported (scheme {parsed.scheme or 'missing'!r})"
        msg += f"; fix: {FIX}"
        raise ConfigError(msg)
    if scheme == "sqlite":
        _check_sqlite(uri)
    elif scheme in ("http", "https"):
        _check_server(uri, parsed.hostname, parsed, scheme)


def _check_sqlite(uri: str) -> None:
    path = sqlite_path(uri)
    if path is None or not uri.removeprefix("sqlite:///").strip():
        msg = f"tracking URI {uri!r} is malformed: a SQLite store is sqlite:///<path to the database file>"
        msg += f"; fix: {FIX}"
        raise ConfigError(msg)
    if path.is_dir():
        msg = f"tracking URI {uri!r} names a folder, not a database file"
        msg += f"; fix: {FIX}"
        raise ConfigError(msg)
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            msg = f"tracking URI {uri!r}: {parent} is a file, so the database cannot be created under it"
            msg += f"; fix: {FIX}"
            raise ConfigError(msg)
    if path.is_file() and path.stat().st_size:
        try:
            with path.open("rb") as handle:
                header = handle.read(16)
        except OSError as exc:
            msg = f"tracking store {path} cannot be read ({exc.strerror})"
            msg += "; fix: check its permissions"
            raise TrackingError(msg) from exc
        if header != b"SQLite format 3\x00":
            msg = f"tracking store {path} is not a SQLite database"
            msg += "; fix: point --tracking-uri at an MLflow database or a new file"
            raise ConfigError(msg)


def _check_server(uri: str, host: str | None, parsed: Any, scheme: str) -> None:
    try:
        port = parsed.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        msg = f"tracking URI {uri!r} has an invalid port"
        msg += f"; fix: {FIX}"
        raise ConfigError(msg) from exc
    if not host:
        msg = f"tracking URI {uri!r} has no host"
        msg += f"; fix: {FIX}"
        raise ConfigError(msg)
    fix = "start the tracking server or correct --tracking-uri / MLFLOW_TRACKING_URI"
    try:
        with socket.create_connection((host, port), timeout=PROBE_SECONDS):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc) or "timed out"
        msg = f"tracking server {uri} is unreachable ({reason})"
        msg += f"; fix: {fix}"
        raise TrackingError(msg) from exc
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=PROBE_SECONDS):
            pass
    except urllib.error.HTTPError as exc:
        if exc.code >= 500:
            msg = f"tracking server {uri} answers with HTTP {exc.code}"
            msg += f"; fix: {fix}"
            raise TrackingError(msg) from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        msg = f"tracking server {uri} does not answer ({getattr(exc, 'reason', exc)})"
        msg += f"; fix: {fix}"
        raise TrackingError(msg) from exc
    # MLflow's defaults retry a dead server for minutes; a job that lost its server should say so soon
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Hold the SQLite store's file lock (re-entrant within a process); a no-op for other stores."""
    path = sqlite_path(uri)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if _held.get(path):
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    with open(path.with_name(f"{path.name}.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        _held[path] = 1
        try:
            yield
        finally:
            _held[path] = 0
            fcntl.flock(handle, fcntl.LOCK_UN)


def is_locked_error(exc: BaseException) -> bool:
    """True for SQLite's "database is locked" / "database table is locked", however MLflow wraps it."""
    text = str(exc).lower()
    return "database is locked" in text or "database table is locked" in text


def is_store_error(exc: BaseException) -> bool:
    """True for exceptions raised by MLflow, SQLAlchemy, SQLite or the HTTP client under them."""
    import sqlite3

    if isinstance(exc, sqlite3.Error):
        return True
    module = type(exc).__module__.split(".", 1)[0]
    return module in ("mlflow", "sqlalchemy", "requests", "urllib3", "alembic")


def retry_locked(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`call(*args, **kwargs)`, retried with a growing pause while SQLite says the database is locked."""
    for attempt in range(LOCK_RETRIES):
        try:
            return call(*args, **kwargs)
        except Exception as exc:
            if not is_locked_error(exc) or attempt == LOCK_RETRIES - 1:
                raise
            time.sleep(0.05 * 2**attempt)
    msg = "unreachable"
    raise AssertionError(msg)  # pragma: no cover


def initialise(uri: str) -> None:
    """Create (or migrate) the tracking and registry tables once, under the store's lock.

    A SQLite store that does not exist yet (or is an empty file) is first copied from the migrated template
    (`store_template`); an existing store is never replaced, only migrated when MLflow's schema moved on.
    """
    from mlflow import MlflowClient

    # table creation and migrations log at INFO on stderr; a job's output is its own progress
    for name in ("mlflow.store.db.utils", "alembic", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with store_lock(uri):
        path = sqlite_path(uri)
        if path is not None:
            if not path.is_file() or path.stat().st_size == 0:
                _copy_template(path)
            _finish_migrations(uri)
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        retry_locked(client.search_experiments, max_results=1)
        retry_locked(client.search_registered_models, max_results=1)


def _finish_migrations(uri: str) -> None:
    """Bring a SQLite store whose creation was cut off (``kill -9`` while MLflow migrated it) up to date."""
    path = sqlite_path(uri)
    if path is None or not path.is_file() or path.stat().st_size == 0:
        return
    from mlflow.store.db import utils

    engine = utils.create_sqlalchemy_engine_with_retry(f"sqlite:///{path}")
    try:
        if not utils._all_tables_exist(engine):
            return  # new, or cut off before its tables existed: MLflow creates them (under our lock)
        if utils._get_schema_version(engine) != utils._get_latest_schema_revision():
            utils._upgrade_db(engine)
    finally:
        engine.dispose()


def template_path() -> Path:
    """Where the migrated template of this MLflow version and schema revision is kept."""
    import mlflow
    from mlflow.store.db import utils

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    name = f"mlflow-{mlflow.__version__}-{utils._get_latest_schema_revision()}.db"
    return base / "forecast" / "mlflow-stores" / name


def store_template() -> Path:
    """The migrated, empty template store, made once: migrated in a temporary file, then renamed into
    place, so a process racing another one only ever sees a whole template (the last rename wins)."""
    from mlflow.store.db import utils

    template = template_path()
    head = utils._get_latest_schema_revision()
    if template.is_file() and _revision(template) == head:
        return template
    template.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=template.parent, prefix=f".{template.name}.", suffix=".tmp")
    os.close(handle)
    tmp = Path(name)
    try:
        engine = utils.create_sqlalchemy_engine_with_retry(f"sqlite:///{tmp}")
        try:
            utils._initialize_tables(engine)  # tables only: each copy creates its own Default experiment
        finally:
            engine.dispose()
        if _revision(tmp) != head:
            msg = f"the template store {tmp} did not reach schema revision {head}"
            raise RuntimeError(msg)
        os.replace(tmp, template)
    finally:
        tmp.unlink(missing_ok=True)
    return template


def _revision(path: Path) -> str | None:
    """The alembic revision recorded in a SQLite store, read without MLflow; None if there is none."""
    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
            row = db.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else str(row[0])


def _copy_template(path: Path) -> None:
    """Make the store at `path` a copy of the template (written beside it, then renamed into place); on
    any failure leave `path` as it was, for MLflow to create and migrate."""
    from forecast.io import pid_alive

    for stale in path.parent.glob(f".{path.name}.*.tmp"):  # copies left by a killed process
        pid = stale.name.removeprefix(f".{path.name}.").removesuffix(".tmp")
        if pid.isdigit() and not pid_alive(int(pid)):
            stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        template = store_template()
        with (
            contextlib.closing(sqlite3.connect(f"{template.as_uri()}?mode=ro", uri=True)) as source,
            contextlib.closing(sqlite3.connect(tmp)) as target,
        ):
            source.backup(target)  # a consistent copy even while another process renames a new template
        if _revision(tmp) != _revision(template):
            msg = f"the copy of {template} is incomplete"
            raise RuntimeError(msg)
        os.replace(tmp, path)
    except Exception as exc:  # the template is only a shortcut: MLflow's own migration still works
        _log.debug("new store %s is migrated by MLflow (template unavailable: %s)", path, exc)
    finally:
        tmp.unlink(missing_ok=True)


def process_tags() -> dict[str, str]:
    """Tags that let a later job tell whether the process that opened a run is still alive."""
    pid = os.getpid()
    return {TAG_PID: str(pid), TAG_HOST: socket.gethostname(), TAG_START: _process_start(pid) or ""}


def _process_start(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22: start time in clock ticks since boot


def _owner_gone(tags: dict[str, str]) -> bool:
    from forecast.io import pid_alive

    if tags.get(TAG_HOST) != socket.gethostname() or not tags.get(TAG_PID, "").isdigit():
        return False  # another machine's run, or not one of ours: it may still be working
    pid = int(tags[TAG_PID])
    if pid == os.getpid():
        return tags.get(TAG_START, "") != (_process_start(pid) or "")
    if not pid_alive(pid):
        return True
    start = tags.get(TAG_START)
    return bool(start) and start != (_process_start(pid) or start)


def close_stale_runs(experiment_id: str, uri: str) -> list[str]:
    """End KILLED the RUNNING runs of `experiment_id` whose job process is gone, and child runs whose
    parent has ended; return their ids."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    running = retry_locked(
        client.search_runs, [experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000
    )
    stale = {r.info.run_id: r for r in running if _owner_gone(dict(r.data.tags))}
    alive = {r.info.run_id for r in running} - set(stale)
    # a child run cannot outlive its parent: close those whose parent is stale or already ended
    children = [
        r
        for r in running
        if (parent := r.data.tags.get("mlflow.parentRunId")) is not None and parent not in alive
    ]
    closed = []
    for run in [*stale.values(), *children]:
        if run.info.run_id in closed:
            continue
        tags = run.data.tags
        reason = (
            f"killed: process {tags.get(TAG_PID, '?')} on {tags.get(TAG_HOST, '?')} ended without closing "
            f"this run; closed by the next job (process {os.getpid()})"
        )
        retry_locked(client.set_tag, run.info.run_id, "error", reason)
        retry_locked(client.set_terminated, run.info.run_id, "KILLED")
        _withdraw_versions(client, run.info.run_id)
        closed.append(run.info.run_id)
    return closed


def _withdraw_versions(client: Any, run_id: str) -> None:
    """Delete the model versions a dead run registered, putting back the alias holders it replaced."""
    from mlflow.exceptions import MlflowException

    try:
        versions = retry_locked(client.search_model_versions, f"run_id = '{run_id}'")
    except MlflowException:
        return
    for version in versions:
        previous = (version.tags or {}).get(TAG_PREVIOUS, "")
        aliases = list(getattr(version, "aliases", []) or [])
        retry_locked(client.delete_model_version, version.name, version.version)
        for alias in aliases:
            if previous.isdigit():
                with contextlib.suppress(MlflowException):
                    retry_locked(client.set_registered_model_alias, version.name, alias, previous)
        left = retry_locked(client.search_model_versions, f"name = '{version.name}'")
        if not left:
            retry_locked(client.delete_registered_model, version.name)
