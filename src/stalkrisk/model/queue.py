"""The queue: which scored cases a reviewer sees, and why (issue 18).

``consider_spo``: the score is at or above the threshold, acts associated with stalking are
recorded on at least two occasions (distinct UK days: the course-of-conduct proxy, a policy
choice, not the offence test) and no SPO or interim SPO is in force. ``review``, with a stated
reason, for everything a reviewer must not miss: above the threshold on one occasion so far; an
SPO in force with recent acts or breaches (breach action or variation: SPA 2019 s.8 and s.4); an
SPO ending soon with risk at the threshold (renewal, s.4); the must-review triggers of
``configs/queue.yaml``. No scored case at or above the threshold is in no queue.

The tool says "consider" and "review"; whether an order is necessary stays with a person.
"""

from __future__ import annotations

import operator
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from stalkrisk.errors import ConfigError
from stalkrisk.paths import QUEUE_CONFIG_FILE

QUEUES = ("consider_spo", "review")
_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq,
        "!=": operator.ne}
_CONDITION = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(-?[0-9.]+)\s*$")


@dataclass(frozen=True)
class Trigger:
    name: str
    reason: str
    when: tuple[tuple[str, str, float], ...]  # (column, operator, number)


@dataclass(frozen=True)
class QueuePolicy:
    renewal_days: int
    recent_days: int
    triggers: tuple[Trigger, ...]


def load_queue_policy(path: str | Path | None = None) -> QueuePolicy:
    """The queue policy of ``path`` (default: the packaged ``configs/queue.yaml``)."""
    path = Path(path) if path is not None else QUEUE_CONFIG_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the queue config ({exc})") from None
    triggers = []
    for item in data.get("must_review") or []:
        when = []
        for column, test in (item.get("when") or {}).items():
            m = _CONDITION.match(str(test))
            if m is None:
                raise ConfigError(f"{path}: trigger {item.get('name')!r}: condition {column}: {test!r} "
                                  "is not an operator (>= > <= < == !=) and a number")
            when.append((str(column), m.group(1), float(m.group(2))))
        if not when:
            raise ConfigError(f"{path}: trigger {item.get('name')!r} has no condition")
        triggers.append(Trigger(str(item["name"]), str(item["reason"]), tuple(when)))
    return QueuePolicy(int(data.get("renewal_days", 60)), int(data.get("recent_days", 30)), tuple(triggers))


def _num(facts: pd.DataFrame, column: str) -> np.ndarray:
    """A fact as float64 (booleans 1/0), NaN where missing or absent."""
    if column not in facts:
        return np.full(len(facts), np.nan)
    return pd.to_numeric(facts[column].astype("Float64"), errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _met(facts: pd.DataFrame, trigger: Trigger) -> np.ndarray:
    hit = np.ones(len(facts), dtype=bool)
    for column, op, number in trigger.when:
        values = _num(facts, column)
        hit &= ~np.isnan(values) & _OPS[op](np.nan_to_num(values), number)
    return hit


def _format(template: str, row: dict[str, Any]) -> str:
    try:
        return template.format(**row)
    except (KeyError, ValueError, TypeError):
        return template


def _days(n: float) -> str:
    return "1 day" if n == 1 else f"{n:.0f} days"


def assign_queue(score: np.ndarray, threshold: float, facts: pd.DataFrame,
                 policy: QueuePolicy | None = None) -> pd.DataFrame:
    """``queue`` and ``queue_reason`` for each scored case.

    ``facts`` (one row per case, in order) holds ``course_of_conduct`` and whatever the
    triggers name; ``occasions`` (0, 1, 2: 2 or more), ``act_days_30d``, ``n_order_breach_30d``,
    ``spo_in_force`` and ``spo_days_left`` sharpen the reasons when present.
    """
    policy = policy or load_queue_policy()
    n = len(score)
    above = np.asarray(score, dtype=float) >= threshold
    conduct = np.nan_to_num(_num(facts, "course_of_conduct")) >= 1
    occasions = _num(facts, "occasions")
    spo_known = "spo_in_force" in facts and facts["spo_in_force"].notna().any()
    spo = np.nan_to_num(_num(facts, "spo_in_force")) >= 1
    left = _num(facts, "spo_days_left")
    recent = policy.recent_days
    acts_recent = np.nan_to_num(_num(facts, f"act_days_{recent}d"))
    breaches_recent = np.nan_to_num(_num(facts, f"n_order_breach_{recent}d"))

    consider = above & conduct & ~spo
    reasons: list[list[str]] = [[] for _ in range(n)]
    nothing = "no SPO or interim SPO in force" if spo_known else "no orders table given: check for an SPO in force"
    for i in np.flatnonzero(consider):
        reasons[i].append(f"risk at or above the threshold, acts associated with stalking on at least two "
                          f"separate days, {nothing}")
    for i in np.flatnonzero(above & ~conduct):
        reasons[i].append("risk at or above the threshold, but acts associated with stalking on one day so far"
                          if occasions[i] == 1 else
                          "risk at or above the threshold, but no act associated with stalking recorded yet")
    enforce = spo & ((acts_recent > 0) | (breaches_recent > 0))
    for i in np.flatnonzero(enforce):
        what = [f"acts on {_days(acts_recent[i])}" if acts_recent[i] else "",
                f"{breaches_recent[i]:.0f} breach{'es' if breaches_recent[i] != 1 else ''}"
                if breaches_recent[i] else ""]
        reasons[i].append(f"SPO in force with {' and '.join(w for w in what if w)} in the last {recent} days: "
                          "consider breach action (SPA 2019 s.8) or variation (s.4)")
    renew = spo & above & ~np.isnan(left) & (left <= policy.renewal_days)
    for i in np.flatnonzero(renew):
        reasons[i].append(f"SPO ends in {_days(left[i])} and risk is at or above the threshold: "
                          "consider renewal (SPA 2019 s.4)")
    rest = spo & above & ~enforce & ~renew
    for i in np.flatnonzero(rest):
        reasons[i].append("SPO in force and risk at or above the threshold: review whether its terms still "
                          "meet the risk (variation, SPA 2019 s.4)")
    for trigger in policy.triggers:
        hit = np.flatnonzero(_met(facts, trigger))
        fields = {f for _, f, _, _ in string.Formatter().parse(trigger.reason) if f}
        values = {f: _num(facts, f) for f in fields}
        for i in hit:
            reasons[i].append(_format(trigger.reason, {f: v[i] for f, v in values.items()}))
    queue = np.where(consider, "consider_spo",
                     np.where([bool(r) for r in reasons] if n else np.zeros(0, bool), "review", ""))
    return pd.DataFrame({"queue": queue.astype(object), "queue_reason": ["; ".join(r) for r in reasons]})
