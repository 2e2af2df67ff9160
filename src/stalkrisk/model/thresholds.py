"""Where the flag's threshold sits: at a reviewing capacity or a target recall.

Part of the model (training sets it from the validation slice and it travels with the model), so
it lives here; ``evaluate`` reads the same functions for its metrics.
"""

from __future__ import annotations

import math

import numpy as np


def labelled_scores(y, p) -> tuple[np.ndarray, np.ndarray]:
    y_arr = np.asarray(y, dtype=float)
    p_arr = np.asarray(p, dtype=float)
    if y_arr.shape != p_arr.shape or y_arr.ndim != 1:
        raise ValueError(f"y and p must be 1-d of equal length, got {y_arr.shape} and {p_arr.shape}")
    if not np.isin(y_arr, (0.0, 1.0)).all():
        raise ValueError("y must hold only 0 and 1 (no missing labels)")
    if not np.isfinite(p_arr).all():
        raise ValueError("scores must be finite")
    return y_arr.astype(np.int8), p_arr


def n_reviewed(n: int, share: float) -> int:
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be in [0, 1], got {share}")
    return int(math.floor(share * n + 1e-9))


def threshold_for_capacity(p, share: float) -> float:
    """The lowest observed score ``t`` with ``mean(p >= t) <= share``.

    Flagging at ``p >= t`` then never exceeds the capacity. When even the top score is
    tied across more cases than fit, returns a value just above the maximum (no flag).
    """
    p_arr = np.asarray(p, dtype=float)
    if p_arr.ndim != 1 or len(p_arr) == 0:
        raise ValueError("p must be a non-empty 1-d array")
    k = n_reviewed(len(p_arr), share)
    values, counts = np.unique(p_arr, return_counts=True)
    flagged_from = np.cumsum(counts[::-1])[::-1]  # how many p >= values[i]
    fits = np.nonzero(flagged_from <= k)[0]
    if len(fits) == 0:
        return float(np.nextafter(values[-1], np.inf))
    return float(values[fits[0]])


def threshold_for_recall(y, p, target: float) -> float:
    """The highest observed score ``t`` whose flag ``p >= t`` reaches recall >= ``target``."""
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target recall must be in (0, 1], got {target}")
    y_arr, p_arr = labelled_scores(y, p)
    positives = int(y_arr.sum())
    if positives == 0:
        raise ValueError("no positive cases: recall is undefined")
    order = np.argsort(-p_arr, kind="stable")
    values, first = np.unique(-p_arr[order], return_index=True)  # descending scores
    cum_pos = np.cumsum(y_arr[order])
    last = np.append(first[1:], len(p_arr)) - 1  # last position of each tied run
    reached = np.nonzero(cum_pos[last] >= target * positives - 1e-9)[0]
    return float(-values[reached[0]])


def choose_threshold(y_valid: np.ndarray, p_valid: np.ndarray, policy: str, setting: float) -> float:
    """The flag threshold by the policy (``config.flag_setting``), chosen on the validation slice."""
    if policy == "capacity":
        return float(threshold_for_capacity(p_valid, setting))
    if policy == "recall":
        return float(threshold_for_recall(y_valid, p_valid, setting))
    return float(setting)
