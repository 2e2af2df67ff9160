"""Small, hand-written, deterministic SVG charts for the review pages.

The pages must work on closed networks and must be byte-identical for the same
inputs, so the charts are built here as plain strings: no plotting library,
no random ids, every coordinate printed with fixed precision, and every piece
of text escaped. Each chart carries a <title>/<desc> for screen readers; the
pages also print a table with the same numbers (the text equivalent).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from markupsafe import Markup, escape

from stalkrisk.data.contract import (
    BEHAVIOURS,
    LOCAL_TZ,
    OUTCOME_BEHAVIOURS,
    STATUTORY_BEHAVIOURS,
)
from stalkrisk.features.asof import day_end_utc

RAISES = "#b2182b"  # dark red: contribution raises the score
LOWERS = "#2166ac"  # dark blue: contribution lowers it
INK = "#1a1a1a"
MUTED = "#595959"  # 7:1 on white
GRID = "#d0d0d0"
STATUTORY_COLOUR = "#1d4e89"
OUTCOME_COLOUR = "#b2182b"
OTHER_COLOUR = "#595959"
BAND_TINTS = ("#f3f6f3", "#fbf6e6", "#fbeee4", "#f8e6e6")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_PROB_TICKS = (
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5,
    0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999,
)


# --- formatting -------------------------------------------------------------


def num(x: float, digits: int = 2) -> str:
    """A coordinate with fixed precision, never ``-0.00``."""
    text = f"{x:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def esc(text: object) -> str:
    """HTML/XML-escape any value for use in text or an attribute."""
    return str(escape(str(text)))


def pct(p: float, digits: int = 0) -> str:
    """A probability as a percentage a reviewer reads at a glance ("47%", "<1%")."""
    if p is None or not math.isfinite(p):
        return "–"
    low, high = 0.5 * 10 ** -(digits + 2), 1 - 0.5 * 10 ** -(digits + 2)
    if 0 < p < low:
        return f"<{num(2 * low * 100, digits)}%"
    if high < p < 1:
        return f">{num(100 - 2 * low * 100, digits)}%"
    return f"{num(p * 100, digits)}%"


def signed(x: float, digits: int = 2) -> str:
    """A signed number with a true minus sign: "+0.42", "−0.10"."""
    text = num(abs(x), digits)
    if float(text) == 0:
        return text
    return ("+" if x > 0 else "\u2212") + text


def compact(n: int) -> str:
    """A count short enough to sit above a histogram bar: 950, 12k, 1.2M."""
    if n < 10_000:
        return f"{n:,}"
    if n < 1_000_000:
        return f"{n / 1000:.0f}k"
    return f"{n / 1_000_000:.1f}M"


def logit(p: float) -> float:
    p = min(max(float(p), 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def expit(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def humanise(key: str) -> str:
    """``monitoring_online`` -> ``Monitoring online``."""
    text = key.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def uk_time(ts: pd.Timestamp) -> pd.Timestamp:
    """A UTC (or naive, taken as UTC) timestamp in UK local time."""
    ts = pd.Timestamp(ts)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.tz_convert(LOCAL_TZ)


def date_text(day: pd.Timestamp) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def _open(chart_id: str, width: int, height: int, title: str, desc: str, cls: str) -> list[str]:
    cid = esc(chart_id)
    return [
        f'<svg class="chart {cls}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-labelledby="{cid}-title {cid}-desc" focusable="false">',
        f'<title id="{cid}-title">{esc(title)}</title>',
        f'<desc id="{cid}-desc">{esc(desc)}</desc>',
    ]


def _text(x: float, y: float, text: str, *, anchor: str = "start", cls: str = "", fill: str = INK,
          size: int = 12, weight: str = "normal") -> str:
    attrs = f' class="{cls}"' if cls else ""
    bold = f' font-weight="{weight}"' if weight != "normal" else ""
    return (f'<text x="{num(x)}" y="{num(y)}" text-anchor="{anchor}" font-size="{size}" '
            f'fill="{fill}"{bold}{attrs}>{esc(text)}</text>')


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, width: float = 1,
          dash: str | None = None) -> str:
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<line x1="{num(x1)}" y1="{num(y1)}" x2="{num(x2)}" y2="{num(y2)}" '
            f'stroke="{stroke}" stroke-width="{num(width, 1)}"{dashed}/>')


# --- waterfall ----------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One bar of the waterfall: a labelled change in log-odds."""

    label: str
    value: float


def waterfall(
    base: float,
    steps: Sequence[Step],
    *,
    chart_id: str,
    title: str,
    desc: str,
    threshold: float | None = None,
    base_label: str = "Starting point",
    final_label: str = "This case",
) -> Markup:
    """Bars from the base log-odds, one per step, to the final log-odds.

    The x axis is log-odds (where contributions add up) with gridlines labelled
    in probability; the two ends are labelled in probability. ``threshold`` is a
    probability, marked as a dashed line.
    """
    width, label_w, right_w, row_h, top, bottom = 760, 230, 80, 26, 30, 34
    x0, x1 = label_w + 10, width - right_w
    n_rows = len(steps) + 2
    height = top + n_rows * row_h + bottom

    cumulative = [base]
    for step in steps:
        cumulative.append(cumulative[-1] + step.value)
    final = cumulative[-1]
    marks = list(cumulative) + ([logit(threshold)] if threshold is not None else [])
    lo, hi = min(marks), max(marks)
    pad = max(0.06 * (hi - lo), 0.3)
    lo, hi = lo - pad, hi + pad

    def sx(v: float) -> float:
        return x0 + (v - lo) / (hi - lo) * (x1 - x0)

    out = _open(chart_id, width, height, title, desc, "waterfall")
    plot_bottom = top + n_rows * row_h
    # probability gridlines on the log-odds axis, thinned to keep labels apart
    last_x = -1e9
    for p in _PROB_TICKS:
        v = logit(p)
        if not lo <= v <= hi:
            continue
        x = sx(v)
        if x - last_x < 46:
            continue
        last_x = x
        out.append(_line(x, top, x, plot_bottom, GRID))
        out.append(_text(x, plot_bottom + 16, pct(p, 1 if p < 0.01 or p > 0.99 else 0),
                         anchor="middle", fill=MUTED, size=11))
    out.append(_text((x0 + x1) / 2, plot_bottom + 30,
                     "Chance of the outcome (log-odds scale, where the bars add up)",
                     anchor="middle", fill=MUTED, size=11))
    if threshold is not None:
        tx = sx(logit(threshold))
        out.append(_line(tx, top - 6, tx, plot_bottom, INK, 1.5, "5 3"))
        out.append(_text(tx, top - 10, f"Flag threshold {pct(threshold, 1)}", anchor="middle",
                         size=11))

    def end_row(row: int, value: float, label: str, cls: str) -> None:
        y = top + row * row_h
        cx = sx(value)
        out.append(f'<g class="{cls}" data-log-odds="{float(value)!r}">')
        out.append(f"<title>{esc(label)}: {esc(pct(expit(value), 1))}</title>")
        out.append(f'<rect x="{num(cx - 1.5)}" y="{num(y + 3)}" width="3" height="{row_h - 6}" fill="{INK}"/>')
        out.append(_text(label_w, y + row_h / 2 + 4, label, anchor="end", weight="bold"))
        out.append(_text(width - 6, y + row_h / 2 + 4, pct(expit(value)), anchor="end",
                         weight="bold", size=13))
        out.append("</g>")

    end_row(0, base, base_label, "wf-base")
    for i, step in enumerate(steps):
        y = top + (i + 1) * row_h
        start, end = cumulative[i], cumulative[i + 1]
        left, right = sx(min(start, end)), sx(max(start, end))
        colour = MUTED if abs(step.value) < 0.005 else RAISES if step.value > 0 else LOWERS
        verb = "raises" if step.value > 0 else "lowers"
        out.append(f'<g class="wf-step" data-contribution="{float(step.value)!r}">')
        out.append(f"<title>{esc(step.label)}: {verb} the log-odds by {esc(num(abs(step.value)))}</title>")
        out.append(_line(sx(start), y - row_h + 3, sx(start), y + 3, MUTED, 1, "2 2"))
        out.append(f'<rect x="{num(left)}" y="{num(y + 5)}" width="{num(max(right - left, 1.0))}" '
                   f'height="{row_h - 10}" fill="{colour}"/>')
        out.append(_text(label_w, y + row_h / 2 + 4, step.label, anchor="end"))
        out.append(_text(width - 6, y + row_h / 2 + 4, signed(step.value), anchor="end",
                         fill=colour, weight="bold"))
        out.append("</g>")
    y_final = top + (n_rows - 1) * row_h
    out.append(_line(sx(final), y_final - row_h + 3, sx(final), y_final + 3, MUTED, 1, "2 2"))
    end_row(n_rows - 1, final, final_label, "wf-final")
    out.append("</svg>")
    return Markup("\n".join(out))


# --- timeline -----------------------------------------------------------------


def behaviour_colour(behaviour: str) -> str:
    if behaviour in OUTCOME_BEHAVIOURS:
        return OUTCOME_COLOUR
    if behaviour in STATUTORY_BEHAVIOURS:
        return STATUTORY_COLOUR
    return OTHER_COLOUR


def behaviour_order(behaviours: Sequence[str]) -> list[str]:
    """Distinct behaviours in contract order, unknown ones after, alphabetically."""
    rank = {b: i for i, b in enumerate(BEHAVIOURS)}
    return sorted(set(behaviours), key=lambda b: (rank.get(b, len(rank)), b))


def assessment_end(assessment_date: str) -> pd.Timestamp:
    """The first instant after the assessment day (UK local), in UTC: the features' own as-of rule."""
    return day_end_utc(assessment_date)


def _month_ticks(start: pd.Timestamp, end: pd.Timestamp) -> list[pd.Timestamp]:
    """Local month starts between start and end (UTC), thinned to at most 8."""
    s, e = start.tz_convert(LOCAL_TZ), end.tz_convert(LOCAL_TZ)
    months = (e.year - s.year) * 12 + e.month - s.month + 1
    step = next(k for k in (1, 2, 3, 6, 12, 24, 60, 120, 240, 600) if months / k <= 8)
    firsts = pd.date_range(s.normalize().replace(day=1), e, freq="MS")
    keep = ((firsts.year * 12 + firsts.month - 1) % step == 0) & (firsts >= s)
    return list(firsts[keep].tz_convert("UTC"))


@dataclass(frozen=True)
class Dot:
    """One event ready to draw: UTC nanoseconds, behaviour, channel, UK local time as text."""

    ns: int
    behaviour: str
    channel: str | None
    when: str


def minute_texts(times: pd.DatetimeIndex) -> list[str]:
    """Each UTC time as UK local ``dd Mon yyyy HH:MM``, formatted from its parts in one go
    (``strftime`` on each took most of a case page's time)."""
    local = times.tz_convert(LOCAL_TZ)
    return [f"{d:02d} {MONTHS[m - 1]} {y} {h:02d}:{mi:02d}"
            for d, m, y, h, mi in zip(local.day, local.month, local.year, local.hour, local.minute, strict=True)]


def known_events(events: Iterable[tuple[pd.Timestamp, str, str | None]], assessment_date: str) -> list[Dot]:
    """Events up to the end of the UK assessment day, in time order (times converted in one go).

    ``events`` are (time, behaviour, channel); a naive time is taken as UTC.
    """
    rows = list(events)
    if not rows:
        return []
    times = pd.to_datetime([r[0] for r in rows], utc=True).as_unit("ns")
    end = assessment_end(assessment_date).value
    dots = [
        Dot(int(ns), behaviour, channel, when)
        for ns, (_, behaviour, channel), when in zip(times.asi8, rows, minute_texts(times), strict=True)
        if ns < end
    ]
    dots.sort(key=lambda dot: (dot.ns, dot.behaviour, dot.channel or ""))
    return dots


def timeline(
    dots: Sequence[Dot],
    assessment_date: str,
    *,
    chart_id: str,
    title: str,
    desc: str,
    min_days: int = 90,
) -> Markup:
    """One lane per behaviour, one dot per event, up to the end of the assessment day.

    ``dots`` come from :func:`known_events`; any after the assessment day are not drawn.
    The window covers at least ``min_days`` before the assessment.
    """
    end = assessment_end(assessment_date)
    kept = sorted((d for d in dots if d.ns < end.value), key=lambda d: (d.ns, d.behaviour, d.channel or ""))
    start = end - pd.Timedelta(days=min_days)
    if kept and kept[0].ns < start.value:
        start = pd.Timestamp(kept[0].ns, tz="UTC")
    # open the window at the local midnight at or before the start
    start = uk_time(start).normalize().tz_convert("UTC")
    lanes = behaviour_order([d.behaviour for d in kept])

    width, label_w, row_h, top, bottom = 760, 170, 24, 34, 58
    x0, x1 = label_w + 14, width - 16
    height = top + max(len(lanes), 1) * row_h + bottom
    span = end.value - start.value

    def sx(ns: int) -> float:
        return x0 + (ns - start.value) / span * (x1 - x0)

    out = _open(chart_id, width, height, title, desc, "timeline")
    plot_bottom = top + max(len(lanes), 1) * row_h
    for i, _ in enumerate(lanes):
        if i % 2 == 0:
            out.append(f'<rect x="{x0}" y="{num(top + i * row_h)}" width="{x1 - x0}" height="{row_h}" fill="#f4f4f4"/>')
    for tick in _month_ticks(start, end):
        x = sx(tick.value)
        local = tick.tz_convert(LOCAL_TZ)
        out.append(_line(x, top, x, plot_bottom, GRID))
        out.append(_text(x, plot_bottom + 15, f"{MONTHS[local.month - 1]} {local.year}",
                         anchor="middle", fill=MUTED, size=11))
    out.append(_line(x0, plot_bottom, x1, plot_bottom, MUTED))
    day = pd.Timestamp(assessment_date).normalize()
    out.append(_line(x1, top - 8, x1, plot_bottom, INK, 2))
    out.append(_text(x1, top - 12, f"Assessment date {date_text(day)}", anchor="end", size=11,
                     weight="bold"))
    if not lanes:
        out.append(_text((x0 + x1) / 2, top + row_h / 2 + 4,
                         "No events recorded up to the assessment date", anchor="middle",
                         fill=MUTED))
    for i, behaviour in enumerate(lanes):
        y = top + i * row_h + row_h / 2
        lane_events = [d for d in kept if d.behaviour == behaviour]
        colour = behaviour_colour(behaviour)
        out.append(f'<g class="tl-lane" data-behaviour="{esc(behaviour)}">')
        out.append(_text(label_w, y + 4, f"{humanise(behaviour)} ({len(lane_events)})",
                         anchor="end"))
        label = esc(humanise(behaviour))
        for dot in lane_events:
            how = esc(f" by {humanise(dot.channel).lower()}") if dot.channel else ""
            out.append(f'<circle class="tl-dot" cx="{num(sx(dot.ns))}" cy="{num(y)}" r="4.5" '
                       f'fill="{colour}" fill-opacity="0.75" stroke="#ffffff" stroke-width="0.8">'
                       f"<title>{esc(dot.when)}: {label}{how}</title></circle>")
        out.append("</g>")
    legend_y = plot_bottom + 40
    for x, colour, label in (
        (20, STATUTORY_COLOUR, "Stalking behaviour (PHA 1997 s.2A(3))"),
        (300, OUTCOME_COLOUR, "Threat, violence or order breach"),
        (540, OTHER_COLOUR, "Other behaviour"),
    ):
        out.append(f'<circle cx="{num(x + 5)}" cy="{num(legend_y - 4)}" r="5" fill="{colour}"/>')
        out.append(_text(x + 14, legend_y, label, size=11))
    out.append("</svg>")
    return Markup("\n".join(out))


# --- histogram ----------------------------------------------------------------


def histogram_counts(scores: np.ndarray, bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Counts of finite scores in ``bins`` equal bins over [0, 1] (1 falls in the last)."""
    values = np.asarray(scores, dtype=float)
    values = np.clip(values[np.isfinite(values)], 0.0, 1.0)
    counts, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    return edges, counts


def _nice_max(n: int) -> tuple[int, int]:
    """An axis top >= n and a tick step from the 1-2-5 series (4-5 ticks)."""
    if n <= 0:
        return 1, 1
    raw = n / 4
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(int(step), 1)
    return int(math.ceil(n / step) * step), step


def histogram(
    scores: np.ndarray,
    *,
    chart_id: str,
    title: str,
    desc: str,
    threshold: float,
    band_edges: tuple[float, float, float],
    band_labels: tuple[str, str, str, str] = ("Low", "Medium", "High", "Very high"),
    bins: int = 20,
) -> Markup:
    """Score distribution with the risk bands shaded and the flag threshold marked."""
    edges, counts = histogram_counts(scores, bins)
    width, height = 760, 300
    x0, x1, y0, y1 = 64, 744, 40, 246
    top, step = _nice_max(int(counts.max()) if counts.size else 0)

    def sx(p: float) -> float:
        return x0 + p * (x1 - x0)

    def sy(n: float) -> float:
        return y1 - n / top * (y1 - y0)

    out = _open(chart_id, width, height, title, desc, "histogram")
    cuts = (0.0, *band_edges, 1.0)
    for i, label in enumerate(band_labels):
        a, b = sx(cuts[i]), sx(cuts[i + 1])
        out.append(f'<rect x="{num(a)}" y="{y0}" width="{num(b - a)}" height="{y1 - y0}" fill="{BAND_TINTS[i]}"/>')
        if b - a > 8 * len(label):
            out.append(_text((a + b) / 2, y0 - 6, label, anchor="middle", fill=MUTED, size=11))
    for tick in range(0, top + 1, step):
        y = sy(tick)
        out.append(_line(x0, y, x1, y, GRID, 0.8))
        out.append(_text(x0 - 6, y + 4, f"{tick:,}", anchor="end", fill=MUTED, size=11))
    bar_w = (x1 - x0) / bins
    for i, n in enumerate(counts):
        a, b = float(edges[i]), float(edges[i + 1])
        y = sy(int(n))
        label = f"{pct(a)}–{pct(b)}: {int(n):,} cases"
        out.append(f'<rect class="hist-bar" data-count="{int(n)}" x="{num(sx(a) + 1)}" y="{num(y)}" '
                   f'width="{num(bar_w - 2)}" height="{num(y1 - y)}" fill="#44546a">'
                   f"<title>{esc(label)}</title></rect>")
        if n:
            out.append(_text(sx(a) + bar_w / 2, y - 3, compact(int(n)), anchor="middle", size=10,
                             fill=INK))
    out.append(_line(x0, y1, x1, y1, INK))
    for k in range(0, 11):
        p = k / 10
        out.append(_text(sx(p), y1 + 16, pct(p), anchor="middle", fill=MUTED, size=11))
    out.append(_text((x0 + x1) / 2, y1 + 38, "Score", anchor="middle", fill=MUTED, size=11))
    out.append(f'<text x="14" y="{num((y0 + y1) / 2)}" text-anchor="middle" font-size="11" '
               f'fill="{MUTED}" transform="rotate(-90 14 {num((y0 + y1) / 2)})">Cases</text>')
    tx = sx(threshold)
    out.append(_line(tx, y0 - 2, tx, y1, INK, 2, "6 3"))
    anchor = "end" if threshold > 0.7 else "start"
    out.append(_text(tx + (-5 if anchor == "end" else 5), y0 + 12,
                     f"Flag threshold {pct(threshold, 1)}", anchor=anchor, size=11, weight="bold"))
    out.append("</svg>")
    return Markup("\n".join(out))
