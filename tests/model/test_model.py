"""The risk model: Platt calibration, persistence, bands, the feature-list check."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stalkrisk.model.meta import ModelMeta
from stalkrisk.model.risk_model import (
    ModelMismatchError,
    RiskModel,
    choose_band_edges,
    fit_booster,
    fit_platt,
    logit,
    sigmoid,
)


@pytest.fixture(scope="module")
def small_model():
    rng = np.random.default_rng(0)
    X = rng.poisson(2.0, size=(3000, 4)).astype(float)
    X[rng.random(X.shape) < 0.05] = np.nan
    z = 0.6 * np.nan_to_num(X[:, 0]) - 0.4 * np.nan_to_num(X[:, 1]) - 1.0
    y = (rng.random(3000) < sigmoid(z)).astype(int)
    names = ["threats", "calm", "noise_a", "noise_b"]
    booster = fit_booster(
        X[:2000], y[:2000], X[2000:], y[2000:], feature_names=names, monotone=[1, -1, 0, 0],
        params={"objective": "binary", "num_leaves": 7, "max_depth": 3, "learning_rate": 0.1, "seed": 1,
                "num_threads": 1, "min_data_in_leaf": 20},
        num_boost_round=60, early_stopping_rounds=10,
    )
    a, b = fit_platt(booster.predict(X[2000:], raw_score=True), y[2000:])
    model = RiskModel(booster, names, a, b, threshold=0.4, band_edges=(0.2, 0.4, 0.6), meta=ModelMeta(label_description="a test", extra={"k": 1}))
    return model, X


def test_platt_recovers_a_known_affine_map():
    rng = np.random.default_rng(3)
    margin = rng.normal(size=20000)
    y = (rng.random(20000) < sigmoid(0.5 * margin - 1.0)).astype(int)
    a, b = fit_platt(margin, y)
    assert a == pytest.approx(0.5, abs=0.05)
    assert b == pytest.approx(-1.0, abs=0.05)


def test_calibrated_logit_is_affine_in_the_margin(small_model):
    model, X = small_model
    np.testing.assert_allclose(model.calibrated_logit(X), model.platt_a * model.margin(X) + model.platt_b)
    np.testing.assert_allclose(logit(model.predict_proba(X)), model.calibrated_logit(X), atol=1e-9)


def test_monotone_constraints_hold(small_model):
    model, X = small_model
    base = np.nan_to_num(X[:200].copy())
    up = base.copy()
    up[:, 0] += 3
    down = base.copy()
    down[:, 1] += 3
    assert np.all(model.predict_proba(up) >= model.predict_proba(base) - 1e-12)
    assert np.all(model.predict_proba(down) <= model.predict_proba(base) + 1e-12)


def test_save_load_round_trip_is_exact(small_model, tmp_path):
    model, X = small_model
    model.save(tmp_path / "m")
    again = RiskModel.load(tmp_path / "m")
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))
    assert again.digest() == model.digest()
    assert again.threshold == model.threshold and again.band_edges == model.band_edges
    assert not list((tmp_path / "m").glob("*.partial"))


def test_bands_follow_the_cut_points(small_model):
    model, _ = small_model
    bands = model.risk_band(np.array([0.0, 0.19, 0.2, 0.39, 0.4, 0.6, 1.0]))
    assert bands.tolist() == ["low", "low", "medium", "medium", "high", "very_high", "very_high"]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=200))
def test_band_edges_strictly_increase(scores):
    edges = choose_band_edges(np.array(scores), [0.5, 0.8, 0.95])
    assert edges[0] < edges[1] < edges[2]


def test_feature_list_mismatch_is_refused_clearly(small_model):
    model, _ = small_model
    model.check_features(["threats", "calm", "noise_a", "noise_b"])
    with pytest.raises(ModelMismatchError, match="lacks"):
        model.check_features(["threats", "calm", "noise_a", "noise_b", "new_feature"])
    with pytest.raises(ModelMismatchError, match="different order"):
        model.check_features(["calm", "threats", "noise_a", "noise_b"])
