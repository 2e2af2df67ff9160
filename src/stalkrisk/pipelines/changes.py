"""``stalkrisk score --previous DIR``: the edges of the comparison with an earlier run (issue 19).

Reads the previous run's folder (never writes to it), reads the new run's tables back through
``outputs.reader`` once they are written, computes ``changes.parquet`` with the pure
``outputs.changes.compare`` and writes it atomically; builds what the review pages say.

The previous assessment day of each case comes from the previous run's cases file, as its
``audit.json`` records it (path and SHA-256): the same file ``audit verify`` needs, so a force that
keeps each export for the audit has it. When it is gone or changed, the pages say so instead of
listing what was recorded since.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from stalkrisk.data import readers
from stalkrisk.errors import AuditError, ConfigError, InputError
from stalkrisk.features.asof import cutoff_utc, known_by_cutoff
from stalkrisk.features.registry import GROUPS
from stalkrisk.io_utils import atomic_path, sha256_file
from stalkrisk.outputs import changes as compare_mod
from stalkrisk.outputs.reader import read_complete_run, read_contributions, read_scored
from stalkrisk.outputs.schema import CHANGES_FILE
from stalkrisk.report import svg
from stalkrisk.report.change_text import drivers
from stalkrisk.report.views import CaseChange, ChangedRow, ChangesSummary, GroupChange, TimelineEvent

#: Newly queued and raised cases listed in the index (the rest are rows of changes.parquet).
MAX_CHANGED_ROWS = 500
#: Events recorded since the previous screening shown on a case page (the most recent).
MAX_SINCE = 100


def check_previous(previous: str | Path, out: str | Path) -> dict:
    """Refuse, before the model loads, a ``--previous`` that is no complete run or is ``--out`` itself."""
    record = _complete_run(previous)
    if os.path.realpath(previous) == os.path.realpath(out):
        raise ConfigError(f"--previous {previous}: is the --out folder; the previous run is never replaced, "
                          "choose a new --out")
    return record


def _complete_run(previous: str | Path) -> dict:
    try:
        return read_complete_run(previous)
    except AuditError as exc:
        raise ConfigError(f"--previous {exc}") from None


@dataclass
class PreviousRun:
    """What the comparison needs of the previous run, read once."""

    folder: Path
    record: dict
    scores: pd.DataFrame  # its scored cases: case_id, score, risk_band, queue
    contributions: pd.DataFrame  # base_value + one column per feature, by case_id
    cutoffs: pd.Series | None  # case_id -> end of its previous assessment day (UTC); None: not known
    dates: pd.Series | None  # case_id -> previous assessment date
    note: str = ""  # why the previous assessment days are not known

    @property
    def ran_on(self) -> str:
        stamp = self.record.get("finished_at") or self.record.get("started_at")
        return svg.date_text(pd.Timestamp(stamp)) if stamp else "an unknown date"

    @property
    def description(self) -> str:
        model = self.record.get("model", {})
        return (f"the screening run of {self.ran_on} (model {model.get('name', '?')} version "
                f"{model.get('version', '?')}, folder {self.folder.name})")


def load_previous(previous: str | Path) -> PreviousRun:
    """Read the previous run: its scored cases, contributions and (when its cases file is as recorded)
    each case's assessment day."""
    folder = Path(previous)
    record = _complete_run(folder)
    cutoffs = dates = None
    note = ""
    spec = record["inputs"].get("cases", {})
    path = Path(str(spec.get("path", "")))
    if not path.is_file():
        note = f"the previous run's cases file {path} is gone"
    elif sha256_file(path) != spec.get("sha256"):
        note = f"the previous run's cases file {path} has changed since that run"
    else:
        try:
            frame = readers.read_cases(path).frame[["case_id", "assessment_date"]].drop_duplicates("case_id")
        except InputError as exc:
            note = f"the previous run's cases file cannot be read ({exc})"
        else:
            dates = pd.Series(frame["assessment_date"].to_numpy(), index=frame["case_id"].astype(str).to_numpy())
            cutoffs = cutoff_utc(frame["assessment_date"]).set_axis(dates.index)  # stays datetime64[ns, UTC]
    return PreviousRun(folder, record, read_scored(folder), read_contributions(folder), cutoffs, dates, note)


#: Arrow types of the leading columns (the group columns are float64).
_TYPES = {"case_id": pa.string(), "change": pa.string()}


def changes_schema(changes: pd.DataFrame) -> pa.Schema:
    return pa.schema([(c, _TYPES.get(c, pa.float64())) for c in changes.columns])


def write_changes(out: Path, previous: PreviousRun) -> pd.DataFrame:
    """Compare the run just written in ``out`` with ``previous``; write ``changes.parquet`` atomically."""
    try:
        changes = compare_mod.compare(previous.scores, previous.contributions, read_scored(out), read_contributions(out))
    except ValueError as exc:
        raise ConfigError(f"--previous {previous.folder}: {exc}") from None
    table = pa.Table.from_pandas(changes, schema=changes_schema(changes), preserve_index=False)
    with atomic_path(out / CHANGES_FILE) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return changes


def summary(changes: pd.DataFrame, previous: PreviousRun, scored_now: int, paged: set[str],
            page_name) -> ChangesSummary:
    """The index's section: counts per kind, then the newly queued and raised cases."""
    counts = changes["change"].value_counts().to_dict()
    shown = changes.loc[changes["change"].isin(["newly_queued", "raised"]).to_numpy()]
    shown = shown.assign(_rise=shown["score"] - shown["previous_score"]).sort_values(
        "_rise", ascending=False, kind="stable")
    groups = compare_mod.group_columns(changes)
    rows = []
    for _, r in shown.head(MAX_CHANGED_ROWS).iterrows():
        moving, _ = drivers(case_change(r, previous, groups))
        name = page_name(str(r["case_id"]))
        rows.append(ChangedRow(case_id=str(r["case_id"]), previous_score=float(r["previous_score"]),
                               score=float(r["score"]), kind=str(r["change"]),
                               page=f"cases/{name}" if name in paged else None,
                               driver=moving[0].label if moving else ""))
    return ChangesSummary(counts={k: int(v) for k, v in counts.items()}, rows=tuple(rows),
                          previous=previous.description, only_now=int(scored_now - len(changes)),
                          only_before=int(len(previous.scores) - len(changes)), rows_total=len(shown))


def case_change(row: pd.Series, previous: PreviousRun, groups: list[str], *, queue: str = "",
                previous_queue: str = "", events: pd.DataFrame | None = None,
                cutoff: pd.Timestamp | None = None) -> CaseChange:
    """One case's change for its page; ``events``: its events known by this assessment day."""
    cid = str(row["case_id"])
    dated = previous.dates is not None and cid in previous.dates.index
    since = svg.date_text(pd.Timestamp(previous.dates[cid])) if dated else previous.ran_on
    events_since: tuple[TimelineEvent, ...] | None = None
    hidden = 0
    if dated and events is not None:
        new = events.loc[~known_by_cutoff(events["event_time"],
                                          events["recorded_at"] if "recorded_at" in events else None,
                                          previous.cutoffs[cid]).to_numpy()]
        hidden = max(len(new) - MAX_SINCE, 0)
        new = new.iloc[hidden:]
        target = new["target"] if "target" in new else pd.Series([None] * len(new), index=new.index)
        events_since = tuple(
            TimelineEvent(event_time=t, behaviour=str(b), channel=None if pd.isna(c) else str(c),
                          target=None if pd.isna(g) else str(g))
            for t, b, c, g in zip(new["event_time"].tolist(), new["behaviour"].tolist(),
                                  new["channel"].tolist(), target.tolist()))
    return CaseChange(
        previous_score=float(row["previous_score"]), score=float(row["score"]), kind=str(row["change"]),
        since=since, since_is_assessment=dated, base_value_change=float(row["base_value_change"]),
        groups=tuple(GroupChange(g, GROUPS.get(g, g.replace("_", " ").capitalize()), float(row[g])) for g in groups),
        previous_queue=previous_queue, queue=queue, events_since=events_since, events_since_not_shown=hidden,
    )


def previous_queue(previous: PreviousRun) -> pd.Series:
    """case_id -> the queue it was in at the previous screening."""
    return pd.Series(previous.scores["queue"].to_numpy(), index=previous.scores["case_id"].astype(str).to_numpy())


def exact_gap(changes: pd.DataFrame) -> float:
    """The largest |logit(score) - logit(previous) - (base change + group changes)| (0 up to rounding)."""
    if not len(changes):
        return 0.0
    moved = compare_mod.logit(changes["score"]) - compare_mod.logit(changes["previous_score"])
    parts = changes["base_value_change"].to_numpy() + changes[compare_mod.group_columns(changes)].to_numpy().sum(axis=1)
    return float(np.max(np.abs(moved - parts)))


class PageChanges:
    """Each paged case's change, for ``pipelines.review.case_views``."""

    def __init__(self, changes: pd.DataFrame, previous: PreviousRun):
        self.frame = changes.set_index("case_id", drop=False)
        self.previous = previous
        self.groups = compare_mod.group_columns(changes)
        self.queues = previous_queue(previous)

    @classmethod
    def for_part(cls, previous: PreviousRun, result) -> PageChanges:
        """From a part's results in memory (pages written as the run goes: ``--review-cap none``)."""
        scores = result.scores
        wide = pd.DataFrame(result.explanation.contributions, columns=list(result.explanation.feature_names),
                            index=pd.Index(scores["case_id"].astype(str).to_numpy(), name="case_id"))
        wide.insert(0, "base_value", float(result.explanation.base_value))
        current = scores[["case_id", "score", "risk_band", "queue"]].assign(queue=lambda f: f["queue"].fillna(""))
        return cls(compare_mod.compare(previous.scores, previous.contributions, current, wide), previous)

    def for_case(self, case_id: str, queue: str, events: pd.DataFrame | None) -> CaseChange | None:
        """``events``: the case's events known by this assessment day (None: none)."""
        if case_id not in self.frame.index:
            return None  # not scored in the previous run: nothing to compare
        if events is None:
            events = pd.DataFrame({"event_time": pd.Series(dtype="datetime64[ns, UTC]"), "behaviour": [], "channel": []})
        return case_change(self.frame.loc[case_id], self.previous, self.groups, queue=queue,
                           previous_queue=str(self.queues.get(case_id, "")), events=events)
