"""JSON pieces of the explorer's answers: levers, displays, number lists, bands, exports.

Each function turns model facts or results into JSON-ready values (or file text) that
`sdplanner.web.explorer` puts into its answers; none reads a request.
"""

from __future__ import annotations

import io
import math
import re
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import yaml

from sdplanner.display import Display
from sdplanner.engine import TimeSeries
from sdplanner.model import ModelInfo
from sdplanner.results import RESULT_COLUMNS, csv_safe, to_frame
from sdplanner.scenario import LeverSetting, Scenario
from sdplanner.spec import ModelSpec
from sdplanner.style import scenario_colors
from sdplanner.web.requests import RequestError

__all__ = [
    "bands_json",
    "indicators_json",
    "paths_json",
    "results_file",
    "scenario_file",
    "scenarios_json",
]


def _lever_json(setting: LeverSetting) -> dict[str, Any]:
    return {
        "strength": setting.strength,
        "start": setting.start,
        "ramp_years": setting.ramp_years,
        "regions": {r: dict(o) for r, o in setting.regions.items()},
    }


def _plain_number(value: float) -> int | float:
    value = float(value)
    return int(value) if value.is_integer() and abs(value) < 1e15 else value


def _display_json(disp: Display) -> dict[str, Any]:
    """How the page shows an indicator: shown value = model value x scale, in ``unit``."""
    return {
        "label": disp.label,
        "unit": disp.unit,
        "scale": disp.scale,
        "delta_unit": disp.delta_unit,
    }


def _finite_list(values: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def paths_json(spec: ModelSpec) -> list[dict[str, Any]]:
    """Return the levers grouped by path, as ``GET /api/meta`` lists them.

    Parameters
    ----------
    spec : ModelSpec
        The model's spec (its paths and levers).

    Returns
    -------
    list of dict
        Per path: ``key, section, title`` and its ``levers`` (name, unit, range in the
        lever's unit, description, cost rule, default start year and ramp in years).
    """
    paths = []
    for key, (section, title) in spec.paths.items():
        levers = [
            {
                "name": lv.name,
                "unit": lv.unit,
                "min": lv.minimum,
                "max": lv.maximum,
                "description": lv.description,
                "cost_rule": lv.cost_rule,
                "default_start": lv.default_start,
                "default_ramp_years": lv.default_ramp_years,
            }
            for lv in spec.levers
            if lv.path == key
        ]
        paths.append({"key": key, "section": section, "title": title, "levers": levers})
    return paths


def indicators_json(model: ModelInfo) -> list[dict[str, Any]]:
    """Return the indicators the page offers, as ``GET /api/meta`` lists them.

    Parameters
    ----------
    model : ModelInfo
        The model (its spec's outputs, their units and comments).

    Returns
    -------
    list of dict
        Per output: ``name, label, unit`` (the model's), ``display`` (shown value = model
        value x scale), ``comment`` and ``aggregate`` (how the regions combine).
    """
    spec = model.spec
    return [
        {
            "name": o.name,
            "label": model.variables[o.name].name,
            "unit": model.units(o.name),
            "display": _display_json(spec.display(o.name, model.units(o.name))),
            "comment": model.variables[o.name].comment,
            "aggregate": {"mean": "weighted mean"}.get(o.aggregate, o.aggregate),
        }
        for o in spec.outputs
    ]


def bands_json(
    frame: pd.DataFrame, scenario: str, region: str, variable: str
) -> dict[str, Any] | None:
    """Return an ensemble's percentiles of one scenario, region and variable.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``percentiles.csv`` (`sdplanner.readers.read_percentiles`; model units).
    scenario, region, variable : str
        What to select.

    Returns
    -------
    dict or None
        ``scenario, years, p05 ... p95`` (model units; null for a non-finite value); None
        when there is no row.
    """
    rows = frame[
        (frame.scenario == scenario) & (frame.region == region) & (frame.variable == variable)
    ].sort_values("year")
    if rows.empty:
        return None
    out: dict[str, Any] = {"scenario": scenario, "years": [int(y) for y in rows.year]}
    for col in ("p05", "p25", "p50", "p75", "p95"):
        out[col] = _finite_list(rows[col].to_numpy(dtype=float))
    return out


def _param_yaml(name: str, value, regions: list[str]) -> Any:
    if isinstance(value, TimeSeries):
        vals = np.asarray(value.values, dtype=float)
        if vals.ndim == 2:
            if not np.all(vals == vals[:, :1]):
                raise RequestError(
                    f"parameters.{name}: a per-region time series cannot be saved", 422
                )
            vals = vals[:, 0]
        return {_plain_number(y): float(v) for y, v in zip(value.years, vals, strict=True)}
    given = getattr(value, "given", None)  # a RegionValues: only the regions the file set
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return float(arr)
    mask = np.ones(arr.shape, dtype=bool) if given is None else np.asarray(given, dtype=bool)
    return {r: float(v) for r, v, keep in zip(regions, arr, mask, strict=True) if keep}


def scenario_file(edited: Scenario, start_file: str, params, regions: list[str]) -> tuple[str, str]:
    """Return an edited scenario as a scenario file ``sdplanner run`` accepts unchanged.

    Parameters
    ----------
    edited : Scenario
        The edited scenario.
    start_file : str
        The file it started from ("" for none), named in the header.
    params : path-like, False or None
        The explorer's parameter file (None: the shipped calibration; False: none).
    regions : list of str
        The model's regions, in order.

    Returns
    -------
    filename : str
        A safe file name (``<name>.yaml``).
    text : str
        A comment header, then YAML (``yaml.safe_dump``); it extends no file.

    Raises
    ------
    RequestError
        (422) For a per-region time series, which a scenario file cannot hold.
    """
    doc: dict[str, Any] = {"name": edited.name}
    if edited.description:
        doc["description"] = edited.description
    if edited.final_time is not None:
        doc["final_time"] = _plain_number(edited.final_time)
    levers: dict[str, Any] = {}
    for lname, setting in edited.levers.items():
        item: dict[str, Any] = {
            "strength": float(setting.strength),
            "start": _plain_number(setting.start),
            "ramp_years": _plain_number(setting.ramp_years),
        }
        if setting.regions:
            item["regions"] = {
                r: {k: float(v) for k, v in o.items()} for r, o in setting.regions.items()
            }
        levers[lname] = item
    doc["levers"] = levers
    doc["parameters"] = {k: _param_yaml(k, v, regions) for k, v in edited.parameters.items()}
    if params is None:
        params_note, flag = "the shipped calibrated parameters when present", ""
    elif params is False:
        params_note, flag = "the .mdl defaults", " --no-params"
    else:
        params_note, flag = str(params), f" --params {params}"
    header = (
        f"# Saved by the sdplanner explorer on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC,"
        f" starting from {start_file or 'no file'}.\n"
        f"# Parameters: {params_note}.\n"
        f"# Run with: sdplanner run THIS_FILE --out DIR{flag}\n"
    )
    text = header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", edited.name).strip(".-") or "scenario"
    return f"{slug[:80]}.yaml", text


def results_file(runs, model: ModelInfo, edited_name: str) -> tuple[str, str]:
    """Return the drawn scenarios' results as the text of a ``results.csv``.

    Parameters
    ----------
    runs : sequence of (Scenario, SimulationOutput)
        The baseline, the starting scenario and the edited scenario, with their runs.
    model : ModelInfo
        The model.
    edited_name : str
        The edited scenario's name (the file name's).

    Returns
    -------
    filename : str
        ``results-<name>.csv``.
    text : str
        Columns ``scenario, region, variable, year, value, unit``; floats at full precision.

    Raises
    ------
    RequestError
        When the edited scenario's name is that of another scenario drawn.
    """
    names = [scen.name for scen, _ in runs]
    if len(set(names)) != len(names):
        raise RequestError(
            f"name: expected a name different from the other scenarios drawn"
            f" ({', '.join(names[:-1])}), found {names[-1]!r}"
        )
    frame = pd.concat(
        [to_frame(output, model, scen.name) for scen, output in runs], ignore_index=True
    )[RESULT_COLUMNS]
    buf = io.StringIO()
    csv_safe(frame).to_csv(buf, index=False)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", edited_name).strip(".-") or "edited"
    return f"results-{slug[:80]}.csv", buf.getvalue()


def scenarios_json(entries) -> list[dict[str, Any]]:
    """Return the scenario files of the folder, as ``GET /api/meta`` lists them.

    Parameters
    ----------
    entries : sequence
        Objects with ``file``, ``error`` and ``scenario`` (a `Scenario` or None when the
        file cannot be loaded).

    Returns
    -------
    list of dict
        Per file: ``file``, ``error`` (null when it loads) and for a loaded scenario its
        name, title, colour (`sdplanner.style.scenario_colors`), description, final time
        and levers.
    """
    colors = scenario_colors([e.scenario.name for e in entries if e.scenario is not None])
    scenarios = []
    for e in entries:
        item: dict[str, Any] = {"file": e.file, "error": e.error or None}
        if e.scenario is not None:
            item.update(
                name=e.scenario.name,
                title=e.scenario.display_title,
                color=colors[e.scenario.name],
                description=e.scenario.description,
                final_time=e.scenario.final_time,
                levers={k: _lever_json(v) for k, v in e.scenario.levers.items()},
            )
        scenarios.append(item)
    return scenarios
