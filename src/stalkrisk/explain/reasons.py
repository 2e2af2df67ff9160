"""Exact explanations in calibrated log-odds, grouped into plain-English reasons.

Contributions are exact path-dependent TreeSHAP values of the booster's margin
(stalkrisk's fast implementation, or LightGBM's ``pred_contrib`` as the
reference), scaled by the Platt slope ``a``; the base value is ``a * base + b``.
So for every case ``base_value + sum(contributions) == logit(score)``.

Reasons sum contributions by the registry's reason groups (threats in 7, 30,
90 and 365 days are one reason) and describe each group by its strongest
feature's template and value. Protected attributes never give a reason.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from stalkrisk.features.registry import FEATURES, FEATURES_BY_NAME, GROUPS, Feature
from stalkrisk.model.risk_model import RiskModel

METHODS = ("fast", "pred_contrib")


@dataclass(frozen=True)
class Explanation:
    """Contributions for a batch of cases, in calibrated log-odds."""

    feature_names: list[str]
    contributions: np.ndarray  # (n, p)
    base_value: float

    def logit(self) -> np.ndarray:
        return self.base_value + self.contributions.sum(axis=1)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"explanation method must be one of {METHODS}, not {method!r}")


def raw_contributions(model: RiskModel, X: np.ndarray, method: str = "fast") -> np.ndarray:
    """(n, p+1) TreeSHAP values of the margin; the last column is the expected value."""
    _check_method(method)
    if method == "fast":
        return _fast_explainer(model.booster).shap_values(X)
    return np.asarray(model.booster.predict(X, pred_contrib=True), dtype=np.float64)


def margins(booster, X: np.ndarray, method: str = "fast") -> np.ndarray:
    """Raw scores (uncalibrated log-odds) of the rows of ``X``, as scoring computes them.

    The fast path adds up the exact contributions (``FastTreeShap.margins``), which is
    quicker than LightGBM's own ``predict`` on the default model and agrees with it to about
    1e-14. Exact ``pred_contrib`` is far slower, so that method uses ``predict``.
    """
    _check_method(method)
    if method == "fast":
        return _fast_explainer(booster).margins(X)
    return np.asarray(booster.predict(X, raw_score=True), dtype=np.float64)


#: The fast explainer of each live booster, built once (its tables take a moment). Keyed by
#: the booster itself, weakly: an ``id`` could be reused by a later booster once one is freed.
_EXPLAINERS: "weakref.WeakKeyDictionary[object, object]" = weakref.WeakKeyDictionary()


def _fast_explainer(booster):
    from stalkrisk.explain.treeshap import FastTreeShap

    explainer = _EXPLAINERS.get(booster)
    if explainer is None:
        explainer = _EXPLAINERS[booster] = FastTreeShap(booster)
    return explainer


def explain(model: RiskModel, features: pd.DataFrame | np.ndarray, method: str = "fast") -> Explanation:
    """Calibrated contributions for every row of ``features`` (a frame, or ``model.matrix`` of one).

    The contributions are scaled in place and kept as a view of the raw array (its last
    column, the expected value, left out): a second ``(n, p)`` array per outcome would cost
    its allocation and page faults on every part of a run."""
    X = model.matrix(features)
    raw = raw_contributions(model, X, method)
    base = float(raw[0, -1]) if len(raw) else float(model.booster.predict(X[:0], pred_contrib=True).sum())
    contributions = raw[:, :-1]
    contributions *= model.platt_a
    return Explanation(
        feature_names=list(model.feature_names),
        contributions=contributions,
        base_value=model.platt_a * base + model.platt_b,
    )


def explain_outcomes(model: RiskModel, features: pd.DataFrame, method: str = "fast") -> dict[str, Explanation]:
    """``explain`` for every outcome the model scores (``model.outcomes``: risk, then the domains),
    from one feature matrix (the outcomes' boosters read the same features)."""
    X = model.matrix(features)
    return {name: explain(model.for_outcome(name), X, method=method) for name in model.outcomes}


# -- grouping and reasons --------------------------------------------------------


def feature_specs(feature_names: list[str]) -> list[Feature]:
    """Registry entries for a model's features (protected ones get a placeholder group)."""
    by_name = {f.name: f for f in FEATURES}
    specs = []
    for name in feature_names:
        if name in by_name:
            specs.append(by_name[name])
        else:
            specs.append(
                Feature(name=name, group="protected", family="victim", description=name,
                        template=name.replace("_", " ") + ": {value}")
            )
    return specs


def group_index(feature_names: list[str]) -> tuple[list[str], np.ndarray]:
    """Group keys in registry order and each feature's group position."""
    specs = feature_specs(feature_names)
    keys = [g for g in GROUPS if any(s.group == g for s in specs)]
    if any(s.group == "protected" for s in specs):
        keys.append("protected")
    pos = np.array([keys.index(s.group) for s in specs], dtype=np.int64)
    return keys, pos


def group_contributions(explanation: Explanation) -> tuple[list[str], np.ndarray]:
    """(n, g) contributions summed per reason group; additive like the features."""
    keys, pos = group_index(explanation.feature_names)
    contributions = explanation.contributions
    out = np.zeros((contributions.shape[0], len(keys)))
    for j, g in enumerate(pos):  # column by column, in feature order: the sums are exactly reproducible
        out[:, g] += contributions[:, j]
    return keys, out


@lru_cache(maxsize=200_000)
def _reason_text(group: str, feature_name: str, value: float, raises: bool) -> str:
    """``Label: what the describing feature shows (raises concern)``."""
    label = GROUPS.get(group, group.replace("_", " ").capitalize())
    direction = "raises concern" if raises else "lowers concern"
    spec = FEATURES_BY_NAME.get(feature_name)
    detail = feature_name.replace("_", " ") if spec is None else spec.reason(value)
    if detail.startswith(label + ": "):
        detail = detail[len(label) + 2 :]
    if spec is not None and spec.is_case_fact and value != value:
        # a fact left empty is no evidence either way: "not recorded", never "lowers concern"
        return f"{label}: {detail}"
    return f"{label}: {detail} ({direction})"


def _describing_features(explanation: Explanation, specs: list[Feature], values: np.ndarray, keys: list[str],
                         pos: np.ndarray) -> np.ndarray:
    """Per case and group, the feature that describes the group in its reason.

    Usually the member with the largest absolute contribution. In a one-hot group
    (every member a 0/1 indicator, such as the relationship categories) it is the
    member that is 1, so the reason names what the case is, not what it is not.
    """
    contrib = np.abs(explanation.contributions)
    out = np.zeros((contrib.shape[0], len(keys)), dtype=np.int64)
    for g in range(len(keys)):
        members = np.flatnonzero(pos == g)
        strongest = members[np.argmax(contrib[:, members], axis=1)]
        one_hot = len(members) > 2 and all(specs[m].kind == "bool" for m in members)
        if one_hot:
            hot = values[:, members] == 1.0
            strongest = np.where(hot.any(axis=1), members[np.argmax(hot, axis=1)], strongest)
        out[:, g] = strongest
    return out


def group_reason_texts(
    explanation: Explanation,
    features: pd.DataFrame,
    which: np.ndarray,
    grouped: tuple[list[str], np.ndarray] | None = None,
) -> np.ndarray:
    """Reason texts for groups ``which[i, k]`` of case ``i``: an object array shaped like ``which``.

    Texts are formatted once per distinct (group, feature, value, direction):
    caseload values repeat, so a million cases need a few thousand formats.
    ``grouped`` is ``group_contributions(explanation)`` when the caller has it.
    """
    which = np.asarray(which).reshape(len(features), -1)
    keys, sums = grouped if grouped is not None else group_contributions(explanation)
    _, pos = group_index(explanation.feature_names)
    values = features[explanation.feature_names].to_numpy(dtype=np.float64)
    rows = np.repeat(np.arange(which.shape[0]), which.shape[1])
    g = which.reshape(-1)
    specs = feature_specs(explanation.feature_names)
    j = _describing_features(explanation, specs, values, keys, pos)[rows, g]
    up = sums[rows, g] > 0
    shown = values[rows, j]
    # A "days" feature is told in whole days (Feature.reason floors it): key on what is shown,
    # or every fraction of a day would be a text of its own.
    whole_days = np.array([s.kind == "days" for s in specs], dtype=bool)
    shown = np.where(whole_days[j], np.floor(shown), shown)
    bits = shown.view(np.int64)  # the float's bits: exact, NaN included
    keys_frame = pd.DataFrame({"g": g, "j": j, "bits": bits, "up": up})
    # One hash grouping numbers the distinct keys in order of first appearance and lists them
    # in that order (MultiIndex.factorize builds a tuple per row: 15x slower at a million cases).
    grouping = keys_frame.groupby(list(keys_frame.columns), sort=False)
    code = grouping.ngroup().to_numpy()
    distinct = grouping.size().index
    texts = np.empty(len(distinct), dtype=object)
    for i, (gg, jj, vv, uu) in enumerate(distinct):
        value = float(np.int64(vv).view(np.float64))
        texts[i] = _reason_text(keys[gg], explanation.feature_names[jj], value, bool(uu))
    return texts[code].reshape(which.shape)


def reasons(explanation: Explanation, features: pd.DataFrame, top: int = 3,
            grouped: tuple[list[str], np.ndarray] | None = None) -> list[np.ndarray]:
    """The ``top`` strongest reason groups per case, strongest first, in plain English.

    Groups are ranked by the absolute size of their summed contribution. Protected
    attributes are never a reason. Returns ``top`` object arrays (``reason_1`` ...),
    with empty strings where a case has fewer groups that move its score. ``grouped`` is
    ``group_contributions(explanation)`` when the caller has it.
    """
    keys, grouped = grouped if grouped is not None else group_contributions(explanation)
    allowed = np.array([k != "protected" for k in keys])
    strength = np.where(allowed[None, :], np.abs(grouped), -1.0)
    order = np.argsort(-strength, axis=1, kind="stable")[:, : min(top, len(keys))]
    texts = group_reason_texts(explanation, features, order, grouped=(keys, grouped))
    silent = (~allowed[order]) | (np.take_along_axis(grouped, order, axis=1) == 0.0)
    texts[silent] = ""
    out = [texts[:, k] for k in range(texts.shape[1])]
    while len(out) < top:
        out.append(np.full(grouped.shape[0], "", dtype=object))
    return out
