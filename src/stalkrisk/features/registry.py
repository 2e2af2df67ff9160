"""Every model feature, declared as data.

Training constraints (``monotone``), explanations (``group`` and ``template``),
the docs (docs/features.md, see ``registry_markdown``) and the tests all read this
registry; nothing repeats it. The builder (``build.py``) computes exactly these
columns, in this order.

Feature values are float64. NaN means the case value is missing (e.g. the victim's
fear was not recorded) or, for the "days since" features, that there is no such event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stalkrisk.data.contract import (
    ETHNICITIES,
    OUTCOME_BEHAVIOURS,
    PROTECTED_ATTRIBUTES,
    RELATIONSHIPS,
    SEXES,
    STATUTORY_BEHAVIOURS,
)

FAMILIES = ("relationship", "frequency", "escalation", "severity", "history", "victim", "online", "linked")
KINDS = ("count", "rate", "days", "bool", "category_code", "number")


@dataclass(frozen=True)
class Feature:
    """One feature of a case, computed as of its assessment date.

    name:        column name in the feature table
    group:       reason group key (a key of GROUPS); contributions are summed per group
    family:      relationship | frequency | escalation | severity | history | victim | online
    window_days: trailing window in days, or None
    description: one line for docs and the model card
    template:    plain-English reason, formatted with ``value=`` (the feature value),
                 e.g. "{value:.0f} threats recorded in the last 30 days"
    monotone:    +1 (more never lowers risk), -1 (more never raises it) or 0 (free)
    kind:        "count" | "rate" | "days" | "bool" | "category_code" | "number"
    sdash:       True when the feature is one of the S-DASH stalking indicators
    template_one:  the reason when the value is exactly 1 (singular wording), or None
    template_zero: the reason when the value is 0 ("No threats ..."), or None
    template_negative: the reason when the value is below 0, formatted with the
                 magnitude (``value=-value``): "... falling ... ({value:.1f} a week)", or None
    levels:      for ordinal codes, the label of code 0, 1, 2, ...
    """

    name: str
    group: str
    family: str
    description: str
    template: str
    monotone: int = 0
    window_days: int | None = None
    kind: str = "number"
    sdash: bool = False
    template_one: str | None = None
    template_zero: str | None = None
    template_negative: str | None = None
    levels: tuple[str, ...] | None = None

    @property
    def is_case_fact(self) -> bool:
        """A value of the case row (history, the victim's account, an order), not of its events:
        when it is missing it was not recorded, which is not evidence either way."""
        return self.family in ("history", "victim") and not self.name.startswith("sdash_") or \
            self.name in ("sdash_prior_harassment", "sdash_substance_misuse", "sdash_fear") or \
            self.family == "linked" and self.kind == "count"  # no suspect_id: the person is not known

    def reason(self, value: float) -> str:
        """The reviewer-facing sentence for this feature at ``value``."""
        label = GROUPS.get(self.group, self.group.replace("_", " ").capitalize())
        if value is None or math.isnan(value):
            # a case fact left empty is not recorded; an event feature with no value has no event
            return f"{label}: {'not recorded' if self.is_case_fact else 'none recorded'}"
        if self.kind == "days":  # whole days before the end of the assessment day
            value = float(math.floor(value))
        if self.kind in ("number", "rate") and round(value, 1 if self.kind == "number" else 2) == 0:
            value = 0.0  # as shown: "+0.0 a week" or "-0.0 a week" says nothing; say "steady"
        if self.levels is not None and float(value).is_integer() and 0 <= value < len(self.levels):
            return f"{label}: {self.levels[int(value)]}"
        if value == 0 and self.template_zero is not None:
            return self.template_zero.format(value=value)
        if value < 0 and self.template_negative is not None:
            return self.template_negative.format(value=-value)
        if value == 1 and self.template_one is not None:
            return self.template_one.format(value=value)
        return self.template.format(value=value)


#: Reason groups: key -> label shown to a reviewer ("Threats: ...").
GROUPS: dict[str, str] = {
    "relationship": "Relationship",
    "contact_frequency": "Frequency of recorded behaviour",
    "threats": "Threats",
    "violence": "Violence",
    "order_breach": "Breach of a protective order",
    "escalation": "Recency and escalation",
    "suspect_history": "Suspect's history",
    "protective_order": "Protective order",
    "victim_fear": "Victim's fear",
    "following_watching": "Following, watching or loitering",
    "online": "Online behaviour",
    "property": "Interference with property",
    "linked_cases": "Suspect's other cases",
}

#: Trailing windows (days) of the count features; None = everything known by the cutoff.
WINDOWS: tuple[int, ...] = (7, 30, 90, 365)
#: Behaviours counted over all time too (the statutory ones are covered by course_of_conduct).
ALL_TIME_COUNTS = ("events",) + OUTCOME_BEHAVIOURS

#: Feature-name prefixes that would betray a protected attribute; no registry feature has one.
PROTECTED_FEATURE_PREFIXES: tuple[str, ...] = PROTECTED_ATTRIBUTES

# behaviour -> (group, family, plural noun phrase, singular noun phrase)
_COUNTED: dict[str, tuple[str, str, str, str]] = {
    "following": ("following_watching", "frequency",
                  "incidents of following", "incident of following"),
    "contacting": ("contact_frequency", "frequency",
                   "contacts or attempts at contact", "contact or attempt at contact"),
    "publishing": ("online", "online",
                   "instances of publishing material about the victim",
                   "instance of publishing material about the victim"),
    "monitoring_online": ("online", "online",
                          "instances of monitoring the victim online",
                          "instance of monitoring the victim online"),
    "loitering": ("following_watching", "frequency", "instances of loitering", "instance of loitering"),
    "property_interference": ("property", "frequency",
                              "incidents of interference with property",
                              "incident of interference with property"),
    "watching": ("following_watching", "frequency",
                 "incidents of watching or spying", "incident of watching or spying"),
    "threat": ("threats", "severity", "threats", "threat"),
    "violence": ("violence", "severity", "violent incidents", "violent incident"),
    "order_breach": ("order_breach", "severity",
                     "breaches of a protective order", "breach of a protective order"),
    "events": ("contact_frequency", "frequency", "events", "event"),
}
assert tuple(_COUNTED)[:-1] == STATUTORY_BEHAVIOURS + OUTCOME_BEHAVIOURS


def _window_phrase(days: int | None) -> str:
    return {7: "in the last 7 days", 30: "in the last 30 days", 90: "in the last 90 days",
            365: "in the last year", None: "up to the assessment"}[days]


def count_name(behaviour: str, days: int | None) -> str:
    """Column name of the count of ``behaviour`` (or "events") in a window."""
    return f"n_{behaviour}_{'all' if days is None else f'{days}d'}"


def _count_feature(behaviour: str, days: int | None) -> Feature:
    group, family, many, one = _COUNTED[behaviour]
    when = _window_phrase(days)
    what = "all recorded events" if behaviour == "events" else f"`{behaviour}` events"
    span = "known by the cutoff" if days is None else f"in the {days} days before the cutoff"
    return Feature(
        name=count_name(behaviour, days), group=group, family=family, window_days=days,
        description=f"Number of {what} {span}",
        template=f"{{value:.0f}} {many} recorded {when}",
        template_one=f"1 {one} recorded {when}",
        template_zero=f"No {many} recorded {when}",
        monotone=1, kind="count",
    )


def _relationship_feature(category: str) -> Feature:
    label = category.replace("_", "-") if category == "ex_partner" else category.replace("_", " ")
    return Feature(
        name=f"rel_{category}", group="relationship", family="relationship",
        description=f"1 when the suspect's relationship to the victim is `{category}`",
        template=f"Relationship: {label}", template_zero=f"Relationship: not {label}",
        monotone=0, kind="bool",
    )


def _flag(name: str, group: str, family: str, description: str, yes: str, no: str,
          *, monotone: int = 1, sdash: bool = False, window_days: int | None = None) -> Feature:
    return Feature(name=name, group=group, family=family, description=description,
                   template=yes, template_zero=no, monotone=monotone, kind="bool",
                   sdash=sdash, window_days=window_days)


def _since(name: str, group: str, what: str) -> Feature:
    return Feature(
        name=name, group=group, family="escalation", kind="days", monotone=0,
        description=f"Days from the first known {what} to the cutoff (NaN when none)",
        template=f"First {what} recorded {{value:.0f}} days before the assessment",
        template_one=f"First {what} recorded 1 day before the assessment",
        template_zero=f"First {what} recorded on the day of the assessment",
    )


def _build_registry() -> tuple[Feature, ...]:
    f: list[Feature] = [_relationship_feature(c) for c in RELATIONSHIPS]
    f += [
        Feature("suspect_prior_stalking", "suspect_history", "history",
                "Earlier recorded stalking or harassment offences by the suspect",
                "Suspect has {value:.0f} earlier recorded stalking or harassment offences",
                template_one="Suspect has 1 earlier recorded stalking or harassment offence",
                template_zero="Suspect has no earlier recorded stalking or harassment offences",
                monotone=1, kind="count"),
        Feature("suspect_prior_violence", "suspect_history", "history",
                "Earlier recorded violent offences by the suspect",
                "Suspect has {value:.0f} earlier recorded violent offences",
                template_one="Suspect has 1 earlier recorded violent offence",
                template_zero="Suspect has no earlier recorded violent offences",
                monotone=1, kind="count"),
        _flag("suspect_prior_domestic_abuse", "suspect_history", "history",
              "1 when the suspect has any recorded domestic-abuse history",
              "Suspect has a recorded history of domestic abuse",
              "No recorded domestic-abuse history for the suspect"),
        _flag("suspect_substance_misuse", "suspect_history", "history",
              "1 when the suspect is known to misuse drugs or alcohol",
              "Suspect is known to misuse drugs or alcohol",
              "Suspect is not known to misuse drugs or alcohol"),
        _flag("protective_order_in_force", "protective_order", "history",
              "1 when a protective order is in force on the assessment date",
              "A protective order is in force", "No protective order is in force", monotone=0),
        Feature("victim_fear", "victim_fear", "victim",
                "Victim's own account of fear: 0 not afraid, 1 afraid, 2 very afraid",
                "Victim's fear at assessment (0 not afraid, 1 afraid, 2 very afraid): {value:.0f}",
                monotone=1, kind="category_code", levels=("not afraid", "afraid", "very afraid")),
    ]
    for behaviour in _COUNTED:
        f += [_count_feature(behaviour, days) for days in WINDOWS]
        if behaviour in ALL_TIME_COUNTS:
            f.append(_count_feature(behaviour, None))
    f += [
        Feature(f"distinct_days_{d}d", "contact_frequency", "frequency",
                f"Distinct UK calendar days with at least one event in the last {d} days",
                f"Behaviour recorded on {{value:.0f}} separate days {_window_phrase(d)}",
                template_one=f"Behaviour recorded on 1 day {_window_phrase(d)}",
                template_zero=f"No behaviour recorded {_window_phrase(d)}",
                monotone=1, window_days=d, kind="count")
        for d in (30, 90, 365)
    ]
    f += [
        Feature("distinct_channels_90d", "contact_frequency", "frequency",
                "Distinct known channels (not `unknown`) used in the last 90 days",
                "Behaviour recorded through {value:.0f} different channels in the last 90 days",
                template_one="Behaviour recorded through 1 channel in the last 90 days",
                template_zero="No behaviour recorded through a known channel in the last 90 days",
                monotone=1, window_days=90, kind="count"),
        Feature("online_share_90d", "online", "online",
                "Share of last-90-day events that were online (email or social media channel, "
                "or online monitoring or publishing); 0 when there were none",
                "{value:.0%} of events in the last 90 days were online",
                monotone=0, window_days=90, kind="rate"),
        Feature("weekly_trend_12w", "escalation", "escalation",
                "Least-squares slope of weekly event counts over the last 12 weeks "
                "(events a week, per week; 0 when there were none)",
                "Weekly recorded behaviour has been rising over the last 12 weeks ({value:+.1f} a week)",
                template_negative="Weekly recorded behaviour has been falling over the last 12 weeks "
                                  "(-{value:.1f} a week)",
                template_zero="Weekly recorded behaviour has been steady over the last 12 weeks",
                monotone=1, window_days=84, kind="number"),
        Feature("change_30d_vs_prior_60d", "escalation", "escalation",
                "Events in the last 30 days minus the 30-day average of the 60 days before "
                "(a difference, so it is defined when either period is empty)",
                "{value:.1f} more events in the last 30 days than the 30-day average "
                "of the 60 days before",
                template_negative="{value:.1f} fewer events in the last 30 days than the "
                                  "30-day average of the 60 days before",
                template_zero="As many events in the last 30 days as the 30-day average "
                              "of the 60 days before",
                monotone=1, window_days=90, kind="number"),
        Feature("days_since_last_event", "escalation", "escalation",
                "Days from the latest known event to the cutoff (NaN when none)",
                "Last recorded event {value:.0f} days before the end of the assessment day",
                template_one="Last recorded event 1 day before the end of the assessment day",
                template_zero="Last recorded event on the day of the assessment",
                monotone=-1, kind="days"),
        Feature("history_length_days", "escalation", "escalation",
                "Days from the first known event to the cutoff (NaN when none)",
                "Behaviour recorded over {value:.0f} days",
                template_one="Behaviour recorded over 1 day",
                template_zero="Behaviour recorded on the day of the assessment only",
                monotone=0, kind="days"),
        _since("days_since_first_threat", "threats", "threat"),
        _since("days_since_first_violence", "violence", "violent incident"),
        _since("days_since_first_order_breach", "order_breach", "breach of a protective order"),
        Feature("threat_shift_30d", "escalation", "escalation",
                "Share of threats and violence among last-30-day events minus their share "
                "among earlier events (each share 0 when its period is empty)",
                "Threats and violence are a larger share of events in the last 30 days "
                "than before (+{value:.0%} points)",
                template_negative="Threats and violence are a smaller share of events in the "
                                  "last 30 days than before (-{value:.0%} points)",
                template_zero="Threats and violence are as large a share of recent events "
                              "as before",
                monotone=1, window_days=30, kind="rate"),
    ]
    f += [
        _flag("sdash_property_interference", "property", "frequency",
              "S-DASH: any known interference with the victim's property",
              "Suspect has interfered with the victim's property",
              "No known interference with property", sdash=True),
        _flag("sdash_loitering", "following_watching", "frequency",
              "S-DASH: any known loitering", "Suspect has loitered near the victim",
              "No known loitering", sdash=True),
        _flag("sdash_visits_over_3_a_week", "following_watching", "frequency",
              "S-DASH: more than three in-person events within some 7-day span "
              "(all four in the last 90 days)",
              "Suspect visited in person more than three times in a week",
              "No week with more than three in-person visits in the last 90 days",
              sdash=True, window_days=90),
        _flag("sdash_threats", "threats", "severity", "S-DASH: any known threat",
              "Suspect has made threats", "No known threats", sdash=True),
        _flag("sdash_violence", "violence", "severity", "S-DASH: any known violence",
              "Suspect has been violent to the victim", "No known violence", sdash=True),
        _flag("sdash_prior_harassment", "suspect_history", "history",
              "S-DASH: the suspect has earlier recorded stalking or harassment offences",
              "Suspect has stalked or harassed before",
              "No earlier stalking or harassment recorded for the suspect", sdash=True),
        _flag("sdash_substance_misuse", "suspect_history", "history",
              "S-DASH: the suspect is known to misuse drugs or alcohol "
              "(same value as suspect_substance_misuse)",
              "Suspect is known to misuse drugs or alcohol",
              "Suspect is not known to misuse drugs or alcohol", sdash=True),
        _flag("sdash_third_party_contact", "contact_frequency", "frequency",
              "S-DASH: any known contact through third parties (channel or target `third_party`)",
              "Suspect has contacted the victim through other people",
              "No known contact through third parties", sdash=True),
        _flag("sdash_fear", "victim_fear", "victim",
              "S-DASH: the victim is afraid or very afraid",
              "Victim is afraid", "Victim does not say they are afraid", sdash=True),
        _flag("course_of_conduct", "contact_frequency", "frequency",
              "1 when acts associated with stalking (the s.2A(3) examples, threats, violence, "
              "order breaches, contact through third parties) are known on at least two "
              "occasions (distinct UK calendar days) by the cutoff: a policy proxy for "
              "\"repeated\", not the offence test",
              "Acts associated with stalking recorded on at least two separate days",
              "Acts associated with stalking recorded on fewer than two separate days"),
    ]
    f += _linked_features()
    return tuple(f)


def _linked_count(name: str, description: str, many: str, one: str, none: str, monotone: int = 1) -> Feature:
    return Feature(name, "linked_cases", "linked", description, many, template_one=one, template_zero=none,
                   monotone=monotone, kind="count")


def _linked_features() -> list[Feature]:
    """The suspect's other cases known by the end of the assessment day (``features.linking``): NaN
    when the case has no ``suspect_id``."""
    known = "known by the assessment date (assessed on or before it)"
    return [
        _linked_count("linked_cases", f"Other cases of the same suspect (suspect_id), any force, {known}",
                      "Suspect has {value:.0f} other cases known by the assessment date",
                      "Suspect has 1 other case known by the assessment date",
                      "No other case of the suspect known by the assessment date"),
        _linked_count("linked_victims", f"Distinct victims (victim_id) of the suspect's other cases, other "
                      f"than this case's victim, {known}",
                      "Suspect's other cases name {value:.0f} other victims",
                      "Suspect's other cases name 1 other victim",
                      "Suspect's other cases name no other victim"),
        _linked_count("linked_forces", f"Distinct forces (force_code) holding the suspect's other cases, other "
                      f"than this case's force, {known}",
                      "Suspect's other cases are held by {value:.0f} other forces",
                      "Suspect's other cases are held by 1 other force",
                      "Suspect's other cases are held by no other force", monotone=0),
        Feature("linked_cases_365d", "linked_cases", "linked",
                "Other cases of the same suspect assessed in the 365 days up to this one's assessment date",
                "Suspect has {value:.0f} other cases assessed in the last year",
                template_one="Suspect has 1 other case assessed in the last year",
                template_zero="No other case of the suspect assessed in the last year",
                monotone=1, kind="count", window_days=365),
        _linked_count("linked_cases_victim_afraid", f"The suspect's other cases whose victim was afraid or very "
                      f"afraid at their assessment, {known}",
                      "{value:.0f} of the suspect's other cases record a victim who was afraid",
                      "1 of the suspect's other cases records a victim who was afraid",
                      "None of the suspect's other cases records a victim who was afraid"),
        _linked_count("linked_cases_order_in_force", f"The suspect's other cases with a protective order in "
                      f"force at their assessment, {known}",
                      "{value:.0f} of the suspect's other cases had a protective order in force",
                      "1 of the suspect's other cases had a protective order in force",
                      "None of the suspect's other cases had a protective order in force"),
    ]


FEATURES: tuple[Feature, ...] = _build_registry()
FEATURES_BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}

#: Label of the group that protected features (only when a config names them) fall in.
PROTECTED_GROUP = ("protected_attribute", "Protected attribute (named in the config)")
_PROTECTED_CATEGORIES = {"victim_sex": SEXES, "suspect_sex": SEXES,
                         "victim_ethnicity": ETHNICITIES, "suspect_ethnicity": ETHNICITIES}


def feature_names() -> list[str]:
    return [f.name for f in FEATURES]


def monotone_constraints(names: list[str] | None = None) -> list[int]:
    """LightGBM ``monotone_constraints`` for ``names`` (default: every registry feature)."""
    return [FEATURES_BY_NAME[n].monotone if n in FEATURES_BY_NAME else 0
            for n in (names if names is not None else feature_names())]


def sdash_names() -> list[str]:
    """The S-DASH indicators; their sum (NaN as 0) is the S-DASH count baseline."""
    return [f.name for f in FEATURES if f.sdash]


def protected_features(protected: tuple[str, ...] | list[str]) -> tuple[Feature, ...]:
    """Features for the protected attributes a config names: ages as numbers,
    categories one-hot. They are never in FEATURES."""
    out: list[Feature] = []
    for attr in protected:
        if attr not in PROTECTED_ATTRIBUTES:
            raise ValueError(f"{attr!r} is not a protected attribute: {PROTECTED_ATTRIBUTES}")
        label = attr.replace("_", " ")
        if attr in _PROTECTED_CATEGORIES:
            out += [Feature(f"{attr}_{c}", PROTECTED_GROUP[0], "victim",
                            f"1 when {label} is `{c}` (protected attribute)",
                            f"{label.capitalize()}: {c}", template_zero=f"{label.capitalize()}: not {c}",
                            kind="bool") for c in _PROTECTED_CATEGORIES[attr]]
        else:
            out.append(Feature(attr, PROTECTED_GROUP[0], "victim",
                               f"{label.capitalize()} in years (protected attribute)",
                               f"{label.capitalize()}: {{value:.0f}}", kind="number"))
    return tuple(out)


def registry_markdown() -> str:
    """docs/features.md, generated from the registry (a test keeps the file equal to this)."""
    lines = [
        "# Features",
        "",
        "Generated by `stalkrisk.features.registry.registry_markdown()`; do not edit by hand.",
        "",
        "Every feature is computed as of the end of the case's assessment day (UK local",
        "midnight, in UTC): an event counts only if it happened and was recorded before",
        "then. \"Last N days\" means `cutoff - N days <= event_time < cutoff`.",
        "Values are float64; NaN means the case value is missing, or that there is no such",
        "event for the \"days since\" features. Monotone: +1 more never lowers the score,",
        "-1 more never raises it, 0 free. Protected attributes are never features unless a",
        "training config names them.",
        "",
        "## Reason groups",
        "",
        "| group | label |",
        "|---|---|",
        *[f"| `{k}` | {v} |" for k, v in GROUPS.items()],
        "",
        f"## Features ({len(FEATURES)})",
        "",
        "| name | group | family | window | kind | monotone | S-DASH | description | example reason |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in FEATURES:
        window = "" if f.window_days is None else str(f.window_days)
        sample = f.reason(_SAMPLE_VALUE[f.kind])
        monotone = f"{f.monotone:+d}" if f.monotone else "0"
        lines.append(f"| `{f.name}` | `{f.group}` | {f.family} | {window} | {f.kind} | "
                     f"{monotone} | {'yes' if f.sdash else ''} | "
                     f"{f.description.replace('|', '/')} | {sample} |")
    return "\n".join(lines) + "\n"


#: A typical value per kind, used for the docs' example reasons and the registry tests.
_SAMPLE_VALUE = {"count": 3.0, "rate": 0.25, "days": 12.0, "bool": 1.0,
                 "category_code": 2.0, "number": 1.5}
