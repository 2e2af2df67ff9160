"""Training configuration: YAML files over built-in defaults.

The defaults are the packaged ``resources/configs/*.yaml`` files, read as data, so a run without
a config file is still fully described: the resolved config is logged to MLflow and stored with
the model.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from stalkrisk.errors import ConfigError
from stalkrisk.model.supported import check_params
from stalkrisk.paths import FAIRNESS_CONFIG_FILE, TRAIN_CONFIG_FILE

def _packaged(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


#: The defaults are the packaged config files themselves: one home, read as data.
DEFAULT_TRAIN_CONFIG: dict[str, Any] = _packaged(TRAIN_CONFIG_FILE)
DEFAULT_FAIRNESS_CONFIG: dict[str, Any] = _packaged(FAIRNESS_CONFIG_FILE)


def flag_setting(flag_config: dict[str, Any]) -> tuple[str, float]:
    """The flag policy and the one setting it reads, defaults from ``DEFAULT_TRAIN_CONFIG``.

    Any policy other than ``capacity`` or ``recall`` is read as ``probability``.
    """
    defaults = DEFAULT_TRAIN_CONFIG["flag"]
    policy = flag_config.get("policy", defaults["policy"])
    if policy not in ("capacity", "recall"):
        policy = "probability"
    return policy, float(flag_config.get(policy, defaults[policy]))


def deep_merge(base: dict, override: dict) -> dict:
    """A copy of ``base`` with ``override`` merged in, recursively for nested dicts."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read_yaml(path: str | Path) -> dict:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read config ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping of keys to values")
    return data


def load_train_config(path: str | Path | None = None, overrides: dict | None = None) -> dict:
    """The resolved training config: defaults, then the file, then ``overrides``."""
    config = deep_merge(DEFAULT_TRAIN_CONFIG, _read_yaml(path) if path else {})
    config = deep_merge(config, overrides or {})
    _check_train_config(config, path)
    return config


def load_fairness_config(path: str | Path | None = None) -> dict:
    return deep_merge(DEFAULT_FAIRNESS_CONFIG, _read_yaml(path) if path else {})


def _check_train_config(config: dict, path) -> None:
    where = f"{path}: " if path else ""
    if config["label"]["source"] not in ("events", "column"):
        raise ConfigError(f"{where}label.source must be 'events' or 'column'")
    split = config["split"]
    if abs(split["train"] + split["valid"] + split["test"] - 1.0) > 1e-9:
        raise ConfigError(f"{where}split fractions must add up to 1")
    if config["flag"]["policy"] not in ("capacity", "recall", "probability"):
        raise ConfigError(f"{where}flag.policy must be capacity, recall or probability")
    if config["explain"]["method"] not in ("fast", "pred_contrib"):
        raise ConfigError(f"{where}explain.method must be fast or pred_contrib")
    check_params(config["model"].get("params") or {}, prefix=f"{where}model.params.")
    gap = split.get("gap_days")
    if gap is not None and (not isinstance(gap, int) or gap < 0):
        raise ConfigError(f"{where}split.gap_days must be a whole number of days >= 0, or null for the horizon")
    rolling = config["evaluation"]["rolling"]
    if not isinstance(rolling.get("origins"), int) or rolling["origins"] < 1:
        raise ConfigError(f"{where}evaluation.rolling.origins must be a whole number >= 1 (1: no rolling validation)")
    window = rolling.get("window_days")
    if window is not None and (not isinstance(window, int) or window < 1):
        raise ConfigError(f"{where}evaluation.rolling.window_days must be a whole number of days >= 1, or null")
    if not isinstance(config["evaluation"].get("n_boot"), int) or config["evaluation"]["n_boot"] < 0:
        raise ConfigError(f"{where}evaluation.n_boot must be a whole number >= 0")
    quantiles = config["bands"]["quantiles"]
    if len(quantiles) != 3 or sorted(quantiles) != list(quantiles):
        raise ConfigError(f"{where}bands.quantiles must be three increasing numbers")
