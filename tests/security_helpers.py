"""Helpers of the security and fuzz tests: the CLI in-process, one-line errors, folder snapshots."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from pathlib import Path

from sdplanner.cli import main

from .mdl import controls

#: Longest error line accepted (the issue's bound).
MAX_LINE = 300


def cli(argv: list[str]) -> tuple[int, str, str]:
    """Run ``sdplanner ARGV`` in this process; return (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def one_line(err: str) -> str:
    """Assert stderr is one error line under `MAX_LINE` characters; return its message."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert len(lines[0]) < MAX_LINE, (len(lines[0]), lines[0][:400])
    return lines[0].removeprefix("sdplanner: error: ")


def snapshot(folder: Path) -> dict | None:
    """Every file under a folder with its bytes and modification time (None: no folder)."""
    if not folder.exists():
        return None
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def precious_folder(path: Path) -> Path:
    """An existing output folder holding a file nobody may lose."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "precious.txt").write_text("keep me\n", encoding="utf-8")
    return path


def check_set(folder: Path) -> None:
    """Assert a folder is one complete output set: every file matches its manifest."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    listed = manifest["output_files"]
    for name, digest in listed.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert present - {"manifest.json"} == set(listed), present ^ set(listed)


def tiny_model(comment: str = "A constant.", *, extra: str = "", units: str = "Dmnl [0,1]") -> str:
    """A one-constant, one-stock Vensim model whose constant has the given comment and units."""
    return (
        "{UTF-8}\n"
        f"a=\n\t0.5\n\t~\t{units}\n\t~\t{comment}\n\t|\n\n"
        "stock= INTEG (\n\ta,\n\t\t0)\n\t~\tDmnl\n\t~\tA stock.\n\t|\n\n"
        f"{extra}\n"
        f"{controls(2, 1, 1)}\n"
        "\\\\\\---/// Sketch information - do not modify anything except names\n"
    )
