"""docs/extending.md's steps on a copy of the model: a new lever and a new output, no src change.

The copy gets the village road fund of the docs (three constants, an effect, a mechanism, a
cost in policy cost, a spec entry) and a new output, then runs through `compare`, `calibrate`
and the explorer's API exactly as the shipped levers do.
"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import yaml

from sdplanner.cli import main

from .conftest import DATA, ROOT

MODEL = ROOT / "models" / "sdplanner.mdl"
SPEC = ROOT / "models" / "sdplanner.spec.yaml"

CONSTANTS = """
village road fund strength[Region]=
\t0
\t~\tDmnl [0,0.05]
\t~\tPath 4.3: village road spending as a share of GDP; 0 = no new policy.
\t|

village road fund start[Region]=
\t2015
\t~\tyear [2010,2050]
\t~\tPath 4.3: year the fund starts.
\t|

village road fund ramp years[Region]=
\t3
\t~\tyear [0,20]
\t~\tPath 4.3: years to reach full strength.
\t|

village road fund effect[Region]=
\tvillage road fund strength[Region] * IF THEN ELSE(Time + TIME STEP / 2 >= village road fund \
start[Region], MIN(1, XIDZ(Time + TIME STEP / 2 - village road fund start[Region], village road \
fund ramp years[Region], 1)), 0)
\t~\tDmnl
\t~\tPath 4.3: ramped village road spending share.
\t|

cost village road fund[Region]=
\tvillage road fund effect[Region] * gdp[Region]
\t~\tyuan/year
\t~\tPath 4.3: village road spending (the fund itself).
\t|
"""


def _extend(folder):
    """Write the extended model and spec into folder; return the .mdl's path."""
    text = MODEL.read_text(encoding="utf-8")
    # 3. the mechanism: the fund adds to public infrastructure investment's share of GDP
    old = "infrastructure investment effect[Region]) * effect of infrastructure saturation"
    assert text.count(old) == 1
    text = text.replace(
        old,
        "infrastructure investment effect[Region] + village road fund effect[Region])"
        " * effect of infrastructure saturation",
    )
    # 4. the cost in policy cost
    old = "+ targeted poverty cost[Region]\n"
    assert text.count(old) == 1
    text = text.replace(old, "+ targeted poverty cost[Region] + cost village road fund[Region]\n")
    # 1, 2, 4: the constants, the effect and the cost, before the sketch
    sketch = text.index("\\\\\\---///")
    text = text[:sketch] + CONSTANTS.replace("\\\n", "") + "\n" + text[sketch:]
    model = folder / "sdplanner.mdl"
    model.write_text(text, encoding="utf-8")
    # 5. the spec entry, and a new output
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    spec["levers"]["village_road_fund"] = {
        "path": "infrastructure",
        "label": "Village road fund",
        "unit": "share of GDP",
        "description": "Public money for village roads, as a share of GDP.",
        "cost": "cost village road fund",
    }
    spec["outputs"]["public_infrastructure_investment"] = {
        "label": "public infrastructure investment",
        "display": "money_per_year",
    }
    spec["views"]["comparison"].append("public_infrastructure_investment")
    (folder / "sdplanner.spec.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return model


@pytest.fixture(scope="module")
def extended(tmp_path_factory):
    folder = tmp_path_factory.mktemp("extended")
    model = _extend(folder)
    scen = folder / "scenarios"
    scen.mkdir()
    shutil.copy(ROOT / "scenarios" / "baseline.yaml", scen / "baseline.yaml")
    (scen / "roads.yaml").write_text(
        "name: roads\nextends: baseline.yaml\n"
        "levers:\n  village_road_fund: {strength: 0.01, start: 2016}\n",
        encoding="utf-8",
    )
    return model, scen


def test_compare_runs_the_new_lever_and_reports_the_new_output(extended, tmp_path, capsys):
    model, scen = extended
    out = tmp_path / "cmp"
    argv = ["compare", scen / "baseline.yaml", scen / "roads.yaml", "--model", model]
    assert main([str(a) for a in [*argv, "--out", out]]) == 0, capsys.readouterr().err
    comp = pd.read_csv(out / "comparison.csv")
    rows = comp[(comp.region == "All 14 regions") & (comp.year == 2030)].set_index("indicator")
    # one per cent of GDP more for roads: more public investment and capital, and it costs
    assert rows.at["public_infrastructure_investment", "delta"] > 0
    assert rows.at["infrastructure_capital", "delta"] > 0
    assert rows.at["urbanization_rate", "cumulative_cost_billion_yuan"] > 0
    res = pd.read_csv(out / "results.csv")
    assert "public_infrastructure_investment" in set(res.variable)


def test_calibrate_runs_on_the_extended_model(extended, tmp_path, capsys):
    model, _ = extended
    argv = [
        "calibrate",
        "--data",
        DATA / "seed_figures.csv",
        "--spec",
        ROOT / "calibration" / "seed-2010-2012.yaml",
        "--model",
        model,
        "--starts",
        "0",
        "--no-plots",
        "--out",
        tmp_path / "cal",
    ]
    assert main([str(a) for a in argv]) == 0, capsys.readouterr().err
    assert (tmp_path / "cal" / "parameters.csv").is_file()


def test_the_explorer_offers_and_runs_the_new_lever(extended):
    from sdplanner.web.explorer import Explorer

    model, scen = extended
    explorer = Explorer(scen, model=model)
    meta = explorer.meta()
    levers = {lv["name"]: lv for p in meta["paths"] for lv in p["levers"]}
    assert levers["village_road_fund"]["max"] == 0.05  # the .mdl's range
    answer = explorer.run(
        {
            "scenario": "baseline.yaml",
            "levers": {"village_road_fund": 0.02},
            "indicator": "public_infrastructure_investment",
        }
    )
    series = {s["role"]: s["values"] for s in answer["series"]}
    assert series["edited"][-1] > series["baseline"][-1]


def test_a_lever_missing_from_the_mdl_is_one_line(tmp_path, capsys):
    model = _extend(tmp_path)
    spec = yaml.safe_load((tmp_path / "sdplanner.spec.yaml").read_text(encoding="utf-8"))
    spec["levers"]["village_road_fnd"] = spec["levers"].pop("village_road_fund")
    (tmp_path / "sdplanner.spec.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    scen = tmp_path / "s.yaml"
    scen.write_text("name: s\n", encoding="utf-8")
    code = main(["run", str(scen), "--model", str(model), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "sdplanner.spec.yaml: levers.village_road_fnd.constants.strength" in err
    assert "did you mean" in err
