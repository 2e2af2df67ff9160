"""Batch scoring: a model and a caseload export in, the output folder out.

Every input case appears exactly once, in input order: scored, or
``not_scored`` with the validation reasons. Cases are processed in chunks of
input rows, each with its own events (``partition``), so memory stays flat.
Files are written under temporary names and renamed when complete, and
``audit.json`` is written last: an interrupted run never leaves files that
look finished. The same inputs and model give byte-identical
``scores`` and ``explanations``. Each outcome the model scores (``risk``, the flag's ``score``,
and the risk domains: ``model.outcomes``) is explained exactly; the explanations are written
wide (``explain.wide``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from stalkrisk.explain import reasons as explain_mod
from stalkrisk.explain.wide import wide_table
from stalkrisk.features.build import build_with_facts
from stalkrisk.features.linking import LinkTable, linked_counts
from stalkrisk.features.orders_asof import orders_as_of
from stalkrisk.model.flagging import flag_frame
from stalkrisk.model.outcomes import DOMAINS, score_column
from stalkrisk.model.risk_model import RiskModel
from stalkrisk.outputs.schema import REASON_COLUMNS, SCORE_COLUMNS

log = logging.getLogger(__name__)

#: Case columns (contract v2) the queue's triggers may name, beside the features and facts.
CASE_FACTS = ("suspect_weapon_access", "suspect_mental_health_concern")


def _score(model: RiskModel, features: pd.DataFrame, method: str, facts: pd.DataFrame | None = None,
           ) -> tuple[pd.DataFrame, dict[str, explain_mod.Explanation], tuple[list[str], np.ndarray]]:
    explanations = explain_mod.explain_outcomes(model, features, method=method)
    explanation = explanations["risk"]
    score = 1.0 / (1.0 + np.exp(-explanation.logit()))
    out = pd.DataFrame({"score": score})
    for name in DOMAINS:  # a model without the domain (trained before them) leaves its score empty
        e = explanations.get(name)
        out[score_column(name)] = np.full(len(score), np.nan) if e is None else 1.0 / (1.0 + np.exp(-e.logit()))
    if "case_id" in features.columns:
        out.insert(0, "case_id", features["case_id"].to_numpy())
    out = pd.concat([out, flag_frame(model, score, features, facts)], axis=1)
    grouped = explain_mod.group_contributions(explanation)  # once: the reasons and the pages read it
    for name, text in zip(REASON_COLUMNS, explain_mod.reasons(explanation, features, top=len(REASON_COLUMNS),
                                                              grouped=grouped)):
        out[name] = text
    return out, explanations, grouped


def score_features(model: RiskModel, features: pd.DataFrame, method: str = "fast") -> pd.DataFrame:
    """Score, band, flag, queue and reasons for a feature table (the pyfunc's ``predict``: the
    queue sees the features alone, so no order state and no trigger on other facts)."""
    return _score(model, features, method)[0]


@dataclass
class ChunkResult:
    scores: pd.DataFrame  # case_id, score(s), risk_band, course_of_conduct, consider_spo, queue, reasons
    explanations: pa.Table  # the wide table (``explain.wide``)
    features: pd.DataFrame
    explanation: explain_mod.Explanation  # risk's: what reasons, the flag and the queue read
    facts: pd.DataFrame | None = None  # the act facts and the orders in force, per case
    links: LinkTable | None = None  # the suspects' cases the linking read (review pages list them)
    outcome_explanations: dict[str, explain_mod.Explanation] | None = None  # every outcome's, risk first
    grouped: tuple[list[str], np.ndarray] | None = None  # risk's reason groups and their sums per case


def case_facts(cases: pd.DataFrame, acts: pd.DataFrame, orders: pd.DataFrame | None) -> pd.DataFrame:
    """What the queue reads beyond the features: the builder's act facts, the orders in force
    as of each assessment day (``features.orders_asof``) and the case columns it may name."""
    state = orders_as_of(cases, orders)
    own = pd.DataFrame({c: (cases[c].to_numpy() if c in cases else pd.array([pd.NA] * len(cases), dtype="boolean"))
                        for c in CASE_FACTS})
    return pd.concat([acts.reset_index(drop=True), state, own], axis=1)


def features_and_facts(model: RiskModel, cases: pd.DataFrame, events: pd.DataFrame,
                       orders: pd.DataFrame | None, links: LinkTable) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The features the model reads and the facts the queue reads, for valid cases: what scoring
    and the audits' re-scoring share, so their flags cannot drift apart."""
    features, acts = build_with_facts(cases, events, protected=model.meta.protected_features, links=links)
    return features, case_facts(cases, acts, orders)


def score_chunk(
    model: RiskModel, cases: pd.DataFrame, events: pd.DataFrame, method: str = "fast",
    orders: pd.DataFrame | None = None,
    progress: Callable[[int], object] | None = None,
    links: LinkTable | None = None,
) -> ChunkResult:
    """Features, explanation, score, flag, queue and reasons for one chunk of valid cases.

    ``orders``: the valid rows of the orders table (any cases'; those naming a case of the
    chunk or its suspect apply), or None when no orders table was given. ``progress(n)`` is
    told of the chunk's cases in three steps (features, scores, the wide table) adding up to
    ``len(cases)``, so a bar moves within a caseload of one chunk. ``links``: the linking table
    of the whole caseload (``features.linking``); by default the chunk's own cases.
    """
    step = progress or (lambda n: None)
    third = len(cases) // 3
    links = links if links is not None else LinkTable.from_cases(cases)
    features, facts = features_and_facts(model, cases, events, orders, links)
    step(third)
    scored, explanations, grouped = _score(model, features, method, facts)
    scored.insert(scored.columns.get_loc("queue_reason") + 1, "linked_cases", linked_counts(features))
    step(third)
    wide = wide_table(explanations, features["case_id"])
    step(len(cases) - 2 * third)
    return ChunkResult(scores=scored, explanations=wide, features=features, explanation=explanations["risk"],
                       facts=facts, links=links, outcome_explanations=explanations, grouped=grouped)


def assemble_scores(
    cases_all: pd.DataFrame,
    quarantine: pd.DataFrame,
    scored: pd.DataFrame,
    model_name: str,
    model_version: str,
) -> pd.DataFrame:
    """One row per input case, in input order; not-scored rows carry their reasons.

    ``scored`` holds unique case ids (validation quarantines duplicates), so a
    left join on the input's case ids keeps every input row exactly once.
    Quarantine reasons are joined by the row's line in the file, so two rows
    sharing a case id each get their own reasons.
    """
    ids = pd.DataFrame({"case_id": cases_all["case_id"].astype(object).to_numpy()})
    out = ids.merge(scored, on="case_id", how="left", sort=False, validate="many_to_one")
    is_scored = out["score"].notna().to_numpy()
    reasons = pd.Series(quarantine["reasons"].to_numpy(), index=quarantine["line"].to_numpy()) if len(quarantine) else pd.Series(dtype=object)
    looked_up = pd.Series(cases_all["_line"].map(reasons).to_numpy(dtype=object))
    fallback = "the case row failed validation (see the validation report)"
    out["status"] = np.where(is_scored, "scored", "not_scored")
    out["not_scored_reason"] = np.where(is_scored, "", looked_up.fillna(fallback).to_numpy(dtype=object))
    for name in REASON_COLUMNS + ("queue", "queue_reason"):
        out[name] = out[name].where(is_scored, "")
    for name in ("course_of_conduct", "consider_spo"):
        out[name] = out[name].astype("boolean")
    out["linked_cases"] = out["linked_cases"].astype("Int64")  # empty for a case not scored
    for name in DOMAINS:  # scores of a caller that scored risk alone: the domains left empty
        if score_column(name) not in out:
            out[score_column(name)] = np.nan
    out["model_name"] = model_name
    out["model_version"] = model_version
    return out[list(SCORE_COLUMNS)]
