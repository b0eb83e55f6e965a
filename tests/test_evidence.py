"""Observed points by role: fitted ones filled, the others hollow, model inputs never drawn.

The oracle is the shipped calibration's own record,
``calibration/history-2010-2015/observations.csv`` (the rows it fitted), and
``data/model_inputs.csv`` (the figures the model copies): the expected roles are computed
from those files here, independently of `sdplanner.evidence`, and compared with what
``sdplanner compare`` hands its figures and what the figures draw.
"""

from __future__ import annotations

import csv

import pandas as pd
import pytest

import sdplanner.commands.compare as compare_command
from sdplanner.cli import main
from sdplanner.errors import DataError
from sdplanner.evidence import (
    ANCHOR,
    BY_CONSTRUCTION,
    FITTED,
    NOT_FITTED,
    observed_evidence,
    point_role,
    read_fit_record,
    recorded_fit,
)
from sdplanner.figures import comparison_figures
from sdplanner.readers import read_observed
from sdplanner.style import OBSERVED_LABELS
from tests.figure_checks import check_figure
from tests.shipped import AGGREGATE, SPEC

from .conftest import DATA, ROOT, SCENARIOS

RECORD = ROOT / "calibration" / "history-2010-2015" / "observations.csv"
PARAMS = ROOT / "calibration" / "history-2010-2015.params.yaml"


def _rows(path):
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _expected_roles() -> dict[tuple[str, str, int], str]:
    """Seed rows of a region or the aggregate -> role, from the record and the model inputs."""
    fitted = {
        (r["indicator"], r["area"], int(r["data_year"]))
        for r in _rows(RECORD)
        if r["file"] == "seed_figures.csv" and r["role"] == "fitted"
    }
    inputs = {
        (r["source_indicator"], r["region"], int(r["source_year"])): float(r["source_value"])
        for r in _rows(DATA / "model_inputs.csv")
        if r["status"] == "data" and r["source_year"]
    }
    out = {}
    for r in _rows(DATA / "seed_figures.csv"):
        if r["area_type"] not in ("region", "aggregate") or not r["value"]:
            continue
        key = (r["indicator"], r["area"], int(r["year"]))
        if inputs.get(key) == float(r["value"]):
            out[key] = BY_CONSTRUCTION
        else:
            out[key] = FITTED if key in fitted else NOT_FITTED
    return out


@pytest.fixture(scope="module")
def handed(tmp_path_factory):
    """What ``sdplanner compare`` hands its figures, with and without the calibration."""
    seen = {}
    out = tmp_path_factory.mktemp("evidence")
    real = compare_command.comparison_figures
    for name, extra in (("default", []), ("no-params", ["--no-params"])):

        def spy(*args, _name=name, **kwargs):
            seen[_name] = {"observed": kwargs["observed"], "args": args, "kwargs": kwargs}
            return real(*args, **kwargs)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(compare_command, "comparison_figures", spy)
            code = main(
                [
                    "compare",
                    str(SCENARIOS / "baseline.yaml"),
                    str(SCENARIOS / "all-five.yaml"),
                    "--out",
                    str(out / name),
                    *extra,
                ]
            )
        assert code == 0
    return seen


def test_default_compare_draws_no_table1_rate(handed):
    observed = handed["default"]["observed"]
    urb = observed[observed["indicator"] == "urbanization_rate"]
    table1 = [r for r in _rows(DATA / "model_inputs.csv") if r["status"] == "data"]
    table1 = {
        (r["region"], int(r["source_year"]))
        for r in table1
        if r["source_indicator"] == "urbanization_rate"
    }
    assert len(table1) == 13  # the 13 Table 1 rates of 2010
    assert not {(r.region, int(r.year)) for r in urb.itertuples()} & table1
    assert 2010 not in set(urb["year"])


def test_default_compare_roles_match_the_calibration_record(handed):
    observed = handed["default"]["observed"]
    expected = {k: v for k, v in _expected_roles().items() if v != BY_CONSTRUCTION}
    got = {(r.indicator, r.area, int(r.year)): r.role for r in observed.itertuples()}
    assert got == expected
    counts = pd.Series(list(got.values())).value_counts().to_dict()
    assert counts[FITTED] == sum(v == FITTED for v in expected.values()) == 5
    assert counts[NOT_FITTED] == sum(v == NOT_FITTED for v in expected.values())


def test_no_params_marks_everything_not_fitted(handed):
    observed = handed["no-params"]["observed"]
    assert len(observed) == len(handed["default"]["observed"])
    assert set(observed["role"]) == {NOT_FITTED}


def test_compare_figures_draw_fitted_filled_and_others_hollow(handed):
    call = handed["default"]
    figures = comparison_figures(*call["args"], **call["kwargs"])
    used, unused = OBSERVED_LABELS[FITTED], OBSERVED_LABELS[NOT_FITTED]

    def observed_lines(stem):
        ax = figures[stem][1][0]
        return {line.get_label(): line for line in ax.lines if line.get_label() in (used, unused)}

    income = observed_lines("trajectory_rural_income_per_capita")
    check_figure(figures["trajectory_rural_income_per_capita"][0], names=[used])
    assert list(income) == [used]  # 4,839 yuan of 2012 was a fitted row
    assert list(income[used].get_xdata()) == [2012]
    assert income[used].get_ydata()[0] == pytest.approx(4839.0)
    assert income[used].get_markerfacecolor() == income[used].get_markeredgecolor()
    poverty = observed_lines("trajectory_poverty_incidence")
    check_figure(figures["trajectory_poverty_incidence"][0], names=[unused])
    assert list(poverty) == [unused]  # 24.4 % of 2012 was compared, not fitted
    assert poverty[unused].get_markerfacecolor() == "white"
    assert poverty[unused].get_ydata()[0] == pytest.approx(24.4)  # drawn in %
    assert observed_lines("trajectory_urbanization_rate") == {}  # only Table 1 rates exist


def test_anchors_and_model_inputs_are_dropped_and_counted():
    record = read_fit_record([PARAMS])
    raw = pd.DataFrame(
        {
            "indicator": ["urbanization_rate", "urbanization_rate", "poverty_incidence"],
            "area": ["Liupanshan", "Liupanshan", "14 regions"],
            "area_type": ["region", "region", "aggregate"],
            "year": ["2010", "2011", "2012"],
            "value": ["28.72", "28.72", "24.4"],
            "unit": ["percent"] * 3,
        }
    )
    ev = observed_evidence(raw, SPEC.dimension, record)
    assert ev.dropped == {BY_CONSTRUCTION: 1, ANCHOR: 0}  # Table 1's 2010 rate of Liupanshan
    assert ev.counts() == {FITTED: 0, NOT_FITTED: 2}
    assert ev.calibration == "history-2010-2015"
    assert set(ev.points["region"]) == {"Liupanshan", AGGREGATE}
    # every anchor of the record (a prefecture alone in its offset group) is an anchor here
    anchors = [r for r in _rows(RECORD) if r["role"] == "anchor"]
    assert len(anchors) == 11
    for r in anchors:
        args = (r["indicator"], r["area"], int(r["data_year"]), float(r["observed"]))
        assert point_role(record, *args) == ANCHOR
        assert point_role(None, *args) == NOT_FITTED  # no calibration: nothing is an anchor
        assert point_role(record, *args[:3], args[3] + 1.0) == NOT_FITTED  # another figure


def test_seed_evidence_counts_from_the_record():
    ev = observed_evidence(
        read_observed(DATA / "seed_figures.csv"), SPEC.dimension, read_fit_record([PARAMS])
    )
    expected = list(_expected_roles().values())
    assert ev.dropped[BY_CONSTRUCTION] == expected.count(BY_CONSTRUCTION) == 13
    assert ev.counts() == {FITTED: expected.count(FITTED), NOT_FITTED: expected.count(NOT_FITTED)}


def test_recorded_fit_reads_the_manifest(tmp_path):
    assert recorded_fit(None) is None
    assert recorded_fit({"inputs": {"parameters": []}}) is None
    rec = recorded_fit({"inputs": {"parameters": [{"path": str(PARAMS), "sha256": "x"}]}})
    assert rec.name == "history-2010-2015" and rec.files == (RECORD,)
    gone = recorded_fit({"inputs": {"parameters": [{"path": str(tmp_path / "x.params.yaml")}]}})
    assert gone is not None and dict(gone.rows) == {}  # a calibration without a record


def test_a_bad_record_is_one_line(tmp_path):
    params = tmp_path / "mine.params.yaml"
    params.write_text("parameters: {}\n", encoding="utf-8")
    (tmp_path / "mine").mkdir()
    bad = tmp_path / "mine" / "observations.csv"
    bad.write_text("indicator,area,data_year,observed,role\nx,y,2012,1.0,guessed\n")
    with pytest.raises(DataError, match=r"line 2: role: expected one of .*found 'guessed'"):
        read_fit_record([params])
    bad.write_text("indicator,area,data_year,observed\nx,y,2012,1.0\n")
    with pytest.raises(DataError, match=r"missing \['role'\]"):
        read_fit_record([params])
