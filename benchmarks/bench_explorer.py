"""Latency of the scenario explorer: server-side run time and change-to-chart in a browser.

Usage::

    python benchmarks/bench_explorer.py [--runs 30] [--no-browser] [--no-write]

1. Server side: the explorer's server in this process on 127.0.0.1; ``--runs`` POST /api/run
   requests, each with new lever values (so each reruns the 14-region model with the batch
   engine), then as many requests that only switch the region or the indicator (cached runs).
   Reported: the model run time the server measures, the server's total handling time, and
   the client's round trip.
2. End to end: headless Chromium (/usr/bin/chromium, /usr/bin/chromedriver) loads the page;
   the slider of a lever moves one step at a time, and the page records the time from the
   input event to the painted chart (``window.sdplannerExplorer.timings``).

The figures go to benchmarks/RESULTS.md under the heading "Explorer latency", replacing an
earlier version of that section and leaving the others' sections alone.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from results_file import RESULTS, write_section

ROOT = Path(__file__).resolve().parent.parent
HEADING = "## Explorer latency (`sdplanner serve`)"
BUDGET_MS = 300.0


def stats(values: list[float]) -> str:
    arr = np.asarray(values, dtype=float)
    return (
        f"median {np.median(arr):.0f} ms, p90 {np.percentile(arr, 90):.0f} ms,"
        f" max {arr.max():.0f} ms (n={len(arr)})"
    )


def post(server, path: str, body: dict) -> tuple[dict, float]:
    host, port = server.server_address[:2]
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        res = conn.getresponse()
        data = res.read()
    finally:
        conn.close()
    elapsed = (time.perf_counter() - t0) * 1e3
    if res.status != 200:
        raise RuntimeError(f"{path}: {res.status} {data[:200]!r}")
    return json.loads(data), elapsed


def server_side(server, runs: int, seed: int = 0) -> dict[str, list[float]]:
    from sdplanner.model import load_model

    spec = load_model().spec
    LEVERS, AGGREGATE, REGIONS = spec.levers, spec.dimension.aggregate, spec.dimension.labels
    rng = np.random.default_rng(seed)
    out: dict[str, list[float]] = {"model": [], "server": [], "round_trip": [], "cached": []}
    regions = [AGGREGATE, *REGIONS]
    for i in range(runs):
        levers = {
            lv.name: round(float(rng.uniform(lv.minimum, lv.maximum)), 4)
            for lv in rng.choice(np.array(LEVERS, dtype=object), size=3, replace=False)
        }
        body = {"scenario": "baseline.yaml", "levers": levers, "region": regions[i % len(regions)]}
        ans, rt = post(server, "/api/run", body)
        out["model"].append(ans["timing_ms"]["model"])
        out["server"].append(ans["timing_ms"]["total"])
        out["round_trip"].append(rt)
        body["region"] = regions[(i + 7) % 15]
        body["indicator"] = "rural_income_per_capita"
        _, rt = post(server, "/api/run", body)
        out["cached"].append(rt)
    return out


def engine_cpu(explorer, runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU time of the engine's run alone (the CPU time is what an idle core needs)."""
    from sdplanner.model import load_model
    from sdplanner.results import required_variables

    OUTPUT_VARIABLES = load_model().spec.outputs
    from sdplanner.run import prepare_run
    from sdplanner.scenario import Scenario

    variables = required_variables(OUTPUT_VARIABLES)
    wall, cpu = [], []
    for i in range(runs):
        scen = Scenario(name="bench")
        params = dict(prepare_run(scen, model=explorer.model).params)
        params["infrastructure_investment_strength"] = 0.01 * (i % 20)
        t0, c0 = time.perf_counter(), time.thread_time()
        explorer.engine.run(params, variables=variables)
        cpu.append((time.thread_time() - c0) * 1e3)
        wall.append((time.perf_counter() - t0) * 1e3)
    return wall, cpu


def browser_side(server, steps: int) -> list[float] | str:
    chromium, driver_path = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.keys import Keys
        from selenium.webdriver.support.ui import Select
    except ImportError:
        return "skipped: selenium is not installed (pip install -e '.[web]')"
    if not chromium.exists() or not driver_path.exists():
        return (
            "skipped: no /usr/bin/chromium or /usr/bin/chromedriver"
            " (apt-get install chromium chromium-driver)"
        )
    profile = tempfile.mkdtemp(prefix="bench-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(driver_path)))
    try:
        driver.get(server.url)

        def settled(after: int) -> int:
            end = time.monotonic() + 60
            while time.monotonic() < end:
                chart = driver.find_element("id", "chart")
                rev = int(chart.get_attribute("data-revision") or 0)
                if rev > after and chart.get_attribute("data-busy") == "0":
                    return rev
                time.sleep(0.01)
            raise RuntimeError("the chart did not redraw within 60 s")

        rev = settled(0)
        Select(driver.find_element("id", "region")).select_by_value("Wulingshan")
        rev = settled(rev)
        slider = driver.find_element("id", "strength-infrastructure_investment")
        driver.execute_script("window.sdplannerExplorer.timings.length = 0")
        for _ in range(steps):
            slider.send_keys(Keys.ARROW_RIGHT)
            rev = settled(rev)
        timings = driver.execute_script("return window.sdplannerExplorer.timings")
        return [t["input_to_paint_ms"] for t in timings]
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="model reruns measured (default 30)")
    parser.add_argument("--steps", type=int, default=20, help="slider steps in the browser")
    parser.add_argument("--no-browser", action="store_true", help="skip the browser part")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    args = parser.parse_args(argv)

    from sdplanner.web import Explorer, make_server, serve_in_thread

    scen = Path(tempfile.mkdtemp(prefix="bench-scenarios-"))
    shutil.copy(ROOT / "scenarios" / "baseline.yaml", scen / "baseline.yaml")
    t0 = time.perf_counter()
    explorer = Explorer(scen, engine="batch")
    startup = time.perf_counter() - t0
    server = make_server(explorer, "127.0.0.1", 0, quiet=True)
    thread = serve_in_thread(server)
    try:
        load0 = os.getloadavg()[0]
        srv = server_side(server, args.runs)
        eng_wall, eng_cpu = engine_cpu(explorer, args.runs)
        e2e = "skipped (--no-browser)" if args.no_browser else browser_side(server, args.steps)
        load1 = os.getloadavg()[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        shutil.rmtree(scen, ignore_errors=True)

    within = (
        sum(v <= BUDGET_MS for v in e2e) / len(e2e) * 100 if isinstance(e2e, list) and e2e else None
    )
    from fractions import Fraction

    from sdplanner.model import load_model

    info = load_model()
    step = Fraction(info.time_step).limit_denominator(1000)
    setting = (
        f"{len(info.regions)} regions, {info.initial_time:g}-{info.final_time:g},"
        f" TIME STEP {step} year"
    )
    lines = [
        HEADING,
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python benchmarks/bench_explorer.py"
        f" --runs {args.runs} --steps {args.steps}` on {platform.machine()}, {os.cpu_count()}"
        f" cores (shared; load average {load0:.1f} before, {load1:.1f} after), Python"
        f" {platform.python_version()}, engine batch, {setting}.",
        "",
        f"- Explorer start-up (model, engine, baseline run): {startup:.1f} s",
        f"- Model rerun for one change (server, 3 levers changed): {stats(srv['model'])}",
        f"- The engine's run alone, wall time: {stats(eng_wall)}; CPU time: {stats(eng_cpu)}"
        " (the CPU time is about what the run takes on an idle core)",
        f"- `POST /api/run` handling on the server: {stats(srv['server'])}",
        f"- `POST /api/run` round trip seen by a client: {stats(srv['round_trip'])}",
        f"- Region or indicator switch (cached runs), round trip: {stats(srv['cached'])}",
    ]
    if isinstance(e2e, list) and e2e:
        lines.append(
            f"- Browser, slider step to painted chart (headless Chromium): {stats(e2e)};"
            f" {within:.0f} % within {BUDGET_MS:.0f} ms"
        )
    else:
        lines.append(f"- Browser, slider step to painted chart: {e2e}")
    lines.append("")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write_section(HEADING, text)
        print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
