"""The tutorials' code runs: every ```python block of a page, in order, as one script."""

import pathlib
import re
import subprocess
import sys

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"
EXECUTED = [
    "tutorials/layers.md", "tutorials/training.md", "data.md", "tutorials/oneoff.md",
    "tutorials/anomaly-scores.md", "tutorials/karate-club.md", "tutorials/digits.md", "tutorials/cosmic-rays.md",
    "tutorials/top-tagging.md", "tutorials/speed.md", "tutorials/clustering.md",
    "tutorials/generating.md", "tutorials/tracking.md",
]


def python_blocks(page):
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)


@pytest.mark.parametrize("page", EXECUTED)
def test_tutorial_code_runs(page, tmp_path, script_env):
    blocks = python_blocks(DOCS / page)
    assert blocks, f"{page} has no python code"
    script = tmp_path / "tutorial.py"
    script.write_text("\n\n".join(blocks))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            env=script_env, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
