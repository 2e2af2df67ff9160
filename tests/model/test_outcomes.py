"""A model of several outcomes: saved as plain files, loaded back equal, each outcome its own view."""

from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np
import pytest

from stalkrisk.model.meta import ModelMeta
from stalkrisk.model.outcomes import OutcomeModel, booster_file, score_column
from stalkrisk.model.risk_model import RiskModel


def _booster(seed: int) -> lgb.Booster:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(400, 3))
    y = (X[:, seed % 3] + rng.normal(size=400) > 0).astype(int)
    return lgb.train({"objective": "binary", "verbosity": -1, "num_leaves": 4, "seed": 1},
                     lgb.Dataset(X, y), num_boost_round=5)


@pytest.fixture(scope="module")
def model() -> RiskModel:
    return RiskModel(booster=_booster(0), feature_names=["a", "b", "c"], platt_a=1.0, platt_b=0.0, threshold=0.5,
                     band_edges=(0.2, 0.4, 0.6), meta=ModelMeta(outcomes=("risk", "persistence", "harm")),
                     domains={"persistence": OutcomeModel(_booster(1), 0.8, -0.1),
                              "harm": OutcomeModel(_booster(2), 1.2, 0.3)})


def test_names():
    assert [score_column(o) for o in ("risk", "harm")] == ["score", "score_harm"]
    assert [booster_file(o) for o in ("risk", "persistence")] == ["booster.txt", "booster_persistence.txt"]


def test_saved_and_loaded_back(model, tmp_path):
    model.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["booster.txt", "booster_harm.txt",
                                                          "booster_persistence.txt", "model.json"]
    spec = json.loads((tmp_path / "model.json").read_text())
    assert spec["outcomes"] == {"persistence": {"platt_a": 0.8, "platt_b": -0.1},
                                "harm": {"platt_a": 1.2, "platt_b": 0.3}}
    assert spec["meta"]["outcomes"] == ["risk", "persistence", "harm"]
    back = RiskModel.load(tmp_path)
    assert back.outcomes == ("risk", "persistence", "harm") and back.digest() == model.digest()
    X = np.random.default_rng(5).normal(size=(20, 3))
    for outcome in model.outcomes:
        np.testing.assert_array_equal(back.for_outcome(outcome).predict_proba(X), model.for_outcome(outcome).predict_proba(X))


def test_each_outcome_is_its_own_calibrated_booster(model):
    X = np.random.default_rng(6).normal(size=(20, 3))
    harm = model.for_outcome("harm")
    assert harm.for_outcome("risk") is harm and harm.domains == {}
    expected = 1 / (1 + np.exp(-(1.2 * model.domains["harm"].booster.predict(X, raw_score=True) + 0.3)))
    np.testing.assert_allclose(harm.predict_proba(X), expected, rtol=0, atol=1e-15)
    assert not np.allclose(harm.predict_proba(X), model.predict_proba(X))


def test_a_model_of_one_outcome_reads_as_before(model, tmp_path):
    single = RiskModel(booster=model.booster, feature_names=model.feature_names, platt_a=1.0, platt_b=0.0,
                       threshold=0.5, band_edges=(0.2, 0.4, 0.6))
    single.save(tmp_path)
    spec = json.loads((tmp_path / "model.json").read_text())
    assert "outcomes" not in spec and "outcomes" not in spec["meta"]
    assert RiskModel.load(tmp_path).outcomes == ("risk",)
    with pytest.raises(KeyError):
        single.for_outcome("harm")
    # another domain's booster changes the digest
    assert single.digest() != model.digest()
