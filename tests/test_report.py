"""`sdplanner report`: every section present, every image embedded, no external reference.

The inputs are small files written here in the formats of ``compare``, ``calibrate`` and
``ensemble`` (not produced by running them), so the test is fast and independent of them.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sdplanner.cli import main
from sdplanner.report import collect_inputs, render_report
from tests.shipped import AGGREGATE

SECTIONS = ("scenarios", "projections", "calibration", "uncertainty", "manifest")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """Collect what the report references: tags, attributes, ids, text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if "id" in attrs:
            self.ids.add(attrs["id"])

    def handle_data(self, data):
        self.text.append(data)

    def images(self) -> list[str]:
        return [a.get("src", "") for t, a in self.tags if t == "img"]


def _png(color: str) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1.5))
    FigureCanvasAgg(fig)
    fig.add_subplot().plot([0, 1], [0, 1], color=color)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    return buf.getvalue()


def _manifest(command: str) -> dict:
    return {
        "command": command,
        "created_utc": "2026-01-01T00:00:00+00:00",
        "model": {"path": "models/sdplanner.mdl", "sha256": "ab" * 32},
        "engine": "batch",
        "seed": 7 if command != "compare" else None,
        "versions": {"python": "3.11", "sdplanner": "0.1.0"},
    }


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("report")
    res, cal, ens = root / "compare", root / "calibrate", root / "ensemble"
    for d in (res, cal, ens, cal / "plots"):
        d.mkdir()
    years = np.arange(2010, 2016)
    rows = []
    for scen, k in (("baseline", 1.0), ("all-five", 1.3)):
        for region in ("Wulingshan", "Tibet", AGGREGATE):
            for var, unit, base in (
                ("urbanization_rate", "Dmnl", 0.3),
                ("rural_income_per_capita", "yuan/(person*year)", 4000.0),
                ("gdp", "yuan/year", 1e11),
            ):
                for i, y in enumerate(years):
                    rows.append((scen, region, var, int(y), base * (1 + 0.05 * k * i), unit))
    pd.DataFrame(rows, columns=["scenario", "region", "variable", "year", "value", "unit"]).to_csv(
        res / "results.csv", index=False
    )
    # comparison.csv as sdplanner compare writes it (long: one row per indicator and year)
    comp = []
    for region in ("Wulingshan", AGGREGATE):
        for ind, base in (("urbanization_rate", 0.3), ("rural_income_per_capita", 4000.0)):
            for i, y in enumerate(years):
                value, ref = base * (1 + 0.065 * i), base * (1 + 0.05 * i)
                comp.append(("all-five", region, ind, int(y), value, ref, value - ref, 10.0 * i))
    pd.DataFrame(
        comp,
        columns=[
            "scenario",
            "region",
            "indicator",
            "year",
            "value",
            "baseline_value",
            "delta",
            "cumulative_cost_billion_yuan",
        ],
    ).to_csv(res / "comparison.csv", index=False)
    titles = {"baseline": "Baseline", "all-five": "All five paths"}
    (res / "manifest.json").write_text(
        json.dumps({**_manifest("compare"), "baseline": "baseline", "scenario_titles": titles})
    )
    (res / "effect_per_billion_yuan_2030.png").write_bytes(_png("red"))
    (res / "trajectory_urbanization_rate.png").write_bytes(_png("green"))  # drawn already

    pd.DataFrame(
        {
            "parameter": ["base_return_rate", "farm_income_share"],
            "region": ["", "Tibet"],
            "estimate": [0.05, 0.31],
            "lower_95": [0.04, 0.25],
            "upper_95": [0.07, 0.36],
            "method": ["profile", "bootstrap"],
            "at_bound": ["no", "no"],
        }
    ).to_csv(cal / "parameters.csv", index=False)
    pd.DataFrame(
        {
            "indicator": ["urbanization_rate"],
            "area": ["Wulingshan"],
            "n": [3],
            "rmse": [0.01],
            "mape": [2.1],
            "r2": [0.93],
            "theil_um": [0.1],
            "theil_us": [0.2],
            "theil_uc": [0.7],
        }
    ).to_csv(cal / "fit.csv", index=False)
    pd.DataFrame(
        {
            "indicator": ["urbanization_rate", "poverty_incidence"],
            "area": ["Wulingshan", "14 regions"],
            "year": [2010, 2012],
            "observed": [0.3188, 0.244],
            "sigma": [0.01, 0.02],
            "simulated": [0.32, 0.25],
            "residual": [0.12, 0.3],
        }
    ).to_csv(cal / "observations.csv", index=False)
    (cal / "identifiability.txt").write_text("All parameters determined by the data.\n")
    (cal / "manifest.json").write_text(json.dumps(_manifest("calibrate")))
    (cal / "plots" / "urbanization_rate.png").write_bytes(_png("blue"))

    prow = []
    for scen in ("baseline", "all-five"):
        for var in ("urbanization_rate", "gdp"):
            for i, y in enumerate(years):
                m = 0.3 + 0.02 * i
                prow.append(
                    (scen, "14 regions", var, int(y), m - 0.04, m - 0.02, m, m + 0.02, m + 0.04, m)
                )
    pd.DataFrame(
        prow,
        columns=[
            "scenario",
            "region",
            "variable",
            "year",
            "p05",
            "p25",
            "p50",
            "p75",
            "p95",
            "mean",
        ],
    ).to_csv(ens / "percentiles.csv", index=False)
    (ens / "manifest.json").write_text(json.dumps(_manifest("ensemble")))
    return {"results": res, "calibration": cal, "ensemble": ens, "root": root}


def assert_self_contained(text: str, page: Page) -> None:
    assert "http://" not in text and "https://" not in text
    lowered = text.lower()
    assert "@import" not in lowered and "url(" not in lowered
    for tag, attrs in page.tags:
        assert tag not in ("script", "link", "iframe", "object", "embed", "base"), tag
        for key in ("src", "href", "srcset", "action", "data", "poster"):
            value = attrs.get(key)
            if value is None:
                continue
            assert value.startswith(("data:image/png;base64,", "#")), (tag, key, value[:60])
            assert not value.startswith("//")


def test_full_report(folders, tmp_path, capsys):
    out = tmp_path / "report.html"
    code = main(
        [
            "report",
            str(folders["results"]),
            "--out",
            str(out),
            "--calibration",
            str(folders["calibration"]),
            "--ensemble",
            str(folders["ensemble"]),
        ]
    )
    assert code == 0
    assert "self-contained" in capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    page = Page(text)
    assert set(SECTIONS) <= page.ids
    assert {"fit", "intervals"} <= page.ids
    body = " ".join(page.text)
    assert "absent" not in text.split("</style>")[1]  # nothing missing
    # scenario table from comparison.csv: the aggregate in the last year (no summary year in
    # the file), the baseline's level first, then the change, formatted, titles not names
    assert "<h3>2015</h3>" in text and "First row of each year: the level in" not in body
    assert "the first row of each year is the level in Baseline" in body
    table = text.split("<h3>2015</h3>")[1].split("</table>")[0]
    assert table.index("<td class='text'>Baseline</td>") < table.index("All five paths")
    assert "5,000" in table and "+300" in table  # rural income 2015: 4000 * 1.25, +300
    assert "e+" not in table and "all-five" not in table
    assert "yuan (2010 prices) per person per year" in table
    assert "rows in comparison.csv" not in body  # no dump of the whole table
    # calibration tables, identifiability and manifests
    assert "base_return_rate" in body and "theil_uc" in body
    assert "All parameters determined by the data." in body
    assert body.count("ab" * 32) >= 3
    # images: compare's figures (2 trajectories of the report view + the regional changes),
    # compare's effect PNG of the folder (its trajectory file is drawn already, so left
    # out), fit + intervals + calibration PNG, and the fan chart of the ensemble view
    images = page.images()
    assert len(images) == 8
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)
    alts = [a.get("alt", "") for t, a in page.tags if t == "img"]
    assert "fan chart of urbanization_rate" in alts and "calibration fit" in alts
    assert "effect_per_billion_yuan_2030.png" in alts
    assert "trajectory urbanization rate" in alts
    assert "trajectory_urbanization_rate.png" not in alts
    assert_self_contained(text, page)


def test_defaults_and_missing_sections(folders, tmp_path):
    # only compare's outputs: every section is there, saying what is missing
    inputs = collect_inputs(folders["results"])
    assert inputs.calibration_dir is None and inputs.percentiles is None
    text = render_report(inputs, title="Only compare")
    page = Page(text)
    assert set(SECTIONS) <= page.ids
    assert "No calibration outputs" in text and "No ensemble percentiles" in text
    assert len(page.images()) == 4
    assert_self_contained(text, page)
    # subfolders calibration/ and ensemble/ are found without flags
    nested = tmp_path / "nested"
    nested.mkdir()
    for name in ("results.csv", "manifest.json"):
        (nested / name).write_bytes((folders["results"] / name).read_bytes())
    (nested / "calibration").symlink_to(folders["calibration"], target_is_directory=True)
    (nested / "ensemble").symlink_to(folders["ensemble"], target_is_directory=True)
    assert main(["report", str(nested)]) == 0
    text = (nested / "report.html").read_text()
    assert "No comparison.csv in the results folder" in text
    assert "fan chart of urbanization_rate" in text and "parameter intervals" in text
    assert main(["report", str(nested), "--title", "Wide <table>"]) == 0
    text = (nested / "report.html").read_text()
    page = Page(text)
    assert "<title>Wide &lt;table&gt;</title>" in text
    assert_self_contained(text, page)
    # a comparison.csv of another shape is refused in one line, naming the file
    pd.DataFrame({"scenario": ["all-five"], "note": ["<b>all five paths</b>"]}).to_csv(
        nested / "comparison.csv", index=False
    )
    assert main(["report", str(nested)]) == 2


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        (lambda d: d / "missing", "expected a results folder"),
        (lambda d: d, "found none of them"),
        (lambda d: (d / "results.csv").write_text("a,b\n1,2\n") and d, "missing ['scenario'"),
        (
            lambda d: (
                (d / "results.csv").write_text(
                    "scenario,region,variable,year,value\nb,Tibet,gdp,2010,lots\n"
                )
                and d
            ),
            "line 2: value: expected a number, found 'lots'",
        ),
    ],
    ids=["missing", "empty", "columns", "not-a-number"],
)
def test_bad_results_folder(tmp_path, capsys, setup, words):
    folder = setup(tmp_path)
    assert main(["report", str(folder), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sdplanner: error: ") and words in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r.html").exists()


def test_bad_options(folders, tmp_path, capsys):
    res = str(folders["results"])
    bad_pct = tmp_path / "pct"
    bad_pct.mkdir()
    (bad_pct / "percentiles.csv").write_text("scenario,region,variable,year,p05\nx,y,z,2010,1\n")
    cases = [
        (["--out", str(tmp_path / "no" / "r.html")], "does not exist"),
        (["--out", str(tmp_path)], "found a folder"),
        (["--calibration", str(tmp_path / "nope")], "--calibration"),
        (["--calibration", str(folders["ensemble"])], "expected fit.csv or parameters.csv"),
        (["--ensemble", str(tmp_path / "nope")], "expected percentiles.csv"),
        (["--ensemble", str(bad_pct)], "missing ['p25'"),
    ]
    for extra, words in cases:
        args = ["report", res, *extra]
        if "--out" not in extra:
            args += ["--out", str(tmp_path / "r.html")]
        assert main(args) == 2, extra
        err = capsys.readouterr().err
        assert words in err, (extra, err)


@pytest.fixture(scope="module")
def compared_runs(tmp_path_factory) -> dict[str, Path]:
    """``sdplanner compare`` outputs with the shipped calibration and with ``--no-params``."""
    from .conftest import SCENARIOS

    root = tmp_path_factory.mktemp("report-roles")
    out = {}
    for name, extra in (("default", []), ("no-params", ["--no-params"])):
        out[name] = root / name
        scen = [str(SCENARIOS / "baseline.yaml"), str(SCENARIOS / "all-five.yaml")]
        assert main(["compare", *scen, "--out", str(out[name]), *extra]) == 0
    return out


def _seed_roles() -> tuple[int, int, int]:
    """(fitted, not fitted, reproduced by construction) seed points of a region or the
    aggregate, from the shipped calibration's record and data/model_inputs.csv."""
    from .conftest import DATA, ROOT

    record = pd.read_csv(ROOT / "calibration" / "history-2010-2015" / "observations.csv")
    fitted = record[(record.file == "seed_figures.csv") & (record.role == "fitted")]
    fitted = set(zip(fitted.indicator, fitted.area, fitted.data_year, strict=True))
    with open(DATA / "model_inputs.csv", encoding="utf-8", newline="") as fh:
        built = {
            (r["source_indicator"], r["region"], int(r["source_year"]))
            for r in csv.DictReader(fh)
            if r["status"] == "data" and r["source_year"]
        }
    seed = pd.read_csv(DATA / "seed_figures.csv")
    seed = seed[seed.area_type.isin(["region", "aggregate"]) & seed.value.notna()]
    keys = list(zip(seed.indicator, seed.area, seed.year, strict=True))
    n_built = sum(k in built for k in keys)
    n_fit = sum(k in fitted for k in keys if k not in built)
    return n_fit, len(keys) - n_built - n_fit, n_built


def test_report_says_which_points_were_fitted(compared_runs, tmp_path):
    n_fit, n_not, n_built = _seed_roles()
    assert (n_fit, n_built) == (5, 13)
    for name in ("default", "no-params"):
        out = tmp_path / f"{name}.html"
        assert main(["report", str(compared_runs[name]), "--out", str(out)]) == 0
        page = Page(out.read_text(encoding="utf-8"))
        assert "observed-roles" in page.ids
        body = " ".join(" ".join(page.text).split())
        assert f"Not drawn: {n_built} figures the model reproduces by construction" in body
        if name == "default":
            # the calibration's own rows count too: the history pack's 2011-2015 figures
            from .test_evidence import _expected_points

            roles = list(_expected_points().values())
            n_rec_fit, n_rec_not = roles.count("fitted"), roles.count("not fitted")
            assert (n_rec_fit, n_rec_not) == (15, 24)
            assert (
                f"Observed points: {n_rec_fit} used in the fit of the calibration"
                f" history-2010-2015 (filled: observed, used in the fit), {n_rec_not} not used"
            ) in body
        else:
            assert (
                "No calibration in use (the results record no parameter file): all"
                f" {n_fit + n_not} observed points are hollow"
            ) in body
