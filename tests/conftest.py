"""Shared fixtures: the shipped model, and its baseline run through PySD (computed once)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
DATA = ROOT / "data"


def load_tool(name: str):
    """Import a script of ``tools/`` (not a package) as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"tools_{name}", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def model():
    from sdplanner.model import load_model

    return load_model()


@pytest.fixture(scope="session")
def pysd_baseline(model):
    """Every variable of the shipped model's baseline (.mdl defaults) through PySD."""
    from sdplanner.engine import get_engine

    return get_engine("pysd").run({})
