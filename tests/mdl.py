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


def minimal_model(
    name: str, equation: str, final_time: str = "10", saveper: str = "1", time_step: str = "0.5"
) -> str:
    """Return a model with a constant ``input`` (1) and one variable ``name = equation``.

    The control values are written as given (numbers or expressions, years).
    """
    variables = "".join(
        f"{n}=\n\t{e}\n\t~\tDmnl\n\t~\t\t|\n\n" for n, e in (("input", "1"), (name, equation))
    )
    parts = [
        ("FINAL TIME", final_time),
        ("INITIAL TIME", "0"),
        ("SAVEPER", saveper),
        ("TIME STEP", time_step),
    ]
    controls = "".join(f"{n}  = {v}\n\t~\tyear\n\t~\t\t|\n\n" for n, v in parts)
    return "{UTF-8}\n" + variables + controls
