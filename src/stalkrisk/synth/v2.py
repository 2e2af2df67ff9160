"""The columns and table of contract v2, added to a generated caseload so the demo exercises them.

Drawn from a random stream of their own (seeded from the caseload's seed), so the version 1
columns, the events and the truth are the same bytes as before: the current model's
mechanism is untouched (making stranger and online persistence as likely as ex-partners' is
the multi-outcome generator's work, not this module's).

- ``suspect_id`` / ``victim_id``: pseudonymous keys; about 4% of cases share their suspect
  with an earlier case (serial suspects), so orders naming a suspect reach several cases.
- ``suspect_mental_health_concern`` (about 15%), ``suspect_weapon_access`` (about 6%): drawn
  independently of the risk (no effect on the truth), 20% not recorded.
- ``separation_date``: for ex-partners, 1 to 720 days before the assessment; else empty.
- ``events.target``: ``third_party`` for most events through the third-party channel (stalking
  by proxy) and a few others, ``unknown`` for 3%, else ``victim``.
- ``orders``: one order for each case whose ``protective_order_in_force`` is true, in force on
  the assessment day (SPOs and interim SPOs among them, some near expiry), and some expired
  orders for other cases, so the table agrees with the column (no warnings in the demo).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from stalkrisk.data import contract

SERIAL_SHARE = 0.04
MENTAL_HEALTH_SHARE = 0.15
WEAPON_SHARE = 0.06
NOT_RECORDED_SHARE = 0.20
#: Types of the order in force, when a case has one.
ORDER_TYPE_SHARES = {"spo": 0.20, "interim_spo": 0.05, "non_molestation": 0.45, "restraining": 0.15,
                     "dvpo": 0.05, "other": 0.10}
EXPIRED_ORDER_SHARE = 0.03  # of the cases without an order in force: an order that has expired


def _keys(prefix: str, numbers: np.ndarray) -> pd.arrays.ArrowStringArray:
    width = max(7, len(str(int(numbers.max()) if len(numbers) else 0)))
    return pd.array(pa.array([f"{prefix}{k:0{width}d}" for k in numbers]), dtype="str")


def _flags(rng: np.random.Generator, share: float, n: int) -> pd.arrays.BooleanArray:
    return pd.arrays.BooleanArray(rng.random(n) < share, rng.random(n) < NOT_RECORDED_SHARE)


def add_v2(cases: pd.DataFrame, events: pd.DataFrame, seed: int
           ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``cases`` and ``events`` with the v2 columns, and the ``orders`` table."""
    rng = np.random.default_rng([seed, 2])
    n = len(cases)
    suspect = np.arange(1, n + 1)
    serial = np.flatnonzero(rng.random(n) < SERIAL_SHARE)
    serial = serial[serial > 0]
    suspect[serial] = suspect[rng.integers(0, serial)]  # an earlier case's suspect
    day = cases["assessment_date"].to_numpy(dtype="datetime64[ns]")
    ex = (cases["relationship"] == "ex_partner").to_numpy()
    ago = rng.integers(1, 721, n).astype("timedelta64[D]")
    separation = np.where(ex, day - ago, np.datetime64("NaT"))
    cases = cases.assign(
        suspect_id=_keys("S", suspect), victim_id=_keys("V", np.arange(1, n + 1)),
        suspect_mental_health_concern=_flags(rng, MENTAL_HEALTH_SHARE, n),
        suspect_weapon_access=_flags(rng, WEAPON_SHARE, n),
        separation_date=separation.astype("datetime64[ns]"),
    )[list(contract.CASES.names)]

    m = len(events)
    proxy = (events["channel"] == "third_party").fillna(False).to_numpy() & (rng.random(m) < 0.8)
    proxy |= rng.random(m) < 0.01
    code = np.where(proxy, 1, np.where(rng.random(m) < 0.03, 2, 0))
    target = pd.Categorical.from_codes(code, categories=list(contract.TARGETS))
    events = events.assign(target=pd.Series(target, index=events.index).astype("str"))
    return cases, events, _orders(rng, cases)


def _orders(rng: np.random.Generator, cases: pd.DataFrame) -> pd.DataFrame:
    """Orders agreeing with ``protective_order_in_force`` as of each assessment day."""
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
