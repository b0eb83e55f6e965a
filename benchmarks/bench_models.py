"""Benchmark the batch engine against PySD on three models of different size, side by side.

The models:

* teacup: Vensim's 8-variable teacup (one stock, 240 Euler steps), from the SDXorg
  test-models suite (``../shared/test-models/tests/case_sensitive_extension``, or
  ``$SDPLANNER_TEST_MODELS``); left out with a message when the suite is absent;
* pipeline: ``tests/models/pipeline.mdl``, 16 variables with a SMOOTH and a DELAY3
  (640 steps);
* the shipped model (its regions, stocks and steps are printed).

For each, in one process and one after the other:

1. one run, every variable returned: PySD's ``Model.run`` on a loaded model (translation
   and loading excluded) and the batch engine's ``run`` with its C kernel and its NumPy
   kernel (warm: the code generated and compiled before timing); the median of ``--runs``
   runs (``--pysd-runs`` for the shipped model's PySD, 30 s a run);
2. the throughput of one batch of N samples (default 10,000) whose constants vary per
   sample (teacup: 2, pipeline: 3, shipped model: every lever's strength per sample and
   region, uniform over its .mdl range), in runs per second per core (this process's CPU
   time), against PySD's runs per second of step 1. Stored: every variable of teacup; the
   pipeline's capacity, perceived demand and completions (it saves all 641 steps: 154 MB);
   the shipped model's stocks and 4 indicators.

Figures only, no assertions. Usage::

    python benchmarks/bench_models.py [--n 10000] [--runs 100] [--pysd-runs 2]
        [--throughput-runs 3]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

from sdplanner.engine.batch import BatchEngine, TimeGrid, kernel_label
from sdplanner.model import load_pysd
from sdplanner.resources import default_model_path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tools"))

from bench_engine import INDICATORS, LEVER_RANGES, timed  # noqa: E402
from conformance import suite_folder  # noqa: E402


def models() -> list[tuple[str, Path, dict, list | None]]:
    """Return the models: name, file, how a batch varies them, what it stores (None: all)."""
    out = []
    folder = suite_folder()
    if folder is None:
        print("teacup: left out (no test models: set SDPLANNER_TEST_MODELS)")
    else:
        teacup = folder / "case_sensitive_extension" / "teacup-upper.MDL"
        varied = {"characteristic_time": (5, 15), "room_temperature": (60, 80)}
        out.append(("teacup", teacup, varied, None))
    pipeline = ROOT / "tests" / "models" / "pipeline.mdl"
    out.append(
        (
            "pipeline",
            pipeline,
            {"perception_time": (1, 4), "construction_time": (2, 8), "demand_step": (0, 40)},
            ["capacity", "perceived_demand", "capacity_completed"],
        )
    )
    levers = dict(LEVER_RANGES)
    out.append(("shipped model", default_model_path(), levers, None))
    return out


def main(argv=None) -> int:
    """Measure and print; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="samples of the batch")
    parser.add_argument("--runs", type=int, default=100, help="single runs (median)")
    parser.add_argument("--pysd-runs", type=int, default=2, help="PySD runs of the shipped model")
    parser.add_argument("--throughput-runs", type=int, default=3, help="repeats of the batch")
    args = parser.parse_args(argv)
    print(f"C kernel: {kernel_label('c')}")
    rng = np.random.default_rng(20261204)
    for label, path, varied, stored in models():
        c_engine = BatchEngine.from_mdl(path, kernel="c")
        engines = {"C": c_engine, "NumPy": BatchEngine(c_engine.ir, c_engine.info, kernel="numpy")}
        info = c_engine.info
        grid = TimeGrid.build(info.initial_time, info.final_time, info.time_step, info.saveper)
        names = [n for n, v in info.variables.items() if n != "time" and v.kind != "lookup"]
        print(
            f"\n== {label}: {path.name}, {len(names)} variables, {len(info.stocks)} INTEG"
            f" stock(s), {max(1, len(info.elements))} region(s), {len(grid.times) - 1} Euler steps"
        )
        shipped = label == "shipped model"
        pysd_runs = args.pysd_runs if shipped else args.runs
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = load_pysd(path)
            p_wall, p_cpu = timed(lambda m=model, c=names: m.run(return_columns=c), pysd_runs)
        print(
            f"PySD            one run: median of {pysd_runs}: {p_wall * 1e3:.2f} ms wall,"
            f" {p_cpu * 1e3:.2f} ms CPU"
        )
        for kernel, engine in engines.items():
            engine.run()  # generate and compile
            wall, cpu = timed(engine.run, args.runs)
            print(
                f"{kernel:6s} kernel   one run: median of {args.runs}: {wall * 1e3:.3f} ms wall,"
                f" {cpu * 1e3:.3f} ms CPU; PySD / {kernel}: {p_wall / wall:,.0f}x wall,"
                f" {p_cpu / cpu:,.0f}x CPU"
            )
        outputs = [*info.stocks, *INDICATORS] if shipped else stored or names
        n_regions = max(1, len(info.elements))
        batch = {}
        for name, (lo, hi) in varied.items():
            default = np.asarray(c_engine.ir.variables[name].value, dtype=float)
            shape = (args.n, n_regions) if default.ndim else (args.n,)
            batch[name] = rng.uniform(lo, hi, shape)
        print(
            f"throughput      N = {args.n:,}, {len(batch)} constants per sample,"
            f" {len(outputs)} variables stored; median of {args.throughput_runs}"
        )
        for kernel, engine in engines.items():
            engine.run_batch(None, {k: v[:16] for k, v in batch.items()}, variables=outputs)
            wall, cpu = timed(
                lambda e=engine, b=batch, o=outputs: e.run_batch(None, b, variables=o),
                args.throughput_runs,
            )
            rate = args.n / cpu
            print(
                f"{kernel:6s} kernel   {rate:,.0f} runs/s per core ({args.n / wall:,.0f} wall);"
                f" vs PySD's {1 / p_cpu:.3g} runs/s: {rate * p_cpu:,.0f}x"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
