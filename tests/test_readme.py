"""README's quick start: two commands, the first comparing every shipped scenario."""

from __future__ import annotations

import glob
import re
import shlex

from .conftest import ROOT


def _quick_start() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[
        text.index("## Quick start") : text.index("\n## ", text.index("## Quick start") + 3)
    ]
    return re.findall(r"```bash\n(.*?)\n```", section, flags=re.S)


def test_quick_start_is_two_one_line_commands():
    blocks = _quick_start()
    assert len(blocks) == 2
    assert all("\n" not in b for b in blocks)
    assert blocks[0].startswith("python3 -m venv .venv") and blocks[1].startswith("python3 -m venv")
    assert 'pip install -e ".[all]" && python -m pytest -q' in blocks[1]


def test_the_main_job_compares_every_shipped_scenario_baseline_first():
    words = shlex.split(_quick_start()[0].split("sdplanner compare", 1)[1])
    files = []
    for word in words[: words.index("--out")]:
        files += sorted(glob.glob(str(ROOT / word))) or [word]
    names = [f.rsplit("/", 1)[-1] for f in files]
    shipped = sorted(p.name for p in (ROOT / "scenarios").glob("*.yaml"))
    assert names[0] == "baseline.yaml"
    assert sorted(names) == shipped, "the quick start leaves out a shipped scenario"
