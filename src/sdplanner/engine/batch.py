"""The fast engine: the ``.mdl``'s equations as compiled code over a batch of samples.

`BatchEngine` reads the model through PySD's parser (`sdplanner.engine.equations`), generates
one kernel per run signature (which outputs, which constants vary per sample, which are time
series), and runs it on arrays with a sample axis. Two kernels are generated from the same
equation trees:

* the C kernel (`sdplanner.engine.ckernel`), compiled with the system's C compiler: the
  default where one works. Every variable is within ``max(1e-9 * |x|, 1e-12)`` of PySD's
  (observed: about 1e-14 relative); powers, EXP and LN use glibc's vector math.
* the NumPy kernel (`sdplanner.engine.codegen`): PySD's operations in PySD's order, equal to
  PySD to the last bit on the machines tested. Used where no C compiler works, or on request
  (``kernel="numpy"`` or ``SDPLANNER_KERNEL=numpy``).

Both integrate as PySD does (Euler, outputs recorded before the step, saved every SAVEPER).

In the NumPy kernel, per-step work is kept small: constants and quantities that depend on
time only are evaluated before the loop, equal subexpressions once, values that depend on
time and the samples but not on the stocks only when their time tables change, and variables
that no stock needs at the saved times only; the loop writes into preallocated work arrays.
The C kernel's layout is described in `sdplanner.engine.ckernel`. Only the requested
variables are stored, at the saved times. Large batches run in chunks of
`BatchEngine.chunk_size` samples so that the working arrays stay in the processor's cache.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from sdplanner.engine import ckernel, toolchain
from sdplanner.engine.base import ParamValue, SimulationOutput, TimeSeries
from sdplanner.engine.codegen import Kernel, generate_kernel
from sdplanner.engine.equations import evaluate_constant, read_model
from sdplanner.engine.ir import CONTROL_NAMES, ModelIR
from sdplanner.engine.timegrid import TimeGrid
from sdplanner.errors import EngineError, ModelError
from sdplanner.model import ModelInfo, load_model
from sdplanner.resources import default_model_path

__all__ = ["KERNELS", "BatchEngine", "TimeGrid", "kernel_label", "resolve_kernel"]

#: Kernel choices: "auto" (C where a compiler works, else NumPy), "c", "numpy".
KERNELS = ("auto", "c", "numpy")

#: Default number of samples evaluated together (arrays of 14 x 1024 floats, 112 KiB).
DEFAULT_CHUNK = 1024
_KERNEL_CACHE_SIZE = 64


def resolve_kernel(kernel: str | None = None) -> str:
    """Tell which kernel the batch engine runs here: ``"c"`` or ``"numpy"``.

    Parameters
    ----------
    kernel : {"auto", "c", "numpy"}, optional
        The choice; ``$SDPLANNER_KERNEL`` or ``"auto"`` when omitted. ``"auto"`` is the C
        kernel when a C compiler works here (`sdplanner.engine.toolchain.compiler`).

    Returns
    -------
    str
        ``"c"`` or ``"numpy"``.

    Raises
    ------
    EngineError
        For an unknown choice, or ``"c"`` where no C compiler works.
    """
    choice = kernel or os.environ.get("SDPLANNER_KERNEL") or "auto"
    if choice not in KERNELS:
        where = "kernel" if kernel else "SDPLANNER_KERNEL"
        raise EngineError(f"{where}: expected one of {', '.join(KERNELS)}, found {choice!r}")
    if choice == "numpy":
        return "numpy"
    info = toolchain.compiler()
    if info is None:
        if choice == "c":
            raise EngineError(
                "kernel 'c': no working C compiler here (set $SDPLANNER_CC or $CC, or use the"
                " NumPy kernel: SDPLANNER_KERNEL=numpy)"
            )
        return "numpy"
    return "c"


def kernel_label(kernel: str | None = None) -> str:
    """Describe the batch engine's kernel for manifests and benchmarks.

    Parameters
    ----------
    kernel : {"auto", "c", "numpy"}, optional
        As in `resolve_kernel`.

    Returns
    -------
    str
        E.g. ``"c (cc (Debian 12.2.0-14) 12.2.0, x86-64-v4, libmvec)"`` or ``"numpy"``.
    """
    if resolve_kernel(kernel) == "numpy":
        return "numpy"
    return toolchain.compiler().label


class BatchEngine:
    """Run the model as generated NumPy code, one run or a batch of thousands.

    Create one with `BatchEngine.from_mdl`. Parameters are PySD Python names of constants;
    values are in the constant's units (see `sdplanner.engine.base`). Runs may be made from
    several threads at once: they share nothing but the caches of generated code and time grids.

    Parameters
    ----------
    ir : sdplanner.engine.ir.ModelIR
        The parsed model.
    info : sdplanner.model.ModelInfo
        The model's description (regions, variables, units).
    chunk_size : int, optional
        Samples evaluated together; large batches run chunk by chunk.
    kernel : {"auto", "c", "numpy"}, optional
        Which generated code runs the equations (see `resolve_kernel`); ``$SDPLANNER_KERNEL``
        or ``"auto"`` when omitted.

    Attributes
    ----------
    name : str
        ``"batch"``.
    kernel : str
        ``"c"`` or ``"numpy"``: the kernel in use.
    info : sdplanner.model.ModelInfo
        The model's description.
    ir : sdplanner.engine.ir.ModelIR
        The parsed equations.
    chunk_size : int
        Samples evaluated together.
    """

    name = "batch"

    def __init__(
        self,
        ir: ModelIR,
        info: ModelInfo,
        *,
        chunk_size: int = DEFAULT_CHUNK,
        kernel: str | None = None,
    ) -> None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise EngineError(f"chunk_size: expected a positive integer, found {chunk_size!r}")
        self.kernel = resolve_kernel(kernel)
        self.ir = ir
        self.info = info
        self.chunk_size = chunk_size
        self._R = ir.n_regions
        self._defaults: dict[str, object] = {}
        for py in ir.constants:
            var = ir.variables[py]
            if var.region:
                self._defaults[py] = np.asarray(var.value, dtype=float).reshape(self._R, 1)
            else:
                self._defaults[py] = var.value
        self._kernels: dict[tuple, Kernel] = {}
        self._constant_values = {k: ir.variables[k].value for k in ir.constants}
        self._default_controls: dict[str, float] | None = None
        self._grids: dict[tuple, TimeGrid] = {}

    @classmethod
    def from_mdl(
        cls,
        path: str | os.PathLike | None = None,
        *,
        chunk_size: int = DEFAULT_CHUNK,
        kernel: str | None = None,
    ) -> BatchEngine:
        """Build the engine for a Vensim model.

        Parameters
        ----------
        path : path-like, optional
            The ``.mdl``; the model shipped with the package when omitted.
        chunk_size : int, optional
            Samples evaluated together.
        kernel : {"auto", "c", "numpy"}, optional
            Which generated code runs the equations (see `resolve_kernel`).

        Returns
        -------
        BatchEngine
            The engine.

        Raises
        ------
        ModelError
            When the file is missing or unreadable, or uses a construct the batch engine
            does not support (the message names the construct and the variable).
        """
        src = Path(path) if path is not None else default_model_path()
        ir = read_model(src)
        info = load_model(src)
        ours = set(ir.visible)
        theirs = set(info.variables) - {"time"}
        if ours != theirs:
            extra = sorted(ours ^ theirs)[:5]
            raise ModelError(
                f"{src}: the parsed equations and PySD's model name different variables"
                f" (e.g. {extra})"
            )
        return cls(ir, info, chunk_size=chunk_size, kernel=kernel)

    # ---- public API ---------------------------------------------------------------------
    def run(
        self,
        params: Mapping[str, ParamValue] | None = None,
        *,
        final_time: float | None = None,
        time_step: float | None = None,
        variables: Sequence[str] | None = None,
    ) -> SimulationOutput:
        """Run the model once.

        Parameters
        ----------
        params : mapping, optional
            ``py_name -> value`` overrides of constants, in each constant's units: a float,
            an array of shape ``(n_regions,)`` (per-region constants only) or a `TimeSeries`.
        final_time : float, optional
            Last simulated year; the model's FINAL TIME when omitted.
        time_step : float, optional
            Euler step (year); the model's TIME STEP when omitted.
        variables : sequence of str, optional
            Python names to return; every variable but ``"time"`` when omitted (``"time"``
            may be asked for: the saved years).

        Returns
        -------
        SimulationOutput
            Trajectories saved every SAVEPER years: ``(n_times,)`` or
            ``(n_times, n_regions)`` per variable, in the variable's units.

        Raises
        ------
        EngineError
            For an unknown parameter or variable, or a value of the wrong shape.
        """
        out = self.run_batch(
            params, None, final_time=final_time, time_step=time_step, variables=variables
        )
        return SimulationOutput(
            times=out.times, values={k: v[0] for k, v in out.values.items()}, engine=self.name
        )

    def run_batch(
        self,
        params: Mapping[str, ParamValue] | None = None,
        batch: Mapping[str, np.ndarray] | None = None,
        *,
        final_time: float | None = None,
        time_step: float | None = None,
        variables: Sequence[str] | None = None,
    ) -> SimulationOutput:
        """Run the model for a batch of samples.

        Parameters
        ----------
        params : mapping, optional
            Overrides common to every sample, as in `run`.
        batch : mapping, optional
            ``py_name -> array`` of per-sample values: shape ``(n,)`` (one value per sample;
            repeated over the regions of a per-region constant) or ``(n, n_regions)``
            (per-region constants only). Every array has the same ``n``; without ``batch``
            there is one sample.
        final_time : float, optional
            Last simulated year; the model's FINAL TIME when omitted.
        time_step : float, optional
            Euler step (year); the model's TIME STEP when omitted.
        variables : sequence of str, optional
            Python names to return; every variable but ``"time"`` when omitted. Each returned
            variable takes ``n * n_times * n_regions * 8`` bytes, so ask for what you need.

        Returns
        -------
        SimulationOutput
            ``(n, n_times)`` or ``(n, n_times, n_regions)`` per variable, in the variable's
            units; ``times`` are the saved years.

        Raises
        ------
        EngineError
            For an unknown parameter or variable, a parameter given both in ``params`` and
            ``batch``, a value of the wrong shape, or per-sample arrays of different lengths.
        """
        names = self._output_names(variables)
        common = self._common_params(params)
        per_sample, n = self._batch_params(batch, common)
        control = self._controls(common, final_time, time_step)
        grid = self._grid(control)
        series = frozenset(k for k, v in common.items() if isinstance(v, TimeSeries))
        outputs = tuple(x for x in names if x != "time")
        kernel = self._kernel(outputs, frozenset(per_sample), series)

        prepared: dict[str, object] = dict(self._defaults)
        for key, value in common.items():
            prepared[key] = (
                self._series_table(key, value, grid) if isinstance(value, TimeSeries) else value
            )
        prepared["initial_time"] = grid.initial_time
        prepared["final_time"] = grid.final_time
        prepared["time_step"] = grid.time_step
        prepared["saveper"] = grid.saveper

        n_saves = len(grid.save_idx)
        values: dict[str, np.ndarray] = {}
        for name in outputs:
            shape = (n, n_saves, self._R) if self.ir.variables[name].region else (n, n_saves)
            values[name] = np.empty(shape, dtype=float)
        last = int(grid.save_idx[-1]) if n_saves else -1
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for lo in range(0, n, self.chunk_size):
                hi = min(n, lo + self.chunk_size)
                chunk = dict(prepared)
                for key, arr in per_sample.items():
                    chunk[key] = np.ascontiguousarray(arr[:, lo:hi])
                kernel.function(
                    chunk,
                    {k: v[lo:hi] for k, v in values.items()},
                    grid.times,
                    grid.saves,
                    grid.save_idx,
                    last,
                    hi - lo,
                )
        result = {}
        for name in names:
            if name == "time":
                result[name] = np.broadcast_to(grid.saved_times, (n, n_saves)).copy()
            else:
                result[name] = values[name]
        return SimulationOutput(times=grid.saved_times.copy(), values=result, engine=self.name)

    def kernel_source(
        self,
        variables: Sequence[str] | None = None,
        batched: Sequence[str] = (),
        series: Sequence[str] = (),
    ) -> str:
        """Return the generated Python source for a run signature (for inspection).

        Parameters
        ----------
        variables : sequence of str, optional
            Outputs; every variable when omitted.
        batched : sequence of str, optional
            Constants that vary per sample.
        series : sequence of str, optional
            Constants given as time series.

        Returns
        -------
        str
            The source of the kernel function (C or Python, as `kernel`).
        """
        outputs = tuple(x for x in self._output_names(variables) if x != "time")
        return self._kernel(outputs, frozenset(batched), frozenset(series)).source

    # ---- validation and preparation -----------------------------------------------------
    def _controls(self, common, final_time, time_step) -> dict[str, float]:
        """Compute the run's control values: the overrides, else the ``.mdl``'s expressions.

        Control variables are computed as PySD computes them, from the constants (with the
        run's overrides) and from each other (``SAVEPER = TIME STEP`` follows a changed
        TIME STEP). The orders of SMOOTH N and DELAY N written as expressions must come out
        as they did when the model was read.
        """
        simple = final_time is None and time_step is None and not (set(common) & self.ir.timing)
        if simple and self._default_controls is not None:
            return self._default_controls
        values: dict[str, object] = dict(self._constant_values)
        for key, value in common.items():
            if isinstance(value, TimeSeries):
                value = value.at(float(self.ir.variables["initial_time"].value))
            values[key] = value if np.ndim(value) == 0 else np.asarray(value).reshape(-1)
        overrides = {"final_time": final_time, "time_step": time_step}
        for name in CONTROL_NAMES:
            if overrides.get(name) is not None:
                values[name] = overrides[name]
                continue
            try:
                values[name] = evaluate_constant(
                    self.ir.variables, self.ir.variables[name].expr, values
                )
            except ModelError as exc:
                raise EngineError(f"{self.ir.variables[name].name}: {exc}") from None
        for where, expr, order, truncate in self.ir.orders:
            try:
                value = float(
                    evaluate_constant(self.ir.variables, expr, values, time=values["initial_time"])
                )
            except (ModelError, TypeError, ValueError) as exc:
                raise EngineError(f"{where}: {exc}") from None
            got = int(value) if truncate and math.isfinite(value) else value
            if got != order:
                raise EngineError(
                    f"{where}: these settings give order {value:g}, but the batch engine"
                    f" generated the model's code for order {order} (read from the .mdl's"
                    " values); run it with PySD (--engine pysd)"
                )
        out = {name: values[name] for name in CONTROL_NAMES}
        if simple:
            self._default_controls = out
        return out

    def _grid(self, control: dict) -> TimeGrid:
        """Return the run's time grid, built once per set of control values."""
        key = tuple((name, type(control[name]), control[name]) for name in CONTROL_NAMES)
        grid = self._grids.get(key)
        if grid is None:
            grid = TimeGrid.build(*(control[name] for name in CONTROL_NAMES))
            if len(self._grids) >= _KERNEL_CACHE_SIZE:
                self._grids.pop(next(iter(self._grids)))
            self._grids[key] = grid
        return grid

    def _output_names(self, variables) -> list[str]:
        if variables is None:  # as PysdEngine: every variable but "time" (the saved times)
            return [
                v
                for v in self.info.variables
                if v != "time" and self.ir.variables[v].kind != "lookup"
            ]
        if isinstance(variables, str):
            raise EngineError(
                f"variables: expected a sequence of Python names, found the string {variables!r}"
            )
        names: list[str] = []
        for name in variables:
            var = self.ir.variables.get(name)
            if name != "time" and (var is None or var.hidden):
                raise EngineError(f"variable {name}: the model has no variable of that name")
            if var is not None and var.kind == "lookup":
                raise EngineError(
                    f"variable {name}: a lookup table (a function of its argument), not a"
                    " value of the run"
                )
            if name not in names:
                names.append(name)
        return names

    def _check_constant(self, name) -> None:
        var = self.ir.variables.get(name)
        if var is None:
            raise EngineError(f"parameter {name}: the model has no constant of that name")
        if var.kind == "control":
            raise EngineError(
                f"parameter {name}: a control variable; use the final_time= or time_step="
                " arguments instead"
            )
        if var.kind != "constant" or var.hidden:
            raise EngineError(
                f"parameter {name}: expected a constant, found a {var.kind} (only constants"
                " can be overridden)"
            )
        if name in self.ir.fixed:
            raise EngineError(f"parameter {name}: {self.ir.fixed[name]} cannot be overridden")

    def _common_params(self, params) -> dict[str, object]:
        out: dict[str, object] = {}
        for name, value in dict(params or {}).items():
            self._check_constant(name)
            region = self.ir.variables[name].region
            if isinstance(value, TimeSeries):
                out[name] = self._check_series(name, value, region)
                continue
            arr = _as_float_array(name, value)
            if arr.ndim == 0:
                out[name] = np.full((self._R, 1), float(arr)) if region else float(arr)
            elif region and arr.shape == (self._R,):
                out[name] = arr.reshape(self._R, 1).copy()
            else:
                expected = f"a float or {self._R} regional values" if region else "a float"
                raise EngineError(f"parameter {name}: expected {expected}, found shape {arr.shape}")
        return out

    def _check_series(self, name, value: TimeSeries, region: bool) -> TimeSeries:
        years = _as_float_array(name, value.years)
        values = _as_float_array(name, value.values)
        if years.ndim != 1 or years.size == 0:
            raise EngineError(
                f"parameter {name}: expected time-series years of shape (k,), found {years.shape}"
            )
        if not np.all(np.isfinite(years)) or np.any(np.diff(years) <= 0):
            raise EngineError(
                f"parameter {name}: expected strictly increasing finite time-series years"
            )
        ok = values.shape == (years.size,) or (region and values.shape == (years.size, self._R))
        if not ok:
            expected = f"({years.size},)" + (f" or ({years.size}, {self._R})" if region else "")
            raise EngineError(
                f"parameter {name}: expected time-series values of shape {expected},"
                f" found {values.shape}"
            )
        return TimeSeries(years, values)

    def _series_table(self, name, value: TimeSeries, grid: TimeGrid) -> np.ndarray:
        """Interpolate a time series at every time point, held constant beyond the ends.

        PySD interpolates a scalar series with ``numpy.interp`` (the same numbers). For a
        per-region series it uses ``xarray.DataArray.interp``, equal inside the years given but
        NaN outside them; here the end values are held, as `TimeSeries` documents.
        """
        times = np.asarray(grid.times, dtype=float)
        if value.values.ndim == 1:
            table = np.interp(times, value.years, value.values)
            if self.ir.variables[name].region:
                return np.broadcast_to(table[:, None, None], (times.size, self._R, 1)).copy()
            return table.reshape(-1, 1, 1)
        cols = [np.interp(times, value.years, value.values[:, j]) for j in range(self._R)]
        return np.stack(cols, axis=1)[:, :, None]

    def _batch_params(self, batch, common) -> tuple[dict[str, np.ndarray], int]:
        out: dict[str, np.ndarray] = {}
        n = None
        for name, value in dict(batch or {}).items():
            self._check_constant(name)
            if name in common:
                raise EngineError(
                    f"parameter {name}: given both as a common and a per-sample value"
                )
            if isinstance(value, TimeSeries):
                raise EngineError(
                    f"parameter {name}: time series cannot vary per sample; pass it in params"
                )
            if name in self.ir.timing:
                raise EngineError(
                    f"parameter {name}: the time settings or the order of a SMOOTH N or DELAY N"
                    " are computed from it, so it cannot vary per sample; pass it in params"
                )
            arr = _as_float_array(name, value)
            region = self.ir.variables[name].region
            if arr.ndim == 0 or arr.shape[0] == 0:
                raise EngineError(
                    f"parameter {name}: expected per-sample values of shape (n,), found {arr.shape}"
                )
            if n is None:
                n = arr.shape[0]
            elif arr.shape[0] != n:
                raise EngineError(
                    f"parameter {name}: expected {n} samples like the other per-sample"
                    f" parameters, found {arr.shape[0]}"
                )
            if arr.ndim == 1:
                out[name] = (
                    np.broadcast_to(arr, (self._R, n)).copy()
                    if region
                    else arr.reshape(1, n).copy()
                )
            elif region and arr.shape == (n, self._R):
                out[name] = np.ascontiguousarray(arr.T)
            else:
                expected = f"(n,) or (n, {self._R})" if region else "(n,)"
                raise EngineError(
                    f"parameter {name}: expected per-sample values of shape {expected},"
                    f" found {arr.shape}"
                )
        return out, (n if n is not None else 1)

    def _kernel(self, outputs, batched, series) -> Kernel:
        key = (outputs, batched, series)
        kernel = self._kernels.get(key)
        if kernel is None:
            if self.kernel == "c":
                try:
                    kernel = ckernel.generate_c_kernel(self.ir, outputs, batched, series)
                except toolchain.CompilerUnavailable:  # warned once: NumPy from now on
                    self.kernel = "numpy"
            if kernel is None:
                kernel = generate_kernel(self.ir, outputs, batched, series)
            if len(self._kernels) >= _KERNEL_CACHE_SIZE:
                self._kernels.pop(next(iter(self._kernels)))
            self._kernels[key] = kernel
        return kernel


def _as_float_array(name, value) -> np.ndarray:
    if isinstance(value, (str, bytes)):
        raise EngineError(f"parameter {name}: expected numbers, found {value!r}")
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise EngineError(f"parameter {name}: expected numbers, found {value!r}") from None
