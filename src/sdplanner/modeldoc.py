"""Generate the constants tables of ``docs/model.md`` from the ``.mdl``.

``python -m sdplanner.modeldoc docs/model.md`` rewrites the part of the file between the
markers ``<!-- constants:start -->`` and ``<!-- constants:end -->``; a test checks that the
document lists every constant of the model with its current value.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from sdplanner.levers import LEVERS
from sdplanner.model import ModelInfo, load_model
from sdplanner.validation import format_range

__all__ = ["constants_markdown", "update_document"]

START = "<!-- constants:start -->"
END = "<!-- constants:end -->"
_CONTROL = {"initial_time", "final_time", "time_step", "saveper"}


def _fmt(value: float) -> str:
    return f"{value:,.6g}" if abs(value) >= 1000 else f"{value:.6g}"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def constants_markdown(model: ModelInfo) -> str:
    """Return Markdown tables of every constant: unit, range, value(s), source or assumption.

    Parameters
    ----------
    model : ModelInfo
        The loaded model.

    Returns
    -------
    str
        Three tables: scalar constants, per-region constants, lever constants.
    """
    lever_consts = set()
    for lever in LEVERS:
        lever_consts |= {lever.strength_constant, lever.start_constant, lever.ramp_constant}
    scalars, regional, levers = [], [], []
    for py, value in sorted(model.constants.items()):
        info = model.variables[py]
        if py in lever_consts:
            levers.append((info, value))
        elif isinstance(value, np.ndarray):
            regional.append((info, value))
        else:
            scalars.append((info, value))
    out = ["### Scalar constants", "", "| constant | unit | range | value | source or assumption |"]
    out.append("|---|---|---|---|---|")
    for info, value in scalars:
        row = (
            f"| {info.name} | {info.units} | {format_range(info.limits)} | {_fmt(value)}"
            f" | {_escape(info.comment)} |"
        )
        out.append(row)
    out += ["", "### Per-region constants", ""]
    for info, value in regional:
        out.append(
            f"**{info.name}** ({info.units}, range {format_range(info.limits)}):"
            f" {_escape(info.comment)}"
        )
        out.append("")
        out.append("| " + " | ".join(model.regions) + " |")
        out.append("|" + "---|" * len(model.regions))
        out.append("| " + " | ".join(_fmt(v) for v in value) + " |")
        out.append("")
    out += ["### Policy lever constants (defaults: no new policy)", ""]
    out += [
        "| constant | unit | range | default (all regions) | meaning |",
        "|---|---|---|---|---|",
    ]
    for info, value in levers:
        shown = _fmt(float(np.unique(value)[0])) if np.ndim(value) else _fmt(value)
        out.append(
            f"| {info.name} | {info.units} | {format_range(info.limits)} | {shown}"
            f" | {_escape(info.comment)} |"
        )
    return "\n".join(out) + "\n"


def update_document(path: str | Path, model: ModelInfo | None = None) -> bool:
    """Rewrite the constants section of a Markdown file in place.

    Parameters
    ----------
    path : path-like
        The document, containing the start and end markers.
    model : ModelInfo, optional
        The model; the shipped model when omitted.

    Returns
    -------
    bool
        True when the file changed.
    """
    model = model or load_model()
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{constants_markdown(model)}{END}{tail}"
    if new != text:
        path.write_text(new, encoding="utf-8")
        return True
    return False


if __name__ == "__main__":  # pragma: no cover
    changed = update_document(sys.argv[1] if len(sys.argv) > 1 else "docs/model.md")
    print("updated" if changed else "up to date")
