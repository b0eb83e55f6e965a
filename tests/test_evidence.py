"""Observed points by role: fitted ones filled, the others hollow, model inputs never drawn.

The oracle is the shipped calibration's own record,
``calibration/history-2010-2015/observations.csv`` (every row it compared, the model
variable, factor and level offset of each, and its role), ``data/seed_figures.csv`` and
``data/model_inputs.csv`` (the figures the model copies): the expected points are computed
from those files here with the csv module, independently of `sdplanner.evidence`, and
compared with what ``sdplanner compare`` hands its figures and what the figures draw.
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
    recorded_points,
)
from sdplanner.figures import comparison_figures
from sdplanner.readers import read_observed
from sdplanner.style import OBSERVED_LABELS
from tests.figure_checks import check_figure
from tests.shipped import AGGREGATE, REGIONS, SPEC

from .conftest import DATA, ROOT, SCENARIOS

RECORD = ROOT / "calibration" / "history-2010-2015" / "observations.csv"
PARAMS = ROOT / "calibration" / "history-2010-2015.params.yaml"
SEED_RECORD = ROOT / "calibration" / "seed-2010-2012" / "observations.csv"
SEED_PARAMS = ROOT / "calibration" / "seed-2010-2012.params.yaml"
#: Relative tolerance of a point against the record: the same two floats divided the same
#: way, so only the last bit of a division may differ.
REL = 1e-12


def _rows(path):
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _record_points(record=RECORD) -> dict[tuple[str, str, int], tuple[str, float]]:
    """Rows of a region or the aggregate a record compared, not anchors:
    (model variable, area, year compared) -> (role drawn, value on the model's scale)."""
    out = {}
    for r in _rows(record):
        region, area = r["compared_with"], r["area"]
        if r["role"] == "anchor" or not (region == AGGREGATE or area == region in REGIONS):
            continue
        value = (float(r["observed"]) - float(r["offset"])) / float(r["factor"])
        role = FITTED if r["role"] == "fitted" else NOT_FITTED
        out[(r["variable"], area, int(r["year"]))] = (role, value)
    # a figure compared twice (the seed's 24.4 % of 2012 and the pack's) is one point
    fitted_at = {(k[0], k[2], round(v, 9)) for k, (role, v) in out.items() if role == FITTED}
    return {
        k: (role, v)
        for k, (role, v) in out.items()
        if role == FITTED or (k[0], k[2], round(v, 9)) not in fitted_at
    }


def _expected_points(record=RECORD) -> dict[tuple[str, str, int], str]:
    """Every point compare draws: the record's rows, then the seed's rows the record does not
    hold and the model does not copy; a seed figure the record fitted under another name
    (the seed's 24.4 % of 2012 is the history pack's too) is one point, the fitted one."""
    points = _record_points(record)
    held = {(r["indicator"], r["area"], int(r["data_year"])) for r in _rows(record)}
    fitted_at = {(k[0], k[2], round(v, 9)) for k, (role, v) in points.items() if role == FITTED}
    out = {k: role for k, (role, _) in points.items()}
    for key, role in _expected_roles().items():
        if role == BY_CONSTRUCTION or key in held:
            continue
        row = next(r for r in _rows(DATA / "seed_figures.csv") if _seed_key(r) == key)
        value = float(row["value"]) / (100 if row["unit"] == "percent" else 1)
        if (key[0], key[2], round(value, 9)) not in fitted_at:
            out[key] = NOT_FITTED
    return out


def _seed_key(r) -> tuple[str, str, int]:
    return (r["indicator"], r["area"], int(r["year"]))


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
    # the only points are Tibet's census change the history calibration fitted (an offset
    # group: the level is the model's, the change is the evidence), not a seed row
    assert set(urb["area"]) == {"Tibet"} and set(urb["role"]) == {FITTED}
    assert sorted(urb["year"]) == [2010, 2015]
    expected = {
        int(r["year"]): (float(r["observed"]) - float(r["offset"])) / float(r["factor"])
        for r in _rows(RECORD)
        if r["variable"] == "urbanization_rate" and r["area"] == "Tibet"
    }
    assert dict(zip(urb["year"], urb["value"], strict=True)) == pytest.approx(expected, rel=REL)
    tibet_2010 = urb[urb["year"] == 2010]["value"].iloc[0]
    assert tibet_2010 != pytest.approx(0.2379, abs=1e-4)  # not Table 1's 23.79 %


def test_default_compare_points_match_the_calibration_record(handed):
    observed = handed["default"]["observed"]
    expected = _expected_points()
    got = {(r.indicator, r.area, int(r.year)): r.role for r in observed.itertuples()}
    assert got == expected
    # values: the record's rows on the model's scale, (observed - offset) / factor
    values = {(r.indicator, r.area, int(r.year)): r.value for r in observed.itertuples()}
    for key, (_, value) in _record_points().items():
        assert values[key] == pytest.approx(value, rel=REL)
    counts = pd.Series(list(got.values())).value_counts().to_dict()
    assert counts[FITTED] == sum(v == FITTED for v in expected.values()) == 15
    assert counts[NOT_FITTED] == sum(v == NOT_FITTED for v in expected.values()) == 24


def test_history_poverty_points_are_fitted_on_the_models_scale(handed):
    observed = handed["default"]["observed"]
    pov = observed[observed["indicator"] == "poverty_incidence"].sort_values("year")
    assert list(pov["year"]) == [2011, 2012, 2013, 2014, 2015]
    assert set(pov["role"]) == {FITTED} and set(pov["region"]) == {AGGREGATE}
    assert set(pov["area"]) == {"14 contiguous poor areas"}  # the history pack's rows
    record = {
        int(r["year"]): float(r["observed"]) / float(r["factor"])
        for r in _rows(RECORD)
        if r["indicator"] == "contiguous_areas_poverty_incidence"
    }
    assert list(pov["value"]) == pytest.approx([record[y] for y in pov["year"]], rel=REL)
    # the model's poverty incidence is a fraction: 13.9 % of 2015 is drawn at 0.139
    assert pov["value"].iloc[-1] == pytest.approx(0.139, rel=REL)
    # income: current yuan deflated to 2010 yuan by the record's factor (4,839 -> 4,240)
    inc = observed[observed["indicator"] == "rural_income_per_capita"].sort_values("year")
    assert list(inc["year"]) == [2010, 2012, 2014, 2015] and set(inc["role"]) == {FITTED}
    assert inc["value"].iloc[1] == pytest.approx(4839.0 / (2625 / 2300), rel=REL)
    # poor population: 10,000 persons -> persons; compared, not fitted
    poor = observed[observed["indicator"] == "rural_poor_population"].sort_values("year")
    assert list(poor["year"]) == [2011, 2012, 2013, 2014, 2015]
    assert set(poor["role"]) == {NOT_FITTED}
    assert poor["value"].iloc[-1] == pytest.approx(2875.0e4, rel=REL)


def test_no_params_marks_everything_not_fitted(handed):
    observed = handed["no-params"]["observed"]
    expected = {k for k, v in _expected_roles().items() if v != BY_CONSTRUCTION}
    assert {(r.indicator, r.area, int(r.year)) for r in observed.itertuples()} == expected
    assert set(observed["role"]) == {NOT_FITTED}
    assert "14 contiguous poor areas" not in set(observed["area"])  # no record, no history


def _observed_lines(figures, stem):
    from sdplanner.style import OBSERVED_LABELS

    labels = (OBSERVED_LABELS[FITTED], OBSERVED_LABELS[NOT_FITTED])
    ax = figures[stem][1][0]
    return {line.get_label(): line for line in ax.lines if line.get_label() in labels}


def test_compare_figures_draw_fitted_filled_and_others_hollow(handed):
    call = handed["default"]
    figures = comparison_figures(*call["args"], **call["kwargs"])
    used, unused = OBSERVED_LABELS[FITTED], OBSERVED_LABELS[NOT_FITTED]

    income = _observed_lines(figures, "trajectory_rural_income_per_capita")
    check_figure(figures["trajectory_rural_income_per_capita"][0], names=[used])
    assert list(income) == [used]  # 2010, 2012 (the seed's), 2014, 2015: all fitted
    drawn = dict(zip(income[used].get_xdata(), income[used].get_ydata(), strict=True))
    assert sorted(drawn) == [2010, 2012, 2014, 2015]
    assert drawn[2012] == pytest.approx(4839.0 / (2625 / 2300), rel=REL)
    assert income[used].get_markerfacecolor() == income[used].get_markeredgecolor()
    poverty = _observed_lines(figures, "trajectory_poverty_incidence")
    check_figure(figures["trajectory_poverty_incidence"][0], names=[used])
    assert list(poverty) == [used]  # the seed's 24.4 % of 2012 is the pack's fitted row
    drawn = dict(zip(poverty[used].get_xdata(), poverty[used].get_ydata(), strict=True))
    assert drawn == pytest.approx({2011: 29.0, 2012: 24.4, 2013: 20.0, 2014: 17.1, 2015: 13.9})
    poor = _observed_lines(figures, "trajectory_rural_poor_population")
    assert list(poor) == [unused]  # compared, not fitted: hollow
    assert poor[unused].get_markerfacecolor() == "white"
    drawn = dict(zip(poor[unused].get_xdata(), poor[unused].get_ydata(), strict=True))
    assert drawn[2015] == pytest.approx(28.75)  # 2,875 x 10,000 persons, drawn in millions
    urb = _observed_lines(figures, "trajectory_urbanization_rate")
    assert urb == {}  # the aggregate panel: only Table 1 rates (inputs) and Tibet's exist


def test_seed_calibration_shows_the_seed_point_and_no_history_point(handed, tmp_path):
    """The seed calibration never saw the history pack: its poverty figure has the 2012 seed
    point, fitted, and a history figure only when an observation file brings it, hollow."""
    call = handed["default"]
    seed = read_observed(DATA / "seed_figures.csv")
    record = read_fit_record([SEED_PARAMS])
    assert record.name == "seed-2010-2012" and record.files == (SEED_RECORD,)
    ev = observed_evidence(seed, SPEC.dimension, record)
    pov = ev.points[ev.points["indicator"] == "poverty_incidence"]
    assert [(r.year, r.role, r.area) for r in pov.itertuples()] == [(2012, FITTED, "14 regions")]
    assert "14 contiguous poor areas" not in set(ev.points["area"])
    figures = comparison_figures(*call["args"], **{**call["kwargs"], "observed": ev.points})
    lines = _observed_lines(figures, "trajectory_poverty_incidence")
    used, unused = OBSERVED_LABELS[FITTED], OBSERVED_LABELS[NOT_FITTED]
    assert list(lines) == [used] and list(lines[used].get_xdata()) == [2012]
    # a file of one's own with the pack's 2015 figure: drawn, not fitted by this calibration
    mine = tmp_path / "mine.csv"
    mine.write_text(
        "indicator,area,year,value,unit\npoverty_incidence,14 contiguous poor areas,2015,13.9,"
        "percent\npoverty_incidence,14 regions,2012,24.4,percent\n",
        encoding="utf-8",
    )
    ev = observed_evidence(read_observed(mine), SPEC.dimension, record)
    pov = ev.points[ev.points["indicator"] == "poverty_incidence"].sort_values("year")
    assert [(r.year, r.role) for r in pov.itertuples()] == [(2012, FITTED), (2015, NOT_FITTED)]
    assert pov["value"].iloc[-1] == pytest.approx(0.139, rel=REL)
    figures = comparison_figures(*call["args"], **{**call["kwargs"], "observed": ev.points})
    lines = _observed_lines(figures, "trajectory_poverty_incidence")
    assert list(lines[unused].get_xdata()) == [2015] and lines[used].get_xdata()[0] == 2012


def test_anchors_and_model_inputs_are_dropped_and_counted():
    record = read_fit_record([PARAMS])
    raw = pd.DataFrame(
        {
            "indicator": ["urbanization_rate", "urbanization_rate", "gdp_per_capita"],
            "area": ["Liupanshan", "Liupanshan", "All 14 regions"],
            "area_type": ["region", "region", "aggregate"],
            "year": ["2010", "2011", "2012"],
            "value": ["28.72", "28.72", "9000"],
            "unit": ["percent", "percent", "yuan"],
        }
    )
    ev = observed_evidence(raw, SPEC.dimension, record)
    assert ev.dropped == {BY_CONSTRUCTION: 1, ANCHOR: 0}  # Table 1's 2010 rate of Liupanshan
    mine = ev.points[ev.points["area"].isin(["Liupanshan", "All 14 regions"])]
    assert list(mine["role"]) == [NOT_FITTED, NOT_FITTED]
    assert list(mine["region"]) == ["Liupanshan", AGGREGATE]
    recorded = _record_points()
    assert ev.counts() == {
        FITTED: sum(role == FITTED for role, _ in recorded.values()),
        NOT_FITTED: sum(role == NOT_FITTED for role, _ in recorded.values()) + 2,
    }
    assert ev.calibration == "history-2010-2015"
    # every anchor of the record (a prefecture alone in its offset group) is an anchor here
    anchors = [r for r in _rows(RECORD) if r["role"] == "anchor"]
    assert len(anchors) == 11
    for r in anchors:
        args = (r["indicator"], r["area"], int(r["data_year"]), float(r["observed"]))
        assert point_role(record, *args) == ANCHOR
        assert point_role(None, *args) == NOT_FITTED  # no calibration: nothing is an anchor
        assert point_role(record, *args[:3], args[3] + 1.0) == NOT_FITTED  # another figure
    # anchors sit on the path: drawn where sub-areas are, they would be counted, not drawn
    subs = recorded_points(record, SPEC.dimension, sub_areas=["urbanization_rate"])
    assert int((subs["role"] == ANCHOR).sum()) == 11
    assert set(subs[subs["kind"] == "sub-area"]["region"]) == {r["compared_with"] for r in anchors}


def test_seed_evidence_counts_from_the_record():
    ev = observed_evidence(
        read_observed(DATA / "seed_figures.csv"), SPEC.dimension, read_fit_record([PARAMS])
    )
    expected = list(_expected_points().values())
    assert ev.dropped[BY_CONSTRUCTION] == list(_expected_roles().values()).count(BY_CONSTRUCTION)
    assert ev.dropped[BY_CONSTRUCTION] == 13
    assert ev.counts() == {FITTED: expected.count(FITTED), NOT_FITTED: expected.count(NOT_FITTED)}


def test_the_record_names_each_rows_variable():
    """observations.csv says which model variable each row was compared with (the spec's)."""
    from sdplanner.calibration.parse import load_spec
    from sdplanner.model import load_model

    model = load_model(None)
    for record, spec in (
        (RECORD, ROOT / "calibration" / "history-2010-2015.yaml"),
        (SEED_RECORD, ROOT / "calibration" / "seed-2010-2012.yaml"),
    ):
        indicators = load_spec(spec, model).indicators
        rows = _rows(record)
        assert list(rows[0]).index("variable") == list(rows[0]).index("compared_with") + 1
        assert all(r["variable"] == indicators[r["indicator"]].variable for r in rows)
    by_name = {r["indicator"]: r["variable"] for r in _rows(RECORD)}
    assert by_name["contiguous_areas_poverty_incidence"] == "poverty_incidence"
    assert by_name["rural_population_share"] == "registered_rural_share"


def test_recorded_points_place_rows_by_variable_and_area(tmp_path):
    """A record of one's own: regions, the aggregate, sub-areas, offsets, factors, roles."""
    params = tmp_path / "mine.params.yaml"
    params.write_text("parameters: {}\n", encoding="utf-8")
    (tmp_path / "mine").mkdir()
    head = (
        "file,line,indicator,area,compared_with,variable,year,data_year,observed,factor,offset,role"
    )
    rows = [
        "a.csv,2,pov,14 areas,All 14 regions,poverty_incidence,2013,2013,20.0,100,0,fitted",
        "a.csv,3,pov,14 regions,All 14 regions,poverty_incidence,2013,2013,20.0,100,0,compared",
        "a.csv,4,urb,Tibet,Tibet,urbanization_rate,2015,2015,27.0,100,-3.0,held out",
        "a.csv,5,urb,Lhasa,Tibet,urbanization_rate,2015,2015,40.0,100,12.0,fitted",
        "a.csv,6,urb,Nyingchi,Tibet,urbanization_rate,2015,2015,35.0,100,5.0,anchor",
        "a.csv,7,inc,14 areas,All 14 regions,rural_income_per_capita,2012,2012,4839,1.1413,"
        "0,fitted",
        "a.csv,8,inc,Atlantis,Atlantis,rural_income_per_capita,2012,2012,1.0,1,0,fitted",
        "a.csv,9,urb,Shigatse,Tibet,urbanization_rate,2015,2015,30.0,100,,fitted",
    ]
    (tmp_path / "mine" / "observations.csv").write_text("\n".join([head, *rows]) + "\n")
    record = read_fit_record([params])
    plain = recorded_points(record, SPEC.dimension)
    got = {(r.indicator, r.area): (r.role, r.value, r.kind) for r in plain.itertuples()}
    assert got == {
        # the same figure compared twice is one point, the fitted one
        ("poverty_incidence", "14 areas"): (FITTED, pytest.approx(0.2, rel=REL), "aggregate"),
        # (27 - (-3)) / 100: the data value less its level offset, over the factor
        ("urbanization_rate", "Tibet"): (NOT_FITTED, pytest.approx(0.30, rel=REL), "region"),
        ("rural_income_per_capita", "14 areas"): (
            FITTED,
            pytest.approx(4839 / 1.1413, rel=REL),
            "aggregate",
        ),
    }  # sub-areas are not drawn by default; Atlantis is no area of the model
    subs = recorded_points(record, SPEC.dimension, sub_areas=["urbanization_rate"])
    tibet = subs[subs["region"] == "Tibet"].set_index("area")
    assert dict(tibet["role"]) == {"Tibet": NOT_FITTED, "Lhasa": FITTED, "Nyingchi": ANCHOR}
    assert tibet.loc["Lhasa", "value"] == pytest.approx(0.28, rel=REL)  # (40 - 12) / 100
    assert "Shigatse" not in tibet.index  # its level offset is unknown: no place on the axis
    assert tibet.loc["Lhasa", "source"] == "line 5 of a.csv"
    assert recorded_points(None, SPEC.dimension).empty
    assert recorded_points(record, None).empty


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
    head = "indicator,area,data_year,observed,role,variable,compared_with,year,factor"
    bad.write_text(f"{head}\nx,y,2012,1.0,fitted,v,Tibet,2012,100\n")
    with pytest.raises(DataError, match=r"missing \['offset'\]"):
        read_fit_record([params])
    for factor, found in (("0", "'0'"), ("-1", "'-1'"), ("inf", "'inf'"), ("", "an empty cell")):
        bad.write_text(f"{head},offset\nx,y,2012,1.0,fitted,v,Tibet,2012,{factor},0\n")
        with pytest.raises(
            DataError, match=rf"line 2: factor: expected a positive number, found {found}"
        ):
            read_fit_record([params])
    bad.write_text(f"{head},offset\nx,y,2012,1.0,fitted,v,Tibet,soon,100,0\n")
    with pytest.raises(DataError, match=r"line 2: year: expected a year, found 'soon'"):
        read_fit_record([params])
