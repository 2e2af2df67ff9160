"""The fairness and drift audits judge the flag the scoring run gave: given the orders table the
run was given, a case with an SPO in force is not counted as flagged to consider one."""

from __future__ import annotations

import pandas as pd


def test_the_audits_scoring_reads_the_orders_as_the_run_did(trained, caseload_files, scored_dir, tmp_path):
    from stalkrisk.audit.rescore import score_caseload
    from stalkrisk.pipelines.score import run
    from stalkrisk.tracking.registry import load_model

    uri = f"models:/{trained.name}/{trained.version}"
    before = pd.read_parquet(scored_dir / "scores.parquet")
    chosen = before.loc[before["consider_spo"].fillna(False).astype(bool), "case_id"].head(5).tolist()
    assert len(chosen) == 5
    cases = pd.read_csv(caseload_files["cases"]).set_index("case_id")
    orders = pd.DataFrame({
        "order_id": [f"O-{i}" for i in range(5)], "case_id": chosen, "order_type": "spo",
        "made_on": [(pd.Timestamp(cases.at[c, "assessment_date"]) - pd.Timedelta(days=30)).date() for c in chosen],
    })
    orders.to_csv(tmp_path / "orders.csv", index=False)

    run(caseload_files["cases"], caseload_files["events"], tmp_path / "out", model=uri, review="none", quiet=True,
        orders=tmp_path / "orders.csv")
    scores = pd.read_parquet(tmp_path / "out" / "scores.parquet")
    scored = scores.loc[scores["status"] == "scored"].set_index("case_id")
    assert not scored.loc[chosen, "consider_spo"].any()  # an SPO in force: enforcement, not a new SPO

    loaded = load_model(uri)
    audited = score_caseload(loaded, caseload_files["cases"], caseload_files["events"], orders=tmp_path / "orders.csv")
    flag = pd.Series(audited.flag, index=audited.features["case_id"].to_numpy())
    assert flag.loc[chosen].sum() == 0
    assert flag.to_dict() == scored["consider_spo"].astype(bool).to_dict()  # every case: the run's flag
    without = score_caseload(loaded, caseload_files["cases"], caseload_files["events"])
    assert pd.Series(without.flag, index=without.features["case_id"].to_numpy()).loc[chosen].all()
