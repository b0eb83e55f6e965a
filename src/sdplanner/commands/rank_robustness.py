"""``sdplanner rank-robustness [BASELINE PATH...] --out DIR``: how robust the path rankings are.

Runs the baseline and every path over one ensemble of the constants the ``.mdl`` labels
``assumption`` (`sdplanner.uncertainty.robustness`) and writes ``robustness.csv`` (per path,
ranked indicator and year: the share of samples keeping the central rank, and the constants
that move it most), ``rankings.csv`` (per indicator and year: the whole ranking),
``morris.csv`` and ``manifest.json``. A command of its own rather than an
option of ``compare``: it is an ensemble analysis (samples, seed, uncertainty files,
backends) with outputs of its own, while ``compare`` is one deterministic run per scenario.
"""

from __future__ import annotations

import argparse

from sdplanner.commands.ensemble import add_executor_options, pick_seed, run_with_progress
from sdplanner.commands.run import add_common_run_options, params_arg, resolve_engine

__all__ = ["handler", "register"]

#: Samples of the Latin hypercube by default (the table in docs/scenarios.md uses these).
DEFAULT_SAMPLES = 1000


def register(sub) -> None:
    """Add the ``rank-robustness`` subcommand.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The subcommand collection of the ``sdplanner`` parser.
    """
    p = sub.add_parser(
        "rank-robustness",
        help="share of assumption samples in which each path keeps its rank; Morris indices",
        description=(
            "Run the baseline and every path over an ensemble of the constants the .mdl"
            " labels 'assumption' and write robustness.csv (per path, indicator and year:"
            " the share of samples in which the path keeps its central rank, and the"
            " constants that move its rank most), morris.csv and manifest.json. Without"
            " SCENARIO files: the shipped baseline and paths."
        ),
    )
    p.add_argument(
        "scenarios",
        nargs="*",
        metavar="SCENARIO",
        help="the baseline, then two or more paths (default: the shipped ones)",
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument(
        "--uncertainty",
        action="append",
        default=None,
        help="uncertainty file (repeatable; default: the shipped default.yaml and"
        " rank-robustness.yaml)",
    )
    p.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="Latin hypercube samples N")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: drawn, recorded)")
    p.add_argument("--trajectories", type=int, default=20, help="Morris trajectories r")
    p.add_argument("--levels", type=int, default=4, help="Morris grid levels (even)")
    p.add_argument("--years", default=None, help="comma-separated years ranked")
    p.add_argument("--chunk-size", type=int, default=None, help="samples per chunk")
    add_executor_options(p)
    add_common_run_options(p)
    p.set_defaults(handler=handler)


def handler(args: argparse.Namespace) -> int:
    """Validate everything, run, then write the outputs as one set."""
    from sdplanner.compare import prepare_comparison
    from sdplanner.executors import make_executor
    from sdplanner.output_set import OutputSet
    from sdplanner.resources import shipped_scenarios_dir, shipped_uncertainty_dir
    from sdplanner.results import write_csv, write_manifest
    from sdplanner.uncertainty import DEFAULT_CHUNK, combine, load_uncertainty
    from sdplanner.uncertainty.robustness import execute_robustness, plan_robustness

    scenarios = args.scenarios or [
        shipped_scenarios_dir() / "baseline.yaml",
        *sorted(shipped_scenarios_dir().glob("path-*.yaml")),
    ]
    files = args.uncertainty or [
        shipped_uncertainty_dir() / "default.yaml",
        shipped_uncertainty_dir() / "rank-robustness.yaml",
    ]
    inputs = prepare_comparison(scenarios, model=args.model, params=params_arg(args))
    model = inputs[0].model
    spec = combine([load_uncertainty(f, model) for f in files])
    seed = pick_seed(args.seed)
    engine = resolve_engine(args.engine)
    plan = plan_robustness(
        inputs[0],
        inputs[1:],
        spec,
        samples=args.samples,
        seed=seed,
        trajectories=args.trajectories,
        levels=args.levels,
        years=args.years,
        chunk_size=DEFAULT_CHUNK if args.chunk_size is None else args.chunk_size,
        engine=engine,
    )
    outputs = OutputSet(args.out)
    executor = make_executor(args.processes, args.scheduler, args.dask_local)
    with outputs:
        stage = outputs.path
        result, seconds = run_with_progress(
            executor,
            plan.runs - len(plan.scenarios),
            "rank-robustness",
            args.quiet,
            lambda ex, progress: execute_robustness(plan, ex, progress=progress),
        )
        write_csv(result.frame, stage / "robustness.csv")
        write_csv(result.morris, stage / "morris.csv")
        write_csv(result.rankings, stage / "rankings.csv")
        write_manifest(
            stage,
            model=model,
            command="rank-robustness",
            inputs={
                "scenario": [f for i in inputs for f in i.scenario.files],
                "parameters": inputs[0].params_files,
                "uncertainty": files,
            },
            engine=engine,
            seed=seed,
            extra={
                "scenarios": [i.scenario.name for i in inputs],
                "samples": plan.samples,
                "trajectories": plan.trajectories,
                "levels": plan.levels,
                "runs": plan.runs,
                "sampled_constants": list(plan.spec.names),
                "left_out_not_assumption": plan.dropped,
                "dropped_samples": result.dropped_samples,
                "backend": result.backend,
                "seconds": round(seconds, 3),
            },
        )
        out = outputs.commit()
    print(
        f"rank-robustness: {len(plan.paths)} paths, {len(plan.spec.names)} assumed constants,"
        f" {plan.samples:,} samples and {len(plan.unit):,} Morris points (seed {seed},"
        f" {result.backend}), {plan.runs:,} runs in {seconds:.1f} s -> {out / 'robustness.csv'}"
    )
    if plan.dropped:
        print(f"note: not labelled 'assumption' in the .mdl, left out: {', '.join(plan.dropped)}")
    if result.dropped_samples:
        print(f"note: {result.dropped_samples:,} samples gave non-finite values and were left out")
    table = result.frame.pivot_table(
        index=["indicator", "year"], columns="path", values="rank_kept_share", sort=False
    )
    print("share of samples keeping the central rank:")
    print(table.to_string(float_format="{:.2f}".format))
    return 0
