"""Every unusable situation is one line on stderr and exit 2; the README's exit-status table holds.

The cases come from a hostile-input review (issue 21, items 6 and 7): each row runs the real command
in-process against small files made here, with an exported model folder (no registry needed).
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stalkrisk.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def bundle(trained, tmp_path_factory):
    from stalkrisk.tracking.registry import export_model

    return export_model(f"models:/{trained.name}/{trained.version}", tmp_path_factory.mktemp("bundle") / "model")


@pytest.fixture(scope="module")
def files(caseload, tmp_path_factory):
    root = tmp_path_factory.mktemp("matrix")
    cases = caseload.cases.head(40).astype({"assessment_date": str})
    events = caseload.events[caseload.events["case_id"].isin(set(cases["case_id"]))]
    paths = {"cases": root / "cases.csv", "events": root / "events.csv"}
    cases.to_csv(paths["cases"], index=False)
    events.to_csv(paths["events"], index=False)
    raw_cases = pd.read_csv(paths["cases"], dtype=str, keep_default_na=False)
    raw_events = pd.read_csv(paths["events"], dtype=str, keep_default_na=False)
    raw_cases.head(0).to_csv(root / "cases_header_only.csv", index=False)
    table = pa.Table.from_pandas(raw_cases, preserve_index=False)
    pq.write_table(table.slice(0, 0), root / "cases_header_only.parquet")
    fear = table.schema.get_field_index("victim_fear")
    pq.write_table(table.set_column(fear, "victim_fear", pa.array([["fearful"]] * len(table))), root / "cases_list.parquet")
    pq.write_table(table.set_column(fear, "victim_fear", pa.array([{"a": 1}] * len(table))), root / "cases_struct.parquet")
    rel = table.schema.get_field_index("relationship")
    pq.write_table(table.set_column(rel, "relationship", pa.array([b"\xff\xfe"] * len(table), pa.binary())),
                   root / "cases_binary.parquet")
    raw_cases.assign(_line="7").to_csv(root / "cases_line.csv", index=False)
    (root / "events_header_only.csv").write_text(",".join(raw_events.columns))  # no final line break
    empty_id = raw_events.copy()
    empty_id.loc[empty_id.index[0], "case_id"] = ""
    empty_id.to_csv(root / "events_empty_id.csv", index=False)
    big = raw_cases.copy()
    big.loc[0, "case_id"] = "X" * 1_000_000
    big.to_csv(root / "cases_big_id.csv", index=False)
    escaped = raw_cases.copy()
    escaped.loc[0, "case_id"] = "C\x1b[2J\x07"
    escaped.to_csv(root / "cases_escape.csv", index=False)
    (root / "a_file").write_text("not a folder")
    return root


def _run(capsys, argv: list[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def _score(files, bundle, out, cases="cases.csv", events="events.csv", *extra):
    return ["score", "--cases", str(files / cases), "--events", str(files / events), "--out", str(out),
            "--model", str(bundle), "--quiet", *extra]


UNUSABLE = [
    # (README row, arguments, what the line must say)
    ("a cases file with a header and no rows", dict(cases="cases_header_only.csv"), "has no case rows"),
    ("a cases file with a header and no rows", dict(cases="cases_header_only.parquet"), "has no case rows"),
    ("`--chunk-size 0`", dict(extra=["--chunk-size", "0"]), "--chunk-size: must be at least 1"),
    ("`--out` is a file", dict(out="a_file"), "is a file"),
    ("`--out` is a file", dict(out="/proc/stalkrisk-results"), "cannot create the lock file"),
    ("a Parquet contract column holding lists or records", dict(cases="cases_list.parquet"), "'victim_fear' holds lists or records"),
    ("a Parquet contract column holding lists or records", dict(cases="cases_struct.parquet"), "'victim_fear' holds lists or records"),
    ("a Parquet contract column holding lists or records", dict(cases="cases_binary.parquet"), "'relationship' holds bytes that are not UTF-8"),
    ("an input column named `_line`", dict(cases="cases_line.csv"), "column '_line' is reserved"),
    ("an input file that does not exist", dict(cases="no-such-cases.csv"), "no-such-cases.csv: file not found"),
]


@pytest.mark.parametrize("row, case, says", UNUSABLE, ids=[c[2][:30] for c in UNUSABLE])
def test_unusable_is_one_line_and_exit_2(files, bundle, tmp_path, capsys, row, case, says):
    out = case.get("out")
    out = tmp_path / "results" if out is None else (files / out if not out.startswith("/") else Path(out))
    argv = _score(files, bundle, out, case.get("cases", "cases.csv"), case.get("events", "events.csv"), *case.get("extra", []))
    code, _, err = _run(capsys, argv)
    assert code == 2 == _readme_exit(row)
    assert len(err.strip().splitlines()) == 1 and says in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "results").exists()


def test_a_wrong_input_path_is_reported_before_the_model_loads(files, tmp_path, capsys):
    code, _, err = _run(capsys, ["score", "--cases", str(files / "nope.csv"), "--events", str(files / "events.csv"),
                                 "--out", str(tmp_path / "r"), "--model", str(tmp_path / "no-model-here")])
    assert code == 2 and "nope.csv: file not found" in err


def test_another_run_in_the_folder_and_overwrite(files, bundle, tmp_path, capsys):
    out = tmp_path / "results"
    assert _run(capsys, _score(files, bundle, out))[0] == 0
    code, _, err = _run(capsys, _score(files, bundle, out))
    assert code == 2 == _readme_exit("`--out` holds another scoring run")
    assert "pass --overwrite" in err and len(err.strip().splitlines()) == 1
    assert _run(capsys, _score(files, bundle, out, "cases.csv", "events.csv", "--overwrite", "--review", "none"))[0] == 0
    assert not (out / "review").exists()  # no page of the earlier run survives


def test_a_second_run_into_the_same_folder_refuses_at_once(files, bundle, tmp_path, capsys):
    import time

    from stalkrisk.outputs.folder import building

    out = tmp_path / "results"
    with building(out):  # a run writing there now
        started = time.perf_counter()
        code, _, err = _run(capsys, _score(files, bundle, out))
        assert time.perf_counter() - started < 2  # before the model loads
    assert code == 2 == _readme_exit("another run is writing into the same `--out` now")
    assert "another stalkrisk run is writing to it now" in err and len(err.strip().splitlines()) == 1


def test_header_only_events_without_a_final_newline_is_accepted_with_a_warning(files, bundle, tmp_path, capsys):
    out = tmp_path / "results"
    code, printed, _ = _run(capsys, _score(files, bundle, out, "cases.csv", "events_header_only.csv"))
    assert code == 0 == _readme_exit("an events file with a header only")
    assert "WARNING: events_header_only.csv holds no events" in printed
    record = json.loads((out / "audit.json").read_text())
    assert any("holds no events" in w for w in record["warnings"])
    assert "holds no events" in (out / "review" / "index.html").read_text()


def test_events_with_an_empty_case_id_are_counted(files, bundle, tmp_path, capsys):
    out = tmp_path / "results"
    code, printed, _ = _run(capsys, _score(files, bundle, out, "cases.csv", "events_empty_id.csv"))
    assert code == 0 == _readme_exit("events whose case id is empty")
    assert "naming no case" in printed  # orphan events reported as `validate` reports them
    counts = json.loads((out / "audit.json").read_text())["counts"]
    assert counts["input_events"] - counts["events_used"] == 1
    assert "1 not used" in printed


def test_a_missing_optional_column_is_a_warning(files, bundle, tmp_path, capsys):
    events = pd.read_csv(files / "events.csv", dtype=str).drop(columns=["channel"])
    events.to_csv(tmp_path / "events_no_channel.csv", index=False)
    out = tmp_path / "results"
    code, printed, _ = _run(capsys, ["score", "--cases", str(files / "cases.csv"), "--events",
                                     str(tmp_path / "events_no_channel.csv"), "--out", str(out),
                                     "--model", str(bundle), "--quiet"])
    assert code == 0
    said = "has no 'channel' column"
    assert said in printed
    assert any(said in w for w in json.loads((out / "audit.json").read_text())["warnings"])
    assert said in html.unescape((out / "review" / "index.html").read_text())


def test_a_1mb_id_is_echoed_clipped(files, bundle, tmp_path, capsys):
    out = tmp_path / "results"
    assert _run(capsys, _score(files, bundle, out, "cases_big_id.csv"))[0] == 0
    assert (out / "review" / "index.html").stat().st_size < 200_000
    reason = pd.read_parquet(out / "scores.parquet")["not_scored_reason"].iloc[0]
    assert len(reason) < 2000 and "(+999,880 characters)" in reason
    code, _, err = _run(capsys, ["explain", str(out), "--case-id", "Y" * 100_000])
    assert code == 2 and len(err) < 3000


def test_terminal_output_escapes_control_characters(files, bundle, tmp_path, capsys):
    out = tmp_path / "results"
    assert _run(capsys, _score(files, bundle, out, "cases_escape.csv"))[0] == 0
    code, printed, _ = _run(capsys, ["explain", str(out), "--case-id", "C\x1b[2J\x07"])
    assert code == 0 and "\x1b" not in printed and "\x07" not in printed and "C\\x1b[2J\\x07" in printed
    code, printed, _ = _run(capsys, ["audit", "case", str(out), "--case-id", "C\x1b[2J\x07"])
    assert "\x1b" not in printed and "\x07" not in printed


def test_a_relative_model_folder_is_recorded_absolute_and_verify_works_elsewhere(files, bundle, tmp_path, capsys, monkeypatch):
    out = tmp_path / "results"
    monkeypatch.chdir(bundle.parent)
    assert _run(capsys, _score(files, Path(bundle.name), out))[0] == 0
    record = json.loads((out / "audit.json").read_text())
    assert record["model"]["uri"] == str(bundle.resolve())
    assert "unchecked" in record["model"]["provenance"] and "run id checked" in record["model"]["provenance"]
    monkeypatch.chdir(tmp_path)
    code, printed, _ = _run(capsys, ["audit", "verify", str(out)])
    assert code == 0 and "MATCH" in printed


def test_a_bundle_declaring_another_run_is_refused(files, bundle, tmp_path, capsys):
    import shutil

    forged = tmp_path / "forged"
    shutil.copytree(bundle, forged)
    spec = json.loads((forged / "stalkrisk_model.json").read_text())
    spec["run_id"], spec["version"] = "f" * 32, "99"
    (forged / "stalkrisk_model.json").write_text(json.dumps(spec))
    code, _, err = _run(capsys, _score(files, forged, tmp_path / "results"))
    assert code == 2 == _readme_exit("an exported model folder whose")
    assert "declares run" in err and len(err.strip().splitlines()) == 1


def test_no_registry_where_it_looked(files, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")
    try:
        code, _, err = _run(capsys, ["score", "--cases", str(files / "cases.csv"), "--events", str(files / "events.csv"),
                                     "--out", "results", "--model", "models:/stalkrisk@champion"])
    finally:
        monkeypatch.undo()
        from stalkrisk.tracking.registry import configure

        configure()  # later tests find the session's store again
    assert code == 2 == _readme_exit("`models:/...` with no registry")
    assert "sqlite:///mlflow.db" in err and str(tmp_path / "mlflow.db") in err
    assert sorted(os.listdir(tmp_path)) == []  # no empty mlflow.db, no empty results folder


def test_disk_full_is_one_line():
    from stalkrisk.cli.commands import _one_line

    line = _one_line(OSError(28, "No space left on device", "/data/results/scores.csv"))
    assert line == "/data/results/scores.csv: No space left on device (the disk is full: free space, or give another --out)"


def test_features_out_csv_writes_csv_and_other_names_are_refused(files, tmp_path, capsys):
    base = ["features", "--cases", str(files / "cases.csv"), "--events", str(files / "events.csv"), "--out"]
    assert _run(capsys, [*base, str(tmp_path / "x.csv")])[0] == 0
    assert (tmp_path / "x.csv").read_bytes().startswith(b'"case_id"')
    assert len(pd.read_csv(tmp_path / "x.csv")) == 40
    code, _, err = _run(capsys, [*base, str(tmp_path / "x.txt")])
    assert code == 2 == _readme_exit("`features --out` with a name") and "must end .parquet or .csv" in err


def test_version(capsys):
    from stalkrisk import __version__

    code, printed, _ = _run(capsys, ["--version"])
    assert code == 0 and printed.strip() == f"stalkrisk {__version__}"


def _readme_exit(row: str) -> int:
    """The exit status the README's table gives the row starting with ``row``."""
    for line in README.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith(row):
            return int(re.match(r"\d", cells[1]).group())
    raise AssertionError(f"README's exit-status table has no row for {row!r}")
