"""The explorer's requests, independent of HTTP: validate, run the model, build the answers.

`Explorer` holds the model, the fast engine, the scenario folder, the observed points and an
optional ensemble. Each public method takes the decoded JSON body of one request and returns
what the server sends back; every problem with the request raises `RequestError`, whose
message names the key that is wrong, what was expected and what was found, and whose
``status`` is the HTTP status (always 4xx).

The edited scenario is the starting scenario file with the levers the request sets: a lever
given as a number sets its strength; a lever given as an object sets any of ``strength``
(lever's unit), ``start`` (year) and ``ramp_years`` (year). A field set this way applies to all
14 regions: the starting scenario's per-region overrides of that field are dropped, its other
overrides are kept. Runs use `sdplanner.run.prepare_run`, so the numbers are those that
``sdplanner run`` gives for the saved scenario file with the same parameter file.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from sdplanner.display import Display, money_unit
from sdplanner.engine import SimulationOutput, TimeSeries, get_engine
from sdplanner.errors import SdplannerError, did_you_mean
from sdplanner.model import ModelInfo, load_model
from sdplanner.resources import default_params_path
from sdplanner.results import RESULT_COLUMNS, csv_safe, required_variables, to_frame
from sdplanner.run import prepare_run
from sdplanner.scenario import MAX_RAMP_YEARS, LeverSetting, Scenario, load_scenario
from sdplanner.spec import LeverSpec, OutputSpec
from sdplanner.style import scenario_colors

__all__ = [
    "MAX_BODY_BYTES",
    "Explorer",
    "ExplorerError",
    "RequestError",
    "parse_json_body",
]

#: Largest request body accepted (bytes); a full request is well under 2 KiB.
MAX_BODY_BYTES = 64 * 1024
#: Longest scenario name or description accepted (characters).
MAX_NAME_CHARS = 100
MAX_DESCRIPTION_CHARS = 2000
#: Years of the summary table under the chart (year).
SUMMARY_YEARS = (2020, 2030, 2040, 2050)
_RUN_KEYS = ("scenario", "levers", "region", "indicator")
_SAVE_KEYS = (*_RUN_KEYS, "name", "description")
_LEVER_FIELDS = ("strength", "start", "ramp_years")
_CACHE_SIZE = 32


class ExplorerError(SdplannerError):
    """The explorer cannot start: a missing scenario folder, a port in use, a bad option."""


class RequestError(ExplorerError):
    """A request the explorer refuses; ``status`` is the HTTP status to answer (4xx).

    Parameters
    ----------
    message : str
        One line: the key, what was expected, what was found.
    status : int, optional
        HTTP status, 400 by default.
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------------------
# Validating JSON values
# --------------------------------------------------------------------------------------
def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _show(value: Any) -> str:
    """Describe a found value briefly (long values are cut, numbers shown as numbers)."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int) and abs(value) > 10**15:
        return "a number too large"
    if isinstance(value, float) and not math.isfinite(value):
        return "a number too large" if math.isinf(value) else "NaN"
    if isinstance(value, int | float):
        return f"{value:g}"
    if isinstance(value, str):
        text = json.dumps(value)
        return text if len(text) <= 60 else text[:57] + '..."'
    return _json_type(value)


def _number(value: Any, where: str, lo: float, hi: float, what: str) -> float:
    """Return a finite number in ``lo..hi`` or raise `RequestError` naming ``where``."""
    expected = f"{what} in {lo:g}..{hi:g}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(f"{where}: expected {expected}, found {_show(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise RequestError(f"{where}: expected {expected}, found a number too large") from None
    if not math.isfinite(number):
        raise RequestError(f"{where}: expected {expected}, found {_show(number)}")
    if not lo <= number <= hi:
        raise RequestError(f"{where}: expected {expected}, found {number:g}")
    return number


def _text(value: Any, where: str, limit: int, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise RequestError(f"{where}: expected a string, found {_show(value)}")
    text = value.strip()
    if not text and not empty:
        raise RequestError(f"{where}: expected a non-empty string, found {_show(value)}")
    if len(text) > limit:
        raise RequestError(f"{where}: expected at most {limit} characters, found {len(text)}")
    if any(ord(c) < 32 and c not in "\n\t" for c in text):
        raise RequestError(f"{where}: expected printable text, found control characters")
    return text


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """Decode a request body that must be one JSON object.

    Parameters
    ----------
    raw : bytes
        The body as received (at most `MAX_BODY_BYTES`).

    Returns
    -------
    dict
        The object.

    Raises
    ------
    RequestError
        For bytes that are not UTF-8, malformed JSON, ``NaN``/``Infinity``, nesting too
        deep, or a value that is not an object.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(
            f"request body: expected UTF-8 JSON, found an undecodable byte at position {exc.start}"
        ) from None

    def refuse(name: str):
        raise RequestError(f"request body: expected finite numbers, found {name}")

    try:
        data = json.loads(text, parse_constant=refuse)
    except json.JSONDecodeError as exc:
        raise RequestError(
            f"request body: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise RequestError(
            "request body: expected JSON nested a few levels, found deeper"
        ) from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise RequestError(f"request body: expected JSON numbers, found {exc}") from None
    if not isinstance(data, dict):
        raise RequestError(f"request body: expected a JSON object, found {_json_type(data)}")
    return data


def _key(name: str) -> str:
    """Return a key as a message shows it: cut when long."""
    return name if len(name) <= 40 else name[:37] + "..."


def _check_keys(body: Mapping, allowed: tuple[str, ...], where: str = "request") -> None:
    for key in body:
        if key not in allowed:
            raise RequestError(
                f"{where}: unknown key {_key(key)!r}{did_you_mean(key, allowed)}; expected"
                f" {', '.join(allowed)}"
            )


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
        self.observed = load_observed_points(self.model, observations)
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
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise RequestError(
                "levers: expected an object of lever name -> strength or"
                f" {{strength, start, ramp_years}}, found {_json_type(raw)}"
            )
        names = [lv.name for lv in self.spec.levers]
        edits: dict[str, dict[str, float]] = {}
        for name, value in raw.items():
            where = f"levers.{_key(name)}"
            lever = self.spec.lever(name) if isinstance(name, str) else None
            if lever is None:
                raise RequestError(
                    f"{where}: unknown lever{did_you_mean(name, names)}; expected one of"
                    f" {', '.join(names)}"
                )
            if isinstance(value, dict):
                if "regions" in value:
                    raise RequestError(
                        f"{where}.regions: per-region settings are not edited in the explorer;"
                        " expected strength, start, ramp_years (edit the scenario file instead)"
                    )
                _check_keys(value, _LEVER_FIELDS, where)
                fields = dict(value)
            else:
                fields = {"strength": value}
            edits[name] = self._lever_fields(lever, fields, where)
        return edits

    def _lever_fields(self, lever: LeverSpec, fields: Mapping, where: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, value in fields.items():
            w = f"{where}.{key}" if len(fields) > 1 or key != "strength" else where
            if key == "strength":
                out[key] = _number(
                    value, w, lever.minimum, lever.maximum, f"a strength ({lever.unit})"
                )
            elif key == "start":
                out[key] = _number(
                    value, w, self.model.initial_time, self.model.final_time, "a start year"
                )
            else:
                out[key] = _number(value, w, 0.0, MAX_RAMP_YEARS, "a ramp length (years)")
        return out

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
        levers = dict(start.levers)
        for lname, fields in edits.items():
            lever = self.spec.lever(lname)
            base = levers.get(lname)
            if base is None:
                base = LeverSetting(
                    lname,
                    max(0.0, lever.minimum),
                    float(lever.default_start),
                    float(lever.default_ramp_years),
                )
            regions = {}
            for region, override in base.regions.items():
                kept = {k: v for k, v in override.items() if k not in fields}
                if kept:
                    regions[region] = kept
            levers[lname] = replace(base, **fields, regions=regions)
        if not description:
            changes = "; ".join(
                f"{k} " + ", ".join(f"{f} {v:g}" for f, v in fields.items())
                for k, fields in edits.items()
            )
            origin = f"{start.name} ({start.path.name})" if start.path else start.name
            description = f"Edited in the sdplanner explorer from {origin}" + (
                f": {changes}." if changes else " with no change."
            )
        return replace(
            start,
            name=name,
            title="",
            description=description,
            path=None,
            files=(),
            levers=levers,
        )

    def _params_description(self) -> str:
        if self.params is False:
            return "the .mdl defaults"
        if self.params is None:
            path = default_params_path()
            return str(path) if path is not None else "the .mdl defaults (no calibrated file)"
        return str(self.params)

    def _params_stamp(self) -> tuple:
        """Identify the parameter file's content, so a changed file is not served from cache."""
        if self.params is False:
            return ()
        path = default_params_path() if self.params is None else Path(self.params)
        try:
            st = path.stat() if path is not None else None
        except OSError:
            return (str(path), "missing")
        return (str(path), st.st_mtime_ns, st.st_size) if st is not None else ()

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
        paths = []
        for key, (section, title) in self.spec.paths.items():
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
                for lv in self.spec.levers
                if lv.path == key
            ]
            paths.append({"key": key, "section": section, "title": title, "levers": levers})
        indicators = [
            {
                "name": o.name,
                "label": self.model.variables[o.name].name,
                "unit": self.model.units(o.name),
                "display": _display_json(self.spec.display(o.name, self.model.units(o.name))),
                "comment": self.model.variables[o.name].comment,
                "aggregate": {"mean": "weighted mean"}.get(o.aggregate, o.aggregate),
            }
            for o in self.spec.outputs
        ]
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
            "paths": paths,
            "regions": [self._aggregate, *self.model.regions],
            "indicators": indicators,
            "default_indicator": self._default_indicator,
            "scenarios": scenarios,
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
        rows = frame[
            (frame.scenario == chosen) & (frame.region == region) & (frame.variable == variable)
        ].sort_values("year")
        if rows.empty:
            return None
        out: dict[str, Any] = {"scenario": chosen, "years": [int(y) for y in rows.year]}
        for col in ("p05", "p25", "p50", "p75", "p95"):
            out[col] = _finite_list(rows[col].to_numpy(dtype=float))
        return out

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
        edited: Scenario = req["edited"]
        start: _ScenarioEntry = req["start"]
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
        doc["parameters"] = {k: self._param_yaml(k, v) for k, v in edited.parameters.items()}
        if self.params is None:
            params_note, flag = "the shipped calibrated parameters when present", ""
        elif self.params is False:
            params_note, flag = "the .mdl defaults", " --no-params"
        else:
            params_note, flag = str(self.params), f" --params {self.params}"
        header = (
            f"# Saved by the sdplanner explorer on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC,"
            f" starting from {start.file or 'no file'}.\n"
            f"# Parameters: {params_note}.\n"
            f"# Run with: sdplanner run THIS_FILE --out DIR{flag}\n"
        )
        text = header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", edited.name).strip(".-") or "scenario"
        return f"{slug[:80]}.yaml", text

    def _param_yaml(self, name: str, value) -> Any:
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
        return {
            r: float(v) for r, v, keep in zip(self.model.regions, arr, mask, strict=True) if keep
        }

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
        runs = self._three_runs(req)
        names = [scen.name for _, scen, _, _ in runs]
        if len(set(names)) != len(names):
            raise RequestError(
                f"name: expected a name different from the other scenarios drawn"
                f" ({', '.join(names[:-1])}), found {names[-1]!r}"
            )
        frame = pd.concat(
            [to_frame(run.output, self.model, scen.name) for _, scen, run, _ in runs],
            ignore_index=True,
        )[RESULT_COLUMNS]
        buf = io.StringIO()
        csv_safe(frame).to_csv(buf, index=False)
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", req["edited"].name).strip(".-") or "edited"
        return f"results-{slug[:80]}.csv", buf.getvalue()
