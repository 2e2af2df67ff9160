"""The point-in-time rule: what was known about a case at the end of its assessment day.

A feature may use an event only if it happened, and was recorded, before the case's
cutoff: UK local midnight at the start of the day after ``assessment_date``, in UTC.
Using anything later would leak the outcome into the features (and flatter the model).

The rule lives here as three small named functions. They are written once and work
unchanged on pandas Series, polars expressions and plain ``datetime`` values, so the
fast builder, the slow test oracle and the benchmark's reference all apply the very
same rule.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from stalkrisk.data.contract import LOCAL_TZ

T = TypeVar("T")


def day_end_utc(assessment_date) -> pd.Timestamp:
    """``cutoff_utc`` of one date, for a page that draws one case: the vector form's per-call
    overhead is too much to pay once per page."""
    day = pd.Timestamp(assessment_date).normalize()
    return (day + pd.Timedelta(days=1)).tz_localize(LOCAL_TZ).tz_convert("UTC")


def cutoff_utc(assessment_date: pd.Series) -> pd.Series:
    """End of each assessment day in UK local time, as ``datetime64[ns, UTC]``.

    The end of day ``d`` is local midnight at the start of ``d + 1`` (Europe/London):
    2024-07-01 (BST) -> 2024-07-01 23:00 UTC; 2024-01-15 (GMT) -> 2024-01-16 00:00 UTC.
    A missing date gives NaT, before which nothing is known.
    """
    days = pd.to_datetime(assessment_date).astype("datetime64[ns]").dt.normalize()
    # Few distinct dates repeat across many cases: localise each date once. Local
    # midnight is never ambiguous or missing in the UK (clocks change at 01:00 UTC).
    codes, unique = pd.factorize(days)
    ends = (pd.DatetimeIndex(unique).astype("datetime64[ns]") + pd.Timedelta(days=1))
    ends = ends.tz_localize(LOCAL_TZ).tz_convert("UTC").astype("datetime64[ns, UTC]")
    out = pd.Series(pd.NaT, index=assessment_date.index, dtype="datetime64[ns, UTC]",
                    name="cutoff")
    known = codes >= 0
    out[known] = ends[codes[known]]
    return out


def _is_missing(value: Any) -> Any:
    if hasattr(value, "is_null"):  # polars Expr or Series
        return value.is_null()
    if hasattr(value, "isna"):  # pandas Series or Index
        return value.isna()
    if isinstance(value, np.ndarray):
        return np.isnat(value)
    return value is None or value is pd.NaT or value != value


def known_by_cutoff(event_time: T, recorded_at: Any, cutoff: Any) -> T:
    """True where an event may shape the features: it happened before the cutoff,
    and was recorded before it (or its recording time is missing).

    ``recorded_at=None`` means the events carry no recording time at all.
    """
    happened = event_time < cutoff
    if recorded_at is None:
        return happened
    return happened & (_is_missing(recorded_at) | (recorded_at < cutoff))


def window_start(cutoff: T, days: int) -> T:
    """Start of the trailing ``days``-day window that ends at ``cutoff`` (24-hour days)."""
    return cutoff - timedelta(days=days)


def in_window(event_time: T, cutoff: Any, days: int) -> T:
    """True where ``cutoff - days <= event_time < cutoff``: the last ``days`` days."""
    return (event_time >= window_start(cutoff, days)) & (event_time < cutoff)


def local_day(utc_ns: np.ndarray) -> np.ndarray:
    """UK calendar day (days since 1970-01-01) of instants given as int64 ns since the epoch.

    Exact and fast: a day's local midnights are found once per calendar day in the data's
    range (with the same localisation as ``cutoff_utc``), and each instant is placed
    between the local midnights that follow its UTC day and the day before.
    """
    utc_ns = np.asarray(utc_ns, dtype=np.int64)
    if utc_ns.size == 0:
        return np.empty(0, dtype=np.int64)
    day_ns = 86_400 * 10**9
    utc_day = utc_ns // day_ns
    first, last = int(utc_day.min()), int(utc_day.max())
    dates = pd.date_range(pd.Timestamp(first - 1, unit="D"), pd.Timestamp(last + 2, unit="D"),
                          freq="D", unit="ns")
    midnight = dates.tz_localize(LOCAL_TZ).tz_convert("UTC").asi8  # local midnight of each date
    i = utc_day - (first - 1)  # midnight[i] starts local date utc_day; the offset is within ±24h
    return utc_day - 1 + (utc_ns >= midnight[i]) + (utc_ns >= midnight[i + 1])
