"""Out-of-time slices with a gap of the label horizon, and the rolling origins over them.

A case's label reads the events of the ``horizon_days`` after its assessment day. A training
case assessed on day ``d`` therefore "sees" events up to the end of day ``d + horizon``; if
that reaches into the validation period, the model is fitted on outcomes from the period it
is then calibrated and judged on. So a slice keeps only the cases whose label window closes
before the next slice's period opens: with the next period starting on day ``S``, a case of
the slice before needs ``d + gap < S`` (``gap`` = the horizon). The cases in between are
left out of every slice (``GAP``), counted, never silently. As dssg/triage's timechop does,
the gap sits at the end of the earlier slice: each period starts where the quantiles put it.

All of this works on whole UK calendar days (``assessment_date`` is a date), so a date never
spans two slices.

A person stays on one side (``keep_suspects_apart``): a suspect's cases are kept in the earliest
slice they fall in, and the suspect's cases that fall in a later slice are left out (``SEEN``),
counted like the gap, never silently. Moving them back into the earlier slice instead would put
cases assessed in the validation or test period, with labels read from that period, into
training: the very leak the gap closes (docs/design-notes.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SLICES = ("train", "valid", "test")
GAP = "gap"
#: A case left out because its suspect already has cases in an earlier slice.
SEEN = "suspect_seen"


def day_numbers(dates: pd.Series | np.ndarray) -> np.ndarray:
    """Assessment dates as days since 1970-01-01 (int64)."""
    return pd.to_datetime(pd.Series(dates)).to_numpy().astype("datetime64[D]").astype(np.int64)


def _period_start(days: np.ndarray, share: float) -> int:
    """The first date after the ``share`` quantile of ``days``: where the next period opens.

    (The slice before holds the dates at or under the quantile, as the split always cut.)"""
    cut = np.quantile(days, share)
    later = days[days > cut]
    return int(later.min()) if len(later) else int(days.max()) + 1


def gapped_slices(days: np.ndarray, starts: list[int], names: tuple[str, ...], gap_days: int) -> np.ndarray:
    """Slice name per row: slice ``i`` holds ``starts[i] <= d < starts[i+1] - gap_days``
    (the first from the earliest date, the last to the latest); other rows are ``GAP``."""
    out = np.full(len(days), GAP, dtype=object)
    bounds = [np.iinfo(np.int64).min, *starts, np.iinfo(np.int64).max]
    for i, name in enumerate(names):
        lo, hi = bounds[i], bounds[i + 1]
        end = hi - gap_days if i < len(names) - 1 else hi
        out[(days >= lo) & (days < end)] = name
    return out


def keep_suspects_apart(slices: np.ndarray, suspects) -> np.ndarray:
    """``slices`` with each suspect on one side: a case whose suspect has a case in an earlier slice
    (train before valid before test) becomes ``SEEN``. Cases with no suspect id stand alone; gap
    cases stay gap (and do not count as a side). ``suspects=None``: unchanged."""
    if suspects is None or len(slices) == 0:
        return slices
    rank = pd.Series(slices).map({name: i for i, name in enumerate(SLICES)})  # NaN: gap (or seen)
    key = pd.Series(np.asarray(suspects, dtype=object))
    first = rank.groupby(key, dropna=True).transform("min")  # NaN where the suspect id is missing
    later = (rank > first).to_numpy(dtype=bool)
    out = slices.copy()
    out[later] = SEEN
    return out


def split_by_date(dates: pd.Series, fractions: dict[str, float], gap_days: int = 0,
                  suspects=None) -> np.ndarray:
    """Slice name per row (``train``, ``valid``, ``test`` or ``gap``), earliest dates first.

    The validation period opens on the first date after the ``train`` quantile of the dates,
    the test period on the first date after the ``train + valid`` quantile; each earlier
    slice stops ``gap_days`` before the next period opens (module docstring). ``gap_days=0``
    is the plain cut on whole dates. ``suspects`` (one id per row, or None): each suspect kept on
    one side (``keep_suspects_apart``).
    """
    days = day_numbers(dates)
    if len(days) == 0:
        return np.array([], dtype=object)
    valid_from = _period_start(days, fractions["train"])
    test_from = _period_start(days, fractions["train"] + fractions["valid"])
    return keep_suspects_apart(gapped_slices(days, [valid_from, test_from], SLICES, int(gap_days)), suspects)


@dataclass(frozen=True)
class Origin:
    """One rolling origin: its model is fitted on the dates before ``test_from`` (train and
    valid with their gaps) and tested on ``test_from <= d < test_to``."""

    test_from: int  # day number
    test_to: int  # day number, exclusive

    @property
    def dates(self) -> tuple[str, str]:
        """The test window as ISO dates (first and last day)."""
        day = lambda d: str(np.datetime64(int(d), "D"))  # noqa: E731
        return day(self.test_from), day(self.test_to - 1)


def rolling_origins(days: np.ndarray, test_from: int, origins: int, window_days: int | None = None) -> list[Origin]:
    """``origins`` test windows ending with the registered split's test period (the last origin,
    ``test_from`` to the latest date), each earlier one ``window_days`` long (default: the test
    period's length) and ending where the next begins: timechop's origins stepped back in time.
    Windows that would open before the earliest date are dropped."""
    last = int(days.max()) + 1
    window = int(window_days) if window_days else max(last - test_from, 1)
    out = [Origin(test_from, last)]
    for k in range(1, max(int(origins), 1)):
        start = test_from - k * window
        if start <= int(days.min()):
            break
        out.insert(0, Origin(start, start + window))
    return out


def origin_slices(days: np.ndarray, origin: Origin, fractions: dict[str, float], gap_days: int,
                  suspects=None) -> np.ndarray:
    """Slice name per row for one origin: the dates before its test window split into train and
    valid in the configured proportions (a gap after each), its window as test, the rest ``GAP``;
    each suspect on one side, as ``split_by_date`` keeps them."""
    before = days[days < origin.test_from - gap_days]
    out = np.full(len(days), GAP, dtype=object)
    if len(before) == 0:
        return out
    share = fractions["train"] / (fractions["train"] + fractions["valid"])
    valid_from = _period_start(before, share)
    inside = days < origin.test_to
    sliced = gapped_slices(days[inside], [valid_from, origin.test_from], SLICES, gap_days)
    out[inside] = sliced
    return keep_suspects_apart(out, suspects)
