"""Each suspect on one side of the split (issue 19): a suspect's cases in a later slice than its first
are left out (``SEEN``) and counted, in the registered split and at every rolling origin; proved by
hand, on a generated caseload and on hypothesis-built ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stalkrisk.training.timesplit import (
    GAP,
    SEEN,
    SLICES,
    day_numbers,
    keep_suspects_apart,
    origin_slices,
    rolling_origins,
    split_by_date,
)

FRACTIONS = {"train": 0.6, "valid": 0.2, "test": 0.2}


def sides_of_each_suspect(slices: np.ndarray, suspects) -> dict:
    frame = pd.DataFrame({"s": pd.Series(suspects, dtype=object), "slice": slices}).dropna(subset=["s"])
    frame = frame.loc[frame["slice"].isin(SLICES)]
    return frame.groupby("s")["slice"].agg(lambda x: set(x)).to_dict()


def test_a_suspect_seen_in_training_is_left_out_of_validation_and_test_and_counted():
    # 20 days, one case a day; the plain split with a 3-day gap is train Jan 1-9, valid Jan 13-13, test Jan 17-20
    dates = pd.Series(pd.date_range("2024-01-01", periods=20, freq="D"))
    suspects = [None] * 20
    suspects[0] = suspects[12] = suspects[19] = "S1"  # train, valid, test: kept in train only
    suspects[16] = suspects[18] = "S2"  # twice in test: both kept
    suspects[10] = suspects[17] = "S3"  # a gap case and a test case: the gap is no side, test kept
    plain = split_by_date(dates, FRACTIONS, gap_days=3)
    grouped = split_by_date(dates, FRACTIONS, gap_days=3, suspects=suspects)
    assert plain[[0, 12, 19, 10]].tolist() == ["train", "valid", "test", GAP]
    assert grouped[[0, 12, 19]].tolist() == ["train", SEEN, SEEN]
    assert grouped[[16, 18, 17, 10]].tolist() == ["test", "test", "test", GAP]
    changed = np.flatnonzero(plain != grouped)
    assert changed.tolist() == [12, 19] and (grouped == SEEN).sum() == 2


def test_no_suspect_on_both_sides_of_a_generated_caseload():
    from stalkrisk.synth import generate

    cases = generate(4000, seed=5).cases
    assert cases["suspect_id"].duplicated().sum() > 100  # the generator's serial suspects
    plain = split_by_date(cases["assessment_date"], FRACTIONS, gap_days=90)
    slices = split_by_date(cases["assessment_date"], FRACTIONS, gap_days=90, suspects=cases["suspect_id"])
    assert all(len(sides) == 1 for sides in sides_of_each_suspect(slices, cases["suspect_id"]).values())
    assert any(len(sides) > 1 for sides in sides_of_each_suspect(plain, cases["suspect_id"]).values())
    assert ((slices == SEEN) == (plain != slices)).all() and (slices == SEEN).sum() > 0
    days = day_numbers(cases["assessment_date"])
    test_from = int(days[slices == "test"].min())
    for origin in rolling_origins(days, test_from, 3):
        at = origin_slices(days, origin, FRACTIONS, 90, cases["suspect_id"])
        assert all(len(sides) == 1 for sides in sides_of_each_suspect(at, cases["suspect_id"]).values())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(st.integers(0, 200), st.one_of(st.none(), st.integers(0, 12))), min_size=1,
                     max_size=80),
       gap=st.integers(0, 40), train=st.floats(0.3, 0.7))
def test_no_suspect_on_both_sides_of_a_hypothesis_caseload(rows, gap, train):
    fractions = {"train": train, "valid": (1 - train) / 2, "test": (1 - train) / 2}
    day0 = np.datetime64("2024-01-01")
    dates = pd.Series([day0 + d for d, _ in rows]).astype("datetime64[ns]")
    suspects = [None if s is None else f"S{s}" for _, s in rows]
    plain = split_by_date(dates, fractions, gap)
    slices = split_by_date(dates, fractions, gap, suspects)
    assert all(len(sides) == 1 for sides in sides_of_each_suspect(slices, suspects).values())
    rank = {name: i for i, name in enumerate(SLICES)}
    for i, (s, was, now) in enumerate(zip(suspects, plain, slices)):
        earlier = s is not None and was in rank and any(
            t == s and plain[j] in rank and rank[plain[j]] < rank[was] for j, t in enumerate(suspects))
        assert now == (SEEN if earlier else was)  # left out exactly when seen earlier; never moved


def test_no_suspect_ids_changes_nothing():
    slices = np.array(["train", "gap", "valid", "test"], dtype=object)
    assert keep_suspects_apart(slices, None) is slices
    assert keep_suspects_apart(slices, [None] * 4).tolist() == slices.tolist()


def test_prepare_counts_the_cases_left_out_for_their_suspect():
    from stalkrisk.config import load_train_config
    from stalkrisk.synth import generate
    from stalkrisk.training.fit import prepare

    data = generate(3000, seed=8)
    prepared = prepare(data.cases, data.events, load_train_config(None))
    seen = int((prepared.slices == SEEN).sum())
    assert prepared.counts["suspect_seen_cases"] == seen > 0
    assert all(len(s) == 1 for s in sides_of_each_suspect(prepared.slices, prepared.suspects).values())
