"""Training validates in a forked child while it builds features from the same tables, and
what fitting needs ahead of the booster: what it keeps is that of the validated tables, clean
input or not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stalkrisk.config import load_train_config
from stalkrisk.evaluate.drift import reference_profile
from stalkrisk._runtime.forked import in_child
from stalkrisk.pipelines.train_overlapped import _judge_unfrozen, _validate_and_prepare
from stalkrisk.pipelines.train_steps import Inputs
from stalkrisk.data.readers import read_cases, read_events
from stalkrisk.training.fit import fit_and_evaluate, look_ahead, prepare


def _check(cases, events):
    cfg, called = load_train_config(), []
    cases_r, events_r = read_cases(cases), read_events(events)
    with in_child(_judge_unfrozen, cases_r, events_r) as verdict:
        validation, prepared, ahead = _validate_and_prepare(Inputs(cases_r, events_r, None), verdict, cfg,
                                                            meanwhile=lambda: called.append(1))
    assert called == [1]
    again = prepare(validation.cases, validation.events, cfg)
    pd.testing.assert_frame_equal(prepared.X_all, again.X_all)
    np.testing.assert_array_equal(prepared.y_all, again.y_all)
    assert prepared.split == again.split and prepared.counts == again.counts
    assert prepared.case_ids.tolist() == again.case_ids.tolist()
    return validation, prepared, ahead


def test_clean_input_keeps_the_features_and_datasets_built_beside_validation(caseload_files):
    validation, prepared, ahead = _check(caseload_files["cases"], caseload_files["events"])
    assert validation.failures.empty
    assert prepared.counts["cases"] == len(validation.cases_all)
    cfg = load_train_config()
    fresh = look_ahead(prepare(validation.cases, validation.events, cfg), cfg)
    np.testing.assert_array_equal(ahead.X_valid, fresh.X_valid)
    np.testing.assert_array_equal(ahead.X_test, fresh.X_test)
    assert [d.num_data() for d in ahead.datasets] == [prepared.split[s]["cases"] for s in ("train", "valid")]

    # The model fitted on the datasets binned ahead is the model fitted without them.
    built_ahead = fit_and_evaluate(prepared, cfg, ahead=ahead).model
    built_here = fit_and_evaluate(prepared, cfg).model
    assert built_ahead.booster.model_to_string() == built_here.booster.model_to_string()
    assert built_ahead.to_json_dict() == built_here.to_json_dict()

    # Scoring compares its cases' features with those of the training slice alone.
    reference = built_ahead.meta.drift_reference
    train = prepared.slices == "train"
    assert reference["n"] == prepared.split["train"]["cases"] < len(prepared.X_all)
    as_array = pd.DataFrame(prepared.X_all.to_numpy()[train], columns=prepared.feature_names)
    assert reference == reference_profile(as_array)


@pytest.fixture(scope="module")
def dirty_files(caseload_files, tmp_path_factory):
    """The caseload with one case row and one event of another case broken."""
    out = tmp_path_factory.mktemp("dirty")
    cases = pd.read_csv(caseload_files["cases"], dtype=str, keep_default_na=False)
    events = pd.read_csv(caseload_files["events"], dtype=str, keep_default_na=False)
    cases.loc[3, "victim_sex"] = "unknowable"
    events.loc[events["case_id"] == cases.loc[7, "case_id"], "behaviour"] = "teleportation"
    cases.to_csv(out / "cases.csv", index=False)
    events.to_csv(out / "events.csv", index=False)
    return {"cases": out / "cases.csv", "events": out / "events.csv", "bad": cases.loc[[3, 7], "case_id"].tolist()}


def test_dirty_input_has_its_features_built_again_from_the_validated_tables(dirty_files):
    validation, prepared, ahead = _check(dirty_files["cases"], dirty_files["events"])
    assert ahead is None  # left to ``fit_and_evaluate``, on the validated tables
    assert sorted(validation.quarantine["case_id"]) == sorted(dirty_files["bad"])
    assert prepared.counts["cases"] == len(validation.cases_all) - 2
    assert not set(dirty_files["bad"]) & set(prepared.case_ids)


def test_ceiling_is_the_auc_of_the_true_probabilities_of_the_test_cases(caseload_files):
    from sklearn.metrics import roc_auc_score

    cfg = load_train_config()
    cases_r, events_r = read_cases(caseload_files["cases"]), read_events(caseload_files["events"])
    prepared = prepare(cases_r.frame, events_r.frame, cfg)
    truth = pd.read_csv(caseload_files["truth"], dtype={"case_id": str})
    shuffled = truth.sample(frac=1.0, random_state=3).reset_index(drop=True)
    result = fit_and_evaluate(prepared, cfg, truth=shuffled)
    test = prepared.slices == "test"
    by_hand = pd.DataFrame({"case_id": prepared.case_ids[test].to_numpy()}).merge(truth, on="case_id", how="left")
    want = roc_auc_score(prepared.y_all[test], by_hand["p"].to_numpy())
    assert result.metrics["ceiling_roc_auc"] == pytest.approx(want, abs=1e-15)
    assert result.metrics["share_of_ceiling"] == pytest.approx(result.metrics["roc_auc"] / want)
    # A test case the truth does not know: no ceiling
    missing = shuffled.loc[shuffled["case_id"] != by_hand["case_id"].iloc[0]]
    assert "ceiling_roc_auc" not in fit_and_evaluate(prepared, cfg, truth=missing).metrics
    # The test features are the test slice's rows of the feature matrix
    pd.testing.assert_frame_equal(result.test_features, prepared.X_all.loc[test].reset_index(drop=True))
