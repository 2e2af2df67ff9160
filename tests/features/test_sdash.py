"""The S-DASH baseline asks the form's eleven questions as the form asks them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from stalkrisk.features.registry import FEATURES_BY_NAME
from stalkrisk.features.sdash import ITEMS, answers, items_markdown, sdash_count

ROOT = Path(__file__).resolve().parents[2]


def test_the_form_has_eleven_questions_each_answered_by_registry_features_or_said_missing():
    assert [i.number for i in ITEMS] == list(range(1, 12))
    for item in ITEMS:
        assert all(name in FEATURES_BY_NAME for name in item.features), item
    assert [i.number for i in ITEMS if not i.features] == [7]


def test_hand_worked_counts():
    features = pd.DataFrame({
        "victim_fear": [2.0, 1.0, math.nan],  # very afraid counts; afraid does not; unknown is "no"
        "suspect_prior_stalking": [3.0, 0.0, math.nan],
        "sdash_property_interference": [1.0, 0.0, 0.0],
        "sdash_visits_over_3_a_week": [1.0, 0.0, 0.0],
        "sdash_loitering": [1.0, 1.0, 0.0],
        "sdash_threats": [1.0, 0.0, 0.0],
        "sdash_violence": [1.0, 0.0, 0.0],
        "sdash_third_party_contact": [1.0, 0.0, 0.0],
        "suspect_substance_misuse": [1.0, math.nan, 0.0],
        "suspect_prior_violence": [0.0, 2.0, math.nan],
        "suspect_prior_domestic_abuse": [1.0, 0.0, math.nan],
    })
    # case 0: q1-q6, q8-q11 = 10 (q7 is not in the data); case 1: q5 loitering, q11 prior violence = 2; case 2: 0
    np.testing.assert_array_equal(sdash_count(features), [10.0, 2.0, 0.0])
    assert answers(features).loc[1].tolist() == [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]


def test_the_guide_prints_the_table_of_questions():
    guide = (ROOT / "docs" / "data-scientist-guide.md").read_text(encoding="utf-8")
    assert items_markdown() in guide
