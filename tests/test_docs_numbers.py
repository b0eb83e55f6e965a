"""Every figure README.md and docs/ quote is what the command that produces it prints now."""

from __future__ import annotations

import pytest

from .conftest import load_tool

docs_numbers = load_tool("docs_numbers")


def test_every_quoted_figure_is_current():
    # Regenerate with `python tools/docs_numbers.py --write`.
    assert docs_numbers.stale(docs_numbers.documents()) == []


def test_every_quoted_name_is_produced():
    for path in docs_numbers.documents():
        for name in docs_numbers.quoted_names(path.read_text(encoding="utf-8")):
            docs_numbers.figure(name)  # KeyError names the document's unknown figure


def test_a_changed_figure_is_found_and_rewritten():
    text = (
        "Levers: <!-- n:model.n_levers -->99<!-- /n -->.\n"
        "<!-- generated:model.levers -->\nold table\n<!-- /generated:model.levers -->\n"
    )
    new = docs_numbers.render(text)
    assert new != text
    assert f"<!-- n:model.n_levers -->{docs_numbers.figure('model.n_levers')}<!-- /n -->" in new
    assert "old table" not in new and "| `" in new
    assert docs_numbers.render(new) == new  # rendering is idempotent


def test_unknown_names_are_refused():
    with pytest.raises(KeyError, match="no family 'nope'"):
        docs_numbers.figure("nope.x")
    with pytest.raises(KeyError, match="has no figure 'x'"):
        docs_numbers.figure("model.x")


def test_model_doc_lists_every_constant(model):
    text = (docs_numbers.ROOT / "docs" / "model.md").read_text(encoding="utf-8")
    for py in model.constants:
        assert model.variables[py].name in text, py
