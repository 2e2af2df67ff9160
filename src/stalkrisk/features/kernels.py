"""The numba kernel behind ``build.py``: one pass over each case's events.

:func:`summarise_cases` walks the cases in order and, for each, the runs of events that
belong to it (events grouped by case are one run per case). It applies the
point-in-time rule of ``asof.py``, then gathers everything the event features need
into per-case integers: counts by behaviour and age window (written straight into the
feature matrix), distinct UK days and channels, the least-squares numerator of the
weekly trend, the oldest and newest ages, and two flags. ``build.py`` turns the rest
into the registry's features with a few numpy lines.

Everything is an integer, so the result does not depend on the order of a case's
events; per-case state is small and reset per case, and no array as long as the
events is allocated. Compiled with ``cache=True``: later processes load the machine
code from ``__pycache__``.

Times are int64 nanoseconds since the epoch in UTC, with ``NAT`` (int64 min) for a
missing time, as ``pandas`` stores them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

NAT = np.iinfo(np.int64).min
DAY_NS = 86_400 * 10**9
WEEK_NS = 7 * DAY_NS
#: Bits of a case's day bitmaps: an event at most N x 24 h before the cutoff is on one
#: of the UK days 0..N + 1 before the assessment day (N = 365: 367 days).
DAY_BITS = 6 * 64
_NEVER = _MAX_AGE = np.iinfo(np.int64).max


class CaseEvents(NamedTuple):
    """The events, by case row: row ``r`` owns the runs ``case_runs[r]:case_runs[r + 1]``,
    and run ``j`` is the ``run_length[j]`` events from ``run_start[j]`` on."""

    case_runs: np.ndarray  # int64 (n + 1,)
    run_start: np.ndarray  # int64 (runs,)
    run_length: np.ndarray  # int64 (runs,)
    time: np.ndarray  # int64 ns (m,)
    recorded: np.ndarray | None  # int64 ns (m,), or None when events have no recording time
    behaviour: np.ndarray  # uint8 codes (m,), each < ``Rules.n_behaviours``
    channel: np.ndarray  # uint8 codes (m,)
    target: np.ndarray  # uint8 codes (m,) of events.target (contract v2); 255 when not given


class Rules(NamedTuple):
    """What the kernel gathers: age limits (int64 ns) and the meaning of the codes."""

    edges: np.ndarray  # ascending age limits of the count windows
    day_edges: np.ndarray  # ascending age limits of the distinct-day windows
    recent: int  # the age limit of the channel, online and visit aggregates
    trend_weeks: int  # the weekly trend's span
    n_behaviours: int
    slot_of: np.ndarray  # int64 (256,): behaviour code -> slot of its oldest age, or -1
    online_behaviour: np.ndarray  # bool (256,): behaviour codes that are online
    online_channel: np.ndarray  # bool (256,): channel codes that are online
    named_channel: np.ndarray  # bool (256,): channel codes that name a (known) channel
    visit_channel: int  # the channel code of a visit in person
    third_party_channel: int
    act_behaviour: np.ndarray  # bool (256,): behaviours that are acts associated with stalking
    third_party_target: int  # the target code of an event aimed at a third party


class CaseSummary(NamedTuple):
    """Per-case aggregates of the known events (arrays over case rows, last axis)."""

    totals: np.ndarray  # int64 (behaviours + 1, n): events by behaviour code; the last row: all
    distinct_days: np.ndarray  # int64 (len(day_edges), n): distinct UK days within each
    distinct_channels: np.ndarray  # int64 (n,): named channels within ``recent``
    online: np.ndarray  # int64 (n,): online events (channel or behaviour) within ``recent``
    trend: np.ndarray  # int64 (n,): sum over events within ``trend_weeks`` of 2 x (x - mean x)
    newest: np.ndarray  # int64 (n,): smallest age, int64 max when there is none
    oldest: np.ndarray  # int64 (n,): largest age, -1 when there is none
    oldest_of: np.ndarray  # int64 (slots, n): largest age per ``slot_of`` behaviour, or -1
    visits: np.ndarray  # bool (n,): 4 visits within ``recent`` spanning < 7 days
    third_party: np.ndarray  # bool (n,): an event through the third-party channel or aimed at one
    occasions: np.ndarray  # int64 (n,): distinct UK days with an act, counted up to 2 (0, 1, 2+)
    act_days: np.ndarray  # int64 (len(day_edges), n): distinct UK days with an act within each
    proxy_days: np.ndarray  # int64 (len(day_edges), n): the same for acts through third parties


def summarise_cases(events: CaseEvents, cutoff: np.ndarray, midnights: np.ndarray,
                    first_day: int, rules: Rules, out: np.ndarray, count_columns: np.ndarray
                    ) -> CaseSummary:
    """Aggregate the events each case knew of by its ``cutoff`` (int64 ns per case row).

    An event's age is ``cutoff - time`` (a ValueError if that overflows int64 ns: an
    event some 292 years before its cutoff). ``midnights[i]`` is the UTC instant of UK
    midnight starting day ``first_day + i`` (days since 1970-01-01); it must cover the
    UTC days from the longest distinct-day window before the earliest cutoff to the
    latest cutoff's last instant, with a day to spare after.

    The windowed counts go straight into the feature matrix ``out``, in one pass:
    ``out[r, count_columns[b, k]]`` receives the number of events of behaviour code ``b``
    (row ``n_behaviours``: every behaviour) at most ``edges[k]`` old (``k = len(edges)``:
    any age), wherever that column is not -1.
    """
    if len(rules.day_edges) and rules.day_edges[-1] > (DAY_BITS - 2) * DAY_NS:
        raise ValueError(f"distinct-day windows are limited to {DAY_BITS - 2} days")
    has_recorded = events.recorded is not None
    recorded = events.recorded if has_recorded else np.empty(0, dtype=np.int64)
    return CaseSummary(*_summarise(
        events.case_runs, events.run_start, events.run_length, events.time, recorded,
        has_recorded, events.behaviour, events.channel, events.target, cutoff, midnights, first_day,
        *rules, out, count_columns))


@njit(cache=True)
def _known(t: int, recorded: int, cutoff: int) -> bool:
    """``asof.known_by_cutoff`` on int64 ns: it happened before the cutoff, and was
    recorded before it or its recording time is missing (NaT is before nothing)."""
    return (t != NAT and cutoff != NAT and t < cutoff
            and (recorded == NAT or recorded < cutoff))


@njit(cache=True)
def _local_day(t: int, midnights: np.ndarray, first_day: int) -> int:
    """``asof.local_day`` of one instant: its UTC day, moved by the UK midnights around it."""
    utc_day = t // DAY_NS
    i = utc_day - first_day
    return utc_day - 1 + (t >= midnights[i]) + (t >= midnights[i + 1])


@njit(cache=True)
def _utc_local_day(t: int) -> int:
    """The UK day of an instant older than the midnights table covers (over a year before the
    cutoff): the UK offset is 0 or +1 h, so the day is the UTC day of ``t`` or of ``t + 1 h``;
    BST runs from late March to late October, when the clock is ahead. Used only to tell two
    old acts' days apart, where the table has no entry; exact by the EU/UK rule: BST from 01:00
    UTC on the last Sunday of March to 01:00 UTC on the last Sunday of October."""
    utc_day = t // DAY_NS
    # civil date of utc_day (days since 1970-01-01), Howard Hinnant's algorithm
    z = utc_day + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    year = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = mp + 3 if mp < 10 else mp - 9
    if month <= 2:
        year += 1
    start = _last_sunday(year, 3) * DAY_NS + 3_600 * 10**9
    end = _last_sunday(year, 10) * DAY_NS + 3_600 * 10**9
    offset = 3_600 * 10**9 if start <= t < end else 0
    return (t + offset) // DAY_NS


@njit(cache=True)
def _days_from_civil(year: int, month: int, day: int) -> int:
    y = year - 1 if month <= 2 else year
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    mp = month - 3 if month > 2 else month + 9
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@njit(cache=True)
def _last_sunday(year: int, month: int) -> int:
    """Days since 1970-01-01 of the last Sunday of ``month`` (March or October: 31 days)."""
    last = _days_from_civil(year, month, 31)
    weekday = (last + 4) % 7  # 1970-01-01 was a Thursday (4); Sunday is 0
    return last - weekday


@njit(cache=True)
def _window(age: int, edges: np.ndarray) -> int:
    """Index of the first edge >= age (len(edges) when older than every edge)."""
    k = 0
    for edge in edges:
        k += age > edge
    return k


@njit(cache=True)
def _bit_count(x: np.uint64) -> int:
    """Set bits of ``x`` (LLVM turns this loop into a popcount instruction)."""
    n = 0
    while x:
        x &= x - np.uint64(1)
        n += 1
    return n


@njit(cache=True)
def _write_counts(window_counts: np.ndarray, count_columns: np.ndarray, out: np.ndarray,
                  totals: np.ndarray, r: int) -> None:
    """Case ``r``'s counts from its events by (behaviour, window band): cumulative over
    the bands into ``out`` where ``count_columns`` says, all-time into ``totals``. The
    last row of ``window_counts`` (every behaviour) is filled in here."""
    n_behaviours = window_counts.shape[0] - 1
    for k in range(window_counts.shape[1]):
        window_counts[n_behaviours, k] = 0
        for b in range(n_behaviours):
            window_counts[n_behaviours, k] += window_counts[b, k]
    for b in range(n_behaviours + 1):
        total = 0
        for k in range(window_counts.shape[1]):
            total += window_counts[b, k]
            if count_columns[b, k] >= 0:
                out[r, count_columns[b, k]] = total
        totals[b, r] = total


@njit(cache=True)
def _count_days(days_seen: np.ndarray, distinct_days: np.ndarray, r: int) -> None:
    """Case ``r``'s distinct days per window: the days of its band and every newer one
    (``days_seen[w]``: a bitmap of the days of the events in band ``w``)."""
    for w in range(days_seen.shape[0]):
        days = 0
        for word in range(days_seen.shape[1]):
            if w > 0:
                days_seen[w, word] |= days_seen[w - 1, word]
            days += _bit_count(days_seen[w, word])
        distinct_days[w, r] = days


@njit(cache=True)
def _four_within_a_week(ages: np.ndarray) -> bool:
    """True when four of ``ages`` (ns) span less than 7 days."""
    if ages.size < 4:
        return False
    ages = np.sort(ages)
    for i in range(ages.size - 3):
        if ages[i + 3] - ages[i] < WEEK_NS:
            return True
    return False


@njit(cache=True)
def _summarise(
    case_runs: np.ndarray, run_start: np.ndarray, run_length: np.ndarray, time: np.ndarray,
    recorded: np.ndarray, has_recorded: bool, behaviour: np.ndarray, channel: np.ndarray,
    target: np.ndarray, cutoff: np.ndarray, midnights: np.ndarray, first_day: int,
    # the fields of Rules, in order
    edges: np.ndarray, day_edges: np.ndarray, recent: int, trend_weeks: int, n_behaviours: int,
    slot_of: np.ndarray, online_behaviour: np.ndarray, online_channel: np.ndarray,
    named_channel: np.ndarray, visit_channel: int, third_party_channel: int,
    act_behaviour: np.ndarray, third_party_target: int,
    out: np.ndarray, count_columns: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """:func:`summarise_cases` on plain arrays: the fields of :class:`CaseSummary`."""
    n = cutoff.size
    n_windows, n_day_windows, n_day_words = edges.size + 1, day_edges.size, DAY_BITS // 64
    n_slots = max(0, slot_of.max() + 1)
    slot_or_sink = slot_of.copy()  # behaviours not kept go to a sink slot
    for b in range(slot_of.size):
        if slot_of[b] < 0:
            slot_or_sink[b] = n_slots
    trend_span = trend_weeks * WEEK_NS
    # every element of every result is written below, case by case
    totals = np.empty((n_behaviours + 1, n), dtype=np.int64)
    distinct_days = np.empty((n_day_windows, n), dtype=np.int64)
    distinct_channels = np.empty(n, dtype=np.int64)
    online = np.empty(n, dtype=np.int64)
    trend = np.empty(n, dtype=np.int64)
    newest = np.empty(n, dtype=np.int64)
    oldest = np.empty(n, dtype=np.int64)
    oldest_of = np.empty((n_slots, n), dtype=np.int64)
    visits = np.empty(n, dtype=np.bool_)
    third_party = np.empty(n, dtype=np.bool_)
    occasions = np.empty(n, dtype=np.int64)
    act_days = np.empty((n_day_windows, n), dtype=np.int64)
    proxy_days = np.empty((n_day_windows, n), dtype=np.int64)

    longest = 0  # the most events of one case: the size of the visits buffer
    for r in range(n):
        size = 0
        for j in range(case_runs[r], case_runs[r + 1]):
            size += run_length[j]
        longest = max(longest, size)
    # per-case state, reset for each case
    visit_ages = np.empty(longest + 1, dtype=np.int64)
    window_counts = np.empty((n_behaviours + 1, n_windows), dtype=np.int64)
    days_seen = np.empty((n_day_windows, n_day_words), dtype=np.uint64)  # bands of days
    act_seen = np.empty((n_day_windows, n_day_words), dtype=np.uint64)  # the days of acts
    proxy_seen = np.empty((n_day_windows, n_day_words), dtype=np.uint64)  # of acts by proxy
    oldest_slot = np.empty(n_slots + 1, dtype=np.int64)

    for r in range(n):
        window_counts.fill(0)
        days_seen.fill(0)
        act_seen.fill(0)
        proxy_seen.fill(0)
        oldest_slot.fill(-1)
        first_act_day, n_occasions = NAT, 0  # occasions: distinct UK days with an act, up to 2
        channels_seen = np.uint64(0)
        n_visits = n_online = trend_sum = 0
        newest_age, oldest_age = _NEVER, -1
        third = False
        cut = cutoff[r]
        # (nothing is known before a missing cutoff: _known is False for every event)
        assessment_day = _local_day(cut - 1, midnights, first_day) if cut != NAT else 0
        for j in range(case_runs[r], case_runs[r + 1]):
            for e in range(run_start[j], run_start[j] + run_length[j]):
                t = time[e]
                if not _known(t, recorded[e] if has_recorded else NAT, cut):
                    continue
                if cut > 0 and t < cut - _MAX_AGE:  # (not age < 0: LLVM assumes no overflow)
                    raise ValueError("an event over 292 years before its cutoff: age overflows")
                age = cut - t
                b, c = behaviour[e], channel[e]
                window_counts[b, _window(age, edges)] += 1
                newest_age = min(newest_age, age)
                oldest_age = max(oldest_age, age)
                slot = slot_or_sink[b]
                oldest_slot[slot] = max(oldest_slot[slot], age)
                by_proxy = (c == third_party_channel) | (target[e] == third_party_target)
                third |= by_proxy
                is_act = act_behaviour[b] | by_proxy
                # branch-free: these hold for a minority of events, unpredictably
                is_recent = age <= recent
                channels_seen |= np.uint64(is_recent & named_channel[c]) << np.uint64(c & 63)
                n_online += is_recent & (online_channel[c] | online_behaviour[b])
                visit_ages[n_visits] = age
                n_visits += is_recent & (c == visit_channel)
                # week w = ages in (7w, 7w + 7] days, x = weeks - 1 - w: 2 (x - mean x)
                in_trend = age <= trend_span
                trend_sum += in_trend * (trend_weeks - 1 - 2 * ((age - 1) // WEEK_NS))
                band = _window(age, day_edges)
                act_day = NAT
                if band < n_day_windows:  # then 0 <= day < DAY_BITS
                    act_day = _local_day(t, midnights, first_day)
                    day = assessment_day - act_day
                    bit = np.uint64(1) << np.uint64(day & 63)
                    days_seen[band, day >> 6] |= bit
                    if is_act:
                        act_seen[band, day >> 6] |= bit
                        if by_proxy:
                            proxy_seen[band, day >> 6] |= bit
                if is_act and n_occasions < 2:  # (older acts too: a day is found only while needed)
                    if act_day == NAT:
                        act_day = _utc_local_day(t)
                    if n_occasions == 0:
                        first_act_day, n_occasions = act_day, 1
                    elif act_day != first_act_day:
                        n_occasions = 2

        _write_counts(window_counts, count_columns, out, totals, r)
        _count_days(days_seen, distinct_days, r)
        _count_days(act_seen, act_days, r)
        _count_days(proxy_seen, proxy_days, r)
        occasions[r] = n_occasions
        distinct_channels[r] = _bit_count(channels_seen)
        online[r] = n_online
        trend[r] = trend_sum
        newest[r] = newest_age
        oldest[r] = oldest_age
        for slot in range(n_slots):
            oldest_of[slot, r] = oldest_slot[slot]
        visits[r] = _four_within_a_week(visit_ages[:n_visits])
        third_party[r] = third
    return (totals, distinct_days, distinct_channels, online, trend, newest, oldest, oldest_of,
            visits, third_party, occasions, act_days, proxy_days)
