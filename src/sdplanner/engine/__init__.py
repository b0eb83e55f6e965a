"""Simulation engines: PySD (the reference) and the fast batch engine generated from the .mdl."""

from sdplanner.engine.base import Engine, ParamValue, SimulationOutput, TimeSeries

__all__ = ["Engine", "ParamValue", "SimulationOutput", "TimeSeries", "get_engine"]


def get_engine(name: str = "batch", model_path=None) -> Engine:
    """Return an engine by name for a model.

    Parameters
    ----------
    name : {"batch", "pysd"}
        ``"batch"`` (the default) is the fast engine generated from the ``.mdl`` (C kernel,
        or NumPy where no C compiler works); ``"pysd"`` the reference it is tested against.
    model_path : path-like, optional
        The ``.mdl``; the shipped model when omitted.

    Returns
    -------
    Engine
        An object with ``run(params, ...)`` and ``run_batch(params, batch, ...)``.
    """
    from sdplanner.errors import EngineError

    if name == "pysd":
        from sdplanner.engine.pysd_runner import PysdEngine

        return PysdEngine(model_path)
    if name == "batch":
        from sdplanner.engine.batch import BatchEngine

        return BatchEngine.from_mdl(model_path)
    raise EngineError(f"--engine: expected 'pysd' or 'batch', found {name!r}")
