"""The explorer's requests, independent of HTTP: validate, run the model, build the answers.

`Explorer` holds the model, the fast engine, the scenario folder, the observed points and an
optional ensemble. Each public method takes the decoded JSON body of one request and returns
what the server sends back; every problem with the request raises `RequestError`
(`sdplanner.web.requests`, with the checks of JSON values), whose message names the key that
is wrong, what was expected and what was found, and whose ``status`` is the HTTP status
(always 4xx). The JSON pieces of the answers and the saved files are built by
`sdplanner.web.payload`.

The edited scenario is the starting scenario file with the levers the request sets: a lever
given as a number sets its strength; a lever given as an object sets any of ``strength``
(lever's unit), ``start`` (year) and ``ramp_years`` (year). A field set this way applies to all
14 regions: the starting scenario's per-region overrides of that field are dropped, its other
overrides are kept. Runs use `sdplanner.run.prepare_run`, so the numbers are those that
``sdplanner run`` gives for the saved scenario file with the same parameter file.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sdplanner.display import money_unit
from sdplanner.engine import SimulationOutput, get_engine
from sdplanner.errors import SdplannerError, did_you_mean
from sdplanner.model import ModelInfo, load_model
from sdplanner.resources import default_params_path
from sdplanner.results import required_variables, to_frame
from sdplanner.run import prepare_run
from sdplanner.scenario import MAX_RAMP_YEARS, Scenario, load_scenario
from sdplanner.spec import OutputSpec
from sdplanner.style import OBSERVED_LABELS, scenario_colors
from sdplanner.web.edits import edit_scenario, lever_edits
from sdplanner.web.payload import (
    _display_json,
    _finite_list,
    _lever_json,
    bands_json,
    indicators_json,
    paths_json,
    results_file,
    scenario_file,
    scenarios_json,
)
from sdplanner.web.requests import (
    MAX_BODY_BYTES,
    MAX_DESCRIPTION_CHARS,
    MAX_NAME_CHARS,
    ExplorerError,
    RequestError,
    _check_keys,
    _show,
    _text,
    parse_json_body,
)

__all__ = [
    "MAX_BODY_BYTES",
    "Explorer",
    "ExplorerError",
    "RequestError",
    "parse_json_body",
]

#: Years of the summary table under the chart (year).
SUMMARY_YEARS = (2020, 2030, 2040, 2050)
_RUN_KEYS = ("scenario", "levers", "region", "indicator")
_SAVE_KEYS = (*_RUN_KEYS, "name", "description")
_CACHE_SIZE = 32


# --------------------------------------------------------------------------------------
# Scenario files
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _ScenarioEntry:
    """A scenario file of the folder, loaded (or the reason it cannot be)."""

    file: str
    path: Path | None
    stamp: tuple
    scenario: Scenario | None
    error: str = ""


@dataclass
class _Run:
    """A cached run: the trajectories of every output variable."""

    output: SimulationOutput
    seconds: float


@cache
def _engine(name: str, path: Path, digest: str):
    """One engine per model file content, shared by every explorer of the process."""
    return get_engine(name, path)


class Explorer:
    """The explorer's state and request handling.

    Parameters
    ----------
    scenarios_dir : path-like
        Folder of scenario files (``*.yaml``); the page offers each as a starting scenario.
        ``baseline.yaml`` there, when present, is the baseline drawn on every chart.
    model : path-like or ModelInfo, optional
        The ``.mdl``; the shipped model when omitted.
    params : path-like, False or None
        Parameter file as in `sdplanner.run.prepare_run` (None: the shipped calibrated
        parameters when present; False: the ``.mdl`` defaults).
    engine : {"batch", "pysd"}
        Simulation engine; ``"batch"`` (milliseconds per run) is the one meant for the page.
    observations : path-like, optional
        Observation CSV for the observed points; the shipped ``seed_figures.csv`` by default.
    ensemble : path-like, optional
        ``percentiles.csv`` of ``sdplanner ensemble`` (or its folder) for the bands.

    Raises
    ------
    ExplorerError
        When the scenario folder is missing or holds no scenario file.
    """

    def __init__(
        self,
        scenarios_dir: str | os.PathLike,
        *,
        model: str | os.PathLike | ModelInfo | None = None,
        params: str | os.PathLike | bool | None = None,
        engine: str = "batch",
        observations: str | os.PathLike | None = None,
        ensemble: str | os.PathLike | None = None,
    ) -> None:
        from sdplanner.evidence import read_fit_record
        from sdplanner.readers import read_percentiles
        from sdplanner.web.observed import load_observed_points

        self.scenarios_dir = Path(scenarios_dir)
        if not self.scenarios_dir.is_dir():
            raise ExplorerError(
                f"{self.scenarios_dir}: expected a folder of scenario files, found "
                + ("a file" if self.scenarios_dir.exists() else "nothing")
            )
        self.model = model if isinstance(model, ModelInfo) else load_model(model)
        self.params = params
        self.engine_name = engine
        self.engine = _engine(engine, self.model.path, self.model.sha256)
        self.fit_record = read_fit_record(self._params_files())
        self.observed, self.observed_dropped = load_observed_points(
            self.model, observations, self.fit_record
        )
        self.ensemble_path: Path | None = None
        self.ensemble: pd.DataFrame | None = None
        if ensemble is not None:
            path = Path(ensemble)
            if path.is_dir():
                path = path / "percentiles.csv"
            self.ensemble = read_percentiles(path, self.model.spec)
            self.ensemble_path = path
        self.spec = self.model.spec
        self._outputs = {o.name: o for o in self.spec.outputs}
        self._default_indicator = self.spec.view("headline")[0]
        dim = self.spec.dimension
        self._aggregate = dim.aggregate if dim is not None else ""
        self._aggregate_aliases = dim.aggregate_aliases if dim is not None else ()
        self._variables = required_variables(self.spec.outputs)
        self._entries: dict[str, _ScenarioEntry] = {}
        self._runs: OrderedDict[tuple, _Run] = OrderedDict()
        self._lock = threading.Lock()
        if not self._scan():
            raise ExplorerError(
                f"{self.scenarios_dir}: expected scenario files (*.yaml), found none"
            )
        self.warm_up()

    # ---- scenario files ---------------------------------------------------------------
    def _scan(self) -> list[_ScenarioEntry]:
        """List the folder's scenario files, loading the new or changed ones."""
        files = sorted(
            p for p in self.scenarios_dir.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()
        )
        files.sort(key=lambda p: p.name != "baseline.yaml")
        entries = []
        for path in files:
            try:
                st = path.stat()
            except OSError:
                continue
            stamp = (st.st_mtime_ns, st.st_size)
            entry = self._entries.get(path.name)
            if entry is None or entry.stamp != stamp:
                try:
                    scen = load_scenario(path, self.model)
                    entry = _ScenarioEntry(path.name, path, stamp, scen)
                except SdplannerError as exc:
                    entry = _ScenarioEntry(path.name, path, stamp, None, str(exc))
                self._entries[path.name] = entry
            entries.append(entry)
        self._entries = {e.file: e for e in entries}
        return entries

    def _baseline(self) -> _ScenarioEntry:
        entry = self._entries.get("baseline.yaml")
        if entry is not None and entry.scenario is not None:
            return entry
        return _ScenarioEntry("", None, ("levers off",), Scenario(name="baseline"))

    def _starting(self, value: Any) -> _ScenarioEntry:
        entries = self._scan()
        if not isinstance(value, str):
            raise RequestError(f"scenario: expected a scenario file name, found {_show(value)}")
        files = [e.file for e in entries]
        match = next((e for e in entries if e.file == value), None)
        if match is None:
            match = next((e for e in entries if e.scenario and e.scenario.name == value), None)
        if match is None:
            raise RequestError(
                f"scenario: unknown scenario {_show(value)}{did_you_mean(value, files)}; expected"
                f" one of {', '.join(files)}"
            )
        if match.scenario is None:
            raise RequestError(f"scenario: {match.file} is invalid: {match.error}", status=422)
        return match

    # ---- request fields ---------------------------------------------------------------
    def _edits(self, raw: Any) -> dict[str, dict[str, float]]:
        return lever_edits(raw, self.spec, (self.model.initial_time, self.model.final_time))

    def _region(self, value: Any) -> str:
        if value is None:
            return self._aggregate
        regions = self.model.regions
        options = [self._aggregate, *regions]
        if isinstance(value, str) and value in self._aggregate_aliases:
            return self._aggregate
        if not isinstance(value, str) or value not in options:
            raise RequestError(
                f"region: expected {self._aggregate!r} or one of the {len(regions)} regions,"
                f" found {_show(value)}{did_you_mean(value, options)}"
            )
        return value

    def _indicator(self, value: Any) -> OutputSpec:
        default = self._default_indicator
        if value is None:
            return self._outputs[default]
        if not isinstance(value, str) or value not in self._outputs:
            raise RequestError(
                f"indicator: expected a results variable such as {default!r}, found"
                f" {_show(value)}{did_you_mean(value, self._outputs)}"
            )
        return self._outputs[value]

    def _name(self, value: Any, default: str) -> str:
        if value is None:
            return default
        return _text(value, "name", MAX_NAME_CHARS)

    # ---- scenarios and runs -----------------------------------------------------------
    def edited_scenario(
        self, start: Scenario, edits: Mapping[str, Mapping[str, float]], name: str, description=""
    ) -> Scenario:
        """Return the starting scenario with the edited levers.

        Parameters
        ----------
        start : Scenario
            The starting scenario.
        edits : mapping
            Lever name -> ``{"strength"|"start"|"ramp_years": float}`` (validated).
        name : str
            Name of the edited scenario.
        description : str, optional
            Its description.

        Returns
        -------
        Scenario
            A scenario with no file; its per-region overrides of the edited fields dropped.
        """
        return edit_scenario(start, edits, self.spec, name, description)

    def _params_description(self) -> str:
        if self.params is False:
            return "the .mdl defaults"
        if self.params is None:
            path = default_params_path()
            return str(path) if path is not None else "the .mdl defaults (no calibrated file)"
        return str(self.params)

    def _params_files(self) -> list[Path]:
        """Return the parameter file in use: none, the shipped calibration or the one given."""
        if self.params is False:
            return []
        path = default_params_path() if self.params is None else Path(self.params)
        return [path] if path is not None else []

    def _params_stamp(self) -> tuple:
        """Identify the parameter file's content, so a changed file is not served from cache."""
        for path in self._params_files():
            try:
                st = path.stat()
            except OSError:
                return (str(path), "missing")
            return (str(path), st.st_mtime_ns, st.st_size)
        return ()

    def _run(self, key: tuple, scenario: Scenario) -> tuple[_Run, bool]:
        """Return the run of a scenario, from the cache when the same key ran before."""
        key = (*key, self._params_stamp())
        with self._lock:
            hit = self._runs.get(key)
            if hit is not None:
                self._runs.move_to_end(key)
                return hit, True
            t0 = time.perf_counter()
            inputs = prepare_run(scenario, model=self.model, params=self.params)
            output = self.engine.run(
                inputs.params, final_time=scenario.final_time, variables=self._variables
            )
            run = _Run(output, time.perf_counter() - t0)
            self._runs[key] = run
            while len(self._runs) > _CACHE_SIZE:
                self._runs.popitem(last=False)
            return run, False

    @staticmethod
    def _edits_key(edits: Mapping[str, Mapping[str, float]]) -> tuple:
        return tuple(sorted((k, tuple(sorted(v.items()))) for k, v in edits.items()))

    def _runs_for(self, body: Mapping[str, Any], *, save: bool = False) -> dict[str, Any]:
        _check_keys(body, _SAVE_KEYS if save else _RUN_KEYS)
        if "scenario" not in body:
            raise RequestError("scenario: expected a scenario file name, found none")
        start = self._starting(body["scenario"])
        edits = self._edits(body.get("levers"))
        region = self._region(body.get("region"))
        indicator = self._indicator(body.get("indicator"))
        name = self._name(body.get("name"), f"{start.scenario.name}-edited")
        description = ""
        if body.get("description") is not None:
            description = _text(
                body["description"], "description", MAX_DESCRIPTION_CHARS, empty=True
            )
        edited = self.edited_scenario(start.scenario, edits, name, description)
        return {
            "start": start,
            "edits": edits,
            "region": region,
            "indicator": indicator,
            "edited": edited,
        }

    def _three_runs(self, req: Mapping[str, Any]) -> list[tuple[str, Scenario, _Run, bool]]:
        """Run (or fetch) the baseline, the starting scenario and the edited scenario."""
        base = self._baseline()
        start: _ScenarioEntry = req["start"]
        runs = []
        start_key = ("file", start.file, start.stamp)
        b, b_hit = self._run(("file", base.file, base.stamp), base.scenario)
        runs.append(("baseline", base.scenario, b, b_hit))
        if start.file != base.file:
            s, s_hit = self._run(start_key, start.scenario)
            runs.append(("start", start.scenario, s, s_hit))
        # With no edit the edited scenario runs exactly as its starting file.
        key = (
            start_key if not req["edits"] else ("edited", *start_key, self._edits_key(req["edits"]))
        )
        e, e_hit = self._run(key, req["edited"])
        runs.append(("edited", req["edited"], e, e_hit))
        return runs

    def warm_up(self) -> float:
        """Run the baseline once, so the page's first answer comes from the cache.

        Returns
        -------
        float
            Seconds the run took (0 when it was cached).
        """
        base = self._baseline()
        run, hit = self._run(("file", base.file, base.stamp), base.scenario)
        return 0.0 if hit else run.seconds

    # ---- public API -------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        """Answer ``GET /api/meta``: levers by path, regions, indicators, scenario files.

        Returns
        -------
        dict
            JSON-ready; see ``docs/explorer.md``.
        """
        entries = self._scan()
        base = self._baseline()
        return {
            "model": {
                "path": str(self.model.path),
                "sha256": self.model.sha256,
                "initial_time": self.model.initial_time,
                "final_time": self.model.final_time,
            },
            "engine": self.engine_name,
            "parameters": self._params_description(),
            "observed": {
                "calibration": None if self.fit_record is None else self.fit_record.name,
                "left_out": self.observed_dropped,
                "labels": OBSERVED_LABELS,
            },
            "paths": paths_json(self.spec),
            "regions": [self._aggregate, *self.model.regions],
            "indicators": indicators_json(self.model),
            "default_indicator": self._default_indicator,
            "scenarios": scenarios_json(entries),
            "baseline": base.file or None,
            "ensemble": None
            if self.ensemble is None
            else {
                "path": str(self.ensemble_path),
                "scenarios": sorted(self.ensemble["scenario"].unique().tolist()),
            },
            "cost_display": self._cost_display(),
            "limits": {
                "max_body_bytes": MAX_BODY_BYTES,
                "max_name_chars": MAX_NAME_CHARS,
                "max_ramp_years": MAX_RAMP_YEARS,
            },
        }

    def _cost_display(self) -> dict[str, Any]:
        """How the page shows the cumulative policy cost: billion yuan at constant prices."""
        return {"unit": money_unit("billion yuan", self.spec.price_base), "scale": 1e-9}

    def run(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Answer ``POST /api/run``: the series to draw for one region and indicator.

        Parameters
        ----------
        body : mapping
            ``{"scenario": file, "levers": {...}, "region": name, "indicator": name}``.

        Returns
        -------
        dict
            JSON-ready: ``series`` (baseline, starting scenario when it is not the baseline,
            edited), ``observed``, ``bands`` (or null), ``summary``, ``levers`` and
            ``timing_ms``; values in the indicator's unit.

        Raises
        ------
        RequestError
            For any invalid field.
        """
        t0 = time.perf_counter()
        req = self._runs_for(body)
        runs = self._three_runs(req)
        ov: OutputSpec = req["indicator"]
        region: str = req["region"]
        series = []
        costs = {}
        model_seconds = 0.0
        cost_output = self._outputs.get(self.spec.cumulative_cost or "")
        colors = scenario_colors([scen.name for _, scen, _, _ in runs])
        for role, scen, run, hit in runs:
            same = cost_output is not None and cost_output.name == ov.name
            wanted = [ov, cost_output] if cost_output is not None and not same else [ov]
            years, (values, *rest) = self._series(run.output, wanted, region)
            cost = values if same else rest[0] if rest else np.array([np.nan])
            series.append(
                {
                    "role": role,
                    "name": scen.name,
                    "title": scen.display_title,
                    "color": colors[scen.name],
                    "years": years,
                    "values": _finite_list(values),
                    "cached": hit,
                }
            )
            costs[role] = (years[-1], _finite_list(cost[-1:])[0])
            if not hit:
                model_seconds += run.seconds
        unit = self.model.units(ov.name)
        summary_years = [y for y in SUMMARY_YEARS if y <= series[-1]["years"][-1]]
        summary = []
        for s in series:
            lookup = dict(zip(s["years"], s["values"], strict=True))
            summary.append(
                {
                    "role": s["role"],
                    "name": s["name"],
                    "title": s["title"],
                    "values": [lookup.get(y) for y in summary_years],
                    "final_year": costs[s["role"]][0],
                    "cumulative_policy_cost": costs[s["role"]][1],
                }
            )
        edited: Scenario = req["edited"]
        return {
            "scenario": {"file": req["start"].file, "name": req["start"].scenario.name},
            "edited_name": edited.name,
            "region": region,
            "indicator": ov.name,
            "label": self.model.variables[ov.name].name,
            "unit": unit,
            "display": _display_json(self.spec.display(ov.name, unit)),
            "cost_display": self._cost_display(),
            "series": series,
            "observed": [p.to_json() for p in self.observed.get((ov.name, region), [])],
            "bands": self._bands(req["start"].scenario.name, region, ov.name),
            "summary": {"years": summary_years, "rows": summary, "cost_unit": "yuan"},
            "levers": {k: _lever_json(v) for k, v in edited.levers.items()},
            "timing_ms": {
                "model": round(model_seconds * 1e3, 2),
                "total": round((time.perf_counter() - t0) * 1e3, 2),
            },
        }

    def _series(
        self, output: SimulationOutput, outputs: list[OutputSpec], region: str
    ) -> tuple[list[int], list[np.ndarray]]:
        """Return the saved years and each output's values for one region (or the aggregate)."""
        years = [int(y) for y in np.rint(output.times)]
        if region != self._aggregate:
            j = self.model.regions.index(region)
            return years, [np.asarray(output.values[o.name])[:, j] for o in outputs]
        frame = to_frame(output, self.model, "", outputs=outputs)
        rows = frame[frame.region == self._aggregate]
        return years, [rows.value[rows.variable == o.name].to_numpy(dtype=float) for o in outputs]

    def _bands(self, start_name: str, region: str, variable: str) -> dict[str, Any] | None:
        if self.ensemble is None:
            return None
        frame = self.ensemble
        names = set(frame["scenario"])
        base_name = self._baseline().scenario.name
        chosen = start_name if start_name in names else base_name if base_name in names else None
        if chosen is None:
            return None
        return bands_json(frame, chosen, region, variable)

    def scenario_yaml(self, body: Mapping[str, Any]) -> tuple[str, str]:
        """Answer ``POST /api/scenario``: the edited scenario as a scenario file.

        Parameters
        ----------
        body : mapping
            As for `run`, plus optional ``name`` and ``description``.

        Returns
        -------
        filename : str
            A safe file name (``<name>.yaml``).
        text : str
            YAML (``yaml.safe_dump``) that ``sdplanner run`` accepts unchanged; it extends no
            file, so it can be saved anywhere.
        """
        req = self._runs_for(body, save=True)
        return scenario_file(req["edited"], req["start"].file, self.params, self.model.regions)

    def results_csv(self, body: Mapping[str, Any]) -> tuple[str, str]:
        """Answer ``POST /api/csv``: every results variable of the drawn scenarios as CSV.

        Parameters
        ----------
        body : mapping
            As for `run`, plus an optional ``name`` for the edited scenario.

        Returns
        -------
        filename : str
            ``results-<name>.csv``.
        text : str
            The columns of ``results.csv`` (``scenario, region, variable, year, value,
            unit``) for the baseline, the starting scenario and the edited scenario, floats
            at full precision.
        """
        req = self._runs_for(body, save=True)
        runs = [(scen, run.output) for _, scen, run, _ in self._three_runs(req)]
        return results_file(runs, self.model, req["edited"].name)
