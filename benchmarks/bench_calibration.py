"""Wall time and model runs of the shipped calibration (calibration/seed-2010-2012.yaml).

Usage: python benchmarks/bench_calibration.py [--starts N] [--bootstrap B] [--seed S]

Prints one line per phase (engine build, data and spec, calibration) and the number of
model runs and engine calls of the calibration; no file is written.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=8)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2012)
    args = parser.parse_args()

    t0 = time.perf_counter()
    from sdplanner.calibration import calibrate, load_problem
    from sdplanner.engine.batch import BatchEngine

    engine = BatchEngine.from_mdl()
    t1 = time.perf_counter()
    problem = load_problem(
        ROOT / "data" / "seed_figures.csv",
        ROOT / "calibration" / "seed-2010-2012.yaml",
        engine.info,
    )
    t2 = time.perf_counter()
    result = calibrate(
        problem, engine, starts=args.starts, bootstrap=args.bootstrap, seed=args.seed
    )
    t3 = time.perf_counter()
    print(f"engine build (translate + load): {t1 - t0:8.2f} s")
    print(f"data and spec:                   {t2 - t1:8.2f} s")
    print(
        f"calibration:                     {t3 - t2:8.2f} s  ({problem.n_parameters} values,"
        f" {len(problem.rows)} observations, {args.starts} starts, {args.bootstrap} bootstrap)"
    )
    print(f"model runs:                      {result.n_runs:8d}")
    print(f"engine calls (batches):          {result.n_calls:8d}")
    print(f"runs per second:                 {result.n_runs / (t3 - t2):8.0f}")
    print(f"objective at the best fit:       {result.best.deviance:8.4g}")


if __name__ == "__main__":
    main()
