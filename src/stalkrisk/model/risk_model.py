"""The risk model: a monotone LightGBM booster with Platt calibration.

Calibrated log-odds are ``a * margin + b``. Because that map is affine, each
TreeSHAP contribution scaled by ``a`` — and the base value ``a * base + b`` —
adds up exactly to the logit of the reported score (design.md). Isotonic
calibration would break that additivity, so it is not used.

A ``RiskModel`` is saved as two plain files, ``booster.txt`` (LightGBM's own
text format) and ``model.json`` (calibration, policy, feature list and
metadata): nothing is pickled, so a model can be read, diffed and audited. The risk domains
(``model.outcomes``) add one ``booster_<outcome>.txt`` each and their calibration in ``model.json``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from stalkrisk.io_utils import atomic_write_text
from stalkrisk.errors import ModelMismatchError
from stalkrisk.model.meta import ModelMeta
from stalkrisk.model.outcomes import OutcomeModel, booster_file, load_domains, outcome_order

BANDS = ("low", "medium", "high", "very_high")
MODEL_FORMAT = 1


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def logit(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return np.log(p) - np.log1p(-p)


@dataclass
class RiskModel:
    """A fitted, calibrated model with its flag policy. Learned state only; no IO but save/load."""

    booster: lgb.Booster
    feature_names: list[str]
    platt_a: float
    platt_b: float
    threshold: float
    band_edges: tuple[float, float, float]
    meta: ModelMeta = field(default_factory=ModelMeta)
    domains: dict[str, OutcomeModel] = field(default_factory=dict)  # persistence, harm (model.outcomes)

    @property
    def outcomes(self) -> tuple[str, ...]:
        """``risk`` and the domains this model scores, in output order (``OUTCOMES``'s; ``model.json``
        keeps its keys sorted)."""
        return ("risk", *sorted(self.domains, key=outcome_order))

    def for_outcome(self, outcome: str) -> RiskModel:
        """This model with ``outcome``'s booster and calibration in the place of ``risk``'s, so that
        everything written for one booster (explanations, margins) serves each domain."""
        if outcome == "risk":
            return self
        domain = self.domains[outcome]
        return replace(self, booster=domain.booster, platt_a=domain.platt_a, platt_b=domain.platt_b, domains={})

    # -- prediction -------------------------------------------------------
    def matrix(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The model's features of ``X`` as a contiguous float64 matrix, in the model's order."""
        if isinstance(X, pd.DataFrame):
            missing = [c for c in self.feature_names if c not in X.columns]
            if missing:
                raise ModelMismatchError(f"feature table lacks the model's features: {missing[:5]}")
            X = X[self.feature_names]
        return np.ascontiguousarray(np.asarray(X, dtype=np.float64))

    def margin(self, X) -> np.ndarray:
        """LightGBM's raw score (uncalibrated log-odds)."""
        return self.booster.predict(self.matrix(X), raw_score=True)

    def calibrated_logit(self, X) -> np.ndarray:
        return self.platt_a * self.margin(X) + self.platt_b

    def predict_proba(self, X) -> np.ndarray:
        """The calibrated probability of the label event within the horizon."""
        return sigmoid(self.calibrated_logit(X))

    def risk_band(self, score: np.ndarray) -> np.ndarray:
        """``low`` / ``medium`` / ``high`` / ``very_high`` by the stored cut-points."""
        idx = np.searchsorted(np.asarray(self.band_edges), np.asarray(score), side="right")
        return np.asarray(BANDS, dtype=object)[idx]

    def check_features(self, expected: list[str]) -> None:
        """Refuse a model built for another feature pipeline."""
        if list(self.feature_names) != list(expected):
            extra = sorted(set(self.feature_names) - set(expected))
            missing = sorted(set(expected) - set(self.feature_names))
            detail = []
            if missing:
                detail.append(f"the pipeline has features the model lacks: {missing[:5]}")
            if extra:
                detail.append(f"the model needs features the pipeline lacks: {extra[:5]}")
            if not detail:
                detail.append("the features are in a different order")
            raise ModelMismatchError(
                "this model does not match the installed feature pipeline ("
                + "; ".join(detail)
                + "); retrain it or install the stalkrisk version it was trained with"
            )

    # -- persistence --------------------------------------------------------
    def to_json_dict(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "feature_names": list(self.feature_names),
            "platt_a": float(self.platt_a),
            "platt_b": float(self.platt_b),
            "threshold": float(self.threshold),
            "band_edges": [float(x) for x in self.band_edges],
            "meta": self.meta.to_dict(),
            **({"outcomes": {name: d.spec() for name, d in self.domains.items()}} if self.domains else {}),
        }

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_text(directory / "booster.txt", self.booster.model_to_string())
        for name, domain in self.domains.items():
            atomic_write_text(directory / booster_file(name), domain.booster.model_to_string())
        atomic_write_text(
            directory / "model.json", json.dumps(self.to_json_dict(), indent=2, sort_keys=True) + "\n"
        )
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> RiskModel:
        directory = Path(directory)
        spec = json.loads((directory / "model.json").read_text(encoding="utf-8"))
        booster = lgb.Booster(model_str=(directory / "booster.txt").read_text(encoding="utf-8"))
        return cls(
            booster=booster,
            feature_names=list(spec["feature_names"]),
            platt_a=float(spec["platt_a"]),
            platt_b=float(spec["platt_b"]),
            threshold=float(spec["threshold"]),
            band_edges=tuple(spec["band_edges"]),
            meta=ModelMeta.from_dict(spec.get("meta")),
            domains=load_domains(directory, spec.get("outcomes")),
        )

    def digest(self) -> str:
        """SHA-256 over the booster text and the JSON spec: the model's identity in audit records."""
        h = hashlib.sha256()
        h.update(self.booster.model_to_string().encode())
        for name in self.outcomes[1:]:  # in a fixed order, however the domains were built
            h.update(self.domains[name].booster.model_to_string().encode())
        h.update(json.dumps(self.to_json_dict(), sort_keys=True).encode())
        return h.hexdigest()


# -- fitting -------------------------------------------------------------------


def booster_params(params: dict, monotone: Sequence[int]) -> dict:
    """LightGBM's parameters: seeded and deterministic, monotone constraints, ``params`` on top."""
    return {
        "verbosity": -1,
        "deterministic": True,
        "force_row_wise": True,
        "monotone_constraints": list(monotone),
        "monotone_constraints_method": "intermediate",
        "metric": "binary_logloss",
        **params,
    }


def booster_datasets(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_valid: np.ndarray,
    y_valid: np.ndarray,
    *,
    feature_names: list[str],
    monotone: Sequence[int],
    params: dict,
) -> tuple[lgb.Dataset, lgb.Dataset]:
    """LightGBM's binned training and validation sets, built now (the validation set on the
    training set's bins), so that building them can happen before, and apart from, training."""
    full = booster_params(params, monotone)
    train = lgb.Dataset(X_train, label=y_train, feature_name=feature_names, params=full, free_raw_data=True)
    valid = lgb.Dataset(X_valid, label=y_valid, reference=train, params=full, free_raw_data=True)
    train.construct()
    valid.construct()
    return train, valid


def train_booster(
    datasets: tuple[lgb.Dataset, lgb.Dataset],
    *,
    num_boost_round: int,
    early_stopping_rounds: int,
    callbacks: Sequence[Callable] = (),
) -> lgb.Booster:
    """Boost on ``booster_datasets``, with the parameters they were binned with, stopping
    early on the validation set.

    ``callbacks`` are LightGBM callbacks added to early stopping (progress, say).
    """
    train, valid = datasets
    return lgb.train(
        dict(train.params),
        train,
        num_boost_round=num_boost_round,
        valid_sets=[valid],
        valid_names=["valid"],
        callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False), *callbacks],
    )


def fit_booster(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_valid: np.ndarray,
    y_valid: np.ndarray,
    *,
    feature_names: list[str],
    monotone: list[int],
    params: dict,
    num_boost_round: int,
    early_stopping_rounds: int,
    callbacks: Sequence[Callable] = (),
) -> lgb.Booster:
    """Seeded, deterministic LightGBM with monotone constraints and early stopping:
    ``booster_datasets`` then ``train_booster``."""
    datasets = booster_datasets(X_train, y_train, X_valid, y_valid, feature_names=feature_names,
                                monotone=monotone, params=params)
    return train_booster(datasets, num_boost_round=num_boost_round, early_stopping_rounds=early_stopping_rounds,
                         callbacks=callbacks)


def fit_platt(margin: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling: logistic regression of the label on the booster's margin."""
    lr = LogisticRegression(C=1e6, solver="lbfgs", max_iter=1000)
    lr.fit(np.asarray(margin, dtype=float).reshape(-1, 1), np.asarray(y))
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def choose_band_edges(p_valid: np.ndarray, quantiles: list[float]) -> tuple[float, float, float]:
    """Risk-band cut-points at quantiles of the validation scores (made strictly increasing)."""
    edges = np.quantile(np.asarray(p_valid, dtype=float), quantiles)
    for i in range(1, len(edges)):
        edges[i] = max(edges[i], np.nextafter(edges[i - 1], np.inf))
    return tuple(float(e) for e in edges)
