"""MLflow tracking at the edge: experiments, the job's parent run and one child run per backtested model.
The model registry and its `champion` / `challenger` aliases are `forecast.registry` (re-exported here).

Stages never call MLflow; the job hands their frames to the functions here.

Where runs go, first match wins: ``--tracking-uri``, the pipeline's ``tracking.tracking_uri``, the
``MLFLOW_TRACKING_URI`` environment variable, else the embedded store ``sqlite:///<cwd>/mlruns/mlflow.db``
with artifacts under ``mlruns/artifacts/``. For any SQLite store the artifacts go to ``artifacts/`` beside the
database file; a tracking server chooses its own artifact store.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from forecast import tracking_store
from forecast.config import PipelineConfig
from forecast.dataset import Dataset
from forecast.errors import ForecastError, TrackingError

# the registry's names, for the callers that reach them through this module (the job)
from forecast.registry import Registration as Registration
from forecast.registry import beats as beats
from forecast.registry import register_champion as register_champion
from forecast.registry import unregister as unregister
from forecast.tracking_store import is_store_error, retry_locked, store_lock

DEFAULT_STORE = Path("mlruns") / "mlflow.db"
# objectives where a smaller value is better; the others (profit, revenue) are maximised
_MAX_TAG = 5000


def resolve_tracking_uri(
    cli_uri: str | None = None, config_uri: str | None = None, *, cwd: Path | None = None
) -> str:
    """The tracking URI a job logs to: option, pipeline, environment, else the embedded SQLite store.

    Examples
    --------
    >>> resolve_tracking_uri("http://127.0.0.1:5000")
    'http://127.0.0.1:5000'
    """
    uri = cli_uri or config_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    store = (cwd or Path.cwd()).resolve() / DEFAULT_STORE
    return f"sqlite:///{store.as_posix()}"


def sqlite_store_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (relative paths against the cwd), else None."""
    return tracking_store.sqlite_path(uri)


def artifact_root(uri: str, experiment: str) -> str | None:
    """File URI for an experiment's artifacts beside a SQLite store; None lets a server decide."""
    store = sqlite_store_path(uri)
    if store is None:
        return None
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", experiment).strip("-") or "experiment"
    folder = store.parent / "artifacts" / slug
    folder.mkdir(parents=True, exist_ok=True)
    return folder.as_uri()


def connect(uri: str) -> None:
    """Point MLflow's tracking and registry at `uri`: check it, create a SQLite store's folder and tables
    (under the store's lock), and fail in seconds with one line when the store cannot be used."""
    import mlflow

    tracking_store.check_uri(uri)
    store = sqlite_store_path(uri)
    if store is not None:
        store.parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    with store_errors(uri):
        tracking_store.initialise(uri)


@contextlib.contextmanager
def store_errors(uri: str) -> Iterator[None]:
    """Turn an error of the tracking store (MLflow, SQLAlchemy, HTTP) into one `TrackingError` line."""
    try:
        yield
    except (ForecastError, KeyboardInterrupt):
        raise
    except Exception as exc:
        if not is_store_error(exc):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        msg = f"tracking store {uri} failed: {first}; fix: check the store is reachable and writable"
        raise TrackingError(msg) from exc


def ensure_experiment(name: str, uri: str) -> str:
    """Id of experiment `name`, created (with artifacts beside a SQLite store) when missing."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    with store_lock(uri):
        found = retry_locked(client.get_experiment_by_name, name)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                retry_locked(client.restore_experiment, found.experiment_id)
            return str(found.experiment_id)
        try:
            created = client.create_experiment(name, artifact_location=artifact_root(uri, name))
        except Exception:
            # another job (on a server, without the lock) created it meanwhile
            found = retry_locked(client.get_experiment_by_name, name)
            if found is None:
                raise
            return str(found.experiment_id)
        return str(created)


def flatten_params(config: PipelineConfig) -> dict[str, str]:
    """The pipeline's settings as ``section.key`` -> text, the form MLflow params take.

    Examples
    --------
    >>> from forecast.config import PipelineConfig
    >>> flatten_params(PipelineConfig(name="demo"))["forecast.horizon"]
    '8'
    """
    params: dict[str, str] = {"pipeline": config.name}
    for section in dataclasses.fields(config):
        value = getattr(config, section.name)
        if not dataclasses.is_dataclass(value):
            continue
        for key, item in _flatten(dataclasses.asdict(value), section.name).items():  # type: ignore[arg-type]
            params[key] = item
    return params


def _flatten(mapping: Mapping[str, Any], prefix: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in mapping.items():
        name = f"{prefix}.{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name))
        elif isinstance(value, Path):
            out[name] = value.name  # only the name: no machine paths in the tracking store
        else:
            out[name] = str(value)[:6000]
    return out


def sales_hash(sales: pl.DataFrame) -> str:
    """SHA-256 of the sales frame's content, independent of row order.

    Each row (columns in name order, floats to 6 decimals) is hashed by Polars (`DataFrame.hash_rows`, fixed
    seed); the sorted row hashes, the column names and types go into the SHA-256. Hashing rows, rather than
    sorting them or dumping them as text, keeps a large frame's hash fast. Polars does not promise the same
    row hashes across its versions, so the fingerprint also records the Polars version (`sales_hash_scheme`).
    """
    names = sorted(sales.columns)
    canonical = sales.select(
        pl.col(name).round(6) if sales.schema[name].is_float() else pl.col(name) for name in names
    )
    rows = np.sort(canonical.hash_rows(seed=0).to_numpy())
    digest = hashlib.sha256(repr([(name, str(sales.schema[name])) for name in names]).encode())
    digest.update(rows.tobytes())
    return digest.hexdigest()


def data_fingerprint(ds: Dataset) -> dict[str, Any]:
    """Row counts per source file, date range, article and store counts and a content hash of the sales."""
    sales = ds.sales
    first = sales["date"].min() if sales.height else None
    last = sales["date"].max() if sales.height else None
    kept = ds.rows_kept()
    return {
        "dataset": ds.name,
        "rows_read": dict(ds.rows_read),
        "rows_kept": kept,
        "rows_rejected": int(ds.rejects.height),
        "sales_rows": int(sales.height),
        "date_min": str(first) if first is not None else None,
        "date_max": str(last) if last is not None else None,
        "articles": int(sales["article_id"].n_unique()) if sales.height else 0,
        "catalogue_articles": int(ds.articles.height),
        "stores": int(sales["store_id"].n_unique()) if sales.height else 0,
        "sales_sha256": sales_hash(sales),
        "sales_hash_scheme": f"polars {pl.__version__} hash_rows",
    }


@contextlib.contextmanager
def job_run(config: PipelineConfig, uri: str, *, run_name: str | None = None) -> Iterator[str]:
    """Open the job's parent run in the pipeline's experiment and yield its id.

    The run logs the flattened pipeline settings and the pipeline file; it carries the job's process id, so
    a later job can close it KILLED if this process dies without closing it (and does so for earlier dead
    jobs of the experiment, see `forecast.tracking_store.close_stale_runs`). An exception inside the block
    ends the run FAILED with the error in tag ``error`` (an interrupt ends it KILLED) and is re-raised. The
    run ends FINISHED when the block calls `finish_run` (the job does, as part of publishing) or leaves.
    """
    import mlflow

    connect(uri)
    with store_errors(uri):
        experiment_id = ensure_experiment(config.tracking.experiment or config.name, uri)
        with store_lock(uri):
            tracking_store.close_stale_runs(experiment_id, uri)
        mlflow.set_experiment(experiment_id=experiment_id)  # nested runs and logged models land here too
        tags = {"pipeline": config.name, "stage": "job", **tracking_store.process_tags()}
        run = retry_locked(
            mlflow.start_run,
            experiment_id=experiment_id,
            run_name=run_name or f"{config.name}-job",
            tags=tags,
        )
    try:
        retry_locked(mlflow.log_params, flatten_params(config))
        if config.source is not None and Path(config.source).is_file():
            mlflow.log_artifact(str(config.source), artifact_path="pipeline")
        yield run.info.run_id
    except BaseException as exc:
        _end_failed(run.info.run_id, exc)
        raise
    finish_run(run.info.run_id)


def finish_run(run_id: str) -> None:
    """End the job's run FINISHED (a no-op when it already ended)."""
    import mlflow

    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        retry_locked(mlflow.end_run, "FINISHED")


def _end_failed(run_id: str, exc: BaseException) -> None:
    """Close child runs and the job's run FAILED (KILLED on an interrupt), with the error as a tag."""
    import mlflow
    from mlflow import MlflowClient

    status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
    error = f"{type(exc).__name__}: {exc}"[:_MAX_TAG]
    with contextlib.suppress(Exception):
        # close any child run the error escaped from, then the parent
        while (active := mlflow.active_run()) is not None and active.info.run_id != run_id:
            mlflow.end_run(status)
    client = MlflowClient()
    with contextlib.suppress(Exception):
        retry_locked(client.set_tag, run_id, "error", error)
        retry_locked(client.set_tag, run_id, "error_type", type(exc).__name__)
    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        retry_locked(mlflow.end_run, status)
    else:  # the run had already been finished when a later step failed
        retry_locked(client.set_terminated, run_id, status)
    with contextlib.suppress(Exception):
        # a child the interrupt hit while it was being created is not on MLflow's stack of active runs
        experiment = client.get_run(run_id).info.experiment_id
        for child in client.search_runs(
            [experiment], f"tags.`mlflow.parentRunId` = '{run_id}' and attributes.status = 'RUNNING'"
        ):
            retry_locked(client.set_terminated, child.info.run_id, status)


def log_fingerprint(fingerprint: Mapping[str, Any]) -> None:
    """Log the data fingerprint as params (``fingerprint.*``) and as ``data/fingerprint.json``."""
    import mlflow

    flat: dict[str, str] = {}
    for key, value in fingerprint.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"fingerprint.{key}"))
        else:
            flat[f"fingerprint.{key}"] = str(value)
    mlflow.log_params({_param_key(k): v for k, v in flat.items()})
    mlflow.log_dict(dict(fingerprint), "data/fingerprint.json")


def _param_key(key: str) -> str:
    # MLflow keys allow alphanumerics, `_ - . space /`; file names may hold anything else
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", key)[:250]


def metric_values(row: Mapping[str, Any]) -> dict[str, float]:
    """The finite numeric entries of a leaderboard or fold row, as floats."""
    out: dict[str, float] = {}
    for key, value in row.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if value == value and abs(value) != float("inf"):  # drop NaN and infinities
            out[key] = float(value)
    return out


def log_model_runs(leaderboard: pl.DataFrame, per_fold: pl.DataFrame | None, champion: str) -> dict[str, str]:
    """One nested child run per backtested model: its leaderboard metrics and its metrics per fold (step =
    fold). Returns model name -> child run id."""
    import mlflow

    parent = mlflow.active_run()
    experiment_id = parent.info.experiment_id if parent is not None else None
    runs: dict[str, str] = {}
    for rank, row in enumerate(leaderboard.iter_rows(named=True), start=1):
        model = str(row["model"])
        with mlflow.start_run(run_name=model, nested=True, experiment_id=experiment_id) as child:
            mlflow.set_tags({"stage": "backtest", "model": model, "champion": str(model == champion).lower()})
            mlflow.log_params({"model": model, "rank": rank})
            mlflow.log_metrics(metric_values(row))
            if per_fold is not None and "model" in per_fold.columns:
                _log_folds(per_fold.filter(pl.col("model") == model))
            runs[model] = child.info.run_id
    return runs


def _log_folds(folds: pl.DataFrame) -> None:
    import mlflow

    ordered = folds.sort("fold") if "fold" in folds.columns else folds
    for index, row in enumerate(ordered.iter_rows(named=True)):
        step = int(row["fold"]) if "fold" in row else index
        values = {f"fold_{k}": v for k, v in metric_values(row).items() if k != "fold"}
        mlflow.log_metrics(values, step=step)


def log_champion_metrics(leaderboard: pl.DataFrame, champion: str) -> dict[str, float]:
    """Log the champion's leaderboard metrics on the parent run as ``champion_<metric>``."""
    import mlflow

    rows = leaderboard.filter(pl.col("model") == champion).to_dicts()
    values = metric_values(rows[0]) if rows else {}
    mlflow.log_metrics({f"champion_{k}": v for k, v in values.items()})
    return values


def log_files(paths: Mapping[str, Path], artifact_path: str | None = None) -> None:
    """Log each existing file as an artifact of the active run."""
    import mlflow

    for path in paths.values():
        if Path(path).exists():
            mlflow.log_artifact(str(path), artifact_path=artifact_path)
