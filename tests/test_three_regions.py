"""A 3-region copy of the model, its spec and its data: every command runs on it.

Nothing in src/ knows how many regions the model has: the copy keeps the first three elements
of the Region range (and the first three values of every per-region constant), its spec names
their labels and an aggregate "All 3 regions", and the area mapping and the observations keep
the rows of those regions.
"""

from __future__ import annotations

import csv
import re
import shutil

import pandas as pd
import pytest
import yaml

from sdplanner.cli import main

from .conftest import DATA, ROOT

KEEP = 3


def _cut_model(text: str, keep: int) -> tuple[str, list[str]]:
    head, sketch = text.split("\\\\\\---///", 1)
    match = re.search(r"\nRegion:\n(.*?)\n\t~", head, re.S)
    elements = [e.strip() for e in match.group(1).replace("\n", " ").split(",")]
    n = len(elements)
    kept = elements[:keep]
    head = head.replace(match.group(1), "\t" + ", ".join(kept))

    def cut(m: re.Match) -> str:
        values = [v.strip() for v in m.group(2).split(",")]
        if len(values) != n:
            return m.group(0)
        return f"{m.group(1)}\t{', '.join(values[:keep])}\n"

    head = re.sub(r"(\n[^\n]+\[Region\]=\n)\t([-\d.eE+, ]+)\n", cut, head)
    return head + "\\\\\\---///" + sketch, kept


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    folder = tmp_path_factory.mktemp("three")
    text, elements = _cut_model((ROOT / "models" / "sdplanner.mdl").read_text("utf-8"), KEEP)
    (folder / "m.mdl").write_text(text, encoding="utf-8")
    spec = yaml.safe_load((ROOT / "models" / "sdplanner.spec.yaml").read_text("utf-8"))
    spec["model"] = "m.mdl"
    dim = spec["dimension"]
    dim["labels"] = {e: dim["labels"].get(e, e) for e in elements}
    dim["aggregate"] = f"All {KEEP} regions"
    dim["aggregate_aliases"] = ["14 regions"]  # the seed's aggregate rows, for the test data
    (folder / "m.spec.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    labels = list(dim["labels"].values())
    # the data cut to these regions: the area mapping and the observations
    with open(DATA / "area_mapping.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    # provinces are context, listed once more per region they hold part of: keep those rows
    # only for the regions kept
    kept = [
        r
        for r in rows
        if r["kind"] == "aggregate"
        or (r["kind"] == "context" and not r["region"])
        or r["region"] in labels
    ]
    with open(folder / "areas.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    pairs = {(r["area"], r["area_type"]) for r in kept}
    obs = pd.read_csv(DATA / "seed_figures.csv")
    keep = [(a, t) in pairs for a, t in zip(obs.area, obs.area_type, strict=True)]
    obs[keep].to_csv(folder / "obs.csv", index=False)
    scen = folder / "scenarios"
    scen.mkdir()
    for name in ("baseline.yaml", "path-4.3-infrastructure.yaml"):
        shutil.copy(ROOT / "scenarios" / name, scen / name)
    return folder, labels


def _ok(argv, capsys) -> str:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_run_compare_report_and_plot(three, tmp_path, capsys):
    folder, labels = three
    model = folder / "m.mdl"
    run = tmp_path / "run"
    _ok(["run", folder / "scenarios" / "baseline.yaml", "--model", model, "--out", run], capsys)
    res = pd.read_csv(run / "results.csv", keep_default_na=False)
    assert set(res[res.variable == "urbanization_rate"].region) == {*labels, "All 3 regions"}
    cmp = tmp_path / "cmp"
    scen = folder / "scenarios"
    argv = ["compare", scen / "baseline.yaml", scen / "path-4.3-infrastructure.yaml"]
    printed = _ok([*argv, "--model", model, "--out", cmp], capsys)
    assert "All 3 regions" in printed
    comp = pd.read_csv(cmp / "comparison.csv")
    assert set(comp.region) == {*labels, "All 3 regions"}
    _ok(["report", cmp, "--model", model, "--out", tmp_path / "r.html"], capsys)
    plot = ["plot", cmp / "results.csv", "--variable", "urbanization_rate", "--model", model]
    _ok([*plot, "--out", tmp_path / "u.png"], capsys)


def test_check_ensemble_and_sensitivity(three, tmp_path, capsys):
    folder, _ = three
    model = folder / "m.mdl"
    printed = _ok(["check", model], capsys)
    assert "0 finding(s)" in printed
    scen = folder / "scenarios" / "baseline.yaml"
    unc = ROOT / "uncertainty" / "default.yaml"
    ens = tmp_path / "ens"
    argv = ["ensemble", scen, "--uncertainty", unc, "--samples", 20, "--seed", 1, "--quiet"]
    _ok([*argv, "--model", model, "--out", ens, "--no-plots"], capsys)
    pct = pd.read_csv(ens / "percentiles.csv")
    assert "All 3 regions" in set(pct.region)
    argv = ["sensitivity", scen, "--uncertainty", unc, "--samples", 8, "--seed", 1, "--quiet"]
    _ok([*argv, "--model", model, "--out", tmp_path / "sens"], capsys)


def test_calibrate(three, tmp_path, capsys):
    folder, _ = three
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "parameters:\n  base_local_urbanization_rate: {lower: 0.005, upper: 0.04}\n"
        "indicators:\n  urbanization_rate:\n    variable: urbanization_rate\n    unit: percent\n"
        "    sigma: {region: 1.0, aggregate: 1.0, sub-area: 3.0}\n",
        encoding="utf-8",
    )
    argv = ["calibrate", "--data", folder / "obs.csv", "--spec", spec, "--areas"]
    argv += [folder / "areas.csv", "--model", folder / "m.mdl", "--starts", 0, "--no-plots"]
    _ok([*argv, "--out", tmp_path / "cal"], capsys)
    assert (tmp_path / "cal" / "parameters.csv").is_file()


def test_the_explorer_serves_three_regions(three):
    from sdplanner.web.explorer import Explorer

    folder, labels = three
    explorer = Explorer(folder / "scenarios", model=folder / "m.mdl")
    assert explorer.meta()["regions"] == ["All 3 regions", *labels]
    answer = explorer.run({"scenario": "baseline.yaml", "region": labels[2]})
    assert answer["region"] == labels[2] and answer["series"]
