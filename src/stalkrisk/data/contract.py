"""The case-history data contract as data.

This module is the one place that knows the columns, types and categories of the
input tables (see docs/data-contract.md). Readers, validation suites, the
synthetic generator and the feature pipeline all read these definitions; nothing
else repeats them.

Normalised form (what `stalkrisk.data.readers` returns and `stalkrisk.synth.caseload`
generates) uses these pandas dtypes:

- ``string``: pandas ``str`` (``object`` holding Python ``str`` is accepted too)
- ``category``: ``str`` holding the trimmed, lower-cased value; a column marked ``coded``
  (the events' behaviour and channel: a handful of values over millions of rows) is a
  pandas categorical of those values instead, so no text is made per row. Its categories
  are the values seen, not the contract's list: an unknown value stays for validation to
  report. Consumers take either form.
- ``int``: nullable ``Int64``
- ``bool``: nullable ``boolean``
- ``date``: ``datetime64[ns]``, naive, midnight of the (UK local) calendar date
- ``timestamp``: ``datetime64[ns, UTC]``
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["string", "category", "int", "bool", "date", "timestamp"]

LOCAL_TZ = "Europe/London"
CASE_ID_PATTERN = r"^[A-Za-z0-9_.:\-]{1,64}$"

RELATIONSHIPS = (
    "ex_partner",
    "current_partner",
    "family",
    "acquaintance",
    "colleague",
    "neighbour",
    "online_only",
    "stranger",
    "unknown",
)
SEXES = ("female", "male", "other", "unknown")
FEARS = ("not_afraid", "afraid", "very_afraid", "unknown")
ETHNICITIES = ("white", "mixed", "asian", "black", "other", "unknown")
CHANNELS = (
    "in_person",
    "phone",
    "text_message",
    "email",
    "social_media",
    "third_party",
    "other",
    "unknown",
)
ONLINE_CHANNELS = ("email", "social_media")

#: Behaviours associated with stalking, Protection from Harassment Act 1997 s.2A(3).
STATUTORY_BEHAVIOURS = (
    "following",
    "contacting",
    "publishing",
    "monitoring_online",
    "loitering",
    "property_interference",
    "watching",
)
#: Behaviours that make the default training label (harm outcomes).
OUTCOME_BEHAVIOURS = ("threat", "violence", "order_breach")
BEHAVIOURS = STATUTORY_BEHAVIOURS + OUTCOME_BEHAVIOURS + ("other",)
#: Acts associated with stalking for the course-of-conduct proxy (contract v2): the s.2A(3)
#: examples, threats, violence and breaches; an event through a third party (channel
#: ``third_party`` or target ``third_party``) is an act whatever its behaviour.
ACT_BEHAVIOURS = STATUTORY_BEHAVIOURS + OUTCOME_BEHAVIOURS

#: Whom an event was aimed at (events.target, contract v2): stalking by proxy is third_party.
TARGETS = ("victim", "third_party", "unknown")
#: Protective orders (orders.order_type, contract v2); the first two are Stalking Protection
#: Orders (SPA 2019 s.1 and the interim order of s.5).
ORDER_TYPES = ("spo", "interim_spo", "non_molestation", "restraining", "dvpo", "other")
SPO_TYPES = ("spo", "interim_spo")

#: Offences of the optional history table (history.offence, contract v2).
OFFENCES = ("stalking", "harassment", "violence", "domestic_abuse", "sexual", "order_breach", "other")

TRUE_SPELLINGS = ("true", "1", "yes")
FALSE_SPELLINGS = ("false", "0", "no")

AGE_RANGE = (10, 110)


@dataclass(frozen=True)
class Column:
    """One column of an input table and the rules its values must keep."""

    name: str
    kind: Kind
    required: bool = False
    categories: tuple[str, ...] | None = None
    min_value: int | None = None
    max_value: int | None = None
    unique: bool = False
    pattern: str | None = None
    description: str = ""
    coded: bool = False  # a category normalised as a pandas categorical (see the module's docstring)


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...] = field(default_factory=tuple)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def __getitem__(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


CASES = Table(
    "cases",
    (
        Column("case_id", "string", required=True, unique=True, pattern=CASE_ID_PATTERN,
               description="unique case identifier"),
        Column("assessment_date", "date", required=True,
               description="as-of date of the screening (UK local calendar date)"),
        Column("relationship", "category", required=True, categories=RELATIONSHIPS,
               description="the suspect's prior relationship to the victim"),
        Column("victim_sex", "category", required=True, categories=SEXES),
        Column("victim_age", "int", min_value=AGE_RANGE[0], max_value=AGE_RANGE[1]),
        Column("suspect_sex", "category", required=True, categories=SEXES),
        Column("suspect_age", "int", min_value=AGE_RANGE[0], max_value=AGE_RANGE[1]),
        Column("suspect_prior_stalking", "int", min_value=0,
               description="earlier recorded stalking or harassment offences"),
        Column("suspect_prior_violence", "int", min_value=0,
               description="earlier recorded violent offences"),
        Column("suspect_prior_domestic_abuse", "bool"),
        Column("suspect_substance_misuse", "bool"),
        Column("protective_order_in_force", "bool"),
        Column("victim_fear", "category", categories=FEARS),
        Column("victim_ethnicity", "category", categories=ETHNICITIES),
        Column("suspect_ethnicity", "category", categories=ETHNICITIES),
        Column("force_code", "string"),
        Column("label", "bool", description="user-supplied outcome for training"),
        # contract v2 (optional)
        Column("suspect_id", "string", description="pseudonymous key of the suspect"),
        Column("victim_id", "string", description="pseudonymous key of the victim"),
        Column("suspect_mental_health_concern", "bool"),
        Column("suspect_weapon_access", "bool"),
        Column("separation_date", "date", description="when the relationship ended"),
    ),
)

EVENTS = Table(
    "events",
    (
        Column("case_id", "string", required=True, pattern=CASE_ID_PATTERN),
        Column("event_time", "timestamp", required=True),
        Column("behaviour", "category", required=True, categories=BEHAVIOURS, coded=True),
        Column("channel", "category", categories=CHANNELS, coded=True),
        Column("recorded_at", "timestamp"),
        Column("event_id", "string", unique=True),
        Column("target", "category", categories=TARGETS, coded=True),  # contract v2
    ),
)

#: The optional third table (contract v2, ``--orders FILE``): protective orders, whose
#: state as of each assessment day ``features.orders_asof`` derives.
ORDERS = Table(
    "orders",
    (
        Column("order_id", "string", required=True, unique=True),
        Column("case_id", "string", pattern=CASE_ID_PATTERN),
        Column("suspect_id", "string"),
        Column("order_type", "category", required=True, categories=ORDER_TYPES),
        Column("made_on", "date", required=True),
        Column("expires_on", "date", description="empty: until further order"),
        Column("recorded_at", "timestamp"),
    ),
)

#: The optional fourth table (contract v2, ``--history FILE``): the suspects' recorded offences, from
#: which ``features.history_asof`` builds the prior counts as of each assessment day.
HISTORY = Table(
    "history",
    (
        Column("suspect_id", "string", required=True, description="pseudonymous key of the suspect"),
        Column("offence_date", "date", required=True, description="when the offence happened"),
        Column("recorded_at", "timestamp", required=True,
               description="when the police recorded it: later than the assessment day, it shapes nothing"),
        Column("offence", "category", required=True, categories=OFFENCES),
    ),
)

TABLES = {"cases": CASES, "events": EVENTS, "orders": ORDERS, "history": HISTORY}
#: The tables every run reads; ``orders`` and ``history`` are read only when given.
MAIN_TABLES = ("cases", "events")

#: Rules that join two columns of an orders row (checked in Python: validation.orders).
RULE_ORDER_NAMES_SOMEONE = "names_a_case_or_suspect"
RULE_EXPIRES_AFTER_MADE = "expires_on_not_before_made_on"

#: Read for the fairness audit; never model features unless a config names them.
PROTECTED_ATTRIBUTES = (
    "victim_sex",
    "victim_age",
    "victim_ethnicity",
    "suspect_sex",
    "suspect_age",
    "suspect_ethnicity",
)

PANDAS_DTYPES: dict[Kind, str] = {
    "string": "str",
    "category": "str",
    "int": "Int64",
    "bool": "boolean",
    "date": "datetime64[ns]",
    "timestamp": "datetime64[ns, UTC]",
}


def dtype_of(column: Column):
    """The normalised pandas dtype of ``column``."""
    if column.coded:
        import pandas as pd

        return pd.CategoricalDtype(pd.Index([], dtype="str"))
    return PANDAS_DTYPES[column.kind]


def by_category(series, work, missing):
    """``work(categories)`` (one value per category of the categorical ``series``: a coded
    column) spread to its rows as a numpy array; rows without a value take ``missing``.
    Each category is looked at once, however many rows hold it."""
    import numpy as np

    per_category = np.asarray(work(series.cat.categories))
    with_missing = np.append(per_category, np.asarray(missing, dtype=per_category.dtype))
    return with_missing[series.cat.codes.to_numpy()]  # code -1 (no value): the last entry


def empty_frame(table: Table):
    """An empty frame with every column of ``table`` in its normalised dtype."""
    import pandas as pd

    return pd.DataFrame({c.name: pd.Series(dtype=dtype_of(c)) for c in table.columns})
