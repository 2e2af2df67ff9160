"""A generated ``history`` table (contract v2) for a generated caseload: the suspects' recorded offences.

Drawn from a random stream of its own, so the caseload's bytes are unchanged. For each suspect, the
first of its cases sets the offences recorded before that case's assessment: as many stalking or
harassment offences as its exported ``suspect_prior_stalking``, violent or sexual ones as
``suspect_prior_violence``, one domestic-abuse offence when ``suspect_prior_domestic_abuse`` is
true. So the counts built from the history as of that day equal the export; each of a serial
suspect's earlier cases is one more stalking offence, recorded on its assessment day, for the later
ones. About a quarter of suspects also get an offence recorded after
the assessment (a later export's extra rows, which must shape nothing), and a few breaches and
"other" offences, which feed no count.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

LATE_SHARE = 0.25
EXTRA_SHARE = 0.10


def make_history(cases: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The history rows for ``cases`` (normalised, with ``suspect_id``), sorted by suspect and date."""
    rng = np.random.default_rng([seed, 19])
    first = cases.dropna(subset=["suspect_id"]).sort_values("assessment_date", kind="stable") \
        .drop_duplicates("suspect_id")
    day = first["assessment_date"].to_numpy(dtype="datetime64[D]")
    counts = {name: pd.array(first[column] if column in first else [pd.NA] * len(first), dtype="Int64")
              .fillna(0).to_numpy(dtype=np.int64)
              for name, column in (("stalking", "suspect_prior_stalking"), ("violence", "suspect_prior_violence"))}
    abuse = pd.array(first.get("suspect_prior_domestic_abuse", pd.Series([pd.NA] * len(first))),
                     dtype="boolean").fillna(False).to_numpy(dtype=np.int64)
    late = (rng.random(len(first)) < LATE_SHARE).astype(np.int64)
    extra = (rng.random(len(first)) < EXTRA_SHARE).astype(np.int64)
    per = counts["stalking"] + counts["violence"] + abuse + late + extra
    owner = np.repeat(np.arange(len(first)), per)
    kind = np.concatenate([np.repeat([0, 1, 2, 3, 4], [s, v, a, la, e]) for s, v, a, la, e in
                           zip(counts["stalking"], counts["violence"], abuse, late, extra)]) if len(owner) else \
        np.empty(0, np.int64)
    offence = np.select([kind == 0, kind == 1, kind == 2, kind == 3],
                        [rng.choice(["stalking", "harassment"], len(kind)),
                         rng.choice(["violence", "sexual"], len(kind), p=[0.9, 0.1]),
                         np.full(len(kind), "domestic_abuse"),
                         rng.choice(["stalking", "violence"], len(kind))],
                        rng.choice(["order_breach", "other"], len(kind)))
    ago = rng.integers(30, 3000, len(kind))
    lag = rng.integers(0, 28, len(kind))
    when = day[owner] - ago.astype("timedelta64[D]")
    recorded = when + lag.astype("timedelta64[D]")
    later = kind == 3  # recorded after the assessment day, whatever the offence date
    recorded[later] = day[owner][later] + rng.integers(1, 60, int(later.sum())).astype("timedelta64[D]")
    hours = rng.integers(8 * 3600, 20 * 3600, len(kind)).astype("timedelta64[s]")
    stamp = pd.Series(recorded.astype("datetime64[s]") + hours).dt.strftime("%Y-%m-%dT%H:%M:%S")
    out = pd.DataFrame({"suspect_id": first["suspect_id"].to_numpy()[owner],
                        "offence_date": pd.Series(when).dt.strftime("%Y-%m-%d"),
                        "recorded_at": stamp.to_numpy(), "offence": offence})
    out = pd.concat([out, _series_offences(cases)], ignore_index=True)
    return out.sort_values(["suspect_id", "offence_date"], kind="stable").reset_index(drop=True)


def _series_offences(cases: pd.DataFrame) -> pd.DataFrame:
    """A serial suspect's earlier cases are recorded stalking offences of its later ones (the
    generator counts the earlier victims in a later case's ``suspect_prior_stalking``): one
    stalking offence per case that is not the suspect's latest, on its assessment day, recorded the
    next morning (so it shapes none of its own case's features)."""
    with_suspect = cases.dropna(subset=["suspect_id"]).sort_values("assessment_date", kind="stable")
    earlier = with_suspect.loc[with_suspect.duplicated("suspect_id", keep="last")]
    day = pd.to_datetime(earlier["assessment_date"])
    return pd.DataFrame({"suspect_id": earlier["suspect_id"].to_numpy(),
                         "offence_date": day.dt.strftime("%Y-%m-%d").to_numpy(),
                         "recorded_at": (day + pd.Timedelta(days=1, hours=9)).dt.strftime("%Y-%m-%dT%H:%M:%S").to_numpy(),
                         "offence": "stalking"})


def write_history(history: pd.DataFrame, out_dir: str | Path, fmt: str = "csv") -> Path:
    """``history.<fmt>`` in ``out_dir`` (UK local times without an offset, as the contract reads them)."""
    path = Path(out_dir) / f"history.{fmt}"
    if fmt == "parquet":
        history.to_parquet(path, index=False)
    else:
        history.to_csv(path, index=False)
    return path
