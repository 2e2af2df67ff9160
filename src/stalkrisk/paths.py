"""Where the package's data files live: the suites, the configs, the model-card template.

They ship inside the package (``stalkrisk/resources``), so an installed stalkrisk finds them
without a source checkout beside it.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

RESOURCES = Path(str(files("stalkrisk") / "resources"))
EXPECTATIONS_DIR = RESOURCES / "expectations"
CONFIGS_DIR = RESOURCES / "configs"
TEMPLATES_DIR = RESOURCES
TRAIN_CONFIG_FILE = CONFIGS_DIR / "train.yaml"
FAIRNESS_CONFIG_FILE = CONFIGS_DIR / "fairness.yaml"
QUEUE_CONFIG_FILE = CONFIGS_DIR / "queue.yaml"
