"""The paired bootstrap of the ROC-AUC difference: hand-worked, against a slow loop, and the gate."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from stalkrisk.evaluate.compare import auc_differences


def test_hand_worked_difference_with_ties():
    # y 0 0 1 1; model .1 .4 .35 .8 -> pairs (pos, neg): .35>.1, .35<.4, .8>.1, .8>.4: AUC 3/4.
    # baseline 1 2 2 2 -> .35-vs-.1 style: pos(2,2) vs neg 1: 2 wins; vs neg 2: 2 ties -> (2 + 1) / 4.
    y = np.array([0, 0, 1, 1])
    (d,) = auc_differences(y, np.array([0.1, 0.4, 0.35, 0.8]), {"count": np.array([1, 2, 2, 2])}, n_boot=0)
    assert d.difference == pytest.approx(0.75 - 0.75)
    (d,) = auc_differences(y, np.array([0.1, 0.4, 0.35, 0.8]), {"count": np.array([2, 2, 1, 2])}, n_boot=0)
    assert d.difference == pytest.approx(0.75 - 0.25)  # baseline: pos 1 vs (2,2) loses both; pos 2 ties both


def test_resamples_are_those_of_a_slow_loop_with_the_same_draws():
    rng = np.random.default_rng(3)
    n = 300
    y = rng.integers(0, 2, n)
    model = y * 0.4 + rng.random(n)
    base = np.round(y * 0.2 + rng.random(n), 1)  # many ties
    (d,) = auc_differences(y, model, {"base": base}, n_boot=50, seed=9)
    draws = np.random.default_rng(9)
    diffs = []
    for _ in range(50):
        idx = draws.integers(0, n, size=n)
        diffs.append(roc_auc_score(y[idx], model[idx]) - roc_auc_score(y[idx], base[idx]))
    low, high = np.quantile(diffs, [0.025, 0.975])
    assert d.ci_low == pytest.approx(low, abs=1e-12) and d.ci_high == pytest.approx(high, abs=1e-12)
    assert d.difference == pytest.approx(roc_auc_score(y, model) - roc_auc_score(y, base), abs=1e-12)


def test_a_small_gain_on_noise_is_not_clear_and_a_real_gain_is():
    rng = np.random.default_rng(0)
    n = 2000
    y = rng.integers(0, 2, n)
    signal = y * 0.6 + rng.random(n)
    same = signal + rng.normal(0, 0.05, n)  # the baseline is the model plus a little noise
    weak = y * 0.2 + rng.random(n)
    near, far = auc_differences(y, signal, {"near": same, "far": weak}, n_boot=300)
    assert near.ci_low < 0 < near.ci_high and not near.clear
    assert far.clear and far.ci_low > 0.05


def test_the_gate_is_a_margin_below_zero_with_its_own_words():
    """Margin 0: the interval must lie above zero (beats it). A margin m: above -m (non-inferior)."""
    from stalkrisk.evaluate.compare import GATED_BASELINES, Difference

    assert GATED_BASELINES == {"S-DASH count": 0.0, "logistic regression": 0.01}
    tie = Difference("logistic regression", 0.001, -0.004, 0.006, 500, margin=0.01)
    assert tie.passes and not tie.clear and tie.failure() == ""
    assert "not worse by more than 0.01" in tie.verdict()
    worse = Difference("logistic regression", -0.006, -0.012, 0.0, 500, margin=0.01)
    assert not worse.passes and "may be worse than the logistic regression baseline by more than 0.01" in worse.failure()
    assert "may be worse" in worse.verdict()
    level = Difference("S-DASH count", 0.001, -0.004, 0.006, 500)
    assert not level.passes and level.verdict() == "**does not clearly beat it**"
    beaten = Difference("S-DASH count", 0.05, 0.03, 0.07, 500)
    assert beaten.passes and beaten.clear and beaten.verdict() == "beats it"
