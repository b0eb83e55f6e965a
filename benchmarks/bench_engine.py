"""Benchmark the batch engine against PySD on the shipped model.

Measures, in one process:

1. one policy scenario run through the batch engine (its C kernel, the default, and its
   NumPy kernel) and through PySD (median of several runs each, every variable returned),
   and the ratios;
2. the batch engine's throughput on N samples (default 10,000) with eleven lever strengths
   varying per sample and per region, for both kernels, their runs alternating (so that both
   see the same load), in runs per second per core, and the ratios to each other and to
   PySD's runs per second.

Times are reported both as wall-clock time and as this process's CPU time (both kernels run
on one core, so CPU time is the per-core figure and does not count time lost to other
processes on a shared machine). Figures only: no assertions.

Usage::

    python benchmarks/bench_engine.py [--n 10000] [--pysd-runs 2] [--batch-runs 7]
        [--throughput-runs 5] [--time-step 0.125] [--chunk-size 512 --chunk-size 4096]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from sdplanner.engine.base import TimeSeries
from sdplanner.engine.batch import BatchEngine, TimeGrid, kernel_label
from sdplanner.engine.pysd_runner import PysdEngine
from sdplanner.model import load_model
from sdplanner.resources import default_model_path

#: Every lever's strength constant and its .mdl range, from the model spec (one home).
LEVER_RANGES = {
    lever.strength_constant: (lever.minimum, lever.maximum)
    for lever in load_model(default_model_path()).spec.levers
}
LEVERS = tuple(LEVER_RANGES)
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
    parser.add_argument("--throughput-runs", type=int, default=5, help="repeats of the batch")
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
    engine = BatchEngine.from_mdl(kernel="c")
    build = time.perf_counter() - t0
    numpy_engine = BatchEngine(engine.ir, engine.info, kernel="numpy")
    engines = {"C kernel": engine, "NumPy kernel": numpy_engine}
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
    print(f"C kernel        {kernel_label('c')}")

    params = scenario(n_regions)
    names = [n for n in info.variables if n != "time"]
    print("\n== One scenario, every variable returned")
    single = {}
    for label, eng in engines.items():
        w0 = time.perf_counter()
        eng.run(params, variables=names)
        first = time.perf_counter() - w0
        single[label] = timed(lambda eng=eng: eng.run(params, variables=names), args.batch_runs)
        wall, cpu = single[label]
        print(f"{label:15s} first run {first * 1e3:.0f} ms (generates, compiles or loads the code)")
        print(
            f"{label:15s} median of {args.batch_runs}: {wall * 1e3:.1f} ms wall,"
            f" {cpu * 1e3:.1f} ms CPU"
        )
    pysd = PysdEngine()
    p_wall, p_cpu = timed(lambda: pysd.run(params, variables=names), args.pysd_runs)
    print(f"PySD            median of {args.pysd_runs}: {p_wall:.2f} s wall, {p_cpu:.2f} s CPU")
    for label, (wall, cpu) in single.items():
        print(
            f"ratio           PySD / {label}: {p_wall / wall:.0f}x wall, {p_cpu / cpu:.0f}x CPU"
            " (target >= 100x)"
        )

    rng = np.random.default_rng(20240601)
    shape = (args.n, n_regions)
    batch = {name: rng.uniform(low, high, shape) for name, (low, high) in LEVER_RANGES.items()}
    outputs = [*info.stocks, *INDICATORS]
    print(
        f"\n== Throughput: N = {args.n} samples, {len(LEVERS)} lever strengths per sample and"
        f" region, {len(outputs)} variables stored (all stocks + {len(INDICATORS)} indicators)"
    )
    print(
        f"chunk size      {engine.chunk_size} samples; median of {args.throughput_runs} runs"
        " per kernel, the kernels alternating"
    )
    steps = [None, *(args.time_step or [])]
    for dt in steps:
        label = f"TIME STEP {info.time_step if dt is None else dt:g}"
        grid = TimeGrid.build(
            info.initial_time, info.final_time, info.time_step if dt is None else dt, info.saveper
        )
        walls = {k: [] for k in engines}
        cpus = {k: [] for k in engines}
        for eng in engines.values():  # generate (and compile) the code before timing
            eng.run_batch(
                None, {k: v[:16] for k, v in batch.items()}, variables=outputs, time_step=dt
            )
        for _ in range(args.throughput_runs):
            for name, eng in engines.items():
                wall, cpu = timed(
                    lambda eng=eng, dt=dt: eng.run_batch(
                        None, batch, variables=outputs, time_step=dt
                    ),
                    1,
                )
                walls[name].append(wall)
                cpus[name].append(cpu)
        rates = {}
        for name in engines:
            wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
            rates[name] = args.n / cpu
            print(
                f"{label:15s} {name}: {len(grid.times) - 1} steps:"
                f" {args.n / wall:,.0f} runs/s wall,"
                f" {args.n / cpu:,.0f} runs/s per core (CPU; min {args.n / max(cpus[name]):,.0f},"
                f" max {args.n / min(cpus[name]):,.0f}),"
                f" {args.n / cpu * (len(grid.times) - 1) / 1e6:.2f} M run-steps/s per core"
            )
        print(
            f"{'':15s} C / NumPy kernel: {rates['C kernel'] / rates['NumPy kernel']:.2f}x"
            + (" (target: C kernel >= 2,000 runs/s per core)" if dt is None else "")
        )
        if dt is None:
            pysd_rate = 1.0 / p_cpu
            print(
                f"{'':15s} vs PySD {pysd_rate:.3f} runs/s per core:"
                f" C kernel {rates['C kernel'] / pysd_rate:,.0f}x,"
                f" NumPy kernel {rates['NumPy kernel'] / pysd_rate:,.0f}x (target >= 5,000x)"
            )
    for chunk in args.chunk_size or []:
        eng = BatchEngine(engine.ir, engine.info, chunk_size=chunk, kernel="c")
        wall, cpu = timed(
            lambda eng=eng: eng.run_batch(None, batch, variables=outputs), args.throughput_runs
        )
        print(
            f"{'chunk ' + str(chunk):15s} C kernel, TIME STEP {info.time_step:g}:"
            f" {args.n / wall:,.0f}"
            f" runs/s wall, {args.n / cpu:,.0f} runs/s per core (CPU)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
