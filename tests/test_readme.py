"""The README's Python examples run as written."""

import re
import runpy
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("i", range(len(BLOCKS)))
def test_readme_example_runs(i, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    script = tmp_path / f"example_{i}.py"
    script.write_text(BLOCKS[i])
    runpy.run_path(str(script), run_name="__main__")
    if "check_layer" in BLOCKS[i]:
        assert "PASS" in capsys.readouterr().out
