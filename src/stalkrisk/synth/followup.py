"""What followed each assessment: events in the outcome window that agree with both domains' labels.

Window: the UK-local days ``assessment_date + 1`` … ``assessment_date + horizon_days``.
- persistence 1: acts (contract.ACT_BEHAVIOURS) on at least two distinct days; 0: on one day
  at most (a one-off act, or none);
- harm 1: at least one threat or violence, on an act day; 0: none in the window.
``other`` events may fall on any day of the window (they are not acts); after the window any
behaviour follows, for up to 180 days. Every draw is vectorised over flat event arrays.
"""

from __future__ import annotations

import numpy as np

from stalkrisk.synth.draws import (
    BEH, DAY, HARM, Calendar, behaviour_weights, channels, pick, recorded_lag, repeat, targets,
)

ONE_OFF_SHARE = 0.35  # of the cases without persistence or harm: one day of acts in the window


def _window_days(rng: np.random.Generator, n: int, horizon: int) -> np.ndarray:
    """Day offsets 1..horizon, front-loaded (most repeat behaviour comes soon)."""
    return 1 + (rng.random(n) ** 1.5 * horizon).astype(np.int64).clip(0, horizon - 1)


def _acts(rng: np.random.Generator, c: dict[str, np.ndarray], case: np.ndarray) -> np.ndarray:
    """Acts other than threats and violence (breaches stay: they are acts, not harm)."""
    w = behaviour_weights(c, case, np.ones(len(case)), harm=0.0, breach=1.0)
    w[BEH["other"]] = np.zeros_like(w[BEH["other"]])
    return pick(rng, w)


def draw_followup(rng: np.random.Generator, c: dict[str, np.ndarray], persist: np.ndarray,
                  harm: np.ndarray, cal: Calendar, horizon: int, horizon_end: np.ndarray
                  ) -> dict[str, np.ndarray]:
    """Events after the assessment day, agreeing with ``persist`` and ``harm`` (bool per case)."""
    n = len(persist)
    day0 = c["day"].astype(np.int64)
    rate = c["rate"]
    # the act days: two distinct days (and more, any) for persistence; one day for harm alone
    # or a one-off act; none otherwise
    one_off = ~persist & (harm | (rng.random(n) < ONE_OFF_SHARE))
    first = _window_days(rng, n, horizon)
    second = 1 + (first - 1 + 1 + (rng.random(n) * (horizon - 1)).astype(np.int64)) % horizon
    extra = np.where(persist, rng.poisson(np.minimum(0.25 * rate * horizon, 60.0)), 0)
    case_x = repeat(extra)
    day_case = np.concatenate([np.flatnonzero(persist | one_off), np.flatnonzero(persist), case_x])
    offset = np.concatenate([first[persist | one_off], second[persist], _window_days(rng, len(case_x), horizon)])
    # acts on each act day (1 + Poisson(0.4)); threats or violence on one of the days for harm
    k = 1 + rng.poisson(0.4, len(day_case))
    case_a = np.repeat(day_case, k)
    off_a = np.repeat(offset, k)
    beh_a = _acts(rng, c, case_a)
    k_h = np.where(harm, 1 + rng.poisson(0.5, n), 0)
    case_h = repeat(k_h)
    use_second = persist[case_h] & (rng.random(len(case_h)) < 0.5)
    off_h = np.where(use_second, second[case_h], first[case_h])
    d = c["danger"][case_h]
    beh_h = HARM[pick(rng, [np.full(len(case_h), 3.0), np.exp(0.3 * d)])].astype(np.int8)
    # a harm-only case's day may hold a single act: it stays one occasion whatever else happens
    # `other` (not an act) on any day of the window
    k_o = rng.poisson(np.minimum(0.04 * rate * horizon, 30.0))
    case_o = repeat(k_o)
    off_o = 1 + (rng.random(len(case_o)) * horizon).astype(np.int64)
    case_w = np.concatenate([case_a, case_h, case_o])
    off_w = np.concatenate([off_a, off_h, off_o])
    beh_w = np.concatenate([beh_a, beh_h, np.full(len(case_o), BEH["other"], dtype=np.int8)])
    t_w = cal.time_in(day0[case_w] + off_w, rng.random(len(case_w)))
    # after the window: anything
    k_after = rng.poisson(np.minimum(0.15 * rate * 180.0, 200.0))
    case_z = repeat(k_after)
    t_z = horizon_end[case_z] + (rng.random(len(case_z)) * 180 * DAY).astype(np.int64)
    beh_z = pick(rng, behaviour_weights(c, case_z, np.ones(len(case_z)), harm=1.0))
    case = np.concatenate([case_w, case_z]).astype(np.int32)
    beh = np.concatenate([beh_w, beh_z]).astype(np.int8)
    time = np.concatenate([t_w, t_z])
    chan = channels(rng, c, case, beh)
    return {"case": case, "time": time, "beh": beh, "chan": chan, "target": targets(rng, chan, beh),
            "rec": time + recorded_lag(rng, len(case), late_share=0.0),
            "rec_missing": rng.random(len(case)) < 0.04}
