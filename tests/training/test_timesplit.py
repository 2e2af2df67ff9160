"""The out-of-time split keeps a gap of the label horizon between slices; rolling origins step
back from the registered test period. Golden cases worked by hand, a property, and the labels."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from stalkrisk.model.labels import outcome_labels
from stalkrisk.training.timesplit import (
    GAP,
    Origin,
    day_numbers,
    origin_slices,
    rolling_origins,
    split_by_date,
)

FRACTIONS = {"train": 0.6, "valid": 0.2, "test": 0.2}


def _days(n: int, start: str = "2024-01-01") -> pd.Series:
    return pd.Series(pd.date_range(start, periods=n, freq="D"))


def test_golden_split_of_twenty_days_with_a_three_day_gap():
    # 20 dates, one a day, Jan 1..20 (positions 0..19). np.quantile's linear rule:
    #   train share 0.6 -> position 11.4, between Jan 12 and Jan 13: the validation period opens Jan 13;
    #   0.8 -> position 15.2, between Jan 16 and Jan 17: the test period opens Jan 17.
    # A 3-day gap: train d + 3 < Jan 13 -> Jan 1..9; Jan 10..12 gap; valid d + 3 < Jan 17 -> Jan 13;
    # Jan 14..16 gap; test Jan 17..20.
    slices = split_by_date(_days(20), FRACTIONS, gap_days=3).tolist()
    assert slices == ["train"] * 9 + [GAP] * 3 + ["valid"] + [GAP] * 3 + ["test"] * 4


def test_no_gap_is_the_plain_cut_on_whole_dates():
    # Without a gap: train Jan 1..12, valid Jan 13..16, test Jan 17..20.
    slices = split_by_date(_days(20), FRACTIONS).tolist()
    assert slices == ["train"] * 12 + ["valid"] * 4 + ["test"] * 4
    # several cases on one date never straddle two slices
    dates = pd.concat([_days(20), _days(20)]).reset_index(drop=True)
    both = split_by_date(dates, FRACTIONS, gap_days=2)
    assert (both[:20] == both[20:]).all()


@settings(max_examples=60, deadline=None)
@given(
    offsets=st.lists(st.integers(0, 400), min_size=5, max_size=120),
    gap=st.integers(0, 60),
    train=st.floats(0.3, 0.7),
)
def test_every_slice_ends_a_gap_before_the_next_begins(offsets, gap, train):
    dates = pd.Series(pd.Timestamp("2023-01-01") + pd.to_timedelta(offsets, unit="D"))
    slices = split_by_date(dates, {"train": train, "valid": (1 - train) / 2, "test": (1 - train) / 2}, gap)
    days = day_numbers(dates)
    for earlier, later in (("train", "valid"), ("valid", "test"), ("train", "test")):
        a, b = days[slices == earlier], days[slices == later]
        if len(a) and len(b):
            assert a.max() + gap < b.min(), (earlier, later)
    assert set(slices) <= {"train", "valid", "test", GAP}


def test_no_training_label_reads_an_event_of_the_validation_period():
    # Cases a day apart, each with an outcome (a threat) on the last day of its 5-day horizon.
    dates = _days(40)
    cases = pd.DataFrame({"case_id": [f"c{i}" for i in range(40)], "assessment_date": dates})
    last_day = (dates + pd.Timedelta(days=5) + pd.Timedelta(hours=12)).dt.tz_localize("Europe/London").dt.tz_convert("UTC")
    events = pd.DataFrame({"case_id": cases["case_id"], "event_time": last_day, "behaviour": "threat"})
    events = pd.concat([events, pd.DataFrame({"case_id": ["c0"], "behaviour": ["other"],
                                              "event_time": [pd.Timestamp("2024-12-31", tz="UTC")]})])
    labels = outcome_labels(cases, events, horizon_days=5)
    assert labels["label"].all()  # each label reads the event on its horizon's last day
    for gap, leaks in ((5, False), (0, True)):
        slices = split_by_date(dates, FRACTIONS, gap_days=gap)
        valid_from = dates[slices == "valid"].min()
        read_by_train = events.iloc[:40]["event_time"][slices == "train"].max()
        assert (read_by_train >= valid_from.tz_localize("Europe/London")) is leaks


def test_rolling_origins_step_back_from_the_registered_test_period():
    days = day_numbers(_days(100))  # day numbers of 2024-01-01 .. 2024-04-09
    first = int(days.min())
    origins = rolling_origins(days, test_from=first + 80, origins=3)
    # windows of the test period's length (20 days), ending where the next begins
    assert origins == [Origin(first + 40, first + 60), Origin(first + 60, first + 80), Origin(first + 80, first + 100)]
    assert origins[-1].dates == ("2024-03-21", "2024-04-09")
    assert rolling_origins(days, first + 80, 1) == [Origin(first + 80, first + 100)]
    # windows that would open before the data are dropped
    assert len(rolling_origins(days, first + 80, 10, window_days=30)) == 3


def test_an_origin_trains_only_on_labels_closed_before_its_test_window():
    days = day_numbers(_days(100))
    first = int(days.min())
    slices = origin_slices(days, Origin(first + 60, first + 80), FRACTIONS, gap_days=5)
    # before the window minus the gap: days 0..54; valid opens after the 0.75 quantile of them
    # (position 40.5 -> day 41); train d + 5 < 41 -> 0..35; gap 36..40; valid 41..54; gap 55..59;
    # test 60..79; the days after the window are left out.
    expected = ["train"] * 36 + [GAP] * 5 + ["valid"] * 14 + [GAP] * 5 + ["test"] * 20 + [GAP] * 20
    assert slices.tolist() == expected
