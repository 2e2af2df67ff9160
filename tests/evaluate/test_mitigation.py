"""Mitigation options are measured beside the flag as trained, never applied."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stalkrisk.evaluate.mitigation import threshold_optimizer_options

CONFIG = {"threshold_optimizer": {"enabled": True, "attributes": ["suspect_sex"],
                                  "constraints": "false_negative_rate_parity", "objective": "balanced_accuracy_score"}}


def _slice(rng, n=4000):
    g = rng.choice(["male", "female"], n, p=[0.7, 0.3])
    y = (rng.random(n) < 0.25).astype(int)
    p = np.clip(0.3 * y + 0.7 * rng.random(n) - 0.15 * (g == "female"), 0, 1)  # women's cases scored lower
    return y, p, pd.DataFrame({"suspect_sex": g})


def test_the_optimizer_narrows_the_fnr_gap_and_the_flag_as_trained_is_untouched():
    rng = np.random.default_rng(0)
    (yv, pv, gv), (yt, pt, gt) = _slice(rng), _slice(rng)
    flag = pt >= 0.6
    before = flag.copy()
    table = threshold_optimizer_options(yv, pv, gv, yt, pt, gt, flag, np.ones(len(yt), bool), CONFIG)
    trained, mitigated = table.iloc[0], table.iloc[1]
    assert trained["option"] == "as trained (one threshold)" and mitigated["option"].startswith("ThresholdOptimizer")
    assert trained["flag_rate"] == flag.mean()
    assert mitigated["fnr_gap"] < trained["fnr_gap"] / 2
    assert (flag == before).all()


def test_disabled_gives_nothing():
    rng = np.random.default_rng(1)
    y, p, g = _slice(rng, 200)
    assert threshold_optimizer_options(y, p, g, y, p, g, p > 0.5, np.ones(200, bool), {}).empty
