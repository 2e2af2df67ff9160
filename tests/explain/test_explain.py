"""Explanations: exact, additive in calibrated log-odds, equal to shap's, grouped into reasons."""

from __future__ import annotations

import re

import numpy as np
import pytest
import shap

from stalkrisk.explain.reasons import explain, explain_outcomes, group_contributions, margins, reasons
from stalkrisk.explain.wide import wide_table
from stalkrisk.features.registry import GROUPS
from stalkrisk.model.risk_model import logit


def test_contributions_add_up_to_the_logit_of_every_score(loaded_model, features_sample):
    model = loaded_model.model
    exp = explain(model, features_sample)
    score = model.predict_proba(features_sample)
    np.testing.assert_allclose(exp.logit(), logit(score), atol=1e-6, rtol=0)


def test_equal_to_shap_tree_explainer_scaled_by_the_platt_slope(loaded_model, features_sample):
    model = loaded_model.model
    X = features_sample[model.feature_names].to_numpy(dtype=float)[:300]
    ours = explain(model, features_sample.head(300))
    theirs = shap.TreeExplainer(model.booster).shap_values(X)
    theirs = theirs[1] if isinstance(theirs, list) else theirs
    np.testing.assert_allclose(ours.contributions, model.platt_a * np.asarray(theirs), atol=1e-9, rtol=0)


def test_fast_path_equals_lightgbm_reference(loaded_model, features_sample):
    model = loaded_model.model
    fast = explain(model, features_sample, method="fast")
    ref = explain(model, features_sample, method="pred_contrib")
    assert np.max(np.abs(fast.contributions - ref.contributions)) < 1e-9
    assert fast.base_value == pytest.approx(ref.base_value, abs=1e-12)


@pytest.mark.parametrize("method", ["fast", "pred_contrib"])
def test_margins_are_lightgbms_raw_scores(loaded_model, features_sample, method):
    """Training calibrates and evaluates on these margins: they must be the booster's own."""
    booster = loaded_model.model.booster
    X = loaded_model.model.matrix(features_sample)
    expected = booster.predict(X, raw_score=True)
    np.testing.assert_allclose(margins(booster, X, method), expected, rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match="explanation method"):
        margins(booster, X, "lightgbm")


def test_groups_are_additive(loaded_model, features_sample):
    exp = explain(loaded_model.model, features_sample)
    keys, grouped = group_contributions(exp)
    assert set(keys) <= set(GROUPS)
    np.testing.assert_allclose(grouped.sum(axis=1), exp.contributions.sum(axis=1), atol=1e-12)


def test_reasons_name_the_strongest_groups_in_order(loaded_model, features_sample):
    exp = explain(loaded_model.model, features_sample)
    keys, grouped = group_contributions(exp)
    r1, r2, r3 = reasons(exp, features_sample)
    labels = [GROUPS[k] for k in keys]
    for i in range(0, len(features_sample), 97):
        order = np.argsort(-np.abs(grouped[i]), kind="stable")
        for text, g in zip((r1[i], r2[i], r3[i]), order[:3]):
            assert text.startswith(labels[g] + ": ")
            assert text.endswith("(raises concern)" if grouped[i, g] > 0 else "(lowers concern)")


def test_relationship_reason_names_the_actual_relationship(loaded_model, caseload, features_sample):
    exp = explain(loaded_model.model, features_sample)
    texts = np.concatenate(reasons(exp, features_sample))
    rel = [t for t in texts if t.startswith("Relationship: ")]
    assert rel, "relationship should be among the reasons of some case"
    assert not any(t.startswith("Relationship: not ") for t in rel)


def test_reason_golden_text():
    from stalkrisk.explain.reasons import _reason_text

    assert _reason_text("threats", "n_threat_30d", 3.0, True) == "Threats: 3 threats recorded in the last 30 days (raises concern)"
    assert _reason_text("threats", "n_threat_30d", 1.0, True) == "Threats: 1 threat recorded in the last 30 days (raises concern)"
    assert _reason_text("relationship", "rel_ex_partner", 1.0, False) == "Relationship: ex-partner (lowers concern)"


def test_protected_attributes_never_give_a_reason(caseload):
    """A model trained with a protected attribute (by explicit config) still never cites it."""
    from stalkrisk.config import load_train_config
    from stalkrisk.training.fit import train_model

    cfg = load_train_config(overrides={"features": {"protected": ["victim_age"]},
                                       "model": {"num_boost_round": 40, "params": {"num_threads": 1}}})
    result = train_model(caseload.cases, caseload.events, cfg)
    assert "victim_age" in result.model.feature_names
    exp = explain(result.model, result.test_features)
    texts = np.concatenate(reasons(exp, result.test_features))
    # (a word, not a substring: "the 30-day average" is the escalation feature's reason)
    assert not any(re.search(r"\bage\b", t.lower()) for t in texts if t)


def test_wide_table_of_every_outcome_adds_up(loaded_model, features_sample):
    model, head = loaded_model.model, features_sample.head(7)
    explanations = explain_outcomes(model, head)
    table = wide_table(explanations, head["case_id"]).to_pandas()
    assert len(table) == 7 * len(model.outcomes)
    assert list(table.columns) == ["case_id", "outcome", "base_value", *model.feature_names]
    for outcome, exp in explanations.items():
        rows = table.loc[table["outcome"] == outcome]
        assert rows["case_id"].astype(str).tolist() == head["case_id"].astype(str).tolist()
        sums = rows[model.feature_names].sum(axis=1).to_numpy()
        np.testing.assert_allclose(sums + rows["base_value"].to_numpy(), exp.logit(), atol=1e-12)
        p = model.for_outcome(outcome).predict_proba(head)
        np.testing.assert_allclose(exp.logit(), np.log(p / (1 - p)), atol=1e-9)