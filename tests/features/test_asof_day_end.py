"""The scalar end of an assessment day is the vector rule's, across the clock changes."""

from __future__ import annotations

import pandas as pd

from stalkrisk.features.asof import cutoff_utc, day_end_utc


def test_the_scalar_day_end_is_cutoff_utc():
    days = pd.Series(["2024-01-15", "2024-03-30", "2024-03-31", "2024-07-01", "2024-10-26", "2024-10-27", "2025-12-31"])
    assert [day_end_utc(d) for d in days] == list(cutoff_utc(days))
    assert str(day_end_utc("2024-07-01")) == "2024-07-01 23:00:00+00:00"
