"""The auditor's library: reproduce a score, open one case, check fairness and drift, record.

An auditor must be able to take any scoring output folder and any model and answer,
without trusting the people who ran them: was this output really produced from these
inputs by this model (``verify``)? why was this case flagged, and what would have to be
absent for it not to be (``case``)? does the flag treat groups alike (``fairness``)? has
the caseload moved since training (``drift``)? and what would a public transparency
record say (``record``)? Each question lives in its own module; this one holds what
they share — reading ``audit.json``, loading the recorded model, scoring a caseload —
and the faithfulness check of the explanations against the generator's mechanism.

The public entry points are re-exported here lazily (``stalkrisk.audit.rescore.verify`` ...),
so importing this module stays cheap and the sub-modules may import it freely.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from stalkrisk.errors import AuditError
from stalkrisk.outputs.reader import read_audit_record

log = logging.getLogger(__name__)



# -- the scoring run's record ------------------------------------------------------


def recorded_model_uri(record: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The URI that loads exactly the model a run recorded, and notes for the auditor.

    An exported folder is its path. A registry URI whose alias has since moved to
    another version is replaced by ``models:/NAME/VERSION`` of the recorded version.
    """
    model = record["model"]
    uri, name, version = str(model["uri"]), str(model.get("name", "")), str(model.get("version", ""))
    notes: list[str] = []
    if uri.startswith("models:/") and "@" in uri and name and version not in ("", "local"):
        from stalkrisk.tracking import registry as tracking

        tracking.configure()
        try:
            _, now, _ = tracking._resolve_registry(uri)
        except tracking.RegistryError:
            now = None
        if now != version:
            pinned = f"models:/{name}/{version}"
            where = "no longer resolves" if now is None else f"now points to version {now}"
            notes.append(f"{uri} {where}; loading the recorded version {pinned} instead")
            uri = pinned
    return uri, notes


def load_recorded_model(record: Mapping[str, Any]):
    """(LoadedModel, notes) for the model a run recorded (see :func:`recorded_model_uri`)."""
    from stalkrisk.tracking import registry as tracking

    uri, notes = recorded_model_uri(record)
    return tracking.load_model(uri), notes


# -- scoring a caseload for the fairness and drift audits --------------------------


@dataclass
class ScoredCaseload:
    """Valid cases of two contract files, their features, score and flag under one model."""

    loaded: Any  # tracking.LoadedModel
    cases: pd.DataFrame  # valid, normalised cases
    events: pd.DataFrame  # their valid events
    features: pd.DataFrame  # case_id + the model's features, one row per valid case
    score: np.ndarray
    flag: np.ndarray
    quarantined: int


def score_caseload(loaded, cases: str | Path, events: str | Path, *, orders: str | Path | None = None,
                   history: str | Path | None = None) -> ScoredCaseload:
    """Validate, build features, score and flag, as ``stalkrisk score`` does (no explanations):
    with the orders table the queue reads an SPO in force, and with the history table the prior
    counts are rebuilt as of each day, so the audit judges the flag the run gave."""
    from stalkrisk.features.linking import LinkTable
    from stalkrisk.model.flagging import flag_frame
    from stalkrisk.scoring import features_and_facts
    from stalkrisk.validation.suite import load_and_validate

    model = loaded.model
    validation = load_and_validate(cases, events, orders_path=orders, history_path=history)
    features, facts = features_and_facts(  # linked over every readable case row, as scoring links them
        model, validation.cases, validation.events, validation.orders,
        LinkTable.from_cases(validation.cases_all))
    score = model.predict_proba(features) if len(features) else np.zeros(0)
    flags = flag_frame(model, score, features, facts) if len(features) else pd.DataFrame({"consider_spo": []})
    return ScoredCaseload(
        loaded=loaded,
        cases=validation.cases,
        events=validation.events,
        features=features,
        score=np.asarray(score, dtype=float),
        flag=flags["consider_spo"].to_numpy(dtype=bool),
        quarantined=int(len(validation.quarantine)),
    )


# -- explanation faithfulness ------------------------------------------------------


@dataclass
class Faithfulness:
    """Rank agreement of mean |SHAP| per reason group with the generator's group weights."""

    rho: float
    table: pd.DataFrame  # group, label, mean_abs_shap, mechanism_weight, rank_shap, rank_mechanism
    n_cases: int


def faithfulness(explanation, weights: Mapping[str, float]) -> Faithfulness:
    """Spearman correlation between mean |group contribution| and ``weights``, over the groups
    both know. ``weights`` come from where the caseload is known: for a generated one, the
    generator's ``synth.caseload.MECHANISM_GROUP_WEIGHTS``.

    On generated data the generator's per-group logit terms are the truth; an explainer
    that ranks the groups far from them is not describing the model's real evidence.
    """
    from scipy.stats import spearmanr

    from stalkrisk.explain.reasons import group_contributions
    from stalkrisk.features.registry import GROUPS
    weights = dict(weights)
    keys, grouped = group_contributions(explanation)
    mean_abs = np.abs(grouped).mean(axis=0) if len(grouped) else np.zeros(len(keys))
    rows = [
        {"group": k, "label": GROUPS.get(k, k), "mean_abs_shap": float(mean_abs[i]),
         "mechanism_weight": float(weights[k])}
        for i, k in enumerate(keys) if k in weights
    ]
    table = pd.DataFrame(rows, columns=["group", "label", "mean_abs_shap", "mechanism_weight"])
    table["rank_shap"] = table["mean_abs_shap"].rank(ascending=False, method="average")
    table["rank_mechanism"] = table["mechanism_weight"].rank(ascending=False, method="average")
    table = table.sort_values("mechanism_weight", ascending=False, kind="stable").reset_index(drop=True)
    rho = float(spearmanr(table["mean_abs_shap"], table["mechanism_weight"]).statistic) if len(table) > 2 else float("nan")
    return Faithfulness(rho=rho, table=table, n_cases=int(grouped.shape[0]))


def format_faithfulness(result: Faithfulness) -> str:
    lines = [f"Spearman rank correlation (mean |SHAP| per group vs mechanism weight): {result.rho:.3f} "
             f"over {len(result.table)} groups, {result.n_cases:,} cases"]
    lines.append(f"  {'group':<36}{'mean |SHAP|':>12}{'weight':>9}{'rank':>6}{'rank':>6}")
    for r in result.table.itertuples(index=False):
        lines.append(f"  {r.label:<36}{r.mean_abs_shap:>12.4f}{r.mechanism_weight:>9.3f}"
                     f"{r.rank_shap:>6.1f}{r.rank_mechanism:>6.1f}")
    return "\n".join(lines)


# -- lazy re-exports ---------------------------------------------------------------

_EXPORTS = {
    "verify": "stalkrisk.audit.verify",
    "format_verify": "stalkrisk.audit.verify",
    "case_audit": "stalkrisk.audit.case",
    "format_case_audit": "stalkrisk.audit.case",
    "smallest_removal": "stalkrisk.audit.case",
    "fairness_audit": "stalkrisk.audit.fairness",
    "format_fairness": "stalkrisk.audit.fairness",
    "drift_audit": "stalkrisk.audit.drift",
    "format_drift": "stalkrisk.audit.drift",
    "transparency_record": "stalkrisk.audit.record",
    "write_record": "stalkrisk.audit.record",
}

__all__ = [
    "AuditError", "Faithfulness", "ScoredCaseload", "faithfulness", "format_faithfulness",
    "load_recorded_model", "read_audit_record", "recorded_model_uri", "score_caseload", *_EXPORTS,
]


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
