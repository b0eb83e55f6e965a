"""Vet an untrusted model file before PySD turns it into Python, and the Python it wrote.

A model file is shared between people, so it is untrusted input. PySD translates a Vensim
(or XMILE) model into a Python module and imports it; some of the model's text is written
into that module unescaped:

- a variable's comment (documentation) into a ``\"\"\"`` docstring: a comment holding
  ``\"\"\"`` ends the string and the rest of the line is code;
- names of variables, subscript ranges and their elements, and the file, sheet and cell
  references of ``GET XLS``/``GET DIRECT`` functions, into ``'...'`` strings (some raw
  ``r'...'``, where a trailing backslash escapes the closing quote);
- macro names into file names and strings.

`check_model_file` parses the model with PySD's own parser (the same text PySD will
translate) and refuses, in one line naming the file and line, any such text that could
leave its string literal: a comment holding ``\"\"\"``, a name or reference holding a quote,
a backslash or a control character. It also refuses what would make the engines fail later
with a traceback: control characters, non-finite numbers (``1e999``), a lookup whose x
values do not increase, a constant outside the range its own units line declares, and
unusable time controls. `audit_generated` then reads the Python PySD wrote (before it is
imported) and refuses anything that is not the shape PySD writes: statements that are not
definitions, assignments or returns, double-underscore names other than PySD's own, calls of
``eval``-like builtins, imports outside PySD, NumPy and xarray. Between them, no model text
reaches running code.

XMILE files are refused by `sdplanner.model` (the project reads Vensim models); the guard
still vets them the same way, and refuses XML entity declarations (``<!DOCTYPE``, which
could read local files or expand without bound).
"""

from __future__ import annotations

import ast
import dataclasses
import itertools
import math
import os
import re
import warnings
from pathlib import Path

from sdplanner.errors import ModelError, quote, show_path
from sdplanner.validation import format_range, in_range

__all__ = [
    "MAX_MODEL_BYTES",
    "MAX_STEPS",
    "XMILE_SUFFIXES",
    "audit_generated",
    "check_model_file",
]

#: Largest model file read (byte).
MAX_MODEL_BYTES = 16 << 20
#: Most integration steps a model's time controls may ask for.
MAX_STEPS = 10_000_000
#: Suffixes of XMILE files (PySD's).
XMILE_SUFFIXES = (".xmile", ".xml", ".stmx", ".itmx")

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: Characters that may not appear in text PySD writes into a quoted string.
_UNSAFE_IN_STRING = re.compile(r"['\\\x00-\x1f\x7f]")
_CONTROL_NAMES = ("initial time", "final time", "time step", "saveper")
#: Where a Vensim file's sketch starts (PySD reads nothing after it).
_SKETCH = "\\\\\\---///"


class _Locator:
    """Find the line of a piece of a model file's text."""

    def __init__(self, text: str) -> None:
        self.text = text

    def line_at(self, pos: int) -> int:
        return self.text.count("\n", 0, max(pos, 0)) + 1

    def element(self, name: str) -> int:
        """Offset of an element's definition (its name at the start of a line), or -1."""
        if not name:
            return -1
        pattern = re.compile(
            r"^[ \t]*" + r"[ _\t]+".join(map(re.escape, name.split())) + r"[ \t]*[\[=(:]",
            re.MULTILINE | re.IGNORECASE,
        )
        match = pattern.search(self.text)
        if match:
            return match.start()
        return self.text.find(name)

    def line(self, name: str, fragment: str | None = None) -> int:
        """Line of ``fragment`` at or after element ``name``'s definition (1 if unknown)."""
        start = self.element(name)
        if fragment:
            pos = self.text.find(fragment, max(start, 0))
            if pos < 0:
                pos = self.text.find(fragment)
            if pos >= 0:
                return self.line_at(pos)
        return self.line_at(start) if start >= 0 else 1


def _fail(path: Path, line: int, message: str) -> ModelError:
    return ModelError(f"{show_path(path)}: line {line}: {message}")


def _read_text(path: Path, label: Path) -> tuple[str, object]:
    """Read and parse a model with PySD's parser; return its text and abstract model."""
    shown = show_path(label)
    try:
        size = path.stat().st_size
    except (OSError, ValueError) as exc:
        raise ModelError(f"{shown}: cannot read the model ({type(exc).__name__})") from None
    if size > MAX_MODEL_BYTES:
        raise ModelError(
            f"{shown}: expected a model file of at most {MAX_MODEL_BYTES:,} bytes, found {size:,}"
        )
    xmile = path.suffix.lower() in XMILE_SUFFIXES
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if xmile:
                raw = path.read_bytes()
                text = raw.decode("utf-8", errors="replace")
                _check_text(label, text)
                if re.search(rb"<!\s*(DOCTYPE|ENTITY)", raw, re.IGNORECASE):
                    line = text.count("\n", 0, re.search(r"<!", text).start()) + 1
                    raise _fail(label, line, "expected no XML DOCTYPE or ENTITY declaration")
                from pysd.translators.xmile.xmile_file import XmileFile

                parsed = XmileFile(path)
            else:
                from pysd.translators.vensim.vensim_file import VensimFile

                text = path.read_bytes().decode("utf-8", errors="replace")
                _check_text(label, text)
                parsed = VensimFile(path)
            parsed.parse()
            model = parsed.get_abstract_model()
    except ModelError:
        raise
    except Exception as exc:  # PySD's parsers raise many types for bad files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{shown}: PySD cannot parse the model: {quote(first)}") from None
    return text, model


def _check_text(path: Path, text: str) -> None:
    """Refuse control characters (NUL, form feed ...) in the model's equations.

    The sketch after Vensim's sketch marker is not read by PySD (and holds control
    characters in files Vensim writes), so it is not checked.
    """
    match = _CONTROL_CHARS.search(text.split(_SKETCH, 1)[0])
    if match:
        line = text.count("\n", 0, match.start()) + 1
        raise _fail(path, line, f"expected printable text, found the character {quote(match[0])}")


def _strings(obj, field: str = ""):
    """Yield ``(field, text)`` for every text of an abstract model (its dataclasses)."""
    if isinstance(obj, str):
        yield field, obj
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _strings(getattr(obj, f.name), f.name)
    elif isinstance(obj, list | tuple | set | frozenset):
        for item in obj:
            yield from _strings(item, field)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _strings(key, field)
            yield from _strings(value, field)


def _numbers(obj, field: str = ""):
    """Yield ``(field, number)`` for every number of an abstract syntax tree."""
    if isinstance(obj, bool):
        return
    if isinstance(obj, int | float):
        yield field, float(obj)
    elif hasattr(obj, "dtype") and hasattr(obj, "ravel"):  # a numpy array of values
        for value in obj.ravel().tolist():
            if isinstance(value, int | float):
                yield field, float(value)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _numbers(getattr(obj, f.name), f.name)
    elif isinstance(obj, list | tuple):
        for item in obj:
            yield from _numbers(item, field)


def _lookups(obj):
    """Yield every lookup table (``LookupsStructure``) of an abstract syntax tree."""
    if type(obj).__name__ == "LookupsStructure":
        yield obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _lookups(getattr(obj, f.name))
    elif isinstance(obj, list | tuple):
        for item in obj:
            yield from _lookups(item)


def _check_element_text(path: Path, where: _Locator, owner: str, field: str, text: str) -> None:
    if field == "documentation":
        if '"""' in text.replace("\\", "\n"):
            raise _fail(
                path,
                where.line(owner, '"""'),
                "expected a comment without three double quotes (they would end the string"
                f" PySD writes it into), found them in the comment of {quote(owner, 40)}",
            )
        return
    if field in ("units", "expression"):  # written with repr(), or not written at all
        return
    bad = _UNSAFE_IN_STRING.search(text)
    if bad:
        raise _fail(
            path,
            where.line(owner, text[: bad.start() + 1][-40:]),
            "expected names and file references without quotes, backslashes or control"
            f" characters (PySD writes them into Python strings), found {quote(bad[0])} in"
            f" {quote(text, 40)}",
        )


def _check_values(path: Path, where: _Locator, element) -> None:
    """Refuse non-finite numbers, lookups whose x do not increase, a value out of range."""
    name = element.name
    for component in element.components:
        for _, value in _numbers(component.ast):
            if math.isinf(value):  # NaN is Vensim's :NA: and an open lookup range
                raise _fail(
                    path,
                    where.line(name),
                    f"{quote(name)}: expected finite numbers, found {value!r}",
                )
        for table in _lookups(component.ast):
            xs = [float(x) for x in table.x]
            # repeated x values make a step (as in Vensim); decreasing ones are an error
            if any(b < a for a, b in itertools.pairwise(xs)):
                raise _fail(
                    path,
                    where.line(name),
                    f"{quote(name)}: expected lookup x values that do not decrease,"
                    f" found {quote(xs)}",
                )
        limits = getattr(element, "limits", None)
        value = component.ast
        if limits and any(x is not None for x in limits):
            values = (
                [float(value)]
                if isinstance(value, int | float) and not isinstance(value, bool)
                else [float(v) for v in value.ravel().tolist()]
                if hasattr(value, "ravel") and getattr(value, "dtype", None) is not None
                else []
            )
            for v in values:
                if not in_range(v, limits):
                    raise _fail(
                        path,
                        where.line(name),
                        f"{quote(name)}: the value {v:g} is outside the range"
                        f" {format_range(limits)} its units line declares",
                    )


def _check_controls(path: Path, where: _Locator, section) -> None:
    """Refuse time controls that cannot be simulated, naming their line."""
    values: dict[str, float] = {}
    names: dict[str, str] = {}
    for element in section.elements:
        key = " ".join(element.name.lower().split())
        if key in _CONTROL_NAMES and len(element.components) == 1:
            ast_value = element.components[0].ast
            if isinstance(ast_value, int | float) and not isinstance(ast_value, bool):
                values[key] = float(ast_value)
                names[key] = element.name
    if len(values) < len(_CONTROL_NAMES):
        return  # expressions or missing controls: the engines say what they need
    t0, t1 = values["initial time"], values["final time"]
    dt, save = values["time step"], values["saveper"]
    if not t1 > t0:
        raise _fail(
            path,
            where.line(names["final time"]),
            f"FINAL TIME: expected a year after INITIAL TIME ({t0:g}), found {t1:g}",
        )
    if not dt > 0:
        raise _fail(
            path,
            where.line(names["time step"]),
            f"TIME STEP: expected a positive number of years, found {dt:g}",
        )
    if not save >= dt:
        raise _fail(
            path,
            where.line(names["saveper"]),
            f"SAVEPER: expected at least the TIME STEP ({dt:g}), found {save:g}",
        )
    if (t1 - t0) / dt > MAX_STEPS:
        raise _fail(
            path,
            where.line(names["time step"]),
            f"TIME STEP: expected at most {MAX_STEPS:,} steps from INITIAL TIME to FINAL TIME,"
            f" found {(t1 - t0) / dt:,.0f}",
        )


def check_model_file(path: str | os.PathLike, *, shown: str | os.PathLike | None = None):
    """Refuse a model whose text could reach generated Python, or that cannot run.

    Parameters
    ----------
    path : path-like
        A Vensim ``.mdl`` (or an XMILE file).
    shown : path-like, optional
        The file to name in messages (the user's file when ``path`` is a working copy).

    Returns
    -------
    pysd.translators.structures.abstract_model.AbstractModel
        PySD's parse of the file, ready for its Python builder.

    Raises
    ------
    ModelError
        One line naming the file and line: a control character; a comment holding
        ``\"\"\"``; a name, subscript, macro or ``GET`` reference holding a quote, a
        backslash or a control character; a non-finite number; a lookup whose x values do
        not increase; a constant outside its declared range; time controls that do not
        run forwards; an XML entity declaration; or a file PySD cannot parse.
    """
    path = Path(path)
    label = Path(shown) if shown is not None else path
    text, model = _read_text(path, label)
    where = _Locator(text)
    for section in model.sections:
        if section.type != "main":
            for field, value in _strings([section.name, *section.params, *section.returns]):
                _check_element_text(label, where, section.name, field or "macro", value)
        for subscript in section.subscripts:
            for field, value in _strings(dataclasses.asdict(subscript)):
                _check_element_text(label, where, subscript.name, field or "subscript", value)
        for element in section.elements:
            _check_element_text(label, where, element.name, "name", element.name)
            for field, value in _strings(element):
                _check_element_text(label, where, element.name, field, value)
            _check_values(label, where, element)
        if section.type == "main":
            _check_controls(label, where, section)
    return model


# --------------------------------------------------------------------------------------
# The Python PySD wrote
# --------------------------------------------------------------------------------------
#: Modules a translated model may import from.
_IMPORTS = ("pathlib", "numpy", "xarray", "pysd", "scipy")
#: Double-underscore names PySD's modules use.
_DUNDERS = {"__data", "__file__", "__pysd_version__", "__name__"}
#: Builtins a translated model never calls.
_FORBIDDEN_CALLS = {
    "eval",
    "exec",
    "compile",
    "open",
    "input",
    "breakpoint",
    "getattr",
    "setattr",
    "delattr",
    "globals",
    "locals",
    "vars",
    "memoryview",
    "__import__",
}
#: Attributes a translated model never uses (file and process access of NumPy, xarray).
_FORBIDDEN_ATTRIBUTES = {
    "system",
    "popen",
    "load",
    "loads",
    "save",
    "savez",
    "savetxt",
    "fromfile",
    "tofile",
    "loadtxt",
    "genfromtxt",
    "memmap",
    "open_dataset",
    "open_dataarray",
    "open_mfdataset",
    "to_netcdf",
    "to_zarr",
    "ctypeslib",
}


def _audit_statement(node: ast.stmt, top: bool) -> str | None:
    """Return what is wrong with one statement of a translated model, or None."""
    if isinstance(node, ast.Expr):
        call = node.value
        if (  # PySD adds definitions to an object: ``_ext_x.add(...)``
            top
            and isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "add"
            and isinstance(call.func.value, ast.Name)
            and call.func.value.id.startswith("_")
        ):
            return None
        return "an expression statement (only a docstring may stand alone)"
    if isinstance(node, ast.Import | ast.ImportFrom):
        if not top:
            return "an import inside a function"
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
        for name in names:
            if name.split(".")[0] not in _IMPORTS:
                return f"an import of {name!r}"
        return None
    allowed = (ast.Assign, ast.FunctionDef, ast.Return, ast.If, ast.For, ast.AugAssign)
    if not isinstance(node, allowed):
        return f"a {type(node).__name__} statement"
    if isinstance(node, ast.FunctionDef) and not top:
        return "a function inside a function"
    return None


def _audit_node(node: ast.AST) -> str | None:
    """Return what is wrong with one expression node of a translated model, or None."""
    if isinstance(node, ast.Name) and node.id.startswith("__") and node.id not in _DUNDERS:
        return f"the name {node.id!r}"
    if isinstance(node, ast.Attribute):
        if node.attr.startswith("__") or node.attr in _FORBIDDEN_ATTRIBUTES:
            return f"the attribute {node.attr!r}"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id in _FORBIDDEN_CALLS:
            return f"a call of {node.func.id}()"
    if isinstance(node, ast.keyword) and node.arg and node.arg.startswith("__"):
        return f"the keyword {node.arg!r}"
    if isinstance(node, ast.Global | ast.Nonlocal | ast.Delete | ast.With | ast.Try):
        return f"a {type(node).__name__} statement"
    return None


def audit_generated(py_path: str | os.PathLike, model_path: str | os.PathLike) -> None:
    """Refuse a translated model that holds anything but the code PySD writes.

    Parameters
    ----------
    py_path : path-like
        The Python module PySD wrote (not yet imported).
    model_path : path-like
        The model file it was translated from (for the message).

    Raises
    ------
    ModelError
        One line naming the model file and what the translation holds (an expression
        statement, an unexpected import, a double-underscore name, a call of ``eval`` or
        ``open`` ...), with its line in the translation.
    """
    shown = show_path(model_path)
    try:
        source = Path(py_path).read_text(encoding="utf-8")
        tree = ast.parse(source)
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError) as exc:
        raise ModelError(
            f"{shown}: PySD's translation is not valid Python ({type(exc).__name__}); the"
            " model holds text that breaks it"
        ) from None
    problems: list[tuple[int, str]] = []
    for i, stmt in enumerate(tree.body):
        if i == 0 and _is_docstring(stmt):
            continue
        problem = _audit_statement(stmt, top=True)
        if problem:
            problems.append((stmt.lineno, problem))
        if isinstance(stmt, ast.FunctionDef):
            for j, inner in enumerate(stmt.body):
                if j == 0 and _is_docstring(inner):
                    continue
                for sub in ast.walk(inner):
                    if isinstance(sub, ast.stmt):
                        problem = _audit_statement(sub, top=False)
                        if problem:
                            problems.append((sub.lineno, problem))
    for node in ast.walk(tree):
        problem = _audit_node(node)
        if problem:
            problems.append((getattr(node, "lineno", 0), problem))
    if problems:
        line, problem = min(problems)
        raise ModelError(
            f"{shown}: PySD's translation holds {problem} at its line {line}, which PySD does"
            " not write; the model's text reaches the code: refused"
        )


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )
