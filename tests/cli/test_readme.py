"""Docs that run: the README's everyday commands work, in order, as written."""

from __future__ import annotations

import shlex
from pathlib import Path

from stalkrisk.cli import main
from stalkrisk.tracking.registry import configure

ROOT = Path(__file__).resolve().parents[2]


def everyday_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    block = text.split("## Everyday commands", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return [shlex.split(line)[1:] for line in block.strip().splitlines() if line.startswith("stalkrisk ")]


def test_readme_everyday_commands_run_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'readme.db'}")
    commands = everyday_commands()
    assert [c[0] for c in commands][:3] == ["synth", "validate", "features"]
    try:
        for argv in commands:
            assert main(argv) == 0, f"stalkrisk {shlex.join(argv)} failed"
        assert (tmp_path / "results" / "audit.json").exists()
        assert (tmp_path / "model-bundle" / "MLmodel").exists()
    finally:  # MLflow keeps the tracking URI in the process: point it back at the session store
        monkeypatch.undo()
        configure()


def test_readme_says_how_to_run_the_commands_after_make_demo():
    text = (ROOT / "README.md").read_text()
    assert "source .venv/bin/activate" in text and ".venv/bin/stalkrisk" in text
    assert "<<<<<<<" not in text and ">>>>>>>" not in text
