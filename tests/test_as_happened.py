"""scenarios/as-happened.yaml: policy facts from 2013 on, each value cited; extendable; and
`compare` reports its 2020 poverty incidence and cost."""

from __future__ import annotations

import math
import re

import pandas as pd
import yaml

from sdplanner.cli import main
from sdplanner.scenario import load_scenario
from tests.shipped import AGGREGATE

from .conftest import SCENARIOS

AS_HAPPENED = SCENARIOS / "as-happened.yaml"


def test_every_lever_value_cites_a_published_plan_budget_or_target(model):
    raw = yaml.safe_load(AS_HAPPENED.read_text(encoding="utf-8"))
    text = " ".join(raw["description"].split())
    scen = load_scenario(AS_HAPPENED, model)
    assert set(scen.levers) == {
        "hukou_reform",
        "social_security_target",
        "development_aid",
        "targeted_transfers",
        "poverty_relocation",
    }
    for setting in scen.levers.values():
        lever = model.spec.lever(setting.lever)
        assert setting.start >= 2013, setting.lever  # enacted from 2013 on
        # the description names the lever with its value and start ...
        label = lever.label.split()[0]
        pattern = rf"{label}[^.()]*? {setting.strength:g}( a year)? from {setting.start:g}"
        assert re.search(pattern, text, flags=re.IGNORECASE), (setting.lever, pattern)
    # ... and each numbered item cites a document of 2014 or 2015
    items = re.split(r"\(\d\) ", text)[1:]
    assert len(items) == 5
    for item in items:
        assert re.search(r"\b(2014|2015)\b", item), item
    assert "no outcome after 2015" in text


def test_a_scenario_can_extend_as_happened(tmp_path, model):
    path = tmp_path / "as-happened-then-4.2.yaml"
    path.write_text(
        f"name: as-happened-then-4.2\nextends: {AS_HAPPENED}\nlevers:\n"
        "  agro_tourism_productivity: {strength: 0.15, start: 2021, ramp_years: 5}\n",
        encoding="utf-8",
    )
    scen = load_scenario(path, model)
    base = load_scenario(AS_HAPPENED, model)
    assert set(scen.levers) == set(base.levers) | {"agro_tourism_productivity"}
    assert scen.levers["poverty_relocation"] == base.levers["poverty_relocation"]


def test_compare_reports_its_2020_poverty_and_cost(tmp_path, capsys):
    out = tmp_path / "cmp"
    code = main(["compare", str(SCENARIOS / "baseline.yaml"), str(AS_HAPPENED), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(out / "comparison.csv")
    row = table[
        (table.scenario == "as-happened")
        & (table.region == AGGREGATE)
        & (table.indicator == "poverty_incidence")
        & (table.year == 2020)
    ]
    assert len(row) == 1
    poverty, cost = float(row.value.iloc[0]), float(row.cumulative_cost_billion_yuan.iloc[0])
    assert math.isfinite(poverty) and 0 <= poverty < 1
    assert math.isfinite(cost) and cost > 0
    # the policies lower 2020 poverty against the baseline (direction, not a size)
    assert float(row.delta.iloc[0]) < 0
