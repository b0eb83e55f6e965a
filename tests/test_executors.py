"""Execution backends: same bits on every backend, engines built once, a real Dask cluster."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
import uuid

import pandas as pd
import pytest

from sdplanner.cli import main
from sdplanner.executors import (
    DaskExecutor,
    ExecutorError,
    InProcessExecutor,
    ProcessExecutor,
    make_executor,
    run_task,
)
from sdplanner.results import write_csv
from sdplanner.run import prepare_run
from sdplanner.uncertainty import execute_ensemble, parse_uncertainty, plan_ensemble

from .conftest import ROOT, SCENARIOS

SPEC = {
    "parameters": {
        "urbanization_elasticity_to_jobs": {"distribution": "uniform", "min": 0.2, "max": 0.8},
        "initial_migrant_share_of_rural_workforce": {
            "distribution": "uniform",
            "min": 0.8,
            "max": 1.2,
            "relative": True,
            "per_region": True,
        },
        "outside_wage_growth": {
            "distribution": "triangular",
            "min": 0.02,
            "mode": 0.04,
            "max": 0.07,
        },
    }
}


@dataclasses.dataclass(frozen=True)
class CountingJob:
    """A job whose state records the process and build it came from."""

    key: str
    delay: float = 0.0

    def build(self):
        return (os.getpid(), uuid.uuid4().hex)

    def run(self, state, payload):
        if self.delay:
            time.sleep(self.delay * (payload % 3))
        return (*state, payload)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _plan(model, samples: int, chunk_size: int):
    """A short ensemble of SPEC on the baseline (2010-2015, .mdl values, two outputs)."""
    inputs = prepare_run(SCENARIOS / "baseline.yaml", params=False)
    inputs = dataclasses.replace(
        inputs, scenario=dataclasses.replace(inputs.scenario, final_time=2015)
    )
    spec = parse_uncertainty(SPEC, model, "spec")
    return plan_ensemble(
        inputs,
        spec,
        samples=samples,
        seed=21,
        chunk_size=chunk_size,
        outputs="urbanization_rate,rural_income_per_capita",
    )


@pytest.fixture(scope="module")
def plan(model):
    return _plan(model, samples=96, chunk_size=16)


@pytest.fixture(scope="module")
def in_process(plan):
    return execute_ensemble(plan, InProcessExecutor())


@pytest.fixture(scope="module")
def dask_cluster():
    """A real ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    base = [sys.executable, "-m", "dask"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": ROOT, "env": env}
    # Even with --no-dashboard the scheduler serves its HTTP routes (/health, /metrics), on
    # :8787 unless told otherwise; a free port keeps 8787 for the LocalCluster of the
    # --dask-local tests, whose scheduler warns (an error here) when 8787 is taken.
    scheduler = [*base, "scheduler", "--host", "127.0.0.1", "--port", str(port)]
    procs = [
        subprocess.Popen(
            [*scheduler, "--no-dashboard", "--dashboard-address", "127.0.0.1:0"], **quiet
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or procs[0].poll() is not None:
                    pytest.fail("the dask scheduler did not start")
                time.sleep(0.2)
        for i in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        *base,
                        "worker",
                        address,
                        "--nthreads",
                        "1",
                        "--no-nanny",
                        "--host",
                        "127.0.0.1",
                        "--no-dashboard",
                        "--name",
                        f"w{i}",
                    ],
                    **quiet,
                )
            )
        from distributed import Client

        with Client(address, timeout="20s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        # Workers hold nothing worth a graceful close; the scheduler gets SIGTERM.
        for p in procs[1:]:
            p.kill()
        procs[0].terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def test_in_process_builds_the_state_once():
    job = CountingJob(uuid.uuid4().hex)
    results = list(InProcessExecutor().map(job, range(10)))
    assert [r[2] for r in results] == list(range(10))
    assert len({r[1] for r in results}) == 1
    assert run_task(job, 99)[1] == results[0][1]


def test_processes_keep_order_build_once_and_match_in_process(plan, in_process):
    job = CountingJob(uuid.uuid4().hex, delay=0.05)
    with ProcessExecutor(2) as ex:
        results = list(ex.map(job, range(24)))
        ensemble = execute_ensemble(plan, ex)
    assert [r[2] for r in results] == list(range(24))
    builds = {}
    for pid, token, _ in results:
        builds.setdefault(pid, set()).add(token)
    assert all(len(tokens) == 1 for tokens in builds.values())
    assert os.getpid() not in builds
    pd.testing.assert_frame_equal(ensemble.frame, in_process.frame, check_exact=True)
    assert ensemble.backend == "processes(2)"


def test_real_dask_cluster_is_bit_identical(plan, in_process, dask_cluster):
    with DaskExecutor(address=dask_cluster) as ex:
        assert ex.workers == 2
        result = execute_ensemble(plan, ex)
        job = CountingJob(uuid.uuid4().hex)
        tokens = {r[1] for r in ex.map(job, range(12))}
    pd.testing.assert_frame_equal(result.frame, in_process.frame, check_exact=True)
    assert len(tokens) <= 2  # one state per worker process, not one per chunk


@pytest.fixture(scope="module")
def dask_local():
    """Skip the ``--dask-local`` tests only when Dask's distributed scheduler is missing."""
    # dask.distributed re-raises a missing 'distributed' as a plain ImportError, which
    # importorskip only treats as "not installed" when told so.
    pytest.importorskip("dask.distributed", exc_type=ImportError)


@pytest.fixture(scope="module")
def local_plan(model):
    """A few hundred samples in 8 chunks, so both local workers get several."""
    return _plan(model, samples=320, chunk_size=40)


def test_dask_local_cluster_is_bit_identical(dask_local, local_plan, tmp_path, capfd):
    reference = execute_ensemble(local_plan, InProcessExecutor())
    with make_executor(dask_local=2) as ex:
        assert isinstance(ex, DaskExecutor)
        assert ex.workers == 2
        cluster = ex._cluster
        result = execute_ensemble(local_plan, ex)
        job = CountingJob(uuid.uuid4().hex)
        tokens = {(r[0], r[1]) for r in ex.map(job, range(12))}
    assert cluster.status.name == "closed"
    assert ex._client is None
    assert result.backend == "dask-local(2)"
    assert len(tokens) <= 2  # one state per worker process, not one per chunk
    assert os.getpid() not in {pid for pid, _ in tokens}
    # filterwarnings=error covers this process; the worker processes write theirs to the
    # inherited stderr.
    assert "Warning" not in capfd.readouterr().err
    write_csv(reference.frame, tmp_path / "in-process.csv")
    write_csv(result.frame, tmp_path / "dask-local.csv")
    assert (tmp_path / "dask-local.csv").read_bytes() == (tmp_path / "in-process.csv").read_bytes()
    pd.testing.assert_frame_equal(result.frame, reference.frame, check_exact=True)
    assert result.dropped == reference.dropped == 0


def test_dask_local_through_the_command_line(dask_local, tmp_path, capsys):
    unc = tmp_path / "u.yaml"
    import yaml

    unc.write_text(yaml.safe_dump(SPEC))
    scen = tmp_path / "s.yaml"
    scen.write_text(f"name: s\nextends: {SCENARIOS / 'baseline.yaml'}\nfinal_time: 2015\n")
    args = [
        "ensemble",
        str(scen),
        "--uncertainty",
        str(unc),
        "--samples",
        "320",
        "--seed",
        "7",
        "--chunk-size",
        "40",
        "--quiet",
        "--no-plots",
        "--no-params",
        "--outputs",
        "urbanization_rate,rural_income_per_capita",
    ]
    # The reference runs in this process; the Dask one in a fresh interpreter, as a user
    # would start it (the console script is `sdplanner.cli:entry_point`), with -W error as
    # pytest's filterwarnings (spawned worker processes inherit it through sys.warnoptions).
    code = main([*args, "--out", str(tmp_path / "ref")])
    assert code == 0, capsys.readouterr().err
    proc = subprocess.run(
        [
            sys.executable,
            "-W",
            "error",
            "-c",
            "from sdplanner.cli import entry_point; entry_point()",
            *args,
            "--out",
            str(tmp_path / "dask"),
            "--dask-local",
            "2",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr, proc.stderr
    ref = (tmp_path / "ref" / "percentiles.csv").read_bytes()
    assert (tmp_path / "dask" / "percentiles.csv").read_bytes() == ref
    manifest = json.loads((tmp_path / "dask" / "manifest.json").read_text())
    assert manifest["backend"] == "dask-local(2)"
    assert manifest["chunk_size"] == 40
    assert manifest["samples"] == 320


def test_dask_through_the_command_line(tmp_path, capsys, dask_cluster):
    out = tmp_path / "out"
    unc = tmp_path / "u.yaml"
    import yaml

    unc.write_text(yaml.safe_dump(SPEC))
    scen = tmp_path / "s.yaml"
    scen.write_text(f"name: s\nextends: {SCENARIOS / 'baseline.yaml'}\nfinal_time: 2012\n")
    code = main(
        [
            "ensemble",
            str(scen),
            "--uncertainty",
            str(unc),
            "--samples",
            "20",
            "--seed",
            "1",
            "--out",
            str(out),
            "--scheduler",
            dask_cluster,
            "--quiet",
            "--no-plots",
            "--no-params",
            "--outputs",
            "urbanization_rate",
            "--percentiles",
            "streaming",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (out / "percentiles.csv").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["percentile_method"] == "streaming"
    assert manifest["streaming"]["bins"] == 4096
    assert manifest["backend"].startswith("dask(tcp://127.0.0.1")


def test_unreachable_scheduler_is_a_one_line_error_within_10_s(tmp_path, capsys):
    out = tmp_path / "out"
    port = _free_port()
    started = time.monotonic()
    code = main(
        [
            "ensemble",
            str(SCENARIOS / "baseline.yaml"),
            "--uncertainty",
            str(ROOT / "uncertainty" / "default.yaml"),
            "--samples",
            "10",
            "--seed",
            "1",
            "--out",
            str(out),
            "--scheduler",
            f"tcp://127.0.0.1:{port}",
            "--quiet",
        ]
    )
    elapsed = time.monotonic() - started
    captured = capsys.readouterr()
    assert code == 2
    assert elapsed < 10
    assert captured.err.count("\n") == 1
    assert "no Dask scheduler answered" in captured.err
    assert f"127.0.0.1:{port}" in captured.err
    assert not out.exists()


def test_backend_option_errors(capsys):
    with pytest.raises(ExecutorError, match="at most one"):
        make_executor(processes=2, dask_local=2)
    with pytest.raises(ExecutorError, match="--processes: expected an integer >= 1"):
        make_executor(processes=0)
    with pytest.raises(ExecutorError, match="--scheduler: expected tcp://HOST:PORT"):
        make_executor(scheduler="http://x:1")
    with pytest.raises(SystemExit) as info:
        main(
            [
                "ensemble",
                "s.yaml",
                "--uncertainty",
                "u.yaml",
                "--samples",
                "4",
                "--out",
                "o",
                "--processes",
                "2",
                "--dask-local",
                "2",
            ]
        )
    assert info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
