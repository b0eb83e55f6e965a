"""``sdplanner check MODEL.mdl``: unit consistency and reality checks.

Exit codes: 0 when no unit finding and every reality check passes, 1 when there is a finding
or a failure, 2 when the model or the checks file cannot be read (one line on stderr).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from pathlib import Path

from sdplanner.cache import cache_root
from sdplanner.errors import SdplannerError, show_path

__all__ = ["handler", "register"]


def register(subparsers) -> None:
    """Add the ``check`` subcommand.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The subcommand collection of the ``sdplanner`` parser.
    """
    parser = subparsers.add_parser(
        "check",
        help="check unit consistency and run the model's reality checks",
        description=(
            "Check the dimensional consistency of every equation of MODEL.mdl, then run the"
            " reality checks of MODEL.checks.yaml beside it (format: docs/checks.md)."
            " Exit 0 when all is well, 1 on any finding or failure, 2 on unreadable input."
        ),
    )
    parser.add_argument("model", metavar="MODEL.mdl", help="the Vensim model to check")
    parser.add_argument(
        "--checks",
        metavar="FILE",
        help="reality-check file (default: MODEL.checks.yaml beside the model, if present)",
    )
    parser.add_argument(
        "--engine",
        choices=("auto", "batch", "pysd"),
        default="auto",
        help="engine for the reality checks: batch (fast), pysd (reference) or auto"
        " (batch when available, default)",
    )
    parser.add_argument(
        "--units-only", action="store_true", help="check units only; skip the reality checks"
    )
    parser.set_defaults(handler=handler)


def _snapshot(model_path: Path) -> Path:
    """Copy the model to a content-addressed file, so that every run sees one version.

    The reality checks run the model many times; a ``.mdl`` edited meanwhile must not mix two
    versions in one report. The copy lives in the sdplanner cache, named by the SHA-256 of the
    content, so PySD's cached translation and the loaded model are reused across commands.
    """
    data = model_path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    target = cache_root() / "check-snapshots" / digest[:16] / "model.mdl"
    if not (target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == digest):
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + f".{os.getpid()}.part")
        partial.write_bytes(data)
        os.replace(partial, target)
    return target


def handler(args: argparse.Namespace) -> int:
    """Run the checks and print one line per finding, pass or failure.

    Parameters
    ----------
    args : argparse.Namespace
        ``model``, ``checks``, ``engine``, ``units_only``.

    Returns
    -------
    int
        0 when everything passes, 1 on any unit finding or failed reality check.
    """
    from sdplanner.checks.units import check_units
    from sdplanner.model import translated_model_path

    model_path = Path(args.model)
    check_units(model_path)  # a missing, misnamed or unparsable model fails here (exit 2)
    try:
        snapshot = _snapshot(model_path)
    except OSError as exc:
        raise SdplannerError(
            f"{show_path(model_path)}: cannot read the model ({exc.strerror})"
        ) from None
    try:
        # what run refuses, check refuses: the guard, and PySD's translation
        translated_model_path(snapshot)
        return _check(args, model_path, snapshot)
    except SdplannerError as exc:  # name the user's file, not the snapshot
        message = str(exc).replace(show_path(snapshot), show_path(model_path))
        raise type(exc)(message.replace(str(snapshot), str(model_path))) from None


def _check(args: argparse.Namespace, model_path: Path, snapshot: Path) -> int:
    from sdplanner.checks.reality import (
        checks_path_for,
        load_checks,
        run_checks,
        select_engine,
    )
    from sdplanner.checks.units import check_units
    from sdplanner.model import load_model

    units = check_units(snapshot, load_model(model_path).spec.units)
    print(
        f"Units: {len(units.findings)} finding(s) in {units.n_equations} equations of {model_path}"
    )
    for finding in units.findings:
        print(f"UNITS {finding.line()}")
    if units.unsupported:
        print("Units not checked through: " + ", ".join(units.unsupported))
    failed = bool(units.findings)
    if args.units_only:
        return 1 if failed else 0

    checks_path = Path(args.checks) if args.checks else checks_path_for(model_path)
    if args.checks is None and not checks_path.exists():
        print(f"No reality checks found: {checks_path} does not exist (unit check only)")
        return 1 if failed else 0

    from sdplanner.model import load_model

    model = load_model(snapshot)
    checks = load_checks(checks_path, model)
    engine, note = select_engine(args.engine, snapshot)
    how = f"engine {engine.name}" + (f"; {note}" if note else "")
    print(f"Reality checks: {len(checks)} from {checks_path} ({how})")
    start = time.perf_counter()

    def show(result) -> None:
        for line in result.lines():
            print(line, flush=True)

    results = run_checks(checks, engine, progress=show)
    n_failed = sum(not r.passed for r in results)
    print(
        f"Summary: {len(units.findings)} unit finding(s); {len(results) - n_failed} of"
        f" {len(results)} reality checks passed ({time.perf_counter() - start:.1f} s)"
    )
    return 1 if failed or n_failed else 0
