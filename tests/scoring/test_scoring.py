"""Batch scoring: nothing lost, exact, deterministic, atomic, and refusing the wrong model."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from fixtures_messy import write_messy
from stalkrisk.io_utils import sha256_file
from stalkrisk.model.risk_model import logit
from stalkrisk.pipelines.score import run as score_run
from stalkrisk.outputs.reader import read_contributions
from stalkrisk.outputs.schema import SCORE_COLUMNS
from stalkrisk.scoring import assemble_scores


def test_every_input_case_once_in_input_order(scored_dir, caseload):
    scores = pd.read_parquet(scored_dir / "scores.parquet")
    assert list(scores.columns) == list(SCORE_COLUMNS)
    assert scores["case_id"].tolist() == caseload.cases["case_id"].tolist()
    assert (scores["status"] == "scored").all()
    csv = pd.read_csv(scored_dir / "scores.csv", dtype={"case_id": str}, keep_default_na=False)
    assert csv["case_id"].tolist() == scores["case_id"].tolist()


def test_base_plus_contributions_is_the_logit_of_every_score(scored_dir, loaded_model):
    scores = pd.read_parquet(scored_dir / "scores.parquet").set_index("case_id")
    assert loaded_model.model.outcomes == ("risk", "persistence", "harm")
    wide = pd.read_parquet(scored_dir / "explanations.parquet")
    features = list(loaded_model.model.feature_names)
    assert list(wide.columns) == ["case_id", "outcome", "base_value", *features]
    # case-major: each scored case's rows together, risk first
    assert wide["outcome"].tolist() == ["risk", "persistence", "harm"] * len(scores)
    for outcome, column in (("risk", "score"), ("persistence", "score_persistence"), ("harm", "score_harm")):
        rows = read_contributions(scored_dir, outcome)
        assert rows.index.tolist() == scores.index.tolist() and list(rows.columns) == ["base_value", *features]
        total = rows["base_value"] + rows[features].sum(axis=1)
        np.testing.assert_allclose(total, logit(scores[column].to_numpy()), atol=1e-9, rtol=0)


def test_flag_follows_policy(scored_dir, loaded_model):
    scores = pd.read_parquet(scored_dir / "scores.parquet")
    model = loaded_model.model
    above = scores["score"] >= model.threshold
    # no orders table: no SPO is known to be in force, so the flag is the threshold and the conduct
    expected = above & scores["course_of_conduct"].astype(bool)
    assert (scores["consider_spo"].astype(bool) == expected).all()
    assert (scores["consider_spo"].astype(bool) == (scores["queue"] == "consider_spo")).all()
    assert (scores["risk_band"] == model.risk_band(scores["score"].to_numpy())).all()
    # nobody hidden: every case at or above the threshold is in a queue, with a reason
    assert scores.loc[above, "queue"].isin(["consider_spo", "review"]).all()
    assert (scores["queue"].ne("") == scores["queue_reason"].ne("")).all()
    index = (scored_dir / "review" / "index.html").read_text()
    n_review = int((scores["queue"] == "review").sum())
    assert f"Queue: Consider an SPO ({expected.sum():,})" in index and f"Queue: Review ({n_review:,})" in index
    # the default cap: the 500 highest-scoring queued cases have a page (ties in input order)
    from stalkrisk.pipelines.score import DEFAULT_REVIEW_CAP
    from stalkrisk.report import case_page_name

    queued = scores.loc[scores["queue"].ne("")].sort_values("score", ascending=False, kind="stable")
    pages = {p.name for p in (scored_dir / "review" / "cases").glob("*.html")}
    assert len(queued) > DEFAULT_REVIEW_CAP
    assert pages == {case_page_name(c) for c in queued["case_id"].head(DEFAULT_REVIEW_CAP)}


def test_reasons_never_cite_protected_attributes(scored_dir):
    scores = pd.read_parquet(scored_dir / "scores.parquet")
    from stalkrisk.features.registry import GROUPS

    texts = [t for t in scores[["reason_1", "reason_2", "reason_3"]].to_numpy().ravel() if t]
    assert texts
    assert {t.split(": ", 1)[0] for t in texts} <= set(GROUPS.values())
    for word in ("ethnic", "victim's sex", "suspect's sex", "years old"):
        assert not any(word in t.lower() for t in texts)


def test_audit_json_records_the_run(scored_dir, caseload_files, trained):
    audit = json.loads((scored_dir / "audit.json").read_text())
    assert audit["model"]["version"] == trained.version and audit["model"]["run_id"] == trained.run_id
    assert audit["inputs"]["cases"]["sha256"] == sha256_file(caseload_files["cases"])
    for name, digest in audit["outputs"].items():
        assert sha256_file(scored_dir / name) == digest
    assert audit["counts"]["input_cases"] == audit["counts"]["scored"] + audit["counts"]["not_scored"]
    assert not list(scored_dir.rglob("*.partial"))


def test_two_runs_are_byte_identical(trained, caseload_files, scored_dir, tmp_path):
    again = tmp_path / "again"
    score_run(caseload_files["cases"], caseload_files["events"], again,
              model=f"models:/{trained.name}/{trained.version}", review="none", quiet=True)
    for name in ("scores.parquet", "scores.csv", "explanations.parquet"):
        assert (again / name).read_bytes() == (scored_dir / name).read_bytes(), name
    assert not (again / "review").exists()


def test_chunk_size_changes_no_value(trained, caseload_files, scored_dir, tmp_path):
    small = tmp_path / "small"
    score_run(caseload_files["cases"], caseload_files["events"], small,
              model=f"models:/{trained.name}/{trained.version}", review="none", quiet=True, chunk_size=777)
    for name in ("scores.parquet", "explanations.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(small / name), pd.read_parquet(scored_dir / name))
    assert (small / "scores.csv").read_bytes() == (scored_dir / "scores.csv").read_bytes()


@pytest.mark.parametrize("chunk_size", [2, 50_000])  # 2: the duplicate C003 rows fall in two chunks
def test_messy_export_is_scored_with_nothing_lost(trained, tmp_path, chunk_size):
    paths = write_messy(tmp_path)
    cases_path, events_path = paths["cases_csv"], paths["events_gz"]
    out = tmp_path / "out"
    score_run(cases_path, events_path, out, model=f"models:/{trained.name}/{trained.version}", review="all",
              quiet=True, chunk_size=chunk_size)
    scores = pd.read_parquet(out / "scores.parquet")
    raw = pd.read_csv(cases_path, dtype=str)
    assert len(scores) == len(raw)
    assert scores["case_id"].tolist() == [c.strip() for c in raw.iloc[:, 0]]
    by_status = scores.groupby("status")["case_id"].apply(list).to_dict()
    assert by_status["scored"] == ["C001", "C006"]
    not_scored = scores.loc[scores["status"] == "not_scored"]
    assert (not_scored["not_scored_reason"].str.len() > 0).all()
    assert not_scored["score"].isna().all()
    reasons = dict(zip(not_scored["case_id"] + "@" + not_scored.index.astype(str), not_scored["not_scored_reason"]))
    assert any("2024-03-32" in r for r in reasons.values())  # the bad date is named
    assert any("cousin" in r for r in reasons.values())  # the unknown category is named
    assert len(list((out / "review" / "cases").glob("*.html"))) == 2


def test_duplicate_case_rows_each_get_their_own_reasons():
    cases_all = pd.DataFrame({"case_id": ["A", "B", "A"], "_line": pd.array([2, 3, 4], dtype="Int64")})
    quarantine = pd.DataFrame({"case_id": ["A", "A"], "reasons": ["line 2: x", "line 4: y"], "line": [2, 4]})
    scored = pd.DataFrame({"case_id": ["B"], "score": [0.5], "risk_band": ["high"], "course_of_conduct": [True],
                           "consider_spo": [True], "queue": ["consider_spo"], "queue_reason": ["q"], "linked_cases": [0], "reason_1": ["r"], "reason_2": [""], "reason_3": [""]})
    out = assemble_scores(cases_all, quarantine, scored, "m", "1")
    assert out["status"].tolist() == ["not_scored", "scored", "not_scored"]
    assert out["not_scored_reason"].tolist() == ["line 2: x", "", "line 4: y"]


def test_model_for_another_pipeline_is_refused(trained, caseload_files, tmp_path):
    from stalkrisk.tracking.registry import export_model

    bundle = export_model(f"models:/{trained.name}/{trained.version}", tmp_path / "bundle")
    spec_path = next(bundle.rglob("model.json"))
    spec = json.loads(spec_path.read_text())
    spec["feature_names"] = spec["feature_names"][:-1] + ["a_feature_from_the_future"]
    spec_path.write_text(json.dumps(spec))
    proc = subprocess.run(
        [sys.executable, "-m", "stalkrisk", "score", "--cases", str(caseload_files["cases"]),
         "--events", str(caseload_files["events"]), "--out", str(tmp_path / "o"), "--model", str(bundle)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2, proc.stderr
    assert "does not match the installed feature pipeline" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_exported_bundle_scores_like_the_registry(trained, caseload_files, scored_dir, tmp_path):
    from stalkrisk.tracking.registry import export_model

    bundle = export_model(f"models:/{trained.name}/{trained.version}", tmp_path / "bundle")
    assert (bundle / "model_card.md").exists() or any(bundle.rglob("model_card.md"))
    out = tmp_path / "o"
    score_run(caseload_files["cases"], caseload_files["events"], out, model=str(bundle), review="none", quiet=True)
    a = pd.read_parquet(out / "scores.parquet")
    b = pd.read_parquet(scored_dir / "scores.parquet")
    pd.testing.assert_series_equal(a["score"], b["score"])
    assert (a["model_version"] == trained.version).all()


def test_explain_command_prints_the_full_table(scored_dir):
    from stalkrisk.outputs.case_record import format_case, load_case

    scores = pd.read_parquet(scored_dir / "scores.parquet")
    cid = scores.loc[scores["consider_spo"].astype(bool), "case_id"].iloc[0]
    text = format_case(load_case(scored_dir, cid))
    assert f"case {cid}: scored" in text and "consider SPO YES" in text
    row = scores.set_index("case_id").loc[cid]
    totals = {line.split("(")[1].split(")")[0]: float(line.split()[-1])
              for line in text.splitlines() if line.strip().startswith("= logit(")}
    assert list(totals) == ["score", "score_persistence", "score_harm"]  # the long view of each outcome
    for column, total in totals.items():
        assert total == pytest.approx(float(logit(row[column])), abs=1e-3)


def test_an_interrupted_run_leaves_nothing_that_looks_finished(trained, scored_dir, tmp_path, monkeypatch):
    """A run that fails in its second part: the earlier run is left whole (it is replaced only at
    the end), and no output file, temporary file or spilled case data is left behind."""
    import shutil

    import stalkrisk.pipelines.score as score_mod

    paths = write_messy(tmp_path)
    out = tmp_path / "out"
    shutil.copytree(scored_dir, out)  # a finished earlier run in the same folder
    calls = {"n": 0}
    real = score_mod.score_chunk

    def fail_on_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("power cut")
        return real(*args, **kwargs)

    monkeypatch.setattr(score_mod, "score_chunk", fail_on_second)
    before = {name: (out / name).read_bytes()
              for name in ("scores.parquet", "scores.csv", "explanations.parquet", "audit.json")}
    with pytest.raises(RuntimeError, match="power cut"):
        score_run(paths["cases_csv"], paths["events_csv"], out, model=f"models:/{trained.name}/{trained.version}",
                  review="none", quiet=True, chunk_size=1, overwrite=True)
    assert calls["n"] == 2
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no building folder
    assert not list(out.rglob("*.partial")) and not list(out.glob(".stalkrisk-parts-*"))
    for name, data in before.items():  # the old files are untouched, not half-replaced
        assert (out / name).read_bytes() == data
