"""The application pack: a case's evidence summary laid out by the Stalking Protection Act 2019.

s.1(1): a chief officer may apply for an order where it appears that the defendant (a) has
carried out acts associated with stalking, (b) poses a risk associated with stalking to another
person, and (c) there is reasonable cause to believe the order is necessary to protect that
person from that risk. The pack gives (a) the dated chronology of the recorded acts and the
course of conduct, (b) the screening result and its reasons, and (c) the questions only the
officer can answer, the orders in force, and suggested prohibitions and requirements drawn
from the recorded behaviours, each marked as a suggestion. HTML with print styles; PDF through
headless Chromium where it is installed. Nothing is fetched, nothing is decided.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from stalkrisk.io_utils import atomic_path, atomic_write_text
from stalkrisk.report.svg import pct as report_pct
from stalkrisk.workbench import WorkbenchError
from stalkrisk.workbench.render import render
from stalkrisk.workbench.results import QUEUE_TITLES, Act, Results

LOCAL_TZ = "Europe/London"
BEHAVIOURS = {
    "following": "Following",
    "contacting": "Contacting or trying to contact",
    "publishing": "Publishing material about the person",
    "monitoring_online": "Monitoring online or electronic communication",
    "loitering": "Loitering",
    "property_interference": "Interfering with property",
    "watching": "Watching or spying",
    "threat": "Threat",
    "violence": "Violence",
    "order_breach": "Breach of a protective order",
    "other": "Other behaviour",
}
#: Acts associated with stalking for the course of conduct (design.md: occasions, not events).
STALKING_ACTS = frozenset(BEHAVIOURS) - {"other"}
CHANNELS = {
    "in_person": "in person",
    "phone": "by telephone",
    "text_message": "by text message",
    "email": "by email",
    "social_media": "through social media",
    "third_party": "through other people",
    "other": "by other means",
}
NECESSITY_QUESTIONS = (
    "What does the person at risk want, and have their views and safety plan been recorded?",
    "What other measures have been used or considered (bail conditions, a non-molestation order, a "
    "restraining order, a Domestic Abuse Protection Order), and why are they not enough?",
    "Is a criminal investigation under way? Would an order protect the person before charge, or after "
    "no further action?",
    "Is each prohibition and requirement necessary and proportionate? Is any exclusion zone as small "
    "as protection allows, and marked on a map?",
    "Is the risk immediate enough to need an interim order (s.5) while the full application is heard?",
    "Who will monitor the order, and who will tell the person at risk what it says?",
)


@dataclass(frozen=True)
class Suggestion:
    kind: str  # "Prohibition" or "Requirement"
    text: str
    basis: str  # what in the record it is drawn from


def _day(text: str | None) -> str:
    return pd.Timestamp(text).strftime("%d %b %Y") if text else "not available"


def uk_time(ts) -> pd.Timestamp:
    ts = pd.Timestamp(ts)
    return (ts if ts.tzinfo else ts.tz_localize("UTC")).tz_convert(LOCAL_TZ)


def _channel_list(acts: list[Act]) -> str:
    """The channels of some acts in words, an unrecorded channel said last ("by telephone,
    in person, channel not recorded"), not sorted in among the channels as if it were one."""
    named = {CHANNELS[a.channel] for a in acts if a.channel in CHANNELS}
    unknown = any(a.channel not in CHANNELS for a in acts)
    return ", ".join(sorted(named) + (["channel not recorded"] if unknown else []))


def occasions(acts: list[Act]) -> int:
    """Distinct UK calendar days with an act associated with stalking."""
    return len({uk_time(a.when).date() for a in acts if a.behaviour in STALKING_ACTS})


def _count(acts: list[Act], behaviours: set[str]) -> int:
    return sum(a.behaviour in behaviours for a in acts)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def suggestions(acts: list[Act], facts: dict[str, object]) -> list[Suggestion]:
    """Prohibitions and requirements the recorded behaviours point to, for the officer to judge."""
    out: list[Suggestion] = []
    channels = sorted({a.channel for a in acts if a.channel in CHANNELS and a.channel != "third_party"},
                      key=list(CHANNELS).index)
    if channels:
        used = [a for a in acts if a.channel in channels]
        out.append(Suggestion(
            "Prohibition",
            "Not to contact or attempt to contact the person at risk, directly or indirectly, "
            + ", ".join(CHANNELS[c] for c in channels) + ".",
            f"{_plural(len(used), 'recorded act')} {', '.join(CHANNELS[c] for c in channels)}."))
    proxy = [a for a in acts if a.channel == "third_party" or a.target == "third_party"]
    if proxy:
        out.append(Suggestion(
            "Prohibition",
            "Not to contact the person's family, friends, colleagues or partner about them, nor ask anyone "
            "to contact the person on the defendant's behalf.",
            f"{_plural(len(proxy), 'act')} through or aimed at other people."))
    near = _count(acts, {"following", "loitering", "watching"})
    if near:
        out.append(Suggestion(
            "Prohibition",
            "Not to follow, watch or wait for the person, and not to enter an exclusion zone around the places "
            "where this was recorded (the officer to name the places and mark the zone on a map).",
            f"{_plural(near, 'act')} of following, watching or loitering."))
    online = _count(acts, {"monitoring_online"})
    if online:
        out.append(Suggestion(
            "Prohibition",
            "Not to access, monitor or track the person's online accounts, devices or location.",
            f"{_plural(online, 'act')} of monitoring online or electronic communication."))
    published = _count(acts, {"publishing"})
    if published:
        out.append(Suggestion(
            "Prohibition",
            "Not to publish any statement or material about the person, online or elsewhere.",
            f"{_plural(published, 'act')} of publishing material."))
    property_acts = _count(acts, {"property_interference"})
    if property_acts:
        out.append(Suggestion(
            "Prohibition", "Not to interfere with any property of the person, including vehicles.",
            f"{_plural(property_acts, 'act')} of interfering with property."))
    harm = _count(acts, {"threat", "violence"})
    if harm:
        out.append(Suggestion(
            "Prohibition", "Not to threaten, intimidate or use violence towards the person.",
            f"{harm} threat{'' if harm == 1 else 's'} or act{'' if harm == 1 else 's'} of violence recorded."))
    if facts.get("suspect_mental_health_concern") is True:
        out.append(Suggestion(
            "Requirement",
            "To attend an assessment by a mental-health professional (to be named) within a set time, "
            "and to engage with the treatment it recommends.",
            "A mental-health concern is recorded for the defendant."))
    if facts.get("suspect_substance_misuse") is True:
        out.append(Suggestion(
            "Requirement", "To attend an assessment by a drug or alcohol service (to be named).",
            "Substance misuse is recorded for the defendant."))
    return out


def pack_context(results: Results, case_id: str, decisions: list | None = None) -> dict:
    """Everything the pack shows, as plain values (the template does no arithmetic)."""
    row = results.row(case_id)
    if row is None:
        raise WorkbenchError(f"{results.folder / 'scores.parquet'}: no case with case_id {case_id!r}")
    acts = results.acts(case_id)
    facts = {name: results.fact(case_id, name) for name in
             ("suspect_mental_health_concern", "suspect_substance_misuse", "protective_order_in_force")}
    contributions = results.contributions(case_id) if row["status"] == "scored" else None
    groups = [] if contributions is None else [
        {"label": g.label, "signed": f"{g.contribution:+.2f}",
         "effect": "raises" if g.contribution >= 0.005 else "lowers" if g.contribution <= -0.005 else "negligible"}
        for g in contributions.itertuples(index=False)]
    chronology = [] if acts is None else [
        {"date": uk_time(a.when).strftime("%d %b %Y"), "time": uk_time(a.when).strftime("%H:%M"),
         "behaviour": BEHAVIOURS.get(a.behaviour, a.behaviour), "stalking": a.behaviour in STALKING_ACTS,
         "channel": CHANNELS.get(a.channel or "", "not recorded"),
         "target": {"victim": "the person", "third_party": "another person"}.get(a.target or "", "not recorded")}
        for a in acts]
    summary = [] if acts is None else [
        {"behaviour": BEHAVIOURS.get(b, b), "count": len(mine), "first": uk_time(mine[0].when).strftime("%d %b %Y"),
         "last": uk_time(mine[-1].when).strftime("%d %b %Y"),
         "channels": _channel_list(mine)}
        for b in BEHAVIOURS if (mine := [a for a in acts if a.behaviour == b])]
    breaches = 0 if acts is None else _count(acts, {"order_breach"})
    linked = str(row.get("linked_cases") or "") if "linked_cases" in row.index else None
    score = row.get("score")
    return {
        "case_id": case_id,
        "force_code": row["force_code"],
        "assessment_date": _day(results.assessment_date(case_id)),
        "generated_at": uk_time(datetime.now(timezone.utc)).strftime("%d %b %Y %H:%M") + " (UK time)",
        "model": f"{row.get('model_name')} version {row.get('model_version')}",
        "score_text": "not scored" if pd.isna(score) else report_pct(float(score)),
        "band": str(row.get("risk_band") or "").replace("_", " "),
        "queue": QUEUE_TITLES.get(row["queue"], "not in a queue"),
        "queue_reason": row["queue_reason"],
        "course_of_conduct": bool(row.get("course_of_conduct")),
        "occasions": None if acts is None else occasions(acts),
        "reasons": [r for r in (row.get(f"reason_{i}") for i in (1, 2, 3)) if isinstance(r, str) and r.strip()],
        "groups": groups,
        "chronology": chronology,
        "summary": summary,
        "has_target": acts is not None and any(a.target for a in acts),
        "acts_available": acts is not None,
        "facts": results.facts(case_id),
        "order_in_force": facts["protective_order_in_force"],
        "breaches": breaches,
        "linked": linked,
        "questions": NECESSITY_QUESTIONS,
        "suggestions": [] if acts is None else suggestions(acts, facts),
        "decisions": decisions or [],
        "notes": results.notes,
    }


def render_pack(results: Results, case_id: str, decisions: list | None = None) -> str:
    return render("pack.html", **pack_context(results, case_id, decisions))


def chromium() -> str | None:
    """Headless Chromium for the PDF: ``$STALKRISK_CHROMIUM``, else the first one on the PATH."""
    override = os.environ.get("STALKRISK_CHROMIUM")
    if override:
        return override if os.access(override, os.X_OK) else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


def html_to_pdf(html: Path, pdf: Path, executable: str, timeout: float = 120) -> Path:
    """Print a local HTML file to PDF with headless Chromium (no network: the page fetches nothing)."""
    with tempfile.TemporaryDirectory(prefix="stalkrisk-chromium-") as profile, atomic_path(pdf) as tmp:
        subprocess.run(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--no-pdf-header-footer", f"--print-to-pdf={tmp}",
             html.resolve().as_uri()],
            check=True, capture_output=True, timeout=timeout,
        )
        if tmp.stat().st_size == 0:
            raise WorkbenchError(f"{executable}: printed an empty PDF")
    return pdf


def pack_file_stem(case_id: str) -> str:
    from stalkrisk.report import case_page_name

    return "spo-pack-" + case_page_name(case_id).removesuffix(".html")


def write_pack(results: Results, case_id: str, out_dir: str | Path, *, decisions: list | None = None,
               pdf: bool = True) -> dict[str, Path]:
    """Write the pack as HTML (and PDF when asked and Chromium is installed); returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = pack_file_stem(case_id)
    paths = {"html": atomic_write_text(out_dir / f"{stem}.html", render_pack(results, case_id, decisions))}
    if pdf:
        executable = chromium()
        if executable is None:
            raise WorkbenchError("no Chromium found for the PDF: install chromium, set STALKRISK_CHROMIUM, "
                                 "or pass --no-pdf")
        try:
            paths["pdf"] = html_to_pdf(paths["html"], out_dir / f"{stem}.pdf", executable)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            raise WorkbenchError(f"{executable}: could not print the PDF ({type(exc).__name__})") from exc
    return paths
