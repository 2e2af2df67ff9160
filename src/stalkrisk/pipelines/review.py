"""Build the review pages' views from a scoring run and write them.

The renderer (``stalkrisk.report``) sees only plain views; this module turns
chunk results, the case rows and their known events into those views.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from stalkrisk.explain.reasons import Explanation, group_contributions, group_reason_texts
from stalkrisk.explain.reasons import reasons as reason_texts
from stalkrisk.model.labels import describe_domain
from stalkrisk.features.asof import cutoff_utc, known_by_cutoff
from stalkrisk.features.registry import GROUPS
from stalkrisk.model.risk_model import BANDS
from stalkrisk.report import (
    CaseView,
    DomainView,
    FlaggedRow,
    GroupContribution,
    IndexView,
    model_info,
    TimelineEvent,
    case_page_link,
    case_page_name,
)
from stalkrisk.report.evidence import act_rows, cited_occasions, linked_rows
from stalkrisk.report.render import write_case_pages
from stalkrisk.report.render import write_index as render_index_file

YES_NO = {True: "Yes", False: "No"}
#: Events shown on a case page: the most recent. A case with 100,000 events made a 25 MB page;
#: all of them are in `stalkrisk explain` and the workbench.
MAX_TIMELINE = 100
#: Flagged cases listed in the index, highest scores first. At 1M cases 136,000 are flagged: a
#: page of all of them took seconds to write and cannot be worked through; the rest are in
#: scores.csv (consider_spo true) and the workbench, each one `stalkrisk explain` away.
MAX_INDEX_ROWS = 2000


def _text(value, none: str = "Not recorded") -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return none
    if isinstance(value, (bool, np.bool_)):
        return YES_NO[bool(value)]
    return str(value).replace("_", " ").capitalize() if isinstance(value, str) else str(value)


def case_facts(row: pd.Series) -> tuple[tuple[str, str], ...]:
    """The facts a reviewer checks against the record (no protected attributes beyond need)."""
    return (
        ("Relationship to the victim", _text(row.get("relationship"))),
        ("Suspect's earlier stalking or harassment offences", _text(row.get("suspect_prior_stalking"))),
        ("Suspect's earlier violent offences", _text(row.get("suspect_prior_violence"))),
        ("Suspect's domestic-abuse history", _text(row.get("suspect_prior_domestic_abuse"))),
        ("Suspect's substance misuse", _text(row.get("suspect_substance_misuse"))),
        ("Protective order in force", _text(row.get("protective_order_in_force"))),
        ("Victim's fear (own account)", _text(row.get("victim_fear"))),
        ("Suspect's access to weapons", _text(row.get("suspect_weapon_access"))),
        ("Mental-health concern about the suspect", _text(row.get("suspect_mental_health_concern"))),
        ("Separation date", _text(None if pd.isna(row.get("separation_date", None))
                                  else str(pd.Timestamp(row.get("separation_date")).date()))),
    )


def queued_rows(scores: pd.DataFrame) -> np.ndarray:
    """The rows a reviewer must see: every case in a queue (``consider_spo`` or ``review``)."""
    if "queue" not in scores:
        return np.flatnonzero(scores["consider_spo"].fillna(False).to_numpy(dtype=bool))
    return np.flatnonzero(scores["queue"].fillna("").astype(str).ne("").to_numpy())


def page_pool(scores: pd.DataFrame, *, only_flagged: bool) -> np.ndarray:
    """The rows of a part's scores that may get a case page: scored, and queued when ``only_flagged``.

    One rule for both engines (``PageQueue`` here, the Spark driver's pick of the tasks' pages), so
    the cap picks from the same pool whichever ran. ``scores`` is a chunk's scoring result (scored
    cases only) or its assembled table (a ``status`` column: the not-scored rows are left out).
    """
    rows = queued_rows(scores) if only_flagged else np.arange(len(scores))
    if "status" in scores:
        rows = rows[scores["status"].to_numpy(dtype=object)[rows] == "scored"]
    return rows


def best_pages(value: np.ndarray, seq: np.ndarray, cap: int | None) -> np.ndarray:
    """Positions of the ``cap`` highest ``value`` (all, when ``cap`` is None), best first; ties go
    to the earlier case in the input (``seq``: positions in input order)."""
    order = np.lexsort((np.asarray(seq), -np.asarray(value, dtype=float)))
    return order if cap is None else order[:cap]


def _domains(loaded, result, pick: np.ndarray, features: pd.DataFrame) -> list[tuple[DomainView, ...]]:
    """Per picked case, each risk domain's score and top reasons (the reason machinery of ``risk``)."""
    explanations = getattr(result, "outcome_explanations", None) or {}
    specs = (loaded.model.meta.label or {}).get("outcomes") or {}
    per_case: list[list[DomainView]] = [[] for _ in pick]
    for name, e in explanations.items():
        if name == "risk":
            continue
        sub = Explanation(e.feature_names, e.contributions[pick], e.base_value)
        score = 1.0 / (1.0 + np.exp(-sub.logit()))
        texts = reason_texts(sub, features, top=3)
        label = describe_domain(specs[name]) if name in specs else name
        for n in range(len(pick)):
            per_case[n].append(DomainView(name, f"{name.capitalize()}: {label}", float(score[n]),
                                          tuple(str(t[n]) for t in texts)))
    return [tuple(v) for v in per_case]


def case_views(loaded, result, cases: pd.DataFrame, events: pd.DataFrame, *, only_flagged: bool,
               pick: np.ndarray | None = None, changes=None) -> list[CaseView]:
    """Views for the chunk's cases to page (queued only, or all; or the rows ``pick``);
    ``changes`` (``pipelines.changes.PageChanges``): what changed since a previous run."""
    scores = result.scores
    if pick is None:
        pick = page_pool(scores, only_flagged=only_flagged)
    if len(pick) == 0:
        return []
    sub = Explanation(result.explanation.feature_names, result.explanation.contributions[pick], result.explanation.base_value)
    sub_features = result.features.iloc[pick].reset_index(drop=True)
    given = getattr(result, "grouped", None)  # scoring's group sums (the reasons were ranked on them)
    keys, grouped = (given[0], given[1][pick]) if given is not None else group_contributions(sub)
    texts = group_reason_texts(sub, sub_features, np.tile(np.arange(len(keys)), (len(pick), 1)),
                               grouped=(keys, grouped))
    domains = _domains(loaded, result, pick, sub_features)
    info = model_info(loaded)
    cutoff = cutoff_utc(cases["assessment_date"])
    by_case = cases.assign(_cutoff=cutoff.to_numpy()).set_index("case_id")
    wanted = set(scores["case_id"].iloc[pick])
    ev = events.loc[events["case_id"].isin(wanted)]
    ev = ev.assign(_cutoff=ev["case_id"].map(by_case["_cutoff"]))
    recorded = ev["recorded_at"] if "recorded_at" in ev.columns else None
    ev = ev.loc[known_by_cutoff(ev["event_time"], recorded, ev["_cutoff"])].sort_values(["case_id", "event_time"], kind="stable")
    ev_groups = {cid: frame for cid, frame in ev.groupby("case_id", sort=False)}
    views = []
    for n, i in enumerate(pick):
        s = scores.iloc[i]
        cid = s["case_id"]
        row = by_case.loc[cid]
        reasons = tuple(r for r in (s["reason_1"], s["reason_2"], s["reason_3"]) if r)
        groups = tuple(
            GroupContribution(group=k, label=GROUPS.get(k, k), contribution=float(grouped[n, g]), reason=str(texts[n, g]))
            for g, k in enumerate(keys)
        )
        frame = ev_groups.get(cid)
        change = None if changes is None else changes.for_case(str(cid), str(s.get("queue", "") or ""), frame)
        hidden = 0 if frame is None else max(len(frame) - MAX_TIMELINE, 0)
        if hidden:
            frame = frame.iloc[hidden:]  # the most recent events (sorted by time above)
        targets = (frame["target"] if frame is not None and "target" in frame.columns
                   else pd.Series([None] * (0 if frame is None else len(frame)), dtype=object))
        timeline = () if frame is None else tuple(
            TimelineEvent(event_time=t, behaviour=str(b), channel=None if pd.isna(c) else str(c),
                          target=None if pd.isna(g) else str(g))
            for t, b, c, g in zip(frame["event_time"].tolist(), frame["behaviour"].tolist(),
                                  frame["channel"].tolist(), targets.tolist())
        )
        acts = act_rows(timeline)
        groups = tuple(GroupContribution(g.group, g.label, g.contribution, g.reason,
                                         acts=cited_occasions(g.group, acts)) for g in groups)
        facts_row = result.facts.iloc[i] if getattr(result, "facts", None) is not None else None
        orders_text = (None if facts_row is None or pd.isna(facts_row.get("order_in_force", pd.NA))
                       else str(facts_row.get("orders_in_force", "") or ""))
        linked = linked_rows(getattr(result, "links", None), str(cid))
        views.append(
            CaseView(
                case_id=str(cid),
                assessment_date=str(pd.Timestamp(row["assessment_date"]).date()),
                score=float(s["score"]),
                risk_band=str(s["risk_band"]),
                consider_spo=bool(s["consider_spo"]),
                course_of_conduct=bool(s["course_of_conduct"]),
                base_value=float(result.explanation.base_value),
                groups=groups,
                reasons=reasons,
                events=timeline,
                facts=case_facts(row),
                model=info,
                queue=str(s.get("queue", "") or ""),
                queue_reason=str(s.get("queue_reason", "") or ""),
                acts=acts,
                orders_in_force=orders_text,
                events_not_shown=hidden,
                change=change,
                linked=linked[0], linked_not_shown=linked[1],
                domains=domains[n],
            )
        )
    return views


@dataclass
class _Picked:
    """What a page needs of a part's candidate cases, kept (small) until the cut is known."""

    value: np.ndarray  # scores (rank: highest first)
    seq: np.ndarray  # positions in the input (ties: input order)
    scores: pd.DataFrame
    contributions: np.ndarray
    features: pd.DataFrame
    cases: pd.DataFrame
    events: pd.DataFrame
    facts: pd.DataFrame | None  # the queue's case facts (orders in force), when scoring gave them
    domain_contributions: dict[str, np.ndarray]  # each risk domain's contributions, same rows
    grouped: np.ndarray | None = None  # risk's group sums, same rows (scoring's ``ChunkResult.grouped``)


class PageQueue:
    """The case pages of a run: the ``cap`` highest scores (ties: input order), or all of them.

    With a cap, each part hands over only its cases that can still make the cut (their scores,
    explanation rows, case rows and events: a few hundred rows), and views are built and pages
    written once, at the end, for the ``cap`` that did. Measured at 200,000 cases: building
    views part by part built 1,407 of them for 500 pages. Without a cap, each part's pages are
    written as it goes (memory stays flat).
    """

    def __init__(self, review_dir: Path, cap: int | None, previous=None):
        self.review_dir, self.cap = review_dir, cap
        self.previous = previous  # pipelines.changes.PreviousRun, when the run compares with one
        self.kept: _Picked | None = None
        self.paged: set[str] = set()
        self.seen = 0
        self.explanation: Explanation | None = None
        self.outcome_explanations: dict[str, Explanation] = {}  # feature names and base values per outcome
        self.group_keys: list[str] | None = None  # risk's reason groups (scoring's ``ChunkResult.grouped``)
        self.links = None  # the run's link table (the pages list a suspect's other cases)

    def offer(self, loaded, result, cases: pd.DataFrame, events: pd.DataFrame, *, only_flagged: bool) -> None:
        scores = result.scores
        rows = page_pool(scores, only_flagged=only_flagged)
        seq = self.seen + rows
        self.seen += len(scores)
        if self.cap is None:
            from stalkrisk.pipelines.changes import PageChanges

            changes = None if self.previous is None else PageChanges.for_part(self.previous, result)
            views = case_views(loaded, result, cases, events, only_flagged=only_flagged, pick=rows, changes=changes)
            self.paged = write_case_pages(self.review_dir, views, self.paged)
            return
        value = scores["score"].to_numpy(dtype=float)[rows]
        order = best_pages(value, seq, self.cap)
        if self.kept is not None and len(self.kept.value) >= self.cap:  # only what beats the last kept
            last = (-self.kept.value[-1], self.kept.seq[-1])
            order = np.asarray([i for i in order if (-value[i], seq[i]) < last], dtype=np.int64)
        if not len(order):
            return
        take = rows[order]
        self.explanation = result.explanation
        domains = {k: e for k, e in (getattr(result, "outcome_explanations", None) or {}).items() if k != "risk"}
        self.outcome_explanations = domains
        given = getattr(result, "grouped", None)
        self.group_keys = None if given is None else given[0]
        ids = scores["case_id"].iloc[take]
        wanted = set(ids)
        picked = _Picked(
            value=value[order], seq=seq[order], scores=scores.iloc[take].reset_index(drop=True),
            contributions=result.explanation.contributions[take],
            features=result.features.iloc[take].reset_index(drop=True),
            cases=cases.loc[cases["case_id"].isin(wanted)], events=events.loc[events["case_id"].isin(wanted)],
            facts=None if getattr(result, "facts", None) is None else result.facts.iloc[take].reset_index(drop=True),
            domain_contributions={k: e.contributions[take] for k, e in domains.items()},
            grouped=None if given is None else given[1][take],
        )
        self.kept = picked if self.kept is None else _merge(self.kept, picked, self.cap)
        self.links = getattr(result, "links", None)

    def finish(self, loaded, changes=None) -> set[str]:
        """Write the kept pages; the names of every page written. ``changes``: ``PageChanges`` of the run."""
        if self.cap is not None and self.kept is not None and len(self.kept.value):
            k, e = self.kept, self.explanation
            domains = {name: Explanation(d.feature_names, k.domain_contributions[name], d.base_value)
                       for name, d in self.outcome_explanations.items()}
            result = SimpleNamespace(scores=k.scores, features=k.features, facts=k.facts, links=self.links,
                                     explanation=Explanation(e.feature_names, k.contributions, e.base_value),
                                     outcome_explanations=domains,
                                     grouped=(None if k.grouped is None or self.group_keys is None
                                              else (self.group_keys, k.grouped)))
            views = case_views(loaded, result, k.cases, k.events, only_flagged=False, pick=np.arange(len(k.value)),
                               changes=changes)
            self.paged = write_case_pages(self.review_dir, views, self.paged)
            self.kept = None
        return self.paged


def _merge(a: _Picked, b: _Picked, cap: int) -> _Picked:
    """The ``cap`` best of two sets of candidates, best first."""
    value, seq = np.concatenate([a.value, b.value]), np.concatenate([a.seq, b.seq])
    order = best_pages(value, seq, cap)
    scores = pd.concat([a.scores, b.scores], ignore_index=True).iloc[order].reset_index(drop=True)
    wanted = set(scores["case_id"])
    cases = pd.concat([a.cases, b.cases], ignore_index=True)
    events = pd.concat([a.events, b.events], ignore_index=True)
    return _Picked(
        value=value[order], seq=seq[order], scores=scores,
        contributions=np.concatenate([a.contributions, b.contributions])[order],
        features=pd.concat([a.features, b.features], ignore_index=True).iloc[order].reset_index(drop=True),
        cases=cases.loc[cases["case_id"].isin(wanted)], events=events.loc[events["case_id"].isin(wanted)],
        facts=(None if a.facts is None or b.facts is None
               else pd.concat([a.facts, b.facts], ignore_index=True).iloc[order].reset_index(drop=True)),
        domain_contributions={k: np.concatenate([a.domain_contributions[k], b.domain_contributions[k]])[order]
                              for k in a.domain_contributions},
        grouped=(None if a.grouped is None or b.grouped is None
                 else np.concatenate([a.grouped, b.grouped])[order]),
    )


#: The columns of the scores table the review index reads.
INDEX_COLUMNS = ("case_id", "status", "not_scored_reason", "score", "risk_band", "consider_spo", "queue",
                 "queue_reason", "reason_1")


def index_rows(scores: pd.DataFrame) -> pd.DataFrame:
    """What the index needs of a chunk's scores, slim enough to keep for a whole caseload:
    every row's status, score, band and flag; ids and texts only where the index shows them."""
    slim = scores.loc[:, list(INDEX_COLUMNS)].copy()
    shown = (slim["queue"].fillna("").ne("") | slim["status"].ne("scored")).to_numpy()
    for name in ("case_id", "not_scored_reason", "queue_reason", "reason_1"):
        slim[name] = slim[name].where(shown, "")
    for name in ("status", "risk_band", "queue"):
        slim[name] = slim[name].astype("category")
    return slim


def write_index(review_dir: Path, loaded, scores: pd.DataFrame, paged: set[str], *,
                warnings: tuple[str, ...] | list[str] = (), cap: int | None = None, changes=None) -> Path:
    """Write ``index.html`` from the scores (or ``index_rows`` of them); returns its path.

    ``paged`` holds the page names written, so the index links only pages that exist; the
    flagged cases without a page are one command away (the index says which).
    """
    scores = scores.astype({"status": "str", "risk_band": "str"})
    scored = scores.loc[scores["status"] == "scored"]
    if "queue" not in scored:  # (scores written before the queue existed: the flag was the queue)
        scored = scored.assign(queue=np.where(scored["consider_spo"].fillna(False).astype(bool), "consider_spo", ""),
                               queue_reason="")
    queue = scored["queue"].astype(str).replace("nan", "")
    flagged = scored.loc[queue.ne("").to_numpy()].sort_values("score", ascending=False, kind="stable")
    index = IndexView(
        title="stalkrisk caseload review",
        counts_by_status={k: int(v) for k, v in scores["status"].value_counts().items()},
        counts_by_band={b: int((scored["risk_band"] == b).sum()) for b in BANDS},
        counts_by_flag={
            "true": int(scored["consider_spo"].fillna(False).astype(bool).sum()),
            "false": int((~scored["consider_spo"].fillna(False).astype(bool)).sum()),
        },
        scores=scored["score"].to_numpy(dtype=float),
        flagged=tuple(
            FlaggedRow(
                case_id=str(r.case_id), score=float(r.score), risk_band=str(r.risk_band),
                reason_1=str(r.reason_1),
                page=case_page_link(str(r.case_id)) if case_page_name(str(r.case_id)) in paged else None,
                queue=str(r.queue), queue_reason=str(r.queue_reason),
            )
            for r in flagged.head(MAX_INDEX_ROWS).itertuples(index=False)
        ),
        counts_by_queue={"consider_spo": int((queue == "consider_spo").sum()),
                         "review": int((queue == "review").sum()), "none": int((queue == "").sum())},
        not_scored=tuple(
            (str(c), str(r)) for c, r in scores.loc[scores["status"] == "not_scored", ["case_id", "not_scored_reason"]].itertuples(index=False)
        ),
        model=model_info(loaded),
        warnings=tuple(warnings),
        page_cap=cap,
        flagged_total=len(flagged),
        changes=changes,
    )
    render_index_file(review_dir, index)
    return review_dir / "index.html"
