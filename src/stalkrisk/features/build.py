"""Build the registry's features for a caseload: cases + events -> one row per case.

Vectorised, with no per-case Python. Arrow encodes the text columns to small codes
once; polars attaches events to their case rows (a hash join on the case ids that
start each run of a case's events, so a file grouped by case joins ~1 key per case,
not per event); numpy does the rest in a few passes over flat arrays: ``bincount``
over ``case row x behaviour x window`` for the counts, a ``case row x UK day`` bitmap
for distinct days, ``ufunc.at`` for first and last events. The point-in-time rule is
``asof.py``'s. (Polars group-bys were tried for the aggregates and were 3-10x slower
than these passes on 2 cores.)

Every value of a case depends on that case's rows alone, so any split of the cases
(with their events) built separately and concatenated equals the whole: the
pipeline can run in chunks, processes or Spark partitions. Sums are of integers, so
results do not depend on event order and are deterministic to the last bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from stalkrisk.contract import (
    BEHAVIOURS,
    CHANNELS,
    FEARS,
    ONLINE_CHANNELS,
    OUTCOME_BEHAVIOURS,
    RELATIONSHIPS,
    STATUTORY_BEHAVIOURS,
)
from stalkrisk.features.asof import cutoff_utc, known_by_cutoff, local_day
from stalkrisk.features.registry import (
    ALL_TIME_COUNTS,
    FEATURES,
    WINDOWS,
    count_name,
    protected_features,
)

DAY_NS = 86_400 * 10**9
WEEK_NS = 7 * DAY_NS
TREND_WEEKS = 12
_NAT = np.iinfo(np.int64).min
_NONE = 255  # channel code of a missing or unrecognised channel

_B = {b: i for i, b in enumerate(BEHAVIOURS)}
_CH = {c: i for i, c in enumerate(CHANNELS)}
#: Age edges of the count buckets: age <= 7d, <= 30d, <= 90d, <= 365d, older.
_EDGES = np.array([d * DAY_NS for d in WINDOWS], dtype=np.int64)
_NW = len(WINDOWS) + 1


def build_features(
    cases: pd.DataFrame, events: pd.DataFrame, *, protected: Sequence[str] = ()
) -> pd.DataFrame:
    """Features of every case as of the end of its assessment day.

    ``cases`` and ``events`` are in the normalised form of ``stalkrisk.contract``.
    Returns ``case_id`` then every registry feature (float64) in registry order, one
    row per case in input order, then the ``protected`` attributes a config names.
    Events whose case id is not in ``cases`` are ignored.
    """
    specs = list(FEATURES) + list(protected_features(tuple(protected)))
    n = len(cases)
    out = _Matrix(n, [s.name for s in specs])
    cutoff = _ns(cutoff_utc(cases["assessment_date"]), "cutoff")
    _case_values(cases, out)
    _event_values(_known_events(cases["case_id"], cutoff, events), n, out)
    _protected_values(cases, tuple(protected), out)
    frame = pd.DataFrame(out.values, columns=out.names, copy=False)
    frame.insert(0, "case_id", pd.Series(cases["case_id"].to_numpy(), dtype="str"))
    return frame


class _Matrix:
    """The output, filled in place column by column (one float64 block, no copies)."""

    def __init__(self, n: int, names: list[str]) -> None:
        self.names = names
        self.values = np.empty((n, len(names)), order="F")  # every column gets written
        self._index = {name: j for j, name in enumerate(names)}

    def __setitem__(self, name: str, column: np.ndarray) -> None:
        self.values[:, self._index[name]] = column


# --- inputs ------------------------------------------------------------------------------


def _ns(series: pd.Series, what: str) -> np.ndarray:
    """A tz-aware timestamp column as int64 ns since the epoch in UTC (NaT -> int64 min)."""
    if not isinstance(series.dtype, pd.DatetimeTZDtype):
        raise TypeError(f"{what} must be datetime64[ns, UTC] (normalised form), got {series.dtype}")
    values = series.array
    return (values if values.unit == "ns" else values.as_unit("ns")).asi8


def _arrow(series: pd.Series) -> pa.Array | pa.ChunkedArray:
    return pa.array(series.astype("str"), from_pandas=True)


def _codes(series: pd.Series, categories: Sequence[str], missing: int) -> np.ndarray:
    """Position of each value in ``categories`` (uint8); ``missing`` when absent or null."""
    index = pc.index_in(_arrow(series), value_set=pa.array(list(categories)))
    return index.fill_null(missing).to_numpy().astype(np.uint8)


# --- case-level values -------------------------------------------------------------------


def _num(cases: pd.DataFrame, column: str) -> np.ndarray:
    """A numeric or boolean case column as float64, NaN where missing or absent."""
    if column not in cases:
        return np.full(len(cases), np.nan)
    return cases[column].astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)


def _onehot(codes: np.ndarray, k: int) -> np.ndarray:
    """1/0 for code == k, NaN where the value is missing (code 255)."""
    return np.where(codes == _NONE, np.nan, codes == k)


def _case_values(cases: pd.DataFrame, out: _Matrix) -> None:
    rel = np.full(len(cases), _NONE, dtype=np.uint8)
    if "relationship" in cases:  # unrecognised -> all 0 (254); missing -> all NaN (255)
        rel = _codes(cases["relationship"], RELATIONSHIPS, _NONE - 1)
        rel[cases["relationship"].isna().to_numpy()] = _NONE
    for k, category in enumerate(RELATIONSHIPS):
        out[f"rel_{category}"] = _onehot(rel, k)
    for column in ("suspect_prior_stalking", "suspect_prior_violence",
                   "suspect_prior_domestic_abuse", "suspect_substance_misuse",
                   "protective_order_in_force"):
        out[column] = _num(cases, column)
    out["sdash_substance_misuse"] = _num(cases, "suspect_substance_misuse")
    prior = _num(cases, "suspect_prior_stalking")
    out["sdash_prior_harassment"] = np.where(np.isnan(prior), np.nan, prior > 0)
    # ordinal: not_afraid 0, afraid 1, very_afraid 2; "unknown" and missing -> NaN
    fear = _codes(cases["victim_fear"], FEARS, _NONE) if "victim_fear" in cases \
        else np.full(len(cases), _NONE, dtype=np.uint8)
    level = np.where(fear < FEARS.index("unknown"), fear, np.nan)
    out["victim_fear"] = level
    out["sdash_fear"] = np.where(np.isnan(level), np.nan, level >= 1)


def _protected_values(cases: pd.DataFrame, protected: tuple[str, ...], out: _Matrix) -> None:
    for spec in protected_features(protected):
        attr = next(p for p in protected if spec.name == p or spec.name.startswith(p + "_"))
        if spec.name == attr:
            out[spec.name] = _num(cases, attr)
        elif attr in cases:
            column = cases[attr]
            out[spec.name] = np.where(column.isna(), np.nan, column == spec.name[len(attr) + 1:])
        else:
            out[spec.name] = np.full(len(cases), np.nan)


# --- events known by the cutoff ------------------------------------------------------------


@dataclass(frozen=True)
class _Known:
    """Known events, one entry per (case row, event): parallel numpy arrays."""

    row: np.ndarray  # int64 case row
    age: np.ndarray  # int64 ns, cutoff - event_time, > 0
    day: np.ndarray  # int16 UK days before the assessment day (used within 365 days only)
    behaviour: np.ndarray  # uint8 code into BEHAVIOURS (unrecognised -> "other")
    channel: np.ndarray  # uint8 code into CHANNELS, 255 when missing or unrecognised


def _event_rows(event_ids: pa.Array | pa.ChunkedArray, case_ids: pa.Array | pa.ChunkedArray
                ) -> tuple[np.ndarray | None, np.ndarray]:
    """(event position, case row) for every event whose case id names a row of cases;
    position None means every event, in order.

    Joins only the first event of each run of equal consecutive case ids and expands
    the matches back to the whole run: fast for files grouped by case, right for any.
    """
    m = len(event_ids)
    if m == 0 or len(case_ids) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    change = pc.not_equal(event_ids.slice(1), event_ids.slice(0, m - 1)).fill_null(True)
    heads = np.flatnonzero(np.concatenate([[True], change.to_numpy(zero_copy_only=False)]))
    lengths = np.diff(np.append(heads, m))
    runs = pl.DataFrame({"case_id": pl.from_arrow(pc.take(event_ids, pa.array(heads))),
                         "run": np.arange(len(heads), dtype=np.int64)})
    rows = pl.DataFrame({"case_id": pl.from_arrow(case_ids),
                         "row": np.arange(len(case_ids), dtype=np.int64)})
    pairs = runs.join(rows, on="case_id", how="inner").sort("run", maintain_order=True)
    run, row = pairs["run"].to_numpy(), pairs["row"].to_numpy()
    size = lengths[run]
    if len(run) == len(heads) and (len(run) < 2 or bool((np.diff(run) > 0).all())):
        return None, np.repeat(row, size)  # each event once, in order
    first = np.repeat(heads[run] - (np.cumsum(size) - size), size)
    return first + np.arange(size.sum(), dtype=np.int64), np.repeat(row, size)


def _take(values: np.ndarray, position: np.ndarray | None) -> np.ndarray:
    return values if position is None else values[position]


def _known_events(case_id: pd.Series, cutoff: np.ndarray, events: pd.DataFrame) -> _Known:
    position, row = _event_rows(_arrow(events["case_id"]), _arrow(case_id))
    time = _take(_ns(events["event_time"], "events.event_time"), position)
    cut = cutoff[row]
    recorded = None
    if "recorded_at" in events:
        recorded = _take(_ns(events["recorded_at"], "events.recorded_at"), position).view("M8[ns]")
    # as datetime64 the int64-min sentinel is NaT: never before the cutoff, and "missing"
    keep = known_by_cutoff(time.view("M8[ns]"), recorded, cut.view("M8[ns]"))
    # days before the assessment day (the cutoff's last instant is on the assessment day)
    assessment_day = local_day(np.where(cutoff == _NAT, 0, cutoff - 1))
    first = int(np.argmax(keep)) if len(keep) else 0
    filler = time[first] if len(keep) and keep[first] else 0  # keeps the day table short
    day = (assessment_day[row] - local_day(np.where(keep, time, filler))).astype(np.int16)[keep]
    age = (cut - time)[keep]
    row = row[keep]
    del cut, time
    behaviour = _take(_codes(events["behaviour"], BEHAVIOURS, _B["other"]), position)[keep]
    channel = (_take(_codes(events["channel"], CHANNELS, _NONE), position)[keep]
               if "channel" in events else np.full(len(row), _NONE, dtype=np.uint8))
    return _Known(row=row, age=age, day=day, behaviour=behaviour, channel=channel)


# --- event-derived values --------------------------------------------------------------------


def _lut(codes: Sequence[int]) -> np.ndarray:
    """A 256-entry lookup table: True at ``codes`` (membership of uint8 codes, fast)."""
    table = np.zeros(256, dtype=bool)
    table[list(codes)] = True
    return table


def _bucket(age: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Index of the first edge >= age (len(edges) when older than every edge)."""
    out = np.zeros(len(age), dtype=np.int64)
    for edge in edges:
        out += age > edge
    return out


def _event_values(ev: _Known, n: int, out: _Matrix) -> None:
    row, age, b, ch = ev.row, ev.age, ev.behaviour, ev.channel
    n30, n90, n_all = _counts(ev, n, out)

    def rows_with(mask: np.ndarray) -> np.ndarray:
        return np.bincount(row[mask], minlength=n)

    recent = age <= 90 * DAY_NS
    known = recent & _lut(_CH[c] for c in CHANNELS if c != "unknown")[ch]
    seen = np.bincount(row[known] * len(CHANNELS) + ch[known], minlength=n * len(CHANNELS))
    out["distinct_channels_90d"] = (seen.reshape(n, len(CHANNELS)) > 0).sum(axis=1)
    online = _lut(_CH[c] for c in ONLINE_CHANNELS)[ch] | _lut(
        (_B["monitoring_online"], _B["publishing"]))[b]
    out["online_share_90d"] = _share(rows_with(recent & online), n90)
    del recent, known, online

    # weekly trend: the least-squares slope of y_k on x_k = 11 - k (week k = ages in
    # (7k, 7k+7] days) is sum((x - 5.5) y) / 143 = sum over events of (11 - 2k) / 286.
    in12 = age <= TREND_WEEKS * WEEK_NS
    k = (age[in12] - 1) // WEEK_NS
    x = np.arange(TREND_WEEKS)
    sxx = float(((x - x.mean()) ** 2).sum())
    out["weekly_trend_12w"] = np.bincount(row[in12], weights=TREND_WEEKS - 1 - 2 * k,
                                          minlength=n) / (2 * sxx)
    out["change_30d_vs_prior_60d"] = n30 - (n90 - n30) / 2
    del in12, k
    _first_last(ev, n, out)
    _distinct_days(ev, n, out)
    out["sdash_visits_over_3_a_week"] = _visits(row, age, ch, n)
    out["sdash_third_party_contact"] = rows_with(ch == _CH["third_party"]) > 0


def _counts(ev: _Known, n: int, out: _Matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count features and those derived from counts; returns events in 30, 90 days, all."""
    # counts[row, behaviour, k]: events with age <= 7, 30, 90, 365 days (k = 0..3), all (4)
    counts = np.bincount((ev.row * len(BEHAVIOURS) + ev.behaviour) * _NW + _bucket(ev.age, _EDGES),
                         minlength=n * len(BEHAVIOURS) * _NW).reshape(n, len(BEHAVIOURS), _NW)
    np.cumsum(counts, axis=2, out=counts)
    per = {beh: counts[:, _B[beh]] for beh in STATUTORY_BEHAVIOURS + OUTCOME_BEHAVIOURS}
    per["events"] = counts.sum(axis=1)
    for beh, c in per.items():
        for k, days in enumerate(WINDOWS):
            out[count_name(beh, days)] = c[:, k]
        if beh in ALL_TIME_COUNTS:
            out[count_name(beh, None)] = c[:, -1]
    n30, n90, n_all = (per["events"][:, k].astype(np.float64) for k in (1, 2, -1))
    tv = per["threat"] + per["violence"]
    out["threat_shift_30d"] = _share(tv[:, 1], n30) - _share(tv[:, -1] - tv[:, 1], n_all - n30)
    out["sdash_property_interference"] = per["property_interference"][:, -1] > 0
    out["sdash_loitering"] = per["loitering"][:, -1] > 0
    out["sdash_threats"] = per["threat"][:, -1] > 0
    out["sdash_violence"] = per["violence"][:, -1] > 0
    statutory = sum(per[s][:, -1] for s in STATUTORY_BEHAVIOURS)
    out["course_of_conduct"] = statutory >= 2
    return n30, n90, n_all


#: Bytes of the per-case day bitmap: 365 x 24 h never spans more than 367 UK days.
_SPAN_BYTES = 46


def _distinct_days(ev: _Known, n: int, out: _Matrix) -> None:
    """Distinct UK days with an event in the last 30, 90 and 365 days.

    One pass sets bit ``day`` of bitmap ``band`` of the event's case row (band 0: <= 30
    days old, 1: <= 90, 2: <= 365; older events go to a sink byte). OR-ing the bands
    cumulatively gives each window's days; their bit counts are the features."""
    band = _bucket(ev.age, _EDGES[1:4])  # 3 = older than 365 days
    day = ev.day.astype(np.int64)
    byte = (ev.row * 3 + np.minimum(band, 2)) * _SPAN_BYTES + (day >> 3)
    byte[band == 3] = n * 3 * _SPAN_BYTES  # the sink
    bit = np.left_shift(1, day & 7).astype(np.uint8)
    del day, band
    seen = np.zeros(n * 3 * _SPAN_BYTES + 1, dtype=np.uint8)
    np.bitwise_or.at(seen, byte, bit)
    planes = seen[:-1].reshape(n, 3, _SPAN_BYTES)
    planes[:, 1] |= planes[:, 0]
    planes[:, 2] |= planes[:, 1]
    for j, days in enumerate((30, 90, 365)):
        # an event at most N x 24 h old is at most N + 1 UK days before the assessment day
        used = planes[:, j, :(days + 2 + 7) // 8]
        out[f"distinct_days_{days}d"] = np.bitwise_count(used).sum(axis=1, dtype=np.int32)


def _first_last(ev: _Known, n: int, out: _Matrix) -> None:
    """Days from the latest / earliest event (and first threat, violence, breach) to the
    cutoff; NaN when there is none."""
    def extreme(ufunc: np.ufunc, start: int, mask: np.ndarray | None = None) -> np.ndarray:
        acc = np.full(n, start, dtype=np.int64)
        ufunc.at(acc, ev.row if mask is None else ev.row[mask],
                 ev.age if mask is None else ev.age[mask])
        return np.where(acc == start, np.nan, acc / DAY_NS)

    never = np.iinfo(np.int64).max
    out["days_since_last_event"] = extreme(np.minimum, never)
    out["history_length_days"] = extreme(np.maximum, -1)
    for o in OUTCOME_BEHAVIOURS:
        out[f"days_since_first_{o}"] = extreme(np.maximum, -1, ev.behaviour == _B[o])


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """part / whole, 0 where whole is 0."""
    return np.divide(part, whole, out=np.zeros(len(whole)), where=whole > 0)


def _visits(row: np.ndarray, age: np.ndarray, ch: np.ndarray, n: int) -> np.ndarray:
    """True where four in-person events of the last 90 days span less than 7 days."""
    mask = (ch == _CH["in_person"]) & (age <= 90 * DAY_NS)
    r, a = row[mask], age[mask]
    by_age = np.argsort(a, kind="stable")
    order = by_age[np.argsort(r[by_age], kind="stable")]
    r, a = r[order], a[order]
    hit = (r[3:] == r[:-3]) & (a[3:] - a[:-3] < WEEK_NS)
    out = np.zeros(n, dtype=bool)
    out[r[3:][hit]] = True
    return out
