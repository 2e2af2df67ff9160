"""`make demo` runs the whole job and ends by reproducing its own scoring run (issue: audit)."""

from __future__ import annotations

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
    commands = [line for line in out.splitlines() if line.startswith("$ stalkrisk ")]
    assert [c.split()[2] for c in commands[:3]] == ["synth", "validate", "train"]
    assert commands[-1] == f"$ stalkrisk audit verify {tmp_path / 'demo' / 'score'}"
    assert "MATCH: scores.parquet, scores.csv, explanations.parquet, review/" in out
    assert (tmp_path / "demo" / "score" / "audit.json").is_file()
