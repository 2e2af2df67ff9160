"""Explanations rank the reason groups as the generator's mechanism weighs them."""

from __future__ import annotations

import pandas as pd

from stalkrisk.audit.rescore import faithfulness, format_faithfulness
from stalkrisk.explain.reasons import explain
from stalkrisk.features import build_features
from stalkrisk.synth.caseload import MECHANISM_GROUP_WEIGHTS
from stalkrisk.tracking.registry import load_model


def test_rank_correlation_golden() -> None:
    from stalkrisk.explain.reasons import Explanation

    names = ["n_threat_30d", "rel_ex_partner", "victim_fear"]  # threats, relationship, victim_fear
    contributions = pd.DataFrame({"a": [0.5, -0.5], "b": [2.0, -1.0], "c": [0.1, 0.0]}).to_numpy()
    exp = Explanation(names, contributions, base_value=-1.0)
    same = faithfulness(exp, {"threats": 2.0, "relationship": 3.0, "victim_fear": 1.0})
    assert same.rho == 1.0 and same.table["group"].tolist() == ["relationship", "threats", "victim_fear"]
    assert same.table["mean_abs_shap"].tolist() == [1.5, 0.5, 0.05]
    reversed_ = faithfulness(exp, {"threats": 2.0, "relationship": 1.0, "victim_fear": 3.0})
    assert reversed_.rho == -1.0


def test_session_model_explanations_are_faithful(trained, caseload) -> None:
    model = load_model(f"models:/stalkrisk/{trained.version}").model
    cases = caseload.cases.iloc[:3000]
    events = caseload.events.loc[caseload.events["case_id"].isin(cases["case_id"])]
    features = build_features(cases, events)
    # The generator's mechanism is the hazard of its outcome events (threats, violence, breaches):
    # the harm domain's. ``risk`` now adds persistence, driven by the acts' own rates, not these weights.
    result = faithfulness(explain(model.for_outcome("harm"), features), MECHANISM_GROUP_WEIGHTS)
    assert set(result.table["group"]) == set(MECHANISM_GROUP_WEIGHTS)
    # The generator's truth is two domains with relationship-specific drivers (issue 18): risk's
    # group weights are a first-order (chain-rule) attribution and an interaction is booked to the
    # relationship group, so a model's SHAP ranking follows them less closely than it followed the
    # old single additive logit (measured: 0.62 for this session model, 0.76 for a model trained
    # on risk over 20,000 cases; the old generator gave over 0.8).
    assert result.rho >= 0.6, format_faithfulness(result)
