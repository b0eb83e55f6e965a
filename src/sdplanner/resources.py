"""Locate the files that ship with the package: the model and the data tables.

In a wheel they live inside the package (``sdplanner/_model``, ``sdplanner/_data``); in a
source checkout (editable install) they are read from the repository's ``models/`` and
``data/``.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "DEFAULT_CALIBRATIONS",
    "cache_dir",
    "calibration_name",
    "data_path",
    "default_model_path",
    "default_params_path",
    "repo_root",
    "shipped_scenarios_dir",
    "shipped_uncertainty_dir",
]

_PKG = Path(__file__).resolve().parent


def cache_dir() -> Path:
    """Return sdplanner's cache folder (not created here).

    ``$SDPLANNER_CACHE`` when set, else ``$XDG_CACHE_HOME/sdplanner`` (default
    ``~/.cache/sdplanner``). It holds PySD's translations, parsed models, compiled kernels and
    copies of models for workers and checks, each named by the SHA-256 of what it was made
    from.

    Returns
    -------
    pathlib.Path
        The folder.
    """
    base = os.environ.get("SDPLANNER_CACHE")
    if base:
        return Path(base)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sdplanner"


def repo_root() -> Path | None:
    """Return the source checkout's root when running from one, else None.

    Returns
    -------
    pathlib.Path or None
        The folder holding ``pyproject.toml`` and ``models/``.
    """
    root = _PKG.parent.parent
    if (root / "pyproject.toml").is_file() and (root / "models").is_dir():
        return root
    return None


def default_model_path() -> Path:
    """Return the path of the shipped Vensim model.

    Returns
    -------
    pathlib.Path
        ``sdplanner.mdl`` inside the package, or ``models/sdplanner.mdl`` in a checkout.
    """
    packaged = _PKG / "_model" / "sdplanner.mdl"
    if packaged.is_file():
        return packaged
    root = repo_root()
    if root is not None:
        return root / "models" / "sdplanner.mdl"
    return packaged


def data_path(name: str) -> Path:
    """Return the path of a shipped data file.

    Parameters
    ----------
    name : str
        File name inside ``data/``, e.g. ``"regions.csv"``.

    Returns
    -------
    pathlib.Path
        The file inside the package or the checkout.
    """
    packaged = _PKG / "_data" / name
    if packaged.is_file():
        return packaged
    root = repo_root()
    if root is not None:
        return root / "data" / name
    return packaged


#: Shipped calibrations, the default first: the one on every figure up to 2015, then the
#: seed's 2010-2012 calibration.
DEFAULT_CALIBRATIONS = ("history-2010-2015", "seed-2010-2012")


def default_params_path() -> Path | None:
    """Return the shipped calibrated parameter file, or None when there is none.

    Returns
    -------
    pathlib.Path or None
        The first of `DEFAULT_CALIBRATIONS` that exists, ``calibration/<name>.params.yaml``
        in the package or the checkout (``history-2010-2015`` once it is shipped).
    """
    root = repo_root()
    for name in DEFAULT_CALIBRATIONS:
        packaged = _PKG / "_calibration" / f"{name}.params.yaml"
        if packaged.is_file():
            return packaged
        if root is not None:
            candidate = root / "calibration" / f"{name}.params.yaml"
            if candidate.is_file():
                return candidate
    return None


def calibration_name(files) -> str:
    """Return which calibration parameter files a run used, in words.

    Parameters
    ----------
    files : sequence of path-like
        The parameter files, lowest layer first.

    Returns
    -------
    str
        Their names without ``.params.yaml`` joined by ``+`` (``history-2010-2015``), or
        ``none (the .mdl values)``.
    """
    names = [Path(f).name.removesuffix(".yaml").removesuffix(".params") for f in files]
    return " + ".join(names) if names else "none (the .mdl values)"


def shipped_scenarios_dir() -> Path:
    """Return the folder of the shipped scenario files (baseline, five paths, all-five).

    Returns
    -------
    pathlib.Path
        ``sdplanner/_scenarios`` in a wheel, ``scenarios/`` in a checkout.
    """
    packaged = _PKG / "_scenarios"
    if packaged.is_dir():
        return packaged
    root = repo_root()
    if root is not None:
        return root / "scenarios"
    return packaged


def shipped_uncertainty_dir() -> Path:
    """Return the folder of the shipped uncertainty files (default, rank-robustness).

    Returns
    -------
    pathlib.Path
        ``sdplanner/_uncertainty`` in a wheel, ``uncertainty/`` in a checkout.
    """
    packaged = _PKG / "_uncertainty"
    if packaged.is_dir():
        return packaged
    root = repo_root()
    if root is not None:
        return root / "uncertainty"
    return packaged
