"""Typed model metadata reads every model.json there is and writes it back unchanged."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from stalkrisk.model.meta import ModelMeta

#: A model.json "meta" as training wrote it before the metadata was typed.
SAVED = {
    "label": {"source": "events", "horizon_days": 90, "behaviours": ["threat", "violence", "order_breach"]},
    "label_description": "a threat, violence or breach within 90 days",
    "horizon_days": 90,
    "flag_policy": {"policy": "capacity", "capacity": 0.1},
    "split": {"train": {"from": "2021-01-01", "to": "2023-12-31", "cases": 10}},
    "counts": {"cases": 20, "censored": 2},
    "metrics": {"roc_auc": 0.8},
    "protected_features": [],
    "explain_method": "fast",
    "max_depth": 4,
    "drift_reference": {"n": 10, "features": {}},
    "data_to": "2025-06-30",
    "trained_at": "2026-12-06",
}


def test_a_saved_meta_round_trips_to_the_same_json():
    meta = ModelMeta.from_dict(SAVED)
    assert meta.explain_method == "fast" and meta.max_depth == 4 and meta.protected_features == ()
    assert json.dumps(meta.to_dict(), sort_keys=True) == json.dumps(SAVED, sort_keys=True)


def test_an_older_meta_reads_with_defaults():
    meta = ModelMeta.from_dict({"label_description": "x"})
    assert (meta.explain_method, meta.horizon_days, meta.drift_reference, meta.trained_at) == ("fast", 90, None, "")


@given(st.dictionaries(st.text(min_size=1).filter(lambda k: k not in SAVED and k != "extra"),
                       st.integers() | st.text(), max_size=4))
def test_keys_from_another_version_are_kept(unknown):
    meta = ModelMeta.from_dict({**SAVED, **unknown})
    assert meta.extra == unknown
    assert meta.to_dict() == {**SAVED, **unknown}


def test_the_trained_day_is_a_new_meta():
    meta = ModelMeta.from_dict(SAVED)
    later = meta.with_trained_at("2027-01-01")
    assert (meta.trained_at, later.trained_at) == ("2026-12-06", "2027-01-01")
