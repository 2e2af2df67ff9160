"""Self-contained HTML for the audit reports: one case, fairness by group, feature drift.

Same look and same guarantees as the review pages (``render.py``): the shared base
template and CSS, a Content-Security-Policy that forbids every fetch, charts inlined
as SVG, and every data string through Jinja2 autoescape. Charts come from
matplotlib (``plots.py`` and shap's own waterfall) with text drawn as paths.
"""

from __future__ import annotations

import math
from pathlib import Path

from markupsafe import Markup

from stalkrisk.io_utils import atomic_write_text
from stalkrisk.report import svg
from stalkrisk.report.render import (
    band_label,
    csp_header,
    model_context,
    template_environment,
)


def _signed(x: float) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:+.4f}"


def _num(x, fmt: str = "{:.3f}") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return fmt.format(x)


# -- one case ----------------------------------------------------------------------


def render_case_audit(audit, out_dir: str | Path = "") -> str:
    """The ``audit case --html`` page (``audit`` is an ``audit_case.CaseAudit``)."""
    from stalkrisk.audit.case import group_members, value_text, waterfall_svg  # noqa: I001

    record, s = audit.record, audit.record.scores
    scored = s["status"] == "scored"
    groups, minimal_groups = [], []
    logit_value = math.nan
    if scored:
        members = group_members(record)
        by_group = {}
        for g in audit.groups.itertuples(index=False):
            by_group[g.group] = float(g.contribution)
            groups.append({
                "label": g.label, "contribution": float(g.contribution), "signed": _signed(float(g.contribution)),
                "members": [{"feature": m.feature, "value": value_text(float(m.value)), "signed": _signed(float(m.contribution))}
                            for m in members[g.group].itertuples(index=False)],
            })
        labels = dict(zip(audit.groups["group"], audit.groups["label"]))
        minimal_groups = [{"label": labels[g], "signed": _signed(by_group[g])} for g in audit.minimal.groups]
        logit_value = record.base_value + float(record.explanation["contribution"].sum())
    t = audit.threshold
    context = {
        "csp": csp_header(None),
        **model_context(audit.model_info),
        "case_id": audit.case_id,
        "out_dir": str(out_dir),
        "notes": audit.notes,
        "scored": scored,
        "not_scored_reason": s.get("not_scored_reason", ""),
        "score_text": svg.pct(float(s["score"])) if scored else "",
        "logit_text": _signed(logit_value),
        "base_text": _signed(record.base_value) if scored else "",
        "band_text": band_label(s["risk_band"] or "") if scored else "",
        "course_of_conduct": bool(s["course_of_conduct"]) if scored else False,
        "consider_spo": bool(s["consider_spo"]) if scored else False,
        "threshold_logit": _signed(math.log(t / (1 - t))),
        "minimal_text": audit.minimal.text,
        "minimal_groups": minimal_groups,
        "reasons": [s[f"reason_{i}"] for i in (1, 2, 3) if s[f"reason_{i}"]],
        "waterfall_svg": Markup(waterfall_svg(record)) if scored else "",
        "groups": groups,
    }
    return template_environment().get_template("audit_case.html").render(context)


# -- fairness ----------------------------------------------------------------------

_FAIRNESS_COLUMNS = {
    True: (("count", "Cases", "{:,.0f}"), ("flag_rate", "Flag rate", "{:.3f}"),
           ("false_negative_rate", "False negative rate", "{:.3f}"),
           ("false_positive_rate", "False positive rate", "{:.3f}"), ("precision", "Precision", "{:.3f}"),
           ("observed_rate", "Outcome rate", "{:.3f}")),
    False: (("count", "Cases", "{:,.0f}"), ("flag_rate", "Flag rate", "{:.3f}"),
            ("mean_score", "Mean score", "{:.3f}"), ("score_p10", "Score p10", "{:.3f}"),
            ("score_median", "Median score", "{:.3f}"), ("score_p90", "Score p90", "{:.3f}")),
}


def _fairness_tables(report) -> list[dict]:
    columns = [c for c in _FAIRNESS_COLUMNS[report.labelled] if c[0] in report.by_group.columns]
    tables = []
    for attribute in report.attributes:
        rows = report.by_group.loc[report.by_group["attribute"] == attribute]
        out_rows = []
        for r in rows.to_dict(orient="records"):
            cells = []
            for key, _, fmt in columns:
                cell = _num(r[key], fmt)
                low, high = r.get(f"{key}_ci_low"), r.get(f"{key}_ci_high")
                if low is not None and not (isinstance(low, float) and math.isnan(low)):
                    cell += f" [{low:.3f}–{high:.3f}]"
                cells.append(cell)
            out_rows.append({"group": r["group"], "small": bool(r["small"]), "cells": cells})
        tables.append({"title": attribute.replace("_", " ").capitalize(), "headers": [c[1] for c in columns],
                       "rows": out_rows})
    return tables


def render_fairness(audit) -> str:
    """The ``audit fairness --out`` page (``audit`` is an ``audit_fairness.FairnessAudit``)."""
    from stalkrisk.report.charts import fairness_chart, figure_to_svg

    report = audit.report
    metrics = ("flag_rate", "false_negative_rate") if report.labelled else ("flag_rate", "mean_score")
    kind = (f"Outcomes ({audit.label_description}) are known for {audit.n_labelled:,} cases "
            f"({audit.n_censored:,} censored: their horizon is not over), so error rates are measured."
            if audit.labelled else
            "No outcome can be read yet (every horizon is still open, or no label column), so the audit shows "
            "flag rates and score distributions by group.")
    context = {
        "csp": csp_header(None),
        **model_context(audit.model_info),
        "summary": (f"{audit.n_cases:,} cases scored by {audit.model_name} version {audit.model_version}; "
                    f"{audit.quarantined:,} quarantined by validation."),
        "warnings": [*audit.warnings, *(f"Possible proxy — {w}" for w in audit.proxy_warnings)],
        "uncertain": audit.uncertain,
        "kind_text": kind,
        "min_group_size": report.min_group_size,
        "n_boot": report.n_boot,
        "chart_svg": Markup(figure_to_svg(fairness_chart(report, metrics))),
        "chart_caption": "Bars: " + " and ".join(m.replace("_", " ") for m in metrics) + " by group; whiskers: 95% intervals.",
        "tables": _fairness_tables(report),
        "proxy_threshold": f"{audit.proxy_threshold:.2f}",
        "proxies": [{"attribute": p["attribute"], "auc": _num(p["auc"]), "n": f"{p['n']:,}",
                     "classes": ", ".join(p["classes"]) or "fewer than two",
                     "warn": not math.isnan(p["auc"]) and p["auc"] > audit.proxy_threshold}
                    for p in audit.proxies],
    }
    return template_environment().get_template("audit_fairness.html").render(context)


# -- drift -------------------------------------------------------------------------


def render_drift(audit, max_features: int = 30) -> str:
    """The ``audit drift --out`` page (``audit`` is an ``audit_drift.DriftAudit``)."""
    from stalkrisk.audit.drift import summary_line
    from stalkrisk.report.charts import figure_to_svg, psi_chart

    table = audit.table
    rows = [{"feature": r.feature, "psi": _num(r.psi), "missing_ref": _num(r.missing_ref, "{:.1%}"),
             "missing_now": _num(r.missing_now, "{:.1%}"), "drifted": bool(r.drifted)}
            for r in table.itertuples(index=False)]
    context = {
        "csp": csp_header(None),
        **model_context(audit.model_info),
        "intro": (f"{audit.n_cases:,} cases compared with the profile of the {audit.n_reference:,} training cases "
                  f"stored with {audit.model_name} version {audit.model_version}."),
        "summary": summary_line(audit),
        "drifted": bool(audit.drifted),
        "psi_threshold": audit.psi_threshold,
        "missing_text": f"{audit.missing_threshold:.0%}",
        "chart_svg": Markup(figure_to_svg(psi_chart(table, audit.psi_threshold, max_features))),
        "shown": min(max_features, len(table)),
        "rows": rows,
    }
    return template_environment().get_template("audit_drift.html").render(context)


def write_page(html: str, path: str | Path) -> Path:
    """Write a rendered page atomically (UTF-8, the parent folder made when needed)."""
    return atomic_write_text(Path(path), html)


__all__ = ["render_case_audit", "render_drift", "render_fairness", "write_page"]
