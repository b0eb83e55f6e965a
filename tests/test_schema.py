"""Declared schemas of the input files: exported JSON Schemas, shipped files, messages."""

from __future__ import annotations

import json

import jsonschema
import pytest

from sdplanner.calibration import parse_spec
from sdplanner.cli import main
from sdplanner.errors import CalibrationError, ModelError, ScenarioError
from sdplanner.safe_yaml import load_yaml
from sdplanner.schema import KINDS, FileModel, check, json_schema, schema_of, validate
from sdplanner.schema.calibration import MAX_MAGNITUDE, CalibrationFile, words
from sdplanner.schema.model_spec import SpecFile
from sdplanner.schema.scenario import LeverFile, with_levers

from .conftest import ROOT
from .shipped import LEVERS, MODEL, REGIONS

#: Every shipped input file and its kind.
SHIPPED = [
    *[("scenario", p) for p in sorted((ROOT / "scenarios").glob("*.yaml"))],
    *[("params", p) for p in sorted((ROOT / "calibration").glob("*.params.yaml"))],
    *[("uncertainty", p) for p in sorted((ROOT / "uncertainty").glob("*.yaml"))],
    ("checks", ROOT / "models" / "sdplanner.checks.yaml"),
    ("model-spec", ROOT / "models" / "sdplanner.spec.yaml"),
    *[
        ("calibration", p)
        for p in sorted((ROOT / "calibration").glob("*.yaml"))
        if not p.name.endswith(".params.yaml")
    ],
]


def _as_json(value):
    """A YAML document as an editor's YAML-to-JSON step gives it: keys are text."""
    if isinstance(value, dict):
        return {str(k): _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    return value


def _schema(kind: str) -> dict:
    schema = json_schema(kind)
    return with_levers(schema, MODEL) if kind == "scenario" else schema


@pytest.mark.parametrize(("kind", "path"), SHIPPED, ids=lambda x: getattr(x, "name", x))
def test_every_shipped_file_follows_its_exported_schema(kind, path):
    data = load_yaml(path, kind=kind, error=ScenarioError)
    validator = jsonschema.Draft202012Validator(_schema(kind))
    errors = [
        f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(_as_json(data))
    ]
    assert errors == []
    schema_of(kind).model_validate(data)  # and the schema pydantic validates with


def test_every_kind_has_a_schema_and_the_shipped_files_cover_them():
    assert set(KINDS) >= {
        "scenario",
        "params",
        "uncertainty",
        "checks",
        "model-spec",
        "calibration",
    }
    for kind in KINDS:
        assert issubclass(schema_of(kind), FileModel)
        jsonschema.Draft202012Validator.check_schema(json_schema(kind))
    assert {kind for kind, _ in SHIPPED} == set(KINDS)


@pytest.mark.parametrize(
    ("kind", "document"),
    [
        ("scenario", {"name": "x", "levers": {"hukou_reforms": {"strength": 0.5}}}),
        ("scenario", {"name": "x", "levers": {"hukou_reform": {"strength": 2}}}),
        ("scenario", {"name": "x", "levers": {"hukou_reform": {"regions": {"Tibett": 0.1}}}}),
        ("scenario", {"levers": {}}),
        ("params", {"description": "no parameters"}),
        ("uncertainty", {"parameters": {"x": {"distribution": "uniform", "min": 0}}}),
        ("uncertainty", {"parameters": {"x": {"distribution": "normal", "mean": 0, "sd": -1}}}),
        ("checks", {"checks": [{"name": "a", "expect": [{"variable": "x", "rule": "between"}]}]}),
        ("model-spec", {"model": "m.mdl", "outputs": {"x": {"label": "x", "aggregate": "avg"}}}),
        ("calibration", {"parameters": {"a": {"lower": 0.1}}, "indicators": {"x": {}}}),
        ("calibration", {"parameters": {"a": {"lower": 0, "upper": 1e16}}, "indicators": {}}),
        ("calibration", {"parameters": {}, "indicators": {"x": {"variable": "v", "sigma": -1}}}),
    ],
)
def test_the_exported_schemas_refuse_broken_files(kind, document):
    # what an editor marks: unknown levers, a strength above its range, a missing key
    assert list(jsonschema.Draft202012Validator(_schema(kind)).iter_errors(document))


def test_the_scenario_schema_lists_every_lever_with_the_mdl_ranges():
    levers = _schema("scenario")
    props = levers["properties"]["levers"]["properties"]
    assert list(props) == [lever.name for lever in LEVERS]
    for lever in LEVERS:
        strength = levers["$defs"][f"Lever_{lever.name}"]["properties"]["strength"]
        assert (strength["minimum"], strength["maximum"]) == (lever.minimum, lever.maximum)


MESSAGES = [
    (
        {"model": "m.mdl", "levers": {"a": {"path": "p", "lable": "x"}}},
        "levers.a.lable: unknown key (did you mean 'label'?)",
    ),
    (
        {"model": "m.mdl", "outputs": {"x": {"label": "x", "aggregate": "avg"}}},
        "outputs.x.aggregate: expected one of sum, mean, none, found 'avg'",
    ),
    (
        {"model": "m.mdl", "views": {"headline": "gdp"}},
        "views.headline: expected a list, found the text 'gdp'",
    ),
    (
        {"model": "m.mdl", "years": {"comparison": [2030, "2050"]}},
        "years.comparison[1]: expected a whole number, found the text '2050' (write a plain"
        " number such as 0.01, without quotes)",
    ),
    (
        {"model": "m.mdl", "money": {"price_base": True}},
        "money.price_base: expected a whole number, found True",
    ),
    ({"moddel": "m.mdl"}, "moddel: unknown key (did you mean 'model'?)"),
    (
        {"model": "m.mdl", "dimension": {"subscript": "Region"}},
        "dimension.aggregate: expected a text, found nothing",
    ),
    ([1, 2], "(top level): expected a mapping of keys to values, found a list"),
]


@pytest.mark.parametrize(("document", "message"), MESSAGES)
def test_model_spec_messages_name_the_key_path(document, message):
    with pytest.raises(ModelError) as info:
        validate(SpecFile, document, "m.spec.yaml", ModelError)
    assert str(info.value) == f"m.spec.yaml: {message}"


#: A valid spec's sections, for the messages below to break one key at a time.
_P = {"a": {"lower": 0.1, "upper": 0.7}}
_I = {"x": {"variable": "v", "sigma": 1}}
CALIBRATION_MESSAGES = [
    (
        {"parameters": {"a": {"lower": 0.7, "upper": 0.1}}},
        "parameters.a: bounds reversed or empty: expected lower < upper, found lower 0.7 and"
        " upper 0.1",
    ),
    (
        {"parameters": {"a": {"lowr": 0.1, "upper": 1}}},
        "parameters.a.lowr: unknown key (did you mean 'lower'?)",
    ),
    ({"parameters": {"a": {"lower": 0.1}}}, "parameters.a.upper: expected a bound, found nothing"),
    (
        {"parameters": {"a": {"lower": 0.1, "upper": 1e300}}},
        f"parameters.a.upper: expected a bound of magnitude at most {MAX_MAGNITUDE:g},"
        " found 1e+300",
    ),
    (
        {"parameters": {"a": {"lower": 0.1, "upper": "0.7"}}},
        "parameters.a.upper: expected a bound, found the text '0.7' (write a plain number such"
        " as 0.01, without quotes)",
    ),
    (
        {"parameters": {"a": {"lower": 0, "upper": 1, "transform": "log"}}},
        "parameters.a.transform: expected a positive lower bound for log, found 0",
    ),
    (
        {"parameters": {"a": {"lower": 0.1, "upper": 1, "regions": "Tibet"}}},
        "parameters.a.regions: expected 'all' or a list of regions, found 'Tibet'",
    ),
    (
        {"parameters": {"a": {"lower": 0.1, "upper": 1, "prior": {"distribution": "nromal"}}}},
        "parameters.a.prior.distribution: expected 'normal' or 'lognormal', found 'nromal'"
        " (did you mean 'normal'?)",
    ),
    (
        {
            "parameters": {
                "a": {
                    "lower": 0.1,
                    "upper": 1,
                    "prior": {"distribution": "lognormal", "median": 1, "sd": 1},
                }
            }
        },
        "parameters.a.prior.sd: unknown key for distribution 'lognormal' (expected median,"
        " sdlog) (did you mean 'sdlog'?)",
    ),
    (
        {
            "parameters": {
                "a": {
                    "lower": 0.2,
                    "upper": 5,
                    "regions": "all",
                    "pooling": {"shared": "b", "tau": 0},
                }
            }
        },
        "parameters.a.pooling.tau: expected a positive spread (sdlog), found 0",
    ),
    (
        {"parameters": {}},
        "parameters: expected a mapping of constants to estimate, found an empty mapping",
    ),
    (
        {"indicators": {"x": {"variable": "v", "sigma": {"subarea": 1}}}},
        "indicators.x.sigma.subarea: expected one of region, aggregate, sub-area, found"
        " 'subarea' (did you mean 'sub-area'?)",
    ),
    (
        {"indicators": {"x": {"variable": "v", "sigma": {"region": 0}}}},
        "indicators.x.sigma.region: expected a positive standard error, found 0",
    ),
    (
        {"indicators": {"x": {"variable": "v", "weight": 5}}},
        "indicators.x.weight: expected a variable or a list of them, found 5",
    ),
    (
        {"indicators": {"x": {"variable": "v", "unit": "percentage"}}},
        "indicators.x.unit: expected one of level, fraction, percent, found 'percentage' (did"
        " you mean 'percent'?)",
    ),
    (
        {"indicators": {"x": {"variable": "v", "prices": "constant", "deflator": "d"}}},
        "indicators.x.deflator: only a series with prices: current has one",
    ),
    (
        {"indicators": {"x": {"variable": "v", "fit": {"fitted": False}}}},
        "indicators.x.fit.reason: expected why it is not fitted, found nothing",
    ),
    (
        {"deflators": {"d": {"source": "s", "values": {2010.5: 1}}}},
        "deflators.d.values.2010.5: expected a whole year, found 2010.5",
    ),
    (
        {"deflators": {"d": {"source": "s", "values": {2010: -1}}}},
        "deflators.d.values.2010: expected a positive price level, found -1",
    ),
    (
        {"confidence": {"sigma_factor": {"low": 0.5}}},
        "confidence.sigma_factor.low: expected a sigma multiplier >= 1 (a less trusted figure"
        " weighs less, never more), found 0.5",
    ),
    (
        {"year_mapping": [{"indicator": "x", "form": 2009, "to": 2010}]},
        "year_mapping[0].form: unknown key (did you mean 'from'?)",
    ),
    (
        {"year_mapping": [{"indicator": "x", "to": 2010}]},
        "year_mapping[0].from: expected a whole year, found nothing",
    ),
    (
        {"objective": {"loss": "hubber"}},
        "objective.loss: expected one of linear, soft_l1, huber, cauchy, arctan, found"
        " 'hubber' (did you mean 'huber'?)",
    ),
    ({"filter": {"years": [2012]}}, "filter: unknown key (did you mean 'final_time'?)"),
]
#: What JSON Schema cannot say (one key against another's value), for editors' sake.
NOT_IN_JSON_SCHEMA = ("bounds reversed",)


@pytest.mark.parametrize(("change", "message"), CALIBRATION_MESSAGES)
def test_calibration_spec_messages_name_the_key_path(change, message):
    document = {"parameters": _P, "indicators": _I, **change}
    with pytest.raises(CalibrationError) as info:
        validate(CalibrationFile, document, "s.yaml", CalibrationError, words)
    assert str(info.value) == f"s.yaml: {message}"
    # an editor with the exported schema marks it too
    validator = jsonschema.Draft202012Validator(json_schema("calibration"))
    refused = list(validator.iter_errors(_as_json(document)))
    assert bool(refused) != any(words in message for words in NOT_IN_JSON_SCHEMA)


def test_calibration_spec_schema_keeps_what_the_file_says_and_defaults_the_rest():
    document = {
        "parameters": {"a": {"lower": 1, "upper": 2, "transform": "log", "regions": "all"}},
        "indicators": {"x": {"variable": "v", "sigma": {"region": 2.5}}, "y": {"variable": "w"}},
        "year_mapping": [{"indicator": "x", "from": 2009, "to": 2010}],
    }
    spec = validate(CalibrationFile, document, "s", CalibrationError, words)
    a = spec.parameters["a"]
    assert (a.lower, a.upper, a.transform, a.regions, a.prior) == (1, 2, "log", "all", None)
    x, y = spec.indicators["x"], spec.indicators["y"]
    assert (x.sigma, y.sigma, y.unit, y.scale, y.aggregate) == (
        {"region": 2.5},
        None,
        "level",
        None,
        None,
    )
    assert (spec.year_mapping[0].source, spec.year_mapping[0].target) == (2009, 2010)
    assert spec.objective is None and spec.name is None


def test_the_spec_loader_counts_the_models_regions(model):
    document = {
        "parameters": {
            "urbanization_rate_2010": {"lower": 0.1, "upper": 0.4, "regions": ["Tibett"]}
        },
        "indicators": {"u": {"variable": "urbanization_rate", "unit": "percent", "sigma": 1}},
    }
    with pytest.raises(CalibrationError) as info:
        parse_spec(document, model)
    assert str(info.value) == (
        "spec: parameters.urbanization_rate_2010.regions: expected one of the"
        f" {len(REGIONS)} regions, found 'Tibett' (did you mean 'Tibet'?)"
    )


def test_a_lognormal_truncated_at_or_below_zero_is_refused_by_its_schema():
    # found by test_fuzz: max 0 made the loader take log(0) (a traceback, not a message)
    from sdplanner.schema.uncertainty import UncertaintyFile
    from sdplanner.uncertainty.errors import UncertaintyError

    entry = {"distribution": "lognormal", "median": 0.3, "sigma": 0.2, "max": 0.0}
    with pytest.raises(UncertaintyError) as info:
        validate(UncertaintyFile, {"parameters": {"x": entry}}, "u.yaml", UncertaintyError)
    assert str(info.value) == "u.yaml: parameters.x.max: expected a number > 0, found 0.0"


def test_a_value_of_an_api_call_is_checked_with_its_place():
    with pytest.raises(ScenarioError) as info:
        check(LeverFile, {"strength": float("nan")}, "settings[2].hukou_reform", ScenarioError)
    assert (
        str(info.value) == "settings[2].hukou_reform.strength: expected a finite number, found nan"
    )
    words = {("strength",): "a strength (fraction) in 0..1"}.get
    with pytest.raises(
        ScenarioError,
        match=r"\.strength: expected a strength \(fraction\) in 0\.\.1, found a list$",
    ):
        check(LeverFile, {"strength": [1]}, "levers.hukou_reform", ScenarioError, words)


def test_schema_command_prints_each_kind(capsys):
    for kind in KINDS:
        assert main(["schema", kind, "--generic"]) == 0
        printed = json.loads(capsys.readouterr().out)
        assert printed["$schema"].endswith("2020-12/schema")
        assert printed["title"] == f"sdplanner {kind} file"
    assert main(["schema", "scenario"]) == 0
    assert (
        "hukou_reform" in json.loads(capsys.readouterr().out)["properties"]["levers"]["properties"]
    )


def test_schema_command_writes_a_file_and_refuses_an_unknown_kind(tmp_path, capsys):
    out = tmp_path / "checks.schema.json"
    assert main(["schema", "checks", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["title"] == "sdplanner checks file"
    capsys.readouterr()
    assert main(["schema", "scenarios"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "found 'scenarios' (did you mean 'scenario'?)" in err


def test_a_new_kind_registers_with_one_line(monkeypatch, capsys):
    # the hook the calibration spec's schema uses: KINDS maps a kind to "module:class"
    monkeypatch.setitem(KINDS, "test-kind", "sdplanner.schema.scenario:LeverFile")
    assert main(["schema", "test-kind"]) == 0
    assert set(json.loads(capsys.readouterr().out)["properties"]) == {
        "strength",
        "start",
        "ramp_years",
        "regions",
    }
