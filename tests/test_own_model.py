"""A user's own model in every command: the teacup model, with no spec beside it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sdplanner.cli import main

from .conftest import ROOT

TEACUP = ROOT / "tests" / "models" / "teacup.mdl"
SCEN = ROOT / "tests" / "models" / "teacup-scenarios"


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_run_writes_every_stock_and_auxiliary_with_an_empty_region(tmp_path, capsys):
    _run(["run", SCEN / "base.yaml", "--model", TEACUP, "--out", tmp_path / "out"], capsys)
    res = pd.read_csv(tmp_path / "out" / "results.csv", keep_default_na=False)
    assert list(res.columns) == ["scenario", "region", "variable", "year", "value", "unit"]
    assert set(res.variable) == {"teacup_temperature", "heat_loss_to_room"}
    assert set(res.region) == {""}  # no subscript: no region
    temp = res[res.variable == "teacup_temperature"].set_index("year")["value"]
    assert list(temp.index) == list(range(21))
    # Euler with dt 0.25 from 180 toward 70 at rate 1/10: T(t) = 70 + 110 (1 - 0.025)^(4 t)
    expected = 70 + 110 * (1 - 0.25 / 10) ** (4 * np.arange(21))
    np.testing.assert_allclose(temp.to_numpy(dtype=float), expected, rtol=1e-12)
    assert res[res.variable == "teacup_temperature"].unit.iloc[0] == "degree"


def test_compare_two_teacup_scenarios(tmp_path, capsys):
    out = tmp_path / "cmp"
    printed = _run(
        ["compare", SCEN / "base.yaml", SCEN / "warm-room.yaml", "--model", TEACUP, "--out", out],
        capsys,
    )
    comp = pd.read_csv(out / "comparison.csv", keep_default_na=False)
    warm = comp[(comp.scenario == "warm-room") & (comp.indicator == "teacup_temperature")]
    # the warmer room holds the tea 10 degrees x (1 - 0.975^80) warmer by year 20
    assert warm.delta.astype(float).iloc[-1] == pytest.approx(10 * (1 - 0.975**80), rel=1e-12)
    assert (comp.cumulative_cost_billion_yuan == "").all()  # the model has no policy cost
    assert "warm-room" in printed
    assert (out / "manifest.json").is_file()


def test_check_and_refusals_name_the_users_model(tmp_path, capsys):
    printed = _run(["check", TEACUP], capsys)
    assert "0 finding(s)" in printed
    bad = tmp_path / "s.yaml"
    bad.write_text("name: s\nparameters:\n  room_temprature: 80\n", encoding="utf-8")
    code = main(["run", str(bad), "--model", str(TEACUP), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "did you mean 'room_temperature'" in err and "\n" not in err.strip()
    assert not (tmp_path / "o").exists()
