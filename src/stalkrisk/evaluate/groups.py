"""Audit groups: the protected attributes of the data contract as group labels, their two-way
intersections, and the force holding each case.

Missing values become ``unknown``; ages become bands. An intersection joins two attributes'
labels (``male / white``); its small groups are named by the report's minimum size like any other.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

UNKNOWN = "unknown"
AGE_BANDS = ("under 18", "18-24", "25-34", "35-44", "45-54", "55+", UNKNOWN)
_AGE_CUTS = (18, 25, 35, 45, 55)
AUDIT_COLUMNS = (
    "victim_sex",
    "victim_age_band",
    "victim_ethnicity",
    "suspect_sex",
    "suspect_age_band",
    "suspect_ethnicity",
)

def age_band(age: pd.Series) -> pd.Series:
    """Age in years -> band label; missing or unparseable -> ``unknown``."""
    years = pd.to_numeric(age, errors="coerce").astype("float64").to_numpy()
    codes = np.searchsorted(np.array(_AGE_CUTS, dtype=float), years, side="right")
    labels = np.array(AGE_BANDS, dtype=object)[codes]
    labels[np.isnan(years)] = UNKNOWN
    return pd.Series(labels, index=age.index, name=age.name, dtype="str")


def _category(cases: pd.DataFrame, column: str) -> pd.Series:
    if column not in cases:
        return pd.Series(UNKNOWN, index=cases.index, dtype="str")
    values = cases[column].astype("str").str.strip().str.lower()
    values = values.where(cases[column].notna() & (values != ""), UNKNOWN)
    return values.astype("str")


def audit_groups(cases: pd.DataFrame) -> pd.DataFrame:
    """Normalised cases -> one string column per audited attribute (missing -> unknown)."""
    out = {}
    for column in AUDIT_COLUMNS:
        if column.endswith("_age_band"):
            source = column.removesuffix("_band")
            ages = cases[source] if source in cases else pd.Series(np.nan, index=cases.index)
            out[column] = age_band(ages).rename(column)
        else:
            out[column] = _category(cases, column)
    return pd.DataFrame(out, index=cases.index)


def group_order(values) -> list[str]:
    """Display order: age bands youngest first, other groups alphabetical; unknown last."""
    rank = {band: i for i, band in enumerate(AGE_BANDS)}
    return sorted(
        (str(v) for v in values),
        key=lambda v: (v == UNKNOWN, rank.get(v, len(rank)), v),
    )




def intersections(groups: pd.DataFrame, pairs) -> pd.DataFrame:
    """One column ``a × b`` per pair of ``groups``' columns, each value ``<a> / <b>``."""
    out = {}
    for a, b in pairs:
        if a in groups and b in groups:
            out[f"{a} × {b}"] = (groups[a].astype("str") + " / " + groups[b].astype("str")).astype("str")
    return pd.DataFrame(out, index=groups.index)


def force_groups(cases: pd.DataFrame, column: str = "force_code") -> pd.DataFrame:
    """The force holding each case as one group column (``unknown`` when not given)."""
    return pd.DataFrame({column: _category(cases, column)}, index=cases.index)
