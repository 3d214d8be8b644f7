"""The README's examples stay true: its Python example runs, its command lines parse and work."""
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_python_example_runs_and_gives_a_table(capsys):
    (code,) = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert len(code.strip().splitlines()) == 5, "the README promises five lines"
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert "layers.1.backward.forget_gate" in capsys.readouterr().out
    frame = scope["tr"].to_frame("layers.1.backward.forget_gate")
    assert isinstance(frame, pd.DataFrame) and len(frame) == 12 * 16


def test_the_trace_command_prints_csv():
    (line,) = [l.strip() for l in README.splitlines() if l.strip().startswith("python -m core trace")]
    args = shlex.split(line)[1:]
    out = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    header, *rows = out.stdout.strip().splitlines()
    assert "forget_gate" in out.stdout and len(rows) == 13 * 256, (header, len(rows))


def test_the_quick_start_is_two_commands_and_ci_runs_the_second():
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [l.strip() for l in quick.splitlines() if l.startswith("    ")]
    assert commands == ["pip install -r requirements.txt && streamlit run explorer/app.py",
                        "pip install -r requirements.txt -r requirements-dev.txt && python -m pytest"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -r requirements.txt -r requirements-dev.txt" in ci and ci.rstrip().endswith("python -m pytest")
