"""Issue 11: every hostile input of the attack report, one test per case.

Each bad input must end in exit code 2 with one line under 300 characters, no traceback and
the output folder untouched; a run whose outputs turn non-finite ends in exit code 1 naming
the variable, region and year. Injection attempts through every command that takes a model
must leave no marker file. Section numbers follow the issue.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sdplanner import cache as cache_module
from sdplanner.errors import ModelError, quote
from sdplanner.results import aggregate, csv_safe
from sdplanner.validation import format_range
from tests.shipped import MODEL as MODEL_INFO
from tests.shipped import OUTPUT_VARIABLES

from .conftest import ROOT, SCENARIOS
from .security_helpers import (
    MAX_LINE,
    check_set,
    cli,
    one_line,
    precious_folder,
    snapshot,
    tiny_model,
)

MODEL = ROOT / "models" / "sdplanner.mdl"
UNCERTAINTY = ROOT / "uncertainty" / "default.yaml"
SPEC = ROOT / "calibration" / "seed-2010-2012.yaml"
DATA = ROOT / "data" / "seed_figures.csv"


def _short_scenario(folder: Path, final_time: int = 2011) -> Path:
    path = folder / "short.yaml"
    path.write_text(f"name: short\nfinal_time: {final_time}\n", encoding="utf-8")
    return path


def _refused(argv, out: Path | None = None) -> str:
    """Run a command that must be refused: exit 2, one line, ``out`` untouched."""
    before = snapshot(out) if out is not None else None
    code, _stdout, err = cli(argv)
    message = one_line(err)
    assert code == 2, (code, err)
    if out is not None:
        assert snapshot(out) == before
    return message


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """A fresh, empty sdplanner cache for this test only."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("SDPLANNER_CACHE", str(folder))
    return folder


# =============================================================================================
# 1. Code runs from a model file
# =============================================================================================
def _mark(marker: Path) -> str:
    return f"__import__('pathlib').Path({str(marker)!r}).touch()"


def _model_commands(model: Path, tmp_path: Path) -> dict[str, list]:
    scen = _short_scenario(tmp_path)
    out = tmp_path / "out"
    checks = tmp_path / "c.yaml"
    checks.write_text("checks:\n  - name: a\n    expect: [{variable: a, rule: nonnegative}]\n")
    return {
        "run": ["run", scen, "--model", model, "--out", out],
        "compare": ["compare", scen, scen, "--model", model, "--out", out],
        "ensemble": [
            *("ensemble", scen, "--uncertainty", UNCERTAINTY, "--samples", 4, "--seed", 1),
            *("--model", model, "--out", out),
        ],
        "sensitivity": [
            *("sensitivity", scen, "--uncertainty", UNCERTAINTY, "--samples", 4, "--seed", 1),
            *("--model", model, "--out", out),
        ],
        "calibrate": ["calibrate", "--data", DATA, "--spec", SPEC, "--model", model, "--out", out],
        "check": ["check", model, "--checks", checks, "--engine", "batch"],
        "serve": ["serve", "--model", model, "--scenarios", SCENARIOS, "--port", 0, "--quiet"],
    }


PAYLOADS = {
    "docstring-break": 'x"""; {mark}; """',
    "backslash-docstring-break": 'x\\"""; {mark}; """',
}


@pytest.mark.parametrize("payload", list(PAYLOADS))
@pytest.mark.parametrize(
    "command", ["run", "compare", "ensemble", "sensitivity", "calibrate", "check", "serve"]
)
def test_model_comment_injection_is_refused_by_every_command(
    command, payload, tmp_path, isolated_cache
):
    marker = tmp_path / "PWNED"
    model = tmp_path / "evil.mdl"
    model.write_text(tiny_model(PAYLOADS[payload].format(mark=_mark(marker))), encoding="utf-8")
    argv = _model_commands(model, tmp_path)[command]
    message = _refused(argv)
    assert "evil.mdl: line 5: expected a comment without three double quotes" in message
    assert not marker.exists()
    assert not (tmp_path / "out").exists()  # and no empty output folder


def test_injection_into_the_shipped_model_is_refused(tmp_path, isolated_cache):
    marker = tmp_path / "PWNED"
    text = MODEL.read_text(encoding="utf-8").replace(
        "Births to rural residents.",
        f'x"""; {_mark(marker)}; """ Births to rural residents.',
        1,
    )
    model = tmp_path / "shared.mdl"
    model.write_text(text, encoding="utf-8")
    line = text[: text.index('x"""')].count("\n") + 1
    scen = _short_scenario(tmp_path)
    message = _refused(["run", scen, "--model", model, "--out", tmp_path / "out"])
    assert f"shared.mdl: line {line}: " in message and "'rural births'" in message
    assert not marker.exists() and not (tmp_path / "out").exists()


# Text placed in every part of a model PySD writes into Python: refused, or harmless (the
# translation then loads and runs, and the marker is still absent).
INJECTIONS = {
    "comment-triple-quote": ("refused", {"comment": 'x"""; {mark}; """'}),
    "comment-backslash": ("refused", {"comment": 'x\\"""; {mark}; """'}),
    "comment-single-triple-quote": ("inert", {"comment": "'''; {mark}; '''"}),
    "comment-format-strings": ("inert", {"comment": "%(name)s {{0}} {{__import__}} \\n {mark}"}),
    "comment-quote-concatenation": ("inert", {"comment": 'x" + {mark} + "'}),
    "units-quotes": ("inert", {"units": 'Dmnl\'"""); {mark}; ("'}),
    "name-quote": (
        "refused",
        {"extra": "\"b'); {mark}; ('\"=\n\t1\n\t~\tDmnl\n\t~\tc\n\t|\n"},
    ),
    "name-backslash": ("refused", {"extra": '"b\\\\ c"=\n\t1\n\t~\tDmnl\n\t~\tc\n\t|\n'}),
    "data-name-quote": (
        "refused",
        {"extra": "\"d'); {mark}; ('\" :INTERPOLATE:\n\t~\tDmnl\n\t~\tc\n\t|\n"},
    ),
    "subscript-quote": ("refused", {"extra": 'Dim: x, "y\'z"\n\t~\t\n\t~\t\n\t|\n'}),
    "file-reference-backslash": (
        "refused",
        {"extra": "g=\n\tGET XLS CONSTANTS('dir\\\\f.xlsx', 'S', 'A1')\n\t~\tDmnl\n\t~\tc\n\t|\n"},
    ),
    "newline-in-name": ("refused", {"extra": '"new\\nline"=\n\t1\n\t~\tDmnl\n\t~\tc\n\t|\n'}),
}


@pytest.mark.parametrize("case", list(INJECTIONS))
def test_injection_attempts_are_refused_or_inert(case, tmp_path, isolated_cache):
    from sdplanner.model import load_pysd

    outcome, parts = INJECTIONS[case]
    marker = tmp_path / "PWNED"
    mark = _mark(marker)
    kwargs = {
        "comment": parts.get("comment", "A constant.").format(mark=mark),
        "extra": parts.get("extra", "").format(mark=mark),
        "units": parts.get("units", "Dmnl [0,1]").format(mark=mark),
    }
    model = tmp_path / "m.mdl"
    model.write_text(tiny_model(kwargs["comment"], extra=kwargs["extra"], units=kwargs["units"]))
    if outcome == "refused":
        with pytest.raises(ModelError, match=r"m\.mdl: line \d+: expected ") as info:
            load_pysd(model).run()
        assert len(str(info.value)) < MAX_LINE
    else:
        result = load_pysd(model).run()
        assert list(result["a"]) == [0.5, 0.5, 0.5]  # the model ran, with its own value
    assert not marker.exists()


def test_audit_refuses_injected_code_the_guard_would_have_missed(
    tmp_path, isolated_cache, monkeypatch
):
    """With the text checks switched off, the audit of PySD's Python still refuses."""
    from pysd.translators.vensim.vensim_file import VensimFile

    from sdplanner import model as model_module

    def parse_only(path, shown=None):  # the guard minus its checks
        parsed = VensimFile(path)
        parsed.parse()
        return parsed.get_abstract_model()

    monkeypatch.setattr(model_module, "check_model_file", parse_only)
    marker = tmp_path / "PWNED"
    model = tmp_path / "m.mdl"
    model.write_text(tiny_model(f'x"""; {_mark(marker)}; """'), encoding="utf-8")
    with pytest.raises(ModelError, match=r"translation holds a call of __import__\(\) at") as info:
        model_module.load_pysd(model)
    assert len(str(info.value)) < MAX_LINE
    name = "\"d'); " + _mark(marker) + "; ('\""
    model.write_text(tiny_model(extra=f"{name} :INTERPOLATE:\n\t~\tDmnl\n\t~\tc\n\t|\n"))
    with pytest.raises(ModelError, match=r"translation holds .* which PySD does not write"):
        model_module.load_pysd(model)
    assert not marker.exists()


def test_xmile_is_refused_by_the_cli_and_vetted_by_the_guard(tmp_path, isolated_cache):
    from sdplanner.model_guard import check_model_file

    marker = tmp_path / "PWNED"
    doc = f'x"""; {_mark(marker)}; """'
    body = textwrap.dedent(
        f"""\
        <xmile version="1.0" xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0">
        <header><name>m</name></header>
        <sim_specs><start>0</start><stop>2</stop><dt>1</dt></sim_specs>
        <model><variables>
        <aux name="a"><eqn>1</eqn><doc>{doc.replace('"', "&quot;")}</doc></aux>
        </variables></model>
        </xmile>
        """
    )
    xmile = tmp_path / "m.xmile"
    xmile.write_text(body, encoding="utf-8")
    scen = _short_scenario(tmp_path)
    message = _refused(["run", scen, "--model", xmile, "--out", tmp_path / "out"])
    assert "expected a Vensim .mdl file, found suffix '.xmile'" in message
    with pytest.raises(ModelError, match=r"line \d+: expected a comment without three"):
        check_model_file(xmile)
    xmile.write_text('<!DOCTYPE x [<!ENTITY e SYSTEM "/etc/passwd">]>\n' + body)
    with pytest.raises(ModelError, match=r"line 1: expected no XML DOCTYPE or ENTITY"):
        check_model_file(xmile)
    assert not marker.exists()


# =============================================================================================
# 2. YAML alias bombs, deep nesting, duplicate keys
# =============================================================================================
def _bomb(levels: int, width: int = 10) -> str:
    """One flow value of ``levels`` levels of ``width`` aliases (``width ** levels`` leaves)."""
    if levels == 0:
        return "&a0 [" + ", ".join(["lol"] * width) + "]"
    rest = ", ".join([f"*a{levels - 1}"] * (width - 1))
    return f"&a{levels} [{_bomb(levels - 1, width)}, {rest}]"


def _bomb_in(key_path: str, levels: int) -> str:
    """A document whose ``key_path`` (``levers.hukou_reform.strength``) is an alias bomb."""
    *parents, leaf = key_path.split(".")
    text, indent = "", ""
    for part in parents:
        text += f"{indent}{part}:\n"
        indent += "  "
    return text + f"{indent}{leaf}: {_bomb(levels)}\n"


BOMBS = {
    "scenario-description": ("scenario", "description"),
    "scenario-final_time": ("scenario", "final_time"),
    "scenario-lever-strength": ("scenario", "levers.hukou_reform.strength"),
    "spec-name": ("spec", "name"),
    "uncertainty-description": ("uncertainty", "description"),
}


def _command_for(kind: str, path: Path, tmp_path: Path) -> list:
    out = tmp_path / "out"
    scen = _short_scenario(tmp_path)
    if kind == "scenario":
        return ["run", path, "--out", out, "--no-params"]
    if kind == "spec":
        return ["calibrate", "--data", DATA, "--spec", path, "--out", out, "--starts", 0]
    if kind == "uncertainty":
        return ["ensemble", scen, "--uncertainty", path, "--samples", 4, "--out", out]
    if kind == "params":
        return ["run", scen, "--params", path, "--out", out]
    if kind == "checks":
        return ["check", MODEL, "--checks", path, "--engine", "batch"]
    raise AssertionError(kind)


@pytest.mark.parametrize("case", list(BOMBS))
def test_alias_bombs_are_refused_in_one_short_line(case, tmp_path):
    kind, key = BOMBS[case]
    head = "name: bomb\n" if kind == "scenario" and key != "name" else ""
    path = tmp_path / "bomb.yaml"
    path.write_text(head + _bomb_in(key, 11), encoding="utf-8")
    out = precious_folder(tmp_path / "out")
    message = _refused(_command_for(kind, path, tmp_path), out)
    assert "expected at most 10,000 values after expanding aliases" in message


@pytest.mark.parametrize("levels", [2, 3, 4, 5, 6])
def test_messages_quote_at_most_80_characters_of_a_bomb(levels, tmp_path):
    # 2 levels expand to 1,111 values (accepted by the loader): a message shows none of
    # them; 3 levels and more (11,111 values) are refused by the loader
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb_in("name", levels), encoding="utf-8")
    message = _refused(_command_for("spec", path, tmp_path))
    if levels == 2:
        # the spec's schema names what it found instead of quoting its 1,111 values
        assert message.endswith("bomb.yaml: name: expected a text, found a list")
    else:
        assert "expected at most 10,000 values after expanding aliases" in message


def test_nesting_1000_deep_is_refused(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("name: deep\ndescription: " + "[" * 1000 + "]" * 1000 + "\n")
    message = _refused(["run", path, "--out", tmp_path / "out"])
    assert "expected nesting at most 50 levels deep" in message


DUPLICATES = {
    "scenario": "name: a\nname: b\n",
    "params": "parameters:\n  base_return_rate: 0.04\n  base_return_rate: 0.05\n",
    "spec": SPEC.read_text(encoding="utf-8") + "\nname: again\n",
    "uncertainty": UNCERTAINTY.read_text(encoding="utf-8") + "\ndescription: again\n",
    "checks": "checks: []\nchecks: []\n",
}


@pytest.mark.parametrize("kind", list(DUPLICATES))
def test_duplicate_keys_are_refused_in_every_yaml_file_kind(kind, tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text(DUPLICATES[kind], encoding="utf-8")
    out = precious_folder(tmp_path / "out")
    message = _refused(_command_for(kind, path, tmp_path), out)
    assert "dup.yaml: invalid YAML at line" in message and "duplicate key" in message


def test_duplicate_columns_are_refused_in_observation_files(tmp_path):
    data = tmp_path / "dup.csv"
    data.write_text("indicator,area,year,value,value\nrural_income_per_capita,Tibet,2012,1,2\n")
    out = precious_folder(tmp_path / "out")
    argv = ["calibrate", "--data", data, "--spec", SPEC, "--out", out, "--starts", 0]
    message = _refused(argv, out)
    assert "dup.csv: line 1: column 'value' appears twice" in message


# =============================================================================================
# 3. Size bounds
# =============================================================================================
@pytest.mark.parametrize("command", ["ensemble", "sensitivity"])
def test_huge_sample_counts_are_refused_with_the_estimate_and_the_limit(command, tmp_path):
    scen = _short_scenario(tmp_path)
    out = precious_folder(tmp_path / "out")
    argv = [command, scen, "--uncertainty", UNCERTAINTY, "--samples", 10**12, "--out", out]
    message = _refused(argv, out)
    assert message.startswith(f"--samples {10**12}: the ")
    assert "would need about" in message and "of memory, more than half" in message
    assert message.count("GiB") == 3  # the estimate, the machine's memory, the limit


def test_huge_calibration_sizes_are_refused(tmp_path):
    out = precious_folder(tmp_path / "out")
    argv = ["calibrate", "--data", DATA, "--spec", SPEC, "--out", out, "--bootstrap", 10**12]
    message = _refused(argv, out)
    assert "the calibration would need about" in message and "limit" in message


def test_the_memory_estimate_bounds_an_ensemble_by_the_machine(tmp_path, monkeypatch):
    from sdplanner import memory

    scen = _short_scenario(tmp_path)
    argv = ["ensemble", scen, "--uncertainty", UNCERTAINTY, "--samples", 2000, "--seed", 1]
    argv += ["--out", tmp_path / "out", "--no-plots", "--quiet", "--outputs", "gdp"]
    monkeypatch.setattr(memory, "machine_memory", lambda: 2**29)  # 512 MiB: limit 256 MiB
    message = _refused(argv)
    assert "than half of this machine's 0.5 GiB (limit 0.2 GiB)" in message
    monkeypatch.setattr(memory, "machine_memory", lambda: 2**33)
    code, _, err = cli(argv)
    assert code == 0, err


def test_long_and_huge_scenario_names_are_refused(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text("name: " + "n" * 101 + "\n")
    message = _refused(["run", path, "--out", tmp_path / "out"])
    assert "expected a scenario name of at most 100 characters, found 101 characters" in message
    path.write_text("name: " + "n" * 5_000_000 + "\n")
    message = _refused(["run", path, "--out", tmp_path / "out"])
    assert "expected a scenario file of at most 1,048,576 bytes" in message


# =============================================================================================
# 4. Garbage values, non-finite outputs, calibration numbers
# =============================================================================================
GARBAGE = {
    "negative-rate": ("base_return_rate: -5", "base_return_rate", "-5"),
    "share-minus-1e6": ("farm_income_share: -1.0e+6", "farm_income_share", "-1e+06"),
    "share-1e300": ("farm_income_share: 1.0e+300", "farm_income_share", "1e+300"),
    "series-1e300": (
        "outside_wage_growth: {2010: 0.03, 2030: 1.0e+300}",
        "outside_wage_growth.2030",
        "1e+300",
    ),
    "region-value": (
        "initial_migrant_share_of_rural_workforce: {Tibet: 1.5}",
        "initial_migrant_share_of_rural_workforce.Tibet",
        "1.5",
    ),
}


@pytest.mark.parametrize("case", list(GARBAGE))
def test_values_outside_a_constants_range_are_refused(case, tmp_path, model):
    line, key, value = GARBAGE[case]
    limits = format_range(model.variables[key.split(".")[0]].limits)  # the .mdl's range
    path = tmp_path / "g.yaml"
    path.write_text(f"name: g\nparameters:\n  {line}\n", encoding="utf-8")
    out = precious_folder(tmp_path / "out")
    message = _refused(["run", path, "--out", out], out)
    expected = (
        f"g.yaml: parameters.{key}: expected a value in the constant's range {limits}"
        f" (declared in the .mdl), found {value}"
    )
    assert message.endswith(expected), message
    # the same through a parameter file
    params = tmp_path / "p.yaml"
    params.write_text(f"parameters:\n  {line}\n", encoding="utf-8")
    scen = _short_scenario(tmp_path)
    message = _refused(["run", scen, "--params", params, "--out", out], out)
    assert f"p.yaml: parameters.{key}: expected a value in the constant's range" in message


def test_a_run_whose_outputs_turn_non_finite_exits_1_naming_variable_region_year(
    tmp_path, isolated_cache
):
    # the same model with 0 allowed for a constant the equations divide by
    text = MODEL.read_text(encoding="utf-8")
    old = "average years working outside=\n\t25\n\t~\tyear [10,40]"
    assert old in text
    model = tmp_path / "m.mdl"
    model.write_text(text.replace(old, "average years working outside=\n\t25\n\t~\tyear [0,40]"))
    scen = tmp_path / "zero.yaml"
    scen.write_text(
        "name: zero\nfinal_time: 2012\nparameters:\n  average_years_working_outside: 0\n"
    )
    out = precious_folder(tmp_path / "out")
    before = snapshot(out)
    code, _stdout, err = cli(["run", scen, "--model", model, "--out", out, "--no-params"])
    assert code == 1
    message = one_line(err)
    assert message == (
        "scenario 'zero': ageing_out_of_migrants in Liupanshan turned non-finite (inf) in 2010;"
        " the inputs drive the model outside its valid range"
    )
    assert snapshot(out) == before


def test_aggregates_never_turn_nan_into_zero():
    rate = next(o for o in OUTPUT_VARIABLES if o.name == "poverty_incidence")
    values = {
        "poverty_incidence": np.array([[0.1, 0.2], [0.1, 0.2], [0.1, 0.2]]),
        "rural_population": np.array([[1.0, 3.0], [np.nan, 3.0], [0.0, 0.0]]),
    }
    agg = aggregate(values, rate)
    assert agg[0] == pytest.approx(0.175, rel=1e-15)  # (0.1 + 0.6) / 4
    assert math.isnan(agg[1])  # a NaN weight: NaN, never 0
    assert agg[2] == 0.0  # weights summing to exactly 0 keep the documented 0
    values["rural_population"] = np.array([[1.0, -3.0]] * 3)
    assert np.isnan(aggregate(values, rate)).all()  # a negative total weight: garbage


CALIBRATION_DATA = {
    "sigma-1e-320": ("4900,1e-320", "sigma: expected a standard error of at least 1e-12 times"),
    "sigma-nan": ("4900,nan", "sigma: expected a positive standard error, found 'nan'"),
    "sigma-inf": ("4900,inf", "sigma: expected a positive standard error, found 'inf'"),
    "value-minus-1e308": ("-1e308,300", "value: expected a number of magnitude at most 1e+15"),
}


@pytest.mark.parametrize("case", list(CALIBRATION_DATA))
def test_calibration_refuses_bad_sigmas_and_huge_values(case, tmp_path):
    cells, words = CALIBRATION_DATA[case]
    data = tmp_path / "d.csv"
    data.write_text(
        f"indicator,area,year,value,sigma\nrural_income_per_capita,Tibet,2012,{cells}\n"
    )
    out = precious_folder(tmp_path / "out")
    argv = ["calibrate", "--data", data, "--spec", SPEC, "--out", out, "--starts", 0]
    message = _refused(argv, out)
    assert "d.csv: line 2: " in message and words in message


SPEC_CASES = {
    "bounds-one-ulp": (
        "farm_income_share: {lower: 0.3, upper: 0.30000000000000004}",
        "expected bounds wider than 1e-09 of their magnitude",
    ),
    "bound-outside-range": (
        "farm_income_share: {lower: 0.3, upper: 2}",
        "upper: expected a bound in the constant's range [0.1,0.9]",
    ),
    "bound-1e300": (
        "farm_income_share: {lower: 0.3, upper: 1.0e+300}",
        "upper: expected a bound of magnitude at most 1e+15, found 1e+300",
    ),
}


@pytest.mark.parametrize("case", list(SPEC_CASES))
def test_calibration_refuses_degenerate_bounds(case, tmp_path):
    line, words = SPEC_CASES[case]
    spec = tmp_path / "s.yaml"
    spec.write_text(
        f"parameters:\n  {line}\nindicators:\n  rural_income_per_capita:\n"
        "    variable: rural_income_per_capita\n    prices: constant\n    sigma: 300\n"
    )
    out = precious_folder(tmp_path / "out")
    argv = ["calibrate", "--data", DATA, "--spec", spec, "--out", out, "--starts", 0]
    message = _refused(argv, out)
    assert "s.yaml: parameters.farm_income_share" in message and words in message


def test_calibration_refuses_a_huge_weight_and_a_tiny_spec_sigma(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text(
        "indicator,area,year,value,weight\nrural_income_per_capita,Tibet,2012,1,1e308\n"
    )
    out = precious_folder(tmp_path / "out")
    argv = ["calibrate", "--data", data, "--spec", SPEC, "--out", out, "--starts", 0]
    assert "weight: expected a non-negative weight of magnitude at most 1e+15" in _refused(
        argv, out
    )
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "parameters:\n  farm_income_share: {lower: 0.1, upper: 0.7}\nindicators:\n"
        "  rural_income_per_capita:\n    variable: rural_income_per_capita\n"
        "    prices: constant\n    sigma: 1.0e-320\n"
    )
    data.write_text("indicator,area,year,value\nrural_income_per_capita,Tibet,2012,4900\n")
    argv = ["calibrate", "--data", data, "--spec", spec, "--out", out, "--starts", 0]
    message = _refused(argv, out)
    assert "the spec's sigma 9.99989e-321 for a region is less than 1e-12 times" in message


def test_uncertainty_draws_outside_a_constants_range_are_refused(tmp_path):
    scen = _short_scenario(tmp_path)
    unc = tmp_path / "u.yaml"
    out = precious_folder(tmp_path / "out")
    unc.write_text("parameters:\n  farm_income_share: {distribution: normal, mean: 0.3, sd: 0.1}\n")
    argv = ["ensemble", scen, "--uncertainty", unc, "--samples", 4, "--out", out]
    message = _refused(argv, out)
    limits = format_range(MODEL_INFO.variables["farm_income_share"].limits)  # the .mdl's
    assert message.endswith(
        f"u.yaml: parameters.farm_income_share: expected draws in the constant's range {limits}"
        " (declared in the .mdl), found draws from -inf to inf; truncate it with min and max"
    )
    unc.write_text(
        "parameters:\n  farm_income_share:\n    distribution: uniform\n    min: 0.5\n"
        "    max: 10\n    relative: true\n"
    )
    message = _refused(argv, out)
    assert f"expected the value times each draw in the constant's range {limits}" in message


# =============================================================================================
# 5. A command is atomic
# =============================================================================================
def test_kill_9_leaves_the_old_set_or_the_new_set(tmp_path):
    out = tmp_path / "out"
    scen = _short_scenario(tmp_path, 2020)
    env = dict(os.environ)
    base = [sys.executable, "-m", "sdplanner", "ensemble", str(scen), "--uncertainty"]
    base += [str(UNCERTAINTY), "--samples", "400", "--out", str(out), "--quiet"]
    base += ["--outputs", "urbanization_rate,gdp", "--no-plots"]
    first = subprocess.run([*base, "--seed", "1"], capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr
    check_set(out)
    old = json.loads((out / "manifest.json").read_text())["seed"]
    started = time.perf_counter()
    full = subprocess.run([*base, "--seed", "2"], capture_output=True, text=True, env=env)
    duration = time.perf_counter() - started
    assert full.returncode == 0, full.stderr
    rng = np.random.default_rng(11)
    seeds = {old, 2}
    for k, fraction in enumerate(rng.uniform(0.3, 1.0, 5)):
        seed = 3 + k
        proc = subprocess.Popen([*base, "--seed", str(seed)], env=env)
        time.sleep(fraction * duration)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if out.exists():  # never absent where the system has RENAME_EXCHANGE
            check_set(out)
            now = json.loads((out / "manifest.json").read_text())["seed"]
            assert now in seeds | {seed}
            seeds.add(now)
    leftovers = [p.name for p in tmp_path.iterdir() if ".sdplanner-" in p.name]
    code, _, err = cli([*base[3:], "--seed", "9"])  # the next start cleans up
    assert code == 0, err
    check_set(out)
    assert not [p for p in tmp_path.iterdir() if ".sdplanner-" in p.name], leftovers


def test_a_failed_command_creates_no_output_folder(tmp_path):
    model = tmp_path / "broken.mdl"
    model.write_text(MODEL.read_text(encoding="utf-8")[:30000], encoding="utf-8")
    scen = _short_scenario(tmp_path)
    message = _refused(["run", scen, "--model", model, "--out", tmp_path / "new"])
    assert "broken.mdl: PySD cannot translate the model: it uses" in message
    assert not (tmp_path / "new").exists()
    assert not [p for p in tmp_path.iterdir() if ".sdplanner-" in p.name]


def test_spill_files_live_in_the_staging_folder_and_stale_ones_go(tmp_path, monkeypatch):
    from sdplanner.uncertainty import percentiles as ensemble_module

    seen = []
    real = ensemble_module.ExactPercentiles._start

    def spy(self, pilot):
        real(self, pilot)
        seen.append(Path(self._tmp.name))

    defaults = ensemble_module.ExactPercentiles.__init__.__kwdefaults__
    monkeypatch.setitem(defaults, "memory_budget", 1)  # spill everything
    monkeypatch.setattr(ensemble_module.ExactPercentiles, "_start", spy)
    out = precious_folder(tmp_path / "out")
    stale = tmp_path / ".out.sdplanner-999999999-old"  # a killed command's staging folder
    stale.mkdir()
    (stale / "slab0.f64").write_bytes(b"\0" * 1024)
    scen = _short_scenario(tmp_path)
    argv = ["ensemble", scen, "--uncertainty", UNCERTAINTY, "--samples", 40, "--seed", 1]
    code, _, err = cli([*argv, "--out", out, "--no-plots", "--quiet", "--outputs", "gdp"])
    assert code == 0, err
    assert seen and seen[0].parent.parent == tmp_path  # <out's parent>/.out.sdplanner-*/
    assert seen[0].parent.name.startswith(".out.sdplanner-")
    assert not stale.exists() and not seen[0].exists()
    assert (out / "precious.txt").read_text() == "keep me\n"  # carried over, not listed
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["output_files"]) == {"percentiles.csv"}


def test_an_old_set_left_aside_by_a_kill_is_put_back(tmp_path):
    from sdplanner.output_set import OutputSet

    aside = tmp_path / ".out.sdplanner-old-999999999-abc"
    aside.mkdir()
    (aside / "manifest.json").write_text("{}")
    with OutputSet(tmp_path / "out") as outputs:  # the next start
        assert outputs.path.exists()
    assert (tmp_path / "out" / "manifest.json").read_text() == "{}"
    assert not aside.exists()


def test_the_output_folder_may_not_hold_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scen = _short_scenario(tmp_path)
    message = _refused(["run", scen, "--out", "."])
    assert "expected a folder of its own for the outputs, found the current folder" in message


WORKERS = """
import time
from sdplanner.executors import ProcessExecutor

ex = ProcessExecutor(2)
ex.start()
futures = [ex._pool.submit(time.sleep, 60) for i in range(2)]
time.sleep(3)
print(" ".join(str(p) for p in ex._pool._processes), flush=True)
time.sleep(60)
"""


def test_worker_processes_die_with_their_parent():
    with subprocess.Popen(
        [sys.executable, "-c", WORKERS],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 20  # a bounded wait, not a speed requirement
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p for p in pids if _running(p)]
    assert not alive


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


# =============================================================================================
# 6. The cache checks itself
# =============================================================================================
def _run_short(tmp_path: Path, env: dict) -> subprocess.CompletedProcess:
    scen = _short_scenario(tmp_path)
    argv = [sys.executable, "-m", "sdplanner", "run", str(scen), "--out", str(tmp_path / "o")]
    return subprocess.run([*argv, "--engine", "batch"], capture_output=True, text=True, env=env)


def _warnings(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.startswith("sdplanner: warning:")]


KERNEL_CACHE = """
import ctypes, sys
from pathlib import Path
from sdplanner.engine import toolchain

info = toolchain.compiler()
source = "int answer(void) { return 42; }\\n"
library = toolchain.build_library(source, info)
data = library.read_bytes()
library.write_bytes(data[:4096] if sys.argv[1] == "truncate" else data[:-64] + b"\\xff" * 64)
again = toolchain.build_library(source, info)  # checked before it is returned
print(ctypes.CDLL(str(again)).answer(), again == library, flush=True)
"""


@pytest.mark.parametrize("damage", ["truncate", "corrupt"])
def test_damaged_cached_kernels_are_rebuilt_never_loaded(damage, tmp_path):
    from sdplanner.engine.toolchain import compiler

    if compiler() is None:
        pytest.skip("no C compiler here: no kernel library is cached")
    env = {**os.environ, "SDPLANNER_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", KERNEL_CACHE, damage], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, (done.returncode, done.stderr)  # -7 would be SIGBUS
    assert done.stdout.split() == ["42", "False"]  # loaded from a fresh place, and it works
    warned = _warnings(done.stderr)
    assert len(warned) == 1 and "cached C kernel" in warned[0] and "failed its check" in warned[0]


def test_corrupt_translation_and_parsed_model_are_rebuilt(tmp_path, isolated_cache, capsys):
    from sdplanner.engine import equations
    from sdplanner.model import translated_model_path

    model = tmp_path / "m.mdl"
    model.write_text(tiny_model(), encoding="utf-8")
    first = translated_model_path(model)
    first.write_text(first.read_text() + "\nraise SystemExit('tampered')\n")
    again = translated_model_path(model)
    assert again != first and "tampered" not in again.read_text()
    assert "cached PySD translation" in capsys.readouterr().err
    equations.read_model(MODEL)
    (pickle,) = (isolated_cache / "ir").glob("*.pickle")
    pickle.write_bytes(pickle.read_bytes()[:100])  # cut short
    assert equations.read_model(MODEL).variables  # parsed again, not unpickled
    err = capsys.readouterr().err
    assert err.count("sdplanner: warning:") == 1 and "cached parsed model" in err


def test_a_cache_path_that_is_a_file_falls_back_with_one_warning(tmp_path, monkeypatch, capsys):
    from sdplanner.model import translated_model_path

    blocker = tmp_path / "cache-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SDPLANNER_CACHE", str(blocker))
    model = tmp_path / "m.mdl"
    model.write_text(tiny_model(), encoding="utf-8")
    translated = translated_model_path(model)
    assert translated.is_file() and translated.is_relative_to(cache_module.fresh_root())
    assert blocker.read_text() == "not a folder"
    err = capsys.readouterr().err
    assert err.count("sdplanner: warning:") == 1
    assert "cache-file is not usable (it is a file); using" in err


def test_a_read_only_cache_falls_back_with_one_warning(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    monkeypatch.setenv("SDPLANNER_CACHE", str(folder))
    real = cache_module.tempfile.mkstemp

    def refuse(*args, dir=None, **kwargs):  # root ignores 0500: refuse as the system would
        if dir is not None and Path(dir) == folder:
            raise PermissionError(13, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(cache_module.tempfile, "mkstemp", refuse)
    root = cache_module.cache_root()
    assert root != folder and root.is_dir()
    err = capsys.readouterr().err
    assert err.count("sdplanner: warning:") == 1 and "permission denied" in err
    folder.chmod(0o700)


def test_a_hanging_compiler_means_the_numpy_kernel_with_one_warning(tmp_path, monkeypatch, capsys):
    from sdplanner.engine import toolchain
    from sdplanner.engine.batch import BatchEngine, kernel_label

    slow = tmp_path / "slowcc"
    slow.write_text("#!/bin/sh\nsleep 30\n")
    slow.chmod(0o755)
    monkeypatch.setenv("SDPLANNER_CC", str(slow))
    monkeypatch.delenv("SDPLANNER_KERNEL", raising=False)
    monkeypatch.setattr(toolchain, "_compiler_state", {})
    monkeypatch.setattr(toolchain, "_budget", {})
    monkeypatch.setattr(toolchain, "COMPILER_BUDGET", 1.0)  # 60 s in production
    engine = BatchEngine.from_mdl(MODEL)
    out = engine.run(final_time=2012, variables=["gdp"])
    assert np.isfinite(out.values["gdp"]).all()
    assert engine.kernel == "numpy" and kernel_label() == "numpy"
    err = capsys.readouterr().err
    assert err.count("sdplanner: warning:") == 1
    assert "the C compiler did not produce a working kernel within 1 s" in err


# =============================================================================================
# 7. What gave tracebacks
# =============================================================================================
def test_extends_symlink_loop_long_name_and_nul_are_one_line(tmp_path):
    (tmp_path / "loop.yaml").symlink_to(tmp_path / "loop.yaml")
    scen = tmp_path / "s.yaml"
    for value, words in (
        ("loop.yaml", "cannot follow"),
        ("x" * 5000 + ".yaml", "expected a scenario file name of printable characters"),
        ('"a\\0b.yaml"', "expected a scenario file name of printable characters"),
    ):
        scen.write_text(f"name: s\nextends: {value}\n", encoding="utf-8")
        message = _refused(["run", scen, "--out", tmp_path / "out"])
        assert f"s.yaml: extends: {words}" in message


def test_a_330_digit_strength_is_one_line(tmp_path):
    scen = tmp_path / "s.yaml"
    scen.write_text("name: s\nlevers:\n  hukou_reform: {strength: " + "9" * 330 + "}\n")
    message = _refused(["run", scen, "--out", tmp_path / "out"])
    assert "levers.hukou_reform.strength: expected a strength (fraction) in 0..1, found" in message


MODEL_FAULTS = {
    "constant-1e999": ("a=\n\t1e999\n\t~\tDmnl\n\t~\tc\n\t|", "expected finite numbers, found inf"),
    "final-time-1e999": (
        "FINAL TIME  = 1e999\n\t~\tyear\n\t~\t\t|",
        "expected finite numbers, found inf",
    ),
    "time-step-zero": ("TIME STEP  = 0\n\t~\tyear\n\t~\t\t|", "TIME STEP: expected a positive"),
    "final-before-initial": (
        "FINAL TIME  = -5\n\t~\tyear\n\t~\t\t|",
        "FINAL TIME: expected a year after INITIAL TIME (0), found -5",
    ),
}


@pytest.mark.parametrize("case", list(MODEL_FAULTS))
def test_model_faults_are_one_line_naming_the_mdl_line(case, tmp_path, isolated_cache):
    element, words = MODEL_FAULTS[case]
    text = tiny_model()
    name = element.split("=")[0].strip()
    start = text.index(f"\n{name}") + 1
    text = text[:start] + element + text[text.index("|", start) + 1 :]
    model = tmp_path / "m.mdl"
    model.write_text(text, encoding="utf-8")
    line = text[: text.index(element)].count("\n") + 1
    scen = _short_scenario(tmp_path)
    message = _refused(["run", scen, "--model", model, "--out", tmp_path / "out"])
    assert f"m.mdl: line {line}: " in message and words in message


def test_a_lookup_with_a_repeated_x_runs_without_a_traceback(tmp_path, isolated_cache):
    # A repeated x makes a step, as in Vensim; it used to divide by zero in the C kernel.
    element = (
        "a=\n\tWITH LOOKUP(Time, ([(0,0)-(2,2)],(0,0),(1,1),(1,2),(2,2)))\n\t~\tDmnl\n\t~\tc\n\t|"
    )
    text = tiny_model()
    start = text.index("\na") + 1
    text = text[:start] + element + text[text.index("|", start) + 1 :]
    model = tmp_path / "m.mdl"
    model.write_text(text, encoding="utf-8")
    scen = tmp_path / "s.yaml"
    scen.write_text("name: s\n", encoding="utf-8")
    code, _out, err = cli(["run", scen, "--model", model, "--out", tmp_path / "out"])
    assert code == 0 and "Traceback" not in err, err


# =============================================================================================
# 8. extends is confined
# =============================================================================================
@pytest.mark.parametrize("target", ["/etc/passwd", "../../../../../../etc/passwd", "/etc/shadow"])
def test_extends_cannot_read_files_outside_the_scenario_folders(target, tmp_path):
    (tmp_path / "scen").mkdir()
    scen = tmp_path / "scen" / "s.yaml"
    scen.write_text(f"name: s\nextends: {target}\n", encoding="utf-8")
    message = _refused(["run", scen, "--out", tmp_path / "out"])
    assert "s.yaml: extends: expected a scenario file (.yaml or .yml)" in message
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text("name: root:x:0:0\n")
    for name in (f"{target}.yaml", "../elsewhere.yaml"):
        scen.write_text(f"name: s\nextends: {name}\n", encoding="utf-8")
        message = _refused(["run", scen, "--out", tmp_path / "out"])
        assert "or the shipped scenarios folder" in message and "root:" not in message


def test_file_contents_never_appear_in_errors(tmp_path):
    notes = tmp_path / "notes.yaml"
    notes.write_text("secret text that is not a mapping\n")
    scen = tmp_path / "s.yaml"
    scen.write_text("name: s\nextends: notes.yaml\n")
    message = _refused(["run", scen, "--out", tmp_path / "out"])
    assert "found a single str value" in message and "secret" not in message


def test_the_explorer_does_not_serve_a_file_outside_its_folders(tmp_path):
    from sdplanner.web import Explorer

    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "baseline.yaml").write_text((SCENARIOS / "baseline.yaml").read_text())
    (folder / "evil.yaml").write_text("name: evil\nextends: ../../../../../etc/passwd.yaml\n")
    explorer = Explorer(folder, engine="batch", params=False)
    entries = {e["file"]: e for e in explorer.meta()["scenarios"]}
    assert "or the shipped scenarios folder" in entries["evil.yaml"]["error"]
    assert "root:" not in json.dumps(explorer.meta())


# =============================================================================================
# 9. Smaller
# =============================================================================================
def test_check_refuses_a_truncated_model_as_run_does(tmp_path, isolated_cache):
    model = tmp_path / "cut.mdl"
    model.write_text(MODEL.read_text(encoding="utf-8")[:30000], encoding="utf-8")
    check = _refused(["check", model])
    scen = _short_scenario(tmp_path)
    run = _refused(["run", scen, "--model", model, "--out", tmp_path / "out"])
    assert check == run
    assert re.search(
        r"cut\.mdl: PySD cannot translate the model: it uses '\w+', which it does not define$",
        run,
    ), run


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ('"line\\rbreak"', "expected a scenario name of printable characters, found '\\r'"),
        ('"nul\\0byte"', "expected a scenario name of printable characters, found '\\x00'"),
        ("'=cmd|'' /C calc''!A0'", "expected a scenario name that does not start with = + - @"),
        ("'@SUM(1)'", "that does not start with = + - @"),
    ],
)
def test_names_that_would_break_csv_are_refused(name, words, tmp_path):
    scen = tmp_path / "s.yaml"
    scen.write_text(f"name: {name}\n", encoding="utf-8")
    message = _refused(["run", scen, "--out", tmp_path / "out"])
    assert words in message


def test_csv_text_cells_are_neutralised():
    frame = pd.DataFrame({"note": ["=cmd|x", "-5", "ok", "a\rb\0c"], "value": [1.0, -2.0, 3, 4]})
    safe = csv_safe(frame)
    assert list(safe["note"]) == ["'=cmd|x", "'-5", "ok", "a\ufffdb\ufffdc"]
    assert list(safe["value"]) == [1.0, -2.0, 3.0, 4.0]  # numbers are numbers
    shipped = pd.DataFrame({"unit": ["1/year", "yuan/(person*year)"], "region": ["Tibet"] * 2})
    assert csv_safe(shipped) is shipped  # nothing to change: the same table


def test_the_server_refuses_two_content_length_headers(tmp_path):
    from sdplanner.web import Explorer, make_server, serve_in_thread

    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "baseline.yaml").write_text((SCENARIOS / "baseline.yaml").read_text())
    server = make_server(Explorer(folder, engine="batch", params=False), "127.0.0.1", 0, quiet=True)
    thread = serve_in_thread(server)
    try:
        for lengths in ((b"2", b"2"), (b"2", b"50"), (b"+2",), (b"1_0",)):
            headers = b"".join(b"Content-Length: " + n + b"\r\n" for n in lengths)
            payload = (
                b"POST /api/run HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\n" + headers + b"\r\n{}"
            )
            with socket.create_connection(server.server_address[:2], timeout=30) as sock:
                sock.sendall(payload)
                sock.shutdown(socket.SHUT_WR)
                answer = b"".join(iter(lambda: sock.recv(65536), b""))
            assert answer.startswith(b"HTTP/1.0 400 "), answer[:200]
            assert b"Content-Length" in answer
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_quote_bounds_every_value():
    assert quote("x" * 5_000_000) == "'" + "x" * 80 + "…' (5,000,000 characters)"
    assert len(quote({"a": list(range(10**6))})) <= 80
    assert len(quote("'" * 1000)) < 120 and quote(10**330).count("...") == 1
