"""Has the caseload moved away from the one the model learned from?

At training time ``reference_profile`` summarises each feature (bins, proportions,
missing rate) in a small JSON-serialisable dict stored with the model. At scoring or
audit time ``compare`` bins the new features the same way and reports the population
stability index (PSI) and the change in missing rate per feature, so a force sees when
recording practice or the caseload has shifted and the scores may no longer hold.

Bins (numeric, boolean as 0/1): cut points ``c_1 < ... < c_k`` are the distinct values
of the reference when it has at most ``bins`` of them (counts, flags, constants: one bin
per value), otherwise the deduplicated quantiles at 1/bins, 2/bins, ..., 1 (taken from
the data, ``inverted_cdf``). Bin 0 is ``x <= c_1``, bin i is ``c_i < x <= c_{i+1}``
and a last bin ``x > c_k`` catches values above anything seen (empty in the reference),
so a constant column that starts to vary does drift. Text columns get one bin per
reference category plus one for unseen values. Missing values are left out of the bins
and reported as the missing rate.

PSI = sum over bins of (new - ref) * ln(new / ref), with each proportion floored at
``EPSILON`` = 1e-4 so that empty bins stay finite. Rule of thumb: < 0.1 stable,
0.1-0.2 some shift, > 0.2 drifted.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

EPSILON = 1e-4


def _is_numeric(col: pd.Series) -> bool:
    return bool(
        pd.api.types.is_bool_dtype(col)
        or pd.api.types.is_numeric_dtype(col)
        or pd.api.types.is_datetime64_any_dtype(col)
    )


def _numeric_values(col: pd.Series) -> np.ndarray:
    """Non-missing values as float64 (booleans 0/1, datetimes as nanoseconds)."""
    if pd.api.types.is_datetime64_any_dtype(col):
        col = col.dropna()
        return col.astype("int64").to_numpy(dtype="float64")
    values = pd.to_numeric(col, errors="coerce").astype("float64").to_numpy()
    return values[~np.isnan(values)]


def _cut_points(ordered: np.ndarray, bins: int) -> np.ndarray:
    """Cut points of values sorted ascending (``np.unique`` of them when few)."""
    distinct = ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if len(ordered) else ordered
    if len(distinct) <= bins:
        return distinct
    quantiles = np.quantile(ordered, np.arange(1, bins + 1) / bins, method="inverted_cdf")
    return np.unique(quantiles)


def _numeric_proportions(values: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    codes = np.searchsorted(cuts, values, side="left")
    counts = np.bincount(codes, minlength=len(cuts) + 1).astype(float)
    return counts / counts.sum() if counts.sum() else counts


def _sorted_proportions(ordered: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """``_numeric_proportions`` of values sorted ascending: the bin edges are looked up in the
    values, not every value in the edges (one sort per column, then ``len(cuts)`` searches)."""
    at_most = np.searchsorted(ordered, cuts, side="right")  # values <= each cut point
    counts = np.diff(np.r_[0, at_most, len(ordered)]).astype(float)
    return counts / counts.sum() if counts.sum() else counts


def _text_values(col: pd.Series) -> np.ndarray:
    return col[col.notna()].astype("str").to_numpy()


def _text_proportions(values: np.ndarray, categories: list[str]) -> np.ndarray:
    codes = pd.Categorical(values, categories=categories).codes.astype(np.int64)
    codes[codes < 0] = len(categories)
    counts = np.bincount(codes, minlength=len(categories) + 1).astype(float)
    return counts / counts.sum() if counts.sum() else counts


def reference_profile(features: pd.DataFrame, *, bins: int = 10) -> dict[str, Any]:
    """Per column: kind, bin cut points or categories, proportions, missing rate, n."""
    columns: dict[str, Any] = {}
    n = len(features)
    for name in features.columns:
        col = features[name]
        missing = float(col.isna().mean()) if n else 0.0
        if _is_numeric(col):
            values = np.sort(_numeric_values(col))  # one sort serves cut points and proportions
            cuts = _cut_points(values, bins) if len(values) else np.array([])
            props = _sorted_proportions(values, cuts)
            entry = {"kind": "numeric", "cuts": [float(c) for c in cuts]}
        else:
            values = _text_values(col)
            categories = sorted(set(values.tolist()))
            props = _text_proportions(values, categories)
            entry = {"kind": "categorical", "categories": categories}
        entry.update(
            proportions=[float(x) for x in props],
            missing_rate=missing,
            n=int(n),
            n_present=int(len(values)),
        )
        columns[str(name)] = entry
    return {"version": 1, "bins": bins, "epsilon": EPSILON, "n": int(n), "columns": columns}


def psi(expected, actual, epsilon: float = EPSILON) -> float:
    """Population stability index between two proportion vectors (floored at epsilon)."""
    e = np.maximum(np.asarray(expected, dtype=float), epsilon)
    a = np.maximum(np.asarray(actual, dtype=float), epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def compare(
    profile: dict[str, Any],
    features: pd.DataFrame,
    *,
    psi_threshold: float = 0.2,
    missing_threshold: float = 0.1,
) -> pd.DataFrame:
    """One row per profiled feature: PSI, missing rate then/now, and a drifted flag.

    ``drifted`` is PSI above ``psi_threshold``, a missing rate that moved by more than
    ``missing_threshold``, or a column that is no longer there. PSI is NaN when either
    side has no values.
    """
    rows = []
    epsilon = profile.get("epsilon", EPSILON)
    for name, ref in profile["columns"].items():
        row = {"feature": name, "psi": math.nan, "missing_ref": ref["missing_rate"],
               "missing_now": math.nan, "missing_change": math.nan, "n_ref": ref["n"],
               "n_now": len(features), "present": name in features}
        if name in features:
            col = features[name]
            missing_now = float(col.isna().mean()) if len(col) else math.nan
            if ref["kind"] == "numeric":
                values = _numeric_values(col) if _is_numeric(col) else _numeric_values(
                    pd.to_numeric(col, errors="coerce"))
                props = _numeric_proportions(values, np.asarray(ref["cuts"], dtype=float))
            else:
                values = _text_values(col)
                props = _text_proportions(values, ref["categories"])
            if len(values) and ref["n_present"]:
                row["psi"] = psi(ref["proportions"], props, epsilon)
            row.update(missing_now=missing_now, missing_change=missing_now - ref["missing_rate"])
        moved = abs(row["missing_change"]) > missing_threshold if row["present"] else True
        row["drifted"] = bool(moved or (not math.isnan(row["psi"]) and row["psi"] > psi_threshold))
        rows.append(row)
    columns = ["feature", "psi", "missing_ref", "missing_now", "missing_change", "n_ref", "n_now",
               "present", "drifted"]
    return pd.DataFrame(rows, columns=columns)
