"""A self-checking cache: a usable folder, and entries that carry their hash.

PySD's translations, parsed models and compiled C kernels are cached (`cache_root`). Each
entry is written once, then *sealed*: a ``<entry>.sha256`` file beside it holds the SHA-256
of its bytes. `verified` checks an entry against its seal before it is loaded, so a
truncated or altered file (a ``.so`` cut short by a full disk gives SIGBUS when loaded) is
never used. When the cache folder cannot be used (its path is a file, it is read-only) or an
entry fails its check, the work is redone in a fresh private folder for this process
(`fresh_root`), with one warning line on standard error; the damaged entry is removed when
possible, so the next command rebuilds it in place.

The cache is trusted as far as the user's own files are (it lives in the user's home); the
seals detect damage, not an attacker who can write there.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path

from sdplanner.errors import show_path, warn_once
from sdplanner.resources import cache_dir

__all__ = ["cache_root", "entry_for_rebuild", "fresh_root", "seal", "sha256_of", "verified"]

_lock = threading.Lock()
_state: dict[str, Path] = {}


def fresh_root() -> Path:
    """Return this process's private fallback cache folder (made once, removed at exit).

    Returns
    -------
    pathlib.Path
        A new folder under the system's temporary folder, mode 0700.
    """
    with _lock:
        root = _state.get("fresh")
        if root is None or not root.is_dir():
            root = Path(tempfile.mkdtemp(prefix="sdplanner-cache-"))
            atexit.register(shutil.rmtree, root, True)
            _state["fresh"] = root
        return root


def _usable(base: Path) -> str | None:
    """Return why a cache folder cannot be used, or None when it can."""
    if base.exists() and not base.is_dir():
        return "it is a file"
    try:
        base.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=base, prefix=".probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return exc.strerror.lower() if exc.strerror else "it cannot be written"
    return None


def cache_root() -> Path:
    """Return the cache folder to use: `sdplanner.resources.cache_dir` when usable.

    Returns
    -------
    pathlib.Path
        ``$SDPLANNER_CACHE`` (default ``~/.cache/sdplanner``), created if needed; when it is
        a file or cannot be written, this process's `fresh_root`, after one warning line.
    """
    base = cache_dir()
    key = f"root:{base}"
    with _lock:
        known = _state.get(key)
    if known is not None:
        return known
    why = _usable(base)
    root = base
    if why is not None:
        root = fresh_root()
        warn_once(f"cache folder {show_path(base)} is not usable ({why}); using {root}")
    with _lock:
        _state[key] = root
    return root


def _seal_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def sha256_of(path: str | os.PathLike) -> str:
    """Return the SHA-256 (hex) of a file's bytes, read in 1 MiB pieces.

    Parameters
    ----------
    path : path-like
        The file.

    Returns
    -------
    str
        64 hex digits.
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def seal(path: str | os.PathLike) -> None:
    """Record the SHA-256 of a cache entry beside it (``<entry>.sha256``), atomically.

    Parameters
    ----------
    path : path-like
        The entry, fully written.

    Raises
    ------
    OSError
        When the seal cannot be written (a read-only cache): the entry is then not trusted
        by `verified` and is rebuilt next time.
    """
    path = Path(path)
    text = sha256_of(path) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".seal")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, _seal_path(path))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def verified(path: str | os.PathLike) -> bool:
    """Tell whether a cache entry exists and matches its seal.

    Parameters
    ----------
    path : path-like
        The entry.

    Returns
    -------
    bool
        True when the file and its seal exist and the file's SHA-256 is the sealed one.
    """
    path = Path(path)
    try:
        expected = _seal_path(path).read_text(encoding="ascii").strip()
        return path.is_file() and len(expected) == 64 and sha256_of(path) == expected
    except (OSError, UnicodeDecodeError):
        return False


def entry_for_rebuild(path: str | os.PathLike, what: str) -> Path:
    """Return where to rebuild an entry that failed its check.

    The entry (and its seal) is removed. An entry without a seal (written before entries
    were sealed) is rebuilt in place, silently, when it could be removed; a sealed entry
    that no longer matches its seal is damaged: it is rebuilt at the same relative place
    under `fresh_root`, after one warning line.

    Parameters
    ----------
    path : path-like
        The entry, under `cache_root` (a file, or a folder whose file is sealed).
    what : str
        What it is, for the warning (``"C kernel"``, ``"PySD translation"`` ...).

    Returns
    -------
    pathlib.Path
        The place for the rebuilt entry (its folder exists).
    """
    path = Path(path)
    sealed = _seal_path(path).exists() or (path.is_dir() and any(path.glob("*.sha256")))
    removed = True
    for p in (path, _seal_path(path)):
        try:
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)
        except OSError:
            removed = False
    if not sealed and removed:
        return path
    try:
        relative = path.relative_to(cache_root())
    except ValueError:
        relative = Path(path.name)
    target = fresh_root() / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    warn_once(
        f"cached {what} {show_path(path)} failed its check (damaged or cut short);"
        f" rebuilding it in {show_path(target.parent)}"
    )
    return target
