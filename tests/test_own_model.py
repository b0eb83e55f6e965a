"""A user's own model in every command: the teacup model, with no spec beside it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sdplanner.cli import main

from .conftest import ROOT
from .security_helpers import one_line

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
    # no cost column or cost sentence, and no empty region name heading the summary
    assert "bn yuan" not in printed and "Cost:" not in printed
    assert "First row of each year" in printed and ". First row" not in printed
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


# ---- the teacup in the analysis commands ------------------------------------------------------
Q = 0.975**80  # the tea's remaining share of its excess temperature after 20 years (80 steps)
UNCERTAINTY = """\
description: the room and how fast the tea cools
parameters:
  room_temperature: {distribution: uniform, min: 60, max: 80}
  characteristic_time: {distribution: uniform, min: 5, max: 15}
"""


def _refused(argv, capsys) -> str:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    return one_line(err)


@pytest.fixture
def uncertainty(tmp_path):
    path = tmp_path / "u.yaml"
    path.write_text(UNCERTAINTY, encoding="utf-8")
    return path


def test_ensemble_median_is_the_run_at_the_median_room(tmp_path, capsys):
    # Only the room varies. T(20) = R + (180 - R) q is increasing and linear in R, so the
    # median of T is T at the median of R. The Latin hypercube puts one of the 51 samples in
    # each 1/51 slice of R's range, the middle one in the slice holding 70: the median of R
    # is within 20/51 degrees of 70, and the median of T within (1 - q) 20/51 of T(70).
    only_room = tmp_path / "room.yaml"
    only_room.write_text(
        "parameters:\n  room_temperature: {distribution: uniform, min: 60, max: 80}\n", "utf-8"
    )
    out = tmp_path / "ens"
    argv = ["ensemble", SCEN / "base.yaml", "--model", TEACUP, "--uncertainty", only_room]
    printed = _run([*argv, "--samples", 51, "--seed", 3, "--out", out, "--quiet"], capsys)
    assert "teacup_temperature" in printed
    pct = pd.read_csv(out / "percentiles.csv", keep_default_na=False)
    assert set(pct.variable) == {"teacup_temperature", "heat_loss_to_room"}  # every output
    assert set(pct.region) == {""}
    final = pct[(pct.variable == "teacup_temperature") & (pct.year == 20)].iloc[0]
    deterministic = 70 + 110 * Q
    assert abs(final.p50 - deterministic) <= (1 - Q) * 20 / 51
    assert abs(final.p50 - deterministic) > 0  # a sampled median, not the run itself
    # every sample lies between the runs at the ends of R's range
    low, high = 60 + 120 * Q, 80 + 100 * Q
    assert low <= final.p05 < final.p25 < final.p50 < final.p75 < final.p95 <= high
    assert (out / "fan_teacup_temperature.png").is_file()


def test_sobol_indices_of_the_teacup_constants_match_the_closed_form(uncertainty, tmp_path, capsys):
    # T(20) = R + (180 - R) (1 - 0.25 / tau)^80 with R ~ U(60, 80), tau ~ U(5, 15). Its
    # variance split on a 2001 x 2001 grid: S1 = 0.2753 (room), 0.7227 (characteristic
    # time), summing to 0.998 (the R x tau interaction is 0.2 %). The estimates of N = 256
    # base samples must lie within their own 95 % bootstrap half-widths (which shrink as
    # 1/sqrt(N)) of these values.
    out = tmp_path / "sens"
    argv = ["sensitivity", SCEN / "base.yaml", "--model", TEACUP, "--uncertainty", uncertainty]
    _run([*argv, "--samples", 256, "--seed", 5, "--out", out, "--quiet"], capsys)
    sobol = pd.read_csv(out / "sobol.csv", keep_default_na=False)
    assert set(sobol.year) == {20} and set(sobol.region) == {""}
    temp = sobol[sobol.variable == "teacup_temperature"].set_index("parameter")
    exact = {"room_temperature": 0.2753, "characteristic_time": 0.7227}
    for name, s1 in exact.items():
        assert abs(temp.S1[name] - s1) <= temp.S1_conf[name], name
        assert temp.ST[name] >= temp.S1[name] - temp.S1_conf[name]
    assert abs(temp.S1.sum() - 0.998) <= temp.S1_conf.max()
    # the heat loss at year 20 is (T - R) / tau: the characteristic time dominates it
    loss = sobol[sobol.variable == "heat_loss_to_room"].set_index("parameter")
    assert loss.ST["characteristic_time"] > loss.ST["room_temperature"]


def _synthetic(path, tau: float, years, sigma: float = 0.5, area: str = "") -> np.ndarray:
    """Write the teacup's temperatures at characteristic time ``tau`` plus seeded noise."""
    from sdplanner import simulate
    from sdplanner.rng import make_generator

    res = simulate(
        SCEN / "base.yaml", params={"characteristic_time": tau}, model=TEACUP, calibration=False
    )
    temp = res[res.variable == "teacup_temperature"].set_index("year").value
    clean = temp.loc[list(years)].to_numpy()
    noisy = clean + make_generator(13).normal(0.0, sigma, len(clean))
    rows = [f"teacup_temperature,{area},{y},{v:.4f}" for y, v in zip(years, noisy, strict=True)]
    path.write_text("indicator,area,year,value\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return clean


CALIBRATION = """\
name: teacup
parameters:
  characteristic_time: {lower: 2, upper: 40, transform: log}
indicators:
  teacup_temperature: {variable: teacup_temperature, unit: level, sigma: 0.5}
"""


@pytest.fixture
def cal_spec(tmp_path):
    path = tmp_path / "cal.yaml"
    path.write_text(CALIBRATION, encoding="utf-8")
    return path


def test_calibrate_recovers_the_characteristic_time(cal_spec, tmp_path, capsys):
    years = range(11)
    _synthetic(tmp_path / "obs.csv", 8.0, years)  # empty area: the model itself
    out = tmp_path / "cal"
    argv = ["calibrate", "--data", tmp_path / "obs.csv", "--spec", cal_spec, "--model", TEACUP]
    _run([*argv, "--out", out, "--starts", 4, "--no-plots"], capsys)
    par = pd.read_csv(out / "parameters.csv").set_index("parameter").loc["characteristic_time"]
    assert par.lower_95 < 8.0 < par.upper_95
    # The profile interval of one parameter is about +-1.96 / sqrt(I), I = sum over the rows
    # of (dT/dtau / sigma)^2 with T = 70 + 110 (1 - 0.25/tau)^(4t): the model is nearly
    # linear in tau over so short an interval, so within 10 %.
    t = np.arange(11)
    slope = 110 * 4 * t * (1 - 0.25 / 8) ** (4 * t - 1) * 0.25 / 8**2
    half = 1.96 / np.sqrt(np.sum((slope / 0.5) ** 2))
    assert (par.upper_95 - par.lower_95) / 2 == pytest.approx(half, rel=0.1)
    obs = pd.read_csv(out / "observations.csv", keep_default_na=False)
    assert set(obs.compared_with) == {""} and len(obs) == 11
    params = (out / "calibrated.params.yaml").read_text("utf-8")
    assert f"characteristic_time: {float(par.estimate)!r}" in params


def test_calibrate_maps_the_areas_of_an_areas_file(cal_spec, tmp_path, capsys):
    # an area named in the mapping as the aggregate is the model itself; a context area
    # is listed and ignored
    areas = tmp_path / "areas.csv"
    areas.write_text(
        "area,area_type,kind,region,note\nkitchen,room,aggregate,,the cup\n"
        "garden,room,context,,not modelled\n",
        encoding="utf-8",
    )
    data = tmp_path / "obs.csv"
    _synthetic(data, 8.0, range(11), area="kitchen")
    data.write_text(data.read_text("utf-8") + "teacup_temperature,garden,3,20\n", "utf-8")
    out = tmp_path / "cal"
    argv = ["calibrate", "--data", data, "--spec", cal_spec, "--model", TEACUP, "--out", out]
    printed = _run([*argv, "--areas", areas, "--starts", 2, "--no-plots"], capsys)
    assert "11 observations" in printed and "1 ignored" in printed
    par = pd.read_csv(out / "parameters.csv").set_index("parameter").loc["characteristic_time"]
    assert par.lower_95 < 8.0 < par.upper_95


def test_backtest_scores_the_later_synthetic_rows(cal_spec, tmp_path, capsys):
    clean = _synthetic(tmp_path / "obs.csv", 8.0, range(21))
    out = tmp_path / "bt"
    argv = ["backtest", "--data", tmp_path / "obs.csv", "--spec", cal_spec, "--model", TEACUP]
    argv += ["--fit-until", 10, "--scenario", SCEN / "base.yaml", "--out", out, "--starts", 2]
    _run([*argv, "--no-plots"], capsys)
    scores = pd.read_csv(out / "scores.csv", keep_default_na=False)
    assert list(scores.year) == list(range(11, 21)) and set(scores.area) == {""}
    # The model that made the data projects it: the band (refit parameters plus the
    # observation noise, 95 %) holds the noise-free truth at every year, and the projection
    # misses it by less than half the band. With 10 rows, at least 8 observations fall inside
    # (the chance of 3 or more outside a true 95 % band is 1.2 %; the seeds are fixed).
    truth = clean[11:]
    assert ((scores.band_low < truth) & (truth < scores.band_high)).all()
    assert (abs(scores.projected - truth) < (scores.band_high - scores.band_low) / 2).all()
    summary = pd.read_csv(out / "summary.csv").set_index("indicator").loc["teacup_temperature"]
    assert summary.n == 10 and summary.band_coverage >= 0.8


def test_serve_answers_for_the_teacup(tmp_path):
    import http.client
    import json

    from sdplanner.web import Explorer, make_server, serve_in_thread

    explorer = Explorer(SCEN, model=TEACUP, engine="batch", params=False)
    srv = make_server(explorer, "127.0.0.1", 0, quiet=True)
    thread = serve_in_thread(srv)

    def call(method, path, body=None):
        conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=30)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
            res = conn.getresponse()
            return res.status, res.read()
        finally:
            conn.close()

    try:
        status, data = call("GET", "/api/meta")
        assert status == 200
        meta = json.loads(data)
        assert meta["regions"] == [""] and meta["paths"] == []
        assert {i["name"] for i in meta["indicators"]} == {
            "teacup_temperature",
            "heat_loss_to_room",
        }
        body = {"scenario": "warm-room.yaml", "region": "", "indicator": "teacup_temperature"}
        status, data = call("POST", "/api/run", body)
        assert status == 200, data
        answer = json.loads(data)
        edited = next(s for s in answer["series"] if s["role"] == "edited")
        base = next(s for s in answer["series"] if s["role"] == "baseline")
        assert edited["values"][-1] == pytest.approx(80 + 100 * Q, rel=1e-12)
        assert base["values"][-1] == pytest.approx(70 + 110 * Q, rel=1e-12)
        status, data = call("POST", "/api/run", {**body, "region": "Tibet"})
        assert status == 400 and b"Tibet" in data
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=10)


def test_report_of_a_teacup_comparison(tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["compare", SCEN / "base.yaml", SCEN / "warm-room.yaml", "--model", TEACUP]
    _run([*argv, "--out", out], capsys)
    _run(["report", out, "--model", TEACUP, "--out", tmp_path / "r.html"], capsys)
    text = (tmp_path / "r.html").read_text("utf-8")
    assert "teacup temperature" in text and "https://" not in text
    # the warm room's change in year 20, 10 (1 - q) = 8.68 degrees, to 3 digits
    assert f"+{10 * (1 - Q):.2f}" in text
    # no region to name and no levers' cost: the summary says neither
    assert "<p class='meta'>The first row of each year" in text
    assert "billion yuan" not in text


# ---- refusals: one line, exit 2, nothing written --------------------------------------------
def test_sensitivity_refuses_a_region_for_outputs_without_subscripts(uncertainty, tmp_path, capsys):
    argv = ["sensitivity", SCEN / "base.yaml", "--model", TEACUP, "--uncertainty", uncertainty]
    msg = _refused([*argv, "--samples", 8, "--out", tmp_path / "o", "--region", "Tibet"], capsys)
    assert msg == "--region: expected no region (the outputs have no subscripts), found 'Tibet'"
    assert not (tmp_path / "o").exists()


def test_sensitivity_without_an_aggregate_asks_for_a_region(tmp_path, capsys):
    # a model with one subscript range and no spec: its regions have no aggregate
    functions = ROOT / "tests" / "models" / "functions.mdl"
    scen = tmp_path / "s.yaml"
    scen.write_text("name: s\n", "utf-8")
    unc = tmp_path / "u.yaml"
    unc.write_text("parameters:\n  smooth_time: {distribution: uniform, min: 1, max: 3}\n", "utf-8")
    argv = ["sensitivity", scen, "--model", functions, "--uncertainty", unc, "--samples", 8]
    msg = _refused([*argv, "--outputs", "smoothed", "--out", tmp_path / "o"], capsys)
    assert msg.startswith("--region: expected one of 'north', 'centre', 'south': the model has")
    assert "dimension: aggregate:" in msg
    assert not (tmp_path / "o").exists()
    _run([*argv, "--outputs", "smoothed", "--region", "south", "--out", tmp_path / "o"], capsys)
    sobol = pd.read_csv(tmp_path / "o" / "sobol.csv")
    assert set(sobol.region) == {"south"}


def test_calibrate_refuses_regions_for_a_model_without_them(cal_spec, tmp_path, capsys):
    areas = tmp_path / "areas.csv"
    areas.write_text("area,area_type,kind,region,note\nkitchen,room,region,kitchen,\n", "utf-8")
    _synthetic(tmp_path / "obs.csv", 8.0, range(3), area="kitchen")
    argv = ["calibrate", "--data", tmp_path / "obs.csv", "--spec", cal_spec, "--model", TEACUP]
    msg = _refused([*argv, "--areas", areas, "--out", tmp_path / "o"], capsys)
    assert "areas.csv: line 2: kind: the model has no regions" in msg
    msg = _refused([*argv, "--out", tmp_path / "o"], capsys)  # no mapping names 'kitchen'
    assert "obs.csv: line 2: unknown area 'kitchen'" in msg
    assert not (tmp_path / "o").exists()


def test_rank_robustness_says_what_a_model_without_a_spec_lacks(uncertainty, tmp_path, capsys):
    hot = tmp_path / "hot.yaml"
    hot.write_text("name: hot-room\nparameters:\n  room_temperature: 90\n", "utf-8")
    argv = ["rank-robustness", SCEN / "base.yaml", SCEN / "warm-room.yaml", hot]
    argv += ["--model", TEACUP, "--uncertainty", uncertainty, "--samples", 8]
    msg = _refused([*argv, "--out", tmp_path / "o"], capsys)
    assert "labels 'assumption', found none" in msg and "opens with 'assumption'" in msg
    assert not (tmp_path / "o").exists()


def test_a_finer_saveper_keeps_fractional_years_and_no_control_variable(tmp_path, capsys):
    # functions.mdl saves every TIME STEP (0.25 year, Vensim's default SAVEPER): the years of
    # results.csv are the saved times, each once per variable and region (they were rounded
    # to whole years, repeating each year four times), and SAVEPER is no output
    model = ROOT / "tests" / "models" / "functions.mdl"
    out = _run(["run", SCEN / "base.yaml", "--model", model, "--out", tmp_path / "o"], capsys)
    res = pd.read_csv(tmp_path / "o" / "results.csv", keep_default_na=False)
    assert "saveper" not in set(res.variable)
    one = res[(res.variable == res.variable.iloc[0]) & (res.region == res.region.iloc[0])]
    np.testing.assert_allclose(one.year.to_numpy(float), np.arange(0, 10.001, 0.25), atol=1e-12)
    assert not one.duplicated(["year"]).any()
    # no aggregate: the headline names the element it shows
    assert "(1) active, north" in out
