"""Every fairness view of one labelled slice, as ``configs/fairness.yaml`` asks for them.

The gated groups (victims' and suspects' sex, age band and ethnicity) decide promotion; the
two-way intersections and the per-force view are measured the same way with their own minimum
group size and reported, gated only when the config says so (many small groups: many gaps by
chance); the mitigation options are measured beside, never applied. Training and the fairness
audit both call ``assess``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from stalkrisk.evaluate.fairness import FairnessReport, breaches, group_metrics
from stalkrisk.evaluate.groups import audit_groups, force_groups, intersections


@dataclass
class FairnessOutcome:
    report: FairnessReport  # the gated groups
    clear: list[str]  # gaps clearly beyond tolerance in a gated view: they block promotion
    uncertain: list[str]  # beyond tolerance on the point estimate, within sampling noise
    extra: dict[str, FairnessReport] = field(default_factory=dict)  # "intersections", "per force"
    noted: list[str] = field(default_factory=list)  # clear gaps of views that are reported, not gated
    mitigation: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_dict(self) -> dict[str, Any]:
        return {"report": self.report.to_dict(), "clear": self.clear, "uncertain": self.uncertain,
                "extra": {k: v.to_dict() for k, v in self.extra.items()}, "noted": self.noted,
                "mitigation": self.mitigation.to_dict(orient="records")}


def slice_groups(cases: pd.DataFrame, config: dict[str, Any]) -> pd.DataFrame:
    """The audit groups of ``cases``, their configured intersections and the force column."""
    groups = audit_groups(cases)
    pairs = (config.get("intersections") or {}).get("pairs") or []
    force = (config.get("per_force") or {}).get("column", "force_code")
    return pd.concat([groups, intersections(groups, pairs), force_groups(cases, force)], axis=1)


def assess(y: np.ndarray, p: np.ndarray, flag: np.ndarray, groups: pd.DataFrame, config: dict[str, Any], *,
           seed: int = 0, n_boot: int | None = None) -> FairnessOutcome:
    """The gated report and the reported views of one slice (``groups`` from ``slice_groups``)."""
    n_boot = int(config.get("n_boot", 200)) if n_boot is None else n_boot
    tolerances = config.get("tolerances", {}) or {}
    gated = [g for g in config.get("groups", []) if g in groups.columns]
    report = group_metrics(y, p, flag, groups[gated], min_group_size=int(config.get("min_group_size", 50)),
                           n_boot=n_boot, seed=seed)
    clear, uncertain = breaches(report, tolerances)
    outcome = FairnessOutcome(report=report, clear=clear, uncertain=uncertain)
    pairs = (config.get("intersections") or {}).get("pairs") or []
    views = {
        "intersections": ([f"{a} × {b}" for a, b in pairs], config.get("intersections") or {}),
        "per force": ([(config.get("per_force") or {}).get("column", "force_code")], config.get("per_force") or {}),
    }
    for name, (columns, view) in views.items():
        columns = [c for c in columns if c in groups.columns]
        if not columns or view.get("enabled", True) is False:
            continue
        extra = group_metrics(y, p, flag, groups[columns], min_group_size=int(view.get("min_group_size", 100)),
                              n_boot=n_boot, seed=seed + 1)
        outcome.extra[name] = extra
        view_clear, _ = breaches(extra, tolerances)
        if view.get("gate", False):
            outcome.clear += view_clear
        else:
            outcome.noted += view_clear
    return outcome
