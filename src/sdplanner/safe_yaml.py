"""The one YAML loader of every input file: safe, bounded, duplicate keys refused.

Scenario, parameter, calibration spec, uncertainty and reality-check files are untrusted:
they come from other people. `load_yaml` reads one with PyYAML's safe constructors only
(no Python objects), and bounds the work a file can ask for before building anything:

- at most `MAX_BYTES` bytes;
- nesting at most `MAX_DEPTH` levels, checked on the parser's events (PyYAML's composer
  recurses, so a 1,000-deep file would otherwise end in a RecursionError);
- at most `MAX_NODES` nodes after alias expansion, counted on the composed node graph
  without expanding it (an alias bomb of 11 levels of 10 aliases would be 10**11 nodes);
- a mapping that repeats a key is refused (YAML would keep the last one silently).

Every refusal is one line naming the file (and line), raised as the error class the caller
names, so each file kind keeps its own `SdplannerError` subclass.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from sdplanner.errors import SdplannerError, quote, show_path

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "load_yaml"]

#: Largest input file read (byte).
MAX_BYTES = 1 << 20
#: Deepest nesting of mappings and sequences.
MAX_DEPTH = 50
#: Most nodes (scalars, mappings, sequences) after alias expansion.
MAX_NODES = 10_000


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that repeats a key."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False):
    loader.flatten_mapping(node)
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # unhashable: construct_mapping reports it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {quote(key)}", key_node.start_mark
            )
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _BoundError(Exception):
    """A bound was exceeded (message, line)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def _check_depth(text: str) -> None:
    """Refuse nesting deeper than `MAX_DEPTH`, from the parser's events (no recursion)."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _BoundError(
                    f"expected nesting at most {MAX_DEPTH} levels deep, found more",
                    event.start_mark.line + 1,
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _check_size(root: yaml.Node) -> None:
    """Refuse more than `MAX_NODES` nodes, or deeper than `MAX_DEPTH`, after alias expansion.

    An alias is the same node object as its anchor, so the expanded size of a node is one
    plus the expanded sizes of its children (its depth one plus their largest depth),
    computed once per node object (memoized), in an explicit stack: nothing is expanded. A
    node reached again while its size is being computed is a recursive alias, which has no
    finite expansion.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            children = _children(node)
            total = 1 + sum(size[id(c)] for c in children)
            levels = 1 + max((depth[id(c)] for c in children), default=0)
            line = node.start_mark.line + 1
            if total > MAX_NODES:
                raise _BoundError(
                    f"expected at most {MAX_NODES:,} values after expanding aliases,"
                    " found more (an alias bomb?)",
                    line,
                )
            if levels > MAX_DEPTH + 1:  # + 1: scalars are a level of their own here
                raise _BoundError(
                    f"expected nesting at most {MAX_DEPTH} levels deep after expanding"
                    " aliases, found more",
                    line,
                )
            size[key] = total
            depth[key] = levels
            active.discard(key)
            continue
        if key in size:
            continue
        if key in active:
            raise _BoundError("expected no alias inside its own anchor, found one", None)
        active.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in active:
                raise _BoundError(
                    "expected no alias inside its own anchor, found one",
                    child.start_mark.line + 1,
                )
            if id(child) not in size:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _problem(exc: yaml.YAMLError) -> tuple[str, str]:
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or (str(exc).strip().splitlines() or ["error"])[0]
    return where, quote(problem, 120)[1:-1] if problem.isprintable() else quote(problem)


def load_yaml(
    path: str | os.PathLike,
    *,
    kind: str,
    error: type[SdplannerError] = SdplannerError,
) -> object:
    """Read one YAML input file safely and within bounds.

    Parameters
    ----------
    path : path-like
        The file.
    kind : str
        What the file is, for messages (``"scenario"``, ``"uncertainty"`` ...).
    error : type, optional
        The `SdplannerError` subclass raised (each file kind has its own).

    Returns
    -------
    object
        The document: a mapping, list, text, number, boolean or None (an empty file).
        Only YAML's own types; a mapping never repeats a key.

    Raises
    ------
    SdplannerError
        Of class ``error``, one line naming the file: missing, a directory, unreadable, not
        UTF-8, larger than `MAX_BYTES`, invalid YAML (with line and column), nesting
        deeper than `MAX_DEPTH`, more than `MAX_NODES` values after alias expansion, a
        recursive alias, or a repeated key.
    """
    shown = show_path(path)
    p = Path(path)
    try:
        if not p.exists():
            raise error(f"{shown}: {kind} file not found")
        if not p.is_file():
            raise error(f"{shown}: expected a {kind} file (YAML), found a directory")
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise error(
                f"{shown}: expected a {kind} file of at most {MAX_BYTES:,} bytes,"
                f" found {size:,} bytes"
            )
        with open(p, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise error(f"{shown}: cannot read the {kind} file ({reason})") from None
    if len(data) > MAX_BYTES:
        raise error(f"{shown}: expected a {kind} file of at most {MAX_BYTES:,} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(
            f"{shown}: expected a UTF-8 text file, found a byte that is not UTF-8"
            f" at offset {exc.start}"
        ) from None
    try:
        _check_depth(text)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_size(node)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except _BoundError as exc:
        at = f" at line {exc.line}" if exc.line is not None else ""
        raise error(f"{shown}: invalid {kind} file{at}: {exc}") from None
    except yaml.YAMLError as exc:
        where, problem = _problem(exc)
        raise error(f"{shown}: invalid YAML{where}: {problem}") from None
    except RecursionError:  # a bound above should have caught it; never a traceback
        raise error(f"{shown}: invalid {kind} file: nested too deeply") from None
