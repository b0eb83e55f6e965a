"""The tidy results table, the 14-region aggregate, the manifest and atomic writers.

``results.csv`` has one row per scenario, region, variable and year, with the columns
``scenario, region, variable, year, value, unit``. Which variables, and how each aggregates
over the regions, is the model spec's (`sdplanner.spec`): rows with the aggregate's label
(``All 14 regions`` for the shipped model) hold sums for levels, and for rates the mean
weighted by the population (or quantity) the rate is of. A variable without the region
subscript has one row per year with an empty region. A run whose outputs turn non-finite is
an error (`NonFiniteOutputError`, exit code 1) naming the first variable, region and year:
such a table is never written, and an aggregate never turns NaN into a number.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from sdplanner.engine.base import SimulationOutput
from sdplanner.errors import NonFiniteOutputError, OutputError, quote
from sdplanner.model import ModelInfo, file_sha256
from sdplanner.output_set import current_umask
from sdplanner.spec import OutputSpec
from sdplanner.validation import FORMULA_LEADS

__all__ = [
    "RESULT_COLUMNS",
    "aggregate",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_finite",
    "csv_safe",
    "prepare_output_dir",
    "required_variables",
    "to_frame",
    "write_csv",
    "write_manifest",
]

#: Columns of every results table.
RESULT_COLUMNS = ["scenario", "region", "variable", "year", "value", "unit"]


def required_variables(outputs: Iterable[OutputSpec]) -> list[str]:
    """Return the model variables an engine must return to build the outputs.

    Parameters
    ----------
    outputs : iterable of OutputSpec
        The outputs wanted (e.g. ``model.spec.outputs``).

    Returns
    -------
    list of str
        PySD names, outputs first, then weights, without repeats.
    """
    names: list[str] = []
    for out in outputs:
        for name in (out.name, *out.weight):
            if name not in names:
                names.append(name)
    return names


def aggregate(values: Mapping[str, np.ndarray], out: OutputSpec) -> np.ndarray:
    """Return the aggregate of an output over the dimension: the sum, or the weighted mean.

    Parameters
    ----------
    values : mapping
        ``py_name -> array`` with the region axis last (any leading axes: samples, times).
    out : OutputSpec
        The output, its aggregate rule and weights (``aggregate`` must not be ``"none"``):
        ``"sum"``, or ``"mean"`` weighted by the sum of the weight variables (equal weights
        when it names none).

    Returns
    -------
    numpy.ndarray
        The values without the region axis, in the output's units; 0 where the weights
        sum to exactly 0; NaN where a value or weight is NaN or the weights sum to less
        than 0 (never a number made up for garbage).
    """
    data = values[out.name]
    if out.aggregate == "sum":
        return data.sum(axis=-1)
    weight = sum(values[w] for w in out.weight) if out.weight else np.ones_like(data)
    total = weight.sum(axis=-1)
    num = (data * weight).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(total > 0, num / np.where(total > 0, total, 1.0), np.nan)
    return np.where((total == 0) & np.isfinite(num), 0.0, mean)


def to_frame(
    output: SimulationOutput,
    model: ModelInfo,
    scenario: str,
    outputs: Iterable[OutputSpec] | None = None,
) -> pd.DataFrame:
    """Turn one run's trajectories into the tidy results table.

    Parameters
    ----------
    output : SimulationOutput
        One run (arrays of shape ``(n_times, n_regions)``).
    model : ModelInfo
        The model (its spec's dimension and outputs, its units).
    scenario : str
        Value of the ``scenario`` column.
    outputs : iterable of OutputSpec, optional
        Variables to write; the spec's outputs by default.

    Returns
    -------
    pandas.DataFrame
        Columns ``scenario, region, variable, year, value, unit``; one row per region
        (each element of the dimension plus the aggregate, for outputs that aggregate),
        variable and saved year; values in the model's units.
    """
    spec = model.spec
    outputs = spec.outputs if outputs is None else outputs
    times = np.asarray(output.times, dtype=float)
    whole = np.rint(times)
    # whole years as integers (SAVEPER = 1); a finer SAVEPER keeps its fractional times
    years = whole.astype(int) if np.allclose(times, whole, rtol=0, atol=1e-9) else times
    labels = list(spec.dimension.labels) if spec.dimension is not None else []
    n_t = len(years)
    tables: dict[str, tuple[np.ndarray, list[str]]] = {}
    for out in outputs:
        data = output.values[out.name]
        regions = labels if data.ndim > 1 else [""]
        if out.aggregate != "none" and spec.dimension is not None:
            data = np.concatenate([data, aggregate(output.values, out)[:, None]], axis=1)
            regions = [*labels, spec.dimension.aggregate]
        tables[out.name] = (data.reshape(n_t, -1), regions)
    check_finite(tables, output.times, scenario)
    frames = []
    for out in outputs:
        data, regions = tables[out.name]
        frames.append(
            pd.DataFrame(
                {
                    "scenario": scenario,
                    "region": np.repeat(regions, n_t),
                    "variable": out.name,
                    "year": np.tile(years, len(regions)),
                    "value": data.T.reshape(-1),
                    "unit": model.units(out.name),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[RESULT_COLUMNS]


def check_finite(
    tables: Mapping[str, tuple[np.ndarray, Sequence[str]]],
    times: np.ndarray,
    scenario: str,
) -> None:
    """Refuse a run whose outputs turned non-finite, naming the first variable, region, year.

    Parameters
    ----------
    tables : mapping
        Variable -> ``(values, regions)``: values of shape ``(n_times, n_columns)`` (the
        aggregate may be a column) and the name of each column.
    times : numpy.ndarray
        The saved times (year).
    scenario : str
        The scenario's name, for the message.

    Raises
    ------
    NonFiniteOutputError
        At the earliest time with a NaN or infinite value: the first such variable (in the
        order given) and region, the year and the value. Exit code 1.
    """
    first = None
    for name, (data, regions) in tables.items():
        bad = ~np.isfinite(np.asarray(data, dtype=float))
        if bad.any():
            t = int(np.flatnonzero(bad.any(axis=1))[0])
            if first is None or t < first[0]:
                r = int(np.flatnonzero(bad[t])[0])
                first = (t, name, regions[r], float(data[t][bad[t]][0]))
    if first is None:
        return
    t, name, region, value = first
    where = f" in {region}" if region else ""
    raise NonFiniteOutputError(
        f"scenario {quote(scenario)}: {name}{where} turned non-finite ({value})"
        f" in {float(times[t]):g}; the inputs drive the model outside its valid range"
    )


def prepare_output_dir(path: str | os.PathLike) -> Path:
    """Create the output directory if needed and check it can be written.

    Parameters
    ----------
    path : path-like
        The directory.

    Returns
    -------
    pathlib.Path
        The directory.

    Raises
    ------
    OutputError
        When it is a file, cannot be created, or is not writable.
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: expected an output directory, found a file")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=out, prefix=".probe-", delete=True)
        probe.close()
    except OSError as exc:
        raise OutputError(f"{out}: output directory cannot be written ({exc.strerror})") from None
    return out


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        # mkstemp makes the file 0600; give it the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write text to a file atomically (a temporary file in the same folder, then rename).

    Parameters
    ----------
    path : path-like
        Target file.
    text : str
        Content (UTF-8).
    """
    _atomic_write(Path(path), lambda p: p.write_text(text, encoding="utf-8"))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write bytes to a file atomically (a temporary file in the same folder, then rename).

    Parameters
    ----------
    path : path-like
        Target file.
    data : bytes
        Content (an image, for instance).
    """
    _atomic_write(Path(path), lambda p: p.write_bytes(data))


def _repr_float(value: float) -> str:
    # Shortest string that round-trips (pandas' default keeps ~16 digits and loses the last).
    return repr(float(value))


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _safe_cell(value: object) -> object:
    if not isinstance(value, str):
        return value
    text = _CONTROL.sub("\ufffd", value)
    return "'" + text if text.startswith(FORMULA_LEADS) else text


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a table whose text cells are safe to write as CSV and open in a spreadsheet.

    Names are checked where they are read (`sdplanner.validation.check_identifier`); this
    is the last line for free text: control characters (NUL, carriage return, line feed)
    become U+FFFD, and a cell starting with one of ``= + - @`` gets a leading ``'`` so no
    spreadsheet reads it as a formula.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table.

    Returns
    -------
    pandas.DataFrame
        The same table when nothing needed a change, else a changed copy.
    """
    out = frame
    for column in frame.columns:
        values = frame[column]
        if values.dtype != object and not pd.api.types.is_string_dtype(values):
            continue
        safe = values.map(_safe_cell)
        if not safe.equals(values):
            out = out.copy() if out is frame else out
            out[column] = safe
    return out


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a table as CSV atomically, floats at full precision (round-trip repr).

    Text cells go through `csv_safe` (no control character, no formula-leading cell).

    Parameters
    ----------
    frame : pandas.DataFrame
        The table.
    path : path-like
        Target file.
    """
    safe = csv_safe(frame)
    _atomic_write(Path(path), lambda p: safe.to_csv(p, index=False, float_format=_repr_float))


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("sdplanner", "pysd", "numpy", "pandas", "scipy", "xarray", "matplotlib", "pyyaml"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


def write_manifest(
    out_dir: str | os.PathLike,
    *,
    model: ModelInfo,
    command: str,
    inputs: Mapping[str, Iterable[str | os.PathLike]] | None = None,
    engine: str | None = None,
    seed: int | None = None,
    extra: Mapping[str, object] | None = None,
) -> Path:
    """Write ``manifest.json``: model hash, input and output files with hashes, versions, seed.

    Write it last: it lists every file already in ``out_dir`` (``output_files``: relative
    path -> SHA-256), so a set of outputs can be checked against its manifest.

    Parameters
    ----------
    out_dir : path-like
        Output directory.
    model : ModelInfo
        The model run.
    command : str
        The command (e.g. ``"run"``).
    inputs : mapping, optional
        Role (``"scenario"``, ``"parameters"`` ...) -> files used; each is recorded with its
        SHA-256.
    engine : str, optional
        Engine name; for ``"batch"`` the manifest also records which kernel ran (C, with the
        compiler and instruction set, or NumPy), since the C kernel's last bits depend on them.
    seed : int, optional
        Random seed (None for deterministic commands).
    extra : mapping, optional
        More JSON-serializable facts.

    Returns
    -------
    pathlib.Path
        The manifest file.
    """
    files = {
        role: [{"path": str(Path(p)), "sha256": file_sha256(p)} for p in paths]
        for role, paths in (inputs or {}).items()
    }
    manifest = {
        "command": command,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {"path": str(model.path), "sha256": model.sha256},
        "inputs": files,
        "engine": engine,
        "seed": seed,
        "versions": _versions(),
        "argv": sys.argv,
    }
    if engine == "batch":
        from sdplanner.engine.batch import kernel_label

        manifest["kernel"] = kernel_label()
    if extra:
        manifest.update(extra)
    folder = Path(out_dir)
    manifest["output_files"] = {
        p.relative_to(folder).as_posix(): file_sha256(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }
    path = folder / "manifest.json"
    atomic_write_text(path, json.dumps(manifest, indent=2, default=str) + "\n")
    return path
