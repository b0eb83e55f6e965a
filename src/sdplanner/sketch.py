r"""Draw a Vensim model's stock-and-flow diagram: write the sketch section of its ``.mdl``.

Vensim keeps a model's diagram after the equations, in a *sketch section* that starts at the
first ``\\\---///`` line; PySD and every other reader of the equations ignore it. This
module reads the equations through PySD's own parser (no evaluation) and writes a sketch from
them, so that Vensim draws the model:

* **One view per sector.** A view for each ``.Group`` of the ``.mdl`` that holds a stock,
  named after the group; a model without groups gets views of related stocks (stocks joined
  by flows stay together), at most `MAX_STOCKS_PER_VIEW` stocks each.
* **Stocks and flows.** A stock is an ``INTEG``; its flows are the variables that appear as
  terms of its rate (``INTEG(births - deaths, ...)``), inflows with ``+``, outflows with
  ``-``. A flow that leaves one stock and enters another is a pipe between the two; any other
  flow runs from a cloud (source) or into a cloud (sink). A flow that appears in more than one
  stock's rate (an accounting stock that adds up births, say) is a pipe where it is first
  found and an arrow into the other stocks. Rate terms that are not a plain variable
  (``(target - Stock) / time``) are drawn as arrows into the stock from what they use.
* **Main auxiliaries.** The variables a flow's equation uses directly, with an arrow into the
  flow's valve: every auxiliary, and the constants of flows that use at most
  `MAX_CONSTANTS_PER_FLOW` constants (a rate, a lifetime; flows with many parameters leave
  them to the equation). A variable is drawn once; in other views it appears as a shadow
  (grey, in angle brackets in Vensim).
* **Layout.** The stocks joined by flows sit in a row, ordered so that most pipes join
  neighbours and run left to right; a pipe that must pass a stock runs above the row. Clouds
  sit beside the end stocks (below middle stocks). Pipes are straight, horizontal or
  vertical. Auxiliaries take the free place nearest to what they influence; no two boxes
  overlap.

Coordinates are Vensim's sketch units (pixels at 100 % zoom, y downwards). The layout is
deterministic: the same equations give the same bytes. Only the sketch section changes:
the bytes before it (the equations) are kept as they are, and so are Vensim's settings
after the sketch's ``///---\\\`` end marker.

The format follows Vensim's documentation of ``.mdl`` files (Appendix, "Sketch Information"
and "Objects") and the sketches Vensim writes: object type 10 (variable), 11 (valve),
12 (cloud) and 1 (arrow; a flow's pipe is a pair of thick arrows from its valve, shape 4 at
the end it flows into and 100 at the end it comes from).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sdplanner.errors import ModelError, OutputError

__all__ = [
    "MAX_CONSTANTS_PER_FLOW",
    "MAX_STOCKS_PER_VIEW",
    "SKETCH_END",
    "SKETCH_START",
    "ModelStructure",
    "SketchSummary",
    "model_with_sketch",
    "read_structure",
    "sketch_section",
    "write_sketch",
]

#: First line of every view of a sketch section (only its first nine characters matter).
SKETCH_START = "\\\\\\---/// Sketch information - do not modify anything except names"
#: Line that ends the sketch section (Vensim's settings may follow it).
SKETCH_END = "///---\\\\\\"
_START_MARK = b"\\\\\\---///"
_END_MARK = b"///---\\\\\\"
_VERSION = "V300  Do not put anything below this section - it will be ignored"
#: Default font and colours of a view, as in Vensim's documented example.
_STYLE = "$192-192-192,0,Times New Roman|12||0-0-0|0-0-0|0-0-255|-1--1--1|-1--1--1|96,96,100,0"
_SHADOW_STYLE = "128-128-128,0-0-0,|0||128-128-128"

#: A model without ``.Group`` sections is cut into views of at most this many stocks.
MAX_STOCKS_PER_VIEW = 8
#: A flow's constants are drawn when it uses at most this many of them.
MAX_CONSTANTS_PER_FLOW = 2

# Geometry (sketch units).
_CHAR_W = 6  # width of one character of the 12-point default font
_LANE = 60  # least vertical distance between two parallel horizontal pipes
_PAD = 20  # a stock's box beyond its outermost pipe
_STOCK_W, _STOCK_H = 40, 20  # Vensim's default stock box (half sizes)
_VALVE = (6, 8)  # half sizes of a horizontal valve (a vertical one is turned)
_CLOUD = (10, 8)
_MIN_GAP = 110  # between two stocks of a row
_STAGGER = 40  # between the valves of parallel pipes
_MIN_RUN = 90  # from a stock's edge to its cloud
_DROP = 50  # from a stock's bottom to a vertical valve below it
_BLOCK_GAP = 170  # between two rows of stocks
_SHELF_WIDTH = 1400  # rows are packed left to right up to this width
_MARGIN = 60  # of a view
_CLEAR = 10  # free space kept around an auxiliary
_SEARCH_STEP = 10
_SEARCH_RADIUS = 900
_STRICT_RADIUS = 400  # auxiliaries search this far for a place their arrows reach cleanly
_LOOSE_RADIUS = 250  # and, failing that, this far for the place with fewest crossings


# --------------------------------------------------------------------------------------
# The model's structure
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelStructure:
    """What the diagram needs to know about a model, read from its equations.

    Keys are PySD's Python names of the variables.

    Attributes
    ----------
    path : pathlib.Path
        The ``.mdl`` file.
    names : dict
        ``key -> name`` as written in the ``.mdl`` (with its quotes, if any), in ``.mdl``
        order.
    kinds : dict
        ``key -> "stock" | "constant" | "auxiliary"``; a lookup table counts as a constant.
    groups : dict
        ``key -> group`` (the ``.Group`` section the variable is defined in, without the
        dot; ``""`` before the first group).
    inputs : dict
        ``key -> keys`` of the variables its equation uses directly, in order of first use
        (control variables and ``Time`` left out). For a stock, what its initial value uses.
    flows : dict
        ``stock -> ((flow, sign), ...)``: the variables that are terms of the stock's rate,
        ``+1`` for an inflow and ``-1`` for an outflow, in order.
    rate_inputs : dict
        ``stock -> keys`` of the variables used by the other terms of its rate (not the
        stock itself).
    """

    path: Path
    names: Mapping[str, str]
    kinds: Mapping[str, str]
    groups: Mapping[str, str]
    inputs: Mapping[str, tuple[str, ...]]
    flows: Mapping[str, tuple[tuple[str, int], ...]]
    rate_inputs: Mapping[str, tuple[str, ...]]

    @property
    def stocks(self) -> list[str]:
        """Keys of the stocks, in ``.mdl`` order."""
        return [k for k in self.names if self.kinds[k] == "stock"]


def _check_name(path: Path, name: str) -> None:
    """Refuse a name that would break a sketch line (a control character in quotes).

    PySD's parser already refuses unquoted names with commas or bars, and Vensim writes
    quoted names with their quotes in the sketch, so these are safe.
    """
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ModelError(
            f"{path}: variable name {name!r} has a control character; expected printable"
            " characters only"
        )


def _group_title(text: str) -> str:
    """Return a group's name from its header (``*** .Population chain ***``)."""
    title = " ".join(re.sub(r"\*+", " ", text).split())
    return title[1:].strip() if title.startswith(".") else title


def _element_groups(vensim) -> dict[str, str]:
    """Map each element (PySD's merge key: lower case, underscores) to its group."""
    from pysd.translators.vensim import vensim_utils
    from pysd.translators.vensim.vensim_section import SectionElementsVisitor

    class _GroupVisitor(SectionElementsVisitor):
        def __init__(self, ast):
            self.group = ""
            self.groups: list[str] = []
            super().__init__(ast)

        def visit_section(self, n, vc):
            self.group = _group_title(str(vc[0]))

        def visit_entry(self, n, vc):
            super().visit_entry(n, vc)
            self.groups.append(self.group)

    tree = vensim_utils.Grammar.get("section_elements").parse(vensim.sections[0].content)
    visitor = _GroupVisitor(tree)
    name_rule = vensim_utils.Grammar.get("element_object")["name"]  # how PySD reads a name
    out: dict[str, str] = {}
    for element, group in zip(visitor.entries, visitor.groups, strict=True):
        name = _name_of(name_rule, element.equation)
        if name is not None:
            out.setdefault(name.lower().replace(" ", "_"), group)
    return out


def _name_of(rule, equation: str) -> str | None:
    """Return the name an equation defines, read with PySD's rule; None if it has none."""
    from parsimonious.exceptions import ParseError

    try:
        return rule.match(equation).text.strip()
    except ParseError:
        return None


def _references(node, known: Mapping[str, str], out: list[str]) -> None:
    """Append the keys of the variables an abstract syntax tree refers to."""
    from pysd.translators.structures import abstract_expressions as ae

    if isinstance(node, ae.ReferenceStructure):
        key = known.get(node.reference)
        if key is not None and key not in out:
            out.append(key)
        return
    if isinstance(node, ae.CallStructure):
        _references(node.function, known, out)  # a lookup called by name
        _references(node.arguments, known, out)
        return
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            _references(getattr(node, f.name), known, out)
    elif isinstance(node, (list, tuple)):
        for item in node:
            _references(item, known, out)


def _rate_terms(node, sign: int = 1):
    """Split a rate into signed terms: ``a - (b - c)`` gives ``(a,+1), (b,-1), (c,+1)``."""
    from pysd.translators.structures import abstract_expressions as ae

    if isinstance(node, ae.ArithmeticStructure):
        ops = list(node.operators)
        if ops == ["negative"]:
            yield from _rate_terms(node.arguments[0], -sign)
            return
        if ops and all(op in ("+", "-") for op in ops):
            yield from _rate_terms(node.arguments[0], sign)
            for op, arg in zip(ops, node.arguments[1:], strict=True):
                yield from _rate_terms(arg, sign if op == "+" else -sign)
            return
    yield node, sign


def _is_number(node) -> bool:
    import numpy as np

    if isinstance(node, bool):
        return False
    return isinstance(node, (int, float, np.integer, np.floating, np.ndarray))


def read_structure(path: str | os.PathLike) -> ModelStructure:
    """Read the stocks, flows, auxiliaries and groups of a Vensim model.

    The file is parsed by PySD's Vensim parser (``VensimFile.parse`` and
    ``get_abstract_model``); nothing in it is evaluated. Only the main model is read (not
    macros).

    Parameters
    ----------
    path : path-like
        The ``.mdl`` file.

    Returns
    -------
    ModelStructure
        Names, kinds, groups, direct inputs and the flows of every stock.

    Raises
    ------
    ModelError
        When the file is missing, not a ``.mdl``, cannot be parsed, has a name that cannot
        be written to a sketch, or has no stock.
    """
    from pysd.builders.python.namespace import NamespaceManager
    from pysd.translators.structures import abstract_expressions as ae
    from pysd.translators.structures import abstract_model as am
    from pysd.translators.vensim.vensim_file import VensimFile

    path = Path(path)
    if not path.is_file():
        what = "a directory" if path.is_dir() else "no such file"
        raise ModelError(f"{path}: expected a Vensim .mdl file, found {what}")
    if path.suffix.lower() != ".mdl":
        raise ModelError(f"{path}: expected a Vensim .mdl file, found suffix {path.suffix!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vensim = VensimFile(path)
            vensim.parse()
            model = vensim.get_abstract_model()
            groups = _element_groups(vensim)
    except Exception as exc:  # the parser raises many types for bad files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path}: PySD cannot parse the model: {first}") from None
    section = model.sections[0]
    namespace = NamespaceManager(section.params)
    elements = [e for e in section.elements if not isinstance(e, am.AbstractControlElement)]
    for element in section.elements:
        namespace.add_to_namespace(element.name)
    keys = {e.name: namespace.namespace[e.name] for e in elements}
    known = {clean: py for clean, py in namespace.cleanspace.items() if py in set(keys.values())}

    names: dict[str, str] = {}
    kinds: dict[str, str] = {}
    group_of: dict[str, str] = {}
    inputs: dict[str, tuple[str, ...]] = {}
    rates: dict[str, list] = {}
    for element in elements:
        key = keys[element.name]
        _check_name(path, element.name)
        names[key] = element.name
        group_of[key] = groups.get(element.name.lower().replace(" ", "_"), "")
        asts = [c.ast for c in element.components]
        if any(isinstance(a, ae.IntegStructure) for a in asts):
            kinds[key] = "stock"
            rates[key] = [a for a in asts if isinstance(a, ae.IntegStructure)]
            refs: list[str] = []
            _references([a.initial for a in rates[key]], known, refs)
        else:
            lookup = all(isinstance(c, am.AbstractLookup) for c in element.components)
            number = all(
                _is_number(a) and not isinstance(c, am.AbstractData)
                for a, c in zip(asts, element.components, strict=True)
            )
            kinds[key] = "constant" if lookup or number else "auxiliary"
            refs = []
            _references(asts, known, refs)
        inputs[key] = tuple(r for r in refs if r != key)

    flows: dict[str, tuple[tuple[str, int], ...]] = {}
    rate_inputs: dict[str, tuple[str, ...]] = {}
    for stock, integs in rates.items():
        named: list[tuple[str, int]] = []
        other: list[str] = []
        for integ in integs:
            for term, sign in _rate_terms(integ.flow):
                key = known.get(term.reference) if isinstance(term, ae.ReferenceStructure) else None
                if key is not None and kinds[key] != "stock":
                    if key not in [f for f, _ in named]:
                        named.append((key, sign))
                else:
                    _references(term, known, other)
        flows[stock] = tuple(named)
        rate_inputs[stock] = tuple(r for r in other if r != stock)
    if not rates:
        raise ModelError(f"{path}: expected at least one stock (INTEG), found none to draw")
    return ModelStructure(path, names, kinds, group_of, inputs, flows, rate_inputs)


# --------------------------------------------------------------------------------------
# Plan: views, pipes, what each view shows
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Pipe:
    """A flow drawn as a valve on a pipe; ``src``/``dst`` are stocks, None for a cloud."""

    flow: str
    src: str | None
    dst: str | None


@dataclass
class _ViewPlan:
    name: str
    stocks: list[str]
    pipes: list[_Pipe] = field(default_factory=list)


def _view_name(text: str, taken: set[str], number: int) -> str:
    clean = " ".join(re.sub(r"[^\w .()&+-]", " ", text).split())[:60]
    if not clean or clean in taken:
        clean = f"View {number}"
    taken.add(clean)
    return clean


def _components(stocks: Sequence[str], links: Sequence[tuple[str, str]]) -> list[list[str]]:
    """Stocks joined by links, each group in the order of ``stocks``."""
    parent = {s: s for s in stocks}

    def root(s):
        while parent[s] != s:
            parent[s] = parent[parent[s]]
            s = parent[s]
        return s

    for a, b in links:
        if a in parent and b in parent:
            parent[root(a)] = root(b)
    out: dict[str, list[str]] = {}
    for s in stocks:
        out.setdefault(root(s), []).append(s)
    return list(out.values())


def _primary(structure: ModelStructure) -> dict[str, tuple[str | None, str | None]]:
    """Each flow's pipe: (source stock, destination stock).

    Among the stocks a flow leaves (enters), the first is taken, skipping *accounting stocks*
    (stocks all of whose flows also belong to other stocks, such as a cumulative count of
    births and deaths) while another one is there; a stock of the flow's own group comes
    first. A flow that leaves and enters the same stock (an ageing chain of subscripted
    cohorts) is drawn the way it first appears.
    """
    owners: dict[str, list[tuple[str, int]]] = {}
    for stock in structure.stocks:
        for flow, sign in structure.flows[stock]:
            owners.setdefault(flow, []).append((stock, sign))
    accounting = {
        s
        for s in structure.stocks
        if structure.flows[s] and all(len(owners[f]) > 1 for f, _ in structure.flows[s])
    }
    out: dict[str, tuple[str | None, str | None]] = {}
    for flow, found in owners.items():

        def first(sign: int, found=found, flow=flow) -> str | None:
            stocks = [s for s, g in found if g == sign]
            stocks.sort(
                key=lambda s: (s in accounting, structure.groups[s] != structure.groups[flow])
            )
            return stocks[0] if stocks else None

        src, dst = first(-1), first(1)
        if src is not None and src == dst:
            src, dst = (src, None) if found[0][1] < 0 else (None, dst)
        out[flow] = (src, dst)
    return out


def _plan(structure: ModelStructure) -> list[_ViewPlan]:
    stocks = structure.stocks
    primary = _primary(structure)
    links = [(a, b) for a, b in primary.values() if a is not None and b is not None]
    taken: set[str] = set()
    plans: list[_ViewPlan] = []
    named_groups = {structure.groups[s] for s in stocks}
    if named_groups != {""}:
        by_group: dict[str, list[str]] = {}
        for s in stocks:
            by_group.setdefault(structure.groups[s], []).append(s)
        for group, members in by_group.items():
            title = group or structure.path.stem
            plans.append(_ViewPlan(_view_name(title, taken, len(plans) + 1), members))
    else:
        chunk: list[str] = []
        chunks: list[list[str]] = []
        for comp in _components(stocks, links):
            if chunk and len(chunk) + len(comp) > MAX_STOCKS_PER_VIEW:
                chunks.append(chunk)
                chunk = []
            chunk = chunk + comp
        chunks.append(chunk)
        for members in chunks:
            n = len(plans) + 1
            plans.append(_ViewPlan(_view_name(f"View {n}", taken, n), members))
    view_of = {s: i for i, p in enumerate(plans) for s in p.stocks}
    for flow, (src, dst) in primary.items():
        if src is not None and dst is not None and view_of[src] != view_of[dst]:
            # the pipe stays in one view: the one of the flow's own group, else the inflow's
            home = dst
            if structure.groups[src] == structure.groups[flow] != structure.groups[dst]:
                home = src
            src, dst = (src, None) if home == src else (None, dst)
        plans[view_of[src if src is not None else dst]].pipes.append(_Pipe(flow, src, dst))
    return plans


# --------------------------------------------------------------------------------------
# Objects of a view
# --------------------------------------------------------------------------------------
@dataclass(eq=False)
class _Box:
    """An object with a box: a stock, an auxiliary, a shadow, a flow's name, a valve, a cloud."""

    kind: str
    key: str | None
    x: float
    y: float
    w: float
    h: float
    vertical: bool = False
    id: int = 0

    def overlaps(self, other: _Box, clear: float = 0.0) -> bool:
        return (
            abs(self.x - other.x) < self.w + other.w + clear
            and abs(self.y - other.y) < self.h + other.h + clear
        )


@dataclass(eq=False)
class _Arrow:
    """An arrow: ``end`` is 4 or 100 for the two halves of a pipe, 0 for a causal link."""

    src: _Box
    dst: _Box
    end: int = 0
    point: tuple[float, float] | None = None
    id: int = 0


@dataclass
class _Block:
    boxes: list[_Box] = field(default_factory=list)
    arrows: list[_Arrow] = field(default_factory=list)
    segments: list[_Box] = field(default_factory=list)  # pipes, as thin boxes

    def bounds(self) -> tuple[float, float, float, float]:
        items = self.boxes + self.segments
        return (
            min(b.x - b.w for b in items),
            min(b.y - b.h for b in items),
            max(b.x + b.w for b in items),
            max(b.y + b.h for b in items),
        )

    def shift(self, dx: float, dy: float) -> None:
        for b in self.boxes + self.segments:
            b.x += dx
            b.y += dy
        for a in self.arrows:
            if a.point is not None:
                a.point = (a.point[0] + dx, a.point[1] + dy)


def _wrap(name: str, width: int) -> list[str]:
    """Split a name into lines of at most ``width`` characters (at spaces when possible)."""
    lines: list[str] = []
    for word in name.replace("_", " ").split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [name]


def _text_size(name: str, width: int = 22) -> tuple[float, float]:
    """Half width and half height of a name written on its own (wrapped)."""
    lines = _wrap(name, width)
    return math.ceil(_CHAR_W * max(len(line) for line in lines) / 2) + 4, 4 + 7 * len(lines)


def _stock_box(key: str, name: str) -> _Box:
    lines = _wrap(name, 14)
    w = max(_STOCK_W, math.ceil(_CHAR_W * max(len(line) for line in lines) / 2) + 10)
    h = max(_STOCK_H, 7 * len(lines) + 6)
    return _Box("stock", key, 0.0, 0.0, w, h)


def _segment(x0: float, y0: float, x1: float, y1: float) -> _Box:
    """Return a pipe from (x0, y0) to (x1, y1) as a thin box (to keep auxiliaries off it)."""
    return _Box(
        "pipe", None, (x0 + x1) / 2, (y0 + y1) / 2, abs(x1 - x0) / 2 + 2, abs(y1 - y0) / 2 + 2
    )


class _Flows:
    """Draws the valve, name, pipe halves and cloud of one flow into a block."""

    def __init__(self, block: _Block, names: Mapping[str, str]):
        self.block = block
        self.names = names
        self.valves: dict[str, _Box] = {}
        self.labels: dict[str, _Box] = {}

    def label_width(self, flow: str) -> float:
        return 2 * _text_size(self.names[flow])[0]

    def valve(self, flow: str, x: float, y: float, vertical: bool) -> _Box:
        vw, vh = _VALVE
        valve = _Box("valve", flow, x, y, vh if vertical else vw, vw if vertical else vh, vertical)
        lw, lh = _text_size(self.names[flow])
        if vertical:
            label = _Box("label", flow, x + valve.w + 4 + lw, y, lw, lh)
        else:
            label = _Box("label", flow, x, y + valve.h + 3 + lh, lw, lh)
        self.valves[flow] = valve
        self.labels[flow] = label
        return valve, label

    def cloud(self, x: float, y: float) -> _Box:
        return _Box("cloud", None, x, y, *_CLOUD)

    def pipe(self, flow: str, valve: _Box, label: _Box, src: _Box, dst: _Box, ends) -> None:
        """Add the objects in Vensim's order: clouds, the two pipe halves, valve, name."""
        (sx, sy), (dx, dy) = ends
        for end in (src, dst):
            if end.kind == "cloud":
                self.block.boxes.append(end)
        self.block.arrows.append(_Arrow(valve, dst, 4, ((valve.x + dx) / 2, (valve.y + dy) / 2)))
        self.block.arrows.append(_Arrow(valve, src, 100, ((valve.x + sx) / 2, (valve.y + sy) / 2)))
        self.block.boxes += [valve, label]
        self.block.segments.append(_segment(sx, sy, dx, dy))


def _order_row(stocks: list[str], pipes: list[_Pipe]) -> list[str]:
    """Order a row so that pipes join neighbours and run left to right."""
    pairs = [(p.src, p.dst) for p in pipes if p.src is not None and p.dst is not None]
    if len(stocks) > 7:  # too many orders to try: follow the flows from the first stock
        order: list[str] = []
        todo = list(stocks)
        while todo:
            stack = [todo[0]]
            while stack:
                s = stack.pop(0)
                if s in order:
                    continue
                order.append(s)
                todo.remove(s)
                stack += [b for a, b in pairs if a == s and b not in order]
        return order
    best, best_cost = stocks, None
    for perm in itertools.permutations(stocks):
        pos = {s: i for i, s in enumerate(perm)}
        skips = sum(abs(pos[a] - pos[b]) - 1 for a, b in pairs)
        backwards = sum(pos[a] > pos[b] for a, b in pairs)
        cost = (skips, backwards)
        if best_cost is None or cost < best_cost:
            best, best_cost = list(perm), cost
    return best


def _skip_levels(skips: list[tuple[int, int, _Pipe]]) -> tuple[dict, list[_Pipe]]:
    """Give each pipe that passes stocks a level above the row (1, 2, ...), or refuse it.

    A pipe must run above every pipe attached to a stock it passes, and two pipes over the
    same stretch need different levels.
    """
    levels: dict[_Pipe, int] = {}
    spans: dict[_Pipe, tuple[int, int]] = {}
    refused: list[_Pipe] = []
    for a, b, pipe in sorted(skips, key=lambda t: (t[1] - t[0], t[0])):
        lo, hi, forbidden = 1, 10**6, set()
        for q, level in levels.items():
            c, d = spans[q]
            if c < b and a < d:
                forbidden.add(level)
            if a < c < b or a < d < b:
                lo = max(lo, level + 1)
            if c < a < d or c < b < d:
                hi = min(hi, level - 1)
        level = next((v for v in range(lo, hi + 1) if v not in forbidden), None)
        if level is None:
            refused.append(pipe)
        else:
            levels[pipe], spans[pipe] = level, (a, b)
    return levels, refused


def _row_block(
    stocks: list[str], pipes: list[_Pipe], names: Mapping[str, str]
) -> tuple[_Block, dict[str, _Box], _Flows, list[_Pipe]]:
    """Lay out stocks joined by flows in a row; return the block, its stocks and flows.

    Flows that cannot be drawn as a straight pipe are returned (the caller draws them from
    their source stock into a cloud, with an arrow to the other stock).
    """
    block = _Block()
    draw = _Flows(block, names)
    order = _order_row(stocks, pipes)
    n = len(order)
    pos = {s: i for i, s in enumerate(order)}
    boxes = {s: _stock_box(s, names[s]) for s in order}

    gaps: dict[int, list[_Pipe]] = {i: [] for i in range(n - 1)}
    left: list[_Pipe] = []
    right: list[_Pipe] = []
    bottom: dict[int, list[_Pipe]] = {i: [] for i in range(n)}
    skips: list[tuple[int, int, _Pipe]] = []
    for p in pipes:
        if p.src is not None and p.dst is not None:
            a, b = sorted((pos[p.src], pos[p.dst]))
            if b == a + 1:
                gaps[a].append(p)
            else:
                skips.append((a, b, p))
            continue
        i = pos[p.src if p.src is not None else p.dst]
        if n == 1:
            (left if p.src is None else right).append(p)
        elif i == 0:
            left.append(p)
        elif i == n - 1:
            right.append(p)
        else:
            bottom[i].append(p)
    levels, refused = _skip_levels(skips)

    # Lanes: y of every horizontal pipe, and the stocks each touches. A flow's name sits
    # between its pipe and the next one down.
    tallest = max([_text_size(names[p.flow])[1] for p in pipes] + [0])
    lane = max(_LANE, 10 * math.ceil((2 * _VALVE[1] + 10 + 2 * tallest) / 10))
    lane_y: dict[_Pipe, float] = {}
    touch: dict[int, list[float]] = {i: [] for i in range(n)}
    for a, plist in gaps.items():
        for k, p in enumerate(plist):
            lane_y[p] = k * lane
            touch[a].append(k * lane)
            touch[a + 1].append(k * lane)
    for plist, i in ((left, 0), (right, n - 1)):
        for k, p in enumerate(plist):
            lane_y[p] = k * lane
            touch[i].append(k * lane)
    for p, level in levels.items():
        lane_y[p] = -level * lane
        a, b = sorted((pos[p.src], pos[p.dst]))
        touch[a].append(-level * lane)
        touch[b].append(-level * lane)
    for i, s in enumerate(order):
        ys = touch[i] or [0.0]
        top, bot = min(ys) - _PAD, max(ys) + _PAD
        box = boxes[s]
        box.h = max(box.h, (bot - top) / 2)
        box.y = (top + bot) / 2 if (bot - top) / 2 >= box.h else 0.0

    # Vertical pipes below middle stocks: valves left to right, names on their right.
    below_x: dict[_Pipe, float] = {}
    overhang: dict[int, tuple[float, float]] = {i: (0.0, 0.0) for i in range(n)}
    for i, plist in bottom.items():
        if not plist:
            continue
        xs = [0.0]
        for p in plist[:-1]:
            xs.append(xs[-1] + _VALVE[1] + 4 + draw.label_width(p.flow) + 24)
        span = xs[-1]
        box = boxes[order[i]]
        box.w = max(box.w, span / 2 + 14)
        for p, x in zip(plist, xs, strict=True):
            below_x[p] = x - span / 2
        last = span / 2 + _VALVE[1] + 4 + draw.label_width(plist[-1].flow)
        overhang[i] = (0.0, max(0.0, last - box.w))

    # Skip pipes put their valve in the least crowded gap they pass.
    in_gap: dict[int, list[_Pipe]] = {a: list(plist) for a, plist in gaps.items()}
    for p in sorted(levels, key=lambda q: levels[q]):
        a, b = sorted((pos[p.src], pos[p.dst]))
        choice = min(range(a, b), key=lambda g: (len(in_gap[g]), g))
        in_gap[choice].append(p)

    # x positions, left to right.
    x = 0.0
    run_left = max([_MIN_RUN] + [draw.label_width(p.flow) + 40 for p in left])
    if left:
        x += run_left + _CLOUD[0]
    gap_x: dict[int, float] = {}
    for i, s in enumerate(order):
        box = boxes[s]
        box.x = x + box.w
        x += 2 * box.w
        if i < n - 1:
            width = max(
                [_MIN_GAP, overhang[i][1] + overhang[i + 1][0] + 30]
                + [draw.label_width(p.flow) + 40 for p in in_gap[i]]
            ) + _STAGGER * max(0, len(in_gap[i]) - 1)
            gap_x[i] = x + width / 2
            x += width
    block.boxes += [boxes[s] for s in order]

    def edge(box: _Box, toward: float) -> float:
        return box.x + box.w if toward > box.x else box.x - box.w

    # Pipes between stocks (in a gap, at their lane).
    for g, plist in in_gap.items():
        # valves of parallel pipes step to the right from top to bottom, leaving room for
        # the arrows of their auxiliaries to come in between
        plist = sorted(plist, key=lambda q: lane_y[q])
        for j, p in enumerate(plist):
            y = lane_y[p]
            x = gap_x[g] + (j - (len(plist) - 1) / 2) * _STAGGER
            valve, label = draw.valve(p.flow, x, y, False)
            src, dst = boxes[p.src], boxes[p.dst]
            ends = ((edge(src, valve.x), y), (edge(dst, valve.x), y))
            draw.pipe(p.flow, valve, label, src, dst, ends)
    # Pipes to clouds beside the end stocks.
    run_right = max([_MIN_RUN] + [draw.label_width(p.flow) + 40 for p in right])
    for plist, i, sign, run in ((left, 0, -1, run_left), (right, n - 1, 1, run_right)):
        box = boxes[order[i]]
        for p in plist:
            y = lane_y[p] + 0.0
            x_edge = box.x + sign * box.w
            valve, label = draw.valve(p.flow, x_edge + sign * run / 2, y, False)
            cloud = draw.cloud(x_edge + sign * run, y)
            ends = ((x_edge, y), (cloud.x, y))
            if p.src is None:  # from the cloud into the stock
                draw.pipe(p.flow, valve, label, cloud, box, ends[::-1])
            else:
                draw.pipe(p.flow, valve, label, box, cloud, ends)
    # Pipes to clouds below middle stocks.
    for i, plist in bottom.items():
        box = boxes[order[i]]
        y_edge = box.y + box.h
        for p in plist:
            vx = box.x + below_x[p]
            valve, label = draw.valve(p.flow, vx, y_edge + _DROP, True)
            cloud = draw.cloud(vx, y_edge + 2 * _DROP)
            ends = ((vx, y_edge), (vx, cloud.y))
            if p.src is None:
                draw.pipe(p.flow, valve, label, cloud, box, ends[::-1])
            else:
                draw.pipe(p.flow, valve, label, box, cloud, ends)
    # Keep auxiliaries out of the space between two stocks, where the pipes run.
    for g in range(n - 1):
        ys = [lane_y[p] for p in in_gap[g]]
        ys += [
            lane_y[p]
            for p in levels
            if min(pos[p.src], pos[p.dst]) <= g < max(pos[p.src], pos[p.dst])
        ]
        if ys:
            x0 = boxes[order[g]].x + boxes[order[g]].w
            x1 = boxes[order[g + 1]].x - boxes[order[g + 1]].w
            top, bot = min(ys) - 12, max(ys) + 50
            block.segments.append(
                _Box("gap", None, (x0 + x1) / 2, (top + bot) / 2, (x1 - x0) / 2, (bot - top) / 2)
            )
    return block, boxes, draw, refused


# --------------------------------------------------------------------------------------
# A whole view: rows of stocks, then auxiliaries in the free space
# --------------------------------------------------------------------------------------
def _candidates() -> list[tuple[int, int]]:
    r = _SEARCH_RADIUS // _SEARCH_STEP
    offsets = [
        (dx * _SEARCH_STEP, dy * _SEARCH_STEP) for dx in range(-r, r + 1) for dy in range(-r, r + 1)
    ]
    offsets.sort(key=lambda o: ((o[0] / 2) ** 2 + o[1] ** 2, o[1], o[0]))
    return offsets


_CANDIDATES: list[tuple[int, int]] | None = None


def _crosses(p: tuple[float, float], q: tuple[float, float], box: _Box) -> bool:
    """Tell whether the segment p-q passes through a box (Liang-Barsky clipping)."""
    if (
        max(p[0], q[0]) <= box.x - box.w
        or min(p[0], q[0]) >= box.x + box.w
        or max(p[1], q[1]) <= box.y - box.h
        or min(p[1], q[1]) >= box.y + box.h
    ):
        return False
    t0, t1 = 0.0, 1.0
    dx, dy = q[0] - p[0], q[1] - p[1]
    for d, lo, hi, start in (
        (dx, box.x - box.w, box.x + box.w, p[0]),
        (dy, box.y - box.h, box.y + box.h, p[1]),
    ):
        if d == 0:
            if not lo < start < hi:
                return False
            continue
        a, b = (lo - start) / d, (hi - start) / d
        t0, t1 = max(t0, min(a, b)), min(t1, max(a, b))
        if t0 >= t1:
            return False
    return True


def _flow_end(end: _Box, other: _Box, labels: Mapping[str, _Box]) -> _Box:
    """Return where an arrow meets a flow: its valve or its name, whichever is nearer."""
    label = labels.get(end.key) if end.kind == "valve" else None
    if label is None:
        return end
    d_valve = (end.x - other.x) ** 2 + (end.y - other.y) ** 2
    d_label = (label.x - other.x) ** 2 + (label.y - other.y) ** 2
    return label if d_label < d_valve else end


class _Space:
    """The boxes and arrows of a view, for finding a free place near a point.

    A place is good when the box keeps `_CLEAR` from every box and pipe, no arrow drawn
    so far runs through it, and its own arrows to its targets run through no other box.
    The nearest good place within `_STRICT_RADIUS` of the wanted point is taken; when there
    is none, the free place with the fewest arrows through boxes within `_LOOSE_RADIUS`.
    """

    def __init__(self, blocks: Sequence[_Block], labels: Mapping[str, _Box]):
        self.items: list[_Box] = [b for blk in blocks for b in blk.boxes + blk.segments]
        self.solid: list[_Box] = [b for blk in blocks for b in blk.boxes]
        self.labels = labels
        self.lines: list[tuple[tuple[float, float], tuple[float, float]]] = []

    def add_line(self, a: _Box, b: _Box) -> None:
        """Note an arrow between two boxes (between their centres)."""
        a, b = _flow_end(a, b, self.labels), _flow_end(b, a, self.labels)
        self.lines.append(((a.x, a.y), (b.x, b.y)))

    def _clear_of_boxes(self, box: _Box) -> bool:
        return not any(box.overlaps(other, _CLEAR) for other in self.items)

    def _crossings(self, box: _Box, targets: Sequence[_Box], stop: bool) -> int:
        """Count arrows through the box and boxes its arrows run through (stop at one)."""
        count = 0
        halo = _Box("", None, box.x, box.y, box.w + 2, box.h + 2)
        for p, q in self.lines:
            count += _crosses(p, q, halo)
            if count and stop:
                return count
        for t in targets:
            t = _flow_end(t, box, self.labels)
            for other in self.solid:
                if other.key == t.key and other.kind in (t.kind, "label", "valve"):
                    continue  # the target itself, or the other half (name, valve) of a flow
                count += _crosses((box.x, box.y), (t.x, t.y), other)
                if count and stop:
                    return count
        return count

    def place(self, box: _Box, x: float, y: float, targets: Sequence[_Box]) -> None:
        """Move a box to a free place near (x, y), keep it there and note its arrows."""
        global _CANDIDATES
        if _CANDIDATES is None:
            _CANDIDATES = _candidates()
        chosen = None
        loose: list[tuple[int, int]] = []
        for dx, dy in _CANDIDATES:
            if (dx / 2) ** 2 + dy**2 > _STRICT_RADIUS**2:
                break
            box.x, box.y = round(x + dx), round(y + dy)
            if not self._clear_of_boxes(box):
                continue
            if (dx / 2) ** 2 + dy**2 <= _LOOSE_RADIUS**2 and dx % 20 == dy % 20 == 0:
                loose.append((box.x, box.y))
            if not self._crossings(box, targets, stop=True):
                chosen = (box.x, box.y)
                break
        if chosen is None and loose:
            scores = []
            for bx, by in loose:
                box.x, box.y = bx, by
                scores.append(self._crossings(box, targets, stop=False))
            chosen = loose[scores.index(min(scores))]
        if chosen is None:  # nothing free nearby: below everything
            chosen = (round(x), round(max(b.y + b.h for b in self.items) + box.h + 2 * _CLEAR))
        box.x, box.y = chosen
        self.items.append(box)
        self.solid.append(box)
        for t in targets:
            self.add_line(box, t)


def _pack(blocks: list[_Block]) -> None:
    """Put blocks side by side, in shelves up to `_SHELF_WIDTH` wide."""
    x = y = 0.0
    shelf_h = 0.0
    for blk in blocks:
        x0, y0, x1, y1 = blk.bounds()
        if x > 0 and x + (x1 - x0) > _SHELF_WIDTH:
            x, y = 0.0, y + shelf_h + _BLOCK_GAP
            shelf_h = 0.0
        blk.shift(x - x0, y - y0)
        x += (x1 - x0) + _BLOCK_GAP
        shelf_h = max(shelf_h, y1 - y0)


@dataclass
class _View:
    name: str
    boxes: list[_Box]
    arrows: list[_Arrow]


def _layout_view(
    plan: _ViewPlan, structure: ModelStructure, home: Mapping[str, int], index: int
) -> _View:
    names = structure.names
    piped = {s for p in plan.pipes for s in (p.src, p.dst) if s is not None}
    links = [(p.src, p.dst) for p in plan.pipes if p.src is not None and p.dst is not None]
    blocks: list[_Block] = []
    stock_box: dict[str, _Box] = {}
    valve_box: dict[str, _Box] = {}
    label_box: dict[str, _Box] = {}
    extra_links: list[tuple[str, str]] = []  # (flow, stock): arrows for refused pipes
    for comp in _components([s for s in plan.stocks if s in piped], links):
        members = set(comp)
        pipes = [p for p in plan.pipes if (p.src in members or p.dst in members)]
        block, boxes, flows, refused = _row_block(comp, pipes, names)
        while refused:  # draw them as outflows into clouds, with an arrow to the other stock
            pipes = [p for p in pipes if p not in refused]
            pipes += [_Pipe(p.flow, p.src, None) for p in refused]
            extra_links += [(p.flow, p.dst) for p in refused]
            block, boxes, flows, refused = _row_block(comp, pipes, names)
        blocks.append(block)
        stock_box.update(boxes)
        valve_box.update(flows.valves)
        label_box.update(flows.labels)

    # Stocks without pipes: near what flows into them, or a block of their own.
    free = [s for s in plan.stocks if s not in piped]
    feeds = {
        s: [f for f, _ in structure.flows[s] if f in valve_box]
        + [r for r in structure.rate_inputs[s] if r in valve_box or r in stock_box]
        for s in free
    }
    for s in free:
        if not feeds[s]:
            blk = _Block(boxes=[_stock_box(s, names[s])])
            blocks.append(blk)
            stock_box[s] = blk.boxes[0]
    _pack(blocks)
    space = _Space(blocks, label_box)
    boxes: list[_Box] = [b for blk in blocks for b in blk.boxes]
    arrows: list[_Arrow] = [a for blk in blocks for a in blk.arrows]
    for s in free:
        if feeds[s]:
            targets = [valve_box.get(k) or stock_box[k] for k in feeds[s]]
            box = _stock_box(s, names[s])
            space.place(box, *_centroid(targets, below=True), targets)
            boxes.append(box)
            stock_box[s] = box

    # Who influences what: (source key, target object), in drawing order.
    wants: list[tuple[str, _Box]] = []
    for flow, valve in valve_box.items():
        consts = [k for k in structure.inputs[flow] if structure.kinds[k] == "constant"]
        for k in structure.inputs[flow]:
            if structure.kinds[k] == "constant" and len(consts) > MAX_CONSTANTS_PER_FLOW:
                continue
            wants.append((k, valve))
    for s in plan.stocks:
        box = stock_box[s]
        for flow, _ in structure.flows[s]:
            if flow not in valve_box or not _pipe_touches(plan.pipes, flow, s):
                wants.append((flow, box))
        for k in structure.rate_inputs[s]:
            wants.append((k, box))
    for flow, s in extra_links:
        wants.append((flow, stock_box[s]))

    nodes: dict[str, _Box] = {**stock_box, **valve_box}
    targets_of: dict[str, list[_Box]] = {}
    for k, target in wants:
        if k in nodes:
            space.add_line(nodes[k], target)
        else:
            targets_of.setdefault(k, []).append(target)
    for k, targets in targets_of.items():
        w, h = _text_size(names[k])
        box = _Box("aux" if home.get(k) == index else "shadow", k, 0.0, 0.0, w, h)
        space.place(box, *_centroid(targets, below=False), targets)
        boxes.append(box)
        nodes[k] = box

    seen: set[tuple[int, int]] = set()
    for k, target in wants:
        src = nodes[k]
        if src is target or (id(src), id(target)) in seen:
            continue
        seen.add((id(src), id(target)))
        a, b = _flow_end(src, target, label_box), _flow_end(target, src, label_box)
        arrows.append(_Arrow(a, b, 0, ((a.x + b.x) / 2, (a.y + b.y) / 2)))
    return _View(plan.name, boxes, arrows)


def _pipe_touches(pipes: Sequence[_Pipe], flow: str, stock: str) -> bool:
    return any(p.flow == flow and stock in (p.src, p.dst) for p in pipes)


def _centroid(targets: Sequence[_Box], below: bool) -> tuple[float, float]:
    x = sum(t.x for t in targets) / len(targets)
    y = sum(t.y for t in targets) / len(targets)
    # above a valve (its name is below it), below the stocks for a stock
    return x, y + (2 * _LANE if below else -_LANE)


def _homes(structure: ModelStructure, plans: Sequence[_ViewPlan]) -> dict[str, int]:
    """Return the view that shows each variable itself (the others show a shadow)."""
    home: dict[str, int] = {}
    by_group = {}
    for i, plan in enumerate(plans):
        for s in plan.stocks:
            home[s] = i
            by_group.setdefault(structure.groups[s], i)
        for p in plan.pipes:
            home[p.flow] = i
    for k in structure.names:
        if k not in home:
            # auxiliaries: in the view of their group, else in the first view that uses them
            home[k] = by_group.get(structure.groups[k], -1)
    return home


def _finish_homes(views: Sequence[_View]) -> None:
    """Make a variable drawn only as shadows real where it is first drawn."""
    real = {b.key for v in views for b in v.boxes if b.kind in ("aux", "stock", "label")}
    for v in views:
        for b in v.boxes:
            if b.kind == "shadow" and b.key not in real:
                b.kind = "aux"
                real.add(b.key)


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------
def _fmt(v: float) -> str:
    return str(round(v))


def _view_lines(view: _View, names: Mapping[str, str]) -> list[str]:
    for b in view.boxes:
        b.x, b.y = round(b.x), round(b.y)
    x0 = min(b.x - b.w for b in view.boxes)
    y0 = min(b.y - b.h for b in view.boxes)
    dx, dy = _MARGIN - x0, _MARGIN - y0
    for b in view.boxes:
        b.x += dx
        b.y += dy
    for a in view.arrows:
        px, py = a.point
        a.point = (px + dx, py + dy)
    # ids in drawing order; a pipe's two halves come just before its valve, as Vensim does
    order: list[object] = []
    pipes_of: dict[int, list[_Arrow]] = {}
    for a in view.arrows:
        if a.end:
            pipes_of.setdefault(id(a.src), []).append(a)
    for b in view.boxes:
        order += pipes_of.get(id(b), [])
        order.append(b)
    order += [a for a in view.arrows if not a.end]
    for n, item in enumerate(order, start=1):
        item.id = n
    lines = [SKETCH_START, _VERSION, f"*{view.name}", _STYLE]
    for item in order:
        if isinstance(item, _Arrow):
            px, py = (_fmt(c) for c in item.point)
            thick, dtype = (22, 0) if item.end else (0, 64)
            lines.append(
                f"1,{item.id},{item.src.id},{item.dst.id},{item.end},0,0,{thick},0,{dtype},0,"
                f"-1--1--1,,1|({px},{py})|"
            )
            continue
        b = item
        geo = f"{_fmt(b.x)},{_fmt(b.y)},{_fmt(b.w)},{_fmt(b.h)}"
        if b.kind == "stock":
            lines.append(f"10,{b.id},{names[b.key]},{geo},3,3,0,0,0,0,0,0")
        elif b.kind == "aux":
            lines.append(f"10,{b.id},{names[b.key]},{geo},8,3,0,0,0,0,0,0")
        elif b.kind == "shadow":
            lines.append(f"10,{b.id},{names[b.key]},{geo},8,2,0,3,-1,0,0,0,{_SHADOW_STYLE}")
        elif b.kind == "label":
            lines.append(f"10,{b.id},{names[b.key]},{geo},40,3,0,0,-1,0,0,0")
        elif b.kind == "valve":
            shape, tpos = (33, 4) if b.vertical else (34, 1)
            lines.append(f"11,{b.id},48,{geo},{shape},3,0,0,{tpos},0,0,0")
        elif b.kind == "cloud":
            lines.append(f"12,{b.id},48,{geo},0,3,0,0,-1,0,0,0")
    return lines


@dataclass(frozen=True)
class SketchSummary:
    """What a sketch shows.

    Attributes
    ----------
    views : tuple of str
        View names, in order.
    stocks, flows, auxiliaries : int
        Numbers of stocks, flows (valves) and other variables drawn (shadows not counted).
    """

    views: tuple[str, ...]
    stocks: int
    flows: int
    auxiliaries: int


def _build(structure: ModelStructure) -> tuple[str, SketchSummary]:
    plans = _plan(structure)
    home = _homes(structure, plans)
    views = [_layout_view(plan, structure, home, i) for i, plan in enumerate(plans)]
    _finish_homes(views)
    lines: list[str] = []
    for view in views:
        lines += _view_lines(view, structure.names)
    lines.append(SKETCH_END)
    kinds = [b.kind for v in views for b in v.boxes]
    summary = SketchSummary(
        tuple(v.name for v in views), kinds.count("stock"), kinds.count("valve"), kinds.count("aux")
    )
    return "\n".join(lines) + "\n", summary


def sketch_section(path: str | os.PathLike) -> str:
    r"""Return the sketch section Vensim needs to draw a model's stock-and-flow diagram.

    Parameters
    ----------
    path : path-like
        The ``.mdl`` file.

    Returns
    -------
    str
        From the first ``\\\---///`` line to the ``///---\\\`` line, each line ending
        in a newline.

    Raises
    ------
    ModelError
        As `read_structure`.
    """
    return _build(read_structure(path))[0]


def _encoding(data: bytes) -> str:
    """Return the file's encoding as its first line declares it (``{UTF-8}``), as PySD does."""
    match = re.match(rb"\s*\{([A-Za-z0-9_.:-]+)\}", data[:200])
    return match.group(1).decode("ascii") if match else "utf-8"


def model_with_sketch(path: str | os.PathLike) -> tuple[bytes, SketchSummary]:
    r"""Return a model file's bytes with a newly drawn sketch section.

    The bytes before the first ``\\\---///`` (all of them when there is no sketch) are
    kept exactly; a newline is added only when the file does not end with one. Whatever
    follows the old sketch's ``///---\\\`` line (Vensim's settings) is kept too. Lines
    end as the file's do (CR LF or LF).

    Parameters
    ----------
    path : path-like
        The ``.mdl`` file.

    Returns
    -------
    data : bytes
        The new file content.
    summary : SketchSummary
        Views and numbers of objects drawn.

    Raises
    ------
    ModelError
        As `read_structure`.
    """
    structure = read_structure(path)
    data = Path(path).read_bytes()
    start = data.find(_START_MARK)
    head, rest = (data, b"") if start < 0 else (data[:start], data[start:])
    end = rest.find(_END_MARK)
    tail = b""
    if end >= 0:
        tail = rest[end + len(_END_MARK) :]
        tail = tail[2:] if tail.startswith(b"\r\n") else tail[1:] if tail[:1] == b"\n" else tail
    newline = "\r\n" if b"\r\n" in head else "\n"
    if head and not head.endswith(b"\n"):
        head += newline.encode("ascii")
    text, summary = _build(structure)
    # PySD read the names in this encoding, so they can be written back in it
    sketch = text.replace("\n", newline).encode(_encoding(data))
    return head + sketch + tail, summary


def write_sketch(path: str | os.PathLike, out: str | os.PathLike | None = None) -> SketchSummary:
    """Draw a model's diagram and write the model with it (atomically).

    Parameters
    ----------
    path : path-like
        The ``.mdl`` file.
    out : path-like, optional
        Where to write the model with its sketch; ``path`` itself when omitted.

    Returns
    -------
    SketchSummary
        Views and numbers of objects drawn.

    Raises
    ------
    ModelError
        As `model_with_sketch`.
    OutputError
        When ``out`` cannot be written.
    """
    from sdplanner.results import atomic_write_bytes

    data, summary = model_with_sketch(path)
    target = Path(out) if out is not None else Path(path)
    if target.is_dir():
        raise OutputError(f"{target}: expected a file to write the model to, found a directory")
    if not target.parent.is_dir():
        raise OutputError(f"{target}: the folder {target.parent} does not exist")
    atomic_write_bytes(target, data)
    return summary
