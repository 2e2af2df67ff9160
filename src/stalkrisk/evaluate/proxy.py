"""Can the protected attributes be read back from the model's features? A proxy check.

A model that never sees ethnicity can still learn it from features that stand in for it; the AUC of
predicting each attribute from the features says how much of it they carry.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from threadpoolctl import threadpool_limits

from stalkrisk.evaluate.fairness import UNKNOWN


def _model_matrix(features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    columns, categorical = [], []
    for name in features.columns:
        col = features[name]
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            columns.append(pd.to_numeric(col, errors="coerce").astype("float64").to_numpy())
            categorical.append(False)
        elif pd.api.types.is_datetime64_any_dtype(col):
            continue
        else:
            codes = pd.Categorical(col.astype("str").where(col.notna())).codes.astype("float64")
            codes[codes < 0] = np.nan
            columns.append(codes)
            categorical.append(True)
    return np.column_stack(columns), np.array(categorical)


def proxy_auc(
    features: pd.DataFrame,
    attribute: pd.Series,
    *,
    cv: int = 3,
    seed: int = 0,
    max_rows: int = 10_000,
    exclude: tuple[str, ...] = (UNKNOWN,),
) -> dict[str, Any]:
    """Cross-validated ROC-AUC of predicting ``attribute`` from ``features``.

    Near 0.5: the features carry little of the attribute. Near 1: they encode it, and the
    model could discriminate through them. Multi-class attributes report the one-vs-rest
    macro AUC and each class's own AUC. Rows whose attribute is missing or in ``exclude``
    are left out, as are classes with fewer than ``cv`` rows; at most ``max_rows`` rows
    (a seeded random sample) are used, with a HistGradientBoosting classifier.
    """
    if len(features) != len(attribute):
        raise ValueError("features and attribute must have the same length")
    target = attribute.astype("str").where(attribute.notna(), UNKNOWN).to_numpy()
    keep = ~np.isin(target, exclude)
    classes, counts = np.unique(target[keep], return_counts=True)
    rare = classes[counts < cv].tolist()
    keep &= ~np.isin(target, rare)
    rows = np.flatnonzero(keep)
    rng = np.random.default_rng(seed)
    if len(rows) > max_rows:
        rows = np.sort(rng.choice(rows, size=max_rows, replace=False))
    result: dict[str, Any] = {
        "attribute": attribute.name,
        "auc": math.nan,
        "per_class": {},
        "n": int(len(rows)),
        "classes": [],
        "excluded_classes": sorted(set(exclude) | set(rare)),
        "cv": cv,
        "model": "HistGradientBoostingClassifier",
    }
    y = target[rows]
    classes = np.unique(y)
    if len(classes) < 2:
        return result
    X, categorical = _model_matrix(features.iloc[rows])
    model = HistGradientBoostingClassifier(
        max_iter=40,
        max_leaf_nodes=15,
        learning_rate=0.1,
        early_stopping=False,
        categorical_features=categorical if categorical.any() else None,
        random_state=seed,
    )
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
    # One OpenMP thread: on a busy 2-core machine more threads ran 20x slower, not faster.
    with threadpool_limits(limits=1, user_api="openmp"):
        proba = cross_val_predict(model, X, y, cv=folds, method="predict_proba")
    per_class = {str(c): float(roc_auc_score(y == c, proba[:, j])) for j, c in enumerate(classes)}
    if len(classes) == 2:
        auc = per_class[str(classes[1])]
    else:
        auc = float(roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes))
    result.update(auc=auc, per_class=per_class, classes=[str(c) for c in classes])
    return result
