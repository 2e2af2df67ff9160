"""The flag follows the law's shape (design.md), and the queue hides no one.

``course_of_conduct`` is the policy proxy for "repeated": acts associated with stalking on at
least two occasions (distinct UK calendar days) up to the end of the assessment day, computed
by the feature builder (``features.build``). It is not the offence test: the statutory guidance
says the criminal threshold need not be met for an order.

``consider_spo`` is ``queue == "consider_spo"``: the score at or above the threshold the
training run chose, a course of conduct, and no SPO or interim SPO in force. Every other case
a reviewer must see is in the ``review`` queue with its reason (``model.queue``). The tool says
"consider", with reasons; the necessity test stays human.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from stalkrisk.model.queue import QueuePolicy, assign_queue

if TYPE_CHECKING:  # a type only: flagging reads the threshold and bands the model carries
    from stalkrisk.model.risk_model import RiskModel


def course_of_conduct(features: pd.DataFrame) -> np.ndarray:
    """Acts associated with stalking on at least two occasions, from the feature table."""
    return features["course_of_conduct"].to_numpy(dtype=np.float64) >= 1.0


def flag_frame(model: RiskModel, score: np.ndarray, features: pd.DataFrame,
               facts: pd.DataFrame | None = None, policy: QueuePolicy | None = None) -> pd.DataFrame:
    """``risk_band``, ``course_of_conduct``, ``consider_spo``, ``queue`` and ``queue_reason``.

    ``facts`` adds what the queue reads beyond the features (the builder's act facts, the
    orders in force, the case's own columns), one row per case in the order of ``features``.
    """
    conduct = course_of_conduct(features)
    known = features if facts is None else pd.concat(
        [features.reset_index(drop=True), facts.reset_index(drop=True)], axis=1)
    queue = assign_queue(score, model.threshold, known, policy)
    return pd.DataFrame(
        {
            "risk_band": model.risk_band(score),
            "course_of_conduct": conduct,
            "consider_spo": (queue["queue"] == "consider_spo").to_numpy(),
            "queue": queue["queue"].to_numpy(),
            "queue_reason": queue["queue_reason"].to_numpy(),
        }
    )
