"""What a fitted model knows about how it was made: typed, saved in ``model.json``.

Read by scoring (protected features, the explanation method), the model card, the review pages and
the audits. A model saved by an older or newer stalkrisk keeps every key it carries: keys this
version does not know are kept in ``extra`` and written back unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any


@dataclass(frozen=True)
class ModelMeta:
    label: dict[str, Any] = field(default_factory=dict)  # the training label's config
    label_description: str = ""
    horizon_days: int = 90
    flag_policy: dict[str, Any] = field(default_factory=dict)
    split: dict[str, dict[str, Any]] = field(default_factory=dict)  # dates and counts per slice
    gap_days: int | None = None  # days left out between slices (the label horizon): None before gaps
    counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # test-slice metrics
    protected_features: tuple[str, ...] = ()  # protected attributes a config made features
    explain_method: str = "fast"
    max_depth: int = -1
    drift_reference: dict[str, Any] | None = None  # the training slice's feature profile
    data_to: str = ""  # the last assessment date the model saw
    trained_at: str = ""  # the day the run started (set when it is logged)
    outcomes: tuple[str, ...] = ("risk",)  # what the model scores: risk, then its domains (model.outcomes)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ModelMeta:
        data = dict(data or {})
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {k: data.pop(k) for k in list(data) if k in known}
        for name in ("protected_features", "outcomes"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values, extra=data)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: the known keys that are set, then ``extra`` (as ``model.json`` always had)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if f.name in ("trained_at", "drift_reference", "gap_days") and value in ("", None):
                continue
            if f.name == "outcomes" and value == ("risk",):  # a model of one outcome reads as it always did
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return {**out, **self.extra}

    def with_trained_at(self, day: str) -> ModelMeta:
        return replace(self, trained_at=day)
