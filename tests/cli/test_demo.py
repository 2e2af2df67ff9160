"""`make demo` runs the whole job and ends by reproducing its own scoring run (issue: audit)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from stalkrisk import demo

from stalkrisk.tracking import registry as tracking


@pytest.mark.timeout(600)
def test_demo_ends_with_a_matching_audit_verify(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        code = demo.main(["--cases", "3000", "--seed", "3", "--out", str(tmp_path / "demo")])
    finally:
        monkeypatch.undo()
        tracking.configure()  # later tests find the session's store again
    out = capsys.readouterr().out
    assert code == 0
    prog = demo.command()
    assert prog.endswith("stalkrisk") and (prog == "stalkrisk" or Path(prog).is_absolute() or (Path.cwd() / prog).exists())
    commands = [line for line in out.splitlines() if line.startswith(f"$ {prog} ")]
    assert [c.split()[2] for c in commands[:3]] == ["synth", "validate", "train"]
    assert commands[-1] == f"$ {prog} audit verify {tmp_path / 'demo' / 'score'}"
    assert "MATCH: audit.json, scores.parquet, scores.csv, explanations.parquet, review/" in out
    # every command printed works as printed: the scoring step again, pasted into a shell
    score = next(c for c in commands if c.split()[2] == "score")[2:]
    again = subprocess.run(score, shell=True, cwd=tmp_path, capture_output=True, text=True,
                           env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"})
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "demo" / "score" / "audit.json").is_file()
