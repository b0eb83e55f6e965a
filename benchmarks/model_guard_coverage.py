"""How many models of the SDXorg test suite pass the model guard and the audit of PySD's code.

Usage: python benchmarks/model_guard_coverage.py [FOLDER]

FOLDER is the suite's ``tests/`` folder (default ``../shared/test-models/tests`` beside the
repository). Each ``.mdl`` and ``.xmile`` file is vetted by
`sdplanner.model_guard.check_model_file`; each one PySD can translate is translated in a
temporary copy of its folder and its Python checked by `audit_generated`. Prints one line per
model the guard or the audit refuses, then the counts: paste that last line into
benchmarks/RESULTS.md (section "Model guard coverage"), where tools/docs_numbers.py reads the
figures of docs/security.md. Takes a few minutes: PySD parses and translates every model.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    from pysd.builders.python.python_model_builder import ModelBuilder
    from pysd.translators.vensim.vensim_file import VensimFile
    from pysd.translators.xmile.xmile_file import XmileFile

    from sdplanner.errors import ModelError
    from sdplanner.model_guard import audit_generated, check_model_file

    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared/test-models/tests"
    files = sorted(folder.rglob("*.mdl")) + sorted(folder.rglob("*.xmile"))
    counts = {"both pass": 0, "guard refuses": 0, "audit refuses": 0, "PySD fails": 0}
    warnings.simplefilter("ignore")
    for path in files:
        try:
            check_model_file(path)
            guard = None
        except ModelError as exc:
            guard = str(exc)
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / path.parent.name
            shutil.copytree(path.parent, copy)
            source = copy / path.name
            try:
                parsed = VensimFile(source) if source.suffix == ".mdl" else XmileFile(source)
                parsed.parse()
                python = ModelBuilder(parsed.get_abstract_model()).build_model()
            except Exception as exc:  # PySD itself cannot translate it
                counts["PySD fails"] += 1
                print(f"PySD fails ({type(exc).__name__}): {path.relative_to(folder)}")
                continue
            try:
                audit_generated(python, path)
                audit = None
            except ModelError as exc:
                audit = str(exc)
        if guard:
            counts["guard refuses"] += 1
            print(f"guard refuses: {guard}")
        if audit:
            counts["audit refuses"] += 1
            print(f"audit refuses: {audit}")
        if not guard and not audit:
            counts["both pass"] += 1
    print(f"{len(files)} models: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
