"""Fuzzing every input file kind through the command line (Hypothesis, fixed seed).

Each test generates files of one kind, valid and broken (wrong types, out-of-range and
non-finite numbers, unknown keys and names, alias bombs, deep nesting, cut or garbled text,
repeated keys and columns), runs the command that reads it in this process, and asserts
the outcome is exit 0, or exit 2 with one line under 300 characters, no traceback and the
output folder untouched (a run whose outputs turn non-finite may also exit 1, naming the
variable; a reality check may fail with exit 1). ``derandomize=True`` fixes the examples,
so CI runs the same 300 per file kind every time. Documents are generated valid, then 0 to 2
values are made junk or keys dropped or added, then the text is perhaps cut, garbled or
prefixed with an alias bomb: about half of the examples run through to exit 0.
"""

from __future__ import annotations

import copy
import csv
import io
import math
import shutil

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.shipped import AGGREGATE, LEVERS, REGIONS

from .conftest import ROOT, SCENARIOS
from .security_helpers import cli, one_line, precious_folder, snapshot

MODEL = ROOT / "models" / "sdplanner.mdl"
EXAMPLES = 300
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

# ---- values ---------------------------------------------------------------------------------
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**400), 10**400),
    st.sampled_from([-5, 1e300, -1e308, 1e-320, 2.5, "0.5", "=cmd", "x\ry", "n" * 101]),
    st.lists(st.integers(0, 3), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(0, 3), max_size=2),
)


def number(lo: float, hi: float):
    """Numbers in [lo, hi]: floats, and integers where the interval holds some."""
    floats = st.floats(lo, hi, allow_nan=False)
    if math.ceil(lo) > math.floor(hi):
        return floats
    return st.one_of(floats, st.integers(math.ceil(lo), math.floor(hi)))


NAMES = st.sampled_from(["a", "short one", "path 4.3 (2015)", "中文情景", "x_y-z"])
#: Settable constants and values inside their declared ranges.
PARAMETER_VALUES = {
    "base_return_rate": number(0, 0.2),
    "farm_income_share": number(0.1, 0.6),
    "income dispersion": number(0.3, 1.2),
    "outside_wage_growth": number(-0.05, 0.08),
    "remittance_share": number(0, 0.5),
    "initial_migrant_share_of_rural_workforce": st.dictionaries(
        st.sampled_from(REGIONS[:4]), number(0.1, 0.6), min_size=1, max_size=2
    ),
    "reinvestment_share": st.dictionaries(
        st.integers(2010, 2011), number(0.1, 0.3), min_size=1, max_size=2
    ),
}


def parameters(min_size: int = 0):
    return st.lists(
        st.sampled_from(sorted(PARAMETER_VALUES)), min_size=min_size, max_size=3, unique=True
    ).flatmap(lambda keys: st.fixed_dictionaries({k: PARAMETER_VALUES[k] for k in keys}))


# ---- mutations ------------------------------------------------------------------------------
def _places(node, out):
    """Every (container, key) of a document, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((node, key))
            _places(value, out)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append((node, i))
            _places(value, out)
    return out


@st.composite
def mutated(draw, valid):
    """A valid document, then 0 to 2 edits: a value made junk, a key dropped or added."""
    doc = copy.deepcopy(draw(valid))
    for _ in range(draw(st.sampled_from([0, 0, 0, 0, 1, 1, 2]))):
        places = _places(doc, [])
        if not places:
            return draw(JUNK)
        container, key = draw(st.sampled_from(places))
        action = draw(st.sampled_from(["junk", "junk", "drop", "add"]))
        if action == "junk":
            container[key] = draw(JUNK)
        elif action == "drop":
            del container[key]
        elif isinstance(container, dict):
            container[draw(st.sampled_from(["bogus", "strenght", "Name", 7]))] = draw(JUNK)
    return doc


def _bomb() -> str:
    value = "&b0 [" + ", ".join(["x"] * 10) + "]"
    for i in range(1, 6):
        value = f"&b{i} [{value}, " + ", ".join([f"*b{i - 1}"] * 9) + "]"
    return value


@st.composite
def yaml_file(draw, docs) -> bytes:
    """A document as YAML, then perhaps cut, garbled, repeated, a bomb or raw bytes."""
    doc = draw(mutated(docs))
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    how = draw(st.sampled_from(["as is"] * 12 + ["cut", "insert", "repeat", "bomb", "deep", "raw"]))
    if how == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    elif how == "insert":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.text(max_size=6)) + text[at:]
    elif how == "repeat":
        text += draw(st.sampled_from(text.splitlines(keepends=True) or ["x: 1\n"]))
    elif how == "bomb":
        key = draw(st.sampled_from(["description", "name", "final_time"]))
        text = f"{key}: {_bomb()}\n" + text
    elif how == "deep":
        depth = draw(st.integers(40, 200))
        text = "description: " + "[" * depth + "]" * depth + "\n" + text
    elif how == "raw":
        return draw(st.binary(max_size=200))
    return text.encode("utf-8", errors="surrogatepass")


# ---- valid documents ------------------------------------------------------------------------
def _lever(lever):
    strength = number(lever.minimum, lever.maximum)
    return st.fixed_dictionaries(
        {"strength": strength},
        optional={
            "start": st.integers(2010, 2050),
            "ramp_years": number(0, 10),
            "regions": st.dictionaries(st.sampled_from(REGIONS[:3]), strength, max_size=2),
        },
    )


SCENARIO = st.fixed_dictionaries(
    {"name": NAMES, "final_time": st.integers(2011, 2013)},
    optional={
        "description": st.text(max_size=30),
        "levers": st.lists(st.sampled_from(LEVERS), max_size=3, unique=True).flatmap(
            lambda levers: st.fixed_dictionaries({lv.name: _lever(lv) for lv in levers})
        ),
        "parameters": parameters(),
        "extends": st.sampled_from([str(SCENARIOS / "baseline.yaml"), "baseline.yaml"]),
    },
)
PARAMS = st.fixed_dictionaries(
    {"parameters": parameters(1)},
    optional={"description": st.text(max_size=20), "source": st.just({"spec": "x.yaml"})},
)


@st.composite
def _distribution(draw):
    kind = draw(st.sampled_from(["uniform", "triangular", "normal", "lognormal", "relative"]))
    lo, hi = sorted(draw(st.lists(number(0.05, 0.6), min_size=2, max_size=2, unique=True)))
    if kind == "uniform":
        return {"distribution": "uniform", "min": lo, "max": hi}
    if kind == "triangular":
        return {"distribution": "triangular", "min": lo, "mode": (lo + hi) / 2, "max": hi}
    if kind == "normal":
        return {"distribution": "normal", "mean": (lo + hi) / 2, "sd": 0.05, "min": lo, "max": hi}
    if kind == "lognormal":
        return {"distribution": "lognormal", "median": 0.3, "sigma": 0.2, "max": 0.9}
    return {"distribution": "uniform", "min": 0.9, "max": 1.1, "relative": True}


UNCERTAINTY = st.fixed_dictionaries(
    {
        "parameters": st.lists(
            st.sampled_from(["base_return_rate", "farm_income_share", "remittance_share"]),
            min_size=1,
            max_size=3,
            unique=True,
        ).flatmap(lambda keys: st.fixed_dictionaries({k: _distribution() for k in keys}))
    },
    optional={
        "description": st.text(max_size=20),
        "correlations": st.just(
            [{"parameters": ["base_return_rate", "farm_income_share"], "rho": 0.5}]
        ),
    },
)
SPEC_PARAMETERS = {
    "farm_income_share": (0.05, 0.9),
    "remittance_share": (0.05, 0.5),
    "income_dispersion": (0.3, 1.5),
}


@st.composite
def _bounds(draw, name):
    lo, hi = SPEC_PARAMETERS[name]
    lower, upper = sorted(draw(st.lists(number(lo, hi), min_size=2, max_size=2, unique=True)))
    out = {"lower": lower, "upper": upper}
    if draw(st.booleans()):
        out["prior"] = {"distribution": "normal", "mean": (lower + upper) / 2, "sd": 0.1}
    return out


SPEC = st.fixed_dictionaries(
    {
        "parameters": st.lists(
            st.sampled_from(sorted(SPEC_PARAMETERS)), min_size=1, max_size=2, unique=True
        ).flatmap(lambda keys: st.fixed_dictionaries({k: _bounds(k) for k in keys})),
        "indicators": st.fixed_dictionaries(
            {
                "rural_income_per_capita": st.fixed_dictionaries(
                    {
                        "variable": st.just("rural_income_per_capita"),
                        "prices": st.just("constant"),
                        "sigma": number(50, 500),
                    }
                )
            },
            optional={
                "urbanization_rate": st.fixed_dictionaries(
                    {
                        "variable": st.just("urbanization_rate"),
                        "unit": st.just("percent"),
                        "sigma": number(0.5, 5),
                    }
                )
            },
        ),
    },
    optional={
        "name": NAMES,
        "final_time": st.integers(2012, 2014),
        "objective": st.fixed_dictionaries(
            {"loss": st.sampled_from(["linear", "soft_l1", "huber"])}
        ),
    },
)
EXPECTATION = st.one_of(
    st.fixed_dictionaries(
        {
            "variable": st.sampled_from(["rural_population", "urban_population", "gdp"]),
            "rule": st.sampled_from(["nonnegative", "increasing", "nondecreasing"]),
        },
        optional={
            "regions": st.lists(st.sampled_from(REGIONS[:3]), min_size=1, max_size=2, unique=True),
            "years": st.sampled_from([[2011, 2020], 2030, [2010, 2050]]),
        },
    ),
    st.fixed_dictionaries(
        {
            "variable": st.sampled_from(["urbanization_rate", "poverty_incidence"]),
            "rule": st.just("between"),
            "bounds": st.sampled_from([[0, 1], [0.1, None], [None, 0.9]]),
        }
    ),
)
CHECKS = st.fixed_dictionaries(
    {
        "checks": st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.sampled_from(["one", "two", "three"]),
                    "expect": st.lists(EXPECTATION, min_size=1, max_size=3),
                },
                optional={
                    "description": st.text(max_size=10),
                    "condition": st.fixed_dictionaries({"parameters": parameters(1)}),
                },
            ),
            min_size=1,
            max_size=2,
            unique_by=lambda c: c["name"],
        )
    }
)

INDICATORS = {"rural_income_per_capita": number(500, 9000), "urbanization_rate": number(5, 60)}
AREAS = [*REGIONS[:3], AGGREGATE]
BROKEN_CELLS = ["", "nan", "inf", "-1e308", "1e-320", "x", "1,5", "2012.5", "=cmd", "Atlantis"]


@st.composite
def data_file(draw) -> bytes:
    """An observation CSV, valid, then perhaps with a broken cell, column or line."""
    columns = ["indicator", "area", "year", "value"]
    optional = draw(st.lists(st.sampled_from(["sigma", "weight", "note"]), max_size=3, unique=True))
    columns += optional
    rows, seen = [], set()
    for _ in range(draw(st.integers(1, 6))):
        indicator = draw(st.sampled_from(sorted(INDICATORS)))
        area = draw(st.sampled_from(AREAS))
        year = draw(st.integers(2010, 2012))
        if (indicator, area, year) in seen:
            continue
        seen.add((indicator, area, year))
        cells = {
            "indicator": indicator,
            "area": area,
            "year": str(year),
            "value": repr(draw(INDICATORS[indicator])),
            "sigma": repr(draw(number(1, 500))),
            "weight": repr(draw(number(0, 2))),
            "note": draw(st.text(max_size=8)),
        }
        rows.append([cells[c] for c in columns])
    how = draw(st.sampled_from(["as is"] * 6 + ["cell", "drop column", "repeat column", "text"]))
    if how == "cell":
        row = draw(st.sampled_from(rows))
        row[draw(st.integers(0, len(columns) - 1))] = draw(st.sampled_from(BROKEN_CELLS))
    elif how == "drop column":
        i = draw(st.integers(0, len(columns) - 1))
        columns = columns[:i] + columns[i + 1 :]
        rows = [r[:i] + r[i + 1 :] for r in rows]
    elif how == "repeat column":
        columns = [*columns, columns[0]]
        rows = [[*r, r[0]] for r in rows]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    text = buf.getvalue()
    if how == "text":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.text(max_size=6)) + text[at:]
    return text.encode("utf-8", errors="surrogatepass")


# ---- the check of every outcome -------------------------------------------------------------
def _outcome(argv, out=None, *, check=False) -> None:
    before = snapshot(out) if out is not None else None
    code, stdout, err = cli(argv)
    assert "Traceback" not in err, err
    if code == 2:
        one_line(err)
        if out is not None:
            assert snapshot(out) == before
    elif code == 1:
        message = one_line(err) if err.strip() else ""
        assert check or "turned non-finite" in message, (stdout[-500:], err)
    else:
        assert code == 0, (code, err)


@pytest.fixture(scope="module", autouse=True)
def numpy_kernel():
    """The NumPy kernel: no compiler in the loop (each new run signature would compile)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SDPLANNER_KERNEL", "numpy")
        yield


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "short.yaml").write_text("name: short\nfinal_time: 2011\n", encoding="utf-8")
    (folder / "data.csv").write_text(
        "indicator,area,year,value\nrural_income_per_capita,Tibet,2012,4900\n"
        "rural_income_per_capita,Wulingshan,2012,4800\nurbanization_rate,Tibet,2010,23.79\n",
        encoding="utf-8",
    )
    (folder / "spec.yaml").write_text(
        "final_time: 2012\nparameters:\n  farm_income_share: {lower: 0.1, upper: 0.7}\n"
        "indicators:\n  rural_income_per_capita:\n    variable: rural_income_per_capita\n"
        "    sigma: 300\n  urbanization_rate:\n    variable: urbanization_rate\n"
        "    unit: percent\n    sigma: 1\n",
        encoding="utf-8",
    )
    precious_folder(folder / "out")
    shutil.copy(SCENARIOS / "baseline.yaml", folder / "baseline.yaml")
    return folder


@FUZZ
@given(text=yaml_file(SCENARIO))
def test_fuzz_scenario_files(place, text):
    path = place / "scenario.yaml"
    path.write_bytes(text)
    _outcome(["run", path, "--out", place / "out", "--engine", "batch"], place / "out")


@FUZZ
@given(text=yaml_file(PARAMS))
def test_fuzz_parameter_files(place, text):
    path = place / "params.yaml"
    path.write_bytes(text)
    argv = ["run", place / "short.yaml", "--params", path, "--out", place / "out"]
    _outcome([*argv, "--engine", "batch"], place / "out")


@FUZZ
@given(text=yaml_file(UNCERTAINTY))
def test_fuzz_uncertainty_files(place, text):
    path = place / "uncertainty.yaml"
    path.write_bytes(text)
    argv = ["ensemble", place / "short.yaml", "--uncertainty", path, "--samples", 4]
    argv += ["--seed", 1, "--out", place / "out", "--no-plots", "--quiet"]
    _outcome([*argv, "--outputs", "urbanization_rate"], place / "out")


@FUZZ
@given(text=yaml_file(SPEC))
def test_fuzz_calibration_specs(place, text):
    path = place / "spec-fuzz.yaml"
    path.write_bytes(text)
    argv = ["calibrate", "--data", place / "data.csv", "--spec", path, "--out", place / "out"]
    _outcome([*argv, "--starts", 0, "--no-plots"], place / "out")


@FUZZ
@given(data=data_file())
def test_fuzz_observation_files(place, data):
    path = place / "data-fuzz.csv"
    path.write_bytes(data)
    argv = ["calibrate", "--data", path, "--spec", place / "spec.yaml", "--out", place / "out"]
    _outcome([*argv, "--starts", 0, "--no-plots"], place / "out")


@FUZZ
@given(text=yaml_file(CHECKS))
def test_fuzz_reality_check_files(place, text):
    path = place / "checks.yaml"
    path.write_bytes(text)
    _outcome(["check", MODEL, "--checks", path, "--engine", "batch"], check=True)
