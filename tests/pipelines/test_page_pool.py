"""One page pool for both engines: which cases may get a review page, and which the cap keeps.

``PageQueue`` (single machine) and the Spark driver both call ``review.page_pool`` and
``review.best_pages``; these hand-worked cases fix what they return.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from stalkrisk.pipelines.review import best_pages, page_pool


def _assembled() -> pd.DataFrame:
    """An assembled scores table: C2 not scored (yet queued by mistake must not page), C4 in no queue."""
    return pd.DataFrame({
        "case_id": ["C1", "C2", "C3", "C4", "C5"],
        "status": ["scored", "not_scored", "scored", "scored", "scored"],
        "score": [0.4, np.nan, 0.9, 0.95, 0.4],
        "consider_spo": pd.array([False, pd.NA, True, False, False], dtype="boolean"),
        "queue": ["review", "review", "consider_spo", "", "review"],
    })


def test_the_pool_is_the_scored_queued_cases_or_every_scored_case():
    scores = _assembled()
    assert page_pool(scores, only_flagged=True).tolist() == [0, 2, 4]
    assert page_pool(scores, only_flagged=False).tolist() == [0, 2, 3, 4]


def test_a_scoring_result_without_status_pools_by_queue_alone():
    result = _assembled().drop(columns="status").drop(index=1).reset_index(drop=True)
    assert page_pool(result, only_flagged=True).tolist() == [0, 1, 3]
    assert page_pool(result, only_flagged=False).tolist() == [0, 1, 2, 3]


def test_best_pages_are_the_highest_scores_and_ties_go_to_the_earlier_case():
    value = np.array([0.4, 0.9, 0.4, 0.95, 0.4])
    seq = np.array([10, 11, 3, 12, 7])  # positions in the input: the 0.4s came as 3, 7, 10
    assert best_pages(value, seq, 4).tolist() == [3, 1, 2, 4]
    assert best_pages(value, seq, None).tolist() == [3, 1, 2, 4, 0]
    assert best_pages(value, seq, 0).tolist() == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([0.1, 0.5, 0.7]), min_size=1, max_size=30), st.integers(0, 10),
       st.integers(1, 5))
def test_picking_part_by_part_keeps_what_picking_once_keeps(values, cap, part):
    """The single-machine queue keeps each part's best then merges: the same pick as all at once
    (what the Spark driver does over the whole run)."""
    value = np.array(values)
    seq = np.arange(len(value))
    once = best_pages(value, seq, cap).tolist()
    kept = np.empty(0, dtype=np.int64)
    for start in range(0, len(value), part):
        chunk = np.arange(start, min(start + part, len(value)))
        both = np.concatenate([kept, chunk[best_pages(value[chunk], seq[chunk], cap)]])
        kept = both[best_pages(value[both], seq[both], cap)]
    assert kept.tolist() == once
