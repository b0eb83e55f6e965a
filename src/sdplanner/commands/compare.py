"""``sdplanner compare SCENARIO... --out DIR``: run scenarios against the first (the baseline).

Writes into DIR: ``results.csv`` (every scenario, the columns of ``run``), ``comparison.csv``
(see `sdplanner.compare`), ``regions.csv`` (every headline indicator per scenario, region and
summary year, in display units), ``manifest.json`` (with the scenarios' titles), the tables
again as NetCDF or Excel with ``--table-format``, and the figures (PNG unless ``--format``):

- ``trajectory_<indicator>.<fmt>``: the 14-region aggregate of each indicator of the spec's
  ``report`` view over time, one line per scenario, observed figures as points, and the
  change against the baseline below;
- ``<indicator>_by_region.<fmt>``: the change against the baseline of the first headline
  indicator, one panel per region;
- ``effect_per_cost_<year>.<fmt>`` for each summary year: each scenario's cumulative extra
  cost and its change against the baseline per 100 billion yuan of it;
- ``poverty.<fmt>``: poor people and the cost per person lifted (the spec's ``poverty`` view).

Everything is validated and simulated, and every figure drawn, before the first file is
written; the files are staged and put in place together (`sdplanner.output_set`).
"""

from __future__ import annotations

import argparse
import time

from sdplanner.commands.run import (
    add_common_run_options,
    add_table_format,
    params_arg,
    resolve_engine,
)
from sdplanner.compare import (
    compare_results,
    format_summary,
    prepare_comparison,
    present_values,
    region_table,
    run_comparison,
    summary_table,
)
from sdplanner.errors import DataError
from sdplanner.evidence import observed_points, read_fit_record
from sdplanner.figures import comparison_figures
from sdplanner.output_set import OutputSet
from sdplanner.plots import FORMATS, render
from sdplanner.readers import read_observed, read_percentiles
from sdplanner.resources import calibration_name, data_path
from sdplanner.results import atomic_write_bytes, write_csv, write_manifest
from sdplanner.tables import write_tables

__all__ = ["handler", "register"]


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a rate such as 0.03, found {text!r}") from None
    if not (0 <= value < 1):
        raise argparse.ArgumentTypeError(f"expected a rate in 0..1 such as 0.03, found {text}")
    return value


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
            " results.csv, comparison.csv, regions.csv, manifest.json and the figures into"
            " --out."
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
    p.add_argument(
        "--bands",
        metavar="PERCENTILES.csv",
        help="uncertainty bands drawn on the trajectories: percentiles.csv of sdplanner"
        " ensemble (or of a calibration), for the scenarios it holds",
    )
    p.add_argument(
        "--discount-rate",
        type=_rate,
        default=None,
        metavar="R",
        help="also print the present value of each scenario's cost, discounted to the"
        " initial year at R a year (e.g. 0.03)",
    )
    add_table_format(p)
    add_common_run_options(p)
    p.set_defaults(handler=handler)


def handler(args: argparse.Namespace) -> int:
    """Validate everything, run, draw, then write atomically and print the summary.

    Parameters
    ----------
    args : argparse.Namespace
        ``scenarios``, ``out``, ``format``, ``observed``, ``bands``, ``discount_rate``,
        ``table_format``, ``model``, ``params``, ``no_params``, ``engine``.

    Returns
    -------
    int
        0 on success (errors raise and exit 2).
    """
    inputs = prepare_comparison(args.scenarios, model=args.model, params=params_arg(args))
    observed_file = args.observed or data_path("seed_figures.csv")
    observed = read_observed(observed_file)
    model = inputs[0].model
    bands = read_percentiles(args.bands, model.spec) if args.bands else None
    outputs = OutputSet(args.out)
    engine = resolve_engine(args.engine)
    baseline = inputs[0].scenario.name
    titles = {i.scenario.name: i.scenario.display_title for i in inputs}
    spec = model.spec
    since = round(model.initial_time)

    started = time.perf_counter()
    results = run_comparison(inputs, engine=engine)
    elapsed = time.perf_counter() - started
    comparison = compare_results(
        results,
        baseline=baseline,
        indicators=spec.view("comparison"),
        years=spec.comparison_years,
        cost_variable=spec.cumulative_cost,
    )
    units = dict(zip(results["variable"], results["unit"], strict=True))
    regions = region_table(comparison, spec, units=units, titles=titles)
    region = spec.dimension.aggregate if spec.dimension is not None else ""
    pv = None
    if args.discount_rate is not None:
        if spec.cumulative_cost is None:
            raise DataError("--discount-rate: the model spec names no cumulative_cost stock")
        pv = present_values(
            results,
            spec.cumulative_cost,
            rate=args.discount_rate,
            years=spec.summary_years,
            base_year=since,
            baseline=baseline,
        )
        pv = pv[pv["region"] == region]

    fmt = args.format
    drawn = comparison_figures(
        results,
        comparison,
        spec,
        baseline=baseline,
        titles=titles,
        observed=observed_points(observed, spec.dimension, read_fit_record(inputs[0].params_files)),
        since=since,
        units=units,
        bands=bands,
    )
    figures = {f"{stem}.{fmt}": render(fig, fmt) for stem, (fig, _) in drawn.items()}

    with outputs:
        stage = outputs.path
        write_csv(results, stage / "results.csv")
        write_csv(comparison, stage / "comparison.csv")
        write_csv(regions, stage / "regions.csv")
        extra = write_tables(
            {
                "results": (results, None),
                "comparison": (comparison, ["scenario", "region", "indicator", "year"]),
                "regions": (regions, ["scenario", "year", "region"]),
            },
            stage,
            args.table_format,
        )
        for name, data in figures.items():
            atomic_write_bytes(stage / name, data)
        written = ["results.csv", "comparison.csv", "regions.csv", *extra, *figures]
        written.append("manifest.json")
        files = {"observed": [observed_file], "bands": [args.bands] if args.bands else []}
        _manifest(stage, inputs, files, engine, baseline, written, elapsed, titles)
        out = outputs.commit()
    table = summary_table(comparison, spec, units=units)
    print(
        format_summary(
            table,
            spec,
            baseline=baseline,
            region=region,
            titles=titles,
            present_values=pv,
            discount_rate=args.discount_rate,
            since=since,
        )
    )
    print()
    print(
        f"{len(inputs)} scenarios run with the {engine} engine in {elapsed:.1f} s"
        f" (calibration: {calibration_name(inputs[0].params_files)});"
        f" {len(written)} files -> {out}"
    )
    return 0


def _manifest(stage, inputs, files, engine, baseline, written, elapsed, titles) -> None:
    write_manifest(
        stage,
        model=inputs[0].model,
        command="compare",
        inputs={
            "scenario": [f for i in inputs for f in i.scenario.files],
            "parameters": inputs[0].params_files,
            **{k: v for k, v in files.items() if v},
        },
        engine=engine,
        extra={
            "scenarios": [i.scenario.name for i in inputs],
            "scenario_titles": titles,
            "calibration": calibration_name(inputs[0].params_files),
            "baseline": baseline,
            "files": written,
            "run_seconds": round(elapsed, 3),
        },
    )
