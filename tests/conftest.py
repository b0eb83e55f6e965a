"""Shared fixtures: the shipped model, and its baseline run through PySD (computed once)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
DATA = ROOT / "data"


@pytest.fixture(scope="session")
def model():
    from sdplanner.model import load_model

    return load_model()


@pytest.fixture(scope="session")
def pysd_baseline(model):
    """Every variable of the shipped model's baseline (.mdl defaults) through PySD."""
    from sdplanner.engine import get_engine

    return get_engine("pysd").run({})
