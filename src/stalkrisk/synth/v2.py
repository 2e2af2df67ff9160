"""The people of contract v2: serial suspects, the suspect's mental-health concern and weapon
access, separation dates, and the orders table.

- ``suspect_id`` / ``victim_id``: pseudonymous keys. About 3% of cases open a series: the same
  suspect is later reported by 1 to 3 other victims (2-4 victims in all), each case 2 weeks to
  13 months after the one before, half of them in another force. A later case of a series
  counts the earlier victims among the suspect's prior stalking offences, and the suspect keeps
  sex, ethnicity and (older) age across the series.
- ``suspect_mental_health_concern`` (about 15%) and ``suspect_weapon_access`` (about 6%, more
  likely for dangerous suspects), 20% not recorded. They enter the truth (``synth.domains``):
  persistence and harm respectively.
- ``separation_date``: for ex-partners, 1 to 720 days before the assessment; else empty.
- ``orders``: one order for each case whose ``protective_order_in_force`` is true, in force on
  the assessment day (SPOs and interim SPOs among them, some near expiry), and some expired
  orders for other cases, so the table agrees with the column (no warnings in the demo). Drawn
  from a random stream of its own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stalkrisk.data import contract
from stalkrisk.synth.draws import expit, key_strings

SERIES_SHARE = 0.03  # of cases: the first case of a suspect with several victims
SERIES_SIZES = {2: 0.6, 3: 0.25, 4: 0.15}  # victims in a series
SERIES_GAP_DAYS = (14, 400)  # from one victim's case to the next
SAME_FORCE_SHARE = 0.5
MENTAL_HEALTH_SHARE = 0.15
NOT_RECORDED_SHARE = 0.20
#: Types of the order in force, when a case has one. SPOs are rare: about 1,400 were made in
#: their first five years across England and Wales (the public figure of configs/train.yaml)
#: against over 100,000 stalking cases a year, so about 1% of cases have an SPO or interim SPO.
ORDER_TYPE_SHARES = {"spo": 0.06, "interim_spo": 0.02, "non_molestation": 0.52, "restraining": 0.20,
                     "dvpo": 0.08, "other": 0.12}
EXPIRED_ORDER_SHARE = 0.03  # of the cases without an order in force: an order that has expired


def _series(rng: np.random.Generator, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(suspect number per case, the anchor case of each case's series)."""
    n = len(day)
    suspect, anchor_of = np.arange(1, n + 1), np.arange(n)
    if n < 2:
        return suspect, anchor_of
    anchors = np.flatnonzero(rng.random(n) < SERIES_SHARE)
    sizes = np.array(list(SERIES_SIZES))[
        np.searchsorted(np.cumsum(list(SERIES_SIZES.values())), rng.random(len(anchors)), side="right")
        .clip(0, len(SERIES_SIZES) - 1)]
    gaps = rng.integers(*SERIES_GAP_DAYS, (len(anchors), max(SERIES_SIZES) - 1)).cumsum(axis=1)
    order = np.argsort(day, kind="stable")
    sorted_day = day[order]
    rows, cols = np.nonzero(np.arange(max(SERIES_SIZES) - 1)[None, :] < (sizes - 1)[:, None])
    target = day[anchors[rows]] + gaps[rows, cols]
    inside = target <= sorted_day[-1]
    rows, target = rows[inside], target[inside]
    pos = np.searchsorted(sorted_day, target) + rng.integers(0, 5, len(target))
    member = order[np.minimum(pos, n - 1)]
    keep = ~np.isin(member, anchors) & (day[member] > day[anchors[rows]])
    member, rows = member[keep], rows[keep]
    member, first = np.unique(member, return_index=True)  # a case joins one series only
    anchor_of[member] = anchors[rows[first]]
    suspect[member] = suspect[anchor_of[member]]
    return suspect, anchor_of


def draw_people(rng: np.random.Generator, c: dict[str, np.ndarray]) -> None:
    """Add the v2 person columns to the case draws ``c``, before the truth is computed."""
    n = len(c["day"])
    day = c["day"].astype(np.int64)
    suspect, anchor = _series(rng, day)
    c["suspect_id"], c["victim_id"] = suspect, np.arange(1, n + 1)
    member = np.flatnonzero(anchor != np.arange(n))
    # earlier victims' cases are the suspect's prior stalking offences
    by = np.lexsort((day, suspect))
    start = np.r_[0, np.flatnonzero(np.diff(suspect[by])) + 1]
    rank = np.empty(n, dtype=np.int64)
    rank[by] = np.arange(n) - np.repeat(start, np.diff(np.r_[start, n]))
    c["prior_stalking"] = c["prior_stalking"] + rank
    a = anchor[member]
    for key in ("suspect_sex", "suspect_ethnicity"):
        c[key][member] = c[key][a]
    c["suspect_age"][member] = np.clip(c["suspect_age"][a] + (day[member] - day[a]) // 365, 14, 95)
    same = rng.random(len(member)) < SAME_FORCE_SHARE
    c["force"][member[same]] = c["force"][a[same]]
    c["mental_health"] = rng.random(n) < MENTAL_HEALTH_SHARE
    c["weapon"] = rng.random(n) < expit(-3.0 + 0.5 * c["danger"])
    c["v2_missing"] = rng.random((n, 2)) < NOT_RECORDED_SHARE
    c["separation_ago"] = rng.integers(1, 721, n)


def _keys(prefix: str, numbers: np.ndarray) -> pd.arrays.ArrowStringArray:
    width = max(7, len(str(int(numbers.max()) if len(numbers) else 0)))
    return pd.array(key_strings(prefix, numbers, width), dtype="str")


def add_v2(cases: pd.DataFrame, c: dict[str, np.ndarray]) -> pd.DataFrame:
    """``cases`` with the v2 columns drawn by ``draw_people``, in contract order."""
    day = cases["assessment_date"].to_numpy(dtype="datetime64[ns]")
    ex = (cases["relationship"] == "ex_partner").to_numpy()
    ago = c["separation_ago"].astype("timedelta64[D]")
    separation = np.where(ex, day - ago, np.datetime64("NaT"))
    missing = c["v2_missing"]
    return cases.assign(
        suspect_id=_keys("S", c["suspect_id"]), victim_id=_keys("V", c["victim_id"]),
        suspect_mental_health_concern=pd.arrays.BooleanArray(c["mental_health"], missing[:, 0].copy()),
        suspect_weapon_access=pd.arrays.BooleanArray(c["weapon"], missing[:, 1].copy()),
        separation_date=separation.astype("datetime64[ns]"),
    )[list(contract.CASES.names)]


def orders_for(cases: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Orders agreeing with ``protective_order_in_force`` as of each assessment day."""
    rng = np.random.default_rng([seed, 2])
    has = cases["protective_order_in_force"].fillna(False).to_numpy(dtype=bool)
    expired = ~has & (rng.random(len(cases)) < EXPIRED_ORDER_SHARE)
    live, old = np.flatnonzero(has), np.flatnonzero(expired)
    day = cases["assessment_date"].to_numpy(dtype="datetime64[D]")
    kinds = np.array(list(ORDER_TYPE_SHARES))
    kind = rng.choice(kinds, len(live), p=list(ORDER_TYPE_SHARES.values()))
    made = day[live] - rng.integers(0, 500, len(live)).astype("timedelta64[D]")
    # an SPO runs at least 2 years (SPA 2019 s.3) or until further order; an interim SPO
    # until the full hearing; the others a year or two, or until further order
    years = np.where(np.isin(kind, ("spo",)), 730, np.where(kind == "interim_spo", 120, 365))
    ends = day[live] + rng.integers(0, 1, len(live)).astype("timedelta64[D]")  # at least the day
    ends = np.maximum(made + years.astype("timedelta64[D]"), ends)
    open_ended = rng.random(len(live)) < np.where(kind == "interim_spo", 0.0, 0.3)
    kind_old = rng.choice(kinds, len(old), p=list(ORDER_TYPE_SHARES.values()))
    made_old = day[old] - rng.integers(400, 1500, len(old)).astype("timedelta64[D]")
    ends_old = np.minimum(made_old + 365, day[old] - 1)
    made_all = np.concatenate([made, made_old])
    frame = pd.DataFrame({
        "order_id": [f"O{k + 1:07d}" for k in range(len(live) + len(old))],
        "case_id": pd.array(np.concatenate([cases["case_id"].to_numpy()[live], cases["case_id"].to_numpy()[old]]),
                            dtype="str"),
        "suspect_id": pd.array(np.concatenate([cases["suspect_id"].to_numpy()[live],
                                               cases["suspect_id"].to_numpy()[old]]), dtype="str"),
        "order_type": pd.array(np.concatenate([kind, kind_old]), dtype="str"),
        "made_on": made_all.astype("datetime64[ns]"),
        "expires_on": np.concatenate([np.where(open_ended, np.datetime64("NaT"), ends),
                                      ends_old]).astype("datetime64[ns]"),
        "recorded_at": pd.Series(made_all.astype("datetime64[ns]") + np.timedelta64(12, "h")).dt.tz_localize("UTC"),
    })
    # an order names the case, or only the suspect (a force that records orders by person)
    # (only for a suspect of one case: the column of every case agrees with the orders)
    only = ~frame["suspect_id"].isin(cases["suspect_id"][cases["suspect_id"].duplicated()]).to_numpy()
    by_person = (rng.random(len(frame)) < 0.2) & only
    frame.loc[by_person, "case_id"] = None
    frame.loc[~by_person & ((rng.random(len(frame)) < 0.5) | ~only), "suspect_id"] = None
    return frame.sort_values(["made_on", "order_id"], kind="stable").reset_index(drop=True)
