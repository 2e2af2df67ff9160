"""Synthetic stalking caseloads with a known answer.

Why: the pipeline must be trained, tested and benchmarked without real case
records, and its tests need ground truth. This generator draws cases and event
histories calibrated to public figures (docs/synthetic-data.md), then computes the
probability of each risk domain within the horizon (``synth.domains``: persistence,
harm; risk is either) from what was *observable on the assessment date only* (the
case row and the events known by then), draws both outcomes and writes the
follow-up events so that every label agrees with them (``synth.followup``).
Protected attributes are drawn independently of every risk driver and never enter
the truth, so the fairness audit has a known answer.

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
from stalkrisk.synth import domains
from stalkrisk.synth.draws import (
    DAY, Calendar, behaviour_weights, channels, expit, key_strings, pick, recorded_lag, repeat, targets,
)
from stalkrisk.synth.followup import draw_followup
from stalkrisk.synth.v2 import add_v2, draw_people, orders_for

_HARM = np.array([contract.BEHAVIOURS.index(b) for b in contract.OUTCOME_BEHAVIOURS])

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
#: The truth: two risk domains and their union (``synth.domains``); re-exported here.
DOMAINS, GROUPS = domains.DOMAINS, domains.GROUPS
OUTCOMES = ("risk",) + DOMAINS

#: Standard deviation of each group's logit term per outcome (risk: the chain-rule share of
#: logit(p), ``domains.risk_attribution``), measured with
#: ``mechanism_group_weights(generate(100_000, seed=0), outcome)``; tests re-measure them.
MECHANISM_WEIGHTS: dict[str, dict[str, float]] = {
    "risk": {"contact_frequency": 0.453, "escalation": 0.434, "relationship": 0.329, "threats": 0.215,
             "following_watching": 0.187, "suspect_history": 0.171, "victim_fear": 0.165, "online": 0.148,
             "violence": 0.138, "order_breach": 0.1, "property": 0.07, "protective_order": 0.061},
    "persistence": {"contact_frequency": 0.466, "escalation": 0.379, "relationship": 0.272,
                    "following_watching": 0.198, "online": 0.172, "suspect_history": 0.142,
                    "protective_order": 0.137, "victim_fear": 0.132, "order_breach": 0.071,
                    "threats": 0.07, "property": 0.069, "violence": 0.0},
    "harm": {"relationship": 0.494, "escalation": 0.302, "threats": 0.257, "violence": 0.197,
             "suspect_history": 0.188, "victim_fear": 0.166, "order_breach": 0.071,
             "protective_order": 0.062, "following_watching": 0.053, "contact_frequency": 0.051,
             "property": 0.031, "online": 0.0},
}
#: The weights of the default flag's outcome, risk (what the single-outcome model predicts).
MECHANISM_GROUP_WEIGHTS: dict[str, float] = MECHANISM_WEIGHTS["risk"]

@dataclass(frozen=True)
class Caseload:
    """Generated input tables plus the generator's own truth per case."""

    cases: pd.DataFrame
    events: pd.DataFrame
    truth: pd.DataFrame
    orders: pd.DataFrame | None = None  # contract v2's optional table


# ------------------------------------------------------------------ the terms
def _day_end(days: np.ndarray, plus_days: int = 1) -> np.ndarray:
    """UTC epoch seconds of UK-local midnight starting day ``days + plus_days``."""
    local = pd.DatetimeIndex((days + plus_days).astype("datetime64[D]").astype("datetime64[ns]"))
    return local.tz_localize(contract.LOCAL_TZ).tz_convert("UTC").asi8 // 1_000_000_000


def _epoch_seconds(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """UTC epoch seconds (floored) and the missing mask of a timestamp column."""
    index = pd.DatetimeIndex(s).as_unit("ns")
    missing = np.asarray(index.isna())
    return np.where(missing, 0, index.asi8 // 1_000_000_000), missing


def domain_terms(cases: pd.DataFrame, events: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    """Recompute the mechanism's terms (per domain, per reason group) from normalised frames."""
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
    proxy = (events["channel"] == "third_party").fillna(False).to_numpy(bool)
    if "target" in events:
        proxy = proxy | (events["target"] == "third_party").fillna(False).to_numpy(bool)
    cal = Calendar(int(days.min()) - 40 if n else 0, int(days.max()) + 1 if n else 0)
    case, when = idx[known], t[known]
    return domains.terms(n, domains.observed(cases), case, delta[known], beh[known].astype(np.int8),
                         proxy[known], lambda m: days[case[m]] - cal.day_of(when[m]))


def truth_probabilities(cases: pd.DataFrame, events: pd.DataFrame, horizon_days: int = 90
                        ) -> pd.DataFrame:
    """``case_id``, ``p`` (risk), ``p_persistence``, ``p_harm`` recomputed from normalised frames."""
    p = domains.probabilities(domain_terms(cases, events), horizon_days)
    return pd.DataFrame({"case_id": cases["case_id"].to_numpy(), "p": p["p"],
                         "p_persistence": p["p_persistence"], "p_harm": p["p_harm"]})


def logit_terms(cases: pd.DataFrame, events: pd.DataFrame, outcome: str = "risk") -> pd.DataFrame:
    """One row per case: ``case_id``, then each reason group's term of ``outcome``'s logit.

    For a domain, ``p_<domain> == expit(domains.INTERCEPT[domain] + terms.sum(axis=1))``; for
    risk, the chain-rule attribution of ``domains.risk_attribution`` (not additive to logit(p)).
    """
    t = domain_terms(cases, events)
    if outcome == "risk":
        groups = domains.risk_attribution(t, domains.probabilities(t, 90))
    elif outcome in DOMAINS:
        groups = t[outcome]
    else:
        raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
    return pd.DataFrame({"case_id": cases["case_id"].to_numpy(), **groups})


def mechanism_group_weights(caseload: Caseload, outcome: str = "risk") -> dict[str, float]:
    """Standard deviation of each reason group's term of ``outcome`` over ``caseload``."""
    terms = logit_terms(caseload.cases, caseload.events, outcome)
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
    escalates = rng.random(n) < expit(-0.8 + 0.6 * d)
    c["escalation"] = np.where(escalates, rng.gamma(2.0, 1.0, n), 0.0)
    c["history_days"] = np.clip(np.exp(rng.normal(np.log(60.0), 0.8, n)), 3.0, 730.0)
    c["has_order"] = rng.random(n) < expit(-2.4 + 1.0 * partner + 0.4 * d)
    inperson = np.array([1.3, 0.8, 0.8, 1.0, 0.8, 1.6, 0.1, 1.2, 1.0])[rel]
    c["inperson"] = rng.gamma(2.0, 0.5, n) * inperson
    c["online"] = rng.gamma(2.0, 0.5, n) * np.where(rel == 6, 3.0, 1.0)
    c["property"] = rng.gamma(1.5, 2 / 3, n)
    # stalking by proxy: most suspects rarely go through third parties, some often
    c["proxy"] = np.where(rng.random(n) < 0.15, rng.uniform(0.2, 0.6, n), 0.02)
    c["prior_violence"] = rng.poisson(np.exp(-1.0 + 0.7 * d))
    c["prior_stalking"] = rng.poisson(np.exp(-1.3 + 0.4 * d + 0.3 * c["intensity"]))
    c["prior_domestic_abuse"] = rng.random(n) < expit(-1.6 + 1.5 * partner + 0.6 * d)
    c["substance_misuse"] = rng.random(n) < expit(-1.0 + 0.4 * d)
    c["priors_missing"] = rng.random(n) < 0.05
    c["flags_missing"] = rng.random((n, 3)) < 0.03
    return c


# -------------------------------------------------------------- the events

def _draw_history(rng: np.random.Generator, c: dict[str, np.ndarray], day_end: np.ndarray
                  ) -> dict[str, np.ndarray]:
    """Events up to the end of each assessment day; rate rises for escalating cases."""
    rate = np.exp(np.log(0.08) + 1.0 * c["intensity"])
    c["rate"] = rate
    counts = 1 + rng.poisson(np.minimum(rate * c["history_days"], 600.0))
    case = repeat(counts)
    g = c["escalation"][case]
    u = rng.random(len(case)) ** (1.0 / (1.0 + g))
    span = c["history_days"][case] * DAY
    delta = np.maximum(1, ((1.0 - u) * span).astype(np.int64))
    beh = pick(rng, behaviour_weights(c, case, u, harm=1.0))
    time = day_end[case] - delta
    lag = recorded_lag(rng, len(case), late_share=0.02)
    chan = channels(rng, c, case, beh)
    return {"case": case, "time": time, "beh": beh, "chan": chan, "target": targets(rng, chan, beh),
            "rec": time + lag, "rec_missing": rng.random(len(case)) < 0.04}


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
    """``prefix`` + 1..n zero-padded to ``width`` digits."""
    return key_strings(prefix, np.arange(1, n + 1, dtype=np.int64), width)


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
        "target": pa.array(contract.TARGETS, pa.string()).take(pa.array(ev["target"])),
    })
    ev.clear()
    return table.to_pandas()


# ----------------------------------------------------------------- generate
def generate(n_cases: int, seed: int = 0, *, start: str = "2021-01-01", end: str = "2025-12-31",
             horizon_days: int = 90) -> Caseload:
    """A synthetic caseload of ``n_cases`` with assessment dates in [start, end].

    Same arguments, same frames. The window is after the end of the UK-local assessment day up
    to the end of day ``assessment_date + horizon_days``. ``truth.p_persistence``: probability of
    acts (contract.ACT_BEHAVIOURS) on at least two distinct UK days in it; ``truth.p_harm``: of a
    threat or violence in it; ``truth.p``: of either (risk). Each ``label*`` is drawn from its
    probability and agrees with the events.
    """
    if n_cases < 0 or horizon_days < 1:
        raise ValueError("n_cases must be >= 0 and horizon_days >= 1")
    rng = np.random.default_rng(seed)
    c = _draw_cases(rng, n_cases, start, end)
    draw_people(rng, c)
    first = int(c["day"].min()) - 800 if n_cases else 0
    cal = Calendar(first, int(c["day"].max()) + horizon_days + 2 if n_cases else 0)
    day_end = cal.start(c["day"].astype(np.int64) + 1)
    horizon_end = cal.start(c["day"].astype(np.int64) + 1 + horizon_days)
    pre = _draw_history(rng, c, day_end)
    is_known = pre["rec_missing"] | (pre["rec"] < day_end[pre["case"]])
    known = {k: v[is_known] for k, v in pre.items()}
    c["victim_fear"] = _draw_fear(rng, c, known)
    case_ids = _ids("C", n_cases, max(7, len(str(n_cases))))
    cases = _cases_frame(c, case_ids)
    cases = add_v2(cases, c)
    proxy = (known["chan"] == contract.CHANNELS.index("third_party")) | \
        (known["target"] == contract.TARGETS.index("third_party"))
    kcase, ktime, day = known["case"], known["time"], c["day"].astype(np.int64)
    terms = domains.terms(n_cases, domains.observed(cases), kcase, day_end[kcase] - ktime, known["beh"],
                          proxy, lambda m: day[kcase[m]] - cal.day_of(ktime[m]))
    p = domains.probabilities(terms, horizon_days)
    persist = rng.random(n_cases) < p["p_persistence"]
    harm = rng.random(n_cases) < p["p_harm"]
    parts = [pre, draw_followup(rng, c, persist, harm, cal, horizon_days, horizon_end)]
    del pre, known, is_known
    events = _events_frame(parts, case_ids)
    truth = pd.DataFrame({
        "case_id": cases["case_id"], "p": p["p"], "label": (persist | harm).astype(np.int8),
        "p_persistence": p["p_persistence"], "label_persistence": persist.astype(np.int8),
        "p_harm": p["p_harm"], "label_harm": harm.astype(np.int8),
    })
    return Caseload(cases=cases, events=events, truth=truth, orders=orders_for(cases, seed))
