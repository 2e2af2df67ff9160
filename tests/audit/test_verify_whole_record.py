"""`audit verify` compares the whole audit.json with the re-run's, and the folder's files with its files."""

from __future__ import annotations

import json
import shutil

import pytest

from stalkrisk.audit.verify import IGNORED_KEYS, diff_records, verify


@pytest.fixture(scope="module")
def small_run(trained, tmp_path_factory):
    from stalkrisk.pipelines.score import run
    from stalkrisk.synth import generate, write_caseload

    root = tmp_path_factory.mktemp("verify-whole")
    paths = write_caseload(generate(300, seed=5), root / "data", fmt="csv")
    out = root / "base"
    run(paths["cases"], paths["events"], out, model=f"models:/stalkrisk/{trained.version}", quiet=True,
        review_cap=5)
    return out


def _copy(small_run, tmp_path):
    out = tmp_path / "results"
    shutil.copytree(small_run, out)
    return out


def _edit(out, change):
    record = json.loads((out / "audit.json").read_text())
    change(record)
    (out / "audit.json").write_text(json.dumps(record, indent=2))


def test_untouched_matches(small_run, tmp_path):
    result = verify(_copy(small_run, tmp_path))
    assert result.match, result.problems
    assert "audit.json" in result.compared
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # the re-run's private folder is gone


def test_a_table_deleted_with_its_entry(small_run, tmp_path):
    out = _copy(small_run, tmp_path)
    (out / "scores.csv").unlink()
    _edit(out, lambda r: r["outputs"].pop("scores.csv"))
    result = verify(out)
    assert not result.match
    assert any("outputs.scores.csv: missing from audit.json" in p for p in result.problems)


def test_a_folder_holding_only_an_edited_audit_json(small_run, tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    record = json.loads((small_run / "audit.json").read_text())
    record["outputs"] = {}
    record["config"]["review"] = "none"
    record["counts"]["review_pages"] = 0
    (out / "audit.json").write_text(json.dumps(record))
    result = verify(out)
    assert not result.match
    assert any("scores.parquet is missing from the folder" in p for p in result.problems)


@pytest.mark.parametrize("change, key", [
    (lambda r: r["counts"].update(flagged=r["counts"]["flagged"] + 13), "counts.flagged"),
    (lambda r: r["counts"].update(input_cases=1), "counts.input_cases"),
    (lambda r: r["model"].update(run_id="0" * 32), "model.run_id"),
    (lambda r: r.update(warnings=[]) if r["warnings"] else r.update(warnings=["x"]), "warnings"),
])
def test_edited_counts_or_run_id(small_run, tmp_path, change, key):
    out = _copy(small_run, tmp_path)
    _edit(out, change)
    result = verify(out)
    assert not result.match
    assert any(key in p for p in result.problems), result.problems


def test_an_extra_file(small_run, tmp_path):
    out = _copy(small_run, tmp_path)
    (out / "notes.xlsx").write_bytes(b"PK")
    (out / "review" / "cases" / "planted.html").write_text("<p>")
    result = verify(out)
    assert not result.match
    text = " ".join(result.problems)
    assert "notes.xlsx (extra" in text and "planted.html (extra" in text


def test_only_times_and_versions_are_ignored():
    a = {"started_at": "1", "finished_at": "2", "packages": {"numpy": "1"}, "stalkrisk_version": "0.1",
         "engine": {"name": "spark"}, "counts": {"flagged": 1}}
    b = {"started_at": "3", "finished_at": "4", "packages": {"numpy": "2"}, "stalkrisk_version": "0.2",
         "counts": {"flagged": 1}}
    assert diff_records(a, b) == []
    assert diff_records({**a, "command": "score"}, b) == ["command: in audit.json ('score') but not in the re-run's record"]
    assert set(IGNORED_KEYS) == {"started_at", "finished_at", "packages", "stalkrisk_version", "engine"}
