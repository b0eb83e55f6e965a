#!/usr/bin/env python3
"""Vensim's test models through the batch engine: which it runs, which it refuses and why.

Reads the SDXorg/test-models suite (``../shared/test-models/tests`` beside the repository,
or ``$SDPLANNER_TEST_MODELS``); nothing of it is copied into the repository. For every
Vensim model of the suite it finds:

* PySD's verdict: PySD 3.14's integration-test comparison with Vensim's output
  (``pysd.tools.benchmarking.assert_frames_close``, relative and absolute tolerance 1e-5,
  1e-2 for the one model PySD's own suite loosens);
* whether the batch engine reads the model, and if not why (its one-line ``ModelError``);
* for a model it reads, whether each kernel (NumPy, and C where a compiler works) matches
  Vensim's output with the same comparison.

Usage::

    python tools/conformance.py            # print the table
    python tools/conformance.py --write    # write docs/conformance.md
    python tools/conformance.py --check    # exit 1 when docs/conformance.md is not current

``tests/test_conformance.py`` makes the same checks, adds the agreement with PySD, and fails
when docs/conformance.md is not what this script writes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "conformance.md"
#: PySD's integration test loosens the tolerance for this model (rtol 1e-2).
RTOL = {"arguments/test_arguments.mdl": 1e-2}
#: PySD's integration test gives these models data files.
DATA_FILES = {"data_from_other_model/test_data_from_other_model.mdl": "data.tab"}


def suite_folder() -> Path | None:
    """Return the test models' folder, or None where it is absent.

    Returns
    -------
    pathlib.Path or None
        ``$SDPLANNER_TEST_MODELS``, else ``../shared/test-models/tests`` beside the repository.
    """
    folder = os.environ.get("SDPLANNER_TEST_MODELS")
    path = Path(folder) if folder else ROOT.parent / "shared" / "test-models" / "tests"
    return path if path.is_dir() else None


def cases(folder: Path) -> list[str]:
    """Return the Vensim models of the suite as ``"folder/file.mdl"``, sorted.

    Parameters
    ----------
    folder : pathlib.Path
        The suite's ``tests`` folder.

    Returns
    -------
    list of str
        One name per ``.mdl`` file (any letter case).
    """
    found = [p for p in folder.glob("*/*") if p.suffix.lower() == ".mdl" and p.is_file()]
    return sorted(f"{p.parent.name}/{p.name}" for p in found)


def vensim_output(path: Path):
    """Return Vensim's output beside a model (a DataFrame indexed by time), or None.

    Parameters
    ----------
    path : pathlib.Path
        The ``.mdl``.

    Returns
    -------
    pandas.DataFrame or None
        PySD's reading of ``output.csv`` or ``output.tab``.
    """
    from pysd.py_backend.utils import detect_encoding, load_outputs

    for name in ("output.csv", "output.tab"):
        file = path.parent / name
        if file.is_file():
            return load_outputs(file, encoding=detect_encoding(file))
    return None


def _first_line(exc: BaseException) -> str:
    """Return the start of an error's message on one line (at most 100 characters)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 100 else text[:99] + "…"


def pysd_verdict(case: str, folder: Path, work: Path) -> str:
    """Run a model through PySD and compare it with Vensim's output, as PySD's suite does.

    Parameters
    ----------
    case : str
        ``"folder/file.mdl"``.
    folder : pathlib.Path
        The suite's ``tests`` folder.
    work : pathlib.Path
        A folder to copy the model's folder into (PySD writes its translation beside it).

    Returns
    -------
    str
        ``"passes"``, ``"fails: ..."`` or ``"error: ..."`` (one line).
    """
    import pysd
    from pysd.tools.benchmarking import assert_frames_close

    path = folder / case
    canon = vensim_output(path)
    if canon is None:
        return "error: no Vensim output beside the model"
    target = work / path.parent.name
    if not target.exists():
        shutil.copytree(path.parent, target)
    data = DATA_FILES.get(case)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = pysd.read_vensim(str(target / path.name), str(target / data) if data else None)
            output = model.run(return_columns=list(canon.columns))
    except Exception as exc:  # PySD raises many types
        return f"error: {_first_line(exc)}"
    try:
        assert_frames_close(output, canon, rtol=RTOL.get(case, 1e-5))
    except (AssertionError, ValueError) as exc:
        return f"fails: {_first_line(exc)}"
    return "passes"


def engine_reason(path: Path) -> str | None:
    """Return why the batch engine refuses a model (one line), or None when it reads it.

    Parameters
    ----------
    path : pathlib.Path
        The ``.mdl``.

    Returns
    -------
    str or None
        The ``ModelError`` without the file name and the pointer to docs/engine.md.
    """
    from sdplanner.engine.batch import BatchEngine
    from sdplanner.errors import ModelError

    try:
        BatchEngine.from_mdl(path, kernel="numpy")
    except ModelError as exc:
        text = str(exc).split(": ", 1)[-1]
        text = text.replace(" (docs/engine.md lists what it supports)", "")
        return text.replace(", which the batch engine does not support", "")
    return None


def vensim_columns(engine, canon) -> dict[str, tuple[str, int | None]]:
    """Map Vensim's output columns to ``(py_name, element index or None)``.

    Parameters
    ----------
    engine : sdplanner.engine.batch.BatchEngine
        The engine of the model.
    canon : pandas.DataFrame
        Vensim's output.

    Returns
    -------
    dict
        ``column -> (py_name, element index)``.
    """
    out = {}
    for column in canon.columns:
        name, element = column, None
        if column.endswith("]") and "[" in column:
            name, element = column[:-1].split("[", 1)
            element = engine.ir.elements.index(element.strip())
        py = engine.info.resolve(name)
        if py is None:
            raise KeyError(f"{column}: not a variable of the model")
        out[column] = (py, element)
    return out


def vensim_mismatch(engine, case: str, canon) -> str | None:
    """Compare the engine's run with Vensim's output as PySD's integration test does.

    Parameters
    ----------
    engine : sdplanner.engine.batch.BatchEngine
        The engine of the model (either kernel).
    case : str
        ``"folder/file.mdl"`` (its tolerance).
    canon : pandas.DataFrame
        Vensim's output.

    Returns
    -------
    str or None
        None when every column is within the tolerance, else what differs (one line).
    """
    import pandas as pd
    from pysd.tools.benchmarking import assert_frames_close

    columns = vensim_columns(engine, canon)
    names = sorted({py for py, _ in columns.values()})
    out = engine.run(variables=names)
    data = {}
    for column, (py, element) in columns.items():
        values = out.values[py]
        data[column] = values if element is None else values[:, element]
    actual = pd.DataFrame(data, index=out.times)
    try:
        assert_frames_close(actual, canon.copy(), rtol=RTOL.get(case, 1e-5))
    except AssertionError as exc:
        return " ".join(str(exc).split())[:300]
    return None


def varied_constants(engine) -> list[str]:
    """Return the constants the test varies per sample: the model's first two scalar ones.

    Parameters
    ----------
    engine : sdplanner.engine.batch.BatchEngine
        The engine of the model.

    Returns
    -------
    list of str
        At most two Python names, in the ``.mdl``'s order: constants that may vary per
        sample (not those the time settings or an order are computed from, nor ``==``).
    """
    ir = engine.ir
    usable = [c for c in ir.constants if c not in ir.timing and c not in ir.fixed]
    return usable[:2]


@dataclass(frozen=True)
class Row:
    """One model's line of docs/conformance.md."""

    case: str
    pysd: str
    reason: str | None  # why the engine refuses it; None when it reads it
    mismatch: str | None = None  # for a model it reads: how it differs from Vensim
    varied: int = 0  # for a model it reads: constants the test varies per sample


def engine_verdict(row: Row) -> str:
    """Return the batch engine's column of a row."""
    if row.reason is not None:
        return "refused"
    return "matches Vensim" if row.mismatch is None else "differs from Vensim"


def document(rows: list[Row], kernels: list[str]) -> str:
    """Write docs/conformance.md from the rows.

    Parameters
    ----------
    rows : list of Row
        One per model, in the suite's order.
    kernels : list of str
        The kernels checked (``["numpy", "c"]`` or ``["numpy"]``).

    Returns
    -------
    str
        The Markdown text.
    """
    reads = [r for r in rows if r.reason is None]
    matches = [r for r in reads if r.mismatch is None]
    pysd_passes = [r for r in rows if r.pysd == "passes"]
    refused_passing = [r for r in pysd_passes if r.reason is not None]
    kinds: dict[str, int] = {}
    for r in rows:
        if r.reason is not None:
            kind = re.sub(r"'[^']*'", "'…'", r.reason)
            kind = re.sub(r"\[[^\]]*\]", "[…]", kind)
            kind = re.sub(r"\(found [^)]*\)", "", kind).strip()
            kinds[kind] = kinds.get(kind, 0) + 1
    lines = [
        "# The batch engine on Vensim's test models",
        "",
        "Written by `python tools/conformance.py --write`; `tests/test_conformance.py` fails",
        "when this page is not what the command finds, so a model that stops running shows",
        "here. The models are the SDXorg/test-models suite (`../shared/test-models/tests`,",
        "the commit PySD 3.14.3 tests against), compared with Vensim's own output as PySD's",
        "integration test compares them (`assert_frames_close`, relative and absolute",
        "tolerance 1e-5; 1e-2 for `arguments`, as in PySD's suite). Kernels checked:",
        f"{' and '.join(k if k == 'numpy' else 'C' for k in kernels).replace('numpy', 'NumPy')}."
        " The test also checks every model the engine runs against PySD within",
        "`max(1e-9 * |x|, 1e-12)`: with its defaults, with the time step halved, and in one",
        "batch of two samples that differ in the model's first two constants (the models",
        "with fewer constants vary those they have).",
        "",
        f"- Vensim models in the suite: {len(rows)}",
        f"- PySD matches Vensim: {len(pysd_passes)}",
        f"- the batch engine reads: {len(reads)}; of them, every kernel matches Vensim:"
        f" {len(matches)}",
        f"- models PySD passes that the batch engine refuses: {len(refused_passing)}",
        "- models the engine reads, by the number of constants varied per sample: "
        + ", ".join(f"{n}: {sum(r.varied == n for r in reads)}" for n in (2, 1, 0)),
        "",
        "## Why models are refused",
        "",
        "| models | reason (variable names left out) |",
        "|---:|---|",
    ]
    for kind, count in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"| {count} | {kind} |")
    lines += [
        "",
        "## Every model",
        "",
        "| model | PySD vs Vensim | batch engine | why refused / how it differs |",
        "|---|---|---|---|",
    ]
    for r in rows:
        detail = r.reason if r.reason is not None else (r.mismatch or "")
        pysd = r.pysd.replace("|", "\\|")
        lines.append(
            f"| `{r.case}` | {pysd} | {engine_verdict(r)} | {detail.replace('|', chr(92) + '|')} |"
        )
    return "\n".join(lines) + "\n"


def available_kernels() -> list[str]:
    """Return the kernels that run here: NumPy, and C where a compiler works."""
    from sdplanner.engine import toolchain

    return ["numpy", "c"] if toolchain.compiler() is not None else ["numpy"]


def engine_row(case: str, path: Path, pysd: str, reason: str | None, kernels) -> Row:
    """Return a model's row: for a model the engine reads, each kernel against Vensim.

    Parameters
    ----------
    case : str
        ``"folder/file.mdl"``.
    path : pathlib.Path
        The ``.mdl``.
    pysd : str
        PySD's verdict (`pysd_verdict`).
    reason : str or None
        Why the engine refuses the model (`engine_reason`).
    kernels : list of str
        The kernels to check.

    Returns
    -------
    Row
        The row of docs/conformance.md.
    """
    from sdplanner.engine.batch import BatchEngine

    if reason is not None:
        return Row(case, pysd, reason)
    canon = vensim_output(path)
    mismatch, varied = None, 0
    for kernel in kernels:
        engine = BatchEngine.from_mdl(path, kernel=kernel)
        varied = len(varied_constants(engine))
        if canon is None:
            mismatch = "no Vensim output beside the model"
        mismatch = mismatch or vensim_mismatch(engine, case, canon)
    return Row(case, pysd, None, mismatch, varied)


def survey(folder: Path, work: Path) -> tuple[list[Row], list[str]]:
    """Compute every row: PySD's verdict, the engine's reading, both kernels against Vensim.

    Parameters
    ----------
    folder : pathlib.Path
        The suite's ``tests`` folder.
    work : pathlib.Path
        A scratch folder for PySD's translations.

    Returns
    -------
    tuple
        The rows, and the kernels checked.
    """
    kernels = available_kernels()
    rows = []
    for case in cases(folder):
        path = folder / case
        pysd = pysd_verdict(case, folder, work)
        reason = engine_reason(path)
        rows.append(engine_row(case, path, pysd, reason, kernels))
        print(f"{case}: PySD {pysd.split(':')[0]}, engine {engine_verdict(rows[-1])}", flush=True)
    return rows, kernels


def main(argv=None) -> int:
    """Print, write or check docs/conformance.md; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help="write docs/conformance.md")
    group.add_argument("--check", action="store_true", help="fail when the page is not current")
    args = parser.parse_args(argv)
    folder = suite_folder()
    if folder is None:
        print(
            "conformance: no test models (set SDPLANNER_TEST_MODELS or put the suite in"
            " ../shared/test-models/tests)",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="sdplanner-conformance-") as work:
        rows, kernels = survey(folder, Path(work))
    text = document(rows, kernels)
    if args.write:
        DOC.write_text(text, encoding="utf-8")
        print(f"wrote {DOC.relative_to(ROOT)}")
    elif args.check:
        current = DOC.read_text(encoding="utf-8") if DOC.is_file() else ""
        if current != text:
            print(f"{DOC.relative_to(ROOT)} is not current: run tools/conformance.py --write")
            return 1
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    raise SystemExit(main())
