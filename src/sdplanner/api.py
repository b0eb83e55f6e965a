"""The notebook API: run a scenario, or many lever settings at once, in one call.

`simulate` runs one scenario (a shipped one by name, a file, or a `Scenario`) with levers and
constants changed in code, and returns the tidy results table or an `xarray.Dataset`.
`simulate_many` runs a list or a grid of lever settings through the batch engine's
``run_batch`` in one call (thousands of settings a second) instead of one run per setting.
Both validate everything as the scenario files are validated: lever names and ranges come from
the model spec and the ``.mdl``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from sdplanner.engine import get_engine
from sdplanner.errors import ScenarioError, did_you_mean
from sdplanner.model import ModelInfo, load_model
from sdplanner.resources import shipped_scenarios_dir
from sdplanner.results import required_variables, to_frame
from sdplanner.run import RunInputs, prepare_run
from sdplanner.scenario import Scenario, apply_levers, load_scenario, merge_params, parse_parameters
from sdplanner.spec import OutputSpec
from sdplanner.tables import batch_dataset, dataset_to_frame, frame_to_dataset

__all__ = ["shipped_scenarios", "simulate", "simulate_many"]

_FIELDS = ("strength", "start", "ramp_years")


def shipped_scenarios() -> list[str]:
    """Return the names of the shipped scenario files (``baseline``, ``path-4.1-...`` ...).

    Returns
    -------
    list of str
        File names without ``.yaml``, sorted.
    """
    return sorted(p.stem for p in shipped_scenarios_dir().glob("*.yaml"))


def _scenario(scenario: str | os.PathLike | Scenario, model: ModelInfo) -> Scenario:
    if isinstance(scenario, Scenario):
        return scenario
    path = Path(scenario)
    if not path.suffix and not path.exists():
        names = shipped_scenarios()
        if str(scenario) not in names:
            raise ScenarioError(
                f"scenario: expected a shipped scenario ({', '.join(names)}) or a file, found"
                f" {str(scenario)!r}{did_you_mean(scenario, names)}"
            )
        path = shipped_scenarios_dir() / f"{scenario}.yaml"
    return load_scenario(path, model)


def _inputs(scenario, levers, params, model, calibration) -> tuple[RunInputs, ModelInfo]:
    info = model if isinstance(model, ModelInfo) else load_model(model)
    scen = _scenario(scenario, info)
    if levers:
        scen = apply_levers(scen, levers, info)
    inputs = prepare_run(scen, model=info, params=calibration)
    if params:
        own = parse_parameters(dict(params), info, "params")
        inputs = RunInputs(info, scen, inputs.params_files, merge_params(inputs.params, own))
    return inputs, info


def _outputs(info: ModelInfo, variables: Sequence[str] | None) -> list[OutputSpec]:
    spec = info.spec
    if variables is None:
        return list(spec.outputs)
    out = []
    for name in variables:
        py = info.resolve(name) or name
        found = spec.output(py)
        if found is None:
            raise ScenarioError(
                f"variables: expected outputs of the model spec, found {name!r}"
                f"{did_you_mean(name, [o.name for o in spec.outputs])}"
            )
        out.append(found)
    return out


def simulate(
    scenario: str | os.PathLike | Scenario = "baseline",
    *,
    levers: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    variables: Sequence[str] | None = None,
    model: str | os.PathLike | ModelInfo | None = None,
    calibration: str | os.PathLike | bool | None = None,
    engine: str = "batch",
    as_xarray: bool = False,
) -> pd.DataFrame | xr.Dataset:
    """Run one scenario with levers and constants set in code.

    Parameters
    ----------
    scenario : str, path-like or Scenario
        A shipped scenario by name (``"baseline"``, ``"all-five"`` ... from any folder), a
        scenario file, or a loaded `Scenario`.
    levers : mapping, optional
        Lever name -> strength (in the lever's unit), or a mapping with ``strength``,
        ``start`` (year), ``ramp_years`` (year), ``regions``, set on top of the scenario.
    params : mapping, optional
        Constant name -> value (a number, region -> number, or year -> number), in the
        constant's units, on top of the calibration and the scenario.
    variables : sequence of str, optional
        Outputs to return (names of ``results.csv``); every output by default.
    model : path-like or ModelInfo, optional
        The ``.mdl``; the shipped model when omitted.
    calibration : path-like, False or None
        Parameter file under the scenario: None for the shipped calibration, False for the
        ``.mdl`` values.
    engine : {"batch", "pysd"}
        Simulation engine.
    as_xarray : bool
        Return an `xarray.Dataset` (dimensions ``scenario, region, year``) instead of the
        tidy table.

    Returns
    -------
    pandas.DataFrame or xarray.Dataset
        The results: columns ``scenario, region, variable, year, value, unit`` (model units;
        rates are fractions, money constant 2010 yuan).

    Raises
    ------
    ScenarioError
        For an unknown scenario, lever, constant or variable, or a value outside its range.

    Examples
    --------
    >>> import sdplanner
    >>> df = sdplanner.simulate("baseline", levers={"infrastructure_investment": 0.05})
    >>> df[df.variable == "urbanization_rate"].head()  # doctest: +SKIP
    """
    inputs, info = _inputs(scenario, levers, params, model, calibration)
    outputs = _outputs(info, variables)
    eng = get_engine(engine, info.path)
    out = eng.run(
        inputs.params,
        final_time=inputs.scenario.final_time,
        variables=required_variables(outputs),
    )
    frame = to_frame(out, info, inputs.scenario.name, outputs=outputs)
    return frame_to_dataset(frame) if as_xarray else frame


def _grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def simulate_many(
    settings: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]],
    scenario: str | os.PathLike | Scenario = "baseline",
    *,
    params: Mapping[str, Any] | None = None,
    variables: Sequence[str] | None = None,
    model: str | os.PathLike | ModelInfo | None = None,
    calibration: str | os.PathLike | bool | None = None,
    as_xarray: bool = False,
) -> pd.DataFrame | xr.Dataset:
    """Run many lever settings of one scenario in one batch.

    Parameters
    ----------
    settings : sequence of mapping, or mapping of sequences
        A list of settings, each lever name -> strength or ``{strength, start,
        ramp_years}`` (every region alike); or a grid, lever name -> list of strengths, whose
        every combination is run. Levers a setting does not name keep the scenario's values.
    scenario, params, model, calibration
        As in `simulate`.
    variables : sequence of str, optional
        Outputs to return; the model spec's ``headline`` view by default (every output of
        every sample can be large: n x outputs x regions x years values).
    as_xarray : bool
        Return an `xarray.Dataset` with a ``sample`` dimension and one coordinate per lever
        field varied (e.g. ``hukou_reform.strength``) instead of the tidy table.

    Returns
    -------
    pandas.DataFrame or xarray.Dataset
        The tidy columns preceded by ``sample`` (0 ... n-1) and one column per lever field
        varied; or the Dataset.

    Raises
    ------
    ScenarioError
        For an empty list, an unknown lever or a value outside its range (naming the
        setting).

    Examples
    --------
    >>> import sdplanner
    >>> grid = {"infrastructure_investment": [0, 0.02, 0.04], "hukou_reform": [0, 0.5]}
    >>> ds = sdplanner.simulate_many(grid, as_xarray=True)  # 6 settings  # doctest: +SKIP
    """
    if isinstance(settings, Mapping):
        settings = _grid(settings)
    settings = list(settings)
    if not settings:
        raise ScenarioError("settings: expected at least one lever setting, found none")
    inputs, info = _inputs(scenario, None, params, model, calibration)
    spec = info.spec
    # Validate every setting as a scenario would, and collect the fields that vary.
    varied: dict[tuple[str, str], np.ndarray] = {}
    resolved = []
    for i, setting in enumerate(settings):
        scen = apply_levers(inputs.scenario, setting, info, where=f"settings[{i}]")
        resolved.append(scen)
        for name in setting:
            for key in _FIELDS:
                varied.setdefault((name, key), np.empty(len(settings)))
    batch: dict[str, np.ndarray] = {}
    coords: dict[str, np.ndarray] = {}
    for (name, key), values in varied.items():
        lever = spec.lever(name)
        for i, scen in enumerate(resolved):
            setting = scen.levers.get(name)
            if setting is not None:
                values[i] = setting.value(key)
            elif key == "strength":
                values[i] = 0.0
            else:
                values[i] = lever.default_start if key == "start" else lever.default_ramp_years
        const = {
            "strength": lever.strength_constant,
            "start": lever.start_constant,
            "ramp_years": lever.ramp_constant,
        }[key]
        batch[const] = values
        if np.ptp(values) > 0 or key == "strength":
            coords[f"{name}.{key}"] = values
    common = {k: v for k, v in inputs.params.items() if k not in batch}
    outputs = _outputs(info, variables if variables is not None else spec.view("headline"))
    out = get_engine("batch", info.path).run_batch(
        common,
        batch,
        final_time=inputs.scenario.final_time,
        variables=required_variables(outputs),
    )
    ds = batch_dataset(out, info, outputs, coords).assign_attrs(scenario=inputs.scenario.name)
    if as_xarray:
        return ds
    frame = dataset_to_frame(ds)
    frame["scenario"] = inputs.scenario.name
    lead = pd.DataFrame({k: v[frame["sample"].to_numpy()] for k, v in coords.items()})
    return pd.concat([frame[["sample"]], lead, frame.drop(columns="sample")], axis=1)
