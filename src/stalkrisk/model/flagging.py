"""The flag follows the law's shape (design.md).

``consider_spo`` needs acts associated with stalking on at least two occasions
(the course-of-conduct test, section 2A(3) behaviours known by the assessment
date) AND a calibrated score at or above the threshold the training run chose.
The tool says "consider", with reasons; the necessity test stays human.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a type only: flagging reads the threshold and bands the model carries
    from stalkrisk.model.risk_model import RiskModel


def course_of_conduct(features: pd.DataFrame) -> np.ndarray:
    """At least two occasions of the section 2A(3) behaviours, from the feature table."""
    return features["course_of_conduct"].to_numpy(dtype=np.float64) >= 1.0


def consider_spo(score: np.ndarray, conduct: np.ndarray, threshold: float) -> np.ndarray:
    return (np.asarray(score) >= threshold) & np.asarray(conduct, dtype=bool)


def flag_frame(model: RiskModel, score: np.ndarray, features: pd.DataFrame) -> pd.DataFrame:
    """``risk_band``, ``course_of_conduct`` and ``consider_spo`` for scored cases."""
    conduct = course_of_conduct(features)
    return pd.DataFrame(
        {
            "risk_band": model.risk_band(score),
            "course_of_conduct": conduct,
            "consider_spo": consider_spo(score, conduct, model.threshold),
        }
    )
