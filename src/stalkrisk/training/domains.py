"""The risk-domain models: one booster per domain beside the risk model, calibrated alike.

Each domain (``persistence``, ``harm``: ``label.outcomes``) is fitted on the same binned
datasets as the risk model (``fit.look_ahead``: the bins are the features', not the label's),
relabelled, with the same parameters, early stopping and Platt calibration on the validation
slice; so each domain's score has exact additive explanations too. The flag, bands and queue
stay on ``risk``. Evaluation per outcome on the test slice (ROC-AUC, PR-AUC, Brier) and, on
generated data, the ceiling of the generator's true probabilities (``p_<outcome>``; ``p`` for
``risk`` when the truth file has no ``p_risk``).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from stalkrisk.data import ids
from stalkrisk.explain.reasons import margins
from stalkrisk.model.outcomes import OutcomeModel
from stalkrisk.model.risk_model import fit_platt, sigmoid, train_booster
from stalkrisk.model.supported import check_booster


def fit_domains(datasets: tuple[Any, Any], y: dict[str, tuple[np.ndarray, np.ndarray]], X_valid: np.ndarray,
                model_config: dict, method: str, rounds: Callable[[int], Sequence[Callable]] = lambda n: (),
                ) -> tuple[dict[str, OutcomeModel], list[str]]:
    """A calibrated ``OutcomeModel`` per domain of ``y`` (name -> (train labels, valid labels)).

    A domain whose training or validation slice lacks either outcome is left out, with a warning.
    The datasets are relabelled in place: the risk booster is trained before this is called.
    """
    train, valid = datasets
    out: dict[str, OutcomeModel] = {}
    warnings: list[str] = []
    for name, (y_train, y_valid) in y.items():
        if len(np.unique(y_train)) < 2 or len(np.unique(y_valid)) < 2:
            warnings.append(f"the {name} domain has one outcome only in the training or validation slice: "
                            f"no {name} model (score_{name} is left empty)")
            continue
        train.set_label(y_train)
        valid.set_label(y_valid)
        n_rounds = int(model_config["num_boost_round"])
        booster = train_booster(datasets, num_boost_round=n_rounds,
                                early_stopping_rounds=int(model_config["early_stopping_rounds"]),
                                callbacks=rounds(n_rounds))
        check_booster(booster)
        a, b = fit_platt(margins(booster, X_valid, method), y_valid)
        out[name] = OutcomeModel(booster, a, b)
    return out, warnings


def domain_scores(domains: dict[str, OutcomeModel], X: np.ndarray, method: str) -> dict[str, np.ndarray]:
    """Each domain's calibrated probability for the rows of ``X``."""
    return {name: sigmoid(d.platt_a * margins(d.booster, X, method) + d.platt_b) for name, d in domains.items()}


def outcome_metrics(name: str, y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """``<name>_roc_auc``, ``_pr_auc``, ``_brier``, ``_positive_rate`` on one slice."""
    both = len(np.unique(y)) == 2
    return {
        f"{name}_roc_auc": float(skm.roc_auc_score(y, p)) if both else float("nan"),
        f"{name}_pr_auc": float(skm.average_precision_score(y, p)) if y.any() else float("nan"),
        f"{name}_brier": float(skm.brier_score_loss(y, p)),
        f"{name}_positive_rate": float(np.mean(y)) if len(y) else float("nan"),
    }


def truth_probabilities(truth: pd.DataFrame, case_ids: pd.Series, outcome: str) -> np.ndarray | None:
    """The generator's true probability of ``outcome`` per case, or None when the file lacks it
    or a case: ``p_<outcome>``, and ``p`` for ``risk`` (the generator before the domains)."""
    column = f"p_{outcome}"
    if column not in truth.columns:
        if outcome != "risk" or "p" not in truth.columns:
            return None
        column = "p"
    row = ids.row_of(case_ids, truth["case_id"])  # (not a merge: Arrow's hash table)
    p = np.where(row >= 0, truth[column].to_numpy(dtype=np.float64)[np.maximum(row, 0)], np.nan)
    return None if not len(p) or np.isnan(p).any() else p


def ceiling(truth: pd.DataFrame | None, case_ids: pd.Series, outcome: str, y: np.ndarray,
            model_auc: float) -> dict[str, float]:
    """``ceiling_roc_auc`` and ``share_of_ceiling`` (prefixed ``<outcome>_`` for a domain)."""
    p_true = None if truth is None else truth_probabilities(truth, case_ids, outcome)
    if p_true is None or len(np.unique(y)) < 2:
        return {}
    auc = float(skm.roc_auc_score(y, p_true))
    prefix = "" if outcome == "risk" else f"{outcome}_"
    return {f"{prefix}ceiling_roc_auc": auc, f"{prefix}share_of_ceiling": model_auc / auc}


def flag_by_group(y: np.ndarray, flag: np.ndarray, groups: pd.Series) -> list[dict[str, Any]]:
    """The real flag's figures per value of ``groups`` (relationship type): cases, positives,
    flag rate, precision and recall (None where undefined)."""
    rows = []
    values = groups.astype(object).where(groups.notna(), "not recorded").astype(str).to_numpy()
    for value in sorted(set(values)):
        m = values == value
        tp = int((flag[m] & (y[m] == 1)).sum())
        n_flag, pos = int(flag[m].sum()), int(y[m].sum())
        rows.append({"group": value, "cases": int(m.sum()), "positives": pos,
                     "flag_rate": float(n_flag / m.sum()), "precision": tp / n_flag if n_flag else None,
                     "recall": tp / pos if pos else None})
    return rows
