"""Read YAML input files safely: one loader for every file kind.

The loader is PyYAML's safe loader (no Python objects) with duplicate keys refused, as YAML
itself would silently keep the last one. Every error is one line naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from sdplanner.errors import SdplannerError

__all__ = ["load_yaml"]


class _Loader(yaml.SafeLoader):
    """Safe loader that rejects duplicate keys."""


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
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: str | os.PathLike, *, error: type[SdplannerError] = SdplannerError):
    """Load one YAML file safely.

    Parameters
    ----------
    path : path-like
        The file.
    error : type of SdplannerError
        The exception raised for a missing, unreadable or invalid file.

    Returns
    -------
    object
        The document (mappings, lists, text, numbers).

    Raises
    ------
    SdplannerError
        One line naming the file and, for invalid YAML, the line and column.
    """
    path = Path(path)
    shown = os.path.normpath(str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{shown}: file not found") from None
    except IsADirectoryError:
        raise error(f"{shown}: expected a YAML file, found a directory") from None
    except UnicodeDecodeError:
        raise error(f"{shown}: expected a UTF-8 text file, found binary data") from None
    except OSError as exc:
        raise error(f"{shown}: cannot read ({exc.strerror})") from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise error(f"{shown}: invalid YAML{where}: {problem}") from None
