"""Render the self-contained review pages: the caseload index and one page per case.

Forces run closed networks, so every page carries its own CSS, SVG and (on the
index) a small sorting script, and a Content-Security-Policy that forbids any
fetch. All data strings pass through Jinja2 autoescape; the charts escape their
own text (``svg.py``). No clock, no randomness, stable ordering: the same views
give the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import os
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from stalkrisk.report import change_text, svg
from stalkrisk.report.evidence import NECESSITY_QUESTIONS
from stalkrisk.text import clip
from stalkrisk.report.views import BANDS, CaseView, GroupContribution, IndexView, ModelInfo

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
#: Contributions smaller than this (log-odds) share one "other factors" bar.
SMALL_CONTRIBUTION = 0.005

_SAFE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")
_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL"} | {f"{d}{i}" for d in ("COM", "LPT") for i in range(10)})
_MAX_STEM = 210  # a 64-character contract id, all escaped, plus its case mask
_CASE_MARK = "_l"

_STATUS_ORDER = ("scored", "not_scored")
_FLAG_ORDER = ("true", "consider_spo", "flagged", "false", "not_flagged")
_ORDER_LABELS = {"spo": "SPO", "interim_spo": "interim SPO", "non_molestation": "non-molestation order",
                 "restraining": "restraining order", "dvpo": "DVPO", "other": "other order"}
_QUEUE_LABELS = {"consider_spo": "Consider an SPO", "review": "Review", "none": "In no queue"}
_LABELS = {
    "scored": "Scored",
    "not_scored": "Not scored",
    "true": "Flagged: consider an SPO",
    "consider_spo": "Flagged: consider an SPO",
    "flagged": "Flagged: consider an SPO",
    "false": "Not flagged",
    "not_flagged": "Not flagged",
}


# --- file names ---------------------------------------------------------------


def _escape_chars(text: str) -> str:
    return "".join(f"_{b:02x}" for b in text.encode("utf-8", "surrogatepass"))


def case_page_name(case_id: str) -> str:
    """A safe file name for a case page: ``C0000042`` -> ``C0000042.html``, ``AB-1.2`` -> ``AB-1_2e2.html``.

    Letters, digits and ``-`` are kept; every other character (``_`` included) becomes
    ``_xx`` per UTF-8 byte, so the mapping is injective and reversible. When the id has
    lower-case letters, ``_l<hex mask of their positions>`` is appended so that names stay
    distinct on case-insensitive file systems (Windows shares); the usual upper-case police
    ids (``MPS-2025-000123``) keep their own name, so a page is found by its id. Windows device names
    (``con``, ``lpt1`` ...) get their first letter escaped. Ids whose name would be too
    long for a file system keep a prefix plus ``__`` and a SHA-256 digest (``__`` never
    occurs otherwise).
    """
    encoded = "".join(ch if ch in _SAFE_CHARS else _escape_chars(ch) for ch in case_id)
    mask = sum(1 << i for i, ch in enumerate(case_id) if "a" <= ch <= "z")
    suffix = f"{_CASE_MARK}{mask:x}" if mask else ""
    if not case_id:
        encoded = "_"
    elif (encoded + suffix).upper() in _RESERVED:
        encoded = _escape_chars(case_id[0]) + encoded[1:]
    stem = encoded + suffix
    if len(stem) > _MAX_STEM:
        digest = hashlib.sha256(case_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        stem = f"{stem[: _MAX_STEM - 40]}__{digest}"
    return f"{stem}.html"


def case_id_from_page_name(name: str) -> str | None:
    """The case id a :func:`case_page_name` came from, or None (not ours, or digested)."""
    if not name.endswith(".html") or "__" in name:
        return None
    stem = name[: -len(".html")]
    body = stem.split(_CASE_MARK, 1)[0]
    if body == "_":
        return "" if name == case_page_name("") else None
    raw = bytearray()
    i = 0
    try:
        while i < len(body):
            if body[i] == "_":
                raw.append(int(body[i + 1 : i + 3], 16))
                i += 3
            else:
                raw.extend(body[i].encode("ascii"))
                i += 1
        case_id = raw.decode("utf-8", "surrogatepass")
    except (ValueError, UnicodeError):
        return None
    return case_id if case_page_name(case_id) == name else None


def case_page_link(case_id: str) -> str:
    """The index's relative link to a case page written by :func:`write_review`."""
    return f"cases/{case_page_name(case_id)}"


def _safe_href(page: str | None) -> str | None:
    """Keep only plain relative links; anything with a scheme, ``//`` or ``..`` is dropped."""
    if not page or ":" in page or "//" in page or page.startswith(("/", "\\")) or "\\" in page:
        return None
    if any(part == ".." for part in page.split("/")):
        return None
    return page


# --- small pure helpers ---------------------------------------------------------


def band_label(band: str) -> str:
    return svg.humanise(band) if band else "–"


def band_ranges(edges: Sequence[float]) -> dict[str, str]:
    """``{"low": "below 10%", "medium": "10% to 25%", ...}`` from the three cut points."""
    a, b, c = (svg.pct(e, 1) for e in edges)
    return {"low": f"below {a}", "medium": f"{a} to {b}", "high": f"{b} to {c}", "very_high": f"{c} and above"}


def _bands_text(model: ModelInfo) -> str:
    ranges = band_ranges(model.band_edges)
    return "; ".join(f"{band_label(b)} {ranges[b]}" for b in BANDS)


def _ordered(counts: dict[str, int], order: Sequence[str]) -> list[tuple[str, int]]:
    """Known keys in their order, then the rest alphabetically: stable whatever the dict order."""
    rank = {k: i for i, k in enumerate(order)}
    keys = sorted(counts, key=lambda k: (rank.get(str(k).lower(), len(rank)), str(k)))
    return [(str(k), int(counts[k])) for k in keys]


def sorted_groups(groups: Iterable[GroupContribution]) -> list[GroupContribution]:
    """Strongest first (by |contribution|), ties by group key."""
    return sorted(groups, key=lambda g: (-abs(g.contribution), g.group))


def waterfall_steps(groups: Iterable[GroupContribution], small: float = SMALL_CONTRIBUTION) -> list[svg.Step]:
    """Bars for the waterfall: one per group, the tiny ones (two or more) folded into one bar.

    The steps always add up to the sum of every group's contribution.
    """
    ordered = sorted_groups(groups)
    big = [g for g in ordered if abs(g.contribution) >= small]
    tiny = [g for g in ordered if abs(g.contribution) < small]
    steps = [svg.Step(g.label, float(g.contribution)) for g in big]
    if len(tiny) == 1:
        steps.append(svg.Step(tiny[0].label, float(tiny[0].contribution)))
    elif tiny:
        steps.append(svg.Step(f"{len(tiny)} other groups", float(math.fsum(g.contribution for g in tiny))))
    return steps


def flag_text(view: CaseView) -> tuple[str, str]:
    """The flag stated plainly: a headline and the reason it is (or is not) set."""
    score, threshold = svg.pct(view.score), svg.pct(view.model.threshold, 1)
    above = view.score >= view.model.threshold
    if view.consider_spo:
        return (
            "Flagged: consider whether to seek a Stalking Protection Order.",
            f"The score ({score}) is at or above the flag threshold ({threshold}), acts associated "
            "with stalking are recorded on at least two occasions (separate days: the tool's proxy for "
            "a course of conduct, not the offence test)"
            + (", and no SPO or interim SPO is in force." if view.orders_in_force is not None
               else "; no orders table was given, so check for an SPO in force."),
        )
    if view.queue == "review":
        return ("Queued for review.",
                f"Why: {view.queue_reason or 'a must-review trigger'}. The score is {score} (threshold "
                f"{threshold}). Not in the consider-an-SPO queue: the reviewer decides what action fits.")
    missing = []
    if not above:
        missing.append(f"the score ({score}) is below the flag threshold ({threshold})")
    if not view.course_of_conduct:
        missing.append("no course of conduct is recorded (acts associated with stalking on at least two occasions)")
    detail = ("Not flagged because " + " and ".join(missing) + ".") if missing else "Not flagged by the screening policy."
    return "Not flagged for SPO consideration.", detail + " A reviewer may still judge that an order is needed."


# --- Jinja ----------------------------------------------------------------------


@lru_cache(maxsize=None)
def strict_environment(templates: Path) -> jinja2.Environment:
    """Jinja over ``templates`` as every stalkrisk page needs it: autoescaped (case data reaches
    every page), strict about missing values, the templates' own layout kept."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def template_environment() -> jinja2.Environment:
    return strict_environment(TEMPLATES)


@lru_cache(maxsize=1)
def _sort_script() -> str:
    return (TEMPLATES / "_sort_script.html").read_text(encoding="utf-8")


def csp_header(script: str | None) -> Markup:
    """No fetches of any kind; inline styles; only the one inline script we ship (by hash)."""
    if script:
        digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
        scripts = f"'sha256-{digest}'"
    else:
        scripts = "'none'"
    return Markup(f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src {scripts}; "
                  "base-uri 'none'; form-action 'none'")


def model_context(model: ModelInfo) -> dict:
    return {"model": model, "threshold_text": svg.pct(model.threshold, 1), "bands_text": _bands_text(model)}


# --- pages ----------------------------------------------------------------------


def _timeline_context(view: CaseView) -> dict:
    dots = svg.known_events(((e.event_time, e.behaviour, e.channel) for e in view.events), view.assessment_date)
    lanes = []
    for behaviour in svg.behaviour_order([d.behaviour for d in dots]):
        mine = [d for d in dots if d.behaviour == behaviour]
        channels: dict[str, int] = {}
        for d in mine:
            key = d.channel or "not recorded"
            channels[key] = channels.get(key, 0) + 1
        lanes.append({
            "label": svg.humanise(behaviour),
            "count": len(mine),
            "first": mine[0].when,
            "last": mine[-1].when,
            "channels": ", ".join(
                f"{svg.humanise(c).lower()} ({n})" for c, n in sorted(channels.items(), key=lambda kv: (-kv[1], kv[0]))
            ),
        })
    rows = [
        {"when": d.when, "behaviour": svg.humanise(d.behaviour),
         "channel": svg.humanise(d.channel).lower() if d.channel else "–"}
        for d in dots
    ]
    if dots:
        noun = "event" if len(dots) == 1 else "events"
        kinds = "behaviour" if len(lanes) == 1 else "behaviours"
        caption = (f"{len(dots)} {noun} in {len(lanes)} {kinds}, from {dots[0].when} to "
                   f"{dots[-1].when} (UK time). The tables below list them.")
    else:
        caption = "No events were recorded up to the assessment date."
    chart = svg.timeline(
        dots,
        view.assessment_date,
        chart_id="timeline",
        title=f"Timeline of recorded behaviour for case {view.case_id}",
        desc=caption,
    )
    return {"lanes": lanes, "events": rows, "timeline_svg": chart, "timeline_caption": caption}


def render_case(view: CaseView) -> str:
    """The review page of one case, as a self-contained HTML document."""
    groups = sorted_groups(view.groups)
    steps = waterfall_steps(groups)
    final = view.base_value + math.fsum(s.value for s in steps)
    base_pct, final_pct = svg.pct(svg.expit(view.base_value)), svg.pct(svg.expit(final))
    caption = (f"From the model's starting point ({base_pct}, its score before this case's facts), the "
               f"{len(groups)} reason groups push the score up or down (in log-odds, the scale on which the "
               f"pushes add up) to this case's score ({final_pct}). The dashed line is the flag threshold "
               f"({svg.pct(view.model.threshold, 1)}). The table below gives the same numbers.")
    headline, detail = flag_text(view)
    ranges = band_ranges(view.model.band_edges)
    day = pd.Timestamp(view.assessment_date)
    context = {
        "view": view,
        "csp": csp_header(None),
        **model_context(view.model),
        "assessment_text": svg.date_text(day),
        "flag_headline": headline,
        "flag_detail": detail,
        "score_text": svg.pct(view.score),
        "band_text": band_label(view.risk_band),
        "band_range": ranges.get(view.risk_band, ""),
        "small": SMALL_CONTRIBUTION,
        "reasons": [r for r in view.reasons if r and r.strip()],
        "groups": [
            {"label": g.label, "contribution": g.contribution, "signed": svg.signed(g.contribution),
             "reason": g.reason + (f" (acts: {g.acts})" if g.acts and g.contribution >= SMALL_CONTRIBUTION else "")}
            for g in groups
        ],
        "base_text": svg.signed(view.base_value),
        "final_text": svg.signed(final),
        "base_pct": base_pct,
        "final_pct": final_pct,
        "waterfall_svg": svg.waterfall(
            view.base_value,
            steps,
            chart_id="waterfall",
            title=f"How the score of case {view.case_id} was reached",
            desc=caption,
            threshold=view.model.threshold,
        ),
        "waterfall_caption": caption,
        **_timeline_context(view),
        "acts": view.acts,
        "domains": [{"label": d.label, "score_text": svg.pct(d.score), "reasons": [r for r in d.reasons if r]}
                    for d in view.domains],
        "occasions": max((a.occasion for a in view.acts), default=0),
        "necessity_questions": NECESSITY_QUESTIONS,
        "orders_text": ("not known (no orders table was given)" if view.orders_in_force is None
                        else ", ".join(_ORDER_LABELS.get(t, t.replace("_", " "))
                                       for t in view.orders_in_force.split(", "))
                        if view.orders_in_force else "none in the orders table"),
        "change": _change_context(view),
    }
    return template_environment().get_template("case.html").render(context)


def _change_context(view: CaseView) -> dict | None:
    """The case page's "what changed since the last screening" section (``--previous``)."""
    change = view.change
    if change is None:
        return None
    since = change.events_since
    return {
        "kind": change_text.KIND_LABELS.get(change.kind, change.kind),
        "sentences": change_text.case_change_text(change),
        "rows": change_text.change_rows(change),
        "events_known": since is not None,
        "events": [] if since is None else [
            {"when": svg.uk_time(e.event_time).strftime("%d %b %Y %H:%M"), "behaviour": svg.humanise(e.behaviour),
             "channel": svg.humanise(e.channel).lower() if e.channel else "not recorded",
             "target": svg.humanise(e.target).lower() if e.target else "not recorded"}
            for e in since
        ],
        "not_shown": f"{change.events_since_not_shown:,}" if change.events_since_not_shown else "",
        "since": change.since,
    }


def render_index(view: IndexView) -> str:
    """The caseload summary page, as a self-contained HTML document."""
    edges, counts = svg.histogram_counts(view.scores)
    n_scored = int(counts.sum())
    at_or_above = int((np.asarray(view.scores, dtype=float) >= view.model.threshold).sum())
    caption = (f"Scores of {n_scored:,} scored cases in bins of 5 points; {at_or_above:,} are at or above the "
               f"flag threshold ({svg.pct(view.model.threshold, 1)}), marked by the dashed line. Shading shows "
               "the risk bands. Every scored case at or above the threshold is in a queue: consider an SPO "
               "when it also has a course of conduct and no SPO in force, review otherwise.")
    flagged = sorted(view.flagged, key=lambda r: (-r.score if math.isfinite(r.score) else math.inf, r.case_id))
    band_rank = {b: i for i, b in enumerate(BANDS)}
    rows = [
        {
            "case_id": clip(r.case_id),
            "case_id_full": r.case_id,
            "href": _safe_href(r.page),
            "score_text": svg.pct(r.score),
            "score_sort": f"{r.score:.6f}",
            "band_key": r.risk_band if r.risk_band in band_rank else "unknown",
            "band_text": band_label(r.risk_band),
            "band_rank": band_rank.get(r.risk_band, -1),
            "reason_1": clip(r.reason_1 or "", 400),
            "queue": r.queue,
            "queue_reason": r.queue_reason or "",
        }
        for r in flagged
    ]
    sections = [
        {"key": "consider_spo", "id": "flagged", "title": "Consider an SPO",
         "intro": "The score is at or above the threshold, acts associated with stalking are recorded on at "
                  "least two separate days, and no SPO or interim SPO is in force. Whether an order is "
                  "necessary is for the reviewer.",
         "empty": "No cases were flagged. This does not mean no case needs an order: the usual review of "
                  "every case continues.",
         "rows": [r for r in rows if r["queue"] == "consider_spo"]},
        {"key": "review", "id": "review", "title": "Review",
         "intro": "Cases a reviewer must not miss, each with its reason: above the threshold with acts on one "
                  "day so far, an SPO in force with recent acts or breaches (breach action or variation), an "
                  "SPO ending soon (renewal), and the must-review triggers of the queue policy.",
         "empty": "No case is in this queue.",
         "rows": [r for r in rows if r["queue"] != "consider_spo"]},
    ]
    unpaged = sum(1 for r in rows if not r["href"])
    limit = max(int(view.not_scored_limit), 0)
    shown = [(clip(c), clip(r, 600)) for c, r in view.not_scored[:limit]]
    total = sum(int(n) for n in view.counts_by_status.values())
    script = _sort_script() if rows else None
    context = {
        "view": view,
        "csp": csp_header(script),
        "script": Markup(script) if script else None,
        **model_context(view.model),
        "total_text": f"{total:,} cases",
        "count_tables": [
            {"caption": "By status", "head": "Status",
             "rows": [(_LABELS.get(k, svg.humanise(k)), f"{n:,}") for k, n in _ordered(view.counts_by_status, _STATUS_ORDER)]},
            {"caption": "By risk band", "head": "Risk band",
             "rows": [(band_label(k), f"{n:,}") for k, n in _ordered(view.counts_by_band, BANDS)]},
            {"caption": "By flag", "head": "Flag",
             "rows": [(_LABELS.get(k.lower(), svg.humanise(k)), f"{n:,}") for k, n in _ordered(view.counts_by_flag, _FLAG_ORDER)]},
            *([{"caption": "By queue", "head": "Queue",
                "rows": [(_QUEUE_LABELS.get(k, svg.humanise(k)), f"{n:,}")
                         for k, n in _ordered(view.counts_by_queue, tuple(_QUEUE_LABELS))]}]
              if view.counts_by_queue else []),
        ],
        "histogram_svg": svg.histogram(
            view.scores,
            chart_id="histogram",
            title="Distribution of scores",
            desc=caption,
            threshold=view.model.threshold,
            band_edges=view.model.band_edges,
        ),
        "histogram_caption": caption,
        "bins": [(f"{svg.pct(float(edges[i]))} to {svg.pct(float(edges[i + 1]))}", f"{int(n):,}")
                 for i, n in enumerate(counts)],
        "flagged": rows,
        "flagged_count": f"{(view.flagged_total if view.flagged_total is not None else len(rows)):,}",
        "flagged_unlisted": f"{view.flagged_total - len(rows):,}" if (view.flagged_total or 0) > len(rows) else "",
        "flagged_listed": f"{len(rows):,}",
        "sections": sections,
        "not_scored": shown,
        "not_scored_count": f"{len(view.not_scored):,}",
        "not_scored_shown": f"{len(shown):,}",
        "not_scored_hidden": len(view.not_scored) > len(shown),
        "warnings": [clip(w, 600) for w in view.warnings],
        "unpaged": f"{unpaged:,}" if unpaged else "",
        "paged": f"{len(rows) - unpaged:,}",
        "page_cap": view.page_cap,
        "changes": _changes_context(view),
    }
    return template_environment().get_template("index.html").render(context)


def _changes_context(view: IndexView) -> dict | None:
    if view.changes is None:
        return None
    context = change_text.index_changes_context(view.changes)
    for row in context["rows"]:
        row["case_id_full"], row["case_id"], row["href"] = row["case_id"], clip(row["case_id"]), _safe_href(row["href"])
    return context


# --- files ----------------------------------------------------------------------


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary name in the same folder, then rename over ``path``."""
    tag = hashlib.sha256(path.name.encode()).hexdigest()[:12]
    tmp = path.with_name(f".{os.getpid()}-{tag}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_review(out_dir: Path, index: IndexView, cases: Iterable[CaseView]) -> None:
    """Write ``out_dir/cases/<name>.html`` for each case, then ``out_dir/index.html``.

    Cases are rendered one at a time (any iterable, so a generator keeps memory flat).
    The index is written last, so its links resolve as soon as it exists.
    """
    written = write_case_pages(out_dir, cases, set())
    write_index(out_dir, index)
    log.debug("wrote %d case pages to %s", len(written), Path(out_dir) / "cases")


def write_case_pages(out_dir: Path, cases: Iterable[CaseView], written: set[str], *,
                     create: bool = True) -> set[str]:
    """Write each case's page; ``written`` (page names so far) spans calls, so a chunked
    run refuses a case id seen in an earlier chunk too. Returns ``written``.

    ``create=False``: ``out_dir/cases`` must exist already. A Spark task writes so, so that a
    task still running after its job failed cannot re-create a folder the driver removed."""
    case_dir = Path(out_dir) / "cases"
    if create:
        case_dir.mkdir(parents=True, exist_ok=True)
    elif not case_dir.is_dir():
        raise FileNotFoundError(f"{case_dir}: the run's folder is gone (its job was stopped)")
    for view in cases:
        name = case_page_name(view.case_id)
        if name in written:
            raise ValueError("two case views share one case id; case ids must be unique")
        written.add(name)
        _write_atomic(case_dir / name, render_case(view))
    return written


def write_index(out_dir: Path, index: IndexView) -> None:
    """Write ``index.html``; warn when it links a case page that does not exist."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_atomic(out_dir / "index.html", render_index(index))
    dangling = sum(1 for r in index.flagged if _safe_href(r.page) and not (out_dir / r.page).is_file())
    if dangling:
        log.warning("the review index links %d case pages that do not exist", dangling)
