"""Shared fixtures. Tests that need ../shared/data skip when it is absent, except in CI (CI=true), where the
real data is mandatory and its absence fails the run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests judge behaviour, not speed: a loaded CI machine must not fail them on hypothesis's timer.
settings.register_profile("forecast", deadline=None)
settings.load_profile("forecast")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FORECAST_SHARED_DATA", REPO.parent / "shared" / "data"))


def _require(sub: str) -> Path:
    path = SHARED_DATA / sub
    if not path.exists():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"real data {path} is mandatory in CI but missing")
        pytest.skip(f"real data {path} not present (put ../shared/data beside the repository)")
    return path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def walmart_dir() -> Path:
    return _require("walmart")


@pytest.fixture(scope="session")
def visuelle_dir() -> Path:
    return _require("visuelle")


@pytest.fixture(scope="session")
def hm_dir() -> Path:
    return _require("hm")
