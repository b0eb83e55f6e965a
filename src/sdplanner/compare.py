"""Compare scenarios: validate them, run them with one engine, compare with the baseline.

`compare_scenarios` is the one-call verb: validate every scenario (`prepare_comparison`),
run them all with one engine (`run_comparison`) and compare (`compare_results`). The
comparison itself is computed in `sdplanner.comparison` (the table ``comparison.csv`` and
its columns, changes over time, present values) and formatted for people in
`sdplanner.summary` (the printed summary, ``regions.csv``); their names are importable from
here too. Nothing here plots or writes files.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sdplanner.comparison import (
    COMPARISON_COLUMNS,
    compare_results,
    present_values,
    trajectory_changes,
)
from sdplanner.errors import ScenarioError, quote
from sdplanner.model import ModelInfo, load_model
from sdplanner.results import required_variables, to_frame
from sdplanner.run import RunInputs, prepare_run
from sdplanner.scenario import Scenario, load_scenario
from sdplanner.summary import (
    LEVEL_ROW,
    SUMMARY_WIDTH,
    format_summary,
    region_table,
    scenario_title_of,
    summary_table,
)

__all__ = [
    "COMPARISON_COLUMNS",
    "LEVEL_ROW",
    "SUMMARY_WIDTH",
    "ComparisonResult",
    "compare_results",
    "compare_scenarios",
    "format_summary",
    "prepare_comparison",
    "present_values",
    "region_table",
    "run_comparison",
    "scenario_title_of",
    "summary_table",
    "trajectory_changes",
]


@dataclass(frozen=True)
class ComparisonResult:
    """The outcome of `compare_scenarios`.

    Attributes
    ----------
    results : pandas.DataFrame
        Tidy results of every scenario (columns of `sdplanner.results.RESULT_COLUMNS`).
    comparison : pandas.DataFrame
        From `compare_results` (columns `COMPARISON_COLUMNS`).
    baseline : str
        Name of the baseline (the first scenario).
    inputs : tuple of RunInputs
        The validated runs, in the order given.
    engine : str
        Engine used (``"batch"`` or ``"pysd"``).
    """

    results: pd.DataFrame
    comparison: pd.DataFrame
    baseline: str
    inputs: tuple[RunInputs, ...]
    engine: str

    @property
    def scenarios(self) -> list[str]:
        """Scenario names, baseline first."""
        return [i.scenario.name for i in self.inputs]

    @property
    def titles(self) -> dict[str, str]:
        """Scenario name -> title (the name when the file has no ``title``)."""
        return {i.scenario.name: i.scenario.display_title for i in self.inputs}

    def summary(self, **kwargs) -> pd.DataFrame:
        """Return the aggregate's `summary_table` (keyword arguments passed on)."""
        units = dict(zip(self.results["variable"], self.results.get("unit", ""), strict=False))
        spec = self.inputs[0].model.spec
        return summary_table(self.comparison, spec, units=units, **kwargs)


def prepare_comparison(
    scenarios: Sequence[str | os.PathLike | Scenario],
    *,
    model: str | os.PathLike | ModelInfo | None = None,
    params: str | os.PathLike | bool | None = None,
) -> tuple[RunInputs, ...]:
    """Validate every scenario of a comparison without simulating.

    Parameters
    ----------
    scenarios : sequence of path-like or Scenario
        Two or more scenarios; the first is the baseline.
    model : path-like or ModelInfo, optional
        The ``.mdl``; the shipped model when omitted.
    params : path-like, False or None
        Parameter file under every scenario; None uses the shipped calibrated parameters when
        present, False the ``.mdl`` defaults.

    Returns
    -------
    tuple of RunInputs
        One per scenario, in order.

    Raises
    ------
    ScenarioError
        When fewer than two scenarios are given, a scenario is invalid, or two scenarios have
        the same name (names are the ``scenario`` column and must be unique).
    """
    scenarios = list(scenarios)
    if len(scenarios) < 2:
        raise ScenarioError(
            "compare: expected at least two scenarios (the baseline first, then those to"
            f" compare with it), found {len(scenarios)}"
        )
    info = model if isinstance(model, ModelInfo) else load_model(model)
    loaded = [s if isinstance(s, Scenario) else load_scenario(s, info) for s in scenarios]
    seen: dict[str, Scenario] = {}
    for scen in loaded:
        if scen.name in seen:
            first = seen[scen.name]
            where = str(scen.path) if scen.path is not None else "scenario"
            other = str(first.path) if first.path is not None else "another scenario"
            same = (
                scen.path is not None
                and first.path is not None
                and Path(scen.path).resolve() == Path(first.path).resolve()
            )
            what = "is given twice" if same else f"is also the name of {other}"
            raise ScenarioError(
                f"{where}: name: {quote(scen.name)} {what}; scenario names must be unique in one"
                " comparison"
            )
        seen[scen.name] = scen
    return tuple(prepare_run(s, model=info, params=params) for s in loaded)


def _default_engine() -> str:
    try:
        import sdplanner.engine.batch  # noqa: F401
    except ImportError:
        return "pysd"
    return "batch"


def run_comparison(inputs: Sequence[RunInputs], *, engine: str | None = None) -> pd.DataFrame:
    """Simulate validated scenarios with one engine and stack their results.

    Parameters
    ----------
    inputs : sequence of RunInputs
        From `prepare_comparison` (all for the same model).
    engine : {"batch", "pysd"}, optional
        Simulation engine; the batch engine when available, else PySD.

    Returns
    -------
    pandas.DataFrame
        Tidy results of every scenario, in order (see `sdplanner.results`).
    """
    from sdplanner.engine import get_engine

    if not inputs:
        return pd.DataFrame()
    engine = engine or _default_engine()
    model = inputs[0].model
    eng = get_engine(engine, model.path)
    variables = required_variables(model.spec.outputs)
    frames = []
    for item in inputs:
        output = eng.run(item.params, final_time=item.scenario.final_time, variables=variables)
        frames.append(to_frame(output, item.model, item.scenario.name))
    return pd.concat(frames, ignore_index=True)


def compare_scenarios(
    scenarios: Sequence[str | os.PathLike | Scenario],
    *,
    model: str | os.PathLike | ModelInfo | None = None,
    params: str | os.PathLike | bool | None = None,
    engine: str | None = None,
    indicators: Sequence[str] | None = None,
    years: Sequence[int] | None = None,
) -> ComparisonResult:
    """Run scenarios and compare each with the first (the baseline).

    Parameters
    ----------
    scenarios : sequence of path-like or Scenario
        Two or more scenario files (or loaded scenarios); the first is the baseline.
    model : path-like or ModelInfo, optional
        The ``.mdl``; the shipped model when omitted.
    params : path-like, False or None
        Parameter file under every scenario; None uses the shipped calibrated parameters
        when present, False the ``.mdl`` defaults.
    engine : {"batch", "pysd"}, optional
        Simulation engine; the batch engine when available, else PySD.
    indicators : sequence of str, optional
        Variables compared; the model spec's ``comparison`` view by default.
    years : sequence of int, optional
        Years compared; the model spec's comparison years by default.

    Returns
    -------
    ComparisonResult
        Results of every scenario, the comparison table and the validated inputs.

    Raises
    ------
    ScenarioError
        When a scenario is invalid or two share a name (checked before anything runs).

    Examples
    --------
    >>> from sdplanner import compare_scenarios
    >>> res = compare_scenarios(["scenarios/baseline.yaml", "scenarios/all-five.yaml"])
    >>> res.summary()  # doctest: +SKIP
    """
    inputs = prepare_comparison(scenarios, model=model, params=params)
    engine = engine or _default_engine()
    results = run_comparison(inputs, engine=engine)
    baseline = inputs[0].scenario.name
    spec = inputs[0].model.spec
    comparison = compare_results(
        results,
        baseline=baseline,
        indicators=spec.view("comparison") if indicators is None else indicators,
        years=spec.comparison_years if years is None else years,
        cost_variable=spec.cumulative_cost,
    )
    return ComparisonResult(results, comparison, baseline, inputs, engine)
