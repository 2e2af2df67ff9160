"""How good is a score: discrimination, calibration and the flag it drives.

Pure functions over arrays: labels ``y`` (0/1) and scores ``p`` in, plain dicts and
frames out, so training, the model card, MLflow logging and the audit all report
the same numbers. sklearn.metrics does what it has (ROC-AUC, average precision,
Brier, log loss, precision/recall); this module adds what it lacks: expected
calibration error, recall at a review capacity, and the thresholds a flag policy
needs (capacity or target recall).

Conventions:

- A case is flagged when ``p >= threshold``.
- Calibration bins are 10 equal-width bins on [0, 1]: bin ``k`` holds
  ``k/10 <= p < (k+1)/10`` (computed as ``floor(10 p)``), and ``p == 1`` falls in the
  last bin. ECE is the count-weighted mean of ``|mean predicted - observed rate|``
  over the non-empty bins.
- Recall at a capacity reviews the top ``floor(share * n)`` cases by score. Cases
  tied with the last one reviewed are taken in proportion (the expected recall over
  every order of the tie), so the number is deterministic and does not depend on row
  order, and a constant score gets recall equal to the share.
- A metric that is undefined on the data (AUC with one class, precision with no flag)
  is NaN, never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from stalkrisk.model.thresholds import labelled_scores as _arrays
from stalkrisk.model.thresholds import n_reviewed as _n_reviewed
from stalkrisk.model.thresholds import threshold_for_capacity, threshold_for_recall  # noqa: F401  (metrics' public names)

CAPACITY_SHARES = (0.05, 0.10, 0.20)


def _both_classes(y: np.ndarray) -> bool:
    return 0 < int(y.sum()) < len(y)


def recall_at_capacity(y, p, share: float) -> float:
    """Recall when the top ``share`` of cases by score are reviewed (ties shared out)."""
    y_arr, p_arr = _arrays(y, p)
    positives = int(y_arr.sum())
    if positives == 0:
        return float("nan")
    k = _n_reviewed(len(p_arr), share)
    if k == 0:
        return 0.0
    kth = np.sort(p_arr)[::-1][k - 1]
    above = p_arr > kth
    tied = p_arr == kth
    room = k - int(above.sum())
    found = y_arr[above].sum() + room * y_arr[tied].sum() / tied.sum()
    return float(found / positives)


def calibration_table(y, p, n_bins: int = 10) -> pd.DataFrame:
    """Equal-width reliability table: one row per bin, empty bins included (NaN means)."""
    y_arr, p_arr = _arrays(y, p)
    if np.any((p_arr < 0) | (p_arr > 1)):
        raise ValueError("calibration needs probabilities in [0, 1]")
    idx = np.minimum(np.floor(p_arr * n_bins).astype(int), n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_pred = np.bincount(idx, weights=p_arr, minlength=n_bins) / count
        observed = np.bincount(idx, weights=y_arr, minlength=n_bins) / count
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return pd.DataFrame(
        {
            "bin": np.arange(n_bins),
            "bin_lower": edges[:-1],
            "bin_upper": edges[1:],
            "mean_predicted": mean_pred,
            "observed_rate": observed,
            "count": count.astype(np.int64),
        }
    )


def expected_calibration_error(y, p, n_bins: int = 10) -> float:
    """Count-weighted mean gap between predicted and observed rate over equal-width bins."""
    table = calibration_table(y, p, n_bins)
    used = table[table["count"] > 0]
    gap = (used["mean_predicted"] - used["observed_rate"]).abs()
    return float((gap * used["count"]).sum() / used["count"].sum())


def _rate(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float("nan")


def classification_metrics(y, p, threshold: float) -> dict[str, float]:
    """Discrimination, calibration, the flag at ``threshold`` and recall at capacities."""
    y_arr, p_arr = _arrays(y, p)
    both = _both_classes(y_arr)
    flag = p_arr >= threshold
    tp = int((flag & (y_arr == 1)).sum())
    fp = int((flag & (y_arr == 0)).sum())
    positives = int(y_arr.sum())
    negatives = len(y_arr) - positives
    result = {
        "n": float(len(y_arr)),
        "positive_rate": _rate(positives, len(y_arr)),
        "roc_auc": float(skm.roc_auc_score(y_arr, p_arr)) if both else float("nan"),
        "pr_auc": float(skm.average_precision_score(y_arr, p_arr)) if positives else float("nan"),
        "brier": float(skm.brier_score_loss(y_arr, p_arr)),
        "ece": expected_calibration_error(y_arr, p_arr),
        "log_loss": float(skm.log_loss(y_arr, p_arr, labels=[0, 1])),
        "threshold": float(threshold),
        "precision": _rate(tp, tp + fp),
        "recall": _rate(tp, positives),
        "fnr": _rate(positives - tp, positives),
        "fpr": _rate(fp, negatives),
        "flag_rate": _rate(int(flag.sum()), len(y_arr)),
    }
    for share in CAPACITY_SHARES:
        result[f"recall_at_{round(share * 100)}pct"] = recall_at_capacity(y_arr, p_arr, share)
    return result


def _looks_like_probability(values: np.ndarray) -> bool:
    return bool(np.all((values >= 0) & (values <= 1)))


def baseline_table(
    y,
    scores: Mapping[str, np.ndarray],
    probabilities: set[str] | None = None,
) -> pd.DataFrame:
    """One row per named score, in the order given: ROC-AUC, PR-AUC and Brier.

    Brier is reported only for scores that are probabilities: the names in
    ``probabilities`` when given, otherwise every score whose values lie in [0, 1].
    """
    y_arr = np.asarray(y, dtype=float)
    rows = []
    for name, score in scores.items():
        y_ok, s = _arrays(y_arr, score)
        is_prob = name in probabilities if probabilities is not None else _looks_like_probability(s)
        rows.append(
            {
                "score": name,
                "roc_auc": float(skm.roc_auc_score(y_ok, s)) if _both_classes(y_ok) else float("nan"),
                "pr_auc": float(skm.average_precision_score(y_ok, s)) if y_ok.any() else float("nan"),
                "brier": float(skm.brier_score_loss(y_ok, s)) if is_prob else float("nan"),
                "is_probability": is_prob,
            }
        )
    return pd.DataFrame(rows, columns=["score", "roc_auc", "pr_auc", "brier", "is_probability"])
