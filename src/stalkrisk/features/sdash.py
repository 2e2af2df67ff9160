"""The S-DASH (2009) stalking screening form as a baseline: its eleven questions, as data.

Police screen stalking cases today with the S-DASH checklist: the more "yes" answers, the higher
the risk. A model earns its place only by beating that count, so the baseline must ask each
question as the form asks it, from what the data holds by the assessment day (the features),
and say plainly which questions the data cannot answer. An unanswerable question counts "no",
as a blank on the form does; so does a missing value.

Which features answer which question is written once, here (``ITEMS``); training counts them,
the data scientist's guide prints the table, a test keeps both in step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Item:
    """One question of the form: ``features`` answer it "yes" when any is at least ``at_least``
    (none: the data cannot answer it, and it counts "no")."""

    number: int
    question: str
    features: tuple[str, ...]
    at_least: float
    counted_as: str


ITEMS: tuple[Item, ...] = (
    Item(1, "Is the victim very frightened?", ("victim_fear",), 2.0,
         "the victim's own account is `very_afraid` (not merely `afraid`: the form asks \"very\")"),
    Item(2, "Has the suspect engaged in harassment on previous occasions (this victim and/or other victims)?",
         ("suspect_prior_stalking",), 1.0,
         "at least one earlier recorded stalking or harassment offence by the suspect"),
    Item(3, "Has the suspect ever destroyed or vandalised the victim's property?",
         ("sdash_property_interference",), 1.0, "any recorded interference with the victim's property"),
    Item(4, "Does the suspect visit the victim at work, home, etc. more than three times a week?",
         ("sdash_visits_over_3_a_week",), 1.0,
         "more than three in-person events within some 7-day span in the last 90 days"),
    Item(5, "Has the suspect loitered around the victim's home, workplace etc.?",
         ("sdash_loitering",), 1.0, "any recorded loitering"),
    Item(6, "Has the suspect made any threats of physical or sexual violence in the current incident?",
         ("sdash_threats",), 1.0, "any recorded threat in this case"),
    Item(7, "Has the suspect harassed any third party since the harassment began (family, friends, colleagues)?",
         (), 1.0,
         "not in the data: events do not say whom an act was aimed at (version 2's `target` column will)"),
    Item(8, "Has the suspect acted violently towards people within the current incident?",
         ("sdash_violence",), 1.0, "any recorded violence in this case"),
    Item(9, "Has the suspect persuaded other people to help (wittingly or unwittingly)?",
         ("sdash_third_party_contact",), 1.0, "any recorded contact through the `third_party` channel"),
    Item(10, "Is the suspect known to be abusing drugs and/or alcohol?",
         ("suspect_substance_misuse",), 1.0, "`suspect_substance_misuse` is true"),
    Item(11, "Is the suspect known to have been violent in the past (physical or psychological)?",
         ("suspect_prior_violence", "suspect_prior_domestic_abuse"), 1.0,
         "at least one earlier recorded violent offence, or a recorded domestic-abuse history"),
)


def answers(features: pd.DataFrame) -> pd.DataFrame:
    """One 0/1 column per question (``q1`` ... ``q11``), "no" where the data cannot answer it."""
    out = {}
    for item in ITEMS:
        yes = np.zeros(len(features), dtype=bool)
        for name in item.features:
            if name in features:
                values = pd.to_numeric(features[name], errors="coerce").to_numpy(dtype=np.float64)
                yes |= np.nan_to_num(values, nan=-np.inf) >= item.at_least
        out[f"q{item.number}"] = yes.astype(np.int8)
    return pd.DataFrame(out, index=features.index)


def sdash_count(features: pd.DataFrame) -> np.ndarray:
    """The number of "yes" answers (0-11) per case: the S-DASH count baseline."""
    return answers(features).sum(axis=1).to_numpy(dtype=np.float64)


def items_markdown() -> str:
    """The questions and how the data answers each, as a Markdown table (for the guide)."""
    lines = ["| # | S-DASH question | counted \"yes\" when | features |", "|---|---|---|---|"]
    for item in ITEMS:
        names = ", ".join(f"`{n}`" for n in item.features) or "none"
        lines.append(f"| {item.number} | {item.question} | {item.counted_as} | {names} |")
    return "\n".join(lines) + "\n"
