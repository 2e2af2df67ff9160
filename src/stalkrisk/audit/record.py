"""``stalkrisk audit record``: an Algorithmic Transparency Recording Standard–style record.

UK public bodies publish an ATRS record for algorithmic tools that inform decisions
about the public. Most of it is known to the tool (what it does, how it was trained,
on what data, how it performed, what it must not be used for) and the rest only to
the deploying force (who owns it, contact, impact assessments). This writes tiers 1
and 2 from the model's card, metadata and MLflow run, and marks every field the force
must fill in with the same explicit placeholder, so nothing is silently left blank.
"""

from __future__ import annotations

import json
import logging
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from stalkrisk.io_utils import atomic_write_text

log = logging.getLogger(__name__)

PLACEHOLDER = "TO BE COMPLETED BY THE DEPLOYING FORCE"
STANDARD = "Algorithmic Transparency Recording Standard (ATRS), tiers 1 and 2"
TIER_2_SECTIONS = ("owner_and_responsibility", "description_and_rationale", "decision_making_process",
                   "technical_specification", "data", "impact_assessments", "risks_mitigations")
METRIC_KEYS = ("roc_auc", "pr_auc", "brier", "ece", "precision", "recall", "flag_rate",
               "recall_at_10pct", "baseline_roc_auc_sdash_count", "baseline_roc_auc_logistic_regression",
               "fairness_warnings", "ceiling_roc_auc")


def _run_info(run_id: str) -> dict[str, Any]:
    """Params, metrics and tags of the training run, and its model card (empty when unreachable)."""
    if not run_id:
        return {}
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        log.warning("run %s not found in the tracking store: %s", run_id, exc.message)
        return {}
    info: dict[str, Any] = {
        "run_id": run_id,
        "experiment_id": run.info.experiment_id,
        "start_time": datetime.fromtimestamp(run.info.start_time / 1000, timezone.utc).isoformat(),
        "params": dict(sorted(run.data.params.items())),
        "metrics": dict(sorted(run.data.metrics.items())),
        "tags": {k: v for k, v in sorted(run.data.tags.items()) if not k.startswith("mlflow.")},
    }
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, "model_card/model_card.md", tmp)
            info["model_card"] = Path(path).read_text(encoding="utf-8")
        except Exception:  # an older run without a card: the record still stands
            log.warning("run %s has no model_card/model_card.md artifact", run_id)
    return info


def _folder_card(uri: str) -> str | None:
    for candidate in ("model_card/model_card.md", "model_card.md"):
        path = Path(uri) / candidate
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return None


def _metric_lines(metrics: dict[str, float]) -> dict[str, float]:
    return {k: round(float(metrics[k]), 4) for k in METRIC_KEYS if k in metrics}


NOT_LABELS = ("Reviewers' decisions are never used as training labels: a model trained on them would "
              "learn the under-use of orders that the 2022 super-complaint found, and its own influence.")


def appeals_and_review(db_url: str | None) -> dict[str, Any]:
    """How a flag is challenged and reviewed, with the workbench's decision figures when a database is given."""
    out: dict[str, Any] = {
        "process": ("Each flagged or queued case is decided by a signed-in reviewer in the stalkrisk workbench, "
                    "with a required reason; decisions and the application's outcome are appended, never "
                    "overwritten, with the model version, score and queue reason the reviewer saw. "
                    "`stalkrisk audit decisions` reports override rates, reasons and signs of automation bias."),
        "decisions_as_labels": NOT_LABELS,
    }
    if db_url:
        from stalkrisk.workbench.audit_decisions import audit_decisions
        from stalkrisk.workbench.db import open_database
        from stalkrisk.workbench.decisions import decisions_frame

        audit = audit_decisions(decisions_frame(open_database(db_url)))
        overrides = audit.overrides
        out["decision_figures"] = {
            "decision_records": audit.records, "cases_decided": audit.cases,
            "flagged_cases_decided": overrides.get("n", 0), "agreed": overrides.get("agreed", 0),
            "overridden": overrides.get("overridden", 0), "pending": overrides.get("pending", 0),
            "override_rate": overrides.get("override_rate"),
            "commonest_override_reasons": [f"{reason} ({n})" for reason, n in audit.override_reasons[:5]],
            "median_days_to_decision": audit.days_to_decision.get("median"),
            "automation_bias": audit.automation_bias,
        }
    return out


def transparency_record(model_uri: str, db_url: str | None = None) -> dict[str, Any]:
    """The ATRS-style record of a model (registry URI or exported folder) as a JSON-able dict;
    with ``db_url``, the workbench's decision figures under ``appeals_and_review``."""
    from stalkrisk import __version__
    from stalkrisk.data.contract import PROTECTED_ATTRIBUTES
    from stalkrisk.tracking import registry as tracking

    loaded = tracking.load_model(model_uri)
    model, meta = loaded.model, loaded.model.meta
    run = _run_info(loaded.run_id)
    card = run.get("model_card") or (_folder_card(model_uri) if Path(model_uri).exists() else None)
    metrics = meta.metrics or run.get("metrics") or {}
    label = meta.label_description or "a harm outcome within the horizon"
    counts, split = meta.counts, meta.split
    policy = meta.flag_policy
    used = list(meta.protected_features)
    synthetic = run.get("tags", {}).get("synthetic") == "true"
    params = run.get("params", {})

    tier_1 = {
        "name": f"{loaded.name} (stalkrisk stalking risk screen), version {loaded.version}",
        "description": (
            "Screens a force's caseload of recorded stalking cases and estimates, for each case, the "
            f"probability of {label}. Cases with a course of conduct that score at or above a threshold are "
            "flagged so that a person considers whether to apply for a Stalking Protection Order. Every flag "
            "comes with plain-English reasons; the tool never decides."
        ),
        "website": PLACEHOLDER,
        "contact_email": PLACEHOLDER,
        "organisation": PLACEHOLDER,
        "phase": PLACEHOLDER,
    }
    tier_2 = {
        "owner_and_responsibility": {
            "organisation": PLACEHOLDER,
            "team": PLACEHOLDER,
            "senior_responsible_owner": PLACEHOLDER,
            "external_supplier": PLACEHOLDER,
            "model_registry": {"name": loaded.name, "version": str(loaded.version), "uri": loaded.uri,
                               "mlflow_run_id": loaded.run_id or "not recorded"},
        },
        "description_and_rationale": {
            "detailed_description": (
                "Gradient-boosted trees (LightGBM) over features computed as of each case's assessment date "
                "(relationship, frequency and escalation of contact, threats, violence, order breaches, the "
                "suspect's history, the victim's fear). The score is Platt-calibrated; exact TreeSHAP "
                "contributions, grouped into reasons, add up to the logit of every score."
            ),
            "scope": "Recorded stalking and harassment cases in England and Wales, screened in batch.",
            "benefit": ("Stalking Protection Orders are under-used (2022 super-complaint); the screen puts the "
                        "cases most likely to meet the tests, with reasons, in front of a reviewer."),
            "previous_process": PLACEHOLDER,
            "alternatives_considered": (
                "The S-DASH indicator count and a logistic regression, evaluated on the same test slice: "
                + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if k.startswith("baseline_roc_auc"))
                + (f"; this model ROC-AUC {metrics['roc_auc']:.3f}" if "roc_auc" in metrics else "")
            ),
        },
        "decision_making_process": {
            "process_integration": ("Analysts run `stalkrisk score` over the caseload; flagged cases get a "
                                    "review page for a human reviewer."),
            "provided_information": ("Per case: score, risk band, course-of-conduct test, the flag, the three "
                                     "strongest reasons, the full contribution table and a timeline."),
            "human_decisions_and_review": (
                "The flag is a prompt to consider an order. Whether the statutory tests (acts associated with "
                "stalking, a risk of stalking-related harm, necessity) are met is judged by people. " + NOT_LABELS),
            "flag_policy": {**policy, "threshold": round(float(model.threshold), 6)},
            "frequency_and_scale_of_usage": PLACEHOLDER,
            "required_training": PLACEHOLDER,
            "appeals_and_review": appeals_and_review(db_url),
        },
        "technical_specification": {
            "system_architecture": ("Python package `stalkrisk`; MLflow tracking and model registry; "
                                    "self-contained HTML review pages; no network access at scoring time."),
            "model": {
                "type": "LightGBM binary classifier with monotone constraints, Platt calibration",
                "trees": int(model.booster.num_trees()),
                "max_depth": meta.max_depth,
                "features": len(model.feature_names),
                "protected_attributes_used_as_features": used or "none",
                "explanations": f"exact TreeSHAP ({meta.explain_method}) in calibrated log-odds",
                "artifact_sha256": loaded.digest,
            },
            "performance_on_test_slice": _metric_lines(metrics),
            "training_run": {
                "mlflow_run_id": loaded.run_id or "not recorded",
                "started": run.get("start_time", "not recorded"),
                "params": params,
                "tags": run.get("tags", {}),
            },
            "maintenance": ("Re-validate with `stalkrisk audit drift` and `stalkrisk audit fairness` on each new "
                            "caseload; retrain and re-promote through the registry. " + PLACEHOLDER + " (schedule)."),
            "stalkrisk_version": __version__,
        },
        "data": {
            "source_data_name": "the force's case-history export (cases and events tables, shared data contract)",
            "data_modality": "tabular",
            "data_description": (f"label: {label}; out-of-time split by assessment date"
                                 + (" — trained on GENERATED (synthetic) data" if synthetic else "")),
            "data_quantities": {"cases": counts.get("cases"), "censored": counts.get("censored"),
                                "split": split},
            "sensitive_attributes": (
                f"protected attributes read for the fairness audit only: {', '.join(PROTECTED_ATTRIBUTES)}"
                + (f"; used as features by explicit config: {', '.join(used)}" if used else "; none is a feature")),
            "data_completeness_and_representativeness": (
                "Recorded events reflect what was reported and recorded; under-reporting differs between groups "
                "and over time. " + PLACEHOLDER + " (assessment for the force's own data)."),
            "data_cleaning": ("Every row is validated against the data contract (Great Expectations suites); "
                              "failing cases are quarantined and listed, never dropped silently."),
            "data_collection": PLACEHOLDER,
            "data_sharing_agreements": PLACEHOLDER,
            "data_access_and_storage": PLACEHOLDER,
        },
        "impact_assessments": {
            "data_protection_impact_assessment": PLACEHOLDER,
            "equality_impact_assessment": PLACEHOLDER,
            "fairness_at_training": (f"{int(metrics.get('fairness_warnings', 0))} gap(s) beyond the tolerances of "
                                     "configs/fairness.yaml on the test slice (see the model card)"
                                     if "fairness_warnings" in metrics else "not recorded"),
        },
        "risks_mitigations": [
            {"risk": "Automation bias: a reviewer treats the flag as a decision.",
             "mitigation": "Every page says it is a prompt, not a decision; reasons and the full record are shown."},
            {"risk": "Unequal recording or reporting between groups biases scores.",
             "mitigation": "Fairness audit by group with confidence intervals and a proxy check; tolerances gate promotion."},
            {"risk": "The caseload drifts from the training data.",
             "mitigation": "Drift audit (PSI per feature) against the profile stored with the model."},
            {"risk": "Unexplained or irreproducible scores.",
             "mitigation": "Exact additive explanations; `stalkrisk audit verify` reproduces any run byte for byte."},
            {"risk": "Missed cases (false negatives): an unflagged case may still need an order.",
             "mitigation": "The flag never removes a case from normal handling. " + PLACEHOLDER + " (local process)."},
        ],
    }
    return {
        "standard": STANDARD,
        "generated_by": f"stalkrisk {__version__}",
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "placeholder": PLACEHOLDER,
        "tier_1": tier_1,
        "tier_2": tier_2,
        "sources": {"model_uri": loaded.uri, "model_card": "model_card/model_card.md" if card else "not found",
                    "mlflow_run": bool(run)},
        "model_card_markdown": card,
    }


def _title(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _markdown_value(value: Any, depth: int) -> list[str]:
    pad = "  " * depth
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}- **{_title(k)}**:")
                out += _markdown_value(v, depth + 1)
            else:
                out.append(f"{pad}- **{_title(k)}**: {v if v not in (None, '', {}, []) else 'n/a'}")
        return out
    if isinstance(value, list):
        out = []
        for item in value:
            if isinstance(item, dict):
                out.append(f"{pad}- " + "; ".join(f"{_title(k)}: {v}" for k, v in item.items()))
            else:
                out.append(f"{pad}- {item}")
        return out
    return [f"{pad}{value}"]


def record_markdown(record: dict[str, Any]) -> str:
    """The record as Markdown: tier 1, tier 2 by section, then the model card."""
    lines = [f"# Algorithmic transparency record: {record['tier_1']['name']}", "",
             f"{record['standard']}. Generated by {record['generated_by']} on {record['generated_at']}.",
             f"Fields marked **{PLACEHOLDER}** must be filled in before publication.", "",
             "## Tier 1", ""]
    lines += _markdown_value(record["tier_1"], 0)
    lines += ["", "## Tier 2"]
    for section in TIER_2_SECTIONS:
        lines += ["", f"### {_title(section)}", ""]
        lines += _markdown_value(record["tier_2"][section], 0)
    if record.get("model_card_markdown"):
        card = record["model_card_markdown"].replace("\n# ", "\n### ").replace("\n## ", "\n#### ")
        card = card[2:] if card.startswith("# ") else card
        lines += ["", "## Appendix: the model card", "", "### " + card.strip()]
    return ("\n".join(lines).replace(PLACEHOLDER, f"**{PLACEHOLDER}**") + "\n").replace(
        f"****{PLACEHOLDER}****", f"**{PLACEHOLDER}**")


def write_record(record: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """``atrs_record.json`` and ``atrs_record.md`` in ``out_dir``."""
    out_dir = Path(out_dir)
    paths = {"json": out_dir / "atrs_record.json", "markdown": out_dir / "atrs_record.md"}
    atomic_write_text(paths["json"], json.dumps(record, indent=2, default=str) + "\n")
    atomic_write_text(paths["markdown"], record_markdown(record))
    return paths
