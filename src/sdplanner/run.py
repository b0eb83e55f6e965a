"""Run a scenario: the one-call entry point of the library."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sdplanner.engine import get_engine
from sdplanner.model import ModelInfo, load_model
from sdplanner.resources import default_model_path, default_params_path
from sdplanner.results import required_variables, to_frame
from sdplanner.scenario import Scenario, load_parameter_file, load_scenario, merge_params

__all__ = ["RunInputs", "prepare_run", "run_prepared", "run_scenario"]


@dataclass(frozen=True)
class RunInputs:
    """A validated run: model, scenario and parameter files, ready to simulate.

    Attributes
    ----------
    model : ModelInfo
        The model.
    scenario : Scenario
        The scenario.
    params_files : tuple of pathlib.Path
        Parameter files applied under the scenario (calibrated parameters first).
    params : dict
        The merged constant overrides passed to the engine.
    """

    model: ModelInfo
    scenario: Scenario
    params_files: tuple[Path, ...]
    params: dict


def prepare_run(
    scenario: str | os.PathLike | Scenario,
    *,
    model: str | os.PathLike | ModelInfo | None = None,
    params: str | os.PathLike | Sequence[str | os.PathLike] | bool | None = None,
) -> RunInputs:
    """Validate the inputs of a run without simulating.

    Parameters
    ----------
    scenario : path-like or Scenario
        Scenario file or a loaded scenario.
    model : path-like or ModelInfo, optional
        The ``.mdl``; the shipped model when omitted.
    params : path-like, sequence of path-like, False or None
        None: the shipped calibrated parameters (for the shipped model). A file: layered on
        top of them (a file naming one constant changes that constant only). A sequence:
        exactly these files, lowest layer first, on the ``.mdl`` values. False: no parameter
        file (the ``.mdl`` values).

    Returns
    -------
    RunInputs
        Everything the engine needs.
    """
    info = model if isinstance(model, ModelInfo) else load_model(model)
    scen = scenario if isinstance(scenario, Scenario) else load_scenario(scenario, info)
    default = default_params_path()
    shipped_model = Path(info.path).resolve() == default_model_path().resolve()
    shipped = (default,) if default is not None and shipped_model else ()
    if params is None:
        files = shipped
    elif params is False:
        files = ()
    elif isinstance(params, str | os.PathLike):
        files = (*shipped, Path(params))
    else:
        files = tuple(Path(p) for p in params)
    layers = [load_parameter_file(f, info) for f in files]
    merged = merge_params(*layers, scen.to_params(info))
    return RunInputs(info, scen, files, merged)


def run_prepared(inputs: RunInputs, *, engine: str = "batch") -> pd.DataFrame:
    """Simulate validated inputs and return the tidy results table.

    Parameters
    ----------
    inputs : RunInputs
        From `prepare_run`.
    engine : {"batch", "pysd"}
        Simulation engine: the fast batch engine (default) or the PySD reference.

    Returns
    -------
    pandas.DataFrame
        Columns ``scenario, region, variable, year, value, unit`` (see `sdplanner.results`).
    """
    eng = get_engine(engine, inputs.model.path)
    output = eng.run(
        inputs.params,
        final_time=inputs.scenario.final_time,
        variables=required_variables(inputs.model.spec.outputs),
    )
    return to_frame(output, inputs.model, inputs.scenario.name)


def run_scenario(
    scenario: str | os.PathLike | Scenario,
    *,
    model: str | os.PathLike | ModelInfo | None = None,
    params: str | os.PathLike | bool | None = None,
    engine: str = "batch",
) -> pd.DataFrame:
    """Run one scenario and return its results in long form.

    Parameters
    ----------
    scenario : path-like or Scenario
        Scenario file (YAML) or a loaded scenario.
    model : path-like or ModelInfo, optional
        The ``.mdl``; the shipped model when omitted.
    params : path-like, False or None
        Parameter file; None uses the shipped calibrated parameters when present.
    engine : {"batch", "pysd"}
        Simulation engine: the fast batch engine (default) or the PySD reference.

    Returns
    -------
    pandas.DataFrame
        One row per region (14 and ``All 14 regions``), variable and year 2010-2050, with
        columns ``scenario, region, variable, year, value, unit``; rates are fractions.
    """
    return run_prepared(prepare_run(scenario, model=model, params=params), engine=engine)
