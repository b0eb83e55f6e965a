"""Batched model evaluations for sequential solvers: the calibration's rendezvous.

`scipy.optimize.least_squares` is a sequential solver: it calls its residual function with
one point at a time and waits. A calibration runs many such solvers at once (the starts of a
fit, the two sides of every profile, the refits of a bootstrap), and the batch engine is fast
only on many parameter vectors per call. `run_tasks` runs each solver in a thread; their
evaluations meet at a `Rendezvous` and run as one batch per step, so the number of engine
calls is that of the longest solver, not their sum.

Why not `sdplanner.executors`: an executor maps independent payloads to workers and returns
their results; here the tasks are not independent payloads but suspended solvers that each
need many evaluations in lockstep, in one process, sharing one engine. The two do different
jobs; this module is the one place that gathers solver callbacks into batches.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["Rendezvous", "run_tasks"]


class Rendezvous:
    """Run sequential solvers in threads and gather their model evaluations into batches.

    Each task calls `evaluate` with its own ``(k, p)`` points; once every unfinished task
    waits, all pending points are run as one batch (in task order, so the results do not
    depend on thread timing) and handed back.
    """

    def __init__(self, simulate: Callable[[np.ndarray], np.ndarray], n_tasks: int) -> None:
        self._simulate = simulate
        self._cond = threading.Condition()
        self._pending: dict[int, np.ndarray] = {}
        self._results: dict[int, np.ndarray] = {}
        self._active = n_tasks
        self._error: BaseException | None = None

    def evaluate(self, task: int, u: np.ndarray) -> np.ndarray:
        """Hand in a task's points and wait for their predictions.

        Parameters
        ----------
        task : int
            The task's index.
        u : numpy.ndarray
            Unit coordinates, shape ``(k, p)``.

        Returns
        -------
        numpy.ndarray
            The simulator's output for those points, ``(k, m)``.
        """
        with self._cond:
            if self._error is not None:
                raise self._error
            self._pending[task] = np.atleast_2d(u)
            self._run_if_ready()
            while task not in self._results:
                if self._error is not None:
                    raise self._error
                self._cond.wait()
            return self._results.pop(task)

    def finish(self) -> None:
        """Mark a task done, so the others no longer wait for it."""
        with self._cond:
            self._active -= 1
            self._run_if_ready()

    def _run_if_ready(self) -> None:
        if not self._pending or len(self._pending) < self._active:
            return
        ids = sorted(self._pending)
        sizes = [self._pending[i].shape[0] for i in ids]
        u = np.concatenate([self._pending[i] for i in ids])
        self._pending.clear()
        try:
            pred = self._simulate(u)
        except BaseException as exc:  # handed to every waiting task
            self._error = exc
            self._cond.notify_all()
            return
        start = 0
        for i, size in zip(ids, sizes, strict=True):
            self._results[i] = pred[start : start + size]
            start += size
        self._cond.notify_all()


def run_tasks(simulate, tasks: Sequence[Callable], max_threads: int = 64) -> list:
    """Run ``task(evaluate)`` callables in threads with batched evaluations.

    Parameters
    ----------
    simulate : callable
        ``(n, p)`` unit coordinates -> ``(n, m)`` predictions (one engine call).
    tasks : sequence of callable
        Each takes ``evaluate(u)`` and returns its result.
    max_threads : int
        Tasks run at once (later ones wait for the next round).

    Returns
    -------
    list
        The tasks' results, in task order.
    """
    results: list = [None] * len(tasks)
    for chunk_start in range(0, len(tasks), max_threads):
        chunk = list(range(chunk_start, min(len(tasks), chunk_start + max_threads)))
        rv = Rendezvous(simulate, len(chunk))
        errors: list[BaseException] = []

        def work(i: int, rv=rv, errors=errors) -> None:
            try:
                results[i] = tasks[i](lambda u: rv.evaluate(i, u))
            except BaseException as exc:
                errors.append(exc)
            finally:
                rv.finish()

        threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in chunk]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
    return results
