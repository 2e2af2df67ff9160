"""Training labels: what happened after each assessment, and who is censored.

The default label is an outcome, not a past police decision (design.md): a case
is positive when an event with a configured behaviour (threat, violence, order
breach) happens after its assessment date — after the end of that UK-local day —
and within ``horizon_days`` of it. A case whose horizon runs past the latest
event in the data cannot be judged yet: it is censored and left out of training
and evaluation, and counted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stalkrisk.data import ids
from stalkrisk.data.contract import by_category
from stalkrisk.features.asof import cutoff_utc


def horizon_end_utc(assessment_date: pd.Series, horizon_days: int) -> pd.Series:
    """End of the label window: the end of the UK-local day ``horizon_days`` after assessment."""
    return cutoff_utc(pd.to_datetime(assessment_date) + pd.Timedelta(days=horizon_days))


def _utc_ns(times: pd.Series) -> np.ndarray:
    """Instants as naive ``datetime64[ns]`` in UTC (NaT stays NaT and compares False)."""
    return times.to_numpy(dtype="datetime64[ns]")


def _any_of(values: pd.Series, wanted) -> np.ndarray:
    """``values.isin(wanted)`` as a bool array; a categorical (the readers' behaviour column)
    is looked up once per category (20M events: 0.07 s, where ``isin`` took 0.28 s)."""
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

    latest = events["event_time"].max() if len(events) else pd.NaT
    censored = np.ones(len(cases), dtype=bool) if pd.isna(latest) else end > _utc_ns(pd.Series([latest]))[0]
    return pd.DataFrame({"case_id": cases["case_id"].to_numpy(), "label": label, "censored": censored})


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
    names = ", ".join(b.replace("_", " ") for b in label_config.get("behaviours", ()))
    return f"{names} within {label_config.get('horizon_days', 90)} days after the assessment date"
