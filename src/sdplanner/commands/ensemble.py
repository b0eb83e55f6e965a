"""``sdplanner ensemble SCENARIO --uncertainty FILE --samples N --seed S --out DIR``.

Writes ``percentiles.csv``, one fan chart per output (``fan_<variable>.png``) and
``manifest.json``. Also holds what ``sensitivity`` shares with it: the backend options and
the progress bar.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from sdplanner.commands.run import add_common_run_options, params_arg, resolve_engine
from sdplanner.plots import render
from sdplanner.results import atomic_write_bytes

__all__ = [
    "ProgressBar",
    "add_backend_options",
    "add_executor_options",
    "handler",
    "register",
    "run_with_progress",
    "write_sampling_manifest",
]


class ProgressBar:
    """A one-line progress bar on standard error; silent when ``quiet``.

    Parameters
    ----------
    total : int
        Units of work (runs).
    label : str
        Text before the bar.
    quiet : bool
        Draw nothing.
    stream : file, optional
        Where to draw (standard error).
    """

    def __init__(self, total: int, label: str, quiet: bool = False, stream=None) -> None:
        self.total = max(1, total)
        self.label = label
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.done = 0
        self.start = time.perf_counter()
        self._last = -1.0
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, k: int) -> None:
        """Record ``k`` more units done and redraw (at most 5 times a second)."""
        self.done += k
        now = time.perf_counter()
        if self.quiet or (now - self._last < 0.2 and self.done < self.total):
            return
        if not self._tty and self.done < self.total and now - self._last < 10:
            return
        self._last = now
        frac = min(1.0, self.done / self.total)
        elapsed = now - self.start
        eta = elapsed * (1 - frac) / frac if frac > 0 else 0.0
        bar = "#" * int(30 * frac) + "." * (30 - int(30 * frac))
        rate = self.done / elapsed if elapsed > 0 else 0.0
        line = (
            f"{self.label} [{bar}] {100 * frac:5.1f}% {self.done:,}/{self.total:,}"
            f" {rate:,.0f} runs/s, {elapsed:.0f} s, eta {eta:.0f} s"
        )
        end = "\r" if self._tty and self.done < self.total else "\n"
        self.stream.write(line + end)
        self.stream.flush()

    def close(self) -> None:
        """End the line if the bar was left mid-way."""
        if not self.quiet and self._tty and self.done < self.total and self._last >= 0:
            self.stream.write("\n")
            self.stream.flush()


def add_backend_options(p: argparse.ArgumentParser) -> None:
    """Add the options shared by ``ensemble`` and ``sensitivity``.

    Parameters
    ----------
    p : argparse.ArgumentParser
        The subcommand's parser.
    """
    p.add_argument("scenario", help="scenario file (YAML)")
    p.add_argument("--uncertainty", required=True, help="uncertainty file (YAML)")
    p.add_argument("--samples", required=True, type=int, help="number of samples N (>= 2)")
    p.add_argument(
        "--seed", type=int, default=None, help="random seed (default: drawn and recorded)"
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--outputs", default=None, help="comma-separated variables of results.csv")
    p.add_argument(
        "--chunk-size", type=int, default=None, help="samples per chunk sent to a worker"
    )
    add_executor_options(p)
    add_common_run_options(p)


def add_executor_options(p: argparse.ArgumentParser) -> None:
    """Add the backend and progress options (ensemble, sensitivity, rank-robustness).

    Parameters
    ----------
    p : argparse.ArgumentParser
        The subcommand's parser.
    """
    group = p.add_mutually_exclusive_group()
    group.add_argument("--processes", type=int, default=None, help="run on N local processes")
    group.add_argument(
        "--scheduler", default=None, help="run on an existing Dask cluster (tcp://HOST:PORT)"
    )
    group.add_argument(
        "--dask-local", type=int, default=None, help="start a local Dask cluster of N workers"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run_with_progress(executor, total: int, label: str, quiet: bool, execute):
    """Start a backend, run a planned analysis on it with a progress bar, and time it.

    Parameters
    ----------
    executor : Executor
        The backend (`sdplanner.executors.make_executor`), not yet started.
    total : int
        Runs the bar counts.
    label : str
        Text before the bar.
    quiet : bool
        Draw no bar.
    execute : callable
        ``execute(executor, progress)`` runs the analysis and returns its result.

    Returns
    -------
    result : object
        What ``execute`` returned.
    seconds : float
        Wall time from the start of the bar (s).
    """
    bar = ProgressBar(total, label, quiet=quiet)
    started = time.perf_counter()
    with executor:
        try:
            result = execute(executor, bar.update)
        finally:
            bar.close()
    return result, time.perf_counter() - started


def pick_seed(seed: int | None) -> int:
    """Return the seed to use: the user's, or fresh entropy (recorded in the manifest)."""
    if seed is not None:
        if seed < 0:
            from sdplanner.uncertainty import UncertaintyError

            raise UncertaintyError(f"--seed: expected a non-negative integer, found {seed}")
        return seed
    return int(np.random.SeedSequence().entropy)


def register(sub) -> None:
    """Add the ``ensemble`` subcommand."""
    p = sub.add_parser(
        "ensemble",
        help="run an uncertainty ensemble; write percentiles.csv, fan charts, manifest.json",
    )
    add_backend_options(p)
    p.add_argument(
        "--percentiles",
        choices=("auto", "exact", "streaming"),
        default="auto",
        help="percentile method (auto: exact up to 100,000 samples, then streaming)",
    )
    p.add_argument("--no-plots", action="store_true", help="write no fan charts")
    p.add_argument(
        "--nonfinite",
        choices=("drop", "error"),
        default="drop",
        help="a sample with non-finite outputs is left out and counted (drop) or an error",
    )
    p.set_defaults(handler=handler)


def handler(args: argparse.Namespace) -> int:
    """Validate everything, connect to the backend, run, then write the outputs as one set."""
    from sdplanner.executors import make_executor
    from sdplanner.output_set import OutputSet
    from sdplanner.results import write_csv
    from sdplanner.run import prepare_run
    from sdplanner.uncertainty import (
        DEFAULT_CHUNK,
        execute_ensemble,
        load_uncertainty,
        plan_ensemble,
    )

    inputs = prepare_run(args.scenario, model=args.model, params=params_arg(args))
    spec = load_uncertainty(args.uncertainty, inputs.model)
    seed = pick_seed(args.seed)
    engine = resolve_engine(args.engine)
    plan = plan_ensemble(
        inputs,
        spec,
        samples=args.samples,
        seed=seed,
        chunk_size=DEFAULT_CHUNK if args.chunk_size is None else args.chunk_size,
        outputs=args.outputs,
        method=args.percentiles,
        engine=engine,
        nonfinite=args.nonfinite,
        workers=args.processes or args.dask_local or 0,
    )
    outputs = OutputSet(args.out)
    executor = make_executor(args.processes, args.scheduler, args.dask_local)
    with outputs:
        stage = outputs.path
        result, seconds = run_with_progress(
            executor,
            plan.samples,
            "ensemble",
            args.quiet,
            lambda ex, progress: execute_ensemble(plan, ex, progress=progress, spill_dir=stage),
        )
        write_csv(result.frame, stage / "percentiles.csv")
        figures = []
        if not args.no_plots:
            from sdplanner.ensemble_plots import fan_chart, observed_points
            from sdplanner.evidence import read_fit_record

            scen = inputs.scenario
            record = read_fit_record(inputs.params_files)
            for o in plan.layout.outputs:
                fig, _ = fan_chart(
                    result.frame,
                    o.name,
                    inputs.model.spec,
                    observed=observed_points(o.name, inputs.model.spec.dimension, record=record),
                    titles={scen.name: scen.display_title},
                )
                path = stage / f"fan_{o.name}.png"
                atomic_write_bytes(path, render(fig, "png", dpi=110))
                figures.append(path.name)
        _write_manifest(stage, args, inputs, plan, result, engine, seed, figures, seconds)
        out = outputs.commit()
    print(
        f"ensemble {inputs.scenario.name!r}: {plan.samples:,} samples (seed {seed},"
        f" {result.method} percentiles, {result.backend}) in {seconds:.1f} s"
        f" -> {out / 'percentiles.csv'}"
    )
    if result.dropped:
        print(
            f"note: {result.dropped:,} of {plan.samples:,} samples gave non-finite outputs and"
            " were left out (listed in manifest.json)"
        )
    frame = result.frame
    last = int(frame["year"].max())
    years = [y for y in (2030, last) if y in set(frame["year"])]
    shown = frame[frame.year.isin(years)]
    aggregate = plan.layout.aggregate
    if aggregate is not None:  # the aggregate rows, and those of variables without subscripts
        shown = shown[shown.region.isin([aggregate, ""])]
    table = shown.set_index(["variable", "region", "year"])[["p05", "p50", "p95"]]
    if set(shown.region) <= {aggregate, ""}:
        table = table.droplevel("region")
    print(table.to_string(float_format="{:.4g}".format))
    return 0


def _write_manifest(stage, args, inputs, plan, result, engine, seed, figures, seconds) -> None:
    """Write the ensemble's manifest (last) into the staging folder."""
    from sdplanner.uncertainty import HISTOGRAM_BINS, PILOT_SAMPLES

    streaming = None
    if result.bounds is not None:
        num = [c for c in result.bounds.columns if c.startswith("p")]
        spread = (result.frame["p95"] - result.frame["p05"]).to_numpy()
        worst = result.bounds[num].to_numpy().max(axis=1)
        rel = worst[spread > 0] / spread[spread > 0]
        streaming = {
            "bins": HISTOGRAM_BINS,
            "pilot_samples": min(plan.samples, PILOT_SAMPLES),
            "max_bound_over_p05_p95_spread": float(rel.max()) if rel.size else 0.0,
            "median_bound_over_p05_p95_spread": float(np.median(rel)) if rel.size else 0.0,
        }
    write_sampling_manifest(
        stage,
        "ensemble",
        args,
        inputs,
        engine,
        seed,
        {
            "samples": plan.samples,
            "chunk_size": plan.chunk_size,
            "backend": result.backend,
            "percentile_method": result.method,
            "streaming": streaming,
            "sampled_columns": result.columns,
            "dropped_samples": {"count": result.dropped, "first": result.dropped_samples[:100]},
            "outputs": [o.name for o in plan.layout.outputs],
            "figures": figures,
            "seconds": round(seconds, 3),
        },
    )


def write_sampling_manifest(stage, command, args, inputs, engine, seed, extra) -> None:
    """Write the manifest of an ``ensemble`` or ``sensitivity`` run (last, into ``stage``).

    Parameters
    ----------
    stage : pathlib.Path
        The staging folder of the outputs.
    command : str
        ``"ensemble"`` or ``"sensitivity"``.
    args : argparse.Namespace
        The options (the uncertainty file).
    inputs : sdplanner.run.RunInputs
        The scenario and its parameters.
    engine : str
        Engine name.
    seed : int
        The seed used.
    extra : dict
        The command's own facts.
    """
    from sdplanner.results import write_manifest

    write_manifest(
        stage,
        model=inputs.model,
        command=command,
        inputs={
            "scenario": inputs.scenario.files,
            "parameters": inputs.params_files,
            "uncertainty": [args.uncertainty],
        },
        engine=engine,
        seed=seed,
        extra={"scenarios": [inputs.scenario.name], **extra},
    )
