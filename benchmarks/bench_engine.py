"""Benchmark the batch engine against PySD on the shipped model.

Measures, in one process:

1. one policy scenario run through the batch engine and through PySD (median of several
   runs each, every variable returned), and the ratio;
2. the batch engine's throughput on N samples (default 10,000) with eleven lever strengths
   varying per sample and per region, in runs per second per core, and its ratio to PySD's
   runs per second.

Times are reported both as wall-clock time and as this process's CPU time (NumPy's
element-wise operations run on one core, so CPU time is the per-core figure and does not
count time lost to other processes on a shared machine). Figures only: no assertions.

Usage::

    python benchmarks/bench_engine.py [--n 10000] [--pysd-runs 2] [--batch-runs 7]
        [--time-step 0.125] [--chunk-size 512 --chunk-size 2048]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from sdplanner.engine.base import TimeSeries
from sdplanner.engine.batch import BatchEngine, TimeGrid
from sdplanner.engine.pysd_runner import PysdEngine

LEVERS = (
    "town_agglomeration_target_strength",
    "farmland_consolidation_strength",
    "town_absorptive_capacity_strength",
    "industry_support_strength",
    "agro_tourism_productivity_strength",
    "infrastructure_investment_strength",
    "ppp_leverage_strength",
    "returnee_incubators_strength",
    "graduate_retention_strength",
    "hukou_reform_strength",
    "social_security_target_strength",
)
INDICATORS = ("poverty_incidence", "gdp_per_capita", "urbanization_rate", "rural_income_per_capita")


def scenario(n_regions: int) -> dict:
    """The policy scenario of tests/test_engine.py (levers and time series)."""
    return {
        "infrastructure_investment_strength": np.full(n_regions, 0.05),
        "hukou_reform_strength": 0.6,
        "social_security_target_strength": 0.9,
        "industry_support_strength": 0.2,
        "returnee_incubators_strength": 0.5,
        "graduate_retention_strength": 0.3,
        "town_agglomeration_target_strength": 0.5,
        "farmland_consolidation_strength": 0.5,
        "town_absorptive_capacity_strength": 0.5,
        "ppp_leverage_strength": 1.0,
        "agro_tourism_productivity_strength": 0.2,
        "outside_wage_growth": TimeSeries(np.array([2015.0, 2040.0]), np.array([0.05, 0.02])),
    }


def timed(fn, repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``repeats`` calls."""
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="samples of the batch run")
    parser.add_argument("--pysd-runs", type=int, default=2, help="PySD runs (median)")
    parser.add_argument("--batch-runs", type=int, default=7, help="single batch-engine runs")
    parser.add_argument("--throughput-runs", type=int, default=2, help="repeats of the batch")
    parser.add_argument(
        "--time-step",
        type=float,
        action="append",
        help="extra TIME STEP(s) for the throughput (year); the model's own is always measured",
    )
    parser.add_argument(
        "--chunk-size",
        type=int,
        action="append",
        help="extra chunk size(s) for the throughput at the model's TIME STEP (samples)",
    )
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    engine = BatchEngine.from_mdl()
    build = time.perf_counter() - t0
    info = engine.info
    n_regions = len(info.elements)
    grid = TimeGrid.build(info.initial_time, info.final_time, info.time_step, info.saveper)
    n_steps = len(grid.times) - 1
    print("== Model")
    print(f"file            {info.path.name} (sha256 {info.sha256[:12]})")
    print(f"stocks          {len(info.stocks)}")
    print(f"variables       {len(info.variables)} (incl. time and 4 control variables)")
    print(f"constants       {len(info.constants)}")
    print(f"regions         {n_regions}")
    print(
        f"time            {info.initial_time:g}-{info.final_time:g}, TIME STEP {info.time_step:g}:"
        f" {n_steps} Euler steps, {len(grid.save_idx)} saved times"
    )
    print(f"engine build    {build:.2f} s (parse the .mdl, load PySD's description)")

    params = scenario(n_regions)
    names = [n for n in info.variables if n != "time"]
    w0 = time.perf_counter()
    engine.run(params, variables=names)
    first = time.perf_counter() - w0
    b_wall, b_cpu = timed(lambda: engine.run(params, variables=names), args.batch_runs)
    print("\n== One scenario, every variable returned")
    print(f"batch engine    first run {first * 1e3:.0f} ms (includes generating the code)")
    print(
        f"batch engine    median of {args.batch_runs}: {b_wall * 1e3:.1f} ms wall,"
        f" {b_cpu * 1e3:.1f} ms CPU"
    )
    pysd = PysdEngine()
    p_wall, p_cpu = timed(lambda: pysd.run(params, variables=names), args.pysd_runs)
    print(f"PySD            median of {args.pysd_runs}: {p_wall:.2f} s wall, {p_cpu:.2f} s CPU")
    print(f"ratio           {p_wall / b_wall:.0f}x wall, {p_cpu / b_cpu:.0f}x CPU (target >= 100x)")

    rng = np.random.default_rng(20240601)
    batch = {name: rng.uniform(0.0, 0.5, (args.n, n_regions)) for name in LEVERS}
    outputs = [*info.stocks, *INDICATORS]
    print(
        f"\n== Throughput: N = {args.n} samples, {len(LEVERS)} lever strengths per sample and"
        f" region, {len(outputs)} variables stored (all stocks + {len(INDICATORS)} indicators)"
    )
    print(f"chunk size      {engine.chunk_size} samples")
    steps = [None, *(args.time_step or [])]
    for dt in steps:
        label = f"TIME STEP {info.time_step if dt is None else dt:g}"
        grid = TimeGrid.build(
            info.initial_time, info.final_time, info.time_step if dt is None else dt, info.saveper
        )
        engine.run_batch(  # generate the code before timing
            None, {k: v[:16] for k, v in batch.items()}, variables=outputs, time_step=dt
        )
        wall, cpu = timed(
            lambda dt=dt: engine.run_batch(None, batch, variables=outputs, time_step=dt),
            args.throughput_runs,
        )
        per_core = args.n / cpu
        print(
            f"{label:15s} {len(grid.times) - 1} steps: {args.n / wall:,.0f} runs/s wall,"
            f" {per_core:,.0f} runs/s per core (CPU), "
            f"{per_core * (len(grid.times) - 1) / 1e6:.2f} M run-steps/s per core"
        )
        if dt is None:
            pysd_rate = 1.0 / p_cpu
            print(
                f"{'':15s} vs PySD {pysd_rate:.3f} runs/s per core:"
                f" {per_core / pysd_rate:,.0f}x (target >= 5,000x)"
            )
    default_chunk = engine.chunk_size
    for chunk in args.chunk_size or []:
        engine.chunk_size = chunk
        wall, cpu = timed(
            lambda: engine.run_batch(None, batch, variables=outputs), args.throughput_runs
        )
        print(
            f"{'chunk ' + str(chunk):15s} TIME STEP {info.time_step:g}: {args.n / wall:,.0f} runs/s"
            f" wall, {args.n / cpu:,.0f} runs/s per core (CPU)"
        )
    engine.chunk_size = default_chunk
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
