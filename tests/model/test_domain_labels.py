"""The risk-domain labels (persistence, harm, their union): golden cases by hand, and the fast
labels against a slow per-case oracle written straight from the rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from stalkrisk.config import DEFAULT_TRAIN_CONFIG
from stalkrisk.data.contract import ACT_BEHAVIOURS, BEHAVIOURS
from stalkrisk.features.asof import cutoff_utc
from stalkrisk.model.labels import (
    describe_label,
    domain_labels,
    horizon_end_utc,
    label_outcomes,
    make_labels,
)

OUTCOMES = DEFAULT_TRAIN_CONFIG["label"]["outcomes"]
#: The latest event of every golden caseload: far after every window, so no case is censored.
LATE = ("Z", "2026-01-01T00:00:00Z", "other")


def _cases(*rows):
    return pd.DataFrame({"case_id": [r[0] for r in rows], "assessment_date": pd.to_datetime([r[1] for r in rows])})


def _events(*rows):
    rows = (*rows, LATE)
    return pd.DataFrame({"case_id": [r[0] for r in rows],
                         "event_time": pd.to_datetime([r[1] for r in rows], utc=True),
                         "behaviour": [r[2] for r in rows],
                         "target": [r[3] if len(r) > 3 else "victim" for r in rows]})


def _labels(cases, events, horizon_days=90):
    return make_labels(cases, events, {"source": "events", "horizon_days": horizon_days, "outcomes": OUTCOMES})


def test_default_config_asks_for_persistence_and_harm():
    assert label_outcomes(DEFAULT_TRAIN_CONFIG["label"]) == ("risk", "persistence", "harm")
    assert label_outcomes({"source": "column"}) == ("risk",)
    assert label_outcomes({"behaviours": ["threat"]}) == ("risk",)
    text = describe_label(DEFAULT_TRAIN_CONFIG["label"])
    assert "acts associated with stalking on at least 2 distinct UK days" in text and "threat or violence" in text


def test_acts_on_one_day_are_not_persistent():
    # Assessed 2024-03-01 (GMT): the window is [2024-03-02 00:00 UTC, 2024-05-31 00:00 BST = 23:00 UTC).
    cases = _cases(("A", "2024-03-01"), ("B", "2024-03-01"))
    events = _events(
        ("A", "2024-03-05T08:00:00Z", "following"),
        ("A", "2024-03-05T12:00:00Z", "loitering"),
        ("A", "2024-03-05T23:59:00Z", "watching"),   # 23:59 GMT: still 5 March
        ("B", "2024-03-05T08:00:00Z", "following"),
        ("B", "2024-03-09T08:00:00Z", "contacting", "third_party"),  # any target counts
    )
    got = _labels(cases, events)
    assert got["label_persistence"].tolist() == [0, 1]
    assert got["label_harm"].tolist() == [0, 0]
    assert got["label"].tolist() == [0, 1]


def test_two_texts_a_minute_apart_across_uk_midnight_are_two_days():
    # Summer (BST): UK midnight of 10/11 July is 23:00 UTC on 10 July.
    cases = _cases(("S", "2024-07-01"), ("W", "2024-01-02"), ("U", "2024-07-01"))
    events = _events(
        ("S", "2024-07-10T22:59:30Z", "contacting"),  # 23:59:30 BST, 10 July
        ("S", "2024-07-10T23:00:30Z", "contacting"),  # 00:00:30 BST, 11 July: another UK day
        ("W", "2024-01-10T23:59:30Z", "contacting"),  # winter: UK time is UTC
        ("W", "2024-01-11T00:00:30Z", "contacting"),
        ("U", "2024-07-10T23:00:30Z", "contacting"),  # the same UTC day as the next, two UTC minutes
        ("U", "2024-07-10T23:59:00Z", "contacting"),  # ... but one UK day (11 July): not persistent
    )
    assert _labels(cases, events)["label_persistence"].tolist() == [1, 1, 0]


def test_window_edges_at_the_clock_change():
    # Assessed 2024-03-30 (GMT); the window starts 2024-03-31 00:00 GMT; clocks go forward at 01:00 UTC.
    # Day 90 is 2024-06-28 (BST): the window ends at 2024-06-28 23:00 UTC.
    cases = _cases(("E", "2024-03-30"), ("F", "2024-03-30"), ("H", "2024-03-30"))
    events = _events(
        ("E", "2024-03-30T23:59:00Z", "following"),   # the assessment day: before the window
        ("E", "2024-03-31T00:30:00Z", "following"),   # inside, 31 March
        ("F", "2024-03-31T00:30:00Z", "following"),   # inside, 31 March (00:30 GMT)
        ("F", "2024-03-31T23:30:00Z", "following"),   # 00:30 BST on 1 April: a second day
        ("H", "2024-06-28T22:59:00Z", "threat"),      # last minute of day 90: harm
        ("H", "2024-06-28T23:00:00Z", "violence"),    # after the window
        ("H", "2024-06-28T23:30:00Z", "following"),
    )
    got = _labels(cases, events)
    assert got["label_persistence"].tolist() == [0, 1, 0]
    assert got["label_harm"].tolist() == [0, 0, 1]
    assert got["label"].tolist() == [0, 1, 1]
    assert not got["censored"].any()


def test_harm_is_threat_or_violence_and_a_breach_alone_is_not():
    cases = _cases(("T", "2024-05-01"), ("V", "2024-05-01"), ("B", "2024-05-01"), ("O", "2024-05-01"))
    events = _events(
        ("T", "2024-05-20T12:00:00Z", "threat"),
        ("V", "2024-05-21T12:00:00Z", "violence", "third_party"),
        ("B", "2024-05-21T12:00:00Z", "order_breach"),
        ("O", "2024-05-21T12:00:00Z", "other"),
        ("O", "2024-05-22T12:00:00Z", "other"),   # not an act: never persistence
    )
    got = _labels(cases, events)
    assert got["label_harm"].tolist() == [1, 1, 0, 0]
    assert got["label_persistence"].tolist() == [0, 0, 0, 0]


def test_censoring_as_before():
    cases = _cases(("A", "2024-01-10"), ("B", "2024-06-01"))
    events = pd.DataFrame({"case_id": ["A"], "event_time": pd.to_datetime(["2024-05-01T00:00:00Z"], utc=True),
                           "behaviour": ["contacting"]})
    assert _labels(cases, events)["censored"].tolist() == [False, True]


def _slow(cases, events, horizon_days, outcomes):
    """The oracle: one case and one domain at a time, each event's UK date read by pandas."""
    latest = events["event_time"].max()
    rows = []
    for case_id, date in zip(cases["case_id"], cases["assessment_date"]):
        start = cutoff_utc(pd.Series([date]))[0]
        end = horizon_end_utc(pd.Series([date]), horizon_days)[0]
        own = events[(events["case_id"] == case_id)]
        own = own[(own["event_time"] >= start) & (own["event_time"] < end)]
        row = {"case_id": case_id}
        for name, spec in outcomes.items():
            wanted = ACT_BEHAVIOURS if spec["behaviours"] == "acts" else spec["behaviours"]
            hits = own[own["behaviour"].isin(wanted)]
            uk_days = {t.tz_convert("Europe/London").date() for t in hits["event_time"]}
            row[f"label_{name}"] = int(len(uk_days) >= spec["min_days"])
        row["label"] = int(any(row[f"label_{n}"] for n in outcomes))
        row["censored"] = bool(pd.isna(latest) or (pd.notna(end) and end > latest))  # no events: none judged
        rows.append(row)
    frame = pd.DataFrame(rows)[["case_id", "label", *(f"label_{n}" for n in outcomes), "censored"]]
    return frame.astype({c: np.int8 for c in frame.columns if c.startswith("label")})


@settings(max_examples=60, deadline=None)
@given(
    dates=st.lists(st.integers(0, 400), min_size=1, max_size=8),
    events=st.lists(st.tuples(st.integers(0, 9), st.integers(0, 420 * 24 * 4), st.sampled_from(BEHAVIOURS)),
                    max_size=60),
    horizon=st.sampled_from([1, 7, 30]),
    min_days=st.integers(1, 3),
)
def test_domain_labels_match_the_slow_oracle(dates, events, horizon, min_days):
    # Assessment days from 2024-01-01 across both clock changes; events every 15 minutes of 420 days.
    cases = pd.DataFrame({"case_id": [f"C{i}" for i in range(len(dates))],
                          "assessment_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(dates, unit="D")})
    frame = pd.DataFrame({"case_id": [f"C{c}" for c, _, _ in events],  # C8, C9: may name no case
                          "event_time": pd.Timestamp("2024-01-01", tz="UTC")
                          + pd.to_timedelta([m * 15 for _, m, _ in events], unit="min"),
                          "behaviour": [b for _, _, b in events]})
    outcomes = {"persistence": {"behaviours": "acts", "min_days": min_days},
                "harm": {"behaviours": ["threat", "violence"], "min_days": 1}}
    got = domain_labels(cases, frame, horizon_days=horizon, outcomes=outcomes)
    pd.testing.assert_frame_equal(got, _slow(cases, frame, horizon, outcomes))
