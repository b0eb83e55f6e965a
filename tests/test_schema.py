"""Declared schemas of the input files: exported JSON Schemas, shipped files, messages."""

from __future__ import annotations

import json

import jsonschema
import pytest

from sdplanner.cli import main
from sdplanner.errors import ModelError, ScenarioError
from sdplanner.safe_yaml import load_yaml
from sdplanner.schema import KINDS, FileModel, check, json_schema, schema_of, validate
from sdplanner.schema.model_spec import SpecFile
from sdplanner.schema.scenario import LeverFile, with_levers

from .conftest import ROOT
from .shipped import LEVERS, MODEL

#: Every shipped input file and its kind.
SHIPPED = [
    *[("scenario", p) for p in sorted((ROOT / "scenarios").glob("*.yaml"))],
    *[("params", p) for p in sorted((ROOT / "calibration").glob("*.params.yaml"))],
    *[("uncertainty", p) for p in sorted((ROOT / "uncertainty").glob("*.yaml"))],
    ("checks", ROOT / "models" / "sdplanner.checks.yaml"),
    ("model-spec", ROOT / "models" / "sdplanner.spec.yaml"),
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
    assert set(KINDS) >= {"scenario", "params", "uncertainty", "checks", "model-spec"}
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
