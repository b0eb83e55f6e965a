"""Write one benchmark's section of benchmarks/RESULTS.md, leaving the others' alone."""

from __future__ import annotations

import re
from pathlib import Path

from sdplanner.results import atomic_write_text

#: The file the benchmark scripts write their figures to.
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(heading: str, text: str) -> None:
    """Replace the section under ``heading`` (up to the next ``## ``) with ``text``, or append it.

    Parameters
    ----------
    heading : str
        The section's first line, e.g. ``"## Explorer latency (`sdplanner serve`)"``.
    text : str
        The whole section, starting with ``heading``.
    """
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(old):
        new = pattern.sub(lambda _: text, old)
    else:
        new = old.rstrip("\n") + "\n\n" + text
    atomic_write_text(RESULTS, new)
