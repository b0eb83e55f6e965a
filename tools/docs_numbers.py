"""Regenerate every figure README.md and docs/ quote, from the commands that produce it.

A figure quoted in a document stands between markers that name what produces it:

* a block (a table, a list, a paragraph)::

      <!-- generated:scenarios.summary -->
      ...
      <!-- /generated:scenarios.summary -->

* a number inside a sentence: ``<!-- n:scenarios.all_five_urbanization_2030 -->+6.97<!-- /n -->``.

Each name is ``FAMILY.KEY``; a family is a function below that computes all its keys at once
(one run of ``compare`` serves every figure of the scenario comparison). Usage::

    python tools/docs_numbers.py --write     # rewrite every marked figure
    python tools/docs_numbers.py --check     # exit 1 and list what is stale (the test does this)

`tests/test_docs_numbers.py` fails when a quoted figure differs from what this prints, when a
document names a figure no family produces, or when a family's figure is quoted nowhere.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import sys
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
#: The documents whose figures are generated.
DOCUMENTS = ("README.md", "docs/*.md", "benchmarks/RESULTS.md", "calibration/README.md")

_BLOCK = re.compile(
    r"(<!-- generated:(?P<name>[\w.\-]+) -->\n)(?P<body>.*?)(<!-- /generated:(?P=name) -->)",
    re.DOTALL,
)
_INLINE = re.compile(r"(<!-- n:(?P<name>[\w.\-]+) -->)(?P<body>.*?)(<!-- /n -->)", re.DOTALL)

Family = Callable[[], dict[str, str]]
FAMILIES: dict[str, Family] = {}
#: True under --write: families kept from an expensive run may run it again (their inputs
#: changed); under --check they refuse to guess.
REFRESH = False


def family(name: str) -> Callable[[Family], Family]:
    """Register a function that returns every figure of one family (key -> text)."""

    def register(func: Family) -> Family:
        FAMILIES[name] = cache(func)
        return func

    return register


def documents(root: Path = ROOT) -> list[Path]:
    """Return the documents that may quote generated figures, in a stable order."""
    out: list[Path] = []
    for pattern in DOCUMENTS:
        out.extend(sorted(root.glob(pattern)))
    return out


def quoted_names(text: str) -> list[str]:
    """Return every figure name a document quotes (blocks and inline numbers)."""
    return [m["name"] for m in _BLOCK.finditer(text)] + [m["name"] for m in _INLINE.finditer(text)]


def figure(name: str) -> str:
    """Return the current text of one figure ``FAMILY.KEY``.

    Raises
    ------
    KeyError
        When no family produces that name.
    """
    fam, _, key = name.partition(".")
    if fam not in FAMILIES:
        raise KeyError(f"{name}: no family {fam!r} (known: {', '.join(sorted(FAMILIES))})")
    values = FAMILIES[fam]()
    if key not in values:
        raise KeyError(f"{name}: family {fam!r} has no figure {key!r}")
    return values[key]


def render(text: str) -> str:
    """Return a document with every marked figure replaced by its current value."""

    def block(m: re.Match) -> str:
        body = figure(m["name"]).rstrip("\n") + "\n"
        return f"{m.group(1)}{body}{m.group(4)}"

    def inline(m: re.Match) -> str:
        return f"{m.group(1)}{figure(m['name'])}{m.group(4)}"

    return _INLINE.sub(inline, _BLOCK.sub(block, text))


def stale(paths: Iterable[Path]) -> list[str]:
    """Return one line per document whose figures differ from what the families produce."""
    out = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        new = render(text)
        if new != text:
            names = [
                n for n in dict.fromkeys(quoted_names(text)) if _quoted(text, n) != _quoted(new, n)
            ]
            out.append(f"{path.relative_to(ROOT)}: stale {', '.join(names)}")
    return out


def _quoted(text: str, name: str) -> list[str]:
    esc = re.escape(name)
    pattern = (
        rf"<!-- generated:{esc} -->\n(.*?)<!-- /generated:{esc} -->"
        rf"|<!-- n:{esc} -->(.*?)<!-- /n -->"
    )
    return [a or b for a, b in re.findall(pattern, text, re.DOTALL)]


def main(argv: list[str] | None = None) -> int:
    """Rewrite (``--write``) or check (``--check``) every generated figure of the docs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the documents")
    mode.add_argument("--check", action="store_true", help="exit 1 when a figure is stale")
    args = parser.parse_args(argv)
    global REFRESH
    REFRESH = args.write
    paths = documents()
    if args.check:
        lines = stale(paths)
        for line in lines:
            print(line)
        return 1 if lines else 0
    for path in paths:
        text = path.read_text(encoding="utf-8")
        new = render(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"updated {path.relative_to(ROOT)}")
    return 0


# --------------------------------------------------------------------------------------
# Helpers for the families
# --------------------------------------------------------------------------------------
def fmt(value: float, digits: int = 0, *, signed: bool = False) -> str:
    """Format a number as the docs write it: thousands separators, fixed decimals."""
    return f"{value:+,.{digits}f}" if signed else f"{value:,.{digits}f}"


def _g(value: float) -> str:
    return f"{value:,.6g}" if abs(value) >= 1000 else f"{value:.6g}"


def _g4(value: float) -> str:
    return f"{value:,.4g}"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def constants_markdown(model) -> str:
    """Return Markdown tables of every constant: unit, value(s), source or assumption.

    Parameters
    ----------
    model : ModelInfo
        The loaded model.

    Returns
    -------
    str
        Three tables: scalar constants, per-region constants, lever constants.
    """
    lever_consts = set(model.spec.lever_constants)
    scalars, regional, levers = [], [], []
    for py, value in sorted(model.constants.items()):
        info = model.variables[py]
        if py in lever_consts:
            levers.append((info, value))
        elif isinstance(value, np.ndarray):
            regional.append((info, value))
        else:
            scalars.append((info, value))
    out = ["### Scalar constants", "", "| constant | unit | value | source or assumption |"]
    out.append("|---|---|---|---|")
    for info, value in scalars:
        row = f"| {info.name} | {info.units} | {_g(value)} | {_escape(info.comment)} |"
        out.append(row)
    out += ["", "### Per-region constants", ""]
    for info, value in regional:
        out.append(f"**{info.name}** ({info.units}): {_escape(info.comment)}")
        out.append("")
        out.append("| " + " | ".join(model.regions) + " |")
        out.append("|" + "---|" * len(model.regions))
        out.append("| " + " | ".join(_g(v) for v in value) + " |")
        out.append("")
    out += ["### Policy lever constants (defaults: no new policy)", ""]
    out += ["| constant | unit | default (all regions) | meaning |", "|---|---|---|---|"]
    for info, value in levers:
        shown = _g(float(np.unique(value)[0])) if np.ndim(value) else _g(value)
        out.append(f"| {info.name} | {info.units} | {shown} | {_escape(info.comment)} |")
    return "\n".join(out) + "\n"


def markdown_table(header: list[str], rows: Iterable[list[str]]) -> str:
    """Return a Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# Families
# --------------------------------------------------------------------------------------
@cache
def _model():
    from sdplanner.model import load_model

    return load_model()


@family("model")
def _model_facts() -> dict[str, str]:
    """Return the model's constants and levers, from the .mdl and its spec."""
    model = _model()
    spec = model.spec
    rows = []
    for lever in spec.levers:
        section, title = spec.paths[lever.path]
        rows.append(
            [
                f"`{lever.name}`",
                f"{title} ({section})",
                lever.unit,
                f"{lever.minimum:g}..{lever.maximum:g}",
                f"{lever.default_start:g}, {lever.default_ramp_years:g} years",
                lever.description,
                lever.cost_rule,
            ]
        )
    levers = markdown_table(
        [
            "lever",
            "path",
            "unit",
            "range",
            "default start, ramp",
            "what it does",
            "cost (yuan/year)",
        ],
        rows,
    )
    return {
        "constants": constants_markdown(model),
        "levers": levers,
        "n_levers": str(len(spec.levers)),
        "n_regions": str(len(model.regions)),
        "n_outputs": str(len(spec.outputs)),
    }


@cache
def _shipped_comparison():
    from sdplanner.compare import compare_scenarios

    files = [ROOT / "scenarios" / "baseline.yaml"]
    files += sorted((ROOT / "scenarios").glob("path-*.yaml"))
    files += [ROOT / "scenarios" / "all-five.yaml"]
    return compare_scenarios(files, engine="batch")


@family("scenarios")
def _scenario_figures() -> dict[str, str]:
    """Return the shipped comparison (`sdplanner compare` on every shipped scenario)."""
    from sdplanner.compare import format_summary

    res = _shipped_comparison()
    spec = res.inputs[0].model.spec
    text = format_summary(
        res.summary(),
        spec,
        baseline=res.baseline,
        region=spec.dimension.aggregate,
        titles=res.titles,
        since=round(res.inputs[0].model.initial_time),
    )
    out = {"summary": "```\n" + text + "\n```"}
    comp = res.comparison
    agg = comp[comp.region == spec.dimension.aggregate]
    for row in agg.itertuples():
        disp = spec.display(row.indicator)
        key = f"{row.scenario}.{row.indicator}.{row.year}"
        out[f"delta.{key}"] = fmt(row.delta * disp.scale, 2, signed=True)
        out[f"value.{key}"] = fmt(row.value * disp.scale, 2)
        if np.isfinite(row.cumulative_cost_billion_yuan):
            out[f"cost.{row.scenario}.{row.year}"] = fmt(row.cumulative_cost_billion_yuan, 0)
    return out


@cache
def _shipped_loops():
    from sdplanner.loops import analyze_loops
    from sdplanner.resources import default_model_path

    return analyze_loops(default_model_path())


@family("loops")
def _loop_figures() -> dict[str, str]:
    """Return the shipped model's feedback loops (`sdplanner.loops.analyze_loops`)."""
    res = _shipped_loops()
    graph = res.graph
    words = {"R": "reinforcing", "B": "balancing", "?": "unknown"}
    rows = [
        [
            loop.id,
            words[loop.polarity],
            str(loop.length),
            " → ".join((*loop.names, loop.names[0])),
            " ".join(loop.links),
            ", ".join(graph.names[s] for s in loop.stocks) or "none",
        ]
        for loop in res.loops
    ]
    header = ["loop", "polarity", "length", "variables in causal order", "links", "stocks"]
    names = graph.names
    unknown = [f"{names[u]} → {names[v]}" for (u, v), pol in graph.links.items() if pol == "?"]
    return {
        "table": markdown_table(header, rows),
        "n_loops": str(len(res.loops)),
        "n_reinforcing": str(res.count("R")),
        "n_balancing": str(res.count("B")),
        "n_unknown": str(res.count("?")),
        "n_variables": str(len(graph.nodes)),
        "n_links": str(len(graph.links)),
        "n_components": str(len(res.components)),
        "n_loop_variables": str(sum(len(c.variables) for c in res.components)),
        "cycle_rank": str(sum(c.cycle_rank for c in res.components)),
        "n_short": str(sum(c.cycle_rank - c.n_loops for c in res.components)),
        "n_unknown_links": str(len(unknown)),
        "unknown_links": "; ".join(unknown) or "none",
        "assumed_positive": ", ".join(graph.names[n] for n in graph.assumed_positive) or "none",
    }


#: The shipped rank-robustness run: its tables are kept in this folder with the hashes of its
#: inputs (inputs.json) and run again by --write only when an input changed (about 10 s).
ROBUSTNESS = ROOT / "uncertainty" / "rank-robustness"
ROBUSTNESS_ARGS = ("--samples", "1000", "--seed", "2016", "--trajectories", "20", "--levels", "4")


def robustness_inputs() -> dict:
    """Return what the shipped rank-robustness tables depend on: arguments and file hashes."""
    from sdplanner.model import file_sha256

    files = [
        ROOT / "models" / "sdplanner.mdl",
        ROOT / "models" / "sdplanner.spec.yaml",
        ROOT / "calibration" / "seed-2010-2012.params.yaml",
        ROOT / "scenarios" / "baseline.yaml",
        *sorted((ROOT / "scenarios").glob("path-*.yaml")),
        ROOT / "uncertainty" / "default.yaml",
        ROOT / "uncertainty" / "rank-robustness.yaml",
        ROOT / "src" / "sdplanner" / "uncertainty" / "robustness.py",
        ROOT / "src" / "sdplanner" / "uncertainty" / "ranks.py",
    ]
    return {
        "command": ["sdplanner", "rank-robustness", *ROBUSTNESS_ARGS],
        "files": {f.relative_to(ROOT).as_posix(): file_sha256(f) for f in files},
    }


def robustness_current() -> bool:
    """Return True when the kept tables were made from the current inputs."""
    record = ROBUSTNESS / "inputs.json"
    if not record.is_file():
        return False
    kept = json.loads(record.read_text(encoding="utf-8"))
    return {k: kept.get(k) for k in ("command", "files")} == robustness_inputs()


def refresh_robustness() -> None:
    """Run the shipped rank-robustness analysis and keep its tables and input hashes."""
    import shutil
    import tempfile

    from sdplanner.cli import main as sdplanner

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        with contextlib.redirect_stdout(io.StringIO()):
            code = sdplanner(["rank-robustness", *ROBUSTNESS_ARGS, "--out", str(out), "--quiet"])
        if code != 0:
            raise RuntimeError("sdplanner rank-robustness failed")
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        ROBUSTNESS.mkdir(exist_ok=True)
        for name in ("robustness.csv", "rankings.csv"):
            shutil.copyfile(out / name, ROBUSTNESS / name)
    record = {
        **robustness_inputs(),
        "constants": len(manifest["sampled_constants"]),
        "runs": manifest["runs"],
        "seconds": manifest["seconds"],
    }
    (ROBUSTNESS / "inputs.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"ran sdplanner rank-robustness: {manifest['runs']:,} runs in {manifest['seconds']} s")


def _share(x: float) -> str:
    return f"{100 * x:.0f} %"


def _find(pattern: str, text: str, where: str, flags: int = 0) -> re.Match:
    """Return the first match of `pattern` in `text`; a family whose source lacks it fails."""
    found = re.search(pattern, text, flags)
    if found is None:
        raise RuntimeError(f"{where}: no match for {pattern!r}")
    return found


def _sdplanner_stdout(argv: list[str]) -> str:
    """Return what `sdplanner ARGV` prints; a non-zero exit fails the family."""
    from sdplanner.cli import main

    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        code = main(argv)
    if code != 0:
        raise RuntimeError(f"sdplanner {argv[0]} exited with {code}")
    return text.getvalue()


@family("sketch")
def _sketch_figures() -> dict[str, str]:
    """Return what `sdplanner sketch models/sdplanner.mdl --write` prints (drawn to a copy)."""
    import tempfile

    model = ROOT / "models" / "sdplanner.mdl"
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "sdplanner.mdl"
        text = _sdplanner_stdout(["sketch", str(model), "--out", str(target)])
    line = text.strip().replace(str(target), "models/sdplanner.mdl")
    return {"summary": "```\n" + line + "\n```"}


@family("conformance")
def _conformance_figures() -> dict[str, str]:
    """Return the counts of docs/conformance.md.

    That page is written by `tools/conformance.py --write` and kept current by
    tests/test_conformance.py.
    """
    text = (ROOT / "docs" / "conformance.md").read_text(encoding="utf-8")

    def count(pattern: str) -> str:
        return _find(pattern, text, "conformance: docs/conformance.md").group(1)

    return {
        "models": count(r"- Vensim models in the suite: (\d+)"),
        "pysd_passes": count(r"- PySD matches Vensim: (\d+)"),
        "engine_reads": count(r"- the batch engine reads: (\d+);"),
        "engine_matches": count(r"every kernel matches Vensim: (\d+)"),
    }


@family("benchmarks")
def _benchmark_figures() -> dict[str, str]:
    """Return the engine ratios of the `benchmarks/bench_models.py` entry of RESULTS.md.

    The entry is measured side by side in one run and pasted there with its date.
    """
    text = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    start = text.index("(`benchmarks/bench_models.py`)")
    block = text[text.index("```", start) + 3 :]
    block = block[: block.index("```")]
    out: dict[str, str] = {}
    for key, title in (("teacup", "== teacup"), ("shipped", "== shipped model")):
        part = block[block.index(title) :]
        part = part[: part.find("\n== ", 1)] if "\n== " in part[1:] else part
        where = f"benchmarks: {key} in the bench_models entry of RESULTS.md"
        thr = _find(r"C +kernel +([\d,]+) runs/s per core", part, where)
        out[f"{key}.c_runs_per_core"] = thr.group(1)
        for run in ("PySD", "C", "NumPy"):
            name = run.lower()
            one = _find(
                rf"{run} +(?:kernel +)?one run: median of \d+: [\d.]+ ms wall,"
                r" ([\d.]+) ms CPU(?:; PySD / \w+: [\d,]+x wall, ([\d,]+)x CPU)?",
                part,
                where,
            )
            if run == "PySD":
                out[f"{key}.pysd_cpu_seconds"] = f"{float(one.group(1)) / 1000:.3g}"
                continue
            out[f"{key}.{name}_cpu_ms"] = f"{float(one.group(1)):.3g}"
            out[f"{key}.{name}_cpu_ratio"] = one.group(2)
    explorer = text[text.index("## Explorer latency") :]
    explorer = explorer[: explorer.index("\n## ", 3)]
    for key, label in (
        ("rerun", "Model rerun for one change"),
        ("engine_cpu", "CPU time"),
        ("round_trip", "round trip seen by a client"),
        ("switch", "Region or indicator switch"),
        ("browser", "slider step to painted chart"),
    ):
        pattern = re.escape(label) + r"[^\n]*?median (\d+) ms, p90 (\d+) ms, max (\d+) ms"
        found = _find(pattern, explorer, "benchmarks: the explorer entry of RESULTS.md")
        out[f"explorer.{key}.median"], out[f"explorer.{key}.p90"] = found.group(1, 2)
        out[f"explorer.{key}.max"] = found.group(3)
    start = _find(
        r"Explorer start-up \(model, engine, baseline run\): ([\d.]+) s",
        explorer,
        "benchmarks: the explorer entry of RESULTS.md",
    )
    out["explorer.startup"] = start.group(1)
    return out


@family("check")
def _check_figures() -> dict[str, str]:
    """Return what `sdplanner check models/sdplanner.mdl` prints, and the shipped checks."""
    from sdplanner.checks.checks_file import load_checks

    lines = _sdplanner_stdout(["check", str(ROOT / "models" / "sdplanner.mdl")]).strip()
    lines = lines.splitlines()
    if len(lines) < 4:
        raise RuntimeError(f"check: sdplanner check printed {len(lines)} lines")
    units = _find(r"^Units: (\d+) finding\(s\) in (\d+) equations", lines[0], "check: header")
    summary = _find(
        r"^Summary: .*; (\d+) of (\d+) reality checks passed", lines[-1], "check: summary"
    )
    shown = [line.replace(str(ROOT) + "/", "") for line in lines[:2]]
    shown += [line if len(line) <= 96 else line[:93] + "..." for line in lines[2:4]]
    shown += ["...", re.sub(r" \([\d.]+ s\)$", "", lines[-1])]
    checks = load_checks(ROOT / "models" / "sdplanner.checks.yaml", _model())
    listing = "\n".join(f"- `{c.name}`: {' '.join(c.description.split())}" for c in checks)
    return {
        "output": "```\n" + "\n".join(shown) + "\n```",
        "unit_findings": units.group(1),
        "equations": units.group(2),
        "passed": summary.group(1),
        "checks": summary.group(2),
        "list": listing,
    }


@family("seed")
def _seed_calibration_figures() -> dict[str, str]:
    """Return the counts and one estimate of the shipped seed calibration's report."""
    import pandas as pd

    folder = ROOT / "calibration" / "seed-2010-2012"
    report = (folder / "report.txt").read_text(encoding="utf-8")
    out = {}
    for key, pattern in (
        ("fitted", r"^Fitted \(evidence\): (\d+) rows"),
        ("skipped", r"^Skipped \(empty value\): (\d+) rows"),
        ("ignored", r"^Ignored \(not used by the spec\): (\d+) rows"),
    ):
        where = "seed: calibration/seed-2010-2012/report.txt"
        out[key] = _find(pattern, report, where, flags=re.M).group(1)
    params = pd.read_csv(folder / "parameters.csv", keep_default_na=False)
    row = params[
        (params.parameter == "base_local_urbanization_rate") & (params.method == "profile")
    ]
    out["local_rate"] = f"{float(row.estimate.iloc[0]):.3g}"
    mdl = _model().constants["base_local_urbanization_rate"]
    out["local_rate_mdl"] = f"{float(mdl):.3g}"
    return out


@family("robustness")
def _robustness_figures() -> dict[str, str]:
    """Return the shipped rank-robustness table (`sdplanner rank-robustness`, kept)."""
    import pandas as pd

    from sdplanner.uncertainty.ranks import NO_EFFECT

    if not robustness_current():
        if not REFRESH:
            raise RuntimeError(
                "robustness: the kept tables in uncertainty/rank-robustness/ are older than"
                " their inputs; run python tools/docs_numbers.py --write"
            )
        refresh_robustness()
    spec = _model().spec
    table = pd.read_csv(ROBUSTNESS / "robustness.csv")
    rankings = pd.read_csv(ROBUSTNESS / "rankings.csv")
    record = json.loads((ROBUSTNESS / "inputs.json").read_text(encoding="utf-8"))
    paths = list(dict.fromkeys(table["path"]))
    short = {p: p.removeprefix("path-").split("-")[0] for p in paths}
    header = ["indicator", "year", *(short[p] for p in paths), "whole ranking", "moved most by"]
    rows, out = [], {}
    for r in rankings.itertuples():
        cells = table[(table.indicator == r.indicator) & (table.year == r.year)].set_index("path")
        row = [spec.display(r.indicator).label, str(r.year)]
        for p in paths:
            c = cells.loc[p]
            row.append(f"{c.central_rank} ({_share(c.rank_kept_share)})")
            out[f"kept.{short[p]}.{r.indicator}.{r.year}"] = _share(c.rank_kept_share)
            out[f"rank.{short[p]}.{r.indicator}.{r.year}"] = str(c.central_rank)
            out[f"sign.{short[p]}.{r.indicator}.{r.year}"] = _share(c.same_sign_share)
        firsts = [p for p in paths if cells.loc[p].central_rank == 1]
        out[f"first.{r.indicator}.{r.year}"] = " and ".join(short[p] for p in firsts)
        out[f"first_kept.{r.indicator}.{r.year}"] = _share(
            min(cells.loc[p].rank_kept_share for p in firsts)
        )
        top = r.top_constants if isinstance(r.top_constants, str) else ""
        names = [part.rsplit(" ", 1)[0] for part in top.split("; ") if part][:2]
        row += [_share(r.ranking_kept_share), ", ".join(f"`{n}`" for n in names) or "none"]
        out[f"ranking.{r.indicator}.{r.year}"] = _share(r.ranking_kept_share)
        rows.append(row)
    out["table"] = markdown_table(header, rows)
    out["runs"] = fmt(record["runs"])
    out["constants"] = str(record["constants"])
    args = dict(zip(ROBUSTNESS_ARGS[::2], ROBUSTNESS_ARGS[1::2], strict=True))
    out["samples"] = fmt(int(args["--samples"]))
    out["seed"] = args["--seed"]
    out["trajectories"] = args["--trajectories"]
    out["no_effect"] = f"1/{1 / NO_EFFECT:,.0f}"
    out["seconds"] = f"{record['seconds']:.0f}"
    out["paths"] = ", ".join(f"{short[p]} = `{p}`" for p in paths)
    return out


@family("history")
def _history_figures() -> dict[str, str]:
    """Return the history calibration's fit, the 2012 backtest and as-happened's 2020 figures.

    The tables are those `sdplanner calibrate` and `sdplanner backtest` wrote under
    calibration/ (tests/test_history.py and tests/test_backtest.py regenerate them); the
    as-happened figures come from `sdplanner compare` (compare_scenarios).
    """
    import pandas as pd

    from sdplanner.compare import compare_scenarios

    cal = ROOT / "calibration"
    out: dict[str, str] = {}
    changes = pd.read_csv(cal / "history-2010-2015" / "regional_changes.csv")
    data = changes[changes.source == "data"].set_index("region")
    for key, region in (("tibet", "Tibet"), ("wulingshan", "Wulingshan")):
        row = data.loc[region]
        out[f"{key}_model"] = fmt(row.model_change, 2, signed=True)
        out[f"{key}_data"] = fmt(row.data_change, 2, signed=True)
        out[f"{key}_sigma"] = fmt(row.sigma, 2)
    obs = pd.read_csv(cal / "history-2010-2015" / "observations.csv")
    fitted = obs[obs.role == "fitted"]
    out["n_fitted"] = str(len(fitted))
    out["n_anchors"] = str(int((obs.role == "anchor").sum()))
    params = pd.read_csv(cal / "history-2010-2015" / "parameters.csv")
    out["n_values"] = str(int((params.method == "profile").sum()))
    pack = fitted[fitted.indicator.str.startswith("contiguous_areas")]
    rows = [
        [
            f"`{r.indicator}`",
            str(r.year),
            _g4(r.observed),
            _g4(r.simulated + r.offset),
            _g4(r.sigma),
            fmt(r.residual, 2, signed=True),
        ]
        for r in pack.itertuples()
    ]
    out["fit_table"] = markdown_table(
        ["series (14 areas)", "year", "observed", "model", "sigma", "z"], rows
    )
    summary = pd.read_csv(cal / "backtest-2012" / "summary.csv")
    rows = [
        [
            f"`{r.indicator}`",
            str(r.n),
            _g4(r.rmse),
            fmt(r.mape, 1),
            _g4(r.mean_error),
            "n/a" if pd.isna(r.theil_um) else fmt(r.theil_um, 2),
            "n/a" if pd.isna(r.theil_us) else fmt(r.theil_us, 2),
            "n/a" if pd.isna(r.theil_uc) else fmt(r.theil_uc, 2),
            fmt(100 * r.band_coverage, 0) + " %",
        ]
        for r in summary.itertuples()
    ]
    out["backtest_summary"] = markdown_table(
        ["indicator", "n", "RMSE", "MAPE %", "mean error", "U^M", "U^S", "U^C", "in band"],
        rows,
    )
    scores = pd.read_csv(cal / "backtest-2012" / "scores.csv")
    out["backtest_scored"] = str(len(scores))
    out["backtest_inside"] = str(int(scores.inside_band.sum()))
    pov = scores[
        (scores.series == "contiguous_areas_poverty_incidence") & (scores.year == 2015)
    ].iloc[0]
    out["poverty_2015_observed"] = fmt(pov.observed, 1)
    out["poverty_2015_projected"] = fmt(pov.projected, 1)
    out["poverty_2015_low"] = fmt(pov.band_low, 1)
    out["poverty_2015_high"] = fmt(pov.band_high, 1)
    res = compare_scenarios(
        [ROOT / "scenarios" / "baseline.yaml", ROOT / "scenarios" / "as-happened.yaml"],
        engine="batch",
    )
    comp = res.comparison
    agg = res.inputs[0].model.spec.dimension.aggregate
    row = comp[
        (comp.scenario == "as-happened")
        & (comp.region == agg)
        & (comp.indicator == "poverty_incidence")
        & (comp.year == 2020)
    ].iloc[0]
    out["as_happened_poverty_2020"] = fmt(100 * row.value, 1)
    out["as_happened_baseline_poverty_2020"] = fmt(100 * row.baseline_value, 1)
    out["as_happened_cost_2020"] = fmt(row.cumulative_cost_billion_yuan, 0)
    return out


# --------------------------------------------------------------------------------------
# The model review (tools/model_review.py), quoted in docs/model.md
# --------------------------------------------------------------------------------------
@cache
def load_tool(name: str):
    """Import a script of ``tools/`` (not a package) as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"tools_{name}", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _review_table(r: dict, maxed_run: str) -> str:
    """Return docs/model.md's done-when table from `model_review.review()`'s sections.

    ``maxed_run`` is section 7's name of its run with every lever at its maximum.
    """
    model = _model()
    dim = model.spec.dimension

    def var(py: str) -> str:
        return f"`{model.variables[py].name}`" if py in model.variables else f"`{py}`"

    bounds = r[1]["scenarios"]
    top = max(bounds, key=lambda n: bounds[n]["max_ratio"])
    b, t = bounds["baseline"], bounds[top]
    where = ", ".join(
        x for x in (var(t["variable"]), t["region"] and dim.label_of(t["region"])) if x
    )
    richest = max(bounds, key=lambda n: bounds[n]["income_2050"])
    hukou = r[3]
    full = r[5]["strengths"][1.0]
    demo = r[6]
    sat = r[7]["scenarios"]
    maxed = sat[maxed_run]
    dt = r[8]
    rows = [
        [
            "largest per-capita ratio to 2010",
            f"{t['max_ratio']:.2f} ({where}, {t['year']:.0f}, {top}); baseline"
            f" {b['max_ratio']:.2f} ({var(b['variable'])})",
        ],
        [
            "rural income / GDP per resident",
            f"at most {max(s['income_to_gdp'] for s in bounds.values()):.3f}",
        ],
        [
            "rural income per rural resident in 2050",
            f"at most {fmt(bounds[richest]['income_2050'])} yuan ({richest}); baseline at most"
            f" {fmt(b['income_2050'])}",
        ],
        ["people conserved", f"largest relative error {r[2]['max_error']:.1e}"],
        [
            "hukou reform alone, 0.5 from 2015",
            f"rural income within {100 * hukou['income_change']:.3f} %; registered urbanization"
            f" {fmt(hukou['years'][2030]['registered'], 1, signed=True)} points in 2030,"
            f" resident {fmt(hukou['years'][2030]['resident'], 2, signed=True)}",
        ],
        [
            "continuity (outside wage growth 0.07, then 0.03 from 2021)",
            f"largest ratio jump {r[4]['jump']:.4f} ({var(r[4]['stock'])})",
        ],
        [
            "targeted levers at 1 (relocation 0.3) from 2015",
            (
                f"14-region poverty below 0.5 % from {full['below_from']:.0f}"
                if full["below_from"] is not None
                else "14-region poverty never below 0.5 %"
            )
            + f"; {full['cost_2020']:.1f} bn yuan in 2020, about"
            f" {fmt(round(full['cost_per_person'], -2))} yuan per person lifted",
        ],
        [
            "targeted levers at 0",
            "the baseline exactly" if r[5]["zero_is_baseline"] else "NOT the baseline",
        ],
        [
            "demography (baseline residents against 2010)",
            f"x{demo['max_residents']:.3f} at most (2030: x{demo['years'][2030]['residents']:.3f},"
            f" 2050: x{demo['years'][2050]['residents']:.3f}) against the UN's"
            f" x{demo['years'][2030]['wpp']:.3f} and x{demo['years'][2050]['wpp']:.3f}",
        ],
        [
            "job availability",
            f"at most {maxed['job_availability']:.3f} (every lever at its maximum);"
            f" {sat['all-five']['job_availability']:.3f} in all-five",
        ],
        [
            "crowding",
            f"settlement effect down to {sat['baseline']['crowding_effect']:.2f} in the baseline"
            f" (crowding {sat['baseline']['crowding']:.2f})",
        ],
        [
            "infrastructure per resident",
            f"at most {maxed['infrastructure']:.1f} times 2010 (every lever at its maximum)",
        ],
        [
            f"dt halving (1/{1 / dt['time_step']:.0f} -> 1/{2 / dt['time_step']:.0f})",
            f"baseline {100 * dt['baseline']['change']:.3f} % ({var(dt['baseline']['output'])});"
            f" all-five after its ramps {100 * dt['all-five']['change']:.3f} %"
            f" ({var(dt['all-five']['output'])})",
        ],
    ]
    return markdown_table(["criterion", "figure"], rows)


def _review_fit(fit: dict) -> str:
    """Return the 2010-2015 table of docs/model.md from section 9 of the review."""
    data, scen = fit["data"], fit["scenarios"]
    names = list(scen)
    rows = []
    for year in data["income"]:
        kind = data["income_kind"][year]
        rows.append(
            [f"rural income ({kind} in the data), yuan", str(year)]
            + [fmt(scen[n]["income"][year]) for n in names]
            + [fmt(data["income"][year])]
        )
    for year in data["poverty"]:
        rows.append(
            ["poverty incidence, %", str(year)]
            + [fmt(100 * scen[n]["poverty"][year], 1) for n in names]
            + [fmt(100 * data["poverty"][year], 1)]
        )
    rows.append(
        ["registered urbanization, %", "2012"]
        + [fmt(100 * scen[n]["registered_2012"], 1) for n in names]
        + [fmt(100 * data["registered_2012"], 1)]
    )
    for region in data["gain"]:
        rows.append(
            [f"urbanization gain, {_model().spec.dimension.label_of(region)}, points", "2010-2015"]
            + [fmt(scen[n]["gain"][region], 1, signed=True) for n in names]
            + [fmt(data["gain"][region], 1, signed=True)]
        )
    return markdown_table(["figure (14 regions)", "year", *names, "data"], rows)


def _short(scenario: str) -> str:
    """Return a path's short name in rankings: ``4.1`` ... ``4.5``, ``targeted``."""
    return scenario.removeprefix("path-").split("-")[0]


def _review_effects(ranking: dict, headline: tuple) -> dict[str, str]:
    """Return docs/scenarios.md's effects table and rankings from section 10 of the review."""
    from sdplanner.scenario import load_scenario

    model = _model()
    years = list(ranking)
    first = ranking[years[0]]["effects"]
    # display formats of HEADLINE's indicators, in its order
    digits = {"urbanization_rate": 1, "registered_urbanization_rate": 1, "poverty_incidence": 2}
    rows = []
    for name in first:
        title = load_scenario(ROOT / "scenarios" / f"{name}.yaml", model).display_title
        row = [title]
        for j, (var, *_rest) in enumerate(headline):
            row.append(
                " / ".join(
                    fmt(ranking[y]["effects"][name]["effects"][j], digits.get(var, 0), signed=True)
                    for y in years
                )
            )
        row.append(" / ".join(fmt(ranking[y]["effects"][name]["cost"]) for y in years))
        rows.append(row)
    span = " / ".join(map(str, years))
    header = ["path"]
    header += [f"{model.spec.display(h[0]).label} ({h[3]}) {span}" for h in headline]
    header.append(f"cumulative cost (bn yuan) {span}")
    out = {"effects": markdown_table(header, rows)}
    for y, part in ranking.items():
        for var, order in part["ranks"].items():
            out[f"rank.{var}.{y}"] = " > ".join(_short(n) for n in order)
    j = [h[0] for h in headline].index("urbanization_rate")
    y0 = years[0]
    effects = ranking[y0]["effects"]
    top = ranking[y0]["ranks"]["urbanization_rate"][:3]
    spread = effects[top[0]]["effects"][j] - effects[top[-1]]["effects"][j]
    out[f"urbanization_top3_spread.{y0}"] = fmt(spread, 1)
    rising = [n for n in ranking[y0]["ranks"]["urbanization_rate"] if effects[n]["effects"][j] > 0]
    cheapest = min(rising, key=lambda n: effects[n]["cost"] / effects[n]["effects"][j])
    out[f"urbanization_cheapest.{y0}"] = _short(cheapest)
    k = [h[0] for h in headline].index("poverty_incidence")
    best = ranking[y0]["ranks"]["poverty_incidence"][0]
    out[f"poverty_first.{y0}"] = _short(best)
    out[f"poverty_first_effect.{y0}"] = fmt(effects[best]["effects"][k], 1, signed=True)
    out[f"poverty_first_cost.{y0}"] = fmt(effects[best]["cost"])
    return out


@family("review")
def _review_figures() -> dict[str, str]:
    """Return what `python tools/model_review.py` prints (its `review()`).

    Quoted in docs/model.md (done-when table, 2010-2015 table) and docs/scenarios.md (hukou
    reform alone, the paths' effects and rankings).
    """
    tool = load_tool("model_review")
    r = tool.review()
    fit = r[9]
    base, data = fit["scenarios"]["baseline"], fit["data"]
    first, last = min(data["income"]), max(data["income"])

    def growth(income: dict) -> str:
        return fmt(100 * ((income[last] / income[first]) ** (1 / (last - first)) - 1), 1)

    demo, sat = r[6], r[7]["scenarios"]["baseline"]
    hukou = r[3]
    return {
        **_review_effects(r[10], tool.HEADLINE),
        "hukou_income_change": f"{100 * hukou['income_change']:.2f}",
        **{
            f"hukou_{k}.{y}": fmt(v[k], 0 if k == "cost" else 1)
            for y, v in hukou["years"].items()
            for k in ("registered", "resident", "cost")
        },
        "table": _review_table(r, tool.MAXED),
        "fit": _review_fit(fit),
        "income_growth_first": str(first),
        "income_growth_last": str(last),
        "income_growth_model": growth(base["income"]),
        "income_growth_data": growth(data["income"]),
        "crowding_effect_min": f"{sat['crowding_effect']:.2f}",
        "crowding_effect_year": f"{sat['crowding_effect_year']:.0f}",
        "working_age_2010": f"{demo['working_age'][2010]:.2f}",
        "working_age_2050": f"{demo['working_age'][2050]:.2f}",
    }


# --------------------------------------------------------------------------------------
# The shipped uncertainty file and its baseline ensemble, quoted in docs/ensembles.md
# --------------------------------------------------------------------------------------
#: The baseline ensemble docs/ensembles.md describes (a few seconds on one core).
ENSEMBLE_SAMPLES, ENSEMBLE_SEED = 2000, 2014
#: The sensitivity run docs/ensembles.md counts (`sdplanner sensitivity --samples 512`).
SOBOL_SAMPLES = 512


def _code_list(names: Iterable[str]) -> str:
    names = [f"`{n}`" for n in names]
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


@family("ensemble")
def _ensemble_figures() -> dict[str, str]:
    """Return uncertainty/default.yaml's counts and a baseline ensemble's percentiles.

    The ensemble is `sdplanner.run_ensemble` on scenarios/baseline.yaml with the shipped
    calibration (as ``sdplanner ensemble`` runs it), `ENSEMBLE_SAMPLES` samples at
    `ENSEMBLE_SEED`: the same figures on every run.
    """
    import pandas as pd

    from sdplanner.api import simulate
    from sdplanner.run import prepare_run
    from sdplanner.uncertainty import load_uncertainty, plan_sensitivity, run_ensemble
    from sdplanner.uncertainty.cells import CellLayout, select_outputs
    from sdplanner.uncertainty.percentiles import HISTOGRAM_BINS

    inputs = prepare_run(ROOT / "scenarios" / "baseline.yaml")
    spec = load_uncertainty(ROOT / "uncertainty" / "default.yaml", inputs.model)
    mspec = inputs.model.spec
    agg = mspec.dimension.aggregate
    out: dict[str, str] = {}
    names = [p.name for p in spec.parameters]
    out["n_constants"] = str(len(names))
    out["relative"] = _code_list(p.name for p in spec.parameters if p.relative)
    estimates = pd.read_csv(ROOT / "calibration" / "seed-2010-2012" / "parameters.csv")
    profiled = set(estimates[estimates.method == "profile"].parameter)
    calibrated = [p.name for p in spec.parameters if p.name in profiled and not p.relative]
    out["n_calibrated"] = str(len(calibrated))
    out["calibrated"] = _code_list(calibrated)
    (corr,) = spec.correlations
    out["correlated"] = _code_list((corr.a, corr.b))
    out["rho"] = f"{corr.rho:g}"
    out["samples"] = fmt(ENSEMBLE_SAMPLES)
    out["seed"] = str(ENSEMBLE_SEED)
    res = run_ensemble(
        inputs,
        spec,
        samples=ENSEMBLE_SAMPLES,
        seed=ENSEMBLE_SEED,
        outputs=["urbanization_rate", "rural_income_per_capita"],
    )
    if res.dropped:
        raise RuntimeError(f"ensemble: {res.dropped} samples had non-finite outputs")
    frame = res.frame[res.frame.region == agg].set_index(["variable", "year"])
    income = frame.loc[("rural_income_per_capita", 2012)]
    out["income_2012_p05"], out["income_2012_p95"] = fmt(income.p05), fmt(income.p95)
    out["income_2012_p50"] = fmt(income.p50)
    urban = frame.loc[("urbanization_rate", 2030)]
    for q in ("p05", "p50", "p95"):
        out[f"urbanization_2030_{q}"] = f"{urban[q]:.3f}"
    central = simulate("baseline", variables=["urbanization_rate"])
    row = central[(central.region == agg) & (central.year == 2030)]
    out["urbanization_2030_central"] = f"{float(row.value.iloc[0]):.3f}"
    local = spec.parameters[names.index("base_local_urbanization_rate")].distribution
    out["local_rate_mode"] = f"{local.get('mode'):.4f}"
    out["local_rate_in_use"] = f"{float(inputs.params['base_local_urbanization_rate']):.4f}"
    # memory of the percentile methods (docs/ensembles.md "Percentiles")
    default = CellLayout.for_run(inputs.model, select_outputs(mspec, None), None)
    every = CellLayout.for_run(inputs.model, select_outputs(mspec, "all"), None)
    out["n_default_outputs"] = str(len(default.outputs))
    out["n_outputs"] = str(len(every.outputs))
    out["exact_gb_100k"] = f"{100_000 * default.n_cells * 8 / 1e9:.1f}"
    out["streaming_mb_default"] = fmt(default.n_cells * (HISTOGRAM_BINS + 2) * 4 / 1e6)
    out["streaming_mb_all"] = fmt(every.n_cells * (HISTOGRAM_BINS + 2) * 4 / 1e6)
    plan = plan_sensitivity(inputs, spec, samples=SOBOL_SAMPLES, seed=ENSEMBLE_SEED)
    out["sobol_samples"] = str(SOBOL_SAMPLES)
    out["sobol_runs"] = fmt(plan.runs)
    return out


@family("streaming")
def _streaming_figures() -> dict[str, str]:
    """Return the streaming-percentile error of `benchmarks/bench_ensemble.py` in RESULTS.md.

    The latest entry that measured it (later entries say they did not re-run that part).
    """
    text = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    found = _find(
        r"streaming vs exact at N=([\d,]+) \(([\d,]+) cells, [\d.]+ s\): max error / bound ="
        r" ([\d.]+) \(([\d.]+) % within bound\); error / \(p95 - p05\) max ([\d.e+-]+),"
        r" median ([\d.e+-]+);.*?means identical: (\w+)",
        text,
        "streaming: the bench_ensemble entry of RESULTS.md",
    )
    samples, cells, ratio, within, worst, median, same = found.groups()
    heading = text[: found.start()].rsplit("\n## ", 1)[1].split("\n", 1)[0]
    return {
        "samples": samples,
        "cells": cells,
        "max_over_bound": f"{float(ratio):.2f}",
        "within": "every" if float(within) == 100 else f"{within} % of the",
        "spread_max": f"{float(worst):.1e}",
        "spread_median": f"{float(median):.1e}",
        "means": "identical" if same == "True" else "not identical",
        "entry": heading,
    }


@family("structure")
def _structure_figures() -> dict[str, str]:
    """Return counts of the shipped model's structure (stocks, Euler steps), from the .mdl."""
    model = _model()
    steps = round((model.final_time - model.initial_time) / model.time_step)
    return {"n_stocks": str(len(model.stocks)), "n_steps": str(steps)}


@family("guard")
def _guard_figures() -> dict[str, str]:
    """Return the counts of `benchmarks/model_guard_coverage.py`, from its RESULTS.md entry.

    The script parses and translates every model of the SDXorg suite (a few minutes), so its
    last line is pasted into RESULTS.md with its date, like the other benchmarks.
    """
    text = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    found = _find(
        r"(\d+) models: both pass (\d+), guard refuses (\d+), audit refuses (\d+),"
        r" PySD fails (\d+)",
        text,
        "guard: the model_guard_coverage entry of RESULTS.md",
    )
    keys = ("models", "both_pass", "guard_refuses", "audit_refuses", "pysd_fails")
    return dict(zip(keys, found.groups(), strict=True))


if __name__ == "__main__":
    sys.exit(main())
