"""Mitigation options, shown beside the model as trained and never applied by default.

fairlearn's ``ThresholdOptimizer`` picks a threshold per group (randomised between two where it
must) so that a parity constraint holds on the data it is fitted on. That is a policy choice with
costs (a different threshold by sex or ethnicity is itself differential treatment, and needs a
lawful basis under the Equality Act 2010), so stalkrisk only measures it: fitted on the validation
slice, judged on the test slice, side by side with the single threshold as trained. A force that
adopts one does so by its own decision, recorded with the model version.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator


class _Scores(BaseEstimator):
    """The model's calibrated score as an already fitted estimator: ``X``'s one column is the score."""

    def fit(self, X, y, **kwargs):  # fairlearn calls it only when not prefit
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def predict(self, X):
        return np.asarray(X)[:, 0]


def _grid(p: np.ndarray) -> np.ndarray:
    """Scores to 0.001, as one column: the optimizer tries a threshold at each distinct score,
    so rounding cuts its fit several-fold; a threshold finer than 0.001
    would not be a policy anyone reads."""
    return np.round(np.asarray(p, dtype=np.float64), 3).reshape(-1, 1)


def _rates(y: np.ndarray, flag: np.ndarray, groups: np.ndarray, min_group_size: int) -> dict[str, float]:
    """Overall flag rate and recall, and the largest FNR gap and smallest flag-rate ratio over the
    groups with at least ``min_group_size`` cases."""
    positives = max(int(y.sum()), 1)
    fnr, rate = [], []
    for g in np.unique(groups):
        m = groups == g
        if m.sum() < min_group_size:
            continue
        rate.append(float(flag[m].mean()))
        pos = y[m] == 1
        if pos.any():
            fnr.append(float(1 - flag[m][pos].mean()))
    return {
        "flag_rate": float(flag.mean()),
        "recall": float((flag & (y == 1)).sum() / positives),
        "fnr_gap": max(fnr) - min(fnr) if len(fnr) >= 2 else math.nan,
        "flag_rate_ratio": min(rate) / max(rate) if len(rate) >= 2 and max(rate) > 0 else math.nan,
    }


def threshold_optimizer_options(
    y_valid: np.ndarray, p_valid: np.ndarray, groups_valid: pd.DataFrame,
    y_test: np.ndarray, p_test: np.ndarray, groups_test: pd.DataFrame, flag_test: np.ndarray,
    conduct_test: np.ndarray, config: dict[str, Any], *, min_group_size: int = 50, seed: int = 0,
) -> pd.DataFrame:
    """One row per (attribute, option): the flag as trained, and with ``ThresholdOptimizer``'s
    per-group thresholds (the course-of-conduct test still applied): flag rate, recall, the FNR gap
    and the flag-rate ratio on the test slice. Empty when disabled."""
    from fairlearn.postprocessing import ThresholdOptimizer

    cfg = (config or {}).get("threshold_optimizer") or {}
    if not cfg.get("enabled", False):
        return pd.DataFrame()
    constraint, objective = cfg.get("constraints", "false_negative_rate_parity"), cfg.get("objective", "balanced_accuracy_score")
    rows = []
    for attribute in cfg.get("attributes", []):
        if attribute not in groups_valid or attribute not in groups_test:
            continue
        g_valid, g_test = groups_valid[attribute].to_numpy(), groups_test[attribute].to_numpy()
        base = {"attribute": attribute, **_rates(y_test, flag_test, g_test, min_group_size)}
        rows.append({**base, "option": "as trained (one threshold)"})
        try:
            optimizer = ThresholdOptimizer(estimator=_Scores(), constraints=constraint, objective=objective,
                                           prefit=True, predict_method="predict")
            optimizer.fit(_grid(p_valid), y_valid, sensitive_features=g_valid)
            mitigated = optimizer.predict(_grid(p_test), sensitive_features=g_test, random_state=seed)
        except (ValueError, KeyError) as exc:  # e.g. a test group the validation slice never saw
            rows.append({"attribute": attribute, "option": f"ThresholdOptimizer: not fitted ({exc})"})
            continue
        flag = (np.asarray(mitigated) == 1) & conduct_test
        rows.append({"attribute": attribute, "option": f"ThresholdOptimizer ({constraint.replace('_', ' ')})",
                     **_rates(y_test, flag, g_test, min_group_size)})
    return pd.DataFrame(rows)
