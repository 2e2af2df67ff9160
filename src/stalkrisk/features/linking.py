"""Linking by suspect: a case's OTHER cases of the same person, as known at the end of its assessment day.

A serial stalker's other victims (S-DASH item 2) and a suspect known to two forces are invisible
case by case. ``suspect_id`` (contract v2) is a pseudonymous person key, the same across cases and
forces, so the cases table itself says who else the suspect has been screened for.

The point-in-time rule, in one named function (``known_link``): another case of the suspect is
known for a case assessed on day ``d`` when its own ``assessment_date`` is on or before ``d`` (the
contract has no ``reported_date``; the assessment date is the first day the police are sure to
have held the case). Cases assessed later change nothing, however the table grows.

Every value of a case depends only on the rows of its own suspect, so the functions are pure over
any frame that holds all cases of its suspects: the whole table on one machine, or a partition of
cases co-partitioned by suspect on Spark. Scoring builds a ``LinkTable`` over the whole cases table
once and hands it to every chunk.

Which rows link: a row with a ``case_id``, a ``suspect_id`` and an ``assessment_date``; a case id
held by two rows is left out (it is quarantined, and which row is meant is unknown). A case with
no ``suspect_id`` links to nothing: its features are missing (NaN, "not recorded") and its scores
``linked_cases`` is 0.

Severity of the other cases: the cases table holds no outcome of a case, so the case-level
columns known at each case's own assessment say it: the victim was afraid or very afraid
(``victim_fear``), and a protective order was in force (``protective_order_in_force``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from stalkrisk.data.ids import IdIndex, repeated

#: The linking features, in registry order (``registry`` declares them).
LINK_FEATURES = ("linked_cases", "linked_victims", "linked_forces", "linked_cases_365d",
                 "linked_cases_victim_afraid", "linked_cases_order_in_force")
#: What linking reads of each case.
LINK_COLUMNS = ("case_id", "suspect_id", "victim_id", "force_code", "assessment_date", "relationship",
                "victim_fear", "protective_order_in_force")
#: What a ``LinkTable`` keeps of each case once its values are known: what a review page lists.
PAGE_COLUMNS = ("case_id", "victim_id", "force_code", "assessment_date", "relationship")
_DAY_BITS = 20  # days of a (suspect, day) key: 2**20 days is 2,870 years
#: Recency: the other cases assessed in the year up to the day (a count, as the events' windows are;
#: "days since the latest" drifted with the length of the data: docs/design-notes.md).
RECENT_DAYS = 365


def known_link(other_day, day):
    """True where a case assessed on ``other_day`` is known at the end of ``day`` (whole UK days)."""
    return other_day <= day


def _days(dates: pd.Series) -> np.ndarray:
    return pd.to_datetime(dates).to_numpy().astype("datetime64[D]").astype(np.int64)


def _codes(values: pd.Series) -> np.ndarray:
    """Integer codes of the values (-1 where missing): hashing text once, then integers only."""
    return pd.factorize(values, use_na_sentinel=True)[0].astype(np.int64)


def linkable(cases: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``cases`` that can link (module docstring), in ``LINK_COLUMNS`` (absent ones empty)."""
    if "suspect_id" not in cases or not len(cases):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in LINK_COLUMNS})
    ids = _codes(cases["case_id"])
    once = np.bincount(ids[ids >= 0], minlength=1)[np.maximum(ids, 0)] == 1
    ok = (ids >= 0) & once & (cases["suspect_id"].notna() & cases["assessment_date"].notna()).to_numpy(dtype=bool)
    rows = cases.loc[ok]
    # the columns as they are (Arrow text stays Arrow text: as Python strings a million cases' ids
    # took a second to convert and twice the memory)
    return pd.DataFrame({c: (rows[c].array if c in rows else np.full(len(rows), None, dtype=object))
                         for c in LINK_COLUMNS})


def _flag(rows: pd.DataFrame, column: str) -> np.ndarray:
    if column == "victim_fear":
        return pd.Series(rows[column]).isin(("afraid", "very_afraid")).to_numpy(dtype=np.int64)
    return pd.array(rows[column], dtype="boolean").fillna(False).to_numpy(dtype=np.int64)


def _run_bounds(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each position of a sorted array: the first position of its run of equal values, and the
    position after the run's last."""
    n = len(sorted_values)
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    run = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
    return starts[run], np.r_[starts[1:], n][run]


@dataclass
class _Sorted:
    """The rows by (suspect, day), and per row the span of that order holding its suspect's rows
    known by its day (``known_link``: every row of the suspect with a day on or before its own, itself
    included): ``order[start:upto]``. Linear passes over the sorted keys, no searches."""

    code: np.ndarray  # suspect code per row
    day: np.ndarray  # assessment day per row (days since the earliest)
    key: np.ndarray  # (code << _DAY_BITS) | day
    order: np.ndarray  # rows sorted by key
    keys: np.ndarray  # key[order]
    start: np.ndarray  # per row, in order's positions
    upto: np.ndarray

    @classmethod
    def of(cls, rows: pd.DataFrame) -> "_Sorted":
        code = _codes(rows["suspect_id"])
        day = _days(rows["assessment_date"])
        day = day - (day.min() if len(day) else 0)
        if len(day) and day.max() >= 1 << _DAY_BITS:
            raise ValueError("assessment dates span more than 2**20 days")
        key = (code << _DAY_BITS) | day
        order = np.argsort(key, kind="stable")
        keys = key[order]
        key_after = _run_bounds(keys)[1]
        suspect_first = _run_bounds(keys >> _DAY_BITS)[0]
        start, upto = np.empty(len(keys), np.int64), np.empty(len(keys), np.int64)
        start[order], upto[order] = suspect_first, key_after
        return cls(code=code, day=day, key=key, order=order, keys=keys, start=start, upto=upto)

    def distinct_known(self, value: np.ndarray) -> np.ndarray:
        """Per row: distinct ``value`` codes (-1: missing, not counted) among its suspect's rows known
        by its day. In (suspect, day) order a value is new at its first row; the news are summed."""
        v = value[self.order]
        pair = pd.Series((self.keys >> _DAY_BITS) * (int(value.max()) + 2) + v)
        new = ((v >= 0) & ~pair.duplicated().to_numpy()).astype(np.int64)
        total = np.concatenate([[0], np.cumsum(new)])
        return total[self.upto] - total[self.start]


def link_values(rows: pd.DataFrame, sort: _Sorted | None = None) -> pd.DataFrame:
    """``LINK_FEATURES`` of each row of ``linkable`` rows (int counts, days as float; NaN days: no
    other case known). Sorting-based, O(n log n): a suspect id shared by thousands of rows costs no
    pairs."""
    if len(rows) == 0:
        return pd.DataFrame({f: pd.Series(dtype="float64") for f in LINK_FEATURES})
    t = sort if sort is not None else _Sorted.of(rows)
    start, upto = t.start, t.upto
    linked = upto - start - 1
    year_ago = (t.code << _DAY_BITS) | np.maximum(t.day - RECENT_DAYS, 0)
    recent = upto - np.searchsorted(t.keys, year_ago, "left") - 1
    out = {"linked_cases": linked, "linked_cases_365d": recent}
    for name, column in (("linked_victims", "victim_id"), ("linked_forces", "force_code")):
        value = _codes(rows[column])
        out[name] = t.distinct_known(value) - (value >= 0)
    for name, column in (("linked_cases_victim_afraid", "victim_fear"),
                         ("linked_cases_order_in_force", "protective_order_in_force")):
        flag = _flag(rows, column)
        total = np.concatenate([[0], np.cumsum(flag[t.order])])
        out[name] = total[upto] - total[start] - flag
    return pd.DataFrame({f: out[f] for f in LINK_FEATURES})


def _one_chunk(column: pd.Series) -> pd.Series:
    """Arrow text in one chunk: a few rows taken from a column of many chunks (one a part) cost
    a join of all of them, each time a review page lists a suspect's cases."""
    if isinstance(column.dtype, pd.StringDtype) and column.dtype.storage == "pyarrow":
        data = pa.array(column)
        if isinstance(data, pa.ChunkedArray):
            data = data.combine_chunks()
        return pd.Series(pd.array(data, dtype=column.dtype))
    return column.reset_index(drop=True)


@dataclass
class _Spans:
    """What listing a case's linked cases needs of ``_Sorted`` (int32: kept for a whole run)."""

    order: np.ndarray
    start: np.ndarray
    upto: np.ndarray
    day: np.ndarray

    @classmethod
    def of(cls, t: _Sorted) -> "_Spans":
        return cls(*(a.astype(np.int32) for a in (t.order, t.start, t.upto, t.day)))


@dataclass
class LinkTable:
    """The linkable rows of a whole cases table and their values: built once, read by every chunk.

    Held for a whole run, so kept small: the page columns as Arrow text in one chunk, the values
    and spans as int32, and a hashed index of the case ids (at a million cases, 138 MB of
    Python strings and a pandas index of hundreds became about 90 MB in all)."""

    rows: pd.DataFrame  # ``PAGE_COLUMNS``
    values: pd.DataFrame  # ``LINK_FEATURES`` (int32), row for row
    sort: _Spans | None = None

    @classmethod
    def from_cases(cls, cases: pd.DataFrame) -> "LinkTable":
        return cls._of(linkable(cases))

    @classmethod
    def _of(cls, rows: pd.DataFrame) -> "LinkTable":
        """From ``linkable`` rows (each case id once)."""
        rows = rows.reset_index(drop=True)
        sort = _Sorted.of(rows) if len(rows) else None
        values = link_values(rows, sort).astype(np.int32)
        return cls(rows=pd.DataFrame({c: _one_chunk(rows[c]) for c in PAGE_COLUMNS}), values=values,
                   sort=None if sort is None else _Spans.of(sort))

    @classmethod
    def from_frames(cls, frames) -> "LinkTable":
        """From the case rows of several parts (only the rows that can link are kept of each)."""
        parts, ids = [], []
        for frame in frames:
            parts.append(linkable(frame))
            ids.append(pa.array(frame["case_id"], type=pa.large_string(), from_pandas=True))
        parts = [p for p in parts if len(p)]
        rows = pd.concat(parts, ignore_index=True) if parts else linkable(pd.DataFrame())
        every = pa.chunked_array(ids, type=pa.large_string())
        twice = every.filter(pa.array(repeated(every)))  # a case id held by rows of two parts, linkable or not
        if len(twice):
            rows = rows.loc[~rows["case_id"].isin(set(twice.to_pylist()))]
        return cls._of(rows)

    def position(self, case_ids) -> np.ndarray:
        """The row of each case id in ``rows`` (-1: it does not link). The index (hashed: a few
        tens of megabytes for a million cases, where a pandas index of them took hundreds) is
        built once."""
        if not hasattr(self, "_index"):
            self._index = IdIndex(pa.array(self.rows["case_id"], type=pa.large_string(), from_pandas=True))
        values = pd.Series(np.asarray(case_ids, dtype=object) if not isinstance(case_ids, pd.Series) else case_ids)
        return self._index.first_row(pa.array(values.astype("str"), type=pa.large_string(), from_pandas=True))

    def features_for(self, cases: pd.DataFrame) -> pd.DataFrame:
        """``LINK_FEATURES`` (float64) for each row of ``cases``, by case id; NaN where it does not link."""
        if not len(self.rows):
            return pd.DataFrame({f: np.full(len(cases), np.nan) for f in LINK_FEATURES})
        where = self.position(cases["case_id"])
        hit = where >= 0
        out = {}
        for f in LINK_FEATURES:
            column = np.full(len(cases), np.nan)
            column[hit] = self.values[f].to_numpy(dtype=float)[where[hit]]
            out[f] = column
        return pd.DataFrame(out)

    def others(self, case_id: str) -> pd.DataFrame:
        """The case's linked cases (``PAGE_COLUMNS``), latest first (then by case id); empty when none."""
        at = int(self.position([case_id])[0]) if len(self.rows) else -1
        if at < 0:
            return self.rows.iloc[:0]
        group = self.sort.order[self.sort.start[at]:self.sort.upto[at]]
        group = group[group != at]
        if not len(group):
            return self.rows.iloc[:0]
        ids = self.rows["case_id"].iloc[group].to_numpy(dtype=object)
        return self.rows.iloc[group[np.lexsort((ids, -self.sort.day[group]))]]


def linked_counts(features: pd.DataFrame) -> np.ndarray:
    """The scores' ``linked_cases`` (int64): the feature, 0 where the case links to nothing."""
    return np.nan_to_num(features["linked_cases"].to_numpy(dtype=float), nan=0.0).astype(np.int64)
