"""The risk domains a model scores: ``risk`` (the flag's score) and one model per domain.

Each outcome is its own monotone LightGBM booster with its own Platt calibration, so each
score keeps exact additive explanations (``base_value + contributions = logit(score)``).
``risk`` lives in ``RiskModel`` itself (``booster``, ``platt_a``, ``platt_b``: what the flag,
bands and queue read, as before the domains); the domains (``persistence``, ``harm``) are
``OutcomeModel``s beside it, saved as ``booster_<outcome>.txt`` next to ``booster.txt``.
A model trained before the domains has none and scores ``risk`` alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb

#: Every outcome stalkrisk scores, in the order of the outputs (``score``, ``score_<domain>``).
OUTCOMES = ("risk", "persistence", "harm")
DOMAINS = OUTCOMES[1:]


def outcome_order(outcome: str) -> tuple[int, str]:
    """Sort key: the order of ``OUTCOMES``, then any other outcome by name."""
    return (OUTCOMES.index(outcome) if outcome in OUTCOMES else len(OUTCOMES), outcome)


def score_column(outcome: str) -> str:
    """``score`` for ``risk`` (the flag's), else ``score_<outcome>``."""
    return "score" if outcome == "risk" else f"score_{outcome}"


def label_column(outcome: str) -> str:
    """The labels' (and the generator's truth file's) column: ``label`` or ``label_<outcome>``."""
    return "label" if outcome == "risk" else f"label_{outcome}"


def booster_file(outcome: str) -> str:
    return "booster.txt" if outcome == "risk" else f"booster_{outcome}.txt"


@dataclass
class OutcomeModel:
    """One domain's booster and Platt calibration (learned state only)."""

    booster: lgb.Booster
    platt_a: float
    platt_b: float

    def spec(self) -> dict[str, float]:
        return {"platt_a": float(self.platt_a), "platt_b": float(self.platt_b)}


def load_domains(directory: Path, specs: dict[str, Any] | None) -> dict[str, OutcomeModel]:
    """The domain models ``model.json`` lists (``outcomes``), each from its booster file."""
    out = {}
    for name, spec in sorted((specs or {}).items(), key=lambda kv: outcome_order(kv[0])):
        text = (directory / booster_file(name)).read_text(encoding="utf-8")
        out[name] = OutcomeModel(lgb.Booster(model_str=text), float(spec["platt_a"]), float(spec["platt_b"]))
    return out
