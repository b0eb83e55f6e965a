"""Batch runs per second of Model 2 against the Model 1 kept in ``benchmarks/models/``.

Both models run in one process through the batch engine's C kernel, each at its own TIME
STEP, on the same number of samples with every lever strength of the model varying per
sample (uniform within the lever's range, one seed). The two are timed alternately, several
times, so both see the same machine load; the script prints the median runs per second of
each (wall clock and this process's CPU time) and their ratio (Model 2 / Model 1). Issue 14
asks for a ratio of at least 0.7. Figures only: no assertions.

Usage::

    python benchmarks/bench_model2.py [--n 4096] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
from bench_engine import timed  # the same timing helper as the engine benchmark

from sdplanner.engine.batch import BatchEngine, kernel_label

ROOT = Path(__file__).resolve().parent.parent
MODEL1 = ROOT / "benchmarks" / "models" / "sdplanner-model1.mdl"
MODEL2 = ROOT / "models" / "sdplanner.mdl"
OUTPUTS = ("urbanization_rate", "rural_income_per_capita", "poverty_incidence", "gdp_per_capita")


def lever_batch(engine: BatchEngine, n: int, seed: int) -> dict[str, np.ndarray]:
    """Every ``... strength`` constant drawn per sample and region within its range."""
    rng = np.random.default_rng(seed)
    n_regions = len(engine.info.elements)
    batch = {}
    for py, var in engine.ir.variables.items():
        if var.kind == "constant" and py.endswith("_strength"):
            hi = {"infrastructure_investment_strength": 0.2, "ppp_leverage_strength": 2.0}.get(
                py, 0.5
            )
            batch[py] = rng.uniform(0.0, hi, size=(n, n_regions))
    return batch


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096, help="samples per batch")
    parser.add_argument("--repeats", type=int, default=5, help="timed batches per model")
    args = parser.parse_args(argv)

    engines = {
        "Model 1": BatchEngine.from_mdl(MODEL1, kernel="c"),
        "Model 2": BatchEngine.from_mdl(MODEL2, kernel="c"),
    }
    batches = {k: lever_batch(e, args.n, 2014) for k, e in engines.items()}
    print(f"C kernel: {kernel_label('c')}")
    for name, e in engines.items():
        info = e.info
        n_steps = round((info.final_time - info.initial_time) / info.time_step)
        print(
            f"{name}: {info.path.name}, {len(info.stocks)} stocks, {len(info.variables)} variables,"
            f" TIME STEP {info.time_step} ({n_steps} steps), {len(batches[name])} levers varied"
        )
        # warm-up: compile the kernel once (cached), outside the timing
        e.run_batch({}, {k: v[:8] for k, v in batches[name].items()}, variables=OUTPUTS)

    results = {k: ([], []) for k in engines}
    for _ in range(args.repeats):
        for name, e in engines.items():
            wall, cpu = timed(lambda e=e, b=batches[name]: e.run_batch({}, b, variables=OUTPUTS), 1)
            results[name][0].append(wall)
            results[name][1].append(cpu)
    rates = {}
    for name, (wall, cpu) in results.items():
        rates[name] = (args.n / statistics.median(wall), args.n / statistics.median(cpu))
        print(
            f"{name}: {rates[name][0]:,.0f} runs/s wall clock, {rates[name][1]:,.0f} runs/s per"
            f" CPU second (N = {args.n}, median of {args.repeats})"
        )
    print(
        f"ratio Model 2 / Model 1: {rates['Model 2'][0] / rates['Model 1'][0]:.2f} (wall clock),"
        f" {rates['Model 2'][1] / rates['Model 1'][1]:.2f} (CPU time)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
