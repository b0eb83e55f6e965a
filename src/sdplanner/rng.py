"""The one source of randomness: every random draw of sdplanner comes from `make_generator`.

Following SALib's helper, any seed (an integer, a sequence, a SeedSequence, a Generator or
None) becomes a `numpy.random.Generator`; keys after the seed name independent streams, so
that one part of a computation (the starts of a calibration) never shifts the draws of
another (its bootstrap). No code touches NumPy's global random state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sdplanner.errors import SdplannerError

__all__ = ["SeedError", "make_generator"]


class SeedError(SdplannerError):
    """A seed of an unsupported type (a float, a negative integer)."""


def make_generator(seed: Any = None, *stream: int) -> np.random.Generator:
    """Turn any seed into a `numpy.random.Generator` (the only source of randomness).

    Parameters
    ----------
    seed : int, sequence of int, numpy.random.SeedSequence, numpy.random.Generator or None
        The seed. None draws fresh entropy from the operating system; a Generator is
        returned as it is when no ``stream`` is given.
    *stream : int
        Optional keys of an independent stream derived from the seed (for example a block
        index): ``make_generator(s, 3)`` is reproducible and independent of
        ``make_generator(s, 4)``.

    Returns
    -------
    numpy.random.Generator
        A PCG64 generator.

    Raises
    ------
    SeedError
        When the seed is of an unsupported type (a float, a negative integer).
    """
    if isinstance(seed, np.random.Generator):
        if not stream:
            return seed
        seed = seed.bit_generator.seed_seq
    if isinstance(seed, np.random.SeedSequence):
        seq = np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, *stream))
        return np.random.Generator(np.random.PCG64(seq))
    if isinstance(seed, bool) or not (
        seed is None
        or isinstance(seed, int | np.integer)
        or (isinstance(seed, Sequence) and all(isinstance(s, int | np.integer) for s in seed))
    ):
        raise SeedError(f"seed: expected a non-negative integer, found {seed!r}")
    try:
        seq = np.random.SeedSequence(seed, spawn_key=tuple(int(s) for s in stream))
    except (TypeError, ValueError):
        raise SeedError(f"seed: expected a non-negative integer, found {seed!r}") from None
    return np.random.Generator(np.random.PCG64(seq))
