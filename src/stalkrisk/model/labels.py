"""Training labels: what happened after each assessment, and who is censored.

Labels are outcomes, not past police decisions (design.md), read in the window after
the end of the UK-local assessment day up to the end of day ``assessment_date +
horizon_days``. The default config (``label.outcomes``) asks the question of s.1(1)(b) of the
Stalking Protection Act as risk domains: ``persistence`` (acts associated with stalking on at
least two distinct UK calendar days: the conduct the order exists to stop) and ``harm`` (a
threat or violence); the flag's ``risk`` label is their union. Without ``label.outcomes`` the
single label of ``label.behaviours`` is used (models trained before the domains). A case whose
horizon runs past the latest event in the data cannot be judged yet: it is censored and left
out of training and evaluation, and counted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stalkrisk.data import ids
from stalkrisk.data.contract import ACT_BEHAVIOURS, by_category
from stalkrisk.features.asof import cutoff_utc, local_day


def horizon_end_utc(assessment_date: pd.Series, horizon_days: int) -> pd.Series:
    """End of the label window: the end of the UK-local day ``horizon_days`` after assessment."""
    return cutoff_utc(pd.to_datetime(assessment_date) + pd.Timedelta(days=horizon_days))


def _utc_ns(times: pd.Series) -> np.ndarray:
    """Instants as naive ``datetime64[ns]`` in UTC (NaT stays NaT and compares False)."""
    return times.to_numpy(dtype="datetime64[ns]")


def _any_of(values: pd.Series, wanted) -> np.ndarray:
    """``values.isin(wanted)`` as a bool array; a categorical (the readers' behaviour column)
    is looked up once per category, not once per row."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return by_category(values, lambda categories: categories.isin(list(wanted)), False)
    return values.isin(list(wanted)).to_numpy(dtype=bool)


def outcome_labels(
    cases: pd.DataFrame,
    events: pd.DataFrame,
    *,
    horizon_days: int = 90,
    behaviours: tuple[str, ...] | list[str] = ("threat", "violence", "order_breach"),
) -> pd.DataFrame:
    """``case_id``, ``label`` (0/1) and ``censored`` per case, in the order of ``cases``.

    Positive when an event of ``behaviours`` has ``cutoff <= event_time < horizon_end``.
    Censored when ``horizon_end`` is after the latest event time in ``events``.
    Case ids must be unique (validation quarantines duplicates); events naming no
    case are ignored.
    """
    if not cases["case_id"].is_unique:
        raise ValueError("outcome labels need unique case ids")
    start = _utc_ns(cutoff_utc(cases["assessment_date"]))
    end = _utc_ns(horizon_end_utc(cases["assessment_date"], horizon_days))

    outcomes = _any_of(events["behaviour"], behaviours)
    row = ids.row_of(events["case_id"][outcomes], cases["case_id"])
    when = _utc_ns(events["event_time"])[outcomes]
    named = row >= 0
    row, when = row[named], when[named]
    hit = (when >= start[row]) & (when < end[row])
    label = np.zeros(len(cases), dtype=np.int8)
    label[row[hit]] = 1

    return pd.DataFrame({"case_id": cases["case_id"].to_numpy(), "label": label, "censored": _censored(events, end)})


def _censored(events: pd.DataFrame, end: np.ndarray) -> np.ndarray:
    latest = events["event_time"].max() if len(events) else pd.NaT
    return np.ones(len(end), dtype=bool) if pd.isna(latest) else end > _utc_ns(pd.Series([latest]))[0]


def domain_behaviours(spec: dict) -> tuple[str, ...]:
    """A domain's behaviours: a list, or ``acts`` for ``contract.ACT_BEHAVIOURS``."""
    wanted = spec.get("behaviours", "acts")
    return tuple(ACT_BEHAVIOURS) if wanted == "acts" else tuple(wanted)


def domain_labels(
    cases: pd.DataFrame,
    events: pd.DataFrame,
    *,
    horizon_days: int,
    outcomes: dict[str, dict],
) -> pd.DataFrame:
    """``case_id``, ``label`` (the union: ``risk``), ``label_<domain>`` per domain and ``censored``.

    A domain is positive when events of its behaviours (any ``target``) fall in the window
    ``cutoff <= event_time < horizon_end`` on at least ``min_days`` distinct UK calendar days
    (Europe/London: two texts a minute apart either side of local midnight are two days).
    """
    if not cases["case_id"].is_unique:
        raise ValueError("outcome labels need unique case ids")
    start = _utc_ns(cutoff_utc(cases["assessment_date"]))
    end = _utc_ns(horizon_end_utc(cases["assessment_date"], horizon_days))
    row_all = ids.row_of(events["case_id"], cases["case_id"])
    when_all = _utc_ns(events["event_time"])
    named = row_all >= 0
    inside = np.zeros(len(events), dtype=bool)
    inside[named] = (when_all[named] >= start[row_all[named]]) & (when_all[named] < end[row_all[named]])
    out = {"case_id": cases["case_id"].to_numpy()}
    union = np.zeros(len(cases), dtype=np.int8)
    columns = {}
    for name, spec in outcomes.items():
        take = inside & _any_of(events["behaviour"], domain_behaviours(spec))
        row = row_all[take]
        day = local_day(when_all[take].view(np.int64))
        pairs = np.unique(np.stack([row, day], axis=1), axis=0) if len(row) else np.empty((0, 2), np.int64)
        days = np.bincount(pairs[:, 0], minlength=len(cases)) if len(pairs) else np.zeros(len(cases), np.int64)
        label = (days >= int(spec.get("min_days", 1))).astype(np.int8)
        columns[f"label_{name}"] = label
        union |= label
    out["label"] = union
    out.update(columns)
    out["censored"] = _censored(events, end)
    return pd.DataFrame(out)


def column_labels(cases: pd.DataFrame) -> pd.DataFrame:
    """Labels supplied by the user in the cases' ``label`` column; missing ones are censored."""
    supplied = cases["label"].astype("boolean")
    return pd.DataFrame(
        {
            "case_id": cases["case_id"].to_numpy(),
            "label": supplied.fillna(False).astype(np.int8).to_numpy(),
            "censored": supplied.isna().to_numpy(),
        }
    )


def make_labels(cases: pd.DataFrame, events: pd.DataFrame, label_config: dict) -> pd.DataFrame:
    """Labels as the training config's ``label`` section says."""
    if label_config.get("source", "events") == "column":
        return column_labels(cases)
    if label_config.get("outcomes"):
        return domain_labels(cases, events, horizon_days=int(label_config.get("horizon_days", 90)),
                             outcomes=dict(label_config["outcomes"]))
    return outcome_labels(
        cases,
        events,
        horizon_days=int(label_config.get("horizon_days", 90)),
        behaviours=tuple(label_config.get("behaviours", ("threat", "violence", "order_breach"))),
    )


def describe_label(label_config: dict) -> str:
    """One line for the model card and review pages."""
    if label_config.get("source", "events") == "column":
        return "a user-supplied outcome (the cases' label column)"
    horizon = label_config.get("horizon_days", 90)
    if label_config.get("outcomes"):
        parts = [f"{name} ({describe_domain(spec)})" for name, spec in label_config["outcomes"].items()]
        return f"any of: {'; '.join(parts)}, within {horizon} days after the assessment date"
    names = ", ".join(b.replace("_", " ") for b in label_config.get("behaviours", ()))
    return f"{names} within {horizon} days after the assessment date"


def describe_domain(spec: dict) -> str:
    """``acts associated with stalking on at least 2 distinct UK days``, say."""
    wanted = spec.get("behaviours", "acts")
    what = ("acts associated with stalking" if wanted == "acts"
            else " or ".join(b.replace("_", " ") for b in wanted))
    days = int(spec.get("min_days", 1))
    return what if days <= 1 else f"{what} on at least {days} distinct UK days"


def label_outcomes(label_config: dict) -> tuple[str, ...]:
    """The outcomes a label config gives models for: ``risk`` and then each domain."""
    if label_config.get("source", "events") == "column":
        return ("risk",)
    return ("risk", *(label_config.get("outcomes") or {}))
