"""What every sdplanner figure must show a reader, checked on the figure object.

`check_figure` is the one check for any figure (compare, plot, report, ensemble, sensitivity,
calibrate): call it on the ``fig`` a figure function returns. It draws the figure on the Agg
canvas (so tick labels and offsets exist) and asserts:

* a title: the figure's suptitle, or a title on every axes with data;
* axis labels with units: every axes with data has an x and a y label, its own or a shared
  sibling's (small multiples label one row or column), except an axis of names (category
  ticks); a label of values names a unit: ``year``, ``(...)``, ``, <unit>`` or is a unit
  (``percentage points``);
* no offset text and no power of ten on any axis ("x1e4" in a corner);
* readable legend names: no file slug (``path-4.2-specialized-industry``), and every name in
  ``names`` present.

It returns each legend entry's colour, so a test can assert that a scenario has the same
colour in every figure: ``assert check_figure(a)["All five paths"] == check_figure(b)[...]``.
"""

from __future__ import annotations

import re

from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

__all__ = ["check_figure", "legend_colors"]

_SLUG = re.compile(r"[a-z0-9]+(?:[-_.][a-z0-9]+){2,}")
_UNIT = re.compile(
    r"\byear\b|\(.+\)|, .+|: .+|%|percentage points|people|yuan|dimensionless|index", re.S
)


def _has_data(ax) -> bool:
    return bool(ax.lines or ax.patches or ax.collections or ax.images)


def _is_category(axis) -> bool:
    """True for an axis whose tick labels are names, not numbers."""
    texts = [t.get_text() for t in axis.get_ticklabels() if t.get_text()]
    numeric = re.compile(r"^[\u2212\-+]?[\d,]*\.?\d*%?$")
    return bool(texts) and not all(numeric.match(t) for t in texts)


def _label(ax, which: str) -> str:
    """The axis label of an axes, or of an axes it shares that axis with."""
    own = ax.get_xlabel() if which == "x" else ax.get_ylabel()
    if own:
        return own
    group = ax.get_shared_x_axes() if which == "x" else ax.get_shared_y_axes()
    for other in group.get_siblings(ax):
        text = other.get_xlabel() if which == "x" else other.get_ylabel()
        if text:
            return text
    return ""


def legend_colors(fig: Figure) -> dict[str, str]:
    """Return every legend entry of a figure (figure and axes legends) -> its colour (hex)."""
    out: dict[str, str] = {}
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    for legend in legends:
        for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=False):
            if isinstance(handle, Line2D):
                color = handle.get_color()
                if handle.get_linestyle() in ("None", "none", ""):
                    color = handle.get_markeredgecolor()
            else:
                color = handle.get_facecolor()
            out[text.get_text()] = to_hex(color, keep_alpha=False)
    return out


def check_figure(fig: Figure, *, names=()) -> dict[str, str]:
    """Assert that a figure can be read; return its legend entries' colours.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure, as a figure function returns it.
    names : iterable of str
        Legend entries that must be present (e.g. the scenarios' titles).

    Returns
    -------
    dict
        Legend entry -> colour (hex, without alpha).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.axison and _has_data(ax)]
    assert axes, "the figure draws nothing"
    if not fig.get_suptitle():
        for ax in axes:
            assert ax.get_title(), f"an axes without a title in a figure without one: {ax}"
    for ax in axes:
        where = fig.get_suptitle() or ax.get_title()
        for which, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            offset = axis.get_offset_text().get_text()
            assert offset == "", f"{where}: {which} axis has the offset text {offset!r}"
            group = ax.get_shared_x_axes() if which == "x" else ax.get_shared_y_axes()
            siblings = [o.xaxis if which == "x" else o.yaxis for o in group.get_siblings(ax)]
            if any(_is_category(a) for a in [axis, *siblings]):
                continue
            label = _label(ax, which)
            assert label, f"{where}: {which} axis has no label"
            assert _UNIT.search(label), f"{where}: {which} label {label!r} names no unit"
            for tick in axis.get_ticklabels():
                text = tick.get_text()
                assert "e+" not in text and "e-" not in text and "×10" not in text, (
                    f"{where}: {which} tick label {text!r} has an exponent"
                )
    colors = legend_colors(fig)
    for text in colors:
        assert not _SLUG.fullmatch(text), f"legend entry {text!r} is a file slug, not a title"
    for name in names:
        assert name in colors, f"legend lacks {name!r}: {sorted(colors)}"
    return colors
