"""The notebook-style example runs, plotting when matplotlib is installed."""

import importlib.util
import runpy

from conftest import REPO


def test_the_crossover_example_runs(tmp_path, capsys):
    ns = runpy.run_path(str(REPO / "python" / "examples" / "crossover_plot.py"))
    out = tmp_path / "crossover.png"
    written = ns["main"]([f"--out={out}"])
    text = capsys.readouterr().out
    assert "crossover k* = " in text or "inside never wins" in text
    assert text.count("\n") > 32, "one line per k"
    if importlib.util.find_spec("matplotlib") is None:
        assert written is None and "matplotlib is not installed" in text
    else:
        assert out.stat().st_size > 1000
