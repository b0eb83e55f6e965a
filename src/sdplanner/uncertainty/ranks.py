"""Ranking policy paths by their effects, and which constants are assumptions.

`ranks` orders paths by their effect on an indicator, sample by sample, treating effects
too small to matter as no effect (`material`); `source_label` reads the source label the
``.mdl`` gives a constant; `assumption_spec` keeps the assumption-labelled constants of an
uncertainty specification. Used by `sdplanner.uncertainty.robustness`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from sdplanner.model import ModelInfo
from sdplanner.uncertainty.spec import UncertaintySpec

__all__ = [
    "NO_EFFECT",
    "TOP",
    "assumption_spec",
    "material",
    "ranks",
    "source_label",
    "top_constants",
]

#: The source labels of the .mdl's comments (its header says what each means).
_LABEL = re.compile(r"(?:^|[;.(]\s*)(data|derived|literature|assumption|calibrated)\b", re.I)
#: Constants named in ``top_constants``.
TOP = 3
#: An effect under this fraction of the largest path's (same sample, indicator and year) is
#: no effect: paths without a material effect tie rather than rank by rounding noise.
NO_EFFECT = 1e-4


def source_label(comment: str) -> str | None:
    """Return the source label a ``.mdl`` comment gives its constant.

    The first of ``data``, ``derived``, ``literature``, ``assumption`` or ``calibrated``
    that opens the comment or one of its clauses (after ``;``, ``.`` or ``(``).

    Parameters
    ----------
    comment : str
        The constant's comment in the ``.mdl``.

    Returns
    -------
    str or None
        The label in lower case, or None when the comment gives none.
    """
    found = _LABEL.search(comment or "")
    return found.group(1).lower() if found else None


def ranks(effects: np.ndarray, better: str, rtol: float = NO_EFFECT) -> np.ndarray:
    """Rank paths by their effects, sample by sample.

    Parameters
    ----------
    effects : numpy.ndarray
        Shape ``(n, n_paths)``: each path's effect against the baseline.
    better : {"higher", "lower"}
        Which direction of the indicator is better.
    rtol : float, optional
        An effect smaller in magnitude than ``rtol`` times the sample's largest one is no
        effect (0): such paths tie, instead of being ranked by rounding noise.

    Returns
    -------
    numpy.ndarray
        Integer ranks of shape ``(n, n_paths)``: 1 for the best; tied paths share the best
        of their ranks.
    """
    score = material(effects, rtol) * (1.0 if better == "higher" else -1.0)
    return 1 + (score[:, None, :] > score[:, :, None]).sum(axis=2)


def material(effects: np.ndarray, rtol: float = NO_EFFECT) -> np.ndarray:
    """Return effects with those under ``rtol`` times the sample's largest set to 0.

    Parameters
    ----------
    effects : numpy.ndarray
        Shape ``(n, n_paths)``, in the indicator's units.
    rtol : float, optional
        Fraction of the largest magnitude of each row below which an effect is no effect.

    Returns
    -------
    numpy.ndarray
        Same shape and units.
    """
    effects = np.asarray(effects, dtype=float)
    largest = np.abs(effects).max(axis=1, keepdims=True)
    return np.where(np.abs(effects) < rtol * largest, 0.0, effects)


def top_constants(groups: Sequence[str], mu_star) -> str:
    """Return the `TOP` constants of largest ``mu*`` (above 0) as ``"name mu*; ..."``."""
    mu_star = np.asarray(mu_star, dtype=float)
    order = np.argsort(-mu_star, kind="stable")
    return "; ".join(f"{groups[i]} {mu_star[i]:.2g}" for i in order[:TOP] if mu_star[i] > 0)


def assumption_spec(spec: UncertaintySpec, model: ModelInfo) -> tuple[UncertaintySpec, list[str]]:
    """Keep the constants the ``.mdl`` labels ``assumption`` (`source_label`).

    Parameters
    ----------
    spec : UncertaintySpec
        Distributions of constants.
    model : ModelInfo
        The model whose comments label them.

    Returns
    -------
    UncertaintySpec
        The assumption-labelled parameters and the correlations between them.
    list of str
        The names of the others, left out.
    """
    keep = [
        p for p in spec.parameters if source_label(model.variables[p.name].comment) == "assumption"
    ]
    names = {p.name for p in keep}
    dropped = [p.name for p in spec.parameters if p.name not in names]
    correlations = tuple(c for c in spec.correlations if c.a in names and c.b in names)
    return (
        UncertaintySpec(tuple(keep), correlations, spec.model_regions, spec.path, spec.description),
        dropped,
    )
