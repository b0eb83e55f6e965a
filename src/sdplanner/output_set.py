"""A command's outputs, staged in a private folder and put in place together.

A command that writes several files (``run``, ``compare``, ``ensemble``, ``sensitivity``,
``calibrate``) writes them into a staging folder next to ``--out`` (same parent, so the
same file system), ``manifest.json`` last; `OutputSet.commit` then exchanges the staging
folder with ``--out`` in one ``renameat2(RENAME_EXCHANGE)`` (two renames where the system
has no exchange). A kill at any moment leaves ``--out`` holding the old complete set or the
new complete set (or, only on systems without the exchange, briefly no folder: the next
start puts the old set back). Temporary files of the command (the spill files of exact
percentiles) live in the staging folder too; staging folders a killed command left behind
are removed at the next start. Files in ``--out`` that the old manifest does not list (a
report written there, a user's notes) are carried over into the new set.

Nothing is created when a command fails before `commit`: the staging folder is removed and
``--out`` is untouched.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from sdplanner.errors import OutputError, show_path
from sdplanner.executors import pid_alive

__all__ = ["MANIFEST", "OutputSet", "current_umask"]

#: Name of the manifest, written last into every set.
MANIFEST = "manifest.json"
_TAG = ".sdplanner-"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one system call (Linux ``renameat2``); False where unsupported."""
    libc = _libc()
    fn = getattr(libc, "renameat2", None) if libc is not None else None
    if fn is None:
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    done = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return done == 0


def _listed(manifest: Path) -> set[str]:
    """Top-level names the manifest of an output set says belong to it."""
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    names: set[str] = set()
    for key in ("output_files", "files", "figures"):
        value = data.get(key) if isinstance(data, dict) else None
        if isinstance(value, dict | list):
            names |= {str(k).split("/")[0] for k in value}
    return names


class OutputSet:
    """Stage the outputs of one command and put them in place together.

    Use as a context manager: ``with OutputSet(out) as outputs:`` write into
    ``outputs.path`` (the manifest last), then call ``outputs.commit()``. Leaving the block
    without committing (an error) removes the staging folder and leaves ``out`` untouched.

    Parameters
    ----------
    out : path-like
        The command's ``--out`` folder.

    Raises
    ------
    OutputError
        When ``out`` is a file, the current folder or one holding it (the command replaces
        its folder as a whole), or its parent cannot hold a staging folder.
    """

    def __init__(self, out: str | os.PathLike) -> None:
        target = Path(out)
        shown = show_path(target)
        try:
            if target.is_symlink():
                target = target.resolve()
            if target.exists() and not target.is_dir():
                raise OutputError(f"{shown}: expected an output directory, found a file")
            absolute = Path(os.path.abspath(target))
            here = Path.cwd().resolve()
        except (OSError, ValueError, RuntimeError) as exc:
            raise OutputError(f"{shown}: unusable output path ({type(exc).__name__})") from None
        real = absolute.resolve() if absolute.exists() else absolute
        if real == here or here.is_relative_to(real) or real.parent == real:
            raise OutputError(
                f"{shown}: expected a folder of its own for the outputs, found the current"
                " folder or one holding it (the outputs replace the folder as a whole)"
            )
        self.target = absolute
        self.path: Path | None = None
        self.committed = False

    def _stale(self) -> list[Path]:
        pattern = re.compile(re.escape(f".{self.target.name}{_TAG}") + r"(old-)?(\d+)-")
        found = []
        try:
            entries = list(self.target.parent.iterdir())
        except OSError:
            return found
        for entry in entries:
            m = pattern.match(entry.name)
            if m and not pid_alive(int(m[2])):
                found.append(entry)
        return found

    def _clean_stale(self) -> None:
        """Remove staging folders of killed commands; put back an old set left aside."""
        for entry in self._stale():
            if f"{_TAG}old-" in entry.name and not self.target.exists():
                with contextlib.suppress(OSError):
                    entry.rename(self.target)
                    continue
            shutil.rmtree(entry, ignore_errors=True)

    def __enter__(self) -> OutputSet:
        parent = self.target.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self._clean_stale()
            prefix = f".{self.target.name}{_TAG}{os.getpid()}-"
            self.path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        except OSError as exc:
            raise OutputError(
                f"{show_path(self.target)}: output directory cannot be written"
                f" ({exc.strerror or type(exc).__name__})"
            ) from None
        return self

    def __exit__(self, *exc) -> None:
        if self.path is not None and self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)

    def _carry_over(self) -> None:
        """Link into the new set the files of ``out`` that the old set did not write."""
        if not self.target.is_dir():
            return
        old = _listed(self.target / MANIFEST) | {MANIFEST}
        for entry in self.target.iterdir():
            if entry.name in old or (self.path / entry.name).exists():
                continue
            destination = self.path / entry.name
            try:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.copytree(entry, destination, symlinks=True, copy_function=_link)
                else:
                    _link(entry, destination)
            except OSError as exc:
                raise OutputError(
                    f"{show_path(entry)}: cannot carry this file over into the new outputs"
                    f" ({exc.strerror or type(exc).__name__})"
                ) from None

    def commit(self) -> Path:
        """Put the staged set in place of ``out`` in one step; return ``out``.

        Returns
        -------
        pathlib.Path
            The output folder, now holding the new set.

        Raises
        ------
        OutputError
            When the staged set has no manifest or cannot be moved into place.
        """
        if self.path is None or self.committed:
            raise OutputError(f"{show_path(self.target)}: the outputs were not staged")
        if not (self.path / MANIFEST).is_file():
            raise OutputError(f"{show_path(self.target)}: the outputs have no {MANIFEST}")
        try:
            self._carry_over()
            mode = self.target.stat().st_mode & 0o7777 if self.target.is_dir() else None
            os.chmod(self.path, mode if mode is not None else 0o777 & ~current_umask())
            if self.target.is_dir() and _exchange(self.path, self.target):
                shutil.rmtree(self.path, ignore_errors=True)  # now the old set
            elif self.target.is_dir():
                aside = self.path.with_name(self.path.name.replace(_TAG, f"{_TAG}old-", 1))
                os.rename(self.target, aside)
                os.rename(self.path, self.target)
                shutil.rmtree(aside, ignore_errors=True)
            else:
                os.rename(self.path, self.target)
        except OSError as exc:
            raise OutputError(
                f"{show_path(self.target)}: cannot move the outputs into place"
                f" ({exc.strerror or type(exc).__name__})"
            ) from None
        self.committed = True
        self.path = None
        return self.target


def _link(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Hard-link a file (a copy where links are not possible)."""
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


def current_umask() -> int:
    """Return the process's file mode creation mask (read when asked, never at import)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
