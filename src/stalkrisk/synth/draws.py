"""Draws shared by the history and the follow-up: behaviours, channels, targets, record lags, days.

Why a module of its own: the history (``caseload``) and the outcome window (``followup``) draw
events the same way, and the window needs the UK calendar (distinct local days) exactly.
Times are int64 seconds since the Unix epoch (UTC).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from stalkrisk.data import contract

DAY = 86_400
BEH = {b: i for i, b in enumerate(contract.BEHAVIOURS)}
CHAN = {c: i for i, c in enumerate(contract.CHANNELS)}
TARGET = {t: i for i, t in enumerate(contract.TARGETS)}
HARM = np.array([BEH["threat"], BEH["violence"]])  # the harm domain's behaviours
ACTS = np.zeros(len(contract.BEHAVIOURS), dtype=bool)
ACTS[[BEH[b] for b in contract.ACT_BEHAVIOURS]] = True


def expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def repeat(counts: np.ndarray) -> np.ndarray:
    """Row index ``i`` repeated ``counts[i]`` times."""
    return np.repeat(np.arange(len(counts), dtype=np.int32), counts)


class Calendar:
    """UTC epoch seconds of UK-local midnights for every day of a span (one tz lookup per day,
    not per event: a million cases' windows need ~3,000 days)."""

    def __init__(self, first_day: int, last_day: int) -> None:
        self.first = int(first_day)
        days = np.arange(self.first, int(last_day) + 2, dtype=np.int64)
        local = pd.DatetimeIndex(days.astype("datetime64[D]").astype("datetime64[ns]"))
        self.midnight = local.tz_localize(contract.LOCAL_TZ).tz_convert("UTC").asi8 // 1_000_000_000

    def start(self, days: np.ndarray) -> np.ndarray:
        """Local midnight starting each day (days since the epoch)."""
        return self.midnight[np.asarray(days, dtype=np.int64) - self.first]

    def day_of(self, t: np.ndarray) -> np.ndarray:
        """The UK-local calendar day (days since the epoch) of each instant."""
        return self.first - 1 + np.searchsorted(self.midnight, t, side="right")

    def time_in(self, days: np.ndarray, u: np.ndarray) -> np.ndarray:
        """An instant ``u`` of the way through each local day (23, 24 or 25 hours long)."""
        lo, hi = self.start(days), self.start(np.asarray(days) + 1)
        return lo + np.minimum((u * (hi - lo)).astype(np.int64), hi - lo - 1)


def behaviour_weights(c: dict[str, np.ndarray], case: np.ndarray, u: np.ndarray,
                      harm: float, breach: float | None = None) -> list[np.ndarray]:
    """Per-event weight of each behaviour (contract.BEHAVIOURS order).

    ``u`` in [0, 1] is the event's position in the history (1 = the assessment day); escalating
    cases shift from contact to threats as ``u`` grows. ``harm`` scales threats and violence,
    ``breach`` order breaches (default: as ``harm``).
    """
    f32 = np.float32
    d = c["danger"]
    breach = harm if breach is None else breach
    inperson, online = c["inperson"].astype(f32)[case], c["online"].astype(f32)[case]
    late = f32(1.0) + (f32(1.5) * c["escalation"].astype(f32))[case] * u.astype(f32)
    by_name = {
        "following": f32(0.5) * inperson,
        "contacting": np.full(len(case), 5.0, dtype=f32),
        "publishing": f32(0.3) * online,
        "monitoring_online": f32(0.6) * online,
        "loitering": f32(0.4) * inperson,
        "property_interference": (0.35 * c["property"]).astype(f32)[case],
        "watching": f32(0.4) * inperson,
        "threat": (harm * 0.5 * np.exp(0.6 * d)).astype(f32)[case] * late,
        "violence": (harm * 0.06 * np.exp(0.9 * d)).astype(f32)[case] * late,
        "order_breach": (breach * 0.4 * c["has_order"] * np.exp(0.3 * d)).astype(f32)[case],
        "other": np.full(len(case), 0.5, dtype=f32),
    }
    return [by_name[b] for b in contract.BEHAVIOURS]


def pick(rng: np.random.Generator, weights: list[np.ndarray]) -> np.ndarray:
    """One index per row, drawn in proportion to the rows of ``weights``."""
    total = np.zeros_like(weights[0])
    for w in weights:
        total += w
    target = rng.random(len(total)) * total
    out = np.full(len(total), len(weights) - 1, dtype=np.int8)
    cum = np.zeros_like(total)
    undecided = np.ones(len(total), dtype=bool)
    for k, w in enumerate(weights):
        cum += w
        hit = undecided & (target < cum)
        out[hit] = k
        undecided &= ~hit
    return out


#: P(channel | behaviour), rows in contract.BEHAVIOURS order, columns contract.CHANNELS.
CHANNEL_TABLE = {
    #                  in_person phone text email social third other unknown
    "following":             (0.95, 0, 0, 0, 0, 0, 0, 0.05),
    "contacting":            (0.10, 0.38, 0.38, 0.0, 0.0, 0.08, 0.02, 0.04),
    "publishing":            (0, 0, 0, 0.05, 0.80, 0, 0.10, 0.05),
    "monitoring_online":     (0, 0, 0, 0.15, 0.70, 0, 0.10, 0.05),
    "loitering":             (0.95, 0, 0, 0, 0, 0, 0, 0.05),
    "property_interference": (0.80, 0, 0, 0, 0, 0, 0.05, 0.15),
    "watching":              (0.90, 0, 0, 0, 0, 0, 0.05, 0.05),
    "threat":                (0.20, 0.25, 0.30, 0.05, 0.15, 0.05, 0, 0),
    "violence":              (0.97, 0, 0, 0, 0, 0, 0, 0.03),
    "order_breach":          (0.50, 0.20, 0.20, 0, 0.10, 0, 0, 0),
    "other":                 (0.20, 0, 0, 0, 0, 0, 0.30, 0.50),
}


def channels(rng: np.random.Generator, c: dict[str, np.ndarray], case: np.ndarray,
             beh: np.ndarray) -> np.ndarray:
    """Channel codes (-1 = missing) given behaviour; contact goes online by case, and through
    third parties more for suspects who use proxies."""
    table = np.array([CHANNEL_TABLE[b] for b in contract.BEHAVIOURS], dtype=float)
    cdf = np.cumsum(table / table.sum(axis=1, keepdims=True), axis=1)
    cdf[:, -1] = 1.0
    flat = (cdf + np.arange(len(table))[:, None]).ravel()
    pos = np.searchsorted(flat, beh + rng.random(len(beh)) * (1 - 1e-12), side="right")
    chan = (pos - beh.astype(np.int64) * table.shape[1]).astype(np.int8)
    contact = beh == BEH["contacting"]
    online = c["online"][case]
    goes_online = contact & (rng.random(len(beh)) < online / (online + 2.5))
    chan = np.where(goes_online, np.where(rng.random(len(beh)) < 0.7, CHAN["social_media"],
                                          CHAN["email"]), chan)
    proxy = contact & (rng.random(len(beh)) < c["proxy"][case])
    chan = np.where(proxy, CHAN["third_party"], chan)
    return np.where(rng.random(len(beh)) < 0.03, -1, chan).astype(np.int8)


def targets(rng: np.random.Generator, chan: np.ndarray, beh: np.ndarray) -> np.ndarray:
    """``events.target`` codes: most events through a third party are aimed at one (stalking by
    proxy: the victim's family, friends, colleagues, new partner), and 1% of other acts."""
    m = len(chan)
    act = ACTS[beh]
    proxy = ((chan == CHAN["third_party"]) & (rng.random(m) < 0.8)) | (act & (rng.random(m) < 0.01))
    return np.where(proxy, TARGET["third_party"],
                    np.where(rng.random(m) < 0.03, TARGET["unknown"], TARGET["victim"])).astype(np.int8)


def recorded_lag(rng: np.random.Generator, n: int, late_share: float) -> np.ndarray:
    """Seconds from event to police record: hours to days, a share disclosed late."""
    lag = np.clip(np.exp(rng.normal(np.log(8 * 3600), 1.0, n)), 600, 30 * DAY)
    late = rng.random(n) < late_share
    return np.where(late, rng.uniform(7 * DAY, 120 * DAY, n), lag).astype(np.int64)


def key_strings(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + each number zero-padded to ``width`` digits, built as raw Arrow buffers
    (a Python f-string per key cost seconds at a million keys)."""
    n, size = len(numbers), len(prefix) + width
    chars = np.empty((size, n), dtype=np.uint8)  # one row per character position
    chars[: len(prefix)] = np.frombuffer(prefix.encode(), dtype=np.uint8)[:, None]
    big = n and int(np.max(numbers)) >= 2**31
    number = np.asarray(numbers, dtype=np.int64 if big else np.int32)  # int32 divides faster
    for row in range(size - 1, len(prefix) - 1, -1):
        number, digit = np.divmod(number, 10)
        chars[row] = digit + ord("0")
    chars = np.ascontiguousarray(chars.T)
    small = n * size < 2**31
    offsets = (np.arange(n + 1, dtype=np.int64) * size).astype(np.int32 if small else np.int64)
    kind = pa.string() if small else pa.large_string()
    return pa.Array.from_buffers(kind, n, [None, pa.py_buffer(offsets), pa.py_buffer(chars)])
