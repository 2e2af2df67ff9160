"""Where the project's data files live: the suites, the model-card template, the configs."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXPECTATIONS_DIR = ROOT / "expectations"
MODELS_DIR = ROOT / "models"
CONFIGS_DIR = ROOT / "configs"
DEFAULT_TRAIN_CONFIG = CONFIGS_DIR / "train.yaml"
DEFAULT_FAIRNESS_CONFIG = CONFIGS_DIR / "fairness.yaml"
