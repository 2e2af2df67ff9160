"""Every model feature, declared as data.

Training constraints (``monotone``), explanations (``group`` and ``template``),
the docs and the tests all read this registry; nothing repeats it.

SKELETON: the features helper fills in FEATURES. The dataclass and GROUPS
are the interface other modules code against.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Feature:
    """One feature of a case, computed as of its assessment date.

    name:        column name in the feature table
    group:       reason group key (a key of GROUPS); contributions are summed per group
    family:      relationship | frequency | escalation | severity | history | victim | online
    window_days: trailing window in days, or None
    description: one line for docs and the model card
    template:    plain-English reason, formatted with ``value=`` (the feature value),
                 e.g. "{value:.0f} threats recorded in the last 30 days"
    monotone:    +1 (more never lowers risk), -1 (more never raises it) or 0 (free)
    kind:        "count" | "rate" | "days" | "bool" | "category_code" | "number"
    sdash:       True when the feature is one of the S-DASH stalking indicators
    """

    name: str
    group: str
    family: str
    description: str
    template: str
    monotone: int = 0
    window_days: int | None = None
    kind: str = "number"
    sdash: bool = False


#: Reason groups: key -> label shown to a reviewer ("Threats: ...").
GROUPS: dict[str, str] = {}

FEATURES: tuple[Feature, ...] = ()


def feature_names() -> list[str]:
    return [f.name for f in FEATURES]
