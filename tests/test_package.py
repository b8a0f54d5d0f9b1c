"""The package's import-time settings."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = "import os, sys, forecast; print(os.environ['GOMP_SPINCOUNT'], 'lightgbm' in sys.modules)"


def run(env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_openmp_threads_spin_briefly_before_lightgbm_loads() -> None:
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    # set before LightGBM (and its OpenMP runtime) is loaded, which is when OpenMP reads it
    assert run(env) == "20000 False"


def test_the_environment_keeps_its_own_spin_count() -> None:
    assert run({**os.environ, "GOMP_SPINCOUNT": "300000"}) == "300000 False"
