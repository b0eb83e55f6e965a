"""Scenario files: the shipped ones, `extends`, per-region overrides, and every bad input.

Bad inputs go through the command line (`sdplanner compare` / `run`): each must end with one
line on stderr naming the file and key path, exit code 2, and an output directory left exactly
as it was (a file already in it keeps its content and modification time; no file is added).
"""

from __future__ import annotations

import re
import textwrap

import numpy as np
import pytest

from sdplanner.cli import main
from sdplanner.commands.run import resolve_engine
from sdplanner.compare import compare_scenarios
from sdplanner.errors import ScenarioError
from sdplanner.scenario import (
    LeverSetting,
    RegionValues,
    Scenario,
    load_scenario,
    merge_params,
    parse_parameters,
)
from tests.shipped import AGGREGATE, LEVERS, PATHS, REGIONS, SPEC

from .conftest import SCENARIOS

PATH_FILES = {
    "urban_layout": "path-4.1-urban-layout.yaml",
    "specialized_industry": "path-4.2-specialized-industry.yaml",
    "infrastructure": "path-4.3-infrastructure.yaml",
    "resource_integration": "path-4.4-resource-integration.yaml",
    "regulations_social_security": "path-4.5-regulations-social-security.yaml",
}


def _write(folder, name, text):
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


# -- the shipped scenarios ---------------------------------------------------------------------


def test_shipped_scenarios_load_with_expected_names(model):
    names = {}
    for path in sorted(SCENARIOS.glob("*.yaml")):
        scen = load_scenario(path, model)
        names[path.name] = scen.name
        assert scen.description, path
    assert names["baseline.yaml"] == "baseline"
    assert names["all-five.yaml"] == "all-five"
    for file in PATH_FILES.values():
        assert names[file] == file.removesuffix(".yaml")
    assert len(set(names.values())) == len(names)


@pytest.mark.parametrize("path_key", list(PATH_FILES))
def test_path_files_set_only_their_levers_and_cite_their_section(model, path_key):
    scen = load_scenario(SCENARIOS / PATH_FILES[path_key], model)
    section = PATHS[path_key][0]
    assert f"{section}" in scen.description
    own = {lever.name for lever in LEVERS if lever.path == path_key}
    assert set(scen.levers) == own
    for setting in scen.levers.values():
        assert setting.strength > 0


def test_baseline_sets_no_lever(model):
    scen = load_scenario(SCENARIOS / "baseline.yaml", model)
    assert scen.levers == {}
    assert scen.parameters == {}


def test_all_five_equals_the_five_path_files(model):
    """all-five lists every lever at its path's values (documented in docs/scenarios.md)."""
    five = load_scenario(SCENARIOS / "all-five.yaml", model)
    # the seed's five paths; targeted poverty alleviation is beyond them (its own file)
    assert set(five.levers) == {lever.name for lever in LEVERS if lever.path != "targeted_poverty"}
    for file in PATH_FILES.values():
        path = load_scenario(SCENARIOS / file, model)
        for name, setting in path.levers.items():
            assert five.levers[name] == setting, (file, name)


# -- extends --------------------------------------------------------------------------------


def test_extends_merges_field_by_field_and_region_by_region(model, tmp_path):
    _write(
        tmp_path,
        "parent.yaml",
        """
        name: parent
        description: the parent
        final_time: 2040
        levers:
          infrastructure_investment:
            strength: 0.03
            start: 2016
            ramp_years: 4
            regions: {Tibet: {strength: 0.05}, Wulingshan: {start: 2020}}
          hukou_reform: {strength: 0.5}
        parameters:
          base_return_rate: 0.05
          initial_migrant_share_of_rural_workforce: {Wulingshan: 0.38, Tibet: 0.2}
        """,
    )
    child_path = _write(
        tmp_path,
        "child.yaml",
        """
        name: child
        extends: parent.yaml
        levers:
          infrastructure_investment:
            strength: 0.04
            regions: {Tibet: {ramp_years: 1}, Dabieshan: 0.01}
          ppp_leverage: {strength: 1.0}
        parameters:
          initial_migrant_share_of_rural_workforce: {Tibet: 0.25}
        """,
    )
    child = load_scenario(child_path, model)
    assert child.name == "child"
    assert child.description == ""  # never inherited
    assert child.final_time == 2040  # inherited
    assert child.files == (child_path, tmp_path / "parent.yaml")
    infra = child.levers["infrastructure_investment"]
    assert (infra.strength, infra.start, infra.ramp_years) == (0.04, 2016, 4)
    assert infra.regions == {
        "Tibet": {"strength": 0.05, "ramp_years": 1},
        "Wulingshan": {"start": 2020},
        "Dabieshan": {"strength": 0.01},
    }
    assert child.levers["hukou_reform"].strength == 0.5  # untouched parent lever
    assert child.levers["ppp_leverage"].start == SPEC.lever("ppp_leverage").default_start
    assert child.parameters["base_return_rate"] == 0.05
    share = child.parameters["initial_migrant_share_of_rural_workforce"]
    default = model.constants["initial_migrant_share_of_rural_workforce"]
    expected = np.array(default, dtype=float)
    expected[REGIONS.index("Wulingshan")] = 0.38
    expected[REGIONS.index("Tibet")] = 0.25
    np.testing.assert_array_equal(np.asarray(share), expected)

    params = child.to_params(model)
    strength = params["infrastructure_investment_strength"]
    assert strength[REGIONS.index("Tibet")] == 0.05
    assert strength[REGIONS.index("Dabieshan")] == 0.01
    assert strength[REGIONS.index("Liupanshan")] == 0.04
    start = params["infrastructure_investment_start"]
    assert start[REGIONS.index("Wulingshan")] == 2020
    assert start[REGIONS.index("Tibet")] == 2016
    assert params["hukou_reform_strength"] == 0.5


def test_extends_runs_like_its_parent(model, tmp_path):
    """A child that only renames and shortens its parent gives the parent's trajectories."""
    _write(
        tmp_path,
        "short.yaml",
        f"""
        name: infra-to-2030
        extends: {SCENARIOS / "path-4.3-infrastructure.yaml"}
        final_time: 2030
        """,
    )
    res = compare_scenarios(
        [SCENARIOS / "path-4.3-infrastructure.yaml", tmp_path / "short.yaml"],
        model=model,
        params=False,
        engine=resolve_engine(None),
    )
    full = res.results[res.results["scenario"] == "path-4.3-infrastructure"]
    short = res.results[res.results["scenario"] == "infra-to-2030"]
    assert short["year"].max() == 2030
    merged = full.merge(short, on=["region", "variable", "year"], suffixes=("", "_short"))
    assert len(merged) == len(short)
    np.testing.assert_allclose(merged["value_short"], merged["value"], rtol=1e-12, atol=0)


# -- per-region overrides --------------------------------------------------------------------


def test_per_region_lever_override_moves_only_that_region(model, tmp_path):
    _write(
        tmp_path,
        "tibet.yaml",
        """
        name: infra-tibet-only
        levers:
          infrastructure_investment:
            strength: 0.0
            regions: {Tibet: 0.05}
        """,
    )
    res = compare_scenarios(
        [SCENARIOS / "baseline.yaml", tmp_path / "tibet.yaml"],
        model=model,
        params=False,
        engine=resolve_engine(None),
    )
    rows = res.comparison[
        (res.comparison["indicator"] == "infrastructure_capital") & (res.comparison["year"] == 2030)
    ].set_index("region")
    assert rows.at["Tibet", "delta"] > 0
    assert rows.at["Tibet", "cumulative_cost_billion_yuan"] > 0
    others = rows.drop(index=["Tibet", AGGREGATE])
    assert (others["delta"] == 0).all()
    assert (others["cumulative_cost_billion_yuan"] == 0).all()
    assert others["delta_per_billion_yuan"].isna().all()
    assert rows.at[AGGREGATE, "delta"] == pytest.approx(rows.at["Tibet", "delta"], rel=1e-9)


def test_per_region_parameter_keeps_lower_layer_for_other_regions(model):
    """Regions a scenario does not name keep the calibrated (lower-layer) value."""
    name = "initial_migrant_share_of_rural_workforce"
    scen = parse_parameters({name: {"Tibet": 0.2}}, model, "s.yaml: parameters")
    assert isinstance(scen[name], RegionValues)
    calibrated = {name: 0.3}
    merged = merge_params(calibrated, scen)[name]
    expected = np.full(len(REGIONS), 0.3)
    expected[REGIONS.index("Tibet")] = 0.2
    np.testing.assert_array_equal(np.asarray(merged), expected)
    calibrated = {name: np.linspace(0.2, 0.4, len(REGIONS))}
    merged = merge_params(calibrated, scen)[name]
    expected = calibrated[name].copy()
    expected[REGIONS.index("Tibet")] = 0.2
    np.testing.assert_array_equal(np.asarray(merged), expected)
    # Without a lower layer the others are the .mdl defaults.
    alone = np.asarray(merge_params(scen)[name])
    assert alone[REGIONS.index("Wulingshan")] == model.constants[name][REGIONS.index("Wulingshan")]


def test_year_series_and_mdl_names(model):
    out = parse_parameters(
        {"outside wage growth": {2030: 0.02, 2010: 0.04}}, model, "s.yaml: parameters"
    )
    series = out["outside_wage_growth"]
    np.testing.assert_array_equal(series.years, [2010, 2030])
    assert series.at(2020) == pytest.approx(0.03)


def test_scenario_dataclasses_validate(model):
    with pytest.raises(ScenarioError, match=r"infrastructure_investment\.strength: .* 0\.\.0\.2"):
        setting = LeverSetting("infrastructure_investment", 0.5, 2015, 3)
        setting.check(SPEC.lever("infrastructure_investment"), model)
    with pytest.raises(ScenarioError, match=r"hukou_reform\.start: expected a number"):
        LeverSetting("hukou_reform", 0.5, "2015", 3)
    bad = LeverSetting("hukou_reforms", 0.5, 2015, 3)
    with pytest.raises(ScenarioError, match="did you mean 'hukou_reform'"):
        Scenario(name="s", levers={"hukou_reforms": bad}).to_params(model)
    with pytest.raises(ScenarioError, match="name"):
        Scenario(name=" ")


# -- bad input: one line, exit 2, output directory untouched ----------------------------------


@pytest.fixture
def out_dir(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    keep = out / "results.csv"
    keep.write_text("precious,results\n", encoding="utf-8")
    return out


def _snapshot(folder):
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}


BAD = {
    "invalid-yaml": (
        {"bad.yaml": "name: bad\nlevers:\n  infrastructure_investment: {strength: 0.03\n"},
        r"bad\.yaml: invalid YAML at line \d+, column \d+: ",
    ),
    "invalid-yaml-mapping": (
        {"bad.yaml": "name: bad\nlevers:\n  x: 1\n  y: 2 : 3\n"},
        r"bad\.yaml: invalid YAML at line 4, column 8: mapping values are not allowed here$",
    ),
    "duplicate-key": (
        {"bad.yaml": "name: bad\nlevers: {}\nlevers: {}\n"},
        r"bad\.yaml: invalid YAML at line 3, column 1: duplicate key 'levers'$",
    ),
    "unknown-lever": (
        {"bad.yaml": "name: bad\nlevers:\n  infrastructure_invest: {strength: 0.03}\n"},
        r"bad\.yaml: levers\.infrastructure_invest: unknown lever 'infrastructure_invest'"
        r" \(did you mean 'infrastructure_investment'\?\)$",
    ),
    "unknown-lever-key": (
        {"bad.yaml": "name: bad\nlevers:\n  hukou_reform: {strenght: 0.5}\n"},
        r"bad\.yaml: levers\.hukou_reform\.strenght: unknown key \(did you mean 'strength'\?\)$",
    ),
    "unknown-parameter": (
        {"bad.yaml": "name: bad\nparameters:\n  base_retrun_rate: 0.05\n"},
        r"bad\.yaml: parameters\.base_retrun_rate: unknown model constant"
        r" \(did you mean 'base_return_rate'\?\)$",
    ),
    "unknown-top-key": (
        {"bad.yaml": "name: bad\nlever: {}\n"},
        r"bad\.yaml: lever: unknown key \(did you mean 'levers'\?\)$",
    ),
    "wrong-type": (
        {"bad.yaml": "name: bad\nlevers:\n  infrastructure_investment: {strength: high}\n"},
        r"bad\.yaml: levers\.infrastructure_investment\.strength: expected a strength"
        r" \(share of GDP\) in 0\.\.0\.2, found the text 'high'$",
    ),
    "wrong-type-levers": (
        {"bad.yaml": "name: bad\nlevers: [hukou_reform]\n"},
        r"bad\.yaml: levers: expected a mapping of lever names to settings, found a list$",
    ),
    "out-of-range-start": (
        {
            "bad.yaml": "name: bad\nlevers:\n  infrastructure_investment:\n"
            "    strength: 0.03\n    start: 2070\n"
        },
        r"bad\.yaml: levers\.infrastructure_investment\.start: expected a year in 2010\.\.2050,"
        r" found 2070$",
    ),
    "out-of-range-strength": (
        {"bad.yaml": "name: bad\nlevers:\n  graduate_retention: {strength: 0.9}\n"},
        r"bad\.yaml: levers\.graduate_retention\.strength: expected a strength \(fraction\)"
        r" in 0\.\.0\.85, found 0\.9$",
    ),
    "unknown-region": (
        {
            "bad.yaml": "name: bad\nlevers:\n  infrastructure_investment:\n"
            "    strength: 0.03\n    regions: {Tibt: 0.05}\n"
        },
        r"bad\.yaml: levers\.infrastructure_investment\.regions: expected one of the"
        rf" {len(REGIONS)}"
        r" regions, found 'Tibt' \(did you mean 'Tibet'\?\)$",
    ),
    "unknown-region-parameter": (
        {
            "bad.yaml": "name: bad\nparameters:\n"
            "  initial_migrant_share_of_rural_workforce: {Wulingshn: 0.38}\n"
        },
        r"bad\.yaml: parameters\.initial_migrant_share_of_rural_workforce: expected one of the"
        r" 14 regions, found 'Wulingshn' \(did you mean 'Wulingshan'\?\)$",
    ),
    "extends-loop": (
        {
            "bad.yaml": "name: bad\nextends: b.yaml\n",
            "b.yaml": "name: b\nextends: bad.yaml\n",
        },
        r"b\.yaml: extends: loop \S*bad\.yaml -> \S*b\.yaml -> \S*bad\.yaml$",
    ),
    "extends-missing": (
        {"bad.yaml": "name: bad\nextends: nowhere.yaml\n"},
        r"bad\.yaml: extends: file not found: \S*nowhere\.yaml$",
    ),
    "empty-file": (
        {"bad.yaml": "# nothing but a comment\n"},
        r"bad\.yaml: expected a YAML mapping, found an empty file$",
    ),
    "duplicate-names": (
        {"bad.yaml": "name: baseline\nlevers:\n  hukou_reform: {strength: 0.5}\n"},
        r"bad\.yaml: name: 'baseline' is also the name of \S*baseline\.yaml; scenario names"
        r" must be unique in one comparison$",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_scenario_fails_cleanly_and_leaves_output_alone(case, tmp_path, out_dir, capsys):
    files, pattern = BAD[case]
    src = tmp_path / "scen"
    src.mkdir()
    for name, text in files.items():
        (src / name).write_text(text, encoding="utf-8")
    before = _snapshot(out_dir)
    argv = [
        "compare",
        str(SCENARIOS / "baseline.yaml"),
        str(src / "bad.yaml"),
        "--out",
        str(out_dir),
        "--no-params",
    ]
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == 2
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    message = lines[0].removeprefix("sdplanner: error: ")
    assert re.search(pattern, message), message
    assert str(src) in message  # names the file
    assert _snapshot(out_dir) == before


def test_run_bad_scenario_leaves_output_alone(tmp_path, out_dir, capsys):
    bad = _write(tmp_path, "bad.yaml", "name: bad\nlevers:\n  hukou_reform: {start: 2070}\n")
    before = _snapshot(out_dir)
    rc = main(["run", str(bad), "--out", str(out_dir), "--no-params"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "levers.hukou_reform.start: expected a year in 2010..2050, found 2070" in err
    assert _snapshot(out_dir) == before


def test_compare_needs_two_scenarios(out_dir, capsys):
    before = _snapshot(out_dir)
    rc = main(["compare", str(SCENARIOS / "baseline.yaml"), "--out", str(out_dir)])
    assert rc == 2
    assert "expected at least two scenarios" in capsys.readouterr().err
    assert _snapshot(out_dir) == before


def test_quoted_number_gets_a_hint(model, tmp_path):
    bad = _write(tmp_path, "q.yaml", "name: q\nlevers:\n  hukou_reform: {strength: '0.5'}\n")
    with pytest.raises(ScenarioError, match="without quotes"):
        load_scenario(bad, model)


def test_lever_constant_as_parameter_is_refused(model, tmp_path):
    bad = _write(tmp_path, "p.yaml", "name: p\nparameters:\n  hukou_reform_strength: 0.5\n")
    with pytest.raises(ScenarioError, match=r"set it under 'levers\.hukou_reform'"):
        load_scenario(bad, model)
