"""A new SQLite store is a copy of the migrated template: valid, independent; existing stores untouched."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.store.db import utils

from forecast import tracking_store


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


def uri_of(path: Path) -> str:
    return f"sqlite:///{path}"


def revision(path: Path) -> str:
    with sqlite3.connect(path) as db:
        return str(db.execute("SELECT version_num FROM alembic_version").fetchone()[0])


def experiments(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as db:
        return sorted(db.execute("SELECT name, artifact_location FROM experiments").fetchall())


def use_store(uri: str, experiment: str) -> str:
    """A run with a param, a metric and a registered model version; the run id."""
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment_id = client.create_experiment(experiment)
    run = client.create_run(experiment_id)
    client.log_param(run.info.run_id, "alpha", "0.5")
    client.log_metric(run.info.run_id, "wape", 12.5)
    client.set_terminated(run.info.run_id)
    client.create_registered_model(f"{experiment}-demand")
    version = client.create_model_version(
        f"{experiment}-demand", f"runs:/{run.info.run_id}/model", run.info.run_id
    )
    client.set_registered_model_alias(f"{experiment}-demand", "champion", version.version)
    return run.info.run_id


def test_new_store_is_a_migrated_copy_of_the_template(tmp_path: Path, cache_home: Path) -> None:
    store = tmp_path / "a" / "mlflow.db"
    tracking_store.initialise(uri_of(store))
    template = tracking_store.template_path()
    assert template.is_file()
    assert template.is_relative_to(cache_home)
    head = utils._get_latest_schema_revision()
    assert revision(template) == head
    assert revision(store) == head
    assert experiments(template) == []  # each store makes its own Default experiment, with its own root
    assert [name for name, _ in experiments(store)] == ["Default"]
    assert str(tmp_path) not in str(experiments(store))  # the template's folder is nowhere in the copy


def test_stores_from_the_template_work_and_are_independent(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "mlflow.db", tmp_path / "b" / "mlflow.db"
    tracking_store.initialise(uri_of(first))
    tracking_store.initialise(uri_of(second))
    run_id = use_store(uri_of(first), "one")
    use_store(uri_of(second), "two")
    client = MlflowClient(tracking_uri=uri_of(first), registry_uri=uri_of(first))
    run = client.get_run(run_id)
    assert run.data.metrics == {"wape": 12.5}
    assert run.data.params == {"alpha": "0.5"}
    assert client.get_model_version_by_alias("one-demand", "champion").run_id == run_id
    assert [m.name for m in client.search_registered_models()] == ["one-demand"]
    assert sorted(name for name, _ in experiments(first)) == ["Default", "one"]
    assert sorted(name for name, _ in experiments(second)) == ["Default", "two"]
    template = tracking_store.template_path()
    assert experiments(template) == []


def test_existing_store_is_not_replaced(tmp_path: Path) -> None:
    store = tmp_path / "a" / "mlflow.db"
    tracking_store.initialise(uri_of(store))
    run_id = use_store(uri_of(store), "kept")
    inode = store.stat().st_ino
    tracking_store.initialise(uri_of(store))
    assert store.stat().st_ino == inode
    client = MlflowClient(tracking_uri=uri_of(store))
    assert client.get_run(run_id).data.metrics == {"wape": 12.5}


def test_empty_file_gets_the_template(tmp_path: Path) -> None:
    store = tmp_path / "mlflow.db"
    store.touch()
    tracking_store.initialise(uri_of(store))
    assert revision(store) == utils._get_latest_schema_revision()
    use_store(uri_of(store), "filled")


def test_a_copy_left_by_a_killed_process_is_removed(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    left = tmp_path / f".mlflow.db.{int(dead.stdout)}.tmp"
    left.write_bytes(b"half a copy")
    tracking_store.initialise(uri_of(tmp_path / "mlflow.db"))
    assert not left.exists()
    assert revision(tmp_path / "mlflow.db") == utils._get_latest_schema_revision()


def test_a_stale_template_is_rebuilt(tmp_path: Path) -> None:
    template = tracking_store.template_path()
    template.parent.mkdir(parents=True)
    template.write_bytes(b"not a database")
    store = tmp_path / "mlflow.db"
    tracking_store.initialise(uri_of(store))
    assert revision(template) == utils._get_latest_schema_revision()
    assert revision(store) == revision(template)


def test_without_a_template_mlflow_migrates_the_store(tmp_path: Path, cache_home: Path) -> None:
    cache_home.write_text("a file where the cache folder should be")  # the template cannot be made
    store = tmp_path / "mlflow.db"
    tracking_store.initialise(uri_of(store))
    assert revision(store) == utils._get_latest_schema_revision()
    use_store(uri_of(store), "migrated")
    assert not list(tmp_path.glob(".mlflow.db.*"))  # no temporary copy left behind


def test_racing_template_builds_leave_one_whole_template(tmp_path: Path) -> None:
    # processes, as jobs race in practice (alembic's migration context is not thread-safe)
    code = "from forecast import tracking_store; tracking_store.store_template()"
    racers = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(2)]
    assert [racer.wait(timeout=300) for racer in racers] == [0, 0]
    template = tracking_store.template_path()
    assert revision(template) == utils._get_latest_schema_revision()
    assert [p.name for p in template.parent.iterdir()] == [template.name]  # no temporary file left
    store = tmp_path / "mlflow.db"
    tracking_store.initialise(uri_of(store))
    use_store(uri_of(store), "after-race")
