"""Synthetic stalking caseloads with a known answer.

Why: the pipeline must be trained, tested and benchmarked without real case
records, and its tests need ground truth. This generator draws cases and event
histories calibrated to public figures (docs/synthetic-data.md), then computes
the probability ``p`` of a harm outcome within the horizon from what was
*observable on the assessment date only* (the case row and the events known by
then), draws the label from ``p`` and writes the follow-up events so that the
label agrees with them. Protected attributes are drawn independently of every
risk driver and never enter ``p``, so the fairness audit has a known answer.

Everything is vectorised numpy over flat event arrays; times are int64 seconds
since the Unix epoch (UTC) until the frames are built.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from stalkrisk.data import contract
from stalkrisk.data.ids import row_of
from stalkrisk.synth.v2 import add_v2

DAY = 86_400
_BEH = {b: i for i, b in enumerate(contract.BEHAVIOURS)}
_CHAN = {c: i for i, c in enumerate(contract.CHANNELS)}
_HARM = np.array([_BEH[b] for b in contract.OUTCOME_BEHAVIOURS])

# ---------------------------------------------------------------- calibration
#: Share of cases by the suspect's relationship to the victim (45% ex-partner: the share of
#: Suzy Lamplugh Trust National Stalking Helpline callers stalked by an ex-partner, not a crime
#: survey figure; a third other prior acquaintance, the rest stranger or unknown).
RELATIONSHIP_SHARES = {
    "ex_partner": 0.45, "current_partner": 0.04, "family": 0.06, "acquaintance": 0.12,
    "colleague": 0.03, "neighbour": 0.04, "online_only": 0.04, "stranger": 0.12, "unknown": 0.10,
}
#: 20.2% of women vs 8.7% of men: 20.2 / (20.2 + 8.7) = 69.9% of victims female.
VICTIM_SEX_SHARES = {"female": 0.695, "male": 0.285, "other": 0.005, "unknown": 0.015}
#: P(suspect male) by victim sex; suspects are mostly male (~80% overall).
SUSPECT_MALE_BY_VICTIM = {"female": 0.90, "male": 0.60, "other": 0.75, "unknown": 0.75}
ETHNICITY_SHARES = {"white": 0.80, "mixed": 0.03, "asian": 0.09, "black": 0.04, "other": 0.02,
                    "unknown": 0.02}
#: (first age, last age, prevalence % per year of age) — victims' age drawn in
#: proportion to prevalence; 16-19 (8.8%) and 45-54 (2.6%) are published, the
#: bands between and beyond are interpolated (see docs/synthetic-data.md).
AGE_BANDS = ((12, 15, 3.0), (16, 19, 8.8), (20, 24, 6.8), (25, 34, 4.9), (35, 44, 3.6),
             (45, 54, 2.6), (55, 64, 1.9), (65, 74, 1.2), (75, 90, 0.5))
N_FORCES = 43

# ----------------------------------------------------------------- mechanism
#: logit(p) = INTERCEPT + the sum of one term per reason group (see `_terms`).
INTERCEPT = -5.2
RELATIONSHIP_LOGIT = {
    "ex_partner": 0.75, "current_partner": 0.55, "family": 0.1, "acquaintance": 0.0,
    "colleague": -0.2, "neighbour": 0.1, "online_only": -0.55, "stranger": -0.35, "unknown": 0.0,
}
#: Threats weigh more from an intimate partner (ex or current) than from others: the
#: threats term is COEF["threats"] * log1p(threats) * factor. The part above factor 1
#: (or below it) is booked to the relationship group, so every term stays one group's.
THREAT_RELATIONSHIP_FACTOR = {
    "ex_partner": 2.2, "current_partner": 2.0, "family": 0.5, "acquaintance": 0.4,
    "colleague": 0.3, "neighbour": 0.5, "online_only": 0.2, "stranger": 0.4, "unknown": 0.8,
}
RECENCY_DAYS = 5.0
FEAR_LOGIT = {"not_afraid": -0.28, "afraid": 0.1, "very_afraid": 0.45, "unknown": 0.0}
COEF = {
    "contact_frequency": 0.32,    # x log1p(contacting events, last 30 days)
    "threats": 0.85,              # x log1p(threats, last 90 days)
    "violence": 1.1,              # x log1p(violence, last 365 days)
    "order_breach": 0.8,          # x log1p(order breaches, last 365 days)
    "escalation_rate": 0.45,      # x clip(log weekly rate ratio, -2, 2)
    "escalation_shift": 0.6,      # x change in harm share of events
    "recency": 1.6,               # x exp(-days since the last known event / RECENCY_DAYS)
    "prior_violence": 0.45,       # x log1p(suspect_prior_violence)
    "prior_stalking": 0.3,        # x log1p(suspect_prior_stalking)
    "prior_domestic_abuse": 0.3,  # x suspect_prior_domestic_abuse
    "substance_misuse": 0.15,     # x suspect_substance_misuse
    "protective_order": 0.4,      # x protective_order_in_force
    "following_watching": 0.24,   # x log1p(following/watching/loitering, last 90 days)
    "online": 0.15,               # x log1p(monitoring_online/publishing, last 90 days)
    "property": 0.17,             # x log1p(property_interference, last 90 days)
}
GROUPS = ("relationship", "contact_frequency", "threats", "violence", "order_breach",
          "escalation", "suspect_history", "protective_order", "victim_fear",
          "following_watching", "online", "property")

#: Standard deviation of each group's logit term, measured with
#: ``mechanism_group_weights(generate(100_000, seed=0))``; tests re-measure it.
MECHANISM_GROUP_WEIGHTS: dict[str, float] = {
    "relationship": 0.989, "escalation": 0.729, "threats": 0.583, "violence": 0.532,
    "suspect_history": 0.308, "victim_fear": 0.275, "contact_frequency": 0.23,
    "order_breach": 0.188, "following_watching": 0.158, "protective_order": 0.145,
    "online": 0.086, "property": 0.065,
}


@dataclass(frozen=True)
class Caseload:
    """Generated input tables plus the generator's own truth per case."""

    cases: pd.DataFrame
    events: pd.DataFrame
    truth: pd.DataFrame
    orders: pd.DataFrame | None = None  # contract v2's optional table


# ------------------------------------------------------------------ the terms
def _terms(n: int, obs: dict[str, np.ndarray], ev_case: np.ndarray, ev_delta: np.ndarray,
           ev_beh: np.ndarray) -> dict[str, np.ndarray]:
    """The logit terms per reason group, from observables only.

    ``obs`` holds per-case codes and filled values (relationship and fear codes,
    priors with missing as 0, flags with missing as False). The events are the
    known ones: before the end of the assessment day and not recorded after it;
    ``ev_delta`` is seconds from the event to the end of the assessment day (> 0).
    """

    def count(behaviours: tuple[str, ...] | None, days: int) -> np.ndarray:
        mask = ev_delta <= days * DAY
        if behaviours is not None:
            wanted = np.zeros(len(contract.BEHAVIOURS), dtype=bool)
            wanted[[_BEH[b] for b in behaviours]] = True
            mask &= wanted[ev_beh]
        return np.bincount(ev_case[mask], minlength=n)

    rel = np.array([RELATIONSHIP_LOGIT[r] for r in contract.RELATIONSHIPS])[obs["relationship"]]
    factor = np.array([THREAT_RELATIONSHIP_FACTOR[r] for r in contract.RELATIONSHIPS])[obs["relationship"]]
    threats = COEF["threats"] * np.log1p(count(("threat",), 90))
    fear = np.array([FEAR_LOGIT[f] for f in contract.FEARS])[obs["victim_fear"]]
    n30, n90 = count(None, 30), count(None, 90)
    h30, h90 = count(contract.OUTCOME_BEHAVIOURS, 30), count(contract.OUTCOME_BEHAVIOURS, 90)
    recent_weekly, before_weekly = n30 * 7 / 30, (n90 - n30) * 7 / 60
    rate = np.clip(np.log((recent_weekly + 0.5) / (before_weekly + 0.5)), -2.0, 2.0)
    shift = h30 / np.maximum(n30, 1) - (h90 - h30) / np.maximum(n90 - n30, 1)
    last = np.full(n, np.inf)
    np.minimum.at(last, ev_case, ev_delta.astype(float))
    recency = np.exp(-last / DAY / RECENCY_DAYS)  # 0 for a case with no known event
    return {
        "relationship": rel + threats * (factor - 1.0),
        "contact_frequency": COEF["contact_frequency"] * np.log1p(count(("contacting",), 30)),
        "threats": threats,
        "violence": COEF["violence"] * np.log1p(count(("violence",), 365)),
        "order_breach": COEF["order_breach"] * np.log1p(count(("order_breach",), 365)),
        "escalation": COEF["escalation_rate"] * rate + COEF["escalation_shift"] * shift
        + COEF["recency"] * recency,
        "suspect_history": COEF["prior_violence"] * np.log1p(obs["prior_violence"])
        + COEF["prior_stalking"] * np.log1p(obs["prior_stalking"])
        + COEF["prior_domestic_abuse"] * obs["prior_domestic_abuse"]
        + COEF["substance_misuse"] * obs["substance_misuse"],
        "protective_order": COEF["protective_order"] * obs["protective_order"],
        "victim_fear": fear,
        "following_watching": COEF["following_watching"]
        * np.log1p(count(("following", "watching", "loitering"), 90)),
        "online": COEF["online"] * np.log1p(count(("monitoring_online", "publishing"), 90)),
        "property": COEF["property"] * np.log1p(count(("property_interference",), 90)),
    }


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _day_end(days: np.ndarray, plus_days: int = 1) -> np.ndarray:
    """UTC epoch seconds of UK-local midnight starting day ``days + plus_days``."""
    local = pd.DatetimeIndex((days + plus_days).astype("datetime64[D]").astype("datetime64[ns]"))
    return local.tz_localize(contract.LOCAL_TZ).tz_convert("UTC").asi8 // 1_000_000_000


def logit_terms(cases: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Recompute the mechanism's logit terms from normalised frames.

    One row per case in ``cases`` order: ``case_id``, then one column per reason
    group. ``p == expit(INTERCEPT + terms.sum(axis=1))`` for a generated caseload.
    """
    n = len(cases)
    days = cases["assessment_date"].to_numpy("datetime64[D]").astype(np.int64)
    day_end = _day_end(days)
    idx = row_of(events["case_id"], cases["case_id"])
    ok = idx >= 0
    end = np.where(ok, day_end[np.where(ok, idx, 0)], 0)
    t, _ = _epoch_seconds(events["event_time"])
    rec, rec_missing = _epoch_seconds(events["recorded_at"])
    delta = end - t
    known = ok & (delta > 0) & (rec_missing | (rec < end))
    beh = pd.Categorical(events["behaviour"], categories=contract.BEHAVIOURS).codes
    terms = _terms(n, _observed(cases), idx[known], delta[known], beh[known].astype(np.int8))
    return pd.DataFrame({"case_id": cases["case_id"].to_numpy(), **terms})


def _epoch_seconds(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """UTC epoch seconds (floored) and the missing mask of a timestamp column."""
    index = pd.DatetimeIndex(s).as_unit("ns")
    missing = np.asarray(index.isna())
    return np.where(missing, 0, index.asi8 // 1_000_000_000), missing


def _observed(cases: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-case observables the mechanism reads, missing filled as documented."""
    def flag(col: str) -> np.ndarray:
        return cases[col].fillna(False).to_numpy(bool).astype(float)

    def count(col: str) -> np.ndarray:
        return cases[col].fillna(0).to_numpy("int64")

    fear = cases["victim_fear"].fillna("unknown")
    return {
        "relationship": pd.Categorical(cases["relationship"], contract.RELATIONSHIPS).codes,
        "victim_fear": pd.Categorical(fear, contract.FEARS).codes,
        "prior_violence": count("suspect_prior_violence"),
        "prior_stalking": count("suspect_prior_stalking"),
        "prior_domestic_abuse": flag("suspect_prior_domestic_abuse"),
        "substance_misuse": flag("suspect_substance_misuse"),
        "protective_order": flag("protective_order_in_force"),
    }


def mechanism_group_weights(caseload: Caseload) -> dict[str, float]:
    """Standard deviation of each reason group's logit term over ``caseload``."""
    terms = logit_terms(caseload.cases, caseload.events)
    return {g: round(float(terms[g].std(ddof=0)), 3) for g in GROUPS}


# --------------------------------------------------------------- the cases
def _choice(rng: np.random.Generator, shares: dict[str, float], n: int) -> np.ndarray:
    """Codes into ``tuple(shares)`` drawn with the given shares."""
    w = np.array(list(shares.values()))
    return np.searchsorted(np.cumsum(w / w.sum()), rng.random(n), side="right").clip(0, len(w) - 1)


def _codes(values: tuple[str, ...], shares: dict[str, float], drawn: np.ndarray) -> np.ndarray:
    """Re-code draws over ``tuple(shares)`` into codes over ``values``."""
    return np.array([values.index(k) for k in shares])[drawn]


def _draw_cases(rng: np.random.Generator, n: int, start: str, end: str) -> dict[str, np.ndarray]:
    """Case rows and latent traits. Protected attributes use their own draws only."""
    first, last = (np.datetime64(d, "D").astype(np.int64) for d in (start, end))
    if last < first:
        raise ValueError(f"end {end} is before start {start}")
    c: dict[str, np.ndarray] = {"day": rng.integers(first, last + 1, n)}
    c["relationship"] = _codes(contract.RELATIONSHIPS, RELATIONSHIP_SHARES,
                               _choice(rng, RELATIONSHIP_SHARES, n))
    # protected attributes: drawn apart from every risk driver
    c["victim_sex"] = _codes(contract.SEXES, VICTIM_SEX_SHARES, _choice(rng, VICTIM_SEX_SHARES, n))
    p_male = np.array([SUSPECT_MALE_BY_VICTIM[s] for s in contract.SEXES])[c["victim_sex"]]
    u = rng.random(n)
    c["suspect_sex"] = np.select([u < p_male, u < p_male + 0.008, u < p_male + 0.03],
                                 [1, 2, 3], 0)
    lo, hi, rate = (np.array(col) for col in zip(*AGE_BANDS))
    band = _choice(rng, dict(enumerate(rate * (hi - lo + 1))), n)
    c["victim_age"] = rng.integers(lo[band], hi[band] + 1)
    c["suspect_age"] = np.clip(c["victim_age"] + np.rint(rng.normal(2.0, 8.0, n)), 14, 95)
    c["victim_age_missing"] = rng.random(n) < 0.10
    c["suspect_age_missing"] = rng.random(n) < 0.10
    eth = _codes(contract.ETHNICITIES, ETHNICITY_SHARES, _choice(rng, ETHNICITY_SHARES, n))
    other = _codes(contract.ETHNICITIES, ETHNICITY_SHARES, _choice(rng, ETHNICITY_SHARES, n))
    c["victim_ethnicity"] = eth
    c["suspect_ethnicity"] = np.where(rng.random(n) < 0.6, eth, other)
    force_w = 1.0 / np.sqrt(np.arange(1, N_FORCES + 1))
    c["force"] = _choice(rng, dict(enumerate(force_w)), n)
    # latent traits: depend on the relationship and on each other only
    rel = c["relationship"]
    partner = np.isin(rel, [0, 1]).astype(float)
    shift = np.array([0.4, 0.3, 0.1, 0.0, -0.1, 0.0, -0.3, -0.1, 0.0])[rel]
    d = rng.normal(0.0, 1.0, n) + shift
    c["danger"] = d
    c["intensity"] = 0.3 * d + np.sqrt(0.91) * rng.normal(0.0, 1.0, n)
    escalates = rng.random(n) < _expit(-0.8 + 0.6 * d)
    c["escalation"] = np.where(escalates, rng.gamma(2.0, 1.0, n), 0.0)
    c["history_days"] = np.clip(np.exp(rng.normal(np.log(60.0), 0.8, n)), 3.0, 730.0)
    c["has_order"] = rng.random(n) < _expit(-2.4 + 1.0 * partner + 0.4 * d)
    inperson = np.array([1.3, 0.8, 0.8, 1.0, 0.8, 1.6, 0.1, 1.2, 1.0])[rel]
    c["inperson"] = rng.gamma(2.0, 0.5, n) * inperson
    c["online"] = rng.gamma(2.0, 0.5, n) * np.where(rel == 6, 3.0, 1.0)
    c["property"] = rng.gamma(1.5, 2 / 3, n)
    c["prior_violence"] = rng.poisson(np.exp(-1.0 + 0.7 * d))
    c["prior_stalking"] = rng.poisson(np.exp(-1.3 + 0.4 * d + 0.3 * c["intensity"]))
    c["prior_domestic_abuse"] = rng.random(n) < _expit(-1.6 + 1.5 * partner + 0.6 * d)
    c["substance_misuse"] = rng.random(n) < _expit(-1.0 + 0.4 * d)
    c["priors_missing"] = rng.random(n) < 0.05
    c["flags_missing"] = rng.random((n, 3)) < 0.03
    return c


# -------------------------------------------------------------- the events
def _behaviour_weights(c: dict[str, np.ndarray], case: np.ndarray, u: np.ndarray,
                       harm: float) -> list[np.ndarray]:
    """Per-event weight of each behaviour (contract.BEHAVIOURS order).

    ``u`` in [0, 1] is the event's position in the history (1 = the assessment
    day); escalating cases shift from contact to threats as ``u`` grows.
    """
    f32 = np.float32
    d = c["danger"]
    inperson, online = c["inperson"].astype(f32)[case], c["online"].astype(f32)[case]
    late = f32(1.0) + (f32(1.5) * c["escalation"].astype(f32))[case] * u.astype(f32)
    by_name = {
        "following": f32(0.5) * inperson,
        "contacting": np.full(len(case), 5.0, dtype=f32),
        "publishing": f32(0.3) * online,
        "monitoring_online": f32(0.6) * online,
        "loitering": f32(0.4) * inperson,
        "property_interference": (0.35 * c["property"]).astype(f32)[case],
        "watching": f32(0.4) * inperson,
        "threat": (harm * 0.5 * np.exp(0.6 * d)).astype(f32)[case] * late,
        "violence": (harm * 0.12 * np.exp(0.9 * d)).astype(f32)[case] * late,
        "order_breach": (harm * 0.4 * c["has_order"] * np.exp(0.3 * d)).astype(f32)[case],
        "other": np.full(len(case), 0.5, dtype=f32),
    }
    return [by_name[b] for b in contract.BEHAVIOURS]


def _pick(rng: np.random.Generator, weights: list[np.ndarray]) -> np.ndarray:
    """One index per row, drawn in proportion to the rows of ``weights``."""
    total = np.zeros_like(weights[0])
    for w in weights:
        total += w
    target = rng.random(len(total)) * total
    out = np.full(len(total), len(weights) - 1, dtype=np.int8)
    cum = np.zeros_like(total)
    undecided = np.ones(len(total), dtype=bool)
    for k, w in enumerate(weights):
        cum += w
        hit = undecided & (target < cum)
        out[hit] = k
        undecided &= ~hit
    return out


#: P(channel | behaviour), rows in contract.BEHAVIOURS order, columns contract.CHANNELS.
_CHANNEL_TABLE = {
    #                  in_person phone text email social third other unknown
    "following":             (0.95, 0, 0, 0, 0, 0, 0, 0.05),
    "contacting":            (0.10, 0.38, 0.38, 0.0, 0.0, 0.08, 0.02, 0.04),
    "publishing":            (0, 0, 0, 0.05, 0.80, 0, 0.10, 0.05),
    "monitoring_online":     (0, 0, 0, 0.15, 0.70, 0, 0.10, 0.05),
    "loitering":             (0.95, 0, 0, 0, 0, 0, 0, 0.05),
    "property_interference": (0.80, 0, 0, 0, 0, 0, 0.05, 0.15),
    "watching":              (0.90, 0, 0, 0, 0, 0, 0.05, 0.05),
    "threat":                (0.20, 0.25, 0.30, 0.05, 0.15, 0.05, 0, 0),
    "violence":              (0.97, 0, 0, 0, 0, 0, 0, 0.03),
    "order_breach":          (0.50, 0.20, 0.20, 0, 0.10, 0, 0, 0),
    "other":                 (0.20, 0, 0, 0, 0, 0, 0.30, 0.50),
}


def _channels(rng: np.random.Generator, c: dict[str, np.ndarray], case: np.ndarray,
              beh: np.ndarray) -> np.ndarray:
    """Channel codes (-1 = missing) given behaviour; contact goes online by case."""
    table = np.array([_CHANNEL_TABLE[b] for b in contract.BEHAVIOURS], dtype=float)
    cdf = np.cumsum(table / table.sum(axis=1, keepdims=True), axis=1)
    cdf[:, -1] = 1.0
    flat = (cdf + np.arange(len(table))[:, None]).ravel()
    pos = np.searchsorted(flat, beh + rng.random(len(beh)) * (1 - 1e-12), side="right")
    chan = (pos - beh.astype(np.int64) * table.shape[1]).astype(np.int8)
    online = c["online"][case]
    goes_online = (beh == _BEH["contacting"]) & (rng.random(len(beh)) < online / (online + 2.5))
    chan = np.where(goes_online, np.where(rng.random(len(beh)) < 0.7, _CHAN["social_media"],
                                          _CHAN["email"]), chan)
    return np.where(rng.random(len(beh)) < 0.03, -1, chan).astype(np.int8)


def _recorded_lag(rng: np.random.Generator, n: int, late_share: float) -> np.ndarray:
    """Seconds from event to police record: hours to days, a share disclosed late."""
    lag = np.clip(np.exp(rng.normal(np.log(8 * 3600), 1.0, n)), 600, 30 * DAY)
    late = rng.random(n) < late_share
    return np.where(late, rng.uniform(7 * DAY, 120 * DAY, n), lag).astype(np.int64)


def _repeat(counts: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(counts), dtype=np.int32), counts)


def _draw_history(rng: np.random.Generator, c: dict[str, np.ndarray], day_end: np.ndarray
                  ) -> dict[str, np.ndarray]:
    """Events up to the end of each assessment day; rate rises for escalating cases."""
    rate = np.exp(np.log(0.08) + 1.0 * c["intensity"])
    c["rate"] = rate
    counts = 1 + rng.poisson(np.minimum(rate * c["history_days"], 600.0))
    case = _repeat(counts)
    g = c["escalation"][case]
    u = rng.random(len(case)) ** (1.0 / (1.0 + g))
    span = c["history_days"][case] * DAY
    delta = np.maximum(1, ((1.0 - u) * span).astype(np.int64))
    beh = _pick(rng, _behaviour_weights(c, case, u, harm=1.0))
    time = day_end[case] - delta
    lag = _recorded_lag(rng, len(case), late_share=0.02)
    return {"case": case, "time": time, "beh": beh, "chan": _channels(rng, c, case, beh),
            "rec": time + lag, "rec_missing": rng.random(len(case)) < 0.04}


def _draw_followup(rng: np.random.Generator, c: dict[str, np.ndarray], label: np.ndarray,
                   day_end: np.ndarray, horizon_end: np.ndarray) -> dict[str, np.ndarray]:
    """Events after the assessment day that agree with ``label``.

    Window = [end of assessment day, end of day assessment_date + horizon):
    label-1 cases get at least one outcome event there, label-0 cases none;
    after the window any behaviour may follow, for up to 180 days.
    """
    n = len(label)
    window = horizon_end - day_end
    rate = c["rate"]
    # outcome events in the window (label 1 only), front-loaded
    k_out = np.where(label, 1 + rng.poisson(0.6, n), 0)
    case_o = _repeat(k_out)
    t_o = day_end[case_o] + (rng.random(len(case_o)) ** 1.5 * window[case_o]).astype(np.int64)
    d = c["danger"][case_o]
    w_o = [np.full(len(case_o), 3.0), np.exp(0.3 * d), 1.5 * c["has_order"][case_o]]
    beh_o = _HARM[_pick(rng, w_o)].astype(np.int8)
    # other behaviours in the window, at a reduced rate
    horizon = window / DAY
    k_in = rng.poisson(np.minimum(0.3 * rate * horizon, 300.0))
    case_i = _repeat(k_in)
    t_i = day_end[case_i] + (rng.random(len(case_i)) * window[case_i]).astype(np.int64)
    beh_i = _pick(rng, _behaviour_weights(c, case_i, np.ones(len(case_i)), harm=0.0))
    # after the window: anything
    k_after = rng.poisson(np.minimum(0.15 * rate * 180.0, 200.0))
    case_a = _repeat(k_after)
    t_a = horizon_end[case_a] + (rng.random(len(case_a)) * 180 * DAY).astype(np.int64)
    beh_a = _pick(rng, _behaviour_weights(c, case_a, np.ones(len(case_a)), harm=1.0))
    case = np.concatenate([case_o, case_i, case_a])
    beh = np.concatenate([beh_o, beh_i, beh_a])
    time = np.concatenate([t_o, t_i, t_a])
    return {"case": case, "time": time, "beh": beh, "chan": _channels(rng, c, case, beh),
            "rec": time + _recorded_lag(rng, len(case), late_share=0.0),
            "rec_missing": rng.random(len(case)) < 0.04}


def _draw_fear(rng: np.random.Generator, c: dict[str, np.ndarray], known: dict[str, np.ndarray]
               ) -> np.ndarray:
    """The victim's account at assessment: latent danger plus known harm events."""
    n = len(c["day"])
    harm = np.bincount(known["case"][np.isin(known["beh"], _HARM)], minlength=n)
    score = 0.8 * c["danger"] + 0.5 * np.log1p(harm) + rng.normal(0.0, 1.0, n)
    fear = np.select([score < -0.4, score < 1.0], [0, 1], 2)
    return np.where(rng.random(n) < 0.10, 3, fear)


# ------------------------------------------------------------------- frames
def _strings(values: tuple[str, ...], codes: np.ndarray) -> pd.arrays.ArrowStringArray:
    """``values[codes]`` as a pandas ``str`` array; negative codes are missing."""
    codes = np.asarray(codes)
    idx = pa.array(codes.astype(np.int32), mask=codes < 0)
    return pd.array(pa.array(values, pa.string()).take(idx), dtype="str")


def _ids(prefix: str, n: int, width: int) -> pa.Array:
    """``prefix`` + 1..n zero-padded to ``width`` digits, built as raw Arrow buffers."""
    size = len(prefix) + width
    chars = np.empty((size, n), dtype=np.uint8)  # one row per character position
    chars[: len(prefix)] = np.frombuffer(prefix.encode(), dtype=np.uint8)[:, None]
    number = np.arange(1, n + 1, dtype=np.int64 if n >= 2**31 else np.int32)
    for row in range(size - 1, len(prefix) - 1, -1):
        number, digit = np.divmod(number, 10)
        chars[row] = digit + ord("0")
    chars = np.ascontiguousarray(chars.T)
    small = n * size < 2**31
    offsets = (np.arange(n + 1, dtype=np.int64) * size).astype(np.int32 if small else np.int64)
    kind = pa.string() if small else pa.large_string()
    return pa.Array.from_buffers(kind, n, [None, pa.py_buffer(offsets), pa.py_buffer(chars)])


def _cases_frame(c: dict[str, np.ndarray], ids: pa.Array) -> pd.DataFrame:
    n = len(c["day"])
    no = np.zeros(n, dtype=bool)

    def ints(values: np.ndarray, missing: np.ndarray) -> pd.arrays.IntegerArray:
        return pd.arrays.IntegerArray(values.astype(np.int64), missing.copy())

    def flags(values: np.ndarray, missing: np.ndarray) -> pd.arrays.BooleanArray:
        return pd.arrays.BooleanArray(values.astype(bool), missing.copy())

    forces = tuple(f"F{i:02d}" for i in range(1, N_FORCES + 1))
    flags_missing = c["flags_missing"]
    frame = pd.DataFrame({
        "case_id": pd.array(ids, dtype="str"),
        "assessment_date": c["day"].astype("datetime64[D]").astype("datetime64[ns]"),
        "relationship": _strings(contract.RELATIONSHIPS, c["relationship"]),
        "victim_sex": _strings(contract.SEXES, c["victim_sex"]),
        "victim_age": ints(c["victim_age"], c["victim_age_missing"]),
        "suspect_sex": _strings(contract.SEXES, c["suspect_sex"]),
        "suspect_age": ints(c["suspect_age"], c["suspect_age_missing"]),
        "suspect_prior_stalking": ints(c["prior_stalking"], c["priors_missing"]),
        "suspect_prior_violence": ints(c["prior_violence"], c["priors_missing"]),
        "suspect_prior_domestic_abuse": flags(c["prior_domestic_abuse"], flags_missing[:, 0]),
        "suspect_substance_misuse": flags(c["substance_misuse"], flags_missing[:, 1]),
        "protective_order_in_force": flags(c["has_order"], flags_missing[:, 2]),
        "victim_fear": _strings(contract.FEARS, c["victim_fear"]),
        "victim_ethnicity": _strings(contract.ETHNICITIES, c["victim_ethnicity"]),
        "suspect_ethnicity": _strings(contract.ETHNICITIES, c["suspect_ethnicity"]),
        "force_code": _strings(forces, c["force"]),
        "label": flags(no, ~no),
    })
    return frame  # (synth.v2 adds contract v2's columns and puts them in contract order)


def _events_frame(parts: list[dict[str, np.ndarray]], ids: pa.Array) -> pd.DataFrame:
    """One frame of all events, sorted by case then time, with sequential ids."""
    ev = {k: np.concatenate([p.pop(k) for p in parts]) for k in list(parts[0])}
    base = ev["time"].min() if len(ev["time"]) else 0
    key = (ev["case"].astype(np.int64) << 34) + (ev["time"] - base)
    order = np.argsort(key, kind="stable")
    ev = {k: v[order] for k, v in ev.items()}
    n = len(order)
    del key, order
    ts = pa.timestamp("ns", tz="UTC")
    table = pa.table({
        "case_id": ids.take(pa.array(ev["case"])),
        "event_time": pa.array(ev["time"] * 1_000_000_000, ts),
        "behaviour": pa.array(contract.BEHAVIOURS, pa.string()).take(pa.array(ev["beh"])),
        "channel": pa.array(contract.CHANNELS, pa.string()).take(
            pa.array(ev["chan"], mask=ev["chan"] < 0)),
        "recorded_at": pa.array(ev["rec"] * 1_000_000_000, ts, mask=ev["rec_missing"]),
        "event_id": _ids("E", n, max(10, len(str(n)))),
    })
    ev.clear()
    return table.to_pandas()


# ----------------------------------------------------------------- generate
def generate(n_cases: int, seed: int = 0, *, start: str = "2021-01-01", end: str = "2025-12-31",
             horizon_days: int = 90) -> Caseload:
    """A synthetic caseload of ``n_cases`` with assessment dates in [start, end].

    Same arguments, same frames. ``truth.p`` is the probability of an outcome
    event (contract.OUTCOME_BEHAVIOURS) after the end of the assessment day and
    up to the end of day ``assessment_date + horizon_days`` (UK local);
    ``truth.label`` is drawn from it and agrees with the events.
    """
    if n_cases < 0 or horizon_days < 1:
        raise ValueError("n_cases must be >= 0 and horizon_days >= 1")
    rng = np.random.default_rng(seed)
    c = _draw_cases(rng, n_cases, start, end)
    day_end = _day_end(c["day"])
    horizon_end = _day_end(c["day"], 1 + horizon_days)
    pre = _draw_history(rng, c, day_end)
    is_known = pre["rec_missing"] | (pre["rec"] < day_end[pre["case"]])
    known = {k: v[is_known] for k, v in pre.items()}
    c["victim_fear"] = _draw_fear(rng, c, known)
    case_ids = _ids("C", n_cases, max(7, len(str(n_cases))))
    cases = _cases_frame(c, case_ids)
    terms = _terms(n_cases, _observed(cases), known["case"],
                   day_end[known["case"]] - known["time"], known["beh"])
    p = _expit(INTERCEPT + np.sum(list(terms.values()), axis=0)) if n_cases else np.zeros(0)
    label = rng.random(n_cases) < p
    parts = [pre, _draw_followup(rng, c, label, day_end, horizon_end)]
    del pre, known, is_known
    events = _events_frame(parts, case_ids)
    truth = pd.DataFrame({"case_id": cases["case_id"], "p": p, "label": label.astype(np.int8)})
    cases, events, orders = add_v2(cases, events, seed)
    return Caseload(cases=cases, events=events, truth=truth, orders=orders)
