"""``stalkrisk audit fairness``: does the flag treat groups of victims and suspects alike?

Run on any caseload, not only the training run's test slice: a force checks its own
data before relying on the model and again as it is used. When outcomes can be read
from later events (the model's own label config; a case counts unless censored), the
error rates per group are measured with bootstrap intervals; when they cannot yet
(every horizon still open, or a user label column that is empty) the audit still shows
flag rates and score distributions per group. Either way it measures how well the
model's features predict each protected attribute: a feature set that encodes
ethnicity lets a model discriminate without ever seeing ethnicity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from stalkrisk.audit.rescore import score_caseload
from stalkrisk.evaluate.fairness import (
    AUDIT_COLUMNS,
    FairnessReport,
    check_tolerances,
)
from stalkrisk.evaluate.fairness_run import assess, slice_groups
from stalkrisk.evaluate.proxy import proxy_auc

PROXY_WARN_AUC = 0.65


@dataclass
class FairnessAudit:
    model_name: str
    model_version: str
    label_description: str
    labelled: bool
    n_cases: int  # valid cases scored
    n_labelled: int
    n_censored: int
    quarantined: int
    report: FairnessReport
    warnings: list[str]  # gaps beyond tolerance (clearly so, when intervals tell them apart)
    proxies: list[dict[str, Any]]
    proxy_warnings: list[str]
    tolerances: dict[str, Any] = field(default_factory=dict)
    proxy_threshold: float = PROXY_WARN_AUC
    uncertain: list[str] = field(default_factory=list)  # beyond tolerance, but within sampling noise
    model_info: Any = None  # report.ModelInfo, for the HTML page's footer
    noted: list[str] = field(default_factory=list)  # clear gaps in the reported views (intersections, per force)
    extra: dict[str, FairnessReport] = field(default_factory=dict)


def labels_for(model, cases: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """``label`` and ``censored`` per case by the model's own label config."""
    from stalkrisk.model.labels import make_labels

    config = dict(model.meta.label or {"source": "events"})
    if config.get("source") == "column" and "label" not in cases.columns:
        return pd.DataFrame({"case_id": cases["case_id"].to_numpy(), "label": 0, "censored": True})
    return make_labels(cases, events, config)


def split_breaches(report: FairnessReport, tolerances: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Gaps beyond tolerance: (clear, within sampling noise) by ``fairness.breaches`` when
    this stalkrisk has it, else every gap is a warning."""
    from stalkrisk.evaluate import fairness

    if hasattr(fairness, "breaches"):
        clear, uncertain = fairness.breaches(report, tolerances)
        return list(clear), list(uncertain)
    return check_tolerances(report, tolerances), []


def proxy_checks(features: pd.DataFrame, groups: pd.DataFrame, *, threshold: float = PROXY_WARN_AUC,
                 max_rows: int = 10_000, seed: int = 0) -> tuple[list[dict[str, Any]], list[str]]:
    """``proxy_auc`` of the model's features for each protected attribute, and warnings."""
    results, warnings = [], []
    for attribute in groups.columns:
        r = proxy_auc(features, groups[attribute].rename(attribute), max_rows=max_rows, seed=seed)
        results.append(r)
        if not math.isnan(r["auc"]) and r["auc"] > threshold:
            warnings.append(f"{attribute}: the model's features predict it with AUC {r['auc']:.3f} "
                            f"(above {threshold:.2f}): a possible proxy")
    return results, warnings


def fairness_audit(
    model_uri: str,
    cases: str | Path,
    events: str | Path,
    *,
    fairness_config: str | Path | None = None,
    n_boot: int | None = None,
    proxy_threshold: float = PROXY_WARN_AUC,
    proxy_max_rows: int = 10_000,
    seed: int = 0,
    orders: str | Path | None = None,
    history: str | Path | None = None,
) -> FairnessAudit:
    """Score the caseload with the model and measure the flag by group (see module doc); give the
    orders and history tables the scoring run was given, so the flag is the one it gave."""
    from stalkrisk.config import load_fairness_config
    from stalkrisk.report.views import model_info
    from stalkrisk.tracking import registry as tracking

    config = load_fairness_config(fairness_config)
    n_boot = int(config.get("n_boot", 200)) if n_boot is None else n_boot
    loaded = tracking.load_model(model_uri)
    data = score_caseload(loaded, cases, events, orders=orders, history=history)
    model = loaded.model
    groups_all = slice_groups(data.cases.reset_index(drop=True), config)
    labels = labels_for(model, data.cases, data.events)
    keep = ~labels["censored"].to_numpy(dtype=bool)
    labelled = bool(keep.any())
    if labelled:
        outcome = assess(labels["label"].to_numpy()[keep], data.score[keep], data.flag[keep],
                         groups_all.loc[keep].reset_index(drop=True), config, seed=seed, n_boot=n_boot)
    else:
        outcome = assess(None, data.score, data.flag, groups_all, config, seed=seed, n_boot=n_boot)
    report, warnings, uncertain = outcome.report, outcome.clear, outcome.uncertain
    tolerances = config.get("tolerances", {}) or {}
    proxies, proxy_warnings = proxy_checks(
        data.features[list(model.feature_names)], groups_all[list(AUDIT_COLUMNS)], threshold=proxy_threshold,
        max_rows=proxy_max_rows, seed=seed,
    )
    return FairnessAudit(
        model_name=loaded.name, model_version=str(loaded.version),
        label_description=model.meta.label_description,
        labelled=labelled, n_cases=len(data.features), n_labelled=int(keep.sum()),
        n_censored=int((~keep).sum()), quarantined=data.quarantined, report=report,
        warnings=warnings, proxies=proxies, proxy_warnings=proxy_warnings, tolerances=tolerances,
        proxy_threshold=proxy_threshold, uncertain=uncertain, model_info=model_info(loaded),
        noted=outcome.noted, extra=outcome.extra,
    )


def _cell(value: Any, fmt: str = "{:.3f}") -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else fmt.format(value)


def format_fairness(audit: FairnessAudit) -> str:
    """The terminal summary: what was measured, each group's rates, every warning."""
    r = audit.report
    kind = (f"labelled: {audit.n_labelled:,} cases with an outcome ({audit.n_censored:,} censored)"
            if audit.labelled else f"unlabelled: no outcome can be read yet ({audit.n_censored:,} censored); "
            "flag rates and score distributions only")
    lines = [f"fairness of {audit.model_name} version {audit.model_version} on {audit.n_cases:,} cases "
             f"({audit.quarantined} quarantined by validation); {kind}"]
    metrics = [m for m in r.metrics if m != "count"]
    head = ["flag_rate", "false_negative_rate", "false_positive_rate"] if r.labelled else ["flag_rate", "mean_score", "score_median"]
    head = [m for m in head if m in metrics]
    lines.append(f"  {'attribute / group':<34}{'cases':>8}" + "".join(f"{m.replace('_', ' '):>22}" for m in head))
    for row in r.by_group.to_dict(orient="records"):
        cells = []
        for m in head:
            ci = ""
            if f"{m}_ci_low" in row and not (isinstance(row[f"{m}_ci_low"], float) and math.isnan(row[f"{m}_ci_low"])):
                ci = f" [{row[f'{m}_ci_low']:.2f}-{row[f'{m}_ci_high']:.2f}]"
            cells.append(f"{_cell(row[m]) + ci:>22}")
        small = " (small)" if row["small"] else ""
        lines.append(f"  {row['attribute'] + ': ' + str(row['group']) + small:<34}{int(row['count']):>8,}" + "".join(cells))
    lines.append("  proxy check (cross-validated AUC of predicting the attribute from the model's features):")
    for p in audit.proxies:
        lines.append(f"    {p['attribute']:<22}{_cell(p['auc']):>8}  (n={p['n']:,})")
    for w in audit.warnings:
        lines.append(f"WARNING: {w}")
    for w in audit.uncertain:
        lines.append(f"note (beyond tolerance, but within sampling noise): {w}")
    for w in audit.noted:
        lines.append(f"note (intersection or force, reported, not gated): {w}")
    for w in audit.proxy_warnings:
        lines.append(f"WARNING: proxy: {w}")
    n = len(audit.warnings) + len(audit.proxy_warnings) + len(audit.uncertain)
    lines.append(f"{len(audit.warnings)} gap(s) beyond the tolerances ({len(audit.uncertain)} more within sampling "
                 f"noise); {len(audit.proxy_warnings)} possible proxy(ies)"
                 if n else "no gap beyond the tolerances; no feature set predicts a protected attribute above "
                 f"AUC {audit.proxy_threshold:.2f}")
    return "\n".join(lines)
