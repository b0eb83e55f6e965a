"""The time points of a run, stepped exactly as PySD steps them (`TimeGrid`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sdplanner.errors import EngineError

__all__ = ["MAX_POINTS", "TimeGrid"]

#: Most time points one run may have.
MAX_POINTS = 10_000_000


@dataclass(frozen=True)
class TimeGrid:
    """The time points of a run, as PySD steps them.

    Attributes
    ----------
    times : list of float
        Every time point (year): ``t0, t0 + dt, (t0 + dt) + dt, ...`` accumulated in floating
        point as PySD does, up to the last point before ``final_time`` (within ``dt * 1e-5``)
        plus one.
    saves : list of bool
        Whether each point is saved (``(t - t0) % saveper`` within ``dt * 1e-5`` of 0).
    save_idx : numpy.ndarray
        Indices of the saved points.
    saved_times : numpy.ndarray
        Saved times rounded as PySD rounds its output index (year).
    initial_time, final_time, time_step, saveper : float
        Control values of the run (year).
    """

    times: list
    saves: list
    save_idx: np.ndarray
    saved_times: np.ndarray
    initial_time: float
    final_time: float
    time_step: float
    saveper: float

    @classmethod
    def build(cls, initial_time, final_time, time_step, saveper) -> TimeGrid:
        """Step time from ``initial_time`` to ``final_time`` exactly as PySD does.

        Parameters
        ----------
        initial_time, final_time : float
            First and last time (year).
        time_step : float
            Euler step (year), positive.
        saveper : float
            Saving interval (year), positive.

        Returns
        -------
        TimeGrid
            The points and which of them are saved.

        Raises
        ------
        EngineError
            When a value is not finite, the step or saving interval is not positive, the final
            time precedes the initial time, or the run would have too many points.
        """
        for label, value in (
            ("INITIAL TIME", initial_time),
            ("final_time", final_time),
            ("time_step", time_step),
            ("SAVEPER", saveper),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise EngineError(f"{label}: expected a number of years, found {value!r}")
            if not math.isfinite(value):
                raise EngineError(f"{label}: expected a finite number of years, found {value!r}")
        if time_step <= 0:
            raise EngineError(f"time_step: expected a positive number of years, found {time_step}")
        if saveper <= 0:
            raise EngineError(f"SAVEPER: expected a positive number of years, found {saveper}")
        if final_time < initial_time:
            raise EngineError(
                f"final_time: expected a year not before INITIAL TIME {initial_time},"
                f" found {final_time}"
            )
        if (final_time - initial_time) / time_step + 2 > MAX_POINTS:
            raise EngineError(
                f"time_step: {time_step} gives more than {MAX_POINTS} time points from"
                f" {initial_time} to {final_time}"
            )
        prec = time_step * 1e-5  # PySD's Time.rprec
        # PySD adds the time step to the time, one step after the other, while
        # t + prec < final_time: numpy's add.accumulate adds in that same order
        n = int((final_time - initial_time) / time_step) + 3
        while True:
            steps = np.full(n, float(time_step))
            steps[0] = initial_time
            acc = np.add.accumulate(steps)
            over = np.flatnonzero(~(acc + prec < final_time))
            if over.size:
                break
            n *= 2
        acc = acc[: over[0] + 1]
        delay = acc - initial_time
        # numpy.remainder is Python's float %: the sign of the divisor
        saves_arr = (np.remainder(delay, saveper) < prec) | (np.remainder(-delay, saveper) < prec)
        if isinstance(initial_time, int) and isinstance(time_step, int):
            # whole numbers stay Python ints in PySD's time, as here
            times = list(range(initial_time, initial_time + time_step * acc.size, time_step))
        else:
            times = acc.tolist()
            times[0] = initial_time  # PySD starts at INITIAL TIME as it is (an int stays one)
        save_idx = np.flatnonzero(saves_arr)
        decimals = -int(np.log10(prec))
        saved_times = np.round(acc[save_idx], decimals)
        saves = saves_arr.tolist()
        return cls(
            times, saves, save_idx, saved_times, initial_time, final_time, time_step, saveper
        )
