"""A real `mlflow server` on 127.0.0.1: the job logs to it over HTTP and the run and model read back."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from test_job import fake_stages, tiny_config

from forecast.job import run_job

HEALTH_ATTEMPTS = 240  # × 0.5 s: a loaded machine can take a while to import and migrate


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(HEALTH_ATTEMPTS):
        if proc.poll() is not None:
            pytest.fail(f"mlflow server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"mlflow server did not answer /health: {log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End the server's process group (the server and the workers it started)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("server")
    artifacts = root / "artifacts"
    port = free_port()
    log = root / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{(root / 'mlflow.db').as_posix()}",
        "--artifacts-destination",
        artifacts.as_uri(),
        "--serve-artifacts",
    ]
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, cwd=root, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log)
        yield url, artifacts
    finally:
        stop(proc)


@pytest.mark.server
@pytest.mark.slow
def test_job_logs_to_a_real_server(server: tuple[str, Path], tmp_path: Path) -> None:
    url, artifacts = server
    result = run_job(tiny_config("tiny-http"), tmp_path / "out", url, stages=fake_stages())
    assert result.tracking_uri == url
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["pipeline"] == "tiny-http"
    assert "champion_profit" in run.data.metrics
    assert {"plan.csv", "report.html"} <= {f.path for f in client.list_artifacts(result.run_id)}
    assert list(artifacts.rglob("plan.csv"))  # uploaded through the server's artifact proxy
    assert result.registration is not None
    version = client.get_model_version_by_alias("tiny-http-demand", "champion")
    assert str(version.version) == result.registration.version
    mlflow.set_tracking_uri(url)
    mlflow.set_registry_uri(url)
    model = mlflow.pyfunc.load_model("models:/tiny-http-demand@champion")
    frame = pd.DataFrame(
        {
            "article_id": ["A0"] * 4,
            "store_id": ["S0"] * 4,
            "week": pd.date_range("2024-01-01", periods=4, freq="7D"),
            "units": [2.0, 4.0, 6.0, 8.0],
        }
    )
    out = model.predict(frame)
    assert len(out) == 3  # the pipeline's horizon
    assert out["mean"].iloc[0] == pytest.approx(5.0)  # the last four weeks' mean (last_mean model)
