"""Figures: units on the axes, change panels, legends that name the scenarios by title,
observed points converted from percent, the three file formats, and `sdplanner plot`'s errors.

The figures are drawn from small synthetic tables with known numbers (no simulation); every
figure passes `tests.figure_checks.check_figure`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sdplanner.cli import main
from sdplanner.compare import compare_results, trajectory_changes
from sdplanner.errors import DataError
from sdplanner.evidence import observed_points
from sdplanner.plots import (
    plot_effect_per_cost,
    plot_projection,
    plot_regional,
    render,
)
from sdplanner.readers import read_observed
from sdplanner.style import BASELINE_COLOR, scenario_colors
from tests.figure_checks import check_figure
from tests.shipped import AGGREGATE, REGIONS, SPEC

from .conftest import DATA

SCENARIOS = ["baseline", "more-towns", "no-cost"]
TITLES = {"baseline": "Baseline", "more-towns": "More towns", "no-cost": "No cost"}
YEARS = np.arange(2010, 2051)


def _by_label(ax, label: str):
    """The line of an axes drawn with that label."""
    return next(line for line in ax.lines if line.get_label() == label)


MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-", "svg": b"<svg"}


@pytest.fixture(scope="module")
def results():
    """Urbanization rising 1 point a year from 25 % (+2 points for more-towns after 2015)."""
    rows = []
    for k, scen in enumerate(SCENARIOS):
        for j, region in enumerate([*REGIONS, AGGREGATE]):
            extra = 0.02 if scen == "more-towns" else 0.0
            for year in YEARS:
                after = year > 2015
                urb = 0.25 + 0.001 * j + 0.01 * (year - 2010) + extra * after
                cost = 1e9 * (year - 2015) * after if scen == "more-towns" else 0.0
                rows += [
                    (scen, region, "urbanization_rate", year, urb, "Dmnl"),
                    (scen, region, "migrant_workers_outside", year, 5e6 - 1e5 * k, "person"),
                    (scen, region, "cumulative_policy_cost", year, cost, "yuan"),
                ]
    return pd.DataFrame(rows, columns=["scenario", "region", "variable", "year", "value", "unit"])


@pytest.fixture(scope="module")
def observed():
    raw = pd.DataFrame(
        {
            "indicator": ["urbanization_rate"] * 4 + ["migrant_workers_outside", "poverty"],
            "area": ["Liupanshan", "Tibet", "Tibet", "14 regions", "Enshi", "All 14 regions"],
            "area_type": ["region", "region", "province", "aggregate", "prefecture", "aggregate"],
            "year": [2011, 2011, 2011, 2012, 2009, 2012],
            "value": ["28.72", "23.79", "23.80", "30.0", "137000", ""],
            "unit": ["percent", "percent", "percent", "%", "people", "percent"],
        }
    )
    return observed_points(raw, SPEC.dimension)


def test_observed_percent_becomes_fraction(observed):
    rows = {(r.indicator, r.region, r.year): r.value for r in observed.itertuples()}
    assert rows[("urbanization_rate", "Liupanshan", 2011)] == pytest.approx(0.2872)
    assert rows[("urbanization_rate", "Tibet", 2011)] == pytest.approx(0.2379)  # not the province
    assert rows[("urbanization_rate", AGGREGATE, 2012)] == pytest.approx(0.30)  # alias, '%'
    assert len(rows) == 3  # the prefecture and the empty value are left out


def test_observed_keeps_non_percent_units():
    raw = pd.DataFrame(
        {
            "indicator": ["rural_income_per_capita", "telephones_per_100_people"],
            "area": ["14 regions", "Wulingshan"],
            "year": [2012, 2012],
            "value": ["4839", "56.0"],
            "unit": ["yuan/person/year", "per 100 people"],
        }
    )
    out = observed_points(raw, SPEC.dimension)
    assert out["value"].tolist() == [4839.0, 56.0]
    assert out["region"].tolist() == [AGGREGATE, "Wulingshan"]


def test_shipped_seed_figures_convert(tmp_path):
    obs = observed_points(read_observed(DATA / "seed_figures.csv"), SPEC.dimension)
    # Table 1's 13 urbanization rates of 2010 are model inputs: reproduced by construction,
    # never drawn as evidence (and the seed has no other region or aggregate rate)
    assert obs[obs["indicator"] == "urbanization_rate"].empty
    assert set(obs["role"]) == {"not fitted"}  # no calibration given
    pov = obs[obs["indicator"] == "poverty_incidence"]
    assert pov["value"].tolist() == [pytest.approx(0.244)]
    assert pov["region"].tolist() == [AGGREGATE]


def test_projection_axes_units_legend_and_observed_points(results, observed):
    changes = trajectory_changes(results, ["urbanization_rate"])
    fig, axes = plot_projection(
        results,
        "urbanization_rate",
        SPEC,
        regions=["Liupanshan"],
        observed=observed,
        changes=changes,
        titles=TITLES,
    )
    colors = check_figure(fig, names=[*TITLES.values(), "observed, not used in the fit"])
    ax, lower = axes
    assert lower.get_xlabel() == "year"
    assert ax.get_ylabel() == f"{SPEC.display('urbanization_rate').label} (%)"
    assert lower.get_ylabel() == "change, percentage points"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [*TITLES.values(), "observed, not used in the fit"]
    point = ax.lines[-1]
    assert list(point.get_xdata()) == [2011]
    assert point.get_markerfacecolor() == "white"  # hollow: no calibration record given
    assert point.get_ydata()[0] == pytest.approx(28.72)  # 0.2872 drawn in %
    assert _by_label(ax, "Baseline").get_ydata()[0] == pytest.approx(25.0)
    # more-towns: +2 points after 2015 against the baseline, drawn in the change panel
    more = _by_label(lower, "More towns")
    assert dict(zip(more.get_xdata(), more.get_ydata(), strict=True))[2020] == pytest.approx(2.0)
    assert colors["Baseline"] == BASELINE_COLOR
    assert colors["More towns"] == scenario_colors(SCENARIOS)["more-towns"]
    assert "2015" in " ".join(t.get_text() for t in ax.texts)  # the policy start is marked


def test_projection_people_in_millions_and_region_legend(results):
    fig, axes = plot_projection(
        results,
        "migrant_workers_outside",
        SPEC,
        regions=["Tibet", "Wulingshan"],
        scenarios=["baseline"],
    )
    check_figure(fig, names=["Tibet", "Wulingshan"])
    ax = axes[0]
    assert len(axes) == 1  # one scenario: no change panel
    assert ax.get_ylabel() == "migrant workers outside (million people)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Tibet", "Wulingshan"]
    assert _by_label(ax, "Tibet").get_ydata()[0] == pytest.approx(5.0)


def test_projection_draws_bands(results):
    rows = results[results.variable == "urbanization_rate"].assign(
        p05=lambda f: f.value - 0.02,
        p25=lambda f: f.value - 0.01,
        p50=lambda f: f.value,
        p75=lambda f: f.value + 0.01,
        p95=lambda f: f.value + 0.02,
    )
    fig, axes = plot_projection(
        results, "urbanization_rate", SPEC, bands=rows, scenarios=["more-towns"], titles=TITLES
    )
    colors = check_figure(fig)
    assert (
        colors["More towns: 5-95 % of the ensemble"]
        == scenario_colors(["more-towns"])["more-towns"]
    )
    outer = axes[0].collections[-2].get_paths()[0].vertices[:, 1]
    drawn = rows[(rows.scenario == "more-towns") & (rows.region == AGGREGATE)]
    assert outer.min() == pytest.approx(100 * drawn.p05.min())  # in %
    assert outer.max() == pytest.approx(100 * drawn.p95.max())


def test_projection_unknown_names(results):
    with pytest.raises(DataError, match="did you mean 'urbanization_rate'"):
        plot_projection(results, "urbanisation_rate", SPEC)
    with pytest.raises(DataError, match="no region 'Tibt'"):
        plot_projection(results, "urbanization_rate", SPEC, regions=["Tibt"])
    with pytest.raises(DataError, match="no scenario 'nope'"):
        plot_projection(results, "urbanization_rate", SPEC, scenarios=["nope"])


def test_regional_small_multiples_show_changes(results):
    changes = trajectory_changes(results, ["urbanization_rate"])
    fig, axes = plot_regional(changes, "urbanization_rate", SPEC, titles=TITLES)
    check_figure(fig, names=["More towns", "No cost"])
    assert axes.shape == (3, 5)
    titles = [ax.get_title().replace("\n", " ") for ax in axes.ravel()[:15]]
    assert titles == [AGGREGATE, *REGIONS]
    assert axes[0, 0].get_ylabel() == "percentage points"
    assert axes[-1, 0].get_xlabel() == "year"
    more = _by_label(axes.ravel()[1], "More towns")  # Liupanshan
    assert dict(zip(more.get_xdata(), more.get_ydata(), strict=True))[2030] == pytest.approx(2.0)


def test_effect_per_cost_bars(results):
    indicators = ["urbanization_rate", "migrant_workers_outside"]
    comp = compare_results(
        results, indicators=indicators, years=[2030], cost_variable="cumulative_policy_cost"
    )
    fig, axes = plot_effect_per_cost(
        comp, SPEC, year=2030, indicators=indicators, titles=TITLES, since=2010
    )
    check_figure(fig)
    cost, ax = axes.ravel()[:2]
    assert "billion yuan (2010 prices), undiscounted" in cost.get_xlabel()
    assert [p.get_width() for p in cost.patches] == [pytest.approx(15.0), 0.0]  # 2016-2030
    assert ax.get_xlabel() == "percentage points per 100 billion yuan (2010\nprices)"
    assert "million people per 100 billion yuan" in axes.ravel()[2].get_xlabel().replace("\n", " ")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["More towns", "No cost"]
    widths = [p.get_width() for p in ax.patches]
    # more-towns: +2 points for 15 billion yuan by 2030, per 100 billion; no-cost: no bar.
    assert widths[0] == pytest.approx(2.0 / 15.0 * 100)
    assert widths[1] == 0
    assert any("no extra cost" in t.get_text() for t in ax.texts)


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_render_formats(results, fmt):
    fig, _ = plot_projection(results, "urbanization_rate", SPEC, titles=TITLES)
    data = render(fig, fmt)
    assert len(data) > 1000
    head = data[:1000]
    assert head.startswith(MAGIC[fmt]) if fmt != "svg" else MAGIC[fmt] in head


# -- the command ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def results_csv(results, tmp_path_factory):
    path = tmp_path_factory.mktemp("plot") / "results.csv"
    results.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_plot_command_writes_format_by_extension(results_csv, tmp_path, capsys, fmt):
    out = tmp_path / f"urb.{fmt}"
    rc = main(
        [
            "plot",
            str(results_csv),
            "--variable",
            "urbanization_rate",
            "--region",
            "Liupanshan",
            "Tibet",
            "--scenario",
            "baseline",
            "more-towns",
            "--observed",
            str(DATA / "seed_figures.csv"),
            "--out",
            str(out),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    data = out.read_bytes()
    assert data[:1000].startswith(MAGIC[fmt]) if fmt != "svg" else MAGIC[fmt] in data[:1000]
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--variable", "urbanization_rate", "--out", "x.jpg"], "expected a file name ending in"),
        (["--variable", "urbanisation_rate", "--out", "x.png"], "did you mean 'urbanization_rate'"),
        (
            ["--variable", "urbanization_rate", "--region", "Tibt", "--out", "x.png"],
            "--region: no region 'Tibt' in the results (did you mean 'Tibet'?)",
        ),
        (
            ["--variable", "urbanization_rate", "--scenario", "all-five", "--out", "x.png"],
            "--scenario: no scenario 'all-five'",
        ),
        (
            ["--variable", "urbanization_rate", "--observed", "nowhere.csv", "--out", "x.png"],
            "nowhere.csv: file not found",
        ),
    ],
)
def test_plot_command_errors(results_csv, tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    rc = main(["plot", str(results_csv), *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1
    assert message in err
    assert list(tmp_path.iterdir()) == []


def test_plot_command_bad_results_file(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("scenario,region,year\nx,y,2010\n", encoding="utf-8")
    rc = main(["plot", str(bad), "--variable", "v", "--out", str(tmp_path / "x.png")])
    assert rc == 2
    assert "missing ['variable', 'value']" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
