"""The logistic-regression baseline: a seeded stratified sample of the training rows."""

from __future__ import annotations

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from stalkrisk.training.fit import logistic_baseline, median_or_zero, stratified_sample


def test_stratified_sample_keeps_class_shares_and_is_seeded():
    y = np.r_[np.ones(300, dtype=int), np.zeros(2700, dtype=int)]
    np.random.default_rng(0).shuffle(y)
    rows = stratified_sample(y, 1000)
    assert len(rows) == 1000 and len(np.unique(rows)) == 1000
    assert (np.diff(rows) > 0).all()
    assert y[rows].sum() == 100
    np.testing.assert_array_equal(rows, stratified_sample(y, 1000))
    assert not np.array_equal(rows, stratified_sample(y, 1000, seed=1))


def test_stratified_sample_takes_every_row_when_few():
    np.testing.assert_array_equal(stratified_sample(np.array([0, 1, 1]), 3), [0, 1, 2])


def _data(n: int = 6000, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    X[rng.random(n) < 0.1, 2] = np.nan
    logit = 1.5 * X[:, 0] - X[:, 1] + 0.5 * np.nan_to_num(X[:, 2])
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def test_logistic_baseline_on_all_rows_is_the_plain_pipeline():
    X, y = _data()
    train = np.arange(len(y)) < 4000
    p, used = logistic_baseline(X, y, train, X[~train])
    plain = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
                          LogisticRegression(max_iter=10_000, tol=1e-12, C=1.0)).fit(X[train], y[train])
    assert used == 4000
    # The solver is a matter of speed only: sklearn's default L-BFGS, run to convergence,
    # reaches the same penalised optimum.
    np.testing.assert_allclose(p, plain.predict_proba(X[~train])[:, 1], rtol=0, atol=1e-6)


def test_logistic_baseline_on_a_sample_ranks_the_test_rows_alike():
    X, y = _data(20_000)
    train = np.arange(len(y)) < 16_000
    full, _ = logistic_baseline(X, y, train, X[~train])
    sample, used = logistic_baseline(X, y, train, X[~train], max_rows=4000)
    assert used == 4000
    assert abs(roc_auc_score(y[~train], sample) - roc_auc_score(y[~train], full)) < 0.005


def test_median_or_zero_imputes_as_sklearns_median_with_empty_features_kept():
    X = np.array([[1.0, np.nan, 5.0], [np.nan, np.nan, 1.0], [4.0, np.nan, 2.0], [2.0, np.nan, 8.0]])
    ours = SimpleImputer(strategy=median_or_zero, keep_empty_features=True).fit(X)
    theirs = SimpleImputer(strategy="median", keep_empty_features=True).fit(X)
    np.testing.assert_array_equal(ours.statistics_, [2.0, 0.0, 3.5])  # odd count, empty, even count
    np.testing.assert_array_equal(ours.transform(X), theirs.transform(X))
