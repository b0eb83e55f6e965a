"""The C toolchain of the batch engine: find a working compiler, build and cache libraries.

`compiler` probes the system's C compiler once per process (``$SDPLANNER_CC``, ``$CC`` or
``cc``) and picks the fastest flag set that compiles a probe kernel without a message and
loads it. `build_library` compiles a generated C source into a shared library cached under
``$SDPLANNER_CACHE/ckernels``, keyed by the SHA-256 of the source, the compiler and its
flags, and sealed with its own hash (`sdplanner.cache`): a cached library that fails its
check (a truncated ``.so`` would kill the process with SIGBUS when loaded) is never
returned, it is built again. What the source says is `sdplanner.engine.ckernel`'s business;
this module never sees model text.

A compiler that has not produced a working kernel within `COMPILER_BUDGET` seconds in total
(probe and first compile) is given up: `compiler` then answers None for the rest of the
process, `build_library` raises `CompilerUnavailable`, and the batch engine runs its NumPy
kernel, after one warning line.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sdplanner.cache import cache_root, entry_for_rebuild, seal, verified
from sdplanner.errors import EngineError, warn_once

__all__ = [
    "COMPILER_BUDGET",
    "SIMD_DECLS",
    "CompilerInfo",
    "CompilerUnavailable",
    "build_library",
    "compiler",
]

#: Seconds a compiler gets, probe and compile together, to produce its first working
#: kernel; then, seconds any later compile gets.
COMPILER_BUDGET = 60.0


class CompilerUnavailable(EngineError):  # noqa: N818 - a condition, named as such
    """The C compiler did not produce a working kernel in time: use the NumPy kernel."""


SIMD_DECLS = """\
/* glibc's vector math (libmvec): let the compiler call its vector variants */
double pow(double, double) __attribute__((simd("notinbranch")));
double exp(double) __attribute__((simd("notinbranch")));
double log(double) __attribute__((simd("notinbranch")));
"""


# --------------------------------------------------------------------------------------
# The compiler
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CompilerInfo:
    """The C compiler and flags the kernels are built with.

    Attributes
    ----------
    command : str
        Path of the compiler.
    version : str
        First line of ``cc --version``.
    flags : tuple of str
        Compilation flags.
    libs : tuple of str
        Libraries linked.
    simd_math : bool
        Whether glibc's vector ``pow``/``exp``/``log`` are used.
    isa : str
        Instruction set the code is compiled for (``"x86-64-v3"``, ``"default"``).
    """

    command: str
    version: str
    flags: tuple[str, ...]
    libs: tuple[str, ...]
    simd_math: bool
    isa: str

    @property
    def label(self) -> str:
        """Short description for manifests, e.g. ``"c (gcc 12.2.0, x86-64-v3, libmvec)"``."""
        math = ", libmvec" if self.simd_math else ""
        return f"c ({self.version}, {self.isa}{math})"


_BASE_FLAGS = (
    "-O3",
    "-fopenmp-simd",
    "-fno-math-errno",
    "-fno-trapping-math",
    "-ffp-contract=off",
    "-fPIC",
    "-shared",
)
_compiler_lock = threading.Lock()
_compiler_state: dict[str, object] = {}
_budget: dict[str, float] = {}


def _remaining() -> float:
    """Seconds left for the compiler: the budget less the time its runs took so far.

    The runs' time counts until a kernel was built; after that, each compile gets the
    whole budget.
    """
    if _budget.get("proven"):
        return COMPILER_BUDGET
    return COMPILER_BUDGET - _budget.get("spent", 0.0)


def _give_up() -> None:
    """Stop using the C compiler for this process, with one warning line."""
    _compiler_state["info"] = None
    warn_once(
        f"the C compiler did not produce a working kernel within {COMPILER_BUDGET:g} s;"
        " using the NumPy kernel"
    )


def _run(cmd: list[str]) -> subprocess.CompletedProcess | None:
    """Run a compiler command within the remaining budget; None when it ran out.

    The compiler runs in its own process group, killed as a whole on timeout (a wrapper
    script's children included).
    """
    left = _remaining()
    if left <= 0:
        return None
    started = time.monotonic()
    proc = subprocess.Popen(  # noqa: S603 - the compiler the user configured
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=left)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, 9)
        except OSError:
            proc.kill()
        proc.communicate()
        return None
    finally:
        _budget["spent"] = _budget.get("spent", 0.0) + time.monotonic() - started
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


_V3_FLAGS = {"avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "abm", "xsave"}
_V4_FLAGS = _V3_FLAGS | {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}


def _x86_level() -> int:
    """Return the x86-64 micro-architecture level this processor runs (1, 3, 4; 0 if not x86)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return 0
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return 1
    for line in text.splitlines():
        if line.startswith("flags"):
            have = set(line.split(":", 1)[1].split())
            if _V4_FLAGS <= have:
                return 4
            if _V3_FLAGS <= have:
                return 3
            return 1
    return 1


def _try_compile(cc: str, flags, libs, simd: bool, workdir: Path) -> bool:
    src = workdir / "probe.c"
    body = "#include <math.h>\n" + (SIMD_DECLS if simd else "")
    body += (
        "void probe(double *restrict a, const double *restrict b) {\n"
        "#pragma omp simd\n"
        "  for (int j = 0; j < 32; j++) a[j] = pow(b[j], a[j]) + exp(b[j]) + log(b[j]);\n"
        "}\n"
    )
    src.write_text(body)
    out = workdir / "probe.so"
    cmd = [cc, *flags, str(src), "-o", str(out), *libs]
    try:
        proc = _run(cmd)
    except OSError:
        return False
    if proc is None or proc.returncode != 0 or proc.stderr.strip():
        return False
    try:
        ctypes.CDLL(str(out))
    except OSError:
        return False
    return True


def compiler() -> CompilerInfo | None:
    """Find a working C compiler for the kernels (once per process).

    ``$SDPLANNER_CC`` or ``$CC`` names the compiler (default ``cc``). The flags are tried from
    the fastest: x86-64-v3 with glibc's vector math, then the default instruction set with
    and without it. A set is taken when a probe kernel compiles without a message and loads.

    Returns
    -------
    CompilerInfo or None
        The compiler and flags, or None when no C compiler works here (the batch engine then
        uses its NumPy kernel).
    """
    with _compiler_lock:
        if "info" in _compiler_state:
            return _compiler_state["info"]  # type: ignore[return-value]
        info = _find_compiler()
        _compiler_state["info"] = info
        return info


def _find_compiler() -> CompilerInfo | None:
    name = os.environ.get("SDPLANNER_CC") or os.environ.get("CC") or "cc"
    cc = shutil.which(name)
    if cc is None:
        return None
    try:
        proc = _run([cc, "--version"])
    except OSError:
        return None
    if proc is None:
        _give_up()
        return None
    version = (proc.stdout.strip().splitlines() or ["unknown"])[0]
    glibc = platform.libc_ver()[0] == "glibc" and sys.platform.startswith("linux")
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    candidates = []
    level = _x86_level() if x86 else 0
    if glibc and level >= 4:
        candidates.append((("-march=x86-64-v4",), ("-lmvec", "-lm"), True, "x86-64-v4"))
    if glibc and level >= 3:
        candidates.append((("-march=x86-64-v3",), ("-lmvec", "-lm"), True, "x86-64-v3"))
    if x86 and glibc:
        candidates.append(((), ("-lmvec", "-lm"), True, "default"))
    candidates.append(((), ("-lm",), False, "default"))
    with tempfile.TemporaryDirectory(prefix="sdplanner-cc-") as tmp:
        for extra, libs, simd, isa in candidates:
            flags = (*_BASE_FLAGS, *extra)
            if _try_compile(cc, flags, libs, simd, Path(tmp)):
                return CompilerInfo(cc, version, flags, libs, simd, isa)
            if _remaining() <= 0:
                _give_up()
                return None
    return None


def build_library(source: str, info: CompilerInfo) -> Path:
    """Compile ``source`` into a shared library (cached by content) and return its path.

    Parameters
    ----------
    source : str
        The C source.
    info : CompilerInfo
        The compiler and flags.

    Returns
    -------
    pathlib.Path
        A library that matches its seal (never a damaged one).

    Raises
    ------
    CompilerUnavailable
        When the compiler did not finish within the budget (`COMPILER_BUDGET`): the caller
        uses the NumPy kernel.
    EngineError
        When the source does not compile.
    """
    key = hashlib.sha256(
        "\0".join([source, info.command, info.version, *info.flags, *info.libs]).encode()
    ).hexdigest()[:32]
    folder = cache_root() / "ckernels"
    target = folder / f"k{key}.so"
    if target.exists():
        if verified(target):
            return target
        target = entry_for_rebuild(target, "C kernel")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="build-", dir=target.parent) as tmp:
        src = Path(tmp) / "kernel.c"
        src.write_text(source)
        out = Path(tmp) / "kernel.so"
        cmd = [info.command, *info.flags, str(src), "-o", str(out), *info.libs]
        proc = _run(cmd)
        if proc is None:
            _give_up()
            raise CompilerUnavailable(
                f"the C compiler did not compile the kernel within {COMPILER_BUDGET:g} s"
            )
        if proc.returncode != 0:
            first = (proc.stderr.strip().splitlines() or ["no message"])[0]
            raise EngineError(f"the C kernel did not compile ({info.command}): {first}")
        os.replace(out, target)  # atomic: concurrent builders write the same bytes
        seal(target)
    _budget["proven"] = 1.0
    if not verified(target):  # another process replaced it meanwhile with other bytes
        raise EngineError(f"the C kernel library {target} changed while it was built")
    return target
