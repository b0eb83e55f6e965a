"""Load the Vensim model and describe it: regions, stocks, constants, units, comments.

The ``.mdl`` is the single source of the equations. PySD translates it (cached by the
file's SHA-256) and this module reads what the translation knows about every variable.
A model file is untrusted: `sdplanner.model_guard` vets its text before PySD translates it
and the Python PySD wrote before it is imported. Nothing here plots or writes outputs.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sdplanner.cache import cache_root, entry_for_rebuild, seal, sha256_of, verified
from sdplanner.errors import ModelError, quote, show_path
from sdplanner.model_guard import audit_generated, check_model_file
from sdplanner.resources import default_model_path

if TYPE_CHECKING:
    from sdplanner.spec import ModelSpec

__all__ = [
    "ModelInfo",
    "VariableInfo",
    "file_sha256",
    "load_model",
    "translated_model_path",
]


@dataclass(frozen=True)
class VariableInfo:
    """What the model says about one variable.

    Attributes
    ----------
    name : str
        Name as written in the ``.mdl`` (e.g. ``"Rural Population"``).
    py_name : str
        PySD's Python name (e.g. ``"rural_population"``); the name used in every output.
    units : str
        Units as written in the ``.mdl`` (e.g. ``"person/year"``).
    comment : str
        The one-line comment of the ``.mdl``.
    kind : str
        ``"stock"``, ``"constant"``, ``"lookup"`` or ``"auxiliary"``.
    subscripted : bool
        True when the variable has subscripts (the model's region dimension).
    limits : tuple
        The range the ``.mdl`` declares after the units (``~ Dmnl [0,1]``): ``(lower,
        upper)`` in the variable's units, None for an open end (``?``) or no range.
    """

    name: str
    py_name: str
    units: str
    comment: str
    kind: str
    subscripted: bool
    limits: tuple[float | None, float | None] = (None, None)


@dataclass(frozen=True)
class ModelInfo:
    """A loaded model: its file, hash, regions and variables.

    Attributes
    ----------
    path : pathlib.Path
        The ``.mdl`` file.
    sha256 : str
        SHA-256 of the file's bytes (hex).
    variables : dict
        ``py_name -> VariableInfo`` for every variable of the model.
    constants : dict
        ``py_name -> default value``: a float (year, person, yuan ... as its units say) or a
        float array of shape ``(n_regions,)`` in element order.
    initial_time, final_time, time_step, saveper : float
        Control values of the ``.mdl`` (years).
    subscripts : dict
        Subscript range name -> its element names, in the ``.mdl``'s order.
    given_spec : ModelSpec or None
        A spec to use instead of the one beside the ``.mdl`` (for models built in code).
    """

    path: Path
    sha256: str
    variables: Mapping[str, VariableInfo]
    constants: Mapping[str, float | np.ndarray]
    initial_time: float
    final_time: float
    time_step: float
    saveper: float
    subscripts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    given_spec: ModelSpec | None = field(default=None, repr=False)
    _by_name: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def stocks(self) -> list[str]:
        """Python names of the stocks (levels)."""
        return [v.py_name for v in self.variables.values() if v.kind == "stock"]

    def resolve(self, name: str) -> str | None:
        """Return the Python name of a variable given its Python or ``.mdl`` name, or None.

        Parameters
        ----------
        name : str
            ``"rural_population"``, ``"Rural Population"`` or ``"rural population"``.

        Returns
        -------
        str or None
            The Python name, or None when the model has no such variable.
        """
        if name in self.variables:
            return name
        return self._by_name.get(_normalize(name))

    def units(self, py_name: str) -> str:
        """Return the units of a variable (its ``.mdl`` units string)."""
        return self.variables[py_name].units

    @property
    def settable(self) -> list[str]:
        """PySD names of the constants a scenario's ``parameters`` may set.

        Every constant but the simulation controls (INITIAL TIME, FINAL TIME, TIME STEP,
        SAVEPER) and the lever constants, which scenarios set under ``levers``.
        """
        levers = self.spec.lever_constants
        return [c for c in self.constants if c not in CONTROL_NAMES and c not in levers]

    @property
    def regions(self) -> tuple[str, ...]:
        """Display names of the regions (the spec's dimension), in the ``.mdl``'s order."""
        dim = self.spec.dimension
        return dim.labels if dim is not None else ()

    @property
    def elements(self) -> tuple[str, ...]:
        """Element names of the regions in the ``.mdl`` (the spec's dimension)."""
        dim = self.spec.dimension
        return dim.elements if dim is not None else ()

    @property
    def spec(self) -> ModelSpec:
        """The model's spec (`sdplanner.spec.load_spec`): levers, outputs, dimension."""
        if self.given_spec is not None:
            return self.given_spec
        from sdplanner.spec import load_spec

        return load_spec(self)


def _normalize(name: str) -> str:
    return " ".join(name.replace("_", " ").split()).lower()


#: The SHA-256 (hex) of a file's bytes: the one hash of the cache (`sdplanner.cache.sha256_of`).
file_sha256 = sha256_of


#: Changes when what a cached translation went through changes (the guard, the audit).
_TRANSLATION_VERSION = "guarded-1"


def _check_model_file(path: Path) -> None:
    shown = show_path(path)
    try:
        exists, is_file = path.exists(), path.is_file()
    except (OSError, ValueError):
        raise ModelError(f"{shown}: cannot read the model file (an unusable path)") from None
    if not exists:
        raise ModelError(f"{shown}: model file not found")
    if not is_file:
        raise ModelError(f"{shown}: expected a Vensim .mdl file, found a directory")
    if path.suffix.lower() != ".mdl":
        raise ModelError(f"{shown}: expected a Vensim .mdl file, found suffix {quote(path.suffix)}")


def translated_model_path(path: str | os.PathLike | None = None) -> Path:
    """Translate a ``.mdl`` with PySD (once per file content) and return the Python file.

    The model's text is vetted first (`sdplanner.model_guard.check_model_file`) and the
    Python PySD writes is audited before anyone imports it (`audit_generated`). The
    translation is cached under ``$SDPLANNER_CACHE`` (default ``~/.cache/sdplanner``),
    keyed by the SHA-256 of the ``.mdl``, and sealed with its own hash
    (`sdplanner.cache`): a damaged entry is translated again. The model's own folder is
    never written to.

    Parameters
    ----------
    path : path-like, optional
        The ``.mdl``; the shipped model when omitted.

    Returns
    -------
    pathlib.Path
        The translated Python model file.

    Raises
    ------
    ModelError
        When the file is missing, holds text that could reach the generated code, or PySD
        cannot translate it (one line naming the file and line).
    """
    src = Path(path) if path is not None else default_model_path()
    _check_model_file(src)
    try:
        data = src.read_bytes()
    except OSError as exc:
        raise ModelError(f"{show_path(src)}: cannot read the model ({exc.strerror})") from None
    import pysd

    key = hashlib.sha256(
        f"{hashlib.sha256(data).hexdigest()}|{_TRANSLATION_VERSION}|{pysd.__version__}".encode()
    ).hexdigest()[:16]
    target_dir = cache_root() / "pysd" / key
    target = target_dir / "model.py"
    if target_dir.exists():
        if verified(target):
            return target
        target_dir = entry_for_rebuild(target_dir, "PySD translation")
        target = target_dir / "model.py"
    target_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="translate-", dir=target_dir.parent))
    try:
        copy = work / "model.mdl"
        copy.write_bytes(data)
        abstract = check_model_file(copy, shown=src)
        try:
            from pysd.builders.python.python_model_builder import ModelBuilder

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                written = Path(ModelBuilder(abstract).build_model())
        except KeyError as exc:  # a name used and never defined (a truncated file ...)
            raise ModelError(
                f"{show_path(src)}: PySD cannot translate the model: it uses"
                f" {quote(exc.args[0] if exc.args else '?')}, which it does not define"
            ) from None
        except Exception as exc:  # PySD raises many types for bad models
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(
                f"{show_path(src)}: PySD cannot translate the model: {quote(msg)}"
            ) from None
        if written != work / "model.py":
            written.replace(work / "model.py")
        audit_generated(work / "model.py", src)
        seal(work / "model.py")
        try:
            work.rename(target_dir)
        except OSError:  # another process finished first
            shutil.rmtree(work, ignore_errors=True)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    if not verified(target):
        raise ModelError(f"{show_path(src)}: the cached translation {target} is damaged")
    return target


def load_pysd(path: str | os.PathLike | None = None):
    """Load a fresh PySD model object for a ``.mdl`` (translation cached).

    Parameters
    ----------
    path : path-like, optional
        The ``.mdl``; the shipped model when omitted.

    Returns
    -------
    pysd.py_backend.model.Model
        A newly loaded model, with no parameter changes.
    """
    import pysd

    translated = translated_model_path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return pysd.load(str(translated))
    except Exception as exc:  # an import-time failure of the translation
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        shown = show_path(path if path is not None else default_model_path())
        raise ModelError(f"{shown}: PySD cannot load the translated model: {quote(msg)}") from None


#: PySD names of the simulation controls.
CONTROL_NAMES = ("initial_time", "final_time", "time_step", "saveper")
_KIND = {"Stateful": "stock", "Constant": "constant", "Lookup": "lookup"}


@cache
def _load_model_cached(path: Path, digest: str) -> ModelInfo:
    with warnings.catch_warnings():
        # PySD initializes the model on loading and warns about the run (a DELAY's order
        # lowered for the time step ...): nothing that describes the model
        warnings.simplefilter("ignore", UserWarning)
        model = load_pysd(path)
    doc = model.doc
    variables: dict[str, VariableInfo] = {}
    by_name: dict[str, str] = {}
    constants: dict[str, float | np.ndarray] = {}
    for row in doc.itertuples(index=False):
        real, py = row[0], row[1]
        subs = row[2]
        units = row[3] if isinstance(row[3], str) else ""
        kind = _KIND.get(row[5], "auxiliary")
        if row[5] == "Stateful" and row[6] != "Integ":
            kind = "auxiliary"
        comment = row[7] if isinstance(row[7], str) else ""
        subscripted = bool(subs) and not (isinstance(subs, float) and np.isnan(subs))
        info = VariableInfo(real, py, units, comment, kind, subscripted, _limits(row[4]))
        variables[py] = info
        by_name[_normalize(real)] = py
        by_name[_normalize(py)] = py
        if kind == "constant" and py not in ("time",):
            value = getattr(model.components, py)()
            constants[py] = (
                np.asarray(value.values, dtype=float) if hasattr(value, "values") else float(value)
            )
    return ModelInfo(
        path=path,
        sha256=digest,
        variables=variables,
        constants=constants,
        initial_time=float(model.components.initial_time()),
        final_time=float(model.components.final_time()),
        time_step=float(model.components.time_step()),
        saveper=float(model.components.saveper()),
        subscripts={k: tuple(v) for k, v in model.subscripts.items()},
        _by_name=by_name,
    )


def _limits(raw: object) -> tuple[float | None, float | None]:
    """Return PySD's Limits column as ``(lower, upper)``, None for an open end."""
    if not isinstance(raw, tuple | list) or len(raw) < 2:
        return (None, None)
    ends = []
    for x in raw[:2]:
        try:
            x = float(x)
        except (TypeError, ValueError):
            x = math.nan
        ends.append(None if math.isnan(x) else x)
    return (ends[0], ends[1])


def load_model(path: str | os.PathLike | None = None) -> ModelInfo:
    """Load and describe a Vensim model.

    Parameters
    ----------
    path : path-like, optional
        The ``.mdl`` file; the model shipped with the package when omitted.

    Returns
    -------
    ModelInfo
        The model's file, SHA-256, regions, variables (units, comments) and constants.

    Raises
    ------
    ModelError
        When the file is missing, not a ``.mdl``, or not translatable by PySD.
    """
    src = Path(path) if path is not None else default_model_path()
    _check_model_file(src)
    return _load_model_cached(src.resolve(), file_sha256(src))
