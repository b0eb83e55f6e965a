"""Robust rankings (``sdplanner rank-robustness``): a toy whose ranking flips on one constant,
the ranking rules, errors, and the shipped table kept current."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sdplanner.cli import main
from sdplanner.model import load_model
from sdplanner.uncertainty import load_uncertainty
from sdplanner.uncertainty.ranks import material, ranks, source_label

from .conftest import ROOT, load_tool
from .security_helpers import one_line

docs_numbers = load_tool("docs_numbers")

#: Two policies; the effect of A is an assumption (a), that of B a published figure (b).
#: With the central values A ranks first (1.0 > 0.9); a ~ U(0.5, 1.5) keeps it there when
#: a > 0.9, that is in 60 % of the samples. c is an assumption nothing depends on.
TOY = """{UTF-8}
Region:
\tNorth, South
\t~\t
\t~\t\t|

y[Region]=
\t1 + a * pa + b * pb + 0 * c
\t~\tDmnl
\t~\tThe indicator.
\t|

pa=
\t0
\t~\tDmnl [0,1]
\t~\tPolicy A.
\t|

pb=
\t0
\t~\tDmnl [0,1]
\t~\tPolicy B.
\t|

a=
\t1
\t~\tDmnl [0,2]
\t~\tEffect of policy A; assumption.
\t|

b=
\t0.9
\t~\tDmnl [0,2]
\t~\tEffect of policy B; literature.
\t|

c=
\t0.5
\t~\tDmnl [0,1]
\t~\tNothing depends on it; assumption.
\t|

FINAL TIME  = 2020
\t~\tyear
\t~\t\t|

INITIAL TIME  = 2010
\t~\tyear
\t~\t\t|

SAVEPER  = 1
\t~\tyear
\t~\t\t|

TIME STEP  = 1
\t~\tyear
\t~\t\t|
"""
SPEC = """model: toy.mdl
years: {comparison: [2015, 2020], policy_start: 2015}
dimension: {subscript: Region, aggregate: Both}
outputs:
  y: {label: the indicator, aggregate: sum, better: BETTER}
views: {comparison: [y]}
"""
UNCERTAINTY = """parameters:
  a: {distribution: uniform, min: 0.5, max: 1.5}
  b: {distribution: uniform, min: 0.8, max: 1.0}
  c: {distribution: uniform, min: 0, max: 1}
"""


@pytest.fixture
def toy(tmp_path):
    (tmp_path / "toy.mdl").write_text(TOY, encoding="utf-8")
    (tmp_path / "toy.spec.yaml").write_text(SPEC.replace("BETTER", "higher"), encoding="utf-8")
    (tmp_path / "baseline.yaml").write_text("name: baseline\n", encoding="utf-8")
    (tmp_path / "a.yaml").write_text("name: path-a\nparameters: {pa: 1}\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("name: path-b\nparameters: {pb: 1}\n", encoding="utf-8")
    (tmp_path / "u.yaml").write_text(UNCERTAINTY, encoding="utf-8")
    return tmp_path


def _run(toy, *extra, out="out"):
    argv = [str(toy / f) for f in ("baseline.yaml", "a.yaml", "b.yaml")]
    argv += ["--model", str(toy / "toy.mdl"), "--uncertainty", str(toy / "u.yaml")]
    argv += ["--samples", "400", "--seed", "3", "--trajectories", "10", "--quiet"]
    return main(["rank-robustness", *argv, *extra, "--out", str(toy / out)])


def test_the_toy_ranking_flips_on_its_one_assumption(toy, capsys):
    assert _run(toy) == 0
    out = toy / "out"
    table = pd.read_csv(out / "robustness.csv").set_index("path")
    assert list(table["year"]) == [2020, 2020]  # the comparison years after the policy start
    # A Latin hypercube puts one of the 400 draws of a in each 1/400 of its range, and a keeps
    # A first exactly when a > 0.9: 240 of them, whatever the seed.
    assert table.loc["path-a", "rank_kept_share"] == pytest.approx(0.6, abs=1 / 400)
    assert table.loc["path-b", "rank_kept_share"] == pytest.approx(0.6, abs=1 / 400)
    assert list(table["central_rank"]) == [1, 2]
    # the central effects are the runs at the .mdl values: a = 1, b = 0.9, over 2 regions
    np.testing.assert_allclose(table["central_effect"], [2.0, 1.8], rtol=1e-12)
    assert list(table["same_sign_share"]) == [1.0, 1.0]  # both effects stay positive
    assert list(table["top_constants"].str.split().str[0]) == ["a", "a"]
    morris = pd.read_csv(out / "morris.csv").set_index(["path", "parameter"])["mu_star"]
    assert morris["path-a", "a"] > 0 and morris["path-a", "c"] == 0.0  # c changes nothing
    assert "b" not in set(morris.index.get_level_values("parameter"))  # literature: not sampled
    rankings = pd.read_csv(out / "rankings.csv").iloc[0]
    assert rankings["central_order"] == "path-a > path-b"
    assert rankings["ranking_kept_share"] == pytest.approx(0.6, abs=1 / 400)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["left_out_not_assumption"] == ["b"]
    assert manifest["sampled_constants"] == ["a", "c"]
    assert set(manifest["output_files"]) == {"robustness.csv", "morris.csv", "rankings.csv"}
    assert "left out: b" in capsys.readouterr().out


def test_a_lower_is_better_indicator_ranks_the_other_way(toy):
    spec = SPEC.replace("BETTER", "lower")
    (toy / "toy.spec.yaml").write_text(spec, encoding="utf-8")
    assert _run(toy) == 0
    table = pd.read_csv(toy / "out" / "robustness.csv").set_index("path")
    assert list(table["central_rank"]) == [2, 1]
    assert table.loc["path-b", "rank_kept_share"] == pytest.approx(0.6, abs=1 / 400)


def test_backends_give_the_same_table(toy):
    assert _run(toy) == 0
    assert _run(toy, "--processes", "2", out="parallel") == 0
    for name in ("robustness.csv", "rankings.csv", "morris.csv"):
        assert (toy / "out" / name).read_bytes() == (toy / "parallel" / name).read_bytes()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--samples", "1"], "--samples: expected an integer >= 2, found 1"),
        (["--trajectories", "1"], "--trajectories: expected an integer >= 2, found 1"),
        (["--levels", "3"], "--levels: expected an even integer >= 2, found 3"),
        (["--years", "2030"], "--years: expected years in 2010..2020, found 2030"),
    ],
)
def test_bad_options_are_one_line(toy, capsys, change, message):
    assert _run(toy, *change) == 2
    assert one_line(capsys.readouterr().err).endswith(message)
    assert not (toy / "out").exists()


def test_one_path_or_no_assumption_is_refused(toy, capsys):
    argv = ["rank-robustness", str(toy / "baseline.yaml"), str(toy / "a.yaml")]
    argv += ["--model", str(toy / "toy.mdl"), "--uncertainty", str(toy / "u.yaml")]
    assert main([*argv, "--out", str(toy / "out")]) == 2
    assert "expected a baseline and at least two paths, found 1 path(s)" in one_line(
        capsys.readouterr().err
    )
    (toy / "only-b.yaml").write_text(
        "parameters:\n  b: {distribution: uniform, min: 0.8, max: 1}\n"
    )
    argv = [str(toy / f) for f in ("baseline.yaml", "a.yaml", "b.yaml")]
    argv += ["--model", str(toy / "toy.mdl"), "--uncertainty", str(toy / "only-b.yaml")]
    assert main(["rank-robustness", *argv, "--out", str(toy / "out")]) == 2
    assert "expected constants the .mdl labels 'assumption', found none (left out: b)" in one_line(
        capsys.readouterr().err
    )


def test_ranks_put_the_best_first_and_tie_paths_without_effect():
    effects = np.array([[3.0, 1.0, 2.0], [1.0, 1.0, -1.0], [1.0, 1e-9, -1e-9]])
    assert ranks(effects, "higher").tolist() == [[1, 3, 2], [1, 1, 3], [1, 2, 2]]
    assert ranks(effects, "lower").tolist() == [[3, 1, 2], [2, 2, 1], [3, 1, 1]]
    # under 1/10,000 of the largest effect of its sample, an effect is no effect
    np.testing.assert_array_equal(material(effects)[2], [1.0, 0.0, 0.0])


@pytest.mark.parametrize(
    ("comment", "label"),
    [
        ("Elasticity of x; assumption (Zhao 1999 estimate 0.2-1.0).", "assumption"),
        ("Share of a wage sent home; calibrated (prior: assumption 0.18).", "calibrated"),
        ("Resident population 2010 (data/model_inputs.csv). Sources: ...", "data"),
        ("Yearly TFP growth; literature: 2-3 % a year.", "literature"),
        ("Migrants in 2010; assumption near Enshi's 38.1 %, calibrated.", "assumption"),
        ("Upper limit of the multiplier.", None),
    ],
)
def test_source_labels_are_read_from_the_comment(comment, label):
    assert source_label(comment) == label


def test_every_range_of_the_shipped_file_is_argued_and_assumed():
    model = load_model()
    spec = load_uncertainty(ROOT / "uncertainty" / "rank-robustness.yaml", model)
    default = load_uncertainty(ROOT / "uncertainty" / "default.yaml", model)
    import yaml

    raw = yaml.safe_load((ROOT / "uncertainty" / "rank-robustness.yaml").read_text())
    for p in spec.parameters:
        assert source_label(model.variables[p.name].comment) == "assumption", p.name
        assert len(raw["parameters"][p.name].get("note", "")) > 20, f"{p.name}: no reason given"
    assert not set(spec.names) & set(default.names)  # one home for each range


def test_the_shipped_table_is_current_and_its_central_run_is_compares():
    # Regenerate with `python tools/docs_numbers.py --write` (it runs the analysis only when
    # an input changed: the model, spec, calibration, scenarios, uncertainty files or code).
    assert docs_numbers.robustness_current()
    from sdplanner.compare import compare_scenarios

    table = pd.read_csv(ROOT / "uncertainty" / "rank-robustness" / "robustness.csv")
    files = [
        ROOT / "scenarios" / "baseline.yaml",
        *sorted((ROOT / "scenarios").glob("path-*.yaml")),
    ]
    comparison = compare_scenarios(files).comparison
    aggregate = load_model().spec.dimension.aggregate
    delta = comparison[comparison.region == aggregate].set_index(["scenario", "indicator", "year"])
    kept = table.set_index(["path", "indicator", "year"])
    assert set(kept.index) <= set(delta.index)
    # the kept central effects are compare's deltas (the same runs; 1e-9 relative covers
    # the C kernel's last bits on another compiler)
    np.testing.assert_allclose(
        kept["central_effect"], delta.loc[kept.index, "delta"], rtol=1e-9, atol=1e-12
    )
    assert table["rank_kept_share"].between(0, 1).all() and len(table) == len(kept.index.unique())


def test_a_reduced_run_of_the_shipped_paths_has_the_kept_central_ranks(tmp_path):
    # the central run does not depend on the samples: a small run gives the kept ranks
    argv = ["rank-robustness", "--samples", "20", "--trajectories", "2", "--seed", "1"]
    assert main([*argv, "--quiet", "--out", str(tmp_path / "out")]) == 0
    small = pd.read_csv(tmp_path / "out" / "robustness.csv")
    kept = pd.read_csv(ROOT / "uncertainty" / "rank-robustness" / "robustness.csv")
    assert small[["path", "indicator", "year", "central_rank"]].equals(
        kept[["path", "indicator", "year", "central_rank"]]
    )
    assert small["rank_kept_share"].between(0, 1).all()
