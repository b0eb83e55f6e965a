"""Every figure a reader gets, on the shipped scenarios: readable, and one colour per scenario.

One comparison of the shipped scenarios (batch engine, calibrated parameters) feeds the
figures of ``compare`` and ``report`` (`sdplanner.figures.comparison_figures`); the fan and
Sobol charts of ``ensemble`` and ``sensitivity`` are drawn from tables of their formats. Each
figure passes `tests.figure_checks.check_figure`, and a scenario's colour is the same in every
figure and on the explorer's page. Also here: the scenario ``title`` key, the NetCDF and Excel
tables of ``run``, and the warning of a Sobol analysis with too few samples.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.colors import to_hex

from sdplanner.cli import main
from sdplanner.compare import compare_scenarios
from sdplanner.display import format_number
from sdplanner.ensemble_plots import fan_chart, sobol_chart
from sdplanner.errors import ScenarioError
from sdplanner.figures import comparison_figures
from sdplanner.plots import observed_points
from sdplanner.readers import read_observed
from sdplanner.scenario import load_scenario
from sdplanner.style import BASELINE_COLOR, scenario_colors
from sdplanner.tables import dataset_to_frame
from sdplanner.web.explorer import Explorer
from tests.figure_checks import check_figure
from tests.shipped import AGGREGATE, MODEL, SPEC

from .conftest import DATA, SCENARIOS

NAMES = [
    "baseline",
    "path-4.1-urban-layout",
    "path-4.3-infrastructure",
    "path-targeted-poverty-alleviation",
    "all-five",
]


@pytest.fixture(scope="module")
def compared():
    return compare_scenarios([SCENARIOS / f"{n}.yaml" for n in NAMES], engine="batch")


@pytest.fixture(scope="module")
def figures(compared):
    observed = observed_points(read_observed(DATA / "seed_figures.csv"), SPEC.dimension)
    return comparison_figures(
        compared.results,
        compared.comparison,
        SPEC,
        baseline=compared.baseline,
        titles=compared.titles,
        observed=observed,
        since=2010,
    )


def _bar_colors(ax) -> dict[str, str]:
    """Tick label (a scenario's title) -> colour of its bar."""
    labels = [t.get_text().replace("\n", " ") for t in ax.get_yticklabels()]
    ys = list(ax.get_yticks())
    out = {}
    for patch in ax.patches:
        y = patch.get_y() + patch.get_height() / 2
        k = min(range(len(ys)), key=lambda i: abs(ys[i] - y))
        out[labels[k]] = to_hex(patch.get_facecolor(), keep_alpha=False)
    return out


def test_every_comparison_figure_is_readable(compared, figures):
    titles = compared.titles
    expected = {f"trajectory_{v}" for v in SPEC.view("report")}
    expected |= {f"{SPEC.view('headline')[0]}_by_region", "poverty"}
    expected |= {f"effect_per_cost_{y}" for y in SPEC.summary_years}
    assert set(figures) == expected
    for stem, (fig, _axes) in figures.items():
        names = [titles[n] for n in NAMES] if stem.startswith("trajectory_") else []
        colors = check_figure(fig, names=names)
        assert not any(n in colors for n in NAMES if n != "baseline"), stem  # titles only


def test_a_scenario_has_one_colour_in_every_figure(compared, figures):
    titles = compared.titles
    want = {titles[n]: c for n, c in scenario_colors(NAMES).items()}
    assert want[titles["baseline"]] == BASELINE_COLOR
    assert len(set(want.values())) == len(want)  # told apart
    seen = 0
    for stem, (fig, axes) in figures.items():
        found = check_figure(fig)
        if stem.startswith("effect_per_cost_"):
            for ax in np.ravel(axes)[:2]:
                found.update(_bar_colors(ax))
        for title, color in found.items():
            if title in want:
                assert color == want[title], (stem, title)
                seen += 1
    assert seen > 30
    # an ensemble's fan chart of one scenario
    pct = compared.results[compared.results.scenario == "all-five"].assign(
        p05=lambda f: f.value * 0.9,
        p25=lambda f: f.value * 0.95,
        p50=lambda f: f.value,
        p75=lambda f: f.value * 1.05,
        p95=lambda f: f.value * 1.1,
    )
    fig, _ = fan_chart(pct, "urbanization_rate", SPEC, titles=titles)
    fan = check_figure(fig, names=["All five paths: median"])
    assert fan["All five paths: median"] == want["All five paths"]
    # the explorer's page gets the same colours
    explorer = Explorer(SCENARIOS, model=MODEL)
    page = {s["name"]: s["color"] for s in explorer.meta()["scenarios"] if s.get("name")}
    for name in NAMES:
        assert page[name] == want[titles[name]]


def test_trajectory_marks_the_policy_start_and_the_change(figures):
    _fig, axes = figures["trajectory_urbanization_rate"]
    levels, change = axes
    assert f"policy start {SPEC.policy_start}" in " ".join(
        t.get_text().strip() for t in levels.texts
    )
    assert change.get_title().startswith("Change against Baseline")
    assert change.get_ylabel() == "change, percentage points"
    # the change panel is the level panel's difference: all five paths in 2030
    lines = {ln.get_label(): ln for ln in levels.lines}
    deltas = {ln.get_label(): ln for ln in change.lines}
    base = dict(zip(*lines["Baseline (no new policy)"].get_data(), strict=True))
    five = dict(zip(*lines["All five paths"].get_data(), strict=True))
    d = dict(zip(*deltas["All five paths"].get_data(), strict=True))
    assert d[2030] == pytest.approx(five[2030] - base[2030], abs=1e-9)


def test_effect_per_cost_states_the_cost_in_one_unit_per_panel(figures, compared):
    _fig, axes = figures["effect_per_cost_2050"]
    cost_ax = np.ravel(axes)[0]
    assert "2010-2050" in cost_ax.get_title()
    comp = compared.comparison
    five = comp[(comp.scenario == "all-five") & (comp.region == AGGREGATE) & (comp.year == 2050)]
    spent = float(five.cumulative_cost_billion_yuan.iloc[0])
    assert f"{spent:,.0f}" in [t.get_text().strip() for t in cost_ax.texts]
    for ax in np.ravel(axes)[1:]:
        if ax.axison:
            assert ax.get_xlabel().replace("\n", " ").count(" per 100 billion yuan") == 1


def test_fan_chart_draws_the_aggregate_by_default():
    frame = pd.DataFrame(
        {
            "scenario": "baseline",
            "region": [AGGREGATE] * 3 + ["Tibet"] * 3,
            "variable": "rural_poor_population",
            "year": [2010, 2030, 2050] * 2,
            "p05": 1e6,
            "p25": 2e6,
            "p50": 3e6,
            "p75": 4e6,
            "p95": 5e6,
        }
    )
    fig, axes = fan_chart(frame, "rural_poor_population", SPEC, titles={"baseline": "Baseline"})
    check_figure(fig, names=["Baseline: median"])
    assert len(axes) == 1 and axes[0].get_ylabel().endswith("(million people)")
    assert list(axes[0].lines[-1].get_ydata()) == [3.0, 3.0, 3.0]  # millions


def test_sobol_chart_shows_intervals_and_says_when_samples_are_too_few():
    rows = []
    for year in (2030, 2050):
        for k, param in enumerate(("base_return_rate", "farm_income_share")):
            rows.append(("urbanization_rate", AGGREGATE, year, param, 0.5 - k, 0.4, 0.6, 0.3))
    frame = pd.DataFrame(
        rows, columns=["variable", "region", "year", "parameter", "S1", "S1_conf", "ST", "ST_conf"]
    )
    fig, axes = sobol_chart(frame, "urbanization_rate", SPEC, base_samples=64)
    check_figure(fig)
    assert "N = 64" in fig.get_suptitle() and "too few samples" in fig.get_suptitle()
    assert axes[0].get_xlim() == (-0.25, 1.25)
    kinds = [type(c).__name__ for c in axes[0].containers]
    assert kinds.count("BarContainer") == 2 == kinds.count("ErrorbarContainer")  # S1, ST
    narrow = frame.assign(S1_conf=0.01, ST_conf=0.02)
    fig, _ = sobol_chart(narrow, "urbanization_rate", SPEC, base_samples=4096)
    assert "too few" not in fig.get_suptitle()


def test_sensitivity_with_few_samples_warns(tmp_path):
    out = io.StringIO()
    argv = ["sensitivity", str(SCENARIOS / "baseline.yaml"), "--samples", "8", "--seed", "1"]
    argv += ["--uncertainty", str(SCENARIOS.parent / "uncertainty" / "default.yaml")]
    argv += ["--out", str(tmp_path / "s"), "--quiet", "--outputs", "urbanization_rate"]
    argv += ["--years", "2030"]
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    text = out.getvalue()
    assert "warning: N = 8 base samples is too few" in text
    assert "bootstrap intervals" in text


def test_run_netcdf_and_excel_hold_the_csv_values(tmp_path, capsys):
    nc_dir, xl_dir = tmp_path / "nc", tmp_path / "xl"
    scen = str(SCENARIOS / "path-4.3-infrastructure.yaml")
    assert main(["run", scen, "--out", str(nc_dir), "--table-format", "netcdf"]) == 0
    assert main(["run", scen, "--out", str(xl_dir), "--table-format", "xlsx"]) == 0
    text = capsys.readouterr().out
    assert "4.3 Infrastructure" in text
    table = [line for line in text.splitlines() if str(tmp_path) not in line]  # not paths
    assert max(len(line) for line in table) <= 100
    assert "yuan (2010 prices) per person per year" in text
    csv = pd.read_csv(nc_dir / "results.csv", keep_default_na=False, float_precision="round_trip")
    with xr.open_dataset(nc_dir / "results.nc") as ds:
        assert ds["urbanization_rate"].attrs["units"] == "Dmnl"
        assert ds["urbanization_rate"].dims == ("scenario", "region", "year")
        back = dataset_to_frame(ds.load())
    key = ["scenario", "region", "variable", "year"]
    merged = csv.merge(back, on=key, suffixes=("", "_nc"), validate="one_to_one")
    assert len(merged) == len(csv) == len(back)
    assert (merged["value"] == merged["value_nc"]).all()  # float64 both ways: exact
    book = pd.read_excel(xl_dir / "tables.xlsx", sheet_name="results")
    one = book[(book.region == AGGREGATE) & (book.variable == "urbanization_rate")]
    want = csv[(csv.region == AGGREGATE) & (csv.variable == "urbanization_rate")]
    assert float(one[2030].iloc[0]) == pytest.approx(float(want[want.year == 2030].value.iloc[0]))


def test_scenario_title_key(tmp_path):
    scen = load_scenario(SCENARIOS / "all-five.yaml", MODEL)
    assert scen.title == "All five paths" and scen.display_title == "All five paths"
    plain = tmp_path / "plain.yaml"
    plain.write_text("name: plain\nlevers: {}\n")
    assert load_scenario(plain, MODEL).display_title == "plain"
    child = tmp_path / "child.yaml"
    child.write_text("name: child\nextends: all-five.yaml\n")
    child.with_name("all-five.yaml").write_text((SCENARIOS / "all-five.yaml").read_text())
    assert load_scenario(child, MODEL).title == ""  # a title is not inherited
    for bad, words in (
        ("title: [a, b]", "title: expected text, found a list"),
        ("title: " + "x" * 61, "at most 60 printable characters"),
        ('title: "a\\tb"', "at most 60 printable characters"),
    ):
        path = tmp_path / "bad.yaml"
        path.write_text(f"name: bad\n{bad}\n")
        with pytest.raises(ScenarioError, match=words):
            load_scenario(path, MODEL)


@pytest.mark.parametrize(
    ("value", "signed", "text"),
    [
        (4.899e12, False, "4,899,000,000,000"),
        (9665.4, False, "9,665"),
        (0.4478, True, "+0.448"),
        (-1.05, True, "-1.05"),
        (-0.000892, True, "-0.000892"),
        (0.0, True, "0"),
        (float("nan"), False, "n/a"),
    ],
)
def test_format_number(value, signed, text):
    assert format_number(value, signed=signed) == text


def test_report_calibration_figures_are_readable():
    from sdplanner.report import fit_figure, intervals_figure

    observations = pd.DataFrame(
        {
            "indicator": ["urbanization_rate", "poverty_incidence"],
            "area": ["Wulingshan", "14 regions"],
            "year": [2010, 2012],
            "observed": [0.3188, 0.244],
            "sigma": [0.01, 0.02],
            "simulated": [0.32, 0.25],
        }
    )
    parameters = pd.DataFrame(
        {
            "parameter": ["base_return_rate", "farm_income_share"],
            "region": ["", "Tibet"],
            "estimate": [0.05, 0.31],
            "lower_95": [0.04, 0.25],
            "upper_95": [0.07, 0.36],
        }
    )
    for fig in (fit_figure(observations), intervals_figure(parameters)):
        check_figure(fig)


def test_compare_draws_bands_given(tmp_path, capsys):
    pct = pd.DataFrame(
        {
            "scenario": "all-five",
            "region": AGGREGATE,
            "variable": "urbanization_rate",
            "year": range(2010, 2051),
            "p05": 0.2,
            "p25": 0.3,
            "p50": 0.4,
            "p75": 0.5,
            "p95": 0.6,
        }
    )
    pct.to_csv(tmp_path / "percentiles.csv", index=False)
    out = tmp_path / "cmp"
    argv = ["compare", str(SCENARIOS / "baseline.yaml"), str(SCENARIOS / "all-five.yaml")]
    argv += ["--out", str(out), "--bands", str(tmp_path / "percentiles.csv")]
    assert main(argv) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [Path(f["path"]).name for f in manifest["inputs"]["bands"]] == ["percentiles.csv"]
    bad = tmp_path / "bad.csv"
    bad.write_text("scenario,region,variable,year,p05\nx,y,z,2010,1\n")
    assert main([*argv[:-1], str(bad), "--out", str(tmp_path / "o2")]) == 2
    assert "missing ['p25'" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()
