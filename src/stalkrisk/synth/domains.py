"""The generator's truth: two risk domains, each a logit of what was known on the assessment day.

Why: an SPO answers a risk associated with stalking, physical or psychological (SPA 2019 s.1),
so the truth has the two domains structured judgement tools score apart (persistence; harm)
and their union, risk. Each domain's probability is ``expit(intercept + sum of one term per
reason group)``; the terms read the case row and the *known* events only (happened and recorded
before the end of the UK-local assessment day), so a model on the registry's features can learn
them. Two case columns no registry feature reads yet (mental-health concern, weapon access)
enter too: they are what a model cannot see today. The outcomes are drawn independently given
the two probabilities, so ``p = 1 - (1 - p_persistence)(1 - p_harm)`` exactly.

Persistence does not depend on the relationship (strangers and online-only suspects persist as
often as ex-partners, docs/synthetic-data.md); harm does, strongly.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from stalkrisk.data import contract
from stalkrisk.synth.draws import DAY, expit

DOMAINS = ("persistence", "harm")
GROUPS = ("relationship", "contact_frequency", "threats", "violence", "order_breach",
          "escalation", "suspect_history", "protective_order", "victim_fear",
          "following_watching", "online", "property")

INTERCEPT = {"persistence": -3.3, "harm": -3.4}
RELATIONSHIP_LOGIT = {
    # small offsets that leave persistence as likely for strangers and online-only suspects as
    # for ex-partners (whose latent intensity, and so recorded behaviour, runs higher)
    "persistence": {"ex_partner": 0.0, "current_partner": 0.0, "family": 0.05, "acquaintance": 0.12,
                    "colleague": 0.1, "neighbour": 0.1, "online_only": 0.25, "stranger": 0.15, "unknown": 0.1},
    "harm": {"ex_partner": 0.4, "current_partner": 0.3, "family": 0.07, "acquaintance": 0.0,
             "colleague": -0.13, "neighbour": 0.07, "online_only": -0.4, "stranger": -0.27, "unknown": 0.0},
}
_INTIMATE = ("ex_partner", "current_partner")


def _by_relationship(intimate: float, others: float, **special: float) -> dict[str, float]:
    return {r: special.get(r, intimate if r in _INTIMATE else others) for r in contract.RELATIONSHIPS}


#: What drives each domain depends on who the suspect is (interactions a tree model can learn and
#: a logistic regression on the same features cannot): a term ``COEF[d][q] * quantity`` becomes
#: ``COEF[d][q] * quantity * factor[relationship]``; the part beyond factor 1 is booked to the
#: relationship group, so every term stays one reason group's.
#: - harm: threats and violence from an intimate partner weigh most (ex-intimate stalkers are the
#:   most likely to be violent);
#: - persistence: ex-partners persist through contact and approach (rejected stalkers); strangers,
#:   acquaintances and online-only suspects through surveillance, following and online monitoring.
RELATIONSHIP_FACTOR: dict[str, dict[str, dict[str, float]]] = {
    "persistence": {
        "contact": _by_relationship(2.5, 0.3, family=1.0),
        "following_watching": _by_relationship(0.2, 2.0),
        "online": _by_relationship(0.2, 2.0),
    },
    "harm": {
        "threats": _by_relationship(2.0, 0.5, current_partner=1.8, colleague=0.4, online_only=0.3,
                                    unknown=0.8, family=0.6, neighbour=0.6),
        "violence": _by_relationship(1.4, 0.6, unknown=1.0),
    },
}
THREAT_RELATIONSHIP_FACTOR = RELATIONSHIP_FACTOR["harm"]["threats"]
FEAR_LOGIT = {
    "persistence": {"not_afraid": -0.15, "afraid": 0.05, "very_afraid": 0.2, "unknown": 0.0},
    "harm": {"not_afraid": -0.17, "afraid": 0.07, "very_afraid": 0.27, "unknown": 0.0},
}
RECENCY_DAYS = {"persistence": 7.0, "harm": 5.0}
#: Coefficients per domain; a missing key is 0. The quantity each multiplies is in `_terms`.
COEF: dict[str, dict[str, float]] = {
    "persistence": {
        "act_days_30": 0.34,        # x log1p(distinct UK days with a known event, last 30 days)
        "contact": 0.22,            # x log1p(contacting events, last 30 days)
        "third_party": 0.3,         # x any known event through or aimed at a third party
        "threats": 0.1,             # x log1p(threats, last 90 days)
        "order_breach": 0.3,        # x log1p(order breaches, last 365 days)
        "order_unbreached": -0.45,  # x an order in force and no breach known in the last 365 days
        "escalation_rate": 0.18,    # x clip(log weekly rate ratio, -2, 2)
        "recency": 1.0,             # x exp(-days since the last known event / RECENCY_DAYS)
        "prior_stalking": 0.27,     # x log1p(suspect_prior_stalking)
        "mental_health": 0.3,       # x suspect_mental_health_concern (no feature reads it yet)
        "following_watching": 0.3,  # x log1p(following/watching/loitering, last 90 days)
        "online": 0.3,              # x log1p(monitoring_online/publishing, last 90 days)
        "property": 0.18,           # x log1p(property_interference, last 90 days)
    },
    "harm": {
        "contact": 0.07,
        "threats": 0.37,
        "violence": 0.54,           # x log1p(violence, last 365 days)
        "order_breach": 0.3,
        "escalation_rate": 0.13,
        "escalation_shift": 0.34,   # x change in the threat/violence/breach share of events
        "recency": 0.72,
        "prior_violence": 0.23,     # x log1p(suspect_prior_violence)
        "prior_stalking": 0.1,
        "prior_domestic_abuse": 0.17,
        "substance_misuse": 0.1,
        "weapon_access": 0.45,      # x suspect_weapon_access (no feature reads it yet)
        "protective_order": 0.17,   # x protective_order_in_force
        "following_watching": 0.08,
        "property": 0.08,
    },
}


def observed(cases: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-case observables the mechanism reads, missing filled as documented (0 / false)."""
    def flag(col: str) -> np.ndarray:
        if col not in cases:
            return np.zeros(len(cases))
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
        "mental_health": flag("suspect_mental_health_concern"),
        "weapon_access": flag("suspect_weapon_access"),
    }


def terms(n: int, obs: dict[str, np.ndarray], case: np.ndarray, delta: np.ndarray,
          beh: np.ndarray, proxy: np.ndarray, days_before: Callable[[np.ndarray], np.ndarray]
          ) -> dict[str, dict[str, np.ndarray]]:
    """Per domain, the logit term of each reason group, from the known events only.

    ``delta``: seconds from each known event to the end of its assessment day (> 0);
    ``proxy``: through or aimed at a third party; ``days_before(mask)``: UK calendar days from
    the day of each known event selected by ``mask`` to the assessment day (0 = that day).
    """
    beh = np.asarray(beh)

    def count(behaviours: tuple[str, ...] | None, days: int) -> np.ndarray:
        mask = delta <= days * DAY
        if behaviours is not None:
            wanted = np.zeros(len(contract.BEHAVIOURS), dtype=bool)
            wanted[[contract.BEHAVIOURS.index(b) for b in behaviours]] = True
            mask &= wanted[beh]
        return np.bincount(case[mask], minlength=n)

    recent = delta <= 30 * DAY
    # distinct days: a bitmap of (case, day) over the 32 calendar days 30 x 24 hours can touch
    seen = np.zeros((n, 32), dtype=bool)
    seen[case[recent], np.clip(days_before(recent), 0, 31)] = True
    act_days = seen.sum(axis=1)
    third = np.bincount(case[proxy], minlength=n) > 0
    n30, n90 = count(None, 30), count(None, 90)
    h30, h90 = count(contract.OUTCOME_BEHAVIOURS, 30), count(contract.OUTCOME_BEHAVIOURS, 90)
    rate = np.clip(np.log((n30 * 7 / 30 + 0.5) / ((n90 - n30) * 7 / 60 + 0.5)), -2.0, 2.0)
    shift = h30 / np.maximum(n30, 1) - (h90 - h30) / np.maximum(n90 - n30, 1)
    last = np.full(n, np.inf)
    np.minimum.at(last, case, delta.astype(float))
    breaches = count(("order_breach",), 365)
    q = {
        "act_days_30": np.log1p(act_days), "contact": np.log1p(count(("contacting",), 30)),
        "third_party": third.astype(float), "threats": np.log1p(count(("threat",), 90)),
        "violence": np.log1p(count(("violence",), 365)),
        "order_breach": np.log1p(breaches),
        "order_unbreached": obs["protective_order"] * (breaches == 0),
        "escalation_rate": rate, "escalation_shift": shift,
        "prior_violence": np.log1p(obs["prior_violence"]), "prior_stalking": np.log1p(obs["prior_stalking"]),
        "prior_domestic_abuse": obs["prior_domestic_abuse"], "substance_misuse": obs["substance_misuse"],
        "mental_health": obs["mental_health"], "weapon_access": obs["weapon_access"],
        "protective_order": obs["protective_order"],
        "following_watching": np.log1p(count(("following", "watching", "loitering"), 90)),
        "online": np.log1p(count(("monitoring_online", "publishing"), 90)),
        "property": np.log1p(count(("property_interference",), 90)),
    }
    out = {}
    for domain in DOMAINS:
        k = COEF[domain]

        def part(*names: str, _k=k) -> np.ndarray:
            return sum((_k.get(name, 0.0) * q[name] for name in names), np.zeros(n))

        rel = np.array([RELATIONSHIP_LOGIT[domain][r] for r in contract.RELATIONSHIPS])[obs["relationship"]]
        for name, factor in RELATIONSHIP_FACTOR[domain].items():
            f = np.array([factor[r] for r in contract.RELATIONSHIPS])[obs["relationship"]]
            rel = rel + k.get(name, 0.0) * q[name] * (f - 1.0)
        recency = np.exp(-last / DAY / RECENCY_DAYS[domain])  # 0 for a case with no known event
        out[domain] = {
            "relationship": rel,
            "contact_frequency": part("act_days_30", "contact", "third_party"),
            "threats": part("threats"),
            "violence": part("violence"),
            "order_breach": part("order_breach"),
            "escalation": part("escalation_rate", "escalation_shift") + k.get("recency", 0.0) * recency,
            "suspect_history": part("prior_violence", "prior_stalking", "prior_domestic_abuse",
                                    "substance_misuse", "mental_health", "weapon_access"),
            "protective_order": part("protective_order", "order_unbreached"),
            "victim_fear": np.array([FEAR_LOGIT[domain][f] for f in contract.FEARS])[obs["victim_fear"]],
            "following_watching": part("following_watching"),
            "online": part("online"),
            "property": part("property"),
        }
    return out


def probabilities(domain_terms: dict[str, dict[str, np.ndarray]], horizon_days: int
                  ) -> dict[str, np.ndarray]:
    """``p_persistence``, ``p_harm`` and ``p`` (risk: either) from the terms.

    Persistence needs two distinct days in the window: with a one-day horizon it cannot happen.
    """
    p = {f"p_{d}": expit(INTERCEPT[d] + np.sum(list(domain_terms[d].values()), axis=0))
         for d in DOMAINS}
    if horizon_days < 2:
        p["p_persistence"] = np.zeros_like(p["p_persistence"])
    p["p"] = 1.0 - (1.0 - p["p_persistence"]) * (1.0 - p["p_harm"])
    return p


def risk_attribution(domain_terms: dict[str, dict[str, np.ndarray]], p: dict[str, np.ndarray]
                     ) -> dict[str, np.ndarray]:
    """Each group's share of logit(p) by the chain rule: d logit(p) / d logit(p_x) = p_x / p, so a
    group's risk term is (p_persistence · term_persistence + p_harm · term_harm) / p."""
    wp, wh = (p[f"p_{d}"] / np.maximum(p["p"], 1e-300) for d in DOMAINS)
    return {g: wp * domain_terms["persistence"][g] + wh * domain_terms["harm"][g] for g in GROUPS}
