"""Evaluation metrics against cases worked out by hand, plus invariants."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stalkrisk.evaluate.metrics import (
    baseline_table,
    calibration_table,
    classification_metrics,
    expected_calibration_error,
    recall_at_capacity,
    threshold_for_capacity,
    threshold_for_recall,
)

# Golden case. Sorted by score: 0.9(+) 0.8(+) 0.7(-) 0.6(+) 0.2(-) 0.1(-)
Y = np.array([1, 1, 0, 1, 0, 0])
P = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.1])


def test_golden_classification_metrics():
    m = classification_metrics(Y, P, threshold=0.65)
    # AUC: of 3x3 (pos, neg) pairs the positives win 3 + 3 + 2 = 8.
    assert m["roc_auc"] == pytest.approx(8 / 9)
    # AP: precision at each positive's rank: 1/1, 2/2, 3/4.
    assert m["pr_auc"] == pytest.approx((1 + 1 + 0.75) / 3)
    # Brier: (0.1² + 0.2² + 0.7² + 0.4² + 0.2² + 0.1²) / 6 = 0.75 / 6.
    assert m["brier"] == pytest.approx(0.125)
    # One case per bin, so ECE is the mean |p - y| = 1.7 / 6.
    assert m["ece"] == pytest.approx(1.7 / 6)
    expected_log_loss = -(math.log(0.9) + math.log(0.8) + math.log(0.3) + math.log(0.6)
                          + math.log(0.8) + math.log(0.9)) / 6
    assert m["log_loss"] == pytest.approx(expected_log_loss)
    # Flag p >= 0.65: 0.9, 0.8, 0.7 -> TP 2, FP 1, FN 1, TN 2.
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["fnr"] == pytest.approx(1 / 3)
    assert m["fpr"] == pytest.approx(1 / 3)
    assert m["flag_rate"] == pytest.approx(0.5)
    # n = 6: 5% and 10% review floor(0.3) = floor(0.6) = 0 cases; 20% reviews 1 (a positive).
    assert m["recall_at_5pct"] == 0.0
    assert m["recall_at_10pct"] == 0.0
    assert m["recall_at_20pct"] == pytest.approx(1 / 3)


def test_threshold_equal_to_score_flags_it():
    m = classification_metrics(Y, P, threshold=0.7)
    assert m["flag_rate"] == pytest.approx(0.5)


def test_ece_with_shared_bins():
    # bin 1: 0.12, 0.18, 0.15 -> mean 0.15, observed 1/3; bin 8: 0.85 vs 1; bin 9: 0.95 vs 1.
    y = [0, 1, 0, 1, 1]
    p = [0.12, 0.18, 0.15, 0.85, 0.95]
    expected = (3 * abs(0.15 - 1 / 3) + abs(0.85 - 1) + abs(0.95 - 1)) / 5
    assert expected == pytest.approx(0.15)
    assert expected_calibration_error(y, p) == pytest.approx(expected)


def test_calibration_table_bins_and_empty_bins():
    table = calibration_table([0, 1, 0, 1, 1], [0.12, 0.18, 0.15, 0.85, 1.0])
    assert list(table["count"]) == [0, 3, 0, 0, 0, 0, 0, 0, 1, 1]  # p = 1 is in the last bin
    assert table.loc[1, "mean_predicted"] == pytest.approx(0.15)
    assert table.loc[1, "observed_rate"] == pytest.approx(1 / 3)
    assert np.isnan(table.loc[0, "mean_predicted"])
    assert table.loc[3, "bin_lower"] == pytest.approx(0.3)


def test_recall_at_capacity_shares_ties():
    # 10 cases, 20% -> 2 reviewed. Four tied at 0.5 holding 2 of the 3 positives:
    # the 2 review slots find 2 * 2/4 = 1 positive on average -> recall 1/3.
    y = [1, 1, 0, 0, 1, 0, 0, 0, 0, 0]
    p = [0.5, 0.5, 0.5, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]
    assert recall_at_capacity(y, p, 0.2) == pytest.approx(1 / 3)
    assert recall_at_capacity(y, p, 0.4) == pytest.approx(2 / 3)
    assert recall_at_capacity(y, p, 1.0) == pytest.approx(1.0)


def test_constant_score_recall_equals_share():
    y = np.array([1, 0, 0, 1, 0, 1, 0, 0, 0, 1] * 10)
    assert recall_at_capacity(y, np.full(100, 0.3), 0.2) == pytest.approx(0.2)


def test_threshold_for_capacity_never_exceeds_capacity():
    p = [0.9, 0.8, 0.8, 0.5, 0.1]
    assert threshold_for_capacity(p, 0.4) == 0.9  # 0.8 would flag 3 > 2
    assert threshold_for_capacity(p, 0.6) == 0.8
    assert threshold_for_capacity(p, 1.0) == 0.1
    t = threshold_for_capacity(p, 0.0)
    assert t > 0.9 and not np.any(np.asarray(p) >= t)


def test_threshold_for_recall_golden():
    assert threshold_for_recall(Y, P, 0.5) == 0.8  # 0.9 alone finds 1/3
    assert threshold_for_recall(Y, P, 2 / 3) == 0.8
    assert threshold_for_recall(Y, P, 0.7) == 0.6
    assert threshold_for_recall(Y, P, 1.0) == 0.6
    with pytest.raises(ValueError):
        threshold_for_recall([0, 0], [0.1, 0.2], 0.5)


def test_undefined_metrics_are_nan_not_errors():
    m = classification_metrics([0, 0, 0], [0.1, 0.2, 0.3], threshold=0.9)
    assert math.isnan(m["roc_auc"]) and math.isnan(m["recall"]) and math.isnan(m["precision"])
    assert m["fpr"] == 0.0


def test_rejects_missing_labels():
    with pytest.raises(ValueError):
        classification_metrics([1, np.nan], [0.2, 0.3], 0.5)


def test_baseline_table_infers_probabilities_and_keeps_order():
    sdash = np.array([5, 4, 2, 3, 0, 1])  # a count: no Brier
    table = baseline_table(Y, {"model": P, "S-DASH count": sdash, "base rate": np.full(6, 0.5)})
    assert list(table["score"]) == ["model", "S-DASH count", "base rate"]
    assert table.loc[0, "roc_auc"] == pytest.approx(8 / 9)
    # S-DASH order: 5(+) 4(+) 3(+) 2(-) 1(-) 0(-) -> perfect ranking.
    assert table.loc[1, "roc_auc"] == pytest.approx(1.0)
    assert math.isnan(table.loc[1, "brier"])
    assert table.loc[2, "roc_auc"] == pytest.approx(0.5)
    assert table.loc[2, "brier"] == pytest.approx(0.25)
    explicit = baseline_table(Y, {"model": P, "base rate": np.full(6, 0.5)}, probabilities={"model"})
    assert math.isnan(explicit.loc[1, "brier"])


scores = st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.5, 0.75, 0.9, 1.0]), min_size=4, max_size=40)


@settings(max_examples=25, deadline=None)
@given(p=scores, data=st.data())
def test_metrics_invariant_to_row_order(p, data):
    n = len(p)
    y = data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    perm = data.draw(st.permutations(range(n)))
    a = classification_metrics(y, p, threshold=0.5)
    b = classification_metrics(np.asarray(y)[perm], np.asarray(p)[perm], threshold=0.5)
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == pytest.approx(b[key], nan_ok=True), key


@settings(max_examples=60, deadline=None)
@given(p=scores, share=st.floats(0.0, 1.0))
def test_capacity_threshold_is_the_lowest_within_capacity(p, share):
    p = np.asarray(p)
    t = threshold_for_capacity(p, share)
    k = math.floor(share * len(p) + 1e-9)
    assert (p >= t).sum() <= k
    lower = p[p < t]
    if len(lower):
        assert (p >= lower.max()).sum() > k


@settings(max_examples=60, deadline=None)
@given(p=scores, data=st.data(), target=st.floats(0.01, 1.0))
def test_recall_threshold_is_the_highest_reaching_target(p, data, target):
    n = len(p)
    y = np.asarray(data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    p = np.asarray(p)
    if y.sum() == 0:
        return
    t = threshold_for_recall(y, p, target)
    assert y[p >= t].sum() / y.sum() >= target - 1e-9
    higher = p[p > t]
    if len(higher):
        assert y[p >= higher.min()].sum() / y.sum() < target


def test_returns_plain_floats():
    m = classification_metrics(Y, P, threshold=0.5)
    assert all(type(v) is float for v in m.values())
    assert isinstance(calibration_table(Y, P), pd.DataFrame)
