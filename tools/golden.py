"""Golden outputs: fixed commands on the shipped files, and digests of what they write.

The commands (`RUNS`) are the ones whose outputs a restructuring of the code must not change:
``compare`` of every shipped scenario, the calibration of ``calibration/README.md``, an
ensemble (256 samples, seed 7) and a sensitivity analysis (64 samples, seed 7) of the
baseline. For every text output (CSV, text, YAML, and the table ``compare`` prints) the
record holds two digests:

* ``sha256``: of the bytes, for a run with the same batch-engine kernel as the record's;
* ``rounded``: of the text with every number rounded to 12 significant digits, for a run
  with another kernel (the C kernel's last bits depend on the compiler and the instruction
  set; see `sdplanner.engine.batch.kernel_label`).

Figures (PNG) and manifests (times, paths, versions) are not recorded. Usage::

    python tools/golden.py --write    # record tests/golden/golden.json (a deliberate change)
    python tools/golden.py --check    # exit 1 and list every output that differs

`tests/test_golden.py` runs `--check`'s comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The record of the golden digests.
RECORD = ROOT / "tests" / "golden" / "golden.json"
#: Suffixes of the outputs recorded.
TEXT_SUFFIXES = (".csv", ".txt", ".yaml")
#: Significant digits of the kernel-independent digest.
DIGITS = 12

_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def _scenarios() -> list[str]:
    """Every shipped scenario, the baseline first."""
    folder = ROOT / "scenarios"
    rest = sorted(p for p in folder.glob("*.yaml") if p.name != "baseline.yaml")
    return [str(folder / "baseline.yaml"), *map(str, rest)]


def runs() -> dict[str, list[str]]:
    """Return the golden commands: name (its output folder) -> arguments of ``sdplanner``."""
    uncertainty = str(ROOT / "uncertainty" / "default.yaml")
    baseline = str(ROOT / "scenarios" / "baseline.yaml")
    return {
        "compare": ["compare", *_scenarios()],
        "calibrate": [
            "calibrate",
            "--data",
            str(ROOT / "data" / "seed_figures.csv"),
            "--spec",
            str(ROOT / "calibration" / "seed-2010-2012.yaml"),
            "--seed",
            "2012",
            "--starts",
            "8",
            "--bootstrap",
            "200",
            "--no-plots",
        ],
        "ensemble": [
            "ensemble",
            baseline,
            "--uncertainty",
            uncertainty,
            "--samples",
            "256",
            "--seed",
            "7",
            "--quiet",
            "--no-plots",
        ],
        "sensitivity": [
            "sensitivity",
            baseline,
            "--uncertainty",
            uncertainty,
            "--samples",
            "64",
            "--seed",
            "7",
            "--quiet",
        ],
    }


def rounded(text: str, digits: int = DIGITS) -> str:
    """Return ``text`` with every number rounded to ``digits`` significant digits.

    Parameters
    ----------
    text : str
        Any text (CSV, a printed table).
    digits : int
        Significant digits kept.

    Returns
    -------
    str
        The text with each number written as ``format(x, f".{digits}g")`` (``-0`` as ``0``).
    """

    def one(m: re.Match) -> str:
        out = format(float(m[0]), f".{digits}g")
        return "0" if out == "-0" else out

    return _NUMBER.sub(one, text)


def digests(data: bytes) -> dict[str, str]:
    """Return the exact and the rounded digest of one output."""
    text = data.decode("utf-8")
    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "rounded": hashlib.sha256(rounded(text).encode("utf-8")).hexdigest(),
    }


def _printed(stdout: str, out: Path) -> str:
    """Return what a command printed, less the lines naming its output folder (with times)."""
    return "".join(line for line in stdout.splitlines(True) if str(out) not in line)


def generate(folder: Path, names: list[str] | None = None) -> dict:
    """Run the golden commands into ``folder`` and return their record.

    Parameters
    ----------
    folder : pathlib.Path
        Where each command writes its outputs (``folder/<name>``).
    names : list of str, optional
        Only these commands (all when omitted).

    Returns
    -------
    dict
        ``{"kernel": label, "files": {"<name>/<file>": {"sha256", "rounded"}}}``.

    Raises
    ------
    RuntimeError
        When a command fails.
    """
    from sdplanner.cli import main as sdplanner
    from sdplanner.engine.batch import kernel_label

    files: dict[str, dict[str, str]] = {}
    for name, argv in runs().items():
        if names is not None and name not in names:
            continue
        out = folder / name
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            code = sdplanner([*argv, "--out", str(out)])
        if code != 0:
            raise RuntimeError(f"golden: sdplanner {name} exited with {code}")
        for path in sorted(out.rglob("*")):
            if path.suffix in TEXT_SUFFIXES:
                files[path.relative_to(folder).as_posix()] = digests(path.read_bytes())
        files[f"{name}/stdout"] = digests(_printed(buffer.getvalue(), out).encode("utf-8"))
    return {"kernel": kernel_label(), "files": files}


def differences(record: dict, now: dict) -> list[str]:
    """Return one line per output of ``now`` that differs from ``record``.

    The exact digests are compared when both runs used the same kernel, the rounded ones
    otherwise (the C kernel's last bits depend on the compiler and instruction set).
    """
    key = "sha256" if record["kernel"] == now["kernel"] else "rounded"
    out = []
    for name in sorted(set(record["files"]) | set(now["files"])):
        old, new = record["files"].get(name), now["files"].get(name)
        if old is None or new is None:
            out.append(f"{name}: {'new' if old is None else 'missing'}")
        elif old[key] != new[key]:
            out.append(f"{name}: {key} differs")
    return out


def main(argv: list[str] | None = None) -> int:
    """Record (``--write``) or check (``--check``) the golden outputs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help=f"record {RECORD.name}")
    mode.add_argument("--check", action="store_true", help="exit 1 when an output differs")
    parser.add_argument("--keep", default=None, help="write the outputs here (kept)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        now = generate(Path(args.keep or tmp))
    if args.write:
        RECORD.parent.mkdir(parents=True, exist_ok=True)
        RECORD.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"recorded {len(now['files'])} outputs ({now['kernel']}) -> {RECORD}")
        return 0
    lines = differences(json.loads(RECORD.read_text(encoding="utf-8")), now)
    for line in lines:
        print(line)
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
