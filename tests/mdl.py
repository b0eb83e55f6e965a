"""Pieces of small Vensim models written by the tests."""

from __future__ import annotations

from sdplanner.resources import default_model_path


def region_block() -> str:
    """Return the shipped model's ``Region`` subscript range definition (the 14 regions)."""
    text = default_model_path().read_text(encoding="utf-8")
    start = text.index("Region:")
    return text[start : text.index("|", start) + 1]


def controls(final_time: float, time_step: float, saveper: float, initial_time: float = 0) -> str:
    """Return the four control variables of a test model (years)."""
    parts = [
        ("FINAL TIME", final_time),
        ("INITIAL TIME", initial_time),
        ("SAVEPER", saveper),
        ("TIME STEP", time_step),
    ]
    return "\n".join(f"{name}  = {value:g}\n\t~\tyear\n\t~\t\t|\n" for name, value in parts)
