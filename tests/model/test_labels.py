"""Labels: golden cases worked out by hand, including the UK clock at the window edges."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stalkrisk.features.asof import cutoff_utc
from stalkrisk.model.labels import column_labels, horizon_end_utc, make_labels, outcome_labels


def _cases(*rows):
    return pd.DataFrame(
        {"case_id": [r[0] for r in rows], "assessment_date": pd.to_datetime([r[1] for r in rows])}
    )


def _events(*rows):
    return pd.DataFrame(
        {
            "case_id": [r[0] for r in rows],
            "event_time": pd.to_datetime([r[1] for r in rows], utc=True),
            "behaviour": [r[2] for r in rows],
        }
    )


def test_outcome_window_golden():
    # Assessment 2024-07-01 (BST): the window is [2024-07-01 23:00 UTC, 2024-09-29 23:00 UTC).
    cases = _cases(("A", "2024-07-01"), ("B", "2024-07-01"), ("C", "2024-07-01"), ("D", "2024-07-01"))
    events = _events(
        ("A", "2024-07-01T22:30:00Z", "threat"),     # 23:30 BST on the assessment day: before the window
        ("B", "2024-07-01T23:30:00Z", "violence"),   # 00:30 BST the next day: inside
        ("C", "2024-09-29T22:59:00Z", "order_breach"),  # last minute of day 90: inside
        ("D", "2024-09-29T23:00:00Z", "threat"),     # first minute after day 90: outside
        ("D", "2024-08-01T12:00:00Z", "contacting"),  # not an outcome behaviour
        (None, "2024-07-02T12:00:00Z", "threat"),     # no case id: labels no case
        ("Q", "2024-07-02T12:00:00Z", "violence"),   # a case not in the caseload: labels no case
        ("Z", "2025-06-01T00:00:00Z", "other"),      # latest event: nobody censored
    )
    labels = outcome_labels(cases, events, horizon_days=90)
    assert labels["case_id"].tolist() == ["A", "B", "C", "D"]
    assert labels["label"].tolist() == [0, 1, 1, 0]
    assert not labels["censored"].any()


def test_censored_when_horizon_runs_past_latest_event():
    cases = _cases(("A", "2024-01-10"), ("B", "2024-06-01"))
    events = _events(("A", "2024-05-01T00:00:00Z", "contacting"))  # latest event in the data
    labels = outcome_labels(cases, events, horizon_days=90)
    # A's window ends 2024-04-10: judged. B's ends 2024-08-30, after the latest event: censored.
    assert labels["censored"].tolist() == [False, True]


def test_horizon_and_behaviours_from_config():
    cases = _cases(("A", "2024-01-10"))
    events = _events(("A", "2024-01-20T12:00:00Z", "following"), ("X", "2025-01-01T00:00:00Z", "other"))
    assert make_labels(cases, events, {"horizon_days": 5, "behaviours": ["following"]})["label"].tolist() == [0]
    assert make_labels(cases, events, {"horizon_days": 30, "behaviours": ["following"]})["label"].tolist() == [1]
    assert make_labels(cases, events, {"horizon_days": 30})["label"].tolist() == [0]


def test_column_labels_missing_are_censored():
    cases = pd.DataFrame({"case_id": ["A", "B", "C"], "label": pd.array([True, None, False], dtype="boolean")})
    labels = column_labels(cases)
    assert labels["label"].tolist() == [1, 0, 0]
    assert labels["censored"].tolist() == [False, True, False]


def _slow_outcome_labels(cases, events, horizon_days, behaviours):
    """The oracle: one case at a time, straight from the rule in the module docstring."""
    latest = events["event_time"].max()
    rows = []
    for case_id, date in zip(cases["case_id"], cases["assessment_date"]):
        start = cutoff_utc(pd.Series([date]))[0]
        end = horizon_end_utc(pd.Series([date]), horizon_days)[0]
        own = events[(events["case_id"] == case_id) & events["behaviour"].isin(behaviours)]
        hit = bool(((own["event_time"] >= start) & (own["event_time"] < end)).any())
        rows.append((case_id, int(hit), bool(pd.notna(end) and end > latest)))
    return pd.DataFrame(rows, columns=["case_id", "label", "censored"]).astype({"label": np.int8})


@pytest.mark.parametrize("seed", range(5))
def test_outcome_labels_match_the_per_case_oracle(seed):
    # Dates around both clock changes, a missing date, and events naming no case.
    rng = np.random.default_rng(seed)
    n = 40
    dates = pd.Series(pd.to_datetime("2024-02-15") + pd.to_timedelta(rng.integers(0, 420, n), unit="D"))
    dates[rng.integers(0, n)] = pd.NaT
    cases = pd.DataFrame({"case_id": [f"C{i:02d}" for i in range(n)], "assessment_date": dates})
    m = 600
    events = pd.DataFrame(
        {
            "case_id": [f"C{i:02d}" for i in rng.integers(0, n + 5, m)],
            "event_time": pd.Timestamp("2024-02-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 400 * 24 * 60, m), unit="min"),
            "behaviour": rng.choice(["threat", "violence", "order_breach", "contacting"], m),
        }
    )
    events.loc[rng.integers(0, m, 20), "behaviour"] = None
    behaviours = ("threat", "order_breach")
    got = outcome_labels(cases, events, horizon_days=30, behaviours=behaviours)
    pd.testing.assert_frame_equal(got, _slow_outcome_labels(cases, events, 30, behaviours))
    assert 0 < got["label"].sum() < n and got["censored"].any()
    # behaviour coded as the readers give it (categories in any order, missing as code -1)
    coded = events.assign(behaviour=pd.Categorical(events["behaviour"], categories=["violence", "contacting",
                                                                                     "order_breach", "threat"]))
    pd.testing.assert_frame_equal(outcome_labels(cases, coded, horizon_days=30, behaviours=behaviours), got)


def test_outcome_labels_refuse_duplicate_case_ids():
    cases = _cases(("A", "2024-07-01"), ("A", "2024-08-01"))
    events = _events(("A", "2024-07-05T12:00:00Z", "threat"))
    with pytest.raises(ValueError, match="unique case ids"):
        outcome_labels(cases, events)
