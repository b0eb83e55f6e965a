"""``sdplanner sensitivity SCENARIO --uncertainty FILE --samples N --out DIR``.

Writes ``sobol.csv``, one bar chart per output (``sobol_<variable>.png``) and
``manifest.json``.
"""

from __future__ import annotations

import argparse

import numpy as np

from sdplanner.commands.ensemble import (
    add_backend_options,
    pick_seed,
    run_with_progress,
    write_sampling_manifest,
)
from sdplanner.commands.run import params_arg, resolve_engine
from sdplanner.ensemble_plots import SOBOL_CONF_LIMIT
from sdplanner.plots import render
from sdplanner.results import atomic_write_bytes

__all__ = ["handler", "register"]


def register(sub) -> None:
    """Add the ``sensitivity`` subcommand."""
    p = sub.add_parser(
        "sensitivity",
        help="Sobol first-order and total indices (SALib); write sobol.csv and bar charts",
    )
    add_backend_options(p)
    p.add_argument(
        "--years", default=None, help="comma-separated years (default: 2030 and the last year)"
    )
    p.add_argument(
        "--region", default=None, help="region analysed (default: the aggregate of the regions)"
    )
    p.set_defaults(handler=handler)


def handler(args: argparse.Namespace) -> int:
    """Validate everything, connect to the backend, run, then write."""
    from sdplanner.ensemble_plots import sobol_chart
    from sdplanner.executors import make_executor
    from sdplanner.output_set import OutputSet
    from sdplanner.results import write_csv
    from sdplanner.run import prepare_run
    from sdplanner.uncertainty import (
        DEFAULT_CHUNK,
        execute_sensitivity,
        load_uncertainty,
        plan_sensitivity,
    )

    inputs = prepare_run(args.scenario, model=args.model, params=params_arg(args))
    spec = load_uncertainty(args.uncertainty, inputs.model)
    seed = pick_seed(args.seed)
    engine = resolve_engine(args.engine)
    plan = plan_sensitivity(
        inputs,
        spec,
        samples=args.samples,
        seed=seed,
        outputs=args.outputs,
        years=args.years,
        region=args.region,
        chunk_size=DEFAULT_CHUNK if args.chunk_size is None else args.chunk_size,
        engine=engine,
        workers=args.processes or args.dask_local or 0,
    )
    outputs = OutputSet(args.out)
    executor = make_executor(args.processes, args.scheduler, args.dask_local)
    with outputs:
        stage = outputs.path
        result, seconds = run_with_progress(
            executor,
            plan.runs,
            "sensitivity",
            args.quiet,
            lambda ex, progress: execute_sensitivity(plan, ex, progress=progress),
        )
        write_csv(result.frame, stage / "sobol.csv")
        figures = []
        for variable in dict.fromkeys(result.frame["variable"]):
            fig, _ = sobol_chart(
                result.frame, variable, inputs.model.spec, base_samples=result.base_samples
            )
            path = stage / f"sobol_{variable}.png"
            atomic_write_bytes(path, render(fig, "png", dpi=110))
            figures.append(path.name)
        write_sampling_manifest(
            stage,
            "sensitivity",
            args,
            inputs,
            engine,
            seed,
            {
                "base_samples": result.base_samples,
                "runs": result.runs,
                "backend": result.backend,
                "region": plan.targets[0][1],
                "notes": result.notes,
                "figures": figures,
                "seconds": round(seconds, 3),
            },
        )
        out = outputs.commit()
    print(
        f"sensitivity {inputs.scenario.name!r}: N={result.base_samples} ({result.runs:,} runs,"
        f" seed {seed}, {result.backend}) in {seconds:.1f} s -> {out / 'sobol.csv'}"
    )
    for note in result.notes:
        print(f"note: {note}")
    warning = _sample_warning(result.frame, result.base_samples)
    if warning:
        print(f"warning: {warning}")
    top = (
        result.frame.sort_values("ST", ascending=False)
        .groupby(["variable", "year"], sort=False)
        .head(3)
        .sort_values(["variable", "year", "ST"], ascending=[True, True, False])
    )
    print(
        top[["variable", "year", "parameter", "S1", "ST"]].to_string(
            index=False, float_format="{:.3f}".format
        )
    )
    return 0


def _sample_warning(frame, base_samples: int) -> str:
    """Return a warning when the indices' bootstrap intervals are too wide to rank, else ""."""
    conf = frame[["S1_conf", "ST_conf"]].to_numpy(dtype=float)
    if conf.size == 0 or not (conf[conf == conf].max(initial=0.0) > SOBOL_CONF_LIMIT):
        return ""
    worst = float(conf[conf == conf].max())
    median = float(np.median(conf[conf == conf]))
    return (
        f"N = {base_samples:,} base samples is too few: the 95 % bootstrap intervals of the"
        f" indices are up to \u00b1{worst:.2f} wide (median \u00b1{median:.2f}), more than"
        f" \u00b1{SOBOL_CONF_LIMIT:g}; rank nothing on them, and raise --samples (the"
        " intervals narrow about as 1/sqrt(N))"
    )
