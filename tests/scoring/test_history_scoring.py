"""``--history`` through scoring and training: the prior counts the model reads are the history's as of
each assessment day, a case whose suspect has a bad history row is not scored (with the reason) and still
in the output, and audit.json records the file so ``audit verify`` can re-run it."""

from __future__ import annotations

import json

import pandas as pd

from stalkrisk.outputs.reader import read_contributions

CASES = pd.DataFrame({"case_id": ["A", "B", "C"], "assessment_date": ["2024-03-10"] * 3,
                      "relationship": ["stranger"] * 3, "victim_sex": ["female"] * 3, "suspect_sex": ["male"] * 3,
                      "suspect_id": ["S1", "S2", None], "suspect_prior_stalking": ["9", "9", "4"]}, dtype="str")
EVENTS = pd.DataFrame({"case_id": ["A", "B", "C"], "event_time": ["2024-02-01"] * 3,
                       "behaviour": ["following"] * 3}, dtype="str")
HISTORY = pd.DataFrame({"suspect_id": ["S1", "S1", "S2"], "offence_date": ["2023-01-01", "2024-03-01", "2023-01-01"],
                        "recorded_at": ["2023-01-02", "2024-03-11T00:30", "2023-01-02"],
                        "offence": ["stalking", "harassment", "weather"]}, dtype="str")


def test_scoring_reads_the_history_as_of_each_day(trained, tmp_path):
    from stalkrisk.pipelines.score import run

    for name, frame in (("cases", CASES), ("events", EVENTS), ("history", HISTORY)):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    out = tmp_path / "out"
    s = run(tmp_path / "cases.csv", tmp_path / "events.csv", out, model=f"models:/{trained.name}/{trained.version}",
            review="none", quiet=True, chunk_size=1, history=tmp_path / "history.csv")
    scores = pd.read_parquet(out / "scores.parquet")
    assert scores["status"].tolist() == ["scored", "not_scored", "scored"] and s.counts["not_scored"] == 1
    assert "history line 4: offence 'weather'" in scores["not_scored_reason"].iloc[1]
    # The same cases exported with the counts as of the day (A: one offence known by the end of the
    # day, the 9 exported ignored, and no violence or domestic abuse on record; C: no suspect id, the
    # export's 4 and nothing else) and no history score the same, contribution for contribution:
    # scoring read the history as of each day.
    as_of = CASES.loc[CASES["case_id"] != "B"].assign(
        suspect_prior_stalking=["1", "4"], suspect_prior_violence=["0", ""],
        suspect_prior_domestic_abuse=["false", ""])
    as_of.to_csv(tmp_path / "as_of.csv", index=False)
    run(tmp_path / "as_of.csv", tmp_path / "events.csv", tmp_path / "plain", model=f"models:/{trained.name}/{trained.version}",
        review="none", quiet=True, chunk_size=1)
    got = read_contributions(out).loc[["A", "C"]]
    want = read_contributions(tmp_path / "plain").loc[["A", "C"]]
    pd.testing.assert_frame_equal(got, want, rtol=0, atol=1e-12)
    plain = pd.read_parquet(tmp_path / "plain" / "scores.parquet").set_index("case_id")["score"]
    assert scores.set_index("case_id")["score"].loc[["A", "C"]].tolist() == plain.loc[["A", "C"]].tolist()
    audit = json.loads((out / "audit.json").read_text())
    assert audit["inputs"]["history"]["path"].endswith("history.csv") and len(audit["inputs"]["history"]["sha256"]) == 64


def test_training_applies_the_history_before_the_features(tmp_path):
    from stalkrisk.config import load_train_config
    from stalkrisk.pipelines.train import _with_orders
    from stalkrisk.synth import generate
    from stalkrisk.validation.suite import validate

    data = generate(2500, seed=3)
    validation = validate(data.cases, data.events)
    first = data.cases["suspect_id"].iloc[0]
    pd.DataFrame({"suspect_id": [first] * 3, "offence_date": ["2000-01-01"] * 3, "recorded_at": ["2000-01-02"] * 3,
                  "offence": ["stalking"] * 3}).to_csv(tmp_path / "history.csv", index=False)
    validation, prepared, _ = _with_orders(validation, None, load_train_config(None), tmp_path / "history.csv")
    assert validation.inputs["history"]["rows"] == 3
    stalking = prepared.X_all["suspect_prior_stalking"].to_numpy()
    kept_ids = prepared.case_ids.tolist()
    mine = set(data.cases.loc[data.cases["suspect_id"] == first, "case_id"])
    assert all(stalking[i] == 3 for i, c in enumerate(kept_ids) if c in mine)
    assert all(stalking[i] == 0 or stalking[i] != stalking[i] for i, c in enumerate(kept_ids) if c not in mine)


def test_no_warning_for_prior_columns_the_history_rebuilds(tmp_path):
    from stalkrisk.data.partition import partition
    from stalkrisk.pipelines.score import run_warnings

    CASES.drop(columns=["suspect_prior_stalking"]).to_csv(tmp_path / "cases.csv", index=False)
    EVENTS.to_csv(tmp_path / "events.csv", index=False)
    parted = partition(tmp_path / "cases.csv", tmp_path / "events.csv", tmp_path / "work", chunk_size=10)
    said = " ".join(run_warnings(parted, {"events": 3}))
    assert "'suspect_prior_stalking'" in said and "'suspect_prior_violence'" in said
    assert "suspect_prior" not in " ".join(run_warnings(parted, {"events": 3}, history=True))
