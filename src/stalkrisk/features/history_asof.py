"""The point-in-time rule for the suspects' recorded offences (the optional ``history`` table).

The cases' exported prior counts (``suspect_prior_stalking`` ...) have no as-of rule: an export
taken later counts offences recorded after the assessment, and leaks them into the features.
Given a history table, the counts are built instead, per case, from the offences of its
suspect (``suspect_id``) that happened on or before the assessment day and were recorded before
its end (UK local midnight, ``asof.cutoff_utc``): what was known then. A row recorded later,
whatever its offence date, changes nothing.

Which offence feeds which count is data (``PRIOR_OF_OFFENCE``). A case with no ``suspect_id``
keeps the exported columns (the documented fallback), as does every case when no history table
is given.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from stalkrisk.features.asof import cutoff_utc

#: offence -> the case column it counts towards. ``order_breach`` and ``other`` feed no count: a
#: breach of an order is not by itself stalking or violence, and "other" says nothing about risk.
PRIOR_OF_OFFENCE = {
    "stalking": "suspect_prior_stalking",
    "harassment": "suspect_prior_stalking",  # the contract's count is "stalking or harassment"
    "violence": "suspect_prior_violence",
    "sexual": "suspect_prior_violence",  # violence against the person, sexual offences included
    "domestic_abuse": "suspect_prior_domestic_abuse",  # a flag: any such offence known
}
#: The case columns the history rebuilds (counts, then the flag).
HISTORY_COLUMNS = ("suspect_prior_stalking", "suspect_prior_violence", "suspect_prior_domestic_abuse")


def known_offence(offence_date: Any, recorded_at: Any, day: Any, cutoff: Any) -> Any:
    """True where an offence may shape a case assessed on ``day``: it happened on or before the day
    and was recorded before ``cutoff``, the end of that day. Works on Series and plain values."""
    return (offence_date <= day) & (recorded_at < cutoff)


def prior_from_history(cases: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """``HISTORY_COLUMNS`` for each case row as of its assessment day (counts ``Int64``, the flag
    ``boolean``); missing where the row has no ``suspect_id`` or no assessment date."""
    n = len(cases)
    suspects = (cases["suspect_id"].astype(object) if "suspect_id" in cases
                else pd.Series([None] * n, dtype=object))
    usable = (suspects.notna() & cases["assessment_date"].notna()).to_numpy(dtype=bool)
    rows = pd.DataFrame({"_row": np.arange(n)[usable], "suspect_id": suspects.to_numpy()[usable],
                         "_day": pd.to_datetime(cases["assessment_date"]).to_numpy()[usable],
                         "_cutoff": cutoff_utc(cases["assessment_date"]).to_numpy()[usable]})
    h = history.loc[history["offence"].astype(object).isin(PRIOR_OF_OFFENCE),
                    ["suspect_id", "offence_date", "recorded_at", "offence"]]
    pairs = rows.merge(h.astype({"suspect_id": object}), on="suspect_id")
    pairs = pairs.loc[known_offence(pairs["offence_date"], pairs["recorded_at"], pairs["_day"], pairs["_cutoff"])
                      .to_numpy(dtype=bool)]
    column = pairs["offence"].astype(object).map(PRIOR_OF_OFFENCE)
    counts = pd.crosstab(pairs["_row"], column) if len(pairs) else pd.DataFrame()
    out = {}
    for name in HISTORY_COLUMNS:
        values = np.zeros(n, dtype=np.int64)
        if name in counts:
            values[counts.index.to_numpy()] = counts[name].to_numpy()
        array = pd.array(values, dtype="Int64") if name != "suspect_prior_domestic_abuse" \
            else pd.array(values > 0, dtype="boolean")
        array[~usable] = pd.NA
        out[name] = array
    return pd.DataFrame(out)


def with_history(cases: pd.DataFrame, history: pd.DataFrame | None) -> pd.DataFrame:
    """``cases`` with ``HISTORY_COLUMNS`` built from ``history`` as of each assessment day where the
    row names a suspect; elsewhere (and with no history table) the exported values stay."""
    if history is None:
        return cases
    built = prior_from_history(cases, history)
    out = cases.copy()
    for name in HISTORY_COLUMNS:
        exported = (cases[name] if name in cases else pd.Series(pd.NA, index=cases.index)).astype(built[name].dtype)
        out[name] = built[name].set_axis(cases.index).fillna(exported) if len(cases) else exported
    return out
