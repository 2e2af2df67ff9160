"""The thin CLI: every command has help and docs; user mistakes get one line and exit 2."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from stalkrisk.cli.commands import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def _commands(parser) -> dict[str, object]:
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return dict(action.choices)


def _all_commands() -> list[tuple[str, ...]]:
    out = []
    for name, sub in _commands(build_parser()).items():
        nested = [a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction"]
        if nested:
            out += [(name, child) for child in nested[0].choices]
        else:
            out.append((name,))
    return out


@pytest.mark.parametrize("command", _all_commands(), ids=lambda c: " ".join(c))
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "usage: stalkrisk" in text and len(text.splitlines()) > 3


def test_score_help_states_the_part_size_the_run_uses(capsys):
    from stalkrisk.defaults import DEFAULT_CHUNK_SIZE
    from stalkrisk.pipelines.score import run

    with pytest.raises(SystemExit):
        main(["score", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"cases per part (default {DEFAULT_CHUNK_SIZE:,};" in help_text
    assert run.__kwdefaults__["chunk_size"] == DEFAULT_CHUNK_SIZE


@pytest.mark.parametrize("command", _all_commands(), ids=lambda c: " ".join(c))
def test_every_command_is_documented(command):
    docs = "\n".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
    assert f"stalkrisk {' '.join(command)}" in docs, f"no docs mention `stalkrisk {' '.join(command)}`"


def test_missing_required_column_is_one_line_exit_2(tmp_path):
    (tmp_path / "cases.csv").write_text("case_id,relationship\nA,stranger\n")
    (tmp_path / "events.csv").write_text("case_id,event_time,behaviour\n")
    proc = subprocess.run(
        [sys.executable, "-m", "stalkrisk", "validate", "--cases", str(tmp_path / "cases.csv"),
         "--events", str(tmp_path / "events.csv")], capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("stalkrisk")]
    assert len(lines) == 1 and "cases.csv" in lines[0] and "assessment_date" in lines[0]


def test_validate_exit_codes_and_report(tmp_path, caseload_files):
    from fixtures_messy import write_messy

    clean = main(["validate", "--cases", str(caseload_files["cases"]), "--events", str(caseload_files["events"])])
    assert clean == 0
    paths = write_messy(tmp_path)
    report = tmp_path / "report.json"
    dirty = main(["validate", "--cases", str(paths["cases_csv"]), "--events", str(paths["events_csv"]),
                  "--report", str(report)])
    assert dirty == 1 and report.exists()


def test_unknown_model_is_one_line_exit_2(tmp_path, caseload_files, mlflow_store, capsys):
    code = main(["score", "--cases", str(caseload_files["cases"]), "--events", str(caseload_files["events"]),
                 "--out", str(tmp_path / "o"), "--model", "models:/no-such-model@champion"])
    assert code == 2
    assert re.search(r"no-such-model", capsys.readouterr().err)


def test_features_command_writes_one_row_per_input_case(tmp_path):
    import pandas as pd

    from fixtures_messy import write_messy
    from stalkrisk.features import feature_names

    paths = write_messy(tmp_path)
    out = tmp_path / "features.parquet"
    assert main(["features", "--cases", str(paths["cases_csv"]), "--events", str(paths["events_csv"]), "--out", str(out)]) == 0
    table = pd.read_parquet(out)
    assert list(table.columns) == ["case_id", *feature_names()]
    assert table["case_id"].tolist() == ["C001", "C002", "C003", "C004", "C003", "C005", "C006"]


def test_readme_starts_with_the_two_setup_commands():
    text = (ROOT / "README.md").read_text()
    first_block = text.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_public_surface_is_small_and_importable():
    import stalkrisk

    for name in stalkrisk.__all__:
        assert getattr(stalkrisk, name) is not None
    assert len(stalkrisk.__all__) <= 10


def test_verbose_logs_stalkrisk_steps_but_not_great_expectations_internals(caseload_files):
    proc = subprocess.run(
        [sys.executable, "-m", "stalkrisk", "-v", "validate", "--cases", str(caseload_files["cases"]),
         "--events", str(caseload_files["events"])], capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "INFO stalkrisk.validation.suite" in proc.stderr
    assert "great_expectations" not in proc.stderr
