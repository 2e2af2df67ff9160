"""Build the registry's features for a caseload: cases + events -> one row per case.

No per-case Python. Arrow encodes the text columns to small codes once; polars
attaches events to their case rows (a hash join on the case ids that start each run
of a case's events, so a file grouped by case joins ~1 key per case, not per event); one numba pass over each case's runs of events (``kernels.py``)
applies the point-in-time rule of ``asof.py`` and gathers per-case integers (counts by
behaviour and window, distinct UK days and channels, oldest and newest ages); numpy
turns those into the registry's columns. (Polars group-bys were tried for the
aggregates and were 3-10x slower than flat numpy passes on 2 cores; the numba pass
replaced those, and is faster again: no array as long as the events is built.)

Every value of a case depends on that case's rows alone, so any split of the cases
(with their events) built separately and concatenated equals the whole: the
pipeline can run in chunks, processes or Spark partitions. The one exception is the
linking features (``linking``), which read the suspect's other cases: a chunk is given
them from a ``LinkTable`` built over the whole cases table (or over a partition that
holds all cases of its suspects). Sums are of integers, so
results do not depend on event order and are deterministic to the last bit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from stalkrisk.data import ids
from stalkrisk.data.contract import (
    by_category,
    ACT_BEHAVIOURS,
    BEHAVIOURS,
    CHANNELS,
    FEARS,
    ONLINE_CHANNELS,
    OUTCOME_BEHAVIOURS,
    RELATIONSHIPS,
    STATUTORY_BEHAVIOURS,
    TARGETS,
)
from stalkrisk.features.asof import cutoff_utc
from stalkrisk.features.kernels import CaseEvents, CaseSummary, Rules, summarise_cases
from stalkrisk.features.linking import LINK_FEATURES, LinkTable
from stalkrisk.features.registry import (
    ALL_TIME_COUNTS,
    FEATURES,
    WINDOWS,
    count_name,
    protected_features,
)

DAY_NS = 86_400 * 10**9
TREND_WEEKS = 12
_NAT = np.iinfo(np.int64).min
_NONE = 255  # channel code of a missing or unrecognised channel

_B = {b: i for i, b in enumerate(BEHAVIOURS)}
_CH = {c: i for i, c in enumerate(CHANNELS)}
#: Age edges of the count buckets: age <= 7d, <= 30d, <= 90d, <= 365d, older.
_EDGES = np.array([d * DAY_NS for d in WINDOWS], dtype=np.int64)
#: Windows of the distinct-days features.
_DAY_WINDOWS = (30, 90, 365)


def _lut(codes: Iterable[int]) -> np.ndarray:
    """A 256-entry lookup table: True at ``codes`` (membership of uint8 codes, fast)."""
    table = np.zeros(256, dtype=np.bool_)
    table[list(codes)] = True
    return table


def _slots(codes: Iterable[int]) -> np.ndarray:
    """A 256-entry lookup table: the position of each of ``codes`` in them, else -1."""
    table = np.full(256, -1, dtype=np.int64)
    for slot, code in enumerate(codes):
        table[code] = slot
    return table


#: What the kernel gathers for the event features (``kernels.Rules``).
_RULES = Rules(
    edges=_EDGES,
    day_edges=np.array([d * DAY_NS for d in _DAY_WINDOWS], dtype=np.int64),
    recent=90 * DAY_NS,  # distinct channels, online share, visits
    trend_weeks=TREND_WEEKS,
    n_behaviours=len(BEHAVIOURS),
    slot_of=_slots(_B[o] for o in OUTCOME_BEHAVIOURS),  # days since the first of each
    online_behaviour=_lut((_B["monitoring_online"], _B["publishing"])),
    online_channel=_lut(_CH[c] for c in ONLINE_CHANNELS),
    named_channel=_lut(_CH[c] for c in CHANNELS if c != "unknown"),
    visit_channel=_CH["in_person"],
    third_party_channel=_CH["third_party"],
    act_behaviour=_lut(_B[b] for b in ACT_BEHAVIOURS),
    third_party_target=TARGETS.index("third_party"),
)

#: Per-case facts of the known acts that are not model features: the queue and the review
#: pages read them (``build_with_facts``). Occasions are distinct UK days with an act (the
#: course-of-conduct proxy), counted up to 2; the act days are counted within each window.
FACT_COLUMNS = ("occasions",) + tuple(f"act_days_{d}d" for d in _DAY_WINDOWS) + tuple(
    f"proxy_days_{d}d" for d in _DAY_WINDOWS)


def build_features(
    cases: pd.DataFrame, events: pd.DataFrame, *, protected: Sequence[str] = (),
    links: LinkTable | None = None,
) -> pd.DataFrame:
    """Features of every case as of the end of its assessment day.

    ``cases`` and ``events`` are in the normalised form of ``stalkrisk.data.contract``.
    Returns ``case_id`` then every registry feature (float64) in registry order, one
    row per case in input order, then the ``protected`` attributes a config names.
    Events whose case id is not in ``cases`` are ignored.

    The linking features (``linking``) read the suspect's other cases: from ``links`` (built
    over the whole cases table, for a chunk) or, by default, from ``cases`` itself.
    """
    return build_with_facts(cases, events, protected=protected, links=links)[0]


def build_with_facts(
    cases: pd.DataFrame, events: pd.DataFrame, *, protected: Sequence[str] = (),
    links: LinkTable | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``build_features`` and, from the same pass, the ``FACT_COLUMNS`` of each case (int64)."""
    specs = list(FEATURES) + list(protected_features(tuple(protected)))
    n = len(cases)
    out = _Matrix(n, [s.name for s in specs])
    cutoff = _ns(cutoff_utc(cases["assessment_date"]), "cutoff")
    _case_values(cases, out)
    linked = (links if links is not None else LinkTable.from_cases(cases)).features_for(cases)
    for name in LINK_FEATURES:
        out[name] = linked[name].to_numpy()
    summary = _summary(cases["case_id"], cutoff, events, out)
    _event_values(summary, out)
    _protected_values(cases, tuple(protected), out)
    frame = pd.DataFrame(out.values, columns=out.names, copy=False)
    frame.insert(0, "case_id", _str(cases["case_id"]))
    facts = {"occasions": summary.occasions}
    for j, days in enumerate(_DAY_WINDOWS):
        facts[f"act_days_{days}d"] = summary.act_days[j]
        facts[f"proxy_days_{days}d"] = summary.proxy_days[j]
    return frame, pd.DataFrame({c: facts[c] for c in FACT_COLUMNS})


class _Matrix:
    """The output, filled in place column by column (one float64 block, no copies)."""

    def __init__(self, n: int, names: list[str]) -> None:
        self.names = names
        self.values = np.empty((n, len(names)), order="F")  # every column gets written
        self._index = {name: j for j, name in enumerate(names)}

    def __setitem__(self, name: str, column: np.ndarray) -> None:
        self.values[:, self._index[name]] = column

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[:, self._index[name]]

    def column(self, name: str) -> int:
        return self._index[name]


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
    """Position of each value in ``categories`` (uint8); ``missing`` when absent or null.

    A pandas categorical (a coded contract column) is looked up once per category.
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        return by_category(series, lambda cats: _codes(pd.Series(cats, dtype="str"), categories, missing),
                           np.uint8(missing))
    index = pc.index_in(_arrow(series), value_set=pa.array(list(categories)))
    return index.fill_null(missing).to_numpy().astype(np.uint8)


def _str(series: pd.Series) -> pd.Series:
    """The values as a ``str`` Series with a fresh RangeIndex (no copy when already str)."""
    if series.dtype == "str":
        return pd.Series(series.array, dtype="str")
    return pd.Series(series.to_numpy(), dtype="str")


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


def _case_runs(event_ids: pa.Array | pa.ChunkedArray, case_ids: pa.Array | pa.ChunkedArray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The events of each case row as runs of consecutive events with its case id:
    (``case_runs``, run start, run length), case row ``r`` owning runs
    ``case_runs[r]:case_runs[r + 1]``.

    Joins only the first event of each run of equal consecutive case ids: fast for
    files grouped by case (one run per case), right for any order. A case id that
    names several rows gives its events to each of them.
    """
    n, m = len(case_ids), len(event_ids)
    if m == 0 or n == 0:
        return np.zeros(n + 1, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
    heads = ids.run_heads(event_ids)
    lengths = np.diff(np.append(heads, m))
    runs = pl.DataFrame({"case_id": pl.from_arrow(pc.take(event_ids, pa.array(heads))),
                         "run": np.arange(len(heads), dtype=np.int64)})
    rows = pl.DataFrame({"case_id": pl.from_arrow(case_ids),
                         "row": np.arange(n, dtype=np.int64)})
    pairs = runs.join(rows, on="case_id", how="inner")
    run, row = pairs["run"].to_numpy(), pairs["row"].to_numpy()
    if len(row) > 1 and not bool((row[1:] >= row[:-1]).all()):
        order = np.lexsort((run, row))
        run, row = run[order], row[order]
    case_runs = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=n), out=case_runs[1:])
    return case_runs, heads[run], lengths[run]


def _uk_midnights(cutoff: np.ndarray, days_back: int) -> tuple[np.ndarray, int]:
    """The UTC instants of the UK midnights starting each day, and the first such day
    (days since 1970-01-01): enough days for ``kernels`` to find the UK day of every
    cutoff's last instant and of every instant up to ``days_back`` days before it.

    ``asof.cutoff_utc`` localises them: the end of day ``d - 1`` is the midnight that
    starts day ``d``."""
    known = cutoff[cutoff != _NAT]
    if len(known) == 0:
        return np.zeros(2, dtype=np.int64), 0
    first = int((known.min() - 1) // DAY_NS) - days_back - 2
    last = int((known.max() - 1) // DAY_NS) + 2
    days_before = np.arange(first - 1, last, dtype=np.int64).astype("M8[D]").astype("M8[ns]")
    return _ns(cutoff_utc(pd.Series(days_before)), "midnights"), first


def _summary(case_id: pd.Series, cutoff: np.ndarray, events: pd.DataFrame, out: _Matrix
             ) -> CaseSummary:
    """Every case's aggregates of the events known by its cutoff (``kernels.py``); the
    windowed counts go straight into ``out``."""
    case_runs, run_start, run_length = _case_runs(_arrow(events["case_id"]), _arrow(case_id))
    recorded = (_ns(events["recorded_at"], "events.recorded_at") if "recorded_at" in events
                else None)
    channel = (_codes(events["channel"], CHANNELS, _NONE) if "channel" in events
               else np.full(len(events), _NONE, dtype=np.uint8))
    target = (_codes(events["target"], TARGETS, _NONE) if "target" in events
              else np.full(len(events), _NONE, dtype=np.uint8))
    known = CaseEvents(case_runs, run_start, run_length,
                       time=_ns(events["event_time"], "events.event_time"), recorded=recorded,
                       behaviour=_codes(events["behaviour"], BEHAVIOURS, _B["other"]),
                       channel=channel, target=target)
    midnights, first_day = _uk_midnights(cutoff, max(_DAY_WINDOWS))
    return summarise_cases(known, cutoff, midnights, first_day, _RULES, out.values,
                           _count_columns(out))


def _count_columns(out: _Matrix) -> np.ndarray:
    """The column of ``out`` of each count: [behaviour code (the last: every behaviour),
    window (the last: any age)], -1 where there is no such feature."""
    columns = np.full((len(BEHAVIOURS) + 1, len(WINDOWS) + 1), -1, dtype=np.int64)
    for beh in STATUTORY_BEHAVIOURS + OUTCOME_BEHAVIOURS + ("events",):
        b = len(BEHAVIOURS) if beh == "events" else _B[beh]
        for k, days in enumerate(WINDOWS):
            columns[b, k] = out.column(count_name(beh, days))
        if beh in ALL_TIME_COUNTS:
            columns[b, -1] = out.column(count_name(beh, None))
    return columns


# --- event-derived values --------------------------------------------------------------------


def _event_values(ev: CaseSummary, out: _Matrix) -> None:
    """The event features other than the windowed counts (already in ``out``)."""
    n30, n90 = out["n_events_30d"], out["n_events_90d"]
    total = {beh: ev.totals[_B[beh]] for beh in STATUTORY_BEHAVIOURS + OUTCOME_BEHAVIOURS}
    n_all = ev.totals[len(BEHAVIOURS)].astype(np.float64)
    for j, days in enumerate(_DAY_WINDOWS):
        out[f"distinct_days_{days}d"] = ev.distinct_days[j]
    out["distinct_channels_90d"] = ev.distinct_channels
    out["online_share_90d"] = _share(ev.online, n90)
    # weekly trend: the least-squares slope of y_k on x_k = 11 - k (week k = ages in
    # (7k, 7k+7] days) is sum((x - 5.5) y) / 143 = sum over events of (11 - 2k) / 286.
    x = np.arange(TREND_WEEKS)
    sxx = float(((x - x.mean()) ** 2).sum())
    out["weekly_trend_12w"] = ev.trend / (2 * sxx)
    out["change_30d_vs_prior_60d"] = n30 - (n90 - n30) / 2
    out["days_since_last_event"] = _days(ev.newest, np.iinfo(np.int64).max)
    out["history_length_days"] = _days(ev.oldest, -1)
    for slot, o in enumerate(OUTCOME_BEHAVIOURS):
        out[f"days_since_first_{o}"] = _days(ev.oldest_of[slot], -1)
    tv30 = out["n_threat_30d"] + out["n_violence_30d"]
    tv_all = total["threat"] + total["violence"]
    out["threat_shift_30d"] = _share(tv30, n30) - _share(tv_all - tv30, n_all - n30)
    out["sdash_property_interference"] = total["property_interference"] > 0
    out["sdash_loitering"] = total["loitering"] > 0
    out["sdash_visits_over_3_a_week"] = ev.visits
    out["sdash_threats"] = total["threat"] > 0
    out["sdash_violence"] = total["violence"] > 0
    out["sdash_third_party_contact"] = ev.third_party
    out["course_of_conduct"] = ev.occasions >= 2


def _days(age: np.ndarray, none: int) -> np.ndarray:
    """Ages in ns as days; NaN where the age is the ``none`` sentinel."""
    return np.where(age == none, np.nan, age / DAY_NS)


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """part / whole, 0 where whole is 0."""
    return np.divide(part, whole, out=np.zeros(len(whole)), where=whole > 0)
