"""Tests of `sdplanner check`: unit consistency and reality checks.

Unit errors are planted in small models written for the test; each must be reported, and
nothing else. Reality checks run on a one-stock model with the 14 regions (PySD, well under a
second a run) and, for the shipped model, with the batch engine when it is available.
"""

from __future__ import annotations

import importlib.util
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

from sdplanner.checks.errors import CheckError
from sdplanner.checks.reality import (
    Expectation,
    checks_path_for,
    evaluate,
    load_checks,
)
from sdplanner.checks.units import base_unit_definitions, check_units, format_units, parse_units
from sdplanner.cli import main
from sdplanner.engine.base import SimulationOutput
from tests.shipped import ELEMENTS, REGIONS, SPEC

UNITS = SPEC.units  # the shipped model's unit vocabulary

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "models" / "sdplanner.mdl"

CONTROL = """
FINAL TIME  = 2020
	~	year
	~	The final time for the simulation.
	|

INITIAL TIME  = 2010
	~	year
	~	The initial time for the simulation.
	|

SAVEPER  = 1
	~	year [0,?]
	~	The frequency with which output is stored.
	|

TIME STEP  = 0.25
	~	year [0,?]
	~	The time step for the simulation.
	|
"""

# A consistent core every unit-error model extends: a stock in person, a flow, money, a rate.
CORE = """
People= INTEG (
	births - deaths,
		1000)
	~	person
	~	A population.
	|

births=
	People * birth rate
	~	person/year
	~	Births.
	|

deaths=
	People / lifetime
	~	person/year
	~	Deaths.
	|

birth rate=
	0.02
	~	1/year
	~	Births per person per year.
	|

lifetime=
	70
	~	year
	~	Average life.
	|

money=
	5000
	~	yuan
	~	Savings.
	|

share=
	0.3
	~	Dmnl
	~	A share.
	|
"""


def equation(name: str, expr: str, units: str, comment: str = "Planted.") -> str:
    return f"\n{name}=\n\t{expr}\n\t~\t{units}\n\t~\t{comment}\n\t|\n"


def write_model(tmp_path: Path, extra: str, core: str = CORE, name: str = "m.mdl") -> Path:
    path = tmp_path / name
    path.write_text("{UTF-8}\n" + core + extra + CONTROL, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- units


def test_consistent_model_has_no_finding(tmp_path):
    extra = (
        equation("income", "money / lifetime", "yuan/year")
        + equation("rest", "1 - share", "Dmnl")
        + equation("bounded", "MIN(1, MAX(0, share)) * 100", "Dmnl")
        + equation("per capita", "ZIDZ(money, People)", "yuan/person")
        + equation("fallback", "XIDZ(money, People, 0)", "yuan/person")
        + equation("growth", "EXP(birth rate * (Time - INITIAL TIME))", "Dmnl")
        + equation("root", "(People * People) ^ 0.5", "person")
        + equation("elastic", "(People / People) ^ share", "Dmnl")
        + equation("ramped", "IF THEN ELSE(Time >= 2015, share, 0)", "Dmnl")
        + equation("stepped", "STEP(People, 2015)", "person")
        + equation(
            "effect",
            "WITH LOOKUP(share, ([(0,0)-(1,2)],(0,1),(1,2)))",
            "Dmnl",
        )
        + equation(
            "of time",
            "WITH LOOKUP(Time, ([(2010,0)-(2020,1)],(2010,0),(2020,1)))",
            "Dmnl",
            "A lookup of time [x units: year].",
        )
        + equation("years lived", "lifetime * 2 + 3", "year")
        + "\nTotal Money= INTEG (\n\tincome,\n\t\tmoney)\n\t~\tyuan\n\t~\tAccumulated.\n\t|\n"
    )
    report = check_units(write_model(tmp_path, extra), UNITS)
    assert report.findings == ()
    assert report.n_equations == 7 + 13 + 1 + 4


UNIT_ERRORS = [
    # (planted equations, variable, context, first units, second units)
    pytest.param(
        "\nMoney Stock= INTEG (\n\tPeople,\n\t\tmoney)\n\t~\tyuan\n\t~\tBad flow.\n\t|\n",
        "Money Stock",
        "stock flow",
        "person",
        "yuan/year",
        id="flow-in-person-into-yuan-stock",
    ),
    pytest.param(
        "\nHeads= INTEG (\n\tPeople,\n\t\t0)\n\t~\tperson\n\t~\tFlow in person.\n\t|\n",
        "Heads",
        "stock flow",
        "person",
        "person/year",
        id="flow-in-person-into-person-stock",
    ),
    pytest.param(
        "\nWealth= INTEG (\n\tmoney / lifetime,\n\t\tPeople)\n\t~\tyuan\n\t~\tBad init.\n\t|\n",
        "Wealth",
        "stock initial value",
        "person",
        "yuan",
        id="stock-initial-value",
    ),
    pytest.param(
        equation("mixed", "People + money", "person"),
        "mixed",
        "addition",
        "person",
        "yuan",
        id="yuan-plus-person",
    ),
    pytest.param(
        equation("smallest", "MIN(People, money)", "person"),
        "smallest",
        "MIN arguments",
        "person",
        "yuan",
        id="min-person-yuan",
    ),
    pytest.param(
        equation("grown", "EXP(People)", "Dmnl"),
        "grown",
        "EXP argument",
        "person",
        "Dmnl",
        id="exp-of-person",
    ),
    pytest.param(
        equation("effect", "WITH LOOKUP(People, ([(0,0)-(10,2)],(0,1),(10,2)))", "Dmnl"),
        "effect",
        "lookup input",
        "person",
        "Dmnl",
        id="lookup-input",
    ),
    pytest.param(
        "\ncalendar effect(\n\t[(2010,0)-(2020,1)],(2010,0),(2020,1))\n\t~\tDmnl\n"
        "\t~\tA named lookup of time [x units: year].\n\t|\n"
        + equation("on time", "calendar effect(Time)", "Dmnl")
        + equation("off time", "calendar effect(People)", "Dmnl"),
        "off time",
        "lookup input",
        "person",
        "year",
        id="named-lookup-input",
    ),
    pytest.param(
        equation("wrong side", "People * birth rate", "yuan/year"),
        "wrong side",
        "equation sides",
        "yuan/year",
        "person/year",
        id="equation-sides",
    ),
    pytest.param(
        equation("branches", "IF THEN ELSE(Time > 2015, People, money)", "person"),
        "branches",
        "IF THEN ELSE branches",
        "person",
        "yuan",
        id="if-branches",
    ),
    pytest.param(
        equation("compared", "IF THEN ELSE(People > money, 1, 0)", "Dmnl"),
        "compared",
        "comparison >",
        "person",
        "yuan",
        id="comparison",
    ),
    pytest.param(
        equation("powered", "People ^ share", "person"),
        "powered",
        "power base (the exponent is not a number)",
        "person",
        "Dmnl",
        id="power-of-dimensional-base",
    ),
    pytest.param(
        equation("fallback", "XIDZ(money, People, money)", "yuan/person"),
        "fallback",
        "XIDZ a/b and fallback",
        "yuan/person",
        "yuan",
        id="xidz-fallback",
    ),
    pytest.param(
        equation("timed", "STEP(1, lifetime * birth rate)", "Dmnl"),
        "timed",
        "STEP time",
        "Dmnl",
        "year",
        id="step-time",
    ),
    pytest.param(
        equation("widgets", "3", "widget"),
        "widgets",
        "unknown unit",
        "widget",
        "Dmnl, person, yuan, year, month, fraction, index, percent",
        id="unknown-unit",
    ),
]


@pytest.mark.parametrize(("extra", "variable", "context", "first", "second"), UNIT_ERRORS)
def test_planted_unit_error_is_the_only_finding(tmp_path, extra, variable, context, first, second):
    report = check_units(write_model(tmp_path, extra), UNITS)
    assert [(f.variable, f.context) for f in report.findings] == [(variable, context)]
    finding = report.findings[0]
    assert (finding.first_units, finding.second_units) == (first, second)
    line = finding.line()
    assert "\n" not in line
    assert line.startswith(f"{variable}: {context}: ")
    assert f"[{first}]" in line and f"[{second}]" in line and "equation: " in line


def test_every_planted_error_at_once_reports_each_once(tmp_path):
    extras = [p.values[0] for p in UNIT_ERRORS]
    report = check_units(write_model(tmp_path, "".join(extras)), UNITS)
    expected = sorted((p.values[1], p.values[2]) for p in UNIT_ERRORS)
    assert sorted((f.variable, f.context) for f in report.findings) == expected


def test_missing_units_reported(tmp_path):
    report = check_units(write_model(tmp_path, equation("bare", "share * 2", "")), UNITS)
    assert [(f.variable, f.context) for f in report.findings] == [("bare", "units missing")]


def test_percent_is_not_dmnl(tmp_path):
    report = check_units(write_model(tmp_path, equation("pct", "share", "percent")), UNITS)
    assert [f.context for f in report.findings] == ["equation sides"]


def test_units_formatting():
    assert format_units(parse_units("yuan/(person*year)", UNITS)) == "yuan/(person*year)"
    assert format_units(parse_units("1/year", UNITS)) == "1/year"
    assert format_units(parse_units("Dmnl", UNITS)) == "Dmnl"
    assert format_units(parse_units("fraction", UNITS)) == "Dmnl"
    with pytest.raises(ValueError, match="widget"):
        parse_units("widget", UNITS)


def test_without_declared_units_every_unit_name_is_a_base_unit(tmp_path):
    # Vensim's rule for a model with no spec: 'widgets' is a unit of its own, so an equation
    # that mixes it with yuan is still an inconsistency, but no name is "unknown".
    extra = equation("widget count", "5", "widgets") + equation(
        "mixed", "widget count + money", "widgets"
    )
    report = check_units(write_model(tmp_path, extra))
    assert [(f.variable, f.context) for f in report.findings] == [("mixed", "addition")]
    assert base_unit_definitions(["yuan/(person*year)", "Dmnl", "widgets"]) == (
        "yuan = [yuan]",
        "person = [person]",
        "year = [year]",
        "widgets = [widgets]",
    )


def test_shipped_model_has_no_unit_finding():
    report = check_units(SHIPPED, UNITS)
    assert report.findings == (), "\n".join(f.line() for f in report.findings)
    assert report.n_equations > 200
    assert report.unsupported == ()


# --------------------------------------------------------------------------- command, units


def test_cli_reports_unit_finding_and_no_checks_file(tmp_path, capsys):
    path = write_model(tmp_path, equation("mixed", "People + money", "person"))
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "UNITS mixed: addition:" in out
    assert "No reality checks found" in out and "m.checks.yaml" in out


def test_cli_clean_model_without_checks_exits_0(tmp_path, capsys):
    path = write_model(tmp_path, "")
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Units: 0 finding(s)" in out
    assert "No reality checks found" in out


def test_cli_unreadable_model_exits_2(tmp_path, capsys):
    assert main(["check", str(tmp_path / "missing.mdl")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model file not found" in err
    bad = tmp_path / "bad.mdl"
    bad.write_text("{UTF-8}\nx = = (\n", encoding="utf-8")
    assert main(["check", str(bad)]) == 2
    assert "PySD cannot parse" in capsys.readouterr().err


# --------------------------------------------------------------------------- reality: file errors


@pytest.fixture(scope="module")
def shipped_model():
    from sdplanner.model import load_model

    return load_model(SHIPPED)


BAD_FILES = [
    pytest.param(
        "checks:\n  - name: a\n    expect: [ {variable: x\n",
        r"bad\.yaml: invalid YAML at line \d+, column \d+: ",
        id="invalid-yaml",
    ),
    pytest.param(
        "checks:\n  - name: a\n    expect:\n"
        "      - {variable: urbanisation_rate, rule: nonnegative}\n",
        r"bad\.yaml: checks\[0\]\.expect\[0\]\.variable: expected a variable of the model,"
        r" found 'urbanisation_rate' \(did you mean 'urbanization_rate'\?\)",
        id="unknown-variable",
    ),
    pytest.param(
        "checks:\n  - name: a\n    expect:\n"
        "      - {variable: urbanization_rate, rule: decreasng}\n",
        r"checks\[0\]\.expect\[0\]\.rule: expected one of the 13 rules of docs/checks\.md,"
        r" found 'decreasng'"
        r" \(did you mean 'decreasing'\?\)",
        id="unknown-rule",
    ),
    pytest.param(
        "checks:\n  - name: a\n    expect:\n"
        "      - {variable: urbanization_rate, regions: [Tibbet], rule: nonnegative}\n",
        rf"checks\[0\]\.expect\[0\]\.regions: expected one of the {len(REGIONS)} regions"
        r" of the model,"
        r" found 'Tibbet' \(did you mean 'Tibet'\?\)",
        id="bad-region",
    ),
    pytest.param(
        "checks:\n  - name: a\n    condition:\n"
        "      parameters: {total_population_2010: {Tibbet: 0}}\n"
        "    expect:\n      - {variable: urbanization_rate, rule: nonnegative}\n",
        r"checks\[0\]\.condition\.parameters\.total_population_2010: expected one of the"
        rf" {len(REGIONS)}"
        r" regions .*found 'Tibbet'",
        id="bad-region-in-condition",
    ),
    pytest.param(
        "checks:\n  - name: a\n    condition:\n      parameters: {total_populaton_2010: 0}\n"
        "    expect:\n      - {variable: urbanization_rate, rule: nonnegative}\n",
        r"checks\[0\]\.condition\.parameters\.total_populaton_2010: expected a constant of the"
        r" model, found 'total_populaton_2010' \(did you mean 'total_population_2010'\?\)",
        id="unknown-parameter",
    ),
    pytest.param(
        "checks:\n  - name: a\n    expect:\n      - {variable: urbanization_rate, rule: between}\n",
        r"checks\[0\]\.expect\[0\]\.bounds: expected \[lower, upper\].*found nothing$",
        id="between-without-bounds",
    ),
    pytest.param(
        "checks:\n  - name: a\n    expect:\n"
        "      - {variable: urbanization_rate, rule: nonnegative, bounds: [0, 1]}\n",
        r"checks\[0\]\.expect\[0\]\.bounds: unknown key for rule 'nonnegative'"
        r" \(expected variable, regions, years\)$",
        id="key-of-another-rule",
    ),
    pytest.param(
        "checks:\n  - name: a\n    expect:\n"
        "      - {variable: urbanization_rate, years: [2000, 2020], rule: nonnegative}\n",
        r"checks\[0\]\.expect\[0\]\.years: expected years with 2010 <= first <= last <= 2050",
        id="years-out-of-run",
    ),
    pytest.param(
        "checks:\n  - name: a\n    expect: [{variable: gdp, rule: nonnegative}]\n"
        "  - name: a\n    expect: [{variable: gdp, rule: nonnegative}]\n",
        r"checks\[1\]\.name: expected a name used once, found 'a'",
        id="duplicate-name",
    ),
    pytest.param(
        "checks:\n  - name: a\n    expects: []\n",
        r"checks\[0\]\.expects: unknown key \(did you mean 'expect'\?\)$",
        id="unknown-key",
    ),
]


@pytest.mark.parametrize(("text", "pattern"), BAD_FILES)
def test_bad_checks_file_is_one_line_exit_2(tmp_path, capsys, text, pattern):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    assert main(["check", str(SHIPPED), "--checks", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sdplanner: error: ") and err.count("\n") == 1
    assert __import__("re").search(pattern, err), err


def test_missing_checks_file_given_explicitly_exits_2(tmp_path, capsys):
    assert main(["check", str(SHIPPED), "--checks", str(tmp_path / "none.yaml")]) == 2
    assert "reality-check file not found" in capsys.readouterr().err


def test_shipped_checks_file_is_valid_and_covers_every_lever(shipped_model):
    from tests.shipped import LEVERS

    checks = load_checks(checks_path_for(SHIPPED), shipped_model)
    assert len(checks) >= 12
    assert len({c.name for c in checks}) == len(checks)
    single = {next(iter(c.parameters)) for c in checks if len(c.parameters) == 1}
    for lever in LEVERS:
        assert lever.strength_constant in single, lever.name
    extreme = {p for c in checks for p in c.parameters}
    assert "total_population_2010" in extreme


# --------------------------------------------------------------------------- reality: rules


def _output(values: np.ndarray, name: str = "x") -> SimulationOutput:
    times = np.arange(2010.0, 2010.0 + values.shape[0])
    return SimulationOutput(times=times, values={name: values}, engine="test")


def _expect(rule: str, **kw) -> Expectation:
    kw.setdefault("regions", tuple(range(len(REGIONS))))
    kw.setdefault("region_names", REGIONS)
    kw.setdefault("years", (2010.0, 2014.0))
    return Expectation(variable="x", rule=rule, **kw)


def test_rules_find_the_first_failing_region_and_year():
    v = np.tile(np.linspace(1.0, 5.0, 5)[:, None], (1, len(REGIONS)))
    out = _output(v)
    assert evaluate(_expect("increasing"), out).passed
    assert evaluate(_expect("between", bounds=(1.0, 5.0)), out).passed
    failed = evaluate(_expect("decreasing"), out)
    assert not failed.passed and failed.n_failures == 4 * len(REGIONS)
    assert failed.message.startswith(f"x, {REGIONS[0]}, 2011: expected decreasing")

    w = v.copy()
    w[3, 11] = -1.0  # Tibet, 2013
    result = evaluate(_expect("nonnegative"), _output(w))
    assert result.message == f"x, {REGIONS[11]}, 2013: expected nonnegative, found -1"
    assert result.n_failures == 1
    assert evaluate(_expect("nonnegative", regions=(0, 1)), _output(w)).passed
    assert evaluate(_expect("nonnegative", years=(2010.0, 2012.0)), _output(w)).passed

    w[2, 5] = np.nan
    nan = evaluate(_expect("between", bounds=(-np.inf, np.inf)), _output(w))
    assert not nan.passed and "found nan" in nan.message
    w[2, 5] = np.inf
    assert not evaluate(_expect("nonnegative"), _output(w)).passed


def test_baseline_and_tolerance_rules():
    base = np.ones((5, len(REGIONS)))
    more = base * 1.5
    more[4, 13] = 1.0
    out, baseline = _output(more), _output(base)
    res = evaluate(_expect("greater_than_baseline"), out, baseline)
    assert not res.passed and res.message.startswith(f"x, {REGIONS[13]}, 2014: expected above")
    assert evaluate(
        _expect("less_than_baseline", years=(2010.0, 2010.0)), _output(base * 0.5), baseline
    ).passed
    assert evaluate(_expect("equals_baseline"), _output(base * (1 + 1e-9)), baseline).passed
    assert not evaluate(_expect("equals_baseline"), _output(base * 1.01), baseline).passed
    assert evaluate(_expect("equals", value=1.0), baseline).passed
    assert evaluate(_expect("constant"), baseline).passed
    assert not evaluate(_expect("constant"), _output(more)).passed
    scalar = SimulationOutput(
        times=np.arange(2010.0, 2015.0), values={"x": np.arange(5.0), "y": np.full(5, 3.0)}
    )
    at_most = evaluate(Expectation("x", "at_most", None, (2010.0, 2014.0), other="y"), scalar)
    assert not at_most.passed and at_most.message.startswith("x, 2014: expected at most y = 3")


# --------------------------------------------------------------------------- reality: a small model

SMALL = """
Stock[Region]= INTEG (
	inflow[Region] - outflow[Region],
		initial stock[Region])
	~	person
	~	A regional population.
	|

inflow[Region]=
	Stock[Region] * growth rate[Region]
	~	person/year
	~	Arrivals.
	|

outflow[Region]=
	Stock[Region] / residence time
	~	person/year
	~	Departures.
	|

growth rate[Region]=
	0.1
	~	1/year
	~	Arrivals per resident per year.
	|

residence time=
	20
	~	year
	~	Average stay.
	|

initial stock[Region]=
	1000
	~	person
	~	Residents at the start.
	|
"""

SMALL_CHECKS = """
checks:
  - name: grows
    description: The stock grows in the baseline.
    expect:
      - {variable: stock, rule: increasing}
      - {variable: Stock, rule: nonnegative}
  - name: tibet-stops-arrivals
    description: Stopping arrivals in one region makes it decline (stated wrongly on purpose).
    condition:
      parameters: {growth_rate: {Tibet: 0}}
    expect:
      - {variable: stock, rule: increasing}
  - name: arrivals-stop-in-2015
    description: With no arrivals from 2015 the stock falls below the baseline.
    condition:
      parameters:
        growth_rate: {from_year: 2015, value: 0}
    expect:
      - {variable: stock, years: [2010, 2015], rule: equals_baseline}
      - {variable: stock, years: [2016, 2020], rule: less_than_baseline}
      - {variable: stock, years: [2016, 2020], rule: decreasing}
"""


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small")
    elements = ", ".join(ELEMENTS)
    core = f"Region:\n\t{elements}\n\t~\t\n\t~\tThe 14 regions.\n\t|\n" + SMALL
    path = write_model(folder, "", core=core, name="small.mdl")
    checks_path_for(path).write_text(SMALL_CHECKS, encoding="utf-8")
    return path


@pytest.mark.parametrize("engine", ["pysd", "batch"])
def test_small_model_failing_check_names_variable_region_year(small_model, capsys, engine):
    if engine == "batch" and not _batch_available():
        pytest.skip("the batch engine is not available")
    code = main(["check", str(small_model), "--engine", engine])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "Units: 0 finding(s)" in out
    assert "PASS grows:" in out
    assert "PASS arrivals-stop-in-2015:" in out
    fails = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert fails == [
        "FAIL tibet-stops-arrivals: stock, Tibet, 2011: expected increasing (above the 2010"
        " value 1000), found 950.93 (and 9 more region-years)"
    ]
    assert "2 of 3 reality checks passed" in out


def test_small_model_passes_when_checks_hold(small_model, tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text(
        SMALL_CHECKS.replace(
            "rule: increasing}\n  - name: arrivals", "rule: nonnegative}\n  - name: arrivals"
        ),
        encoding="utf-8",
    )
    assert main(["check", str(small_model), "--checks", str(good), "--engine", "pysd"]) == 0
    assert "3 of 3 reality checks passed" in capsys.readouterr().out


def test_load_checks_builds_engine_values(small_model):
    from sdplanner.engine.base import TimeSeries
    from sdplanner.model import load_model

    checks = load_checks(checks_path_for(small_model), load_model(small_model))
    regional = checks[1].parameters["growth_rate"]
    assert regional.shape == (len(REGIONS),)
    assert regional[11] == 0 and regional[0] == pytest.approx(0.1)
    step = checks[2].parameters["growth_rate"]
    assert isinstance(step, TimeSeries) and step.values.shape == (4, len(REGIONS))
    assert step.at(2014.0)[0] == pytest.approx(0.1) and step.at(2015.0)[0] == 0.0
    with pytest.raises(CheckError, match="has no Region subscript"):
        bad = small_model.parent / "scalar.yaml"
        bad.write_text(
            "checks:\n  - name: a\n    condition:\n      parameters: {residence_time: {Tibet: 1}}\n"
            "    expect: [{variable: stock, rule: nonnegative}]\n",
            encoding="utf-8",
        )
        load_checks(bad, load_model(small_model))


# --------------------------------------------------------------------------- the shipped model


def _batch_available() -> bool:
    return importlib.util.find_spec("sdplanner.engine.batch") is not None


@pytest.mark.skipif(
    not _batch_available() and not os.environ.get("SDPLANNER_SLOW_TESTS"),
    reason="without the batch engine the shipped checks take minutes through PySD"
    " (set SDPLANNER_SLOW_TESTS=1 to run them)",
)
def test_shipped_model_reality_checks_run(capsys, shipped_model):
    engine = "batch" if _batch_available() else "pysd"
    code = main(["check", str(SHIPPED), "--engine", engine])
    out = capsys.readouterr().out
    checks = load_checks(checks_path_for(SHIPPED), shipped_model)
    for check in checks:
        assert f"PASS {check.name}:" in out or f"FAIL {check.name}:" in out, check.name
    assert code == (1 if "\nFAIL " in out else 0)
    failing = {line.split(":")[0][5:] for line in out.splitlines() if line[:5] == "FAIL "}
    # Every shipped check passes; a failure is a regression of the model (or a check to fix).
    assert not failing, textwrap.indent("\n".join(sorted(failing)), "  ")
    assert code == 0
