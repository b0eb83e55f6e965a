"""The explorer end to end in a real headless browser (Debian's chromium and chromium-driver).

Load the page, move a lever, check the plotted series moves the expected way, save the
scenario, run it with the CLI and compare with the numbers the page showed; download the CSV;
type a value out of range and read the server's message on the page.

Without a browser these tests skip, saying how to install one; with ``CI=true`` they fail
instead of skipping. Numbers from the page and from ``sdplanner run`` come from the same
engine and parameters, so they agree to a few ulps (rel 1e-12); the table under the chart
shows 4 significant digits, so it is compared at rel 5e-4.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sdplanner.cli import main
from tests.shipped import SPEC

from .conftest import SCENARIOS

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)
HOW_TO_INSTALL = (
    "install them with `sudo apt-get install -y chromium chromium-driver` (Debian) and"
    " `pip install -e '.[browser]'` (selenium)"
)
LEVER = "infrastructure_investment"
REGION = "Wulingshan"
INDICATOR = "infrastructure_capital"
DISPLAY = SPEC.display(INDICATOR)


def _require_browser() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        message = f"browser tests need {', '.join(missing)}: {HOW_TO_INSTALL}"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"CI=true, so the browser tests must run, but {message}")
        pytest.skip(message)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from sdplanner.web import Explorer, make_server, serve_in_thread

    scen = tmp_path_factory.mktemp("scenarios")
    shutil.copy(SCENARIOS / "baseline.yaml", scen / "baseline.yaml")
    # the .mdl defaults (no parameter file), on the page and in the CLI run below
    srv = make_server(Explorer(scen, engine="batch", params=False), "127.0.0.1", 0, quiet=True)
    thread = serve_in_thread(srv)
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tmp_path_factory.mktemp("chromium-profile")
    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    yield driver, downloads
    driver.quit()


def wait_for(predicate, what: str, timeout: float = 20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def revision(driver) -> int:
    return int(driver.find_element("id", "chart").get_attribute("data-revision") or 0)


def settle(driver, after: int) -> int:
    """Wait until the chart is redrawn after revision ``after`` and no request is pending."""

    def done():
        chart = driver.find_element("id", "chart")
        return revision(driver) > after and chart.get_attribute("data-busy") == "0"

    wait_for(done, "the chart to redraw")
    return revision(driver)


def drawn(driver, role: str) -> tuple[list[int], list[float], float]:
    """Years, values and the last point's y pixel of a drawn series."""
    path = driver.find_element("css selector", f"#chart path.series[data-role='{role}']")
    years = json.loads(path.get_attribute("data-years"))
    values = json.loads(path.get_attribute("data-values"))
    last_y = float(re.findall(r"[ML]([-\d.]+),([-\d.]+)", path.get_attribute("d"))[-1][1])
    return years, values, last_y


def summary_cells(driver, role: str) -> list[str]:
    row = driver.find_element("css selector", f"#summary tr[data-role='{role}']")
    return [td.text for td in row.find_elements("css selector", "td")[1:]]


def wait_file(folder: Path, name: str) -> Path:
    def ready():
        path = folder / name
        partial = list(folder.glob("*.crdownload"))
        return path if path.is_file() and not partial and path.stat().st_size > 0 else None

    return wait_for(ready, f"the download {name}")


def test_page_lever_save_run_and_download(server, browser, tmp_path):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    driver, downloads = browser
    driver.get(server.url)
    rev = settle(driver, 0)
    assert driver.find_element("id", "error").get_attribute("hidden") is not None
    legends = [e.text for e in driver.find_elements("css selector", "#levers legend")]
    assert legends[0].startswith("4.1 ") and any(leg.startswith("4.5 ") for leg in legends)

    Select(driver.find_element("id", "region")).select_by_value(REGION)
    rev = settle(driver, rev)
    Select(driver.find_element("id", "indicator")).select_by_value(INDICATOR)
    rev = settle(driver, rev)
    years, base_values, base_y = drawn(driver, "baseline")
    _, edited_values, edited_y = drawn(driver, "edited")
    assert edited_values == base_values and edited_y == pytest.approx(base_y)

    # move the lever: click the slider (it jumps to the middle), then a few steps right
    slider = driver.find_element("id", f"strength-{LEVER}")
    slider.click()
    slider.send_keys(Keys.ARROW_RIGHT * 5)
    value = float(slider.get_attribute("value"))
    assert 0.05 < value <= 0.2
    wait_for(
        lambda: driver.execute_script(
            "const s = window.sdplannerExplorer;"
            f" return !s.inflight && !s.dirty && s.last && s.last.levers['{LEVER}'] &&"
            f" s.last.levers['{LEVER}'].strength === {value};"
        ),
        "the run with the last slider value",
    )
    settle(driver, revision(driver) - 1)
    _, edited_values, edited_y = drawn(driver, "edited")
    _, base_after, base_after_y = drawn(driver, "baseline")
    assert base_after == base_values
    # more infrastructure investment from 2015 on: more infrastructure capital, drawn higher
    # (SVG y grows downwards) on the same axes as the baseline
    assert edited_values[-1] > base_values[-1] * 1.2
    assert edited_y < base_after_y - 10
    assert edited_values[: 2015 - 2010] == base_values[: 2015 - 2010]
    difference = summary_cells(driver, "difference")
    assert all(cell.startswith("+") for cell in difference[:-1])

    # save the scenario under a name of our own, then run it with the CLI
    name = driver.find_element("id", "name")
    name.clear()
    name.send_keys("browser test")
    driver.find_element("id", "save").click()
    saved = wait_file(downloads, "browser-test.yaml")
    text = saved.read_text()
    assert driver.find_element("id", "yaml").text.strip() == text.strip()
    assert f"strength: {value}" in text
    out = tmp_path / "run"
    assert "--no-params" in text
    assert main(["run", str(saved), "--out", str(out), "--engine", "batch", "--no-params"]) == 0
    df = pd.read_csv(out / "results.csv")
    cli = df[(df.region == REGION) & (df.variable == INDICATOR)].sort_values("year")
    assert list(cli.year) == years
    np.testing.assert_allclose(cli.value, edited_values, rtol=1e-12)
    shown = summary_cells(driver, "edited")
    table_years = [int(th.text) for th in driver.find_elements("css selector", "#summary th")[1:-1]]
    for year, cell in zip(table_years, shown, strict=False):
        cli_value = float(cli.value[cli.year == year].iloc[0])
        # shown in display units (billion yuan of 2010 prices), three significant figures
        assert parse_shown(cell) == pytest.approx(cli_value * DISPLAY.scale, rel=5e-3)

    # the CSV download holds the same numbers
    driver.find_element("id", "download-csv").click()
    csv_file = wait_file(downloads, "results-browser-test.csv")
    frame = pd.read_csv(csv_file)
    assert set(frame.scenario) == {"baseline", "browser test"}
    got = frame[
        (frame.scenario == "browser test")
        & (frame.region == REGION)
        & (frame.variable == INDICATOR)
    ].sort_values("year")
    np.testing.assert_allclose(got.value, cli.value, rtol=1e-12)

    # a value out of range typed into the box: the server's message appears on the page
    box = driver.find_element("id", f"value-{LEVER}")
    box.clear()
    box.send_keys("5", Keys.ENTER)
    error = driver.find_element("id", "error")
    wait_for(lambda: error.is_displayed(), "the error message")
    assert "expected a strength (share of GDP) in 0..0.2, found 5" in error.text
    box.clear()
    box.send_keys("0.05", Keys.ENTER)
    wait_for(lambda: not error.is_displayed(), "the error message to go away")
    timings = driver.execute_script("return window.sdplannerExplorer.timings")
    assert timings and all(t["input_to_paint_ms"] < 10_000 for t in timings)


def parse_shown(text: str) -> float:
    """Read a number as the page formats it (thousands separators: 12,345)."""
    return float(text.strip().lstrip("+").replace(",", "").replace("\u2212", "-"))


def test_page_draws_observed_points_by_role(server, browser):
    from selenium.webdriver.support.ui import Select

    driver, _ = browser
    driver.get(server.url)
    rev = settle(driver, 0)
    Select(driver.find_element("id", "indicator")).select_by_value("poverty_incidence")
    settle(driver, rev)
    points = driver.find_elements("css selector", "#chart circle.observed")
    # 24.4 % of 2012 for the 14 regions; no calibration in use: hollow, "not used in the fit"
    assert [p.get_attribute("data-year") for p in points] == ["2012"]
    assert "not-fitted" in points[0].get_attribute("class").split()
    assert driver.execute_script(
        "return getComputedStyle(document.querySelector('#chart circle.observed')).fill"
    ) in ("rgb(255, 255, 255)", "#fff", "#ffffff")
    legend = driver.find_elements("css selector", "#legend li[data-role]")
    assert [li.text for li in legend] == ["observed, not used in the fit"]
