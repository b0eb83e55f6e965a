"""Ensemble benchmarks: throughput against PySD, streaming-percentile error, peak memory.

Run from the repository root::

    python benchmarks/bench_ensemble.py                     # all three parts
    python benchmarks/bench_ensemble.py --parts throughput  # one part
    python benchmarks/bench_ensemble.py --memory-samples 1000000 --processes 2

Parts:

* ``throughput``: the model's size; PySD's runs per second (1-2 runs of
  ``get_engine("pysd")``); an ensemble of N = 10,000 samples of ``uncertainty/default.yaml``
  on the baseline in this process (one core), end to end (sampling, batch engine, exact
  percentiles and means): full 14-region runs per second per core, and the ratio to PySD.
* ``streaming``: one ensemble of 100,000 samples fed to both percentile methods; the
  streaming estimates against the exact ones (errors relative to the stated bound, the bin
  width, and to the value).
* ``memory``: a 1,000,000-sample ensemble (streaming percentiles) in a child process; its
  peak resident memory (``resource.getrusage`` max RSS of the child and of its workers) and
  its wall time.

Targets (issue 5): >= 2,000 runs/s/core, >= 5,000x PySD, < 2 GB at 1,000,000 samples.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "baseline.yaml"
UNCERTAINTY = ROOT / "uncertainty" / "default.yaml"
PCT = ["p05", "p25", "p50", "p75", "p95"]


def _inputs_and_spec():
    from sdplanner.run import prepare_run
    from sdplanner.uncertainty import load_uncertainty

    inputs = prepare_run(SCENARIO)
    return inputs, load_uncertainty(UNCERTAINTY, inputs.model)


def _executor(processes: int):
    from sdplanner.executors import InProcessExecutor, ProcessExecutor

    return ProcessExecutor(processes) if processes > 1 else InProcessExecutor()


def model_size() -> dict:
    from sdplanner.engine.batch import TimeGrid
    from sdplanner.model import load_model

    info = load_model()
    grid = TimeGrid.build(info.initial_time, info.final_time, info.time_step, info.saveper)
    kinds = [v.kind for k, v in info.variables.items() if k != "time"]
    return {
        "stocks": sum(1 for k in kinds if k == "stock"),
        "variables": len(kinds),
        "constants": sum(1 for k in kinds if k == "constant"),
        "regions": len(info.regions),
        "steps": len(grid.times) - 1,
        "time_step": info.time_step,
        "years": f"{info.initial_time:g}-{info.final_time:g}",
    }


def throughput(samples: int, pysd_runs: int) -> dict:
    from sdplanner.engine import get_engine
    from sdplanner.results import required_variables
    from sdplanner.uncertainty import run_ensemble, select_outputs

    inputs, spec = _inputs_and_spec()
    variables = required_variables(select_outputs(None))
    pysd = get_engine("pysd")
    wall, cpu = [], []
    for _ in range(pysd_runs):
        t0, c0 = time.perf_counter(), time.process_time()
        pysd.run(inputs.params, variables=variables)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    t0, c0 = time.perf_counter(), time.process_time()
    run_ensemble(inputs, spec, samples=samples, seed=2014)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    return {
        "pysd_wall_per_run": float(np.median(wall)),
        "pysd_cpu_per_run": float(np.median(cpu)),
        "ensemble_samples": samples,
        "ensemble_wall": seconds,
        "ensemble_cpu": cpu_seconds,
        "runs_per_s_wall": samples / seconds,
        "runs_per_cpu_s": samples / cpu_seconds,
        "ratio_wall": (samples / seconds) * float(np.median(wall)),
        "ratio_cpu": (samples / cpu_seconds) * float(np.median(cpu)),
    }


def streaming_error(samples: int, processes: int) -> dict:
    from sdplanner.uncertainty import (
        ExactPercentiles,
        StreamingPercentiles,
        iter_cells,
        plan_ensemble,
    )

    inputs, spec = _inputs_and_spec()
    plan = plan_ensemble(inputs, spec, samples=samples, seed=2014, method="exact")
    slices = plan.layout.variable_slices()
    exact = ExactPercentiles(samples, slices, spill_dir=ROOT / "benchmarks")
    stream = StreamingPercentiles(samples, slices)
    t0 = time.perf_counter()
    with _executor(processes) as ex:
        for cells in iter_cells(plan.job, plan.batch, samples, plan.chunk_size, ex):
            exact.add(cells)
            stream.add(cells)
    p_exact, m_exact, _ = exact.result()
    p_stream, m_stream, bound = stream.result()
    seconds = time.perf_counter() - t0
    err = np.abs(p_stream - p_exact)
    scale = np.maximum(np.abs(p_exact), np.finfo(float).tiny)
    spread = p_exact[-1] - p_exact[0]
    varying = spread > 0
    rel_spread = err[:, varying] / spread[varying]
    ratio = np.where(bound > 0, err / np.where(bound > 0, bound, 1.0), 0.0)
    return {
        "samples": samples,
        "cells": int(p_exact.shape[1]),
        "seconds": seconds,
        "max_error_over_bound": float(ratio.max()),
        "share_within_bound": float(np.mean(err <= bound * (1 + 1e-9))),
        "max_relative_error": float((err / scale).max()),
        "median_relative_error": float(np.median(err / scale)),
        "max_error_over_p05_p95_spread": float(rel_spread.max()),
        "median_error_over_p05_p95_spread": float(np.median(rel_spread)),
        "max_relative_bound": float((bound / scale).max()),
        "median_relative_bound": float(np.median(bound / scale)),
        "means_identical": bool(np.array_equal(m_exact, m_stream)),
    }


def _child(samples: int, processes: int) -> None:
    from sdplanner.uncertainty import run_ensemble

    inputs, spec = _inputs_and_spec()
    t0 = time.perf_counter()
    with _executor(processes) as ex:
        result = run_ensemble(
            inputs, spec, samples=samples, seed=2014, method="streaming", executor=ex
        )
    seconds = time.perf_counter() - t0
    usage_self = resource.getrusage(resource.RUSAGE_SELF)
    usage_kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = usage_self.ru_maxrss / 1024
    kids = usage_kids.ru_maxrss / 1024
    cpu = sum(u.ru_utime + u.ru_stime for u in (usage_self, usage_kids))
    print(
        json.dumps(
            {
                "samples": samples,
                "processes": processes,
                "seconds": seconds,
                "cpu_seconds": cpu,
                "dropped": result.dropped,
                "rows": len(result.frame),
                "max_rss_main_mib": own,
                "max_rss_largest_worker_mib": kids if processes > 1 else 0.0,
                "peak_upper_bound_mib": own + (processes * kids if processes > 1 else 0.0),
            }
        )
    )


def memory(samples: int, processes: int) -> dict:
    cmd = [sys.executable, __file__, "--child", str(samples), "--processes", str(processes)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", default="throughput,streaming,memory")
    p.add_argument("--samples", type=int, default=10_000, help="throughput ensemble size")
    p.add_argument("--pysd-runs", type=int, default=2)
    p.add_argument("--streaming-samples", type=int, default=100_000)
    p.add_argument("--memory-samples", type=int, default=1_000_000)
    p.add_argument("--processes", type=int, default=1, help="workers of streaming and memory")
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        _child(args.child, args.processes)
        return 0
    parts = [x.strip() for x in args.parts.split(",")]
    print(f"# bench_ensemble {datetime.now(UTC).isoformat(timespec='seconds')}")
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()}, numpy {np.__version__},"
        f" load average {os.getloadavg()[0]:.1f}"
    )
    size = model_size()
    print(
        f"model: {size['stocks']} stocks (x regions), {size['variables']} variables,"
        f" {size['regions']} regions, {size['steps']} steps of {size['time_step']} year"
        f" ({size['years']})"
    )
    if "throughput" in parts:
        r = throughput(args.samples, args.pysd_runs)
        print(
            f"PySD: {r['pysd_wall_per_run']:.2f} s wall, {r['pysd_cpu_per_run']:.2f} s CPU per"
            f" run (median of {args.pysd_runs})"
        )
        print(
            f"ensemble N={r['ensemble_samples']:,} in-process (1 core), end to end:"
            f" {r['ensemble_wall']:.1f} s wall, {r['ensemble_cpu']:.1f} s CPU ="
            f" {r['runs_per_s_wall']:,.0f} runs/s wall, {r['runs_per_cpu_s']:,.0f} runs per"
            " CPU-second (per core; target >= 2,000)"
        )
        print(
            f"ratio to PySD: {r['ratio_cpu']:,.0f}x per CPU-second, {r['ratio_wall']:,.0f}x"
            " wall (target >= 5,000x)"
        )
    if "streaming" in parts:
        r = streaming_error(args.streaming_samples, args.processes)
        print(
            f"streaming vs exact at N={r['samples']:,} ({r['cells']:,} cells,"
            f" {r['seconds']:.0f} s): max error / bound = {r['max_error_over_bound']:.3f}"
            f" ({100 * r['share_within_bound']:.2f} % within bound); error / (p95 - p05) max"
            f" {r['max_error_over_p05_p95_spread']:.2e}, median"
            f" {r['median_error_over_p05_p95_spread']:.2e}; relative error max"
            f" {r['max_relative_error']:.2e}, median {r['median_relative_error']:.2e};"
            f" relative bound max {r['max_relative_bound']:.2e}, median"
            f" {r['median_relative_bound']:.2e}; means identical: {r['means_identical']}"
        )
    if "memory" in parts:
        r = memory(args.memory_samples, args.processes)
        print(
            f"ensemble N={r['samples']:,} (streaming, {r['processes']} process(es)):"
            f" {r['seconds']:.0f} s wall, {r['cpu_seconds']:.0f} s CPU, {r['dropped']} samples"
            f" dropped; max RSS main {r['max_rss_main_mib']:.0f} MiB, largest"
            f" worker {r['max_rss_largest_worker_mib']:.0f} MiB; peak <="
            f" {r['peak_upper_bound_mib']:.0f} MiB (target < 2,048 MiB)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
