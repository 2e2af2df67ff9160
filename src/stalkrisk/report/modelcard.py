"""The model card, from the template in ``models/``, as Markdown and self-contained HTML."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import jinja2
import markdown as md

from stalkrisk.config import flag_setting
from stalkrisk.data.contract import PROTECTED_ATTRIBUTES
from stalkrisk.features.registry import FEATURES
from stalkrisk.model.labels import describe_domain
from stalkrisk.paths import TEMPLATES_DIR

HEADLINE = (
    ("ROC-AUC", "roc_auc"), ("PR-AUC", "pr_auc"), ("Brier score", "brier"),
    ("Expected calibration error", "ece"), ("Log loss", "log_loss"),
    ("Precision at threshold", "precision"), ("Recall at threshold", "recall"),
    ("False-negative rate", "fnr"), ("Flag rate", "flag_rate"),
    ("Recall at 5% review capacity", "recall_at_5pct"),
    ("Recall at 10% review capacity", "recall_at_10pct"),
    ("Recall at 20% review capacity", "recall_at_20pct"),
    ("Ceiling ROC-AUC (generator's true probabilities)", "ceiling_roc_auc"),
    ("Share of the ceiling", "share_of_ceiling"),
)

HTML_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body{{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b;line-height:1.5}}
table{{border-collapse:collapse;margin:1rem 0}}th,td{{border:1px solid #b1b4b6;padding:.3rem .6rem;text-align:left;vertical-align:top}}
th{{background:#f3f2f1}}code{{background:#f3f2f1;padding:0 .2rem}}h1{{border-bottom:4px solid #1d70b8}}h2{{margin-top:2rem;border-bottom:1px solid #b1b4b6}}
@media print{{body{{max-width:none}}}}
</style></head><body>
{body}
</body></html>
"""


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _label_samples(rows: list[dict[str, Any]], metrics: dict[str, float], counts: dict[str, int]) -> list[dict[str, Any]]:
    """Baseline rows, the logistic regression's named with the training sample it was fitted on."""
    used = metrics.get("baseline_logistic_rows")
    if used is None or "train_cases" not in counts:
        return rows
    name = f"logistic regression (fitted on {used:,.0f} of {counts['train_cases']:,} training cases)"
    return [{**row, "score": name} if row["score"] == "logistic regression" else row for row in rows]


def policy_text(policy: dict[str, Any]) -> str:
    """The flag policy in words, naming only the setting that applies (``config.flag_setting``,
    as ``choose_threshold`` reads it)."""
    kind, setting = flag_setting(policy)
    if kind == "capacity":
        return (f"capacity: the threshold flags the highest-scoring {setting:.0%} "
                "of the validation slice, the share reviewers can take")
    if kind == "recall":
        return f"recall: the threshold finds {setting:.0%} of the validation slice's positive cases"
    return f"probability: a fixed threshold of {setting:.2f}"


def capacity_view(flag_rate: float | None, capacity: dict[str, Any] | None) -> dict[str, Any] | None:
    """The flag rate in people: reviews a month for a force of ``capacity.cases_per_month`` new
    cases, beside the public figure of SPOs made (per force and month)."""
    if not capacity or flag_rate is None or flag_rate != flag_rate:
        return None
    cases = float(capacity.get("cases_per_month", 0))
    public = capacity.get("public_spos") or {}
    months = float(public.get("years", 0)) * 12 * float(public.get("forces", 0))
    return {
        "cases_per_month": f"{cases:,.0f}",
        "flag_rate": f"{flag_rate:.1%}",
        "reviews_per_month": f"{flag_rate * cases:,.0f}",
        "reviews_per_year": f"{flag_rate * cases * 12:,.0f}",
        "spo_orders": f"{float(public.get('orders', 0)):,.0f}",
        "spo_years": f"{float(public.get('years', 0)):.0f}",
        "spo_forces": f"{float(public.get('forces', 0)):.0f}",
        "spos_per_force_month": f"{float(public.get('orders', 0)) / months:.1f}" if months else "n/a",
        "spo_source": " ".join(str(public.get("source", "")).split()),
    }


def rolling_view(rolling) -> dict[str, Any] | None:
    """The rolling-origin report as the card's rows and spread (``training.rolling``)."""
    if rolling is None:
        return None
    from stalkrisk.training.rolling import SPREAD_METRICS

    spread = rolling.spread
    return {
        "gap_days": rolling.gap_days,
        "rows": [{**{k: _fmt(v) for k, v in row.items()}, "test_cases": f"{row['test_cases']:,}",
                  "train_cases": f"{row['train_cases']:,}", "registered": "yes" if row["registered"] else ""}
                 for row in rolling.origins],
        "spread": [(label, *(_fmt(spread[key][k]) for k in ("min", "median", "max")))
                   for key, label in SPREAD_METRICS if key in spread],
        "skipped": rolling.skipped,
    }


def card_context(
    *,
    model,
    name: str,
    version: str,
    run_id: str,
    trained_at: str,
    metrics: dict[str, float],
    baselines,
    fairness_markdown: str,
    fairness_warnings: list[str],
    fairness_uncertain: list[str],
    warnings: list[str],
    inputs: dict[str, str],
    synthetic: bool,
    stalkrisk_version: str,
    comparisons=(),
    rolling=None,
    capacity: dict[str, Any] | None = None,
    fairness_views=None,
    flag_by_relationship=(),
) -> dict[str, Any]:
    by_name = {f.name: f for f in FEATURES}
    families: dict[str, list[str]] = OrderedDict()
    for feat in model.feature_names:
        fam = by_name[feat].family if feat in by_name else "protected (by config)"
        families.setdefault(fam, []).append(feat)
    used = list(model.meta.protected_features)
    return {
        "name": name,
        "version": version,
        "run_id": run_id,
        "trained_at": trained_at,
        "stalkrisk_version": stalkrisk_version,
        "label_description": model.meta.label_description,
        "horizon_days": model.meta.horizon_days,
        "flag_policy": policy_text(model.meta.flag_policy),
        "threshold": model.threshold,
        "counts": model.meta.counts,
        "split": model.meta.split,
        "inputs": inputs,
        "n_trees": model.booster.num_trees(),
        "max_depth": (model.meta.max_depth if model.meta.max_depth != -1 else "n/a"),
        "features": model.feature_names,
        "families": families,
        "protected_left_out": [p for p in PROTECTED_ATTRIBUTES if p not in used],
        "protected_used": used,
        "headline_metrics": [(label, _fmt(metrics.get(key))) for label, key in HEADLINE if key in metrics],
        "warnings": warnings,
        "baselines": [
            {k: _fmt(v) for k, v in row.items()}
            for row in _label_samples(baselines.to_dict(orient="records"), metrics, model.meta.counts)
        ],
        "fairness_markdown": fairness_markdown,
        "fairness_warnings": fairness_warnings,
        "fairness_uncertain": fairness_uncertain,
        "synthetic": synthetic,
        "gap_days": model.meta.gap_days or 0,
        "comparisons": [{"baseline": c.baseline, "text": c.text(), "n_boot": c.n_boot,
                         "verdict": c.verdict()} for c in comparisons],
        "rolling": rolling_view(rolling),
        "capacity": capacity_view(metrics.get("flag_rate_with_conduct_gate"), capacity),
        "fairness_views": fairness_views_context(fairness_views),
        **flag_figures(model, metrics, flag_by_relationship),
    }


def flag_figures(model, metrics: dict[str, float], by_relationship) -> dict[str, Any]:
    """The card's per-domain table, the real flag's figures (the course-of-conduct gate: the queue's
    ``consider_spo`` without order state) and the flag per relationship type."""
    specs = (model.meta.label or {}).get("outcomes") or {}
    domains = []
    for outcome in getattr(model, "outcomes", ("risk",)):
        key = f"{outcome}_" if outcome != "risk" else ""
        domains.append({
            "outcome": outcome,
            "column": "score" if outcome == "risk" else f"score_{outcome}",
            "what": ("persistence or harm (the flag's score)" if outcome == "risk" and specs
                     else describe_domain(specs[outcome]) if outcome in specs else model.meta.label_description),
            **{m: _fmt(metrics.get(f"{outcome}_{m}")) for m in ("positive_rate", "roc_auc", "pr_auc", "brier")},
            "ceiling": _fmt(metrics.get(f"{key}ceiling_roc_auc")),
            "share": _fmt(metrics.get(f"{key}share_of_ceiling")),
        })
    real_flag = [(label, _fmt(metrics.get(k))) for label, k in (
        ("Flag rate (threshold and course of conduct)", "flag_rate_with_conduct_gate"),
        ("Precision of the flag", "precision_at_flag"), ("Recall of the flag", "recall_at_flag"),
        ("Recall at the threshold alone (no gate)", "recall")) if k in metrics]
    groups = [{"group": r["group"].replace("_", " "), "cases": f"{r['cases']:,}", "positives": f"{r['positives']:,}",
               "flag_rate": _fmt(r["flag_rate"]), "precision": _fmt(r["precision"]), "recall": _fmt(r["recall"])}
              for r in by_relationship or ()]
    return {"domains": domains, "real_flag": real_flag, "flag_by_relationship": groups}


def render_markdown(context: dict[str, Any], template_dir: Path = TEMPLATES_DIR) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    return env.get_template("model_card.md.j2").render(**context)


def render_html(markdown_text: str, title: str) -> str:
    """Self-contained HTML: inline CSS, no external assets; raw HTML in the Markdown is escaped."""
    converter = md.Markdown(extensions=["tables"], output_format="html")
    converter.preprocessors.deregister("html_block")
    converter.inlinePatterns.deregister("html")
    body = converter.convert(markdown_text)
    return HTML_PAGE.format(title=jinja2.utils.markupsafe.escape(title), body=body)


FAIRNESS_COLUMNS = (
    ("count", "cases", "{:,.0f}"),
    ("flag_rate", "flag rate", "{:.3f}"),
    ("false_negative_rate", "FNR", "{:.3f}"),
    ("false_positive_rate", "FPR", "{:.3f}"),
    ("precision", "precision", "{:.3f}"),
    ("mean_score", "mean score", "{:.3f}"),
    ("observed_rate", "observed rate", "{:.3f}"),
)


def fairness_markdown(report) -> str:
    """The fairness report's group table as Markdown, one table per attribute."""
    parts = []
    cols = [c for c in FAIRNESS_COLUMNS if c[0] in report.by_group.columns]
    for attribute in report.attributes:
        rows = report.by_group.loc[report.by_group["attribute"] == attribute]
        parts.append(f"**{attribute.replace('_', ' ')}**\n")
        parts.append("| group | " + " | ".join(c[1] for c in cols) + " |")
        parts.append("|---|" + "---|" * len(cols))
        for r in rows.to_dict(orient="records"):
            cells = ["n/a" if r[k] is None or r[k] != r[k] else fmt.format(r[k]) for k, _, fmt in cols]
            small = " (too small to judge)" if r.get("small") else ""
            parts.append(f"| {r['group']}{small} | " + " | ".join(cells) + " |")
        parts.append("")
    return "\n".join(parts)


def _interval(row: dict[str, Any], metric: str) -> str:
    value, low, high = row.get(metric), row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
    if value is None or value != value:
        return "n/a"
    if low is None or low != low:
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def calibration_markdown(report) -> str:
    """Calibration by group: the mean score against the observed rate, with 95% intervals; a group
    whose interval of (observed - predicted) excludes zero is over- or under-predicted."""
    if "calibration_gap" not in report.by_group.columns:
        return ""
    lines = ["| attribute | group | cases | predicted (mean score) | observed rate [95%] | observed − predicted [95%] | reading |",
             "|---|---|---|---|---|---|---|"]
    for r in report.by_group.to_dict(orient="records"):
        if r.get("small"):
            continue
        low, high = r.get("calibration_gap_ci_low"), r.get("calibration_gap_ci_high")
        reading = ("under-predicted" if low is not None and low > 0 else
                   "over-predicted" if high is not None and high < 0 else "within noise")
        lines.append(f"| {r['attribute'].replace('_', ' ')} | {r['group']} | {r['count']:,.0f} | {r['mean_score']:.3f} | "
                     f"{_interval(r, 'observed_rate')} | {_interval(r, 'calibration_gap')} | {reading} |")
    return "\n".join(lines) + "\n"


def gaps_markdown(report, metrics=("flag_rate", "false_negative_rate")) -> str:
    """One line per (attribute, metric) gap of a reported view: the groups at each end, the
    difference and ratio with their 95% intervals, and whether the groups' intervals overlap."""
    if report.gaps.empty:
        return ""
    lines = ["| view | metric | highest group | lowest group | difference [95%] | ratio [95%] | intervals |",
             "|---|---|---|---|---|---|---|"]
    for r in report.gaps.to_dict(orient="records"):
        if r["metric"] not in metrics or r.get("max_group") is None:
            continue
        overlap = r.get("intervals_overlap")
        lines.append(f"| {r['attribute'].replace('_', ' ')} | {r['metric'].replace('_', ' ')} | "
                     f"{r['max_group']} ({r['max_value']:.3f}) | {r['min_group']} ({r['min_value']:.3f}) | "
                     f"{_interval(r, 'difference')} | {_interval(r, 'ratio')} | "
                     f"{'n/a' if overlap is None else ('overlap' if overlap else '**apart**')} |")
    return "\n".join(lines) + "\n" if len(lines) > 2 else ""


def mitigation_markdown(table) -> str:
    """The mitigation options beside the flag as trained (``evaluate.mitigation``)."""
    if table is None or table.empty:
        return ""
    lines = ["| attribute | option | flag rate | recall | FNR gap | flag-rate ratio |", "|---|---|---|---|---|---|"]
    for r in table.to_dict(orient="records"):
        lines.append(f"| {r['attribute'].replace('_', ' ')} | {r['option']} | {_fmt(r.get('flag_rate'))} | "
                     f"{_fmt(r.get('recall'))} | {_fmt(r.get('fnr_gap'))} | {_fmt(r.get('flag_rate_ratio'))} |")
    return "\n".join(lines) + "\n"


def fairness_views_context(outcome) -> dict[str, Any]:
    """The card's fairness extras: calibration by group, intersections, per force, mitigation."""
    if outcome is None:
        return {"calibration": "", "views": [], "noted": [], "mitigation": ""}
    views = [(name, gaps_markdown(report), sorted({g for gs in report.small_groups.values() for g in gs}))
             for name, report in outcome.extra.items()]
    return {"calibration": calibration_markdown(outcome.report), "views": views, "noted": outcome.noted,
            "mitigation": mitigation_markdown(outcome.mitigation)}
