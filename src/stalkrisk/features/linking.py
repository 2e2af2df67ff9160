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

#: The linking features, in registry order (``registry`` declares them).
LINK_FEATURES = ("linked_cases", "linked_victims", "linked_forces", "days_since_linked_case",
                 "linked_cases_victim_afraid", "linked_cases_order_in_force")
#: What a review page lists of each linked case.
LINK_COLUMNS = ("case_id", "suspect_id", "victim_id", "force_code", "assessment_date", "relationship",
                "victim_fear", "protective_order_in_force")
_DAY_BITS = 20  # days of a (suspect, day) key: 2**20 days is 2,870 years


def known_link(other_day, day):
    """True where a case assessed on ``other_day`` is known at the end of ``day`` (whole UK days)."""
    return other_day <= day


def _days(dates: pd.Series) -> np.ndarray:
    return pd.to_datetime(dates).to_numpy().astype("datetime64[D]").astype(np.int64)


def linkable(cases: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``cases`` that can link (module docstring), in ``LINK_COLUMNS`` (absent ones empty)."""
    if "suspect_id" not in cases or not len(cases):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in LINK_COLUMNS})
    ok = (cases["case_id"].notna() & cases["suspect_id"].notna() & cases["assessment_date"].notna()
          & ~cases["case_id"].duplicated(keep=False)).to_numpy(dtype=bool)
    rows = cases.loc[ok]
    return pd.DataFrame({c: (rows[c].to_numpy() if c in rows else np.full(len(rows), None, dtype=object))
                         for c in LINK_COLUMNS})


def _flag(rows: pd.DataFrame, column: str) -> np.ndarray:
    if column == "victim_fear":
        return rows[column].astype(object).isin(("afraid", "very_afraid")).to_numpy(dtype=np.int64)
    return pd.array(rows[column], dtype="boolean").fillna(False).to_numpy(dtype=np.int64)


def _distinct_known(code: np.ndarray, key: np.ndarray, value: pd.Series, day: np.ndarray) -> np.ndarray:
    """Per row: distinct non-missing ``value``s among its suspect's rows known by its day
    (each value counts from the first day it appears)."""
    have = value.notna().to_numpy(dtype=bool)
    if not have.any():
        return np.zeros(len(code), dtype=np.int64)
    first = (pd.DataFrame({"c": code[have], "v": value.to_numpy(dtype=object)[have], "d": day[have]})
             .groupby(["c", "v"], sort=False)["d"].min().reset_index())
    firsts = np.sort((first["c"].to_numpy(np.int64) << _DAY_BITS) | first["d"].to_numpy(np.int64))
    return np.searchsorted(firsts, key, "right") - np.searchsorted(firsts, code << _DAY_BITS, "left")


def link_values(rows: pd.DataFrame) -> pd.DataFrame:
    """``LINK_FEATURES`` of each row of ``linkable`` rows (int counts, days as float; NaN days: no
    other case known). Sorting-based, O(n log n): a suspect id shared by thousands of rows costs no
    pairs."""
    n = len(rows)
    if n == 0:
        return pd.DataFrame({f: pd.Series(dtype="float64") for f in LINK_FEATURES})
    code = pd.factorize(rows["suspect_id"].astype(object))[0].astype(np.int64)
    day = _days(rows["assessment_date"])
    day = day - day.min()
    if day.max() >= 1 << _DAY_BITS:
        raise ValueError("assessment dates span more than 2**20 days")
    key = (code << _DAY_BITS) | day
    order = np.argsort(key, kind="stable")
    keys = key[order]
    start = np.searchsorted(keys, code << _DAY_BITS, "left")
    upto = np.searchsorted(keys, key, "right")  # known_link: every row of the suspect with day <= own day
    same_day = upto - np.searchsorted(keys, key, "left")
    linked = upto - start - 1
    # the latest other case: the same day when another shares it, else the row before own day's one
    before = np.where(linked > 0, keys[np.maximum(upto - 2, 0)] & ((1 << _DAY_BITS) - 1), 0)
    since = np.where(same_day >= 2, 0.0, np.where(linked > 0, (day - before).astype(float), np.nan))
    out = {"linked_cases": linked, "days_since_linked_case": since}
    for name, column in (("linked_victims", "victim_id"), ("linked_forces", "force_code")):
        own = rows[column].notna().to_numpy(dtype=np.int64)
        out[name] = _distinct_known(code, key, rows[column], day) - own
    for name, column in (("linked_cases_victim_afraid", "victim_fear"),
                         ("linked_cases_order_in_force", "protective_order_in_force")):
        flag = _flag(rows, column)
        total = np.concatenate([[0], np.cumsum(flag[order])])
        out[name] = total[upto] - total[start] - flag
    return pd.DataFrame({f: out[f] for f in LINK_FEATURES})


@dataclass
class LinkTable:
    """The linkable rows of a whole cases table and their values: built once, read by every chunk."""

    rows: pd.DataFrame  # ``LINK_COLUMNS``
    values: pd.DataFrame  # ``LINK_FEATURES``, row for row

    @classmethod
    def from_cases(cls, cases: pd.DataFrame) -> "LinkTable":
        rows = linkable(cases).reset_index(drop=True)
        return cls(rows=rows, values=link_values(rows))

    @classmethod
    def from_frames(cls, frames) -> "LinkTable":
        """From the case rows of several parts (only the rows that can link are kept of each)."""
        parts = [linkable(f) for f in frames]
        parts = [p for p in parts if len(p)]
        rows = pd.concat(parts, ignore_index=True) if parts else linkable(pd.DataFrame())
        dup = rows["case_id"].duplicated(keep=False).to_numpy(dtype=bool)  # across parts
        return cls.from_cases(rows.loc[~dup]) if dup.any() else cls(rows=rows, values=link_values(rows))

    def features_for(self, cases: pd.DataFrame) -> pd.DataFrame:
        """``LINK_FEATURES`` (float64) for each row of ``cases``, by case id; NaN where it does not link."""
        where = pd.Index(self.rows["case_id"].astype(object)).get_indexer(cases["case_id"].astype(object))
        hit = where >= 0
        out = {}
        for f in LINK_FEATURES:
            column = np.full(len(cases), np.nan)
            column[hit] = self.values[f].to_numpy(dtype=float)[where[hit]]
            out[f] = column
        return pd.DataFrame(out)

    def position(self, case_id: str) -> int:
        """The row of ``case_id`` in ``rows``, -1 when it does not link."""
        if not hasattr(self, "_index"):  # built on the first page: scoring without pages never pays
            self._index = pd.Index(self.rows["case_id"].astype(object))
            self._groups = self.rows.groupby(self.rows["suspect_id"].astype(object), sort=False).indices
            self._day = _days(self.rows["assessment_date"])
        return int(self._index.get_indexer([case_id])[0])

    def others(self, case_id: str) -> pd.DataFrame:
        """The case's linked cases (``LINK_COLUMNS``), latest first; empty when it links to none."""
        at = self.position(case_id)
        if at < 0:
            return self.rows.iloc[:0]
        group = self._groups[self.rows["suspect_id"].iloc[at]]
        group = group[(group != at) & known_link(self._day[group], self._day[at])]
        found = self.rows.iloc[group].assign(_d=self._day[group])
        return found.sort_values(["_d", "case_id"], ascending=[False, True], kind="stable").drop(columns="_d")


def linked_counts(features: pd.DataFrame) -> np.ndarray:
    """The scores' ``linked_cases`` (int64): the feature, 0 where the case links to nothing."""
    return np.nan_to_num(features["linked_cases"].to_numpy(dtype=float), nan=0.0).astype(np.int64)
