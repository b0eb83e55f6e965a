"""The look every sdplanner figure shares: scenario colours and names, axes, history, bands.

Every figure function (`sdplanner.plots`, `sdplanner.ensemble_plots`, the report, the
calibration plots) draws through this module, so a scenario has one colour and one name in
every figure and page:

* `scenario_colors`: the scenario named ``baseline`` is near-black; each shipped scenario has
  a fixed colour of the palette (in the order of the shipped scenario files); any other
  scenario takes a free colour chosen from its name, so it keeps it from one figure to the
  next. The explorer's page gets the same mapping from `sdplanner.web.explorer`.
* `scenario_title`: legends show a scenario's ``title`` (its file's ``title:`` key), never
  its file name.
* `style_axes`: tick labels with thousands separators and never an offset or a power of ten
  (a reader cannot miss a "x1e4" in a corner that is not there).
* `mark_history`: the years before the policy start shaded, the policy start marked.
* `draw_observed`: observed figures, filled when the calibration in use was fitted to them
  and hollow otherwise, with the legend entries `OBSERVED_LABELS` in every figure.
* `new_figure` and `render`: figures on the Agg canvas (no pyplot, nothing global, nothing
  left open) and their bytes.

Nothing here computes a statistic: figures receive numbers and draw them.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence

from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sdplanner.errors import DataError

__all__ = [
    "BAND_ALPHA",
    "BASELINE_COLOR",
    "BASELINE_NAME",
    "FORMATS",
    "HISTORY_COLOR",
    "OBSERVED_LABELS",
    "PALETTE",
    "PlainFormatter",
    "draw_band",
    "draw_observed",
    "legend_names",
    "mark_history",
    "new_figure",
    "render",
    "scenario_colors",
    "scenario_title",
    "style_axes",
    "year_axis",
]

#: Figure formats, by file extension.
FORMATS = ("png", "svg", "pdf")
#: The scenario drawn in near-black wherever it appears.
BASELINE_NAME = "baseline"
BASELINE_COLOR = "#222222"
#: Qualitative colours (matplotlib's tab10 without its grey, then five darker ones), told
#: apart on screen and on paper.
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
)
HISTORY_COLOR = "#e9ecef"
#: Opacity of the outer (5-95 %) and inner (25-75 %) uncertainty bands.
BAND_ALPHA = (0.14, 0.28)
#: Legend entry of observed figures by role (`sdplanner.evidence.DRAWN_ROLES`), in order.
OBSERVED_LABELS = {
    "fitted": "observed, used in the fit",
    "not fitted": "observed, not used in the fit",
}


def _shipped_names() -> list[str]:
    from sdplanner.resources import shipped_scenarios_dir

    try:
        folder = shipped_scenarios_dir()
        return sorted(p.stem for p in folder.glob("*.yaml") if p.stem != BASELINE_NAME)
    except (OSError, DataError):
        return []


def scenario_colors(names: Iterable[str]) -> dict[str, str]:
    """Return the colour of each scenario, the same in every figure.

    Parameters
    ----------
    names : iterable of str
        Scenario names (the ``scenario`` column).

    Returns
    -------
    dict
        Name -> colour (hex). ``baseline`` is `BASELINE_COLOR`; a shipped scenario has the
        palette colour of its place among the shipped files; another scenario takes the first
        free colour from a place fixed by its name's hash, so two scenarios of one figure
        never share a colour while the palette lasts.
    """
    names = list(dict.fromkeys(names))
    shipped = _shipped_names()
    out: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        if name == BASELINE_NAME:
            out[name] = BASELINE_COLOR
        elif name in shipped:
            out[name] = PALETTE[shipped.index(name) % len(PALETTE)]
            taken.add(out[name])
    free = [c for c in PALETTE[len(shipped) :] if c not in taken] or list(PALETTE)
    for name in names:
        if name in out:
            continue
        start = int(hashlib.sha256(name.encode("utf-8")).hexdigest()[:8], 16) % len(free)
        order = free[start:] + free[:start]
        color = next((c for c in order if c not in taken), order[0])
        out[name] = color
        taken.add(color)
    return out


def scenario_title(name: str, titles: Mapping[str, str] | None) -> str:
    """Return the name a legend or table shows for a scenario: its title, else its name."""
    return (titles or {}).get(name) or name


class PlainFormatter(ticker.Formatter):
    """Tick labels as plain numbers with thousands separators: no offset, no exponent.

    The decimals are the fewest that write the step between ticks exactly (0.25 -> 2).
    """

    def __init__(self) -> None:
        super().__init__()
        self._ticks: list[float] = []

    def set_locs(self, locs) -> None:
        """Remember the tick positions (to choose the decimals)."""
        self._ticks = [float(v) for v in locs]

    def __call__(self, x: float, pos: int | None = None) -> str:
        """Return the label of a tick at ``x``."""
        if not math.isfinite(x):
            return ""
        ticks = self._ticks
        step = min((abs(b - a) for a, b in itertools.pairwise(ticks)), default=0)
        decimals = next(
            (d for d in range(7) if abs(round(step, d) - step) <= 1e-9 * max(1.0, step)), 6
        )
        text = f"{x:,.{decimals}f}"
        if float(text.replace(",", "")) == 0:
            text = f"{0:.{decimals}f}"
        return text.replace("-", "\u2212")


def style_axes(ax: Axes, *, x: bool = True, y: bool = True, grid: str = "both") -> Axes:
    """Give an axes plain tick labels (no offset, no exponent) and a light grid.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The axes.
    x, y : bool
        Format that axis's numbers (leave False for an axis of names or of years).
    grid : {"both", "x", "y"}
        Which grid lines to draw.

    Returns
    -------
    matplotlib.axes.Axes
        The same axes.
    """
    if x:
        ax.xaxis.set_major_formatter(PlainFormatter())
    if y:
        ax.yaxis.set_major_formatter(PlainFormatter())
    ax.grid(axis=grid, alpha=0.3)
    return ax


def year_axis(
    ax: Axes, first: float | None = None, last: float | None = None, *, step: int | None = None
) -> None:
    """Label an axis of years: every 5 or 10 years, no separator (``2030``, not ``2,030``).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The axes (x in years).
    first, last : float, optional
        The years the axis spans (default: the data's).
    step : int, optional
        Years between ticks (default: 5 up to 50 years, else 10).
    """
    if first is not None and last is not None and last > first:
        ax.set_xlim(first, last)
    lo, hi = ax.get_xlim()
    step = step or (5 if hi - lo <= 50 else 10)
    ax.xaxis.set_major_locator(ticker.MultipleLocator(step))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: f"{v:.0f}"))
    ax.set_xlabel("year")


def mark_history(ax: Axes, first_year: float, policy_start: int | None, *, text: bool) -> None:
    """Shade the years before the policy start and mark the start with a vertical line.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        An axes whose x axis is in years.
    first_year : float
        The first year drawn (the initial time).
    policy_start : int or None
        Year the levers start (the spec's ``years.policy_start``); None draws nothing.
    text : bool
        Write "history" and "policy start <year>" in the axes (on the top panel only).
    """
    if policy_start is None or policy_start <= first_year:
        return
    ax.axvspan(first_year, policy_start, color=HISTORY_COLOR, zorder=0, lw=0)
    ax.axvline(policy_start, color="#6c757d", lw=1.0, ls="--", zorder=1)
    if text:
        trans = ax.get_xaxis_transform()
        ax.text(
            (first_year + policy_start) / 2,
            0.98,
            "history",
            transform=trans,
            ha="center",
            va="top",
            fontsize=8,
            color="#495057",
        )
        ax.text(
            policy_start,
            0.98,
            f" policy start {policy_start}",
            transform=trans,
            ha="left",
            va="top",
            fontsize=8,
            color="#495057",
        )


def draw_band(ax: Axes, years, lo, hi, color: str, *, inner: bool, label: str | None = None):
    """Fill an uncertainty band between two curves in a scenario's colour.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The axes.
    years, lo, hi : array-like
        The x values (year) and the band's edges (display units).
    color : str
        The scenario's colour.
    inner : bool
        The 25-75 % band (darker) rather than the 5-95 % band.
    label : str, optional
        Legend entry.
    """
    alpha = BAND_ALPHA[1] if inner else BAND_ALPHA[0]
    ax.fill_between(years, lo, hi, color=color, alpha=alpha, lw=0, label=label, zorder=2)


def draw_observed(ax: Axes, points, scale: float, *, color: str = "black", suffix: str = ""):
    """Draw observed figures by role: fitted ones filled, the others hollow.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The axes (x in years).
    points : pandas.DataFrame or None
        ``year, value[, role]`` (model units; `sdplanner.evidence.observed_points`); a
        point without a role is ``not fitted``.
    scale : float
        Display units per model unit (`sdplanner.display.Display.scale`).
    color : str
        Edge colour (and the filled markers' face colour).
    suffix : str
        Appended to the legend entries (`OBSERVED_LABELS`), e.g. `` - Tibet``.

    Returns
    -------
    list of matplotlib.lines.Line2D
        One line per role drawn (none when there is no point).
    """
    if points is None or len(points) == 0:
        return []
    if "role" not in points.columns:
        points = points.assign(role="not fitted")
    drawn = []
    for role, label in OBSERVED_LABELS.items():
        mine = points[points["role"] == role]
        if len(mine) == 0:
            continue
        (line,) = ax.plot(
            mine["year"].to_numpy(dtype=float),
            mine["value"].to_numpy(dtype=float) * scale,
            linestyle="none",
            marker="o",
            markersize=6,
            markerfacecolor=color if role == "fitted" else "white",
            markeredgecolor=color,
            markeredgewidth=1.5,
            label=label + suffix,
            zorder=5,
        )
        drawn.append(line)
    return drawn


def new_figure(width: float, height: float) -> Figure:
    """Return an empty figure on the Agg canvas with constrained layout.

    Parameters
    ----------
    width, height : float
        Size (inches).

    Returns
    -------
    matplotlib.figure.Figure
        The figure; nothing global refers to it.
    """
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def legend_names(names: Sequence[str], titles: Mapping[str, str] | None) -> list[str]:
    """Return the legend entries of scenarios: their titles, in order."""
    return [scenario_title(n, titles) for n in names]


def render(fig: Figure, fmt: str = "png", *, dpi: int = 150) -> bytes:
    """Return a figure's file content in a format.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    fmt : {"png", "svg", "pdf"}
        File format.
    dpi : int
        Resolution of PNG output (dots per inch).

    Returns
    -------
    bytes
        The file content.
    """
    if fmt not in FORMATS:
        raise DataError(f"format: expected one of {list(FORMATS)}, found {fmt!r}")
    buf = io.BytesIO()
    metadata = {"Creator": "sdplanner"} if fmt in ("svg", "pdf") else {"Software": None}
    fig.savefig(buf, format=fmt, dpi=dpi, metadata=metadata)
    return buf.getvalue()
