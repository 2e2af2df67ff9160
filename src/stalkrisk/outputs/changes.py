"""What changed between two scoring runs of the same cases: ``changes.parquet`` (issue 19).

Pure: frames in, a frame out (the files are read and written by ``pipelines.changes``). Each
run's explanations add up exactly to the logit of its score (base value + contributions; Platt
calibration keeps that additivity), so the change in log-odds splits exactly into the change of
the base value plus, per reason group, the change of that group's total contribution:

    logit(score) - logit(previous_score) = base_value_change + sum of the group columns

A run of another model is compared the same way: a group its model lacks counts 0 there, so the
identity still holds (the base value then carries the change of model as well).

The ``change`` of a case, in this order (the first that applies):

1. ``newly_queued``: in no queue before, in a queue (``consider_spo`` or ``review``) now;
2. ``left_queue``: in a queue before, in none now;
3. ``raised``: the risk band rose, or it stayed and the score rose by at least ``TOLERANCE``;
4. ``lowered``: the band fell, or it stayed and the score fell by at least ``TOLERANCE``;
5. ``unchanged``: otherwise (a move from one queue to the other is not a change of kind).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stalkrisk.features.registry import FEATURES_BY_NAME, GROUPS
from stalkrisk.model.risk_model import BANDS
from stalkrisk.outputs.schema import CHANGE_KINDS, CHANGES_COLUMNS

#: A score move smaller than this (2 percentage points), within one band, is no change: a
#: re-screening should not send a reviewer to cases that moved by noise.
TOLERANCE = 0.02
#: The group of the features a model has outside the registry (protected attributes a config named).
PROTECTED = "protected"


def group_of(feature: str) -> str:
    """The registry's reason group of a feature (the one mapping; the long table's column is not read)."""
    spec = FEATURES_BY_NAME.get(feature)
    return spec.group if spec is not None else PROTECTED


def ordered_groups(groups) -> list[str]:
    """Group keys in the registry's order, unknown keys (protected) after them."""
    present = set(groups)
    return [g for g in GROUPS if g in present] + sorted(present - set(GROUPS))


def group_totals(contributions: pd.DataFrame) -> pd.DataFrame:
    """Per case (the index), each reason group's total contribution: ``base_value`` dropped.

    Summed feature by feature in column order (each column read without copying the frame), so
    the sums are exactly reproducible.
    """
    features = [c for c in contributions.columns if c != "base_value"]
    keys = ordered_groups(group_of(f) for f in features)
    pos = {k: i for i, k in enumerate(keys)}
    out = np.zeros((len(contributions), len(keys)))
    for feature in features:
        out[:, pos[group_of(feature)]] += contributions[feature].to_numpy(dtype=np.float64)
    return pd.DataFrame(out, columns=keys, index=contributions.index)


def _band_rank(bands: pd.Series) -> np.ndarray:
    rank = {b: i for i, b in enumerate(BANDS)}
    return bands.astype(str).map(rank).fillna(-1).to_numpy(dtype=np.int64)


def classify(previous_score: np.ndarray, score: np.ndarray, previous_band: pd.Series, band: pd.Series,
             previous_queue: pd.Series, queue: pd.Series, tolerance: float = TOLERANCE) -> np.ndarray:
    """The ``change`` of each case (see the module's docstring for the rule)."""
    before = previous_queue.fillna("").astype(str).ne("").to_numpy()
    now = queue.fillna("").astype(str).ne("").to_numpy()
    rank_before, rank_now = _band_rank(previous_band), _band_rank(band)
    moved = np.asarray(score, dtype=float) - np.asarray(previous_score, dtype=float)
    same_band = rank_now == rank_before
    up = (rank_now > rank_before) | (same_band & (moved >= tolerance))
    down = (rank_now < rank_before) | (same_band & (-moved >= tolerance))
    newly, left, raised, lowered, unchanged = CHANGE_KINDS
    return np.select([~before & now, before & ~now, up, down], [newly, left, raised, lowered],
                     default=unchanged).astype(object)


def compare(previous_scores: pd.DataFrame, previous_contributions: pd.DataFrame,
            scores: pd.DataFrame, contributions: pd.DataFrame) -> pd.DataFrame:
    """``changes.parquet``'s rows: every case scored in both runs, in the current run's order.

    ``*_scores``: the scored cases (``case_id``, ``score``, ``risk_band``, ``queue``);
    ``*_contributions``: ``base_value`` and one column per feature, indexed by ``case_id``
    (``outputs.reader.read_contributions``). A scored case without an explanation is an error:
    the run's folder is not what stalkrisk wrote.
    """
    prev_ids = pd.Index(previous_scores["case_id"].to_numpy(dtype=object))
    now_ids = scores["case_id"].to_numpy(dtype=object)
    at_prev = prev_ids.get_indexer(now_ids)  # hash look-ups on plain text: ids are unique per run
    keep = np.flatnonzero(at_prev >= 0)
    ids, at_prev = now_ids[keep], at_prev[keep]
    both, before = scores.iloc[keep].reset_index(drop=True), previous_scores.iloc[at_prev].reset_index(drop=True)
    parts = []
    for name, frame in (("previous", previous_contributions), ("current", contributions)):
        at = pd.Index(frame.index.to_numpy(dtype=object)).get_indexer(ids)
        if (at < 0).any():
            raise ValueError(f"the {name} run has no explanation for scored case {ids[np.argmax(at < 0)]!r}")
        parts.append((frame["base_value"].to_numpy(dtype=np.float64)[at], group_totals(frame), at))
    (old_base, old_groups, old_at), (new_base, new_groups, new_at) = parts
    keys = ordered_groups([*old_groups.columns, *new_groups.columns])
    old_groups = old_groups.reindex(columns=keys, fill_value=0.0).to_numpy()[old_at]
    new_groups = new_groups.reindex(columns=keys, fill_value=0.0).to_numpy()[new_at]
    out = pd.DataFrame({
        "case_id": ids.astype(str),
        "previous_score": before["score"].to_numpy(dtype=np.float64),
        "score": both["score"].to_numpy(dtype=np.float64),
    })
    out["change"] = classify(out["previous_score"].to_numpy(), out["score"].to_numpy(),
                             before["risk_band"], both["risk_band"], before["queue"], both["queue"])
    out["base_value_change"] = new_base - old_base
    deltas = new_groups - old_groups
    for k, key in enumerate(keys):
        out[key] = deltas[:, k]
    assert tuple(out.columns[: len(CHANGES_COLUMNS)]) == CHANGES_COLUMNS
    return out


def group_columns(changes: pd.DataFrame) -> list[str]:
    """The reason-group columns of a changes frame."""
    return [c for c in changes.columns if c not in CHANGES_COLUMNS]


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), the scale on which the explanations add up."""
    p = np.asarray(p, dtype=np.float64)
    return np.log(p) - np.log1p(-p)
