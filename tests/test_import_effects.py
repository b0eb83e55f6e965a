"""Importing sdplanner does nothing but define: no umask change, no file read or written.

Every module of ``src/sdplanner`` is imported in a fresh interpreter in which ``os.umask``
and ``open`` (builtins and io) record each call made by sdplanner's own code while it is
imported; third-party packages that read files as they are imported (pandas, matplotlib)
are not sdplanner's doing and are told apart by the import machinery between them and
sdplanner's code.
"""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys

import sdplanner

from .conftest import ROOT

_PROBE = r"""
import builtins, importlib, io, json, os, sys

SRC = sys.argv[1]
calls = []


def _culprit():
    # the innermost frame of sdplanner's code, unless an import of another package
    # stands between it and the call (that package reads its own files)
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith(SRC):
            return f"{name[len(SRC):]}:{frame.f_lineno}"
        if name.startswith("<frozen") or "importlib" in name:
            return None  # the import machinery: another package's files
        frame = frame.f_back
    return None


def recording(what, real):
    def call(*args, **kwargs):
        where = _culprit()
        if where is not None:
            calls.append([what, where, repr(args[:1])[:120]])
        return real(*args, **kwargs)
    return call


os.umask = recording("os.umask", os.umask)
builtins.open = io.open = recording("open", io.open)
for module in sys.argv[2:]:
    importlib.import_module(module)
print(json.dumps(calls))
"""


def _modules() -> list[str]:
    names = ["sdplanner"]
    for info in pkgutil.walk_packages(sdplanner.__path__, "sdplanner."):
        names.append(info.name)
    return sorted(names)


def test_every_module_is_found():
    names = _modules()
    assert "sdplanner.uncertainty.percentiles" in names and "sdplanner.engine.ir" in names
    assert len(names) > 60


def test_importing_every_module_changes_no_umask_and_reads_no_file(tmp_path):
    src = str(ROOT / "src" / "sdplanner")
    cache = tmp_path / "sdplanner-cache"
    env = {**os.environ, "HOME": str(tmp_path), "SDPLANNER_CACHE": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, src, *_modules()],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    calls = json.loads(done.stdout.strip().splitlines()[-1])
    assert calls == []
    assert not cache.exists()  # nothing cached either (no model parsed or translated)


def test_the_probe_sees_a_read_at_import(tmp_path):
    # the probe itself works: a module that reads a file when imported is caught
    pkg = tmp_path / "src" / "sdplanner"
    pkg.mkdir(parents=True)
    (pkg / "reads.py").write_text("open(__file__).close()\nimport os\nos.umask(os.umask(0))\n")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {str(pkg)!r})\n" + _PROBE,
            str(pkg),
            "reads",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    calls = json.loads(done.stdout.strip().splitlines()[-1])
    assert [c[0] for c in calls] == ["open", "os.umask", "os.umask"]


def test_import_sdplanner_leaves_the_heavy_libraries_until_a_verb_needs_them():
    # the public verbs are imported on first use (PEP 562): `import sdplanner` must not pull
    # SciPy, matplotlib or pandas (about 1.7 s before), and every name of __all__ resolves
    probe = (
        "import sys, sdplanner\n"
        "heavy = [m for m in ('scipy', 'matplotlib', 'pandas') if m in sys.modules]\n"
        "missing = [n for n in sdplanner.__all__ if not hasattr(sdplanner, n)]\n"
        "print(heavy, missing, 'scipy' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "[] [] True"
