"""The point-in-time rule for protective orders: what was in force, as known at the end of a day.

Beside ``asof.py`` (the rule for events) and in its spirit: an order shapes a case only if it
was made on or before the assessment day, had not expired by then (``expires_on`` is the last
day it is in force; empty means until further order), and, when the order carries a
``recorded_at``, was recorded before the end of that day (UK local midnight, ``cutoff_utc``).
An order recorded later, whatever its dates, changes nothing: what was known then.

An order belongs to a case when it names the case (``case_id``) or the case's suspect
(``suspect_id``, a pseudonymous person key that may link several cases).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from stalkrisk.data.contract import SPO_TYPES
from stalkrisk.features.asof import _is_missing, cutoff_utc

#: Per case row: the state of its orders as of the assessment day.
ORDER_FACTS = ("order_in_force", "spo_in_force", "spo_days_left", "orders_in_force")


def in_force_as_known(made_on: Any, expires_on: Any, recorded_at: Any, day: Any, cutoff: Any) -> Any:
    """True where an order was in force on ``day`` and known by ``cutoff`` (the end of that day).

    Works on pandas Series and plain values alike (``recorded_at=None``: the orders carry no
    recording time). ``made_on``, ``expires_on`` and ``day`` are naive dates; ``cutoff`` UTC.
    """
    made = made_on <= day
    running = _is_missing(expires_on) | (expires_on >= day)  # (NaT compares False)
    if recorded_at is None:
        return made & running
    return made & running & (_is_missing(recorded_at) | (recorded_at < cutoff))


def _pairs(cases: pd.DataFrame, orders: pd.DataFrame) -> pd.DataFrame:
    """(case row, order) pairs: the order names the case, or the case's suspect."""
    rows = pd.DataFrame({"_row": np.arange(len(cases)), "case_id": cases["case_id"].astype(object).to_numpy(),
                         "suspect_id": (cases["suspect_id"].astype(object).to_numpy() if "suspect_id" in cases
                                        else np.full(len(cases), None, dtype=object))})
    keep = ["order_id", "order_type", "made_on", "expires_on", "recorded_at"]
    o = orders.assign(_order=np.arange(len(orders)))
    if "recorded_at" not in o:
        o = o.assign(recorded_at=pd.Series(pd.NaT, index=o.index, dtype="datetime64[ns, UTC]"))
    by_case = rows[["_row", "case_id"]].merge(
        o.loc[o["case_id"].notna(), ["case_id", "_order", *keep]].astype({"case_id": object}), on="case_id")
    with_suspect = rows.loc[pd.notna(rows["suspect_id"]), ["_row", "suspect_id"]]
    by_suspect = with_suspect.merge(
        o.loc[o["suspect_id"].notna(), ["suspect_id", "_order", *keep]].astype({"suspect_id": object}),
        on="suspect_id")
    both = pd.concat([by_case[["_row", "_order", *keep]], by_suspect[["_row", "_order", *keep]]],
                     ignore_index=True)
    return both.drop_duplicates(["_row", "_order"]).sort_values(["_row", "_order"], kind="stable")


def orders_as_of(cases: pd.DataFrame, orders: pd.DataFrame | None) -> pd.DataFrame:
    """The orders in force for each case row as of the end of its assessment day.

    Columns (``ORDER_FACTS``), one row per case row in order: ``order_in_force`` and
    ``spo_in_force`` (an SPO or interim SPO), booleans, missing when no orders table was given;
    ``spo_days_left``: days from the assessment day to the last day of the soonest-ending SPO
    in force (NaN when none has an end date); ``orders_in_force``: the types in force, e.g.
    ``"spo, non_molestation"``.
    """
    n = len(cases)
    if orders is None:
        return pd.DataFrame({"order_in_force": pd.array([pd.NA] * n, dtype="boolean"),
                             "spo_in_force": pd.array([pd.NA] * n, dtype="boolean"),
                             "spo_days_left": np.full(n, np.nan),
                             "orders_in_force": np.full(n, "", dtype=object)})
    pairs = _pairs(cases, orders)
    day = pd.to_datetime(cases["assessment_date"]).astype("datetime64[ns]").to_numpy()
    cutoff = cutoff_utc(cases["assessment_date"]).to_numpy()
    pday = pd.Series(day[pairs["_row"].to_numpy()], index=pairs.index)
    pcut = pd.Series(cutoff[pairs["_row"].to_numpy()], index=pairs.index)
    recorded = pairs["recorded_at"] if pairs["recorded_at"].notna().any() else None
    live = pairs.loc[in_force_as_known(pairs["made_on"], pairs["expires_on"], recorded, pday, pcut)
                     .to_numpy(dtype=bool)]
    any_force = np.zeros(n, dtype=bool)
    any_force[live["_row"].to_numpy()] = True
    spo = live.loc[live["order_type"].astype(str).isin(SPO_TYPES)]
    spo_force = np.zeros(n, dtype=bool)
    spo_force[spo["_row"].to_numpy()] = True
    left = np.full(n, np.nan)
    if len(spo):
        days = (spo["expires_on"] - pd.Series(day[spo["_row"].to_numpy()], index=spo.index)).dt.days
        soonest = days.groupby(spo["_row"].to_numpy()).min()
        left[soonest.index.to_numpy()] = soonest.to_numpy(dtype=float)
    types = np.full(n, "", dtype=object)
    if len(live):
        listed = live.groupby("_row")["order_type"].agg(lambda t: ", ".join(dict.fromkeys(map(str, t))))
        types[listed.index.to_numpy()] = listed.to_numpy()
    return pd.DataFrame({"order_in_force": pd.array(any_force, dtype="boolean"),
                         "spo_in_force": pd.array(spo_force, dtype="boolean"),
                         "spo_days_left": left, "orders_in_force": types})
