"""``sdplanner compare SCENARIO... --out DIR``: run scenarios against the first (the baseline).

Writes into DIR: ``results.csv`` (every scenario, the columns of ``run``), ``comparison.csv``
(see `sdplanner.compare`), ``manifest.json``, and the figures (PNG unless ``--format``):

- ``trajectory_<indicator>.<fmt>``: the 14-region aggregate of each core indicator over time,
  one line per scenario, observed 2010-2012 figures as points;
- ``urbanization_by_region.<fmt>``: small multiples of the urbanization rate, one panel per
  region, Table 1's 2010 rates as points;
- ``effect_per_billion_yuan_<year>.<fmt>``: each scenario's change against the baseline in
  2030 per billion yuan of extra public spending, one panel per core indicator.

Everything is validated and simulated, and every figure drawn, before the first file is
written; the files are staged and put in place together (`sdplanner.output_set`).
"""

from __future__ import annotations

import argparse
import time

from sdplanner.commands.plot import read_observed_csv, write_bytes
from sdplanner.commands.run import add_common_run_options, params_arg, resolve_engine
from sdplanner.compare import (
    compare_results,
    format_summary,
    prepare_comparison,
    run_comparison,
    summary_table,
)
from sdplanner.output_set import OutputSet
from sdplanner.plots import (
    FORMATS,
    observed_points,
    plot_effect_per_billion,
    plot_projection,
    plot_regional,
    render,
)
from sdplanner.resources import calibration_name, data_path
from sdplanner.results import write_csv, write_manifest

__all__ = ["EFFECT_YEAR", "handler", "register"]

#: Year of the effect-per-billion-yuan bar chart.
EFFECT_YEAR = 2030


def register(sub) -> None:
    """Add the ``compare`` subcommand.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The subcommand collection of the ``sdplanner`` parser.
    """
    p = sub.add_parser(
        "compare",
        help="run scenarios against the first (the baseline); write results, comparison, plots",
        description=(
            "Run every SCENARIO file, compare each with the first (the baseline) and write"
            " results.csv, comparison.csv, manifest.json and the figures into --out."
        ),
    )
    p.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="scenario files (YAML)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="png",
        help="figure format (default: png)",
    )
    p.add_argument(
        "--observed",
        metavar="DATA.csv",
        help="observed figures drawn on the plots (default: the shipped seed_figures.csv)",
    )
    add_common_run_options(p)
    p.set_defaults(handler=handler)


def handler(args: argparse.Namespace) -> int:
    """Validate everything, run, draw, then write atomically and print the summary.

    Parameters
    ----------
    args : argparse.Namespace
        ``scenarios``, ``out``, ``format``, ``observed``, ``model``, ``params``,
        ``no_params``, ``engine``.

    Returns
    -------
    int
        0 on success (errors raise and exit 2).
    """
    inputs = prepare_comparison(args.scenarios, model=args.model, params=params_arg(args))
    observed_file = args.observed or data_path("seed_figures.csv")
    observed = read_observed_csv(observed_file)
    outputs = OutputSet(args.out)
    engine = resolve_engine(args.engine)
    baseline = inputs[0].scenario.name

    started = time.perf_counter()
    results = run_comparison(inputs, engine=engine)
    elapsed = time.perf_counter() - started
    spec = inputs[0].model.spec
    comparison = compare_results(
        results,
        baseline=baseline,
        indicators=spec.view("comparison"),
        years=spec.comparison_years,
        cost_variable=spec.cumulative_cost,
    )
    units = dict(zip(results["variable"], results["unit"], strict=True))
    observed = observed_points(observed, spec.dimension)

    fmt = args.format
    figures: dict[str, bytes] = {}
    for ind in spec.view("headline"):
        fig, _ = plot_projection(results, ind, spec, observed=observed)
        figures[f"trajectory_{ind}.{fmt}"] = render(fig, fmt)
    first = spec.view("headline")[0]
    if spec.dimension is not None:
        fig, _ = plot_regional(results, first, spec, observed=observed)
        figures[f"{first.removesuffix('_rate')}_by_region.{fmt}"] = render(fig, fmt)
    if spec.cumulative_cost is not None:
        fig, _ = plot_effect_per_billion(
            comparison, spec, year=EFFECT_YEAR, baseline=baseline, units=units
        )
        figures[f"effect_per_billion_yuan_{EFFECT_YEAR}.{fmt}"] = render(fig, fmt)

    written = ["results.csv", "comparison.csv", *figures, "manifest.json"]
    with outputs:
        stage = outputs.path
        write_csv(results, stage / "results.csv")
        write_csv(comparison, stage / "comparison.csv")
        for name, data in figures.items():
            write_bytes(stage / name, data)
        _manifest(stage, inputs, observed_file, engine, baseline, written, elapsed)
        out = outputs.commit()
    table = summary_table(comparison, spec, units=units)
    region = spec.dimension.aggregate if spec.dimension is not None else ""
    print(format_summary(table, baseline=baseline, region=region))
    print()
    print(
        f"{len(inputs)} scenarios run with the {engine} engine in {elapsed:.1f} s"
        f" (calibration: {calibration_name(inputs[0].params_files)});"
        f" {len(written)} files -> {out}"
    )
    return 0


def _manifest(stage, inputs, observed_file, engine, baseline, written, elapsed) -> None:
    write_manifest(
        stage,
        model=inputs[0].model,
        command="compare",
        inputs={
            "scenario": [f for i in inputs for f in i.scenario.files],
            "parameters": inputs[0].params_files,
            "observed": [observed_file],
        },
        engine=engine,
        extra={
            "scenarios": [i.scenario.name for i in inputs],
            "calibration": calibration_name(inputs[0].params_files),
            "baseline": baseline,
            "files": written,
            "run_seconds": round(elapsed, 3),
        },
    )
