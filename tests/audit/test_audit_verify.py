"""`audit verify`: a scoring folder reproduces byte for byte, and any change is named."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from stalkrisk.audit.rescore import AuditError, recorded_model_uri
from stalkrisk.audit.verify import diff_frames, verify
from stalkrisk.cli import main


def test_diff_frames_names_cases_and_columns() -> None:
    a = pd.DataFrame({"case_id": ["A", "B", "C"], "score": [0.1, np.nan, 0.3], "band": ["low", "low", None]})
    b = a.copy()
    assert diff_frames("s", a, b).cases == []  # NaN equals NaN, None equals None
    b.loc[1, "score"] = 0.2
    b.loc[2, "band"] = "high"
    d = diff_frames("s", a, b)
    assert d.cases == ["B", "C"] and d.columns == ["score", "band"]
    short = diff_frames("s", a, b.iloc[:2])
    assert short.cases == ["C"] and "3 rows recorded, 2 on re-run" in short.note


def test_verify_matches_the_session_run(scored_dir, capsys) -> None:
    assert main(["audit", "verify", str(scored_dir)]) == 0
    out = capsys.readouterr().out
    assert "MATCH" in out and "MISMATCH" not in out and "review/" in out


def test_an_output_edited_after_the_run_fails_naming_it(scored_dir, tmp_path, capsys) -> None:
    copy = tmp_path / "out"
    shutil.copytree(scored_dir, copy)
    csv = copy / "scores.csv"
    lines = csv.read_text(encoding="utf-8").splitlines(keepends=True)
    first = lines[1].split(",")
    first[3] = "0.999999"  # the score of the first case
    lines[1] = ",".join(first)
    csv.write_text("".join(lines), encoding="utf-8")
    assert main(["audit", "verify", str(copy)]) == 1
    out = capsys.readouterr().out
    assert "output scores.csv changed after the run" in out
    assert f"scores.csv: 1 case(s) differ in column(s) score: {first[0]}" in out


def test_a_changed_input_fails_naming_it(scored_dir, tmp_path, capsys) -> None:
    copy = tmp_path / "out"
    shutil.copytree(scored_dir, copy)
    record = json.loads((copy / "audit.json").read_text())
    cases = tmp_path / "cases.csv"
    shutil.copy(record["inputs"]["cases"]["path"], cases)
    with cases.open("a", encoding="utf-8") as fh:
        fh.write("\n")  # a blank line: same rows, different bytes
    record["inputs"]["cases"]["path"] = str(cases)
    (copy / "audit.json").write_text(json.dumps(record))
    result = verify(copy)
    assert not result.match
    assert any(f"input cases file {cases} changed" in p for p in result.problems)
    assert main(["audit", "verify", str(copy)]) == 1
    assert str(cases) in capsys.readouterr().out


def test_missing_audit_json_is_unusable(tmp_path, capsys) -> None:
    (tmp_path / "scores.csv").write_text("case_id\n")
    with pytest.raises(AuditError, match="did not finish"):
        verify(tmp_path)
    assert main(["audit", "verify", str(tmp_path)]) == 2
    assert "no audit.json" in capsys.readouterr().err


def test_a_moved_alias_loads_the_recorded_version(trained) -> None:
    record = {"model": {"uri": "models:/stalkrisk@candidate", "name": "stalkrisk", "version": "999"}}
    uri, notes = recorded_model_uri(record)
    assert uri == "models:/stalkrisk/999"
    assert notes and f"now points to version {trained.version}" in notes[0]
    same = {"model": {"uri": "models:/stalkrisk@candidate", "name": "stalkrisk", "version": trained.version}}
    assert recorded_model_uri(same) == ("models:/stalkrisk@candidate", [])


def test_every_audit_command_has_help_and_a_section_in_the_guide(capsys) -> None:
    from pathlib import Path

    guide = (Path(__file__).parents[2] / "docs" / "auditor-guide.md").read_text(encoding="utf-8")
    for name in ("verify", "case", "fairness", "drift", "record"):
        with pytest.raises(SystemExit) as stop:
            main(["audit", name, "--help"])
        assert stop.value.code == 0
        assert len(capsys.readouterr().out.splitlines()) > 3, name
        assert f"`audit {name}`" in guide, name
