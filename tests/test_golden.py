"""The outputs of fixed commands on the shipped files are those recorded before a change.

`tools/golden.py` runs ``compare`` of every shipped scenario, the shipped calibration, an
ensemble and a sensitivity analysis; `tests/golden/golden.json` holds the digests of their
text outputs. A restructuring of the code must leave them unchanged; a deliberate change of
the outputs regenerates the record (``python tools/golden.py --write``) in its own commit.
"""

from __future__ import annotations

import json

from .conftest import load_tool

golden = load_tool("golden")


def test_outputs_are_the_recorded_ones(tmp_path):
    record = json.loads(golden.RECORD.read_text(encoding="utf-8"))
    now = golden.generate(tmp_path)
    # With the kernel the record was made with, every byte must match. With another one
    # (another compiler or instruction set, or the NumPy kernel), the C kernel's last bits
    # differ legitimately, so the digests of the numbers rounded to 12 significant digits
    # are compared instead.
    assert golden.differences(record, now) == []
    assert len(now["files"]) >= 15  # every command's outputs were recorded


def test_a_changed_output_is_reported():
    record = {"kernel": "k", "files": {"a/x.csv": golden.digests(b"x,1.0000000000001\n")}}
    same_bits = {"kernel": "k", "files": {"a/x.csv": golden.digests(b"x,1.0000000000002\n")}}
    other_kernel = {**same_bits, "kernel": "other"}
    assert golden.differences(record, same_bits) == ["a/x.csv: sha256 differs"]
    assert golden.differences(record, other_kernel) == []  # equal to 12 digits
    changed = {"kernel": "other", "files": {"a/x.csv": golden.digests(b"x,1.001\n")}}
    assert golden.differences(record, changed) == ["a/x.csv: rounded differs"]
    assert golden.differences(record, {"kernel": "k", "files": {}}) == ["a/x.csv: missing"]


def test_rounding_keeps_twelve_significant_digits():
    assert golden.rounded("a,0.123456789012345,-0.0,2010,1e-20") == "a,0.123456789012,0,2010,1e-20"
