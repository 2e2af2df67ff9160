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
    }


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
