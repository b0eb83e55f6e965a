"""Execution backends for chunked batch work: in-process, local processes and Dask.

Every backend is a context manager with the same interface (after EMA Workbench's
evaluators): ``with make_executor(...) as ex: for result in ex.map(job, payloads): ...``.
``map`` returns results in the order of the payloads, whatever order the workers finish in,
and keeps only a bounded number of payloads in flight, so memory stays bounded however many
chunks there are.

A *job* is what every worker needs once (the model, the scenario's parameters ...): an
object with a ``key`` (unique per job), ``build()`` (make the per-worker state, e.g. the
engine) and ``run(state, payload)``. Each worker process calls ``build()`` once per job and
keeps the result (`run_task`), so an engine is built once per worker, not once per chunk.
The same chunk gives the same bits on every backend because every backend runs the same
``job.run`` on the same payload.

Worker processes die with the process that started them (`die_with_parent`): a command
killed with SIGKILL leaves no worker behind.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from sdplanner.errors import SdplannerError

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DaskExecutor",
    "Executor",
    "ExecutorError",
    "InProcessExecutor",
    "Job",
    "ProcessExecutor",
    "die_with_parent",
    "make_executor",
    "pid_alive",
    "run_task",
]

#: Seconds to wait for a Dask scheduler before giving up (the CLI promises an error in 10 s).
DEFAULT_CONNECT_TIMEOUT = 5.0

_STATE: dict[str, Any] = {}
_STATE_LOCK = threading.Lock()
_MAX_STATES = 4


class ExecutorError(SdplannerError):
    """An execution backend cannot be started or reached."""


class Job(Protocol):
    """What a backend runs: built once per worker, then run on each payload."""

    key: str

    def build(self) -> Any:
        """Return the per-worker state (for example an engine)."""
        ...

    def run(self, state: Any, payload: Any) -> Any:
        """Process one payload with the state from `build`."""
        ...


def run_task(job: Job, payload: Any) -> Any:
    """Run one payload of a job in this process, building the job's state once.

    Parameters
    ----------
    job : Job
        The job; its state is cached in this process under ``job.key``.
    payload : object
        One chunk of work.

    Returns
    -------
    object
        ``job.run(state, payload)``.
    """
    with _STATE_LOCK:
        state = _STATE.get(job.key)
        if state is None:
            while len(_STATE) >= _MAX_STATES:
                _STATE.pop(next(iter(_STATE)))
            state = _STATE[job.key] = job.build()
    return job.run(state, payload)


#: Seconds between two checks that the parent process is alive.
_WATCH_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Make this (worker) process end when process ``parent`` ends.

    On Linux the kernel sends SIGKILL when the parent dies (``prctl(PR_SET_PDEATHSIG)``);
    everywhere, a daemon thread checks every half second that ``parent`` is still alive and
    ends this process (and its own parent, when that is not ``parent``: a Dask nanny) when
    it is not.

    Parameters
    ----------
    parent : int
        Process id of the command that started the workers.
    """
    if os.getppid() == parent:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if not pid_alive(parent):
        os._exit(1)

    def watch() -> None:
        while pid_alive(parent):
            time.sleep(_WATCH_SECONDS)
        nanny = os.getppid()
        if nanny not in (parent, 1):
            try:
                os.kill(nanny, signal.SIGKILL)
            except OSError:
                pass
        os._exit(1)

    threading.Thread(target=watch, name="sdplanner-parent-watch", daemon=True).start()


def pid_alive(pid: int) -> bool:
    """Tell whether a process exists (a process of another user counts as alive).

    Parameters
    ----------
    pid : int
        Process id.

    Returns
    -------
    bool
        False when no process has that id.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _state_count() -> int:
    """Return how many job states this process holds (for tests)."""
    return len(_STATE)


class Executor(ABC):
    """Base of the backends: a context manager that maps a job over payloads, in order.

    Attributes
    ----------
    name : str
        Short description, e.g. ``"processes(2)"``; recorded in manifests.
    workers : int
        Number of workers running chunks at the same time.
    """

    name = "executor"
    workers = 1

    def __enter__(self) -> Executor:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:  # noqa: B027 - optional hook
        """Start the backend (processes, cluster connection)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Stop what `start` started."""

    @abstractmethod
    def _submit(self, job: Job, payload: Any) -> Any:
        """Start one payload; return a handle for `_result`."""

    @abstractmethod
    def _result(self, handle: Any) -> Any:
        """Wait for a handle and return its result (re-raising a worker's error)."""

    def _prepare(self, job: Job) -> Job:
        """Return the job as sent to the workers (Dask scatters it once)."""
        return job

    def map(self, job: Job, payloads: Iterable[Any], window: int | None = None) -> Iterator[Any]:
        """Run a job over payloads and yield the results in payload order.

        Parameters
        ----------
        job : Job
            What to run.
        payloads : iterable
            Chunks of work; consumed lazily, at most ``window`` ahead of the results.
        window : int, optional
            Payloads in flight; twice the number of workers when omitted.

        Yields
        ------
        object
            ``job.run(state, payload)`` for each payload, in order.
        """
        window = max(1, window or 2 * self.workers)
        sent = self._prepare(job)
        pending: deque = deque()
        it = iter(payloads)
        done = False
        while True:
            while not done and len(pending) < window:
                try:
                    payload = next(it)
                except StopIteration:
                    done = True
                    break
                pending.append(self._submit(sent, payload))
            if not pending:
                return
            yield self._result(pending.popleft())


class InProcessExecutor(Executor):
    """Run every chunk in the calling process, one after the other (the default)."""

    name = "in-process"
    workers = 1

    def _submit(self, job: Job, payload: Any) -> Callable[[], Any]:
        return lambda: run_task(job, payload)

    def _result(self, handle: Callable[[], Any]) -> Any:
        return handle()


class ProcessExecutor(Executor):
    """Run chunks in local worker processes (`concurrent.futures.ProcessPoolExecutor`).

    Workers are started with the ``spawn`` method (safe whatever threads the parent runs)
    and build the job's state once each.

    Parameters
    ----------
    processes : int
        Number of worker processes (at least 1).
    """

    def __init__(self, processes: int) -> None:
        if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
            raise ExecutorError(f"--processes: expected an integer >= 1, found {processes!r}")
        self.workers = processes
        self.name = f"processes({processes})"
        self._pool = None

    def start(self) -> None:
        """Start the worker processes."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=die_with_parent,
            initargs=(os.getpid(),),
        )

    def close(self) -> None:
        """Stop the worker processes, cancelling chunks not started."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _submit(self, job: Job, payload: Any):
        if self._pool is None:
            raise ExecutorError("processes: the executor is not started (use it in a with block)")
        return self._pool.submit(run_task, job, payload)

    def _result(self, handle) -> Any:
        from concurrent.futures.process import BrokenProcessPool

        try:
            return handle.result()
        except BrokenProcessPool as exc:
            raise ExecutorError(f"processes: a worker process died ({exc})") from None


class DaskExecutor(Executor):
    """Run chunks on a Dask cluster: an existing scheduler, or a `LocalCluster` started here.

    Parameters
    ----------
    address : str, optional
        Scheduler address (``tcp://HOST:PORT``) of a running cluster.
    local_workers : int, optional
        Start a local cluster with this many single-threaded worker processes instead.
    connect_timeout : float, optional
        Seconds to wait for the scheduler (s).

    Notes
    -----
    Workers must be able to import ``sdplanner``. The job (with the model's text) is sent
    to every worker once; a worker that lacks the model file at the same path writes the
    text to its cache and builds the engine from it.
    """

    def __init__(
        self,
        address: str | None = None,
        local_workers: int | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        if (address is None) == (local_workers is None):
            raise ExecutorError("dask: expected either a scheduler address or a worker count")
        if local_workers is not None and (
            isinstance(local_workers, bool)
            or not isinstance(local_workers, int)
            or local_workers < 1
        ):
            raise ExecutorError(f"--dask-local: expected an integer >= 1, found {local_workers!r}")
        if address is not None:
            if not isinstance(address, str) or not address.strip():
                raise ExecutorError(f"--scheduler: expected tcp://HOST:PORT, found {address!r}")
            address = address.strip()
            if "://" not in address:
                address = f"tcp://{address}"
            if not address.startswith(("tcp://", "tls://", "inproc://", "ucx://", "ws://")):
                raise ExecutorError(f"--scheduler: expected tcp://HOST:PORT, found {address!r}")
        self.address = address
        self.local_workers = local_workers
        self.connect_timeout = float(connect_timeout)
        self.workers = local_workers or 1
        self.name = f"dask({address})" if address else f"dask-local({local_workers})"
        self._client = None
        self._cluster = None
        self._scattered: dict[str, Any] = {}

    def start(self) -> None:
        """Connect to the scheduler (or start the local cluster) and count its workers.

        Raises
        ------
        ExecutorError
            When no scheduler answers within ``connect_timeout`` seconds, or the cluster has
            no worker within a further ``connect_timeout`` seconds.
        """
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ExecutorError(
                "dask: the 'distributed' package is not installed (pip install 'sdplanner[dask]')"
            ) from None
        if self.local_workers is not None:
            self._cluster = LocalCluster(
                n_workers=self.local_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                host="127.0.0.1",
                # the scheduler still serves HTTP; on a free port, not 8787 (which another
                # cluster or program may hold: Dask would warn and move)
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            )
            self._client = Client(self._cluster)
            self._client.run(die_with_parent, os.getpid())  # local workers die with us
        else:
            self._probe()
            try:
                self._client = Client(
                    self.address, timeout=f"{self.connect_timeout}s", set_as_default=False
                )
            except Exception as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc)
                raise ExecutorError(
                    f"--scheduler {self.address}: no Dask scheduler answered within"
                    f" {self.connect_timeout:g} s ({reason})"
                ) from None
            try:
                self._client.wait_for_workers(1, timeout=self.connect_timeout)
            except (OSError, TimeoutError):
                self._client.close()
                self._client = None
                raise ExecutorError(
                    f"--scheduler {self.address}: the scheduler has no worker"
                    f" (waited {self.connect_timeout:g} s)"
                ) from None
        self.workers = max(1, len(self._client.scheduler_info(n_workers=-1)["workers"]))

    def _probe(self) -> None:
        """Fail fast when nothing listens at a ``tcp://`` address (refused or unreachable)."""
        import socket
        from urllib.parse import urlsplit

        if not self.address.startswith("tcp://"):
            return
        try:
            parts = urlsplit(self.address)
            host, port = parts.hostname, parts.port
        except ValueError:
            host, port = None, None
        if not host or port is None:
            raise ExecutorError(f"--scheduler: expected tcp://HOST:PORT, found {self.address!r}")
        try:
            with socket.create_connection((host, port), timeout=self.connect_timeout):
                pass
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise ExecutorError(
                f"--scheduler {self.address}: no Dask scheduler answered ({reason})"
            ) from None

    def close(self) -> None:
        """Disconnect, and stop the local cluster if this executor started one."""
        self._scattered.clear()
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def _prepare(self, job: Job) -> Any:
        if self._client is None:
            raise ExecutorError("dask: the executor is not started (use it in a with block)")
        if job.key not in self._scattered:
            self._scattered[job.key] = self._client.scatter(job, broadcast=True, hash=False)
        return self._scattered[job.key]

    def _submit(self, job: Any, payload: Any):
        return self._client.submit(run_task, job, payload, pure=False)

    def _result(self, handle) -> Any:
        return handle.result()


def make_executor(
    processes: int | None = None,
    scheduler: str | None = None,
    dask_local: int | None = None,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
) -> Executor:
    """Return the backend the command-line options ask for (not yet started).

    Parameters
    ----------
    processes : int, optional
        ``--processes N``: local worker processes.
    scheduler : str, optional
        ``--scheduler tcp://HOST:PORT``: an existing Dask cluster.
    dask_local : int, optional
        ``--dask-local N``: a Dask `LocalCluster` with N workers.
    connect_timeout : float, optional
        Seconds to wait for a Dask scheduler (s).

    Returns
    -------
    Executor
        In-process when no option is given.

    Raises
    ------
    ExecutorError
        When more than one backend is asked for, or a count is not a positive integer.
    """
    chosen = [
        flag
        for flag, value in (
            ("--processes", processes),
            ("--scheduler", scheduler),
            ("--dask-local", dask_local),
        )
        if value is not None
    ]
    if len(chosen) > 1:
        raise ExecutorError(
            f"expected at most one of --processes, --scheduler, --dask-local,"
            f" found {' and '.join(chosen)}"
        )
    if processes is not None:
        return ProcessExecutor(processes)
    if scheduler is not None:
        return DaskExecutor(address=scheduler, connect_timeout=connect_timeout)
    if dask_local is not None:
        return DaskExecutor(local_workers=dask_local, connect_timeout=connect_timeout)
    return InProcessExecutor()


def default_workers() -> int:
    """Return the number of processors this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1
