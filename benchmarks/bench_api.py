"""Speed of the notebook API: one `simulate` call, and `simulate_many` against a loop.

Usage::

    python benchmarks/bench_api.py [--settings 1000] [--loop 100] [--no-write]

Everything is measured in a child Python process started in a temporary folder outside the
repository (as a notebook user would), with the package's cache folder already warm: a first
child process fills it (translation, compiled kernel), a second one is measured.

1. ``simulate("baseline", levers={...})``: the time of ``import sdplanner``, of the first call
   in the process (model and engine set-up included) and of later calls (each with other
   lever values).
2. ``simulate_many`` over ``--settings`` lever settings (random strengths of three levers, a
   fixed seed) through the batch engine's ``run_batch``, and, in the same process, a plain
   loop of ``simulate`` calls over the first ``--loop`` of those settings; both return the
   spec's headline outputs. Reported: settings per second of each and their ratio.

The figures go to benchmarks/RESULTS.md under the heading "Notebook API", replacing an
earlier version of that section and leaving the others' sections alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from results_file import write_section

ROOT = Path(__file__).resolve().parent.parent
HEADING = "## Notebook API (`benchmarks/bench_api.py`)"
TARGET_S = 1.0

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import sdplanner
from sdplanner.rng import make_generator
t_import = time.perf_counter() - t0
n_settings, n_loop = int(sys.argv[1]), int(sys.argv[2])
t0 = time.perf_counter()
model = sdplanner.load_model()  # what simulate loads itself; timed with the first call
levers = [lv for lv in model.spec.levers][:3]
variables = list(model.spec.view("headline"))
sdplanner.simulate("baseline", levers={levers[0].name: 0.5 * levers[0].maximum})
t_first = time.perf_counter() - t0
later = []
for k in range(10):
    value = levers[0].maximum * (k + 1) / 20
    t0 = time.perf_counter()
    sdplanner.simulate("baseline", levers={levers[0].name: value})
    later.append(time.perf_counter() - t0)
rng = make_generator(2026, 17)
settings = [
    {lv.name: float(rng.uniform(lv.minimum, lv.maximum)) for lv in levers}
    for _ in range(n_settings)
]
t0 = time.perf_counter()
many = sdplanner.simulate_many(settings, variables=variables)
t_many = time.perf_counter() - t0
t0 = time.perf_counter()
for s in settings[:n_loop]:
    sdplanner.simulate("baseline", levers=s, variables=variables)
t_loop = time.perf_counter() - t0
print(json.dumps({
    "import_s": t_import, "first_s": t_first, "later_s": sorted(later),
    "many_s": t_many, "loop_s": t_loop, "n_settings": n_settings, "n_loop": n_loop,
    "rows": len(many), "levers": [lv.name for lv in levers], "variables": variables,
}))
"""


def child(n_settings: int, n_loop: int, folder: str) -> dict:
    """Run the measuring script in a fresh process in ``folder``; return its figures."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(n_settings), str(n_loop)],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--settings", type=int, default=1000, help="lever settings of simulate_many")
    p.add_argument("--loop", type=int, default=100, help="simulate calls of the plain loop")
    p.add_argument("--no-write", action="store_true", help="print only")
    args = p.parse_args(argv)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="sdplanner-bench-api-") as folder:
        child(10, 2, folder)  # fills the cache: translation, compiled kernel
        r = child(args.settings, args.loop, folder)
    load_after = os.getloadavg()[0]
    later = r["later_s"]
    median_later = later[len(later) // 2]
    many_rate = r["n_settings"] / r["many_s"]
    loop_rate = r["n_loop"] / r["loop_s"]
    lines = [
        HEADING,
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python benchmarks/bench_api.py"
        f" --settings {args.settings} --loop {args.loop}` on {platform.machine()},"
        f" {os.cpu_count()} cores (shared; load average {load:.1f} before, {load_after:.1f}"
        f" after), Python {platform.python_version()}, in a fresh process started in a"
        " temporary folder outside the repository, with a warm cache.",
        "",
        f"- `import sdplanner`: {r['import_s']:.2f} s",
        f'- first `simulate("baseline", levers={{...}})` of the process (loading the model'
        f" and setting up the engine included): {r['first_s']:.2f} s (target under {TARGET_S:g} s:"
        f" {'met' if r['first_s'] < TARGET_S else 'missed'})",
        f"- later `simulate` calls, every output: median {median_later * 1e3:.0f} ms,"
        f" max {later[-1] * 1e3:.0f} ms (n={len(later)})",
        f"- `simulate_many` over {r['n_settings']:,} lever settings ({', '.join(r['levers'])}),"
        f" headline outputs: {r['many_s']:.2f} s, {many_rate:,.0f} settings/s",
        f"- a plain loop of `simulate` over {r['n_loop']:,} of the same settings, same outputs:"
        f" {r['loop_s']:.2f} s, {loop_rate:,.1f} settings/s",
        f"- `simulate_many` against the loop: {many_rate / loop_rate:,.0f}x the settings per"
        " second",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(HEADING, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
