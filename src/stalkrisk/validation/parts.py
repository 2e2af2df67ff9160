"""Validate a partitioned caseload part by part, with the verdicts of the whole-file run.

Each part (see ``partition``) is validated with its own cases and events plus the
duplicate rows of other parts as context, so every rule reaches the same verdict
as ``validation.validate`` on the whole files; ``combined`` then gives the same
failures, quarantine and counts. A test holds the two paths equal.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from stalkrisk.defaults import DEFAULT_CHUNK_SIZE
from stalkrisk.data.partition import Partitioned, partition
from stalkrisk.data.readers import LINE, check_file
from stalkrisk.validation import history as history_mod
from stalkrisk.validation.orders import apply_orders, read_and_check
from stalkrisk.validation.suite import (
    SuiteRunner,
    ValidationResult,
    load_suites,
    sort_failures,
    validate,
)


class PartValidator:
    """Iterate ``(part, result)``: the data parts in input order, then the unattached events
    (part ``None``). After the iteration, ``combined()`` is the whole-file result."""

    def __init__(self, parted: Partitioned, *, expectations_dir: str | Path | None = None,
                 orders: str | Path | None = None, history: str | Path | None = None):
        self.parted = parted
        self._runner = SuiteRunner(load_suites(expectations_dir))
        #: The optional orders table, read and judged whole (it is small): applied to each part.
        self.orders = None if orders is None else read_and_check(orders, self._runner)
        #: The optional history table, likewise (it rebuilds each part's prior counts as of each day).
        self.history = None if history is None else history_mod.read_and_check(history, self._runner)
        self._warnings: list[pd.DataFrame] = []
        self._failures: list[pd.DataFrame] = []
        self._quarantine: list[pd.DataFrame] = []
        self._failing_event_lines: set[int] = set()
        self._counts = {"cases": 0, "cases_valid": 0, "cases_quarantined": 0, "events": 0,
                        "events_valid": 0, "orphan_events": 0}
        self._done = False

    def __iter__(self) -> Iterator[tuple[int | None, ValidationResult]]:
        repeated = self.parted.repeated_event_lines
        for k in [*self.parted.parts(), None]:
            cases, events = self.parted.read(k)
            result = validate(cases, events, runner=self._runner, context=self.parted.context)
            result = apply_orders(result, self.orders)
            result = history_mod.apply_history(result, self.history)
            result.inputs = self.inputs
            c = result.counts
            for name in ("cases", "cases_valid", "cases_quarantined", "events_valid", "orphan_events"):
                self._counts[name] += c[name]
            self._counts["events"] += int((~events.frame[LINE].isin(repeated)).sum())
            f = result.failures
            self._failing_event_lines.update(f.loc[f["table"] == "events", "line"].dropna().astype(int).tolist())
            self._failures.append(f)
            self._quarantine.append(result.quarantine)
            self._warnings.append(result.warnings)
            yield k, result
            del cases, events, result, f  # the generator must not hold a part while the next is read
        self._counts["events"] += len(np.unique(repeated))
        self._done = True

    def combined(self) -> ValidationResult:
        """Every failure, the quarantine and the counts of the whole files (frames left empty)."""
        if not self._done:
            raise RuntimeError("iterate over every part before combining")
        failures = pd.concat(self._failures + [t.failures for t in (self.orders, self.history) if t is not None],
                             ignore_index=True)
        again = failures["table"].eq("events") & failures["line"].isin(self.parted.repeated_event_lines)
        if again.any():  # an event naming a duplicated case id was checked in each of its parts
            keep = ~again | ~failures.duplicated(["table", "line", "column", "rule", "value"])
            failures = failures.loc[keep]
        failures = sort_failures(failures)
        counts = {**self._counts, "events_failing": len(self._failing_event_lines), "failures": len(failures)}
        counts = {k: counts[k] for k in ("cases", "cases_valid", "cases_quarantined", "events", "events_valid",
                                         "events_failing", "orphan_events", "failures")}
        empty = pd.DataFrame()
        return ValidationResult(
            cases_all=empty, cases=empty, events=empty, failures=failures,
            quarantine=pd.concat(self._quarantine, ignore_index=True), orphan_events=counts["orphan_events"],
            counts=counts, inputs=self.inputs,
            warnings=sort_failures(pd.concat(self._warnings, ignore_index=True)) if self._warnings else pd.DataFrame(),
        )

    @property
    def inputs(self) -> dict[str, dict]:
        """The input files' paths, SHA-256 and rows (the orders too, when given)."""
        inputs = dict(self.parted.inputs)
        if self.orders is not None:
            inputs["orders"] = {"path": str(self.orders.path), "sha256": self.orders.sha256, "rows": self.orders.rows}
        if self.history is not None:
            inputs["history"] = {"path": str(self.history.path), "sha256": self.history.sha256,
                                 "rows": self.history.rows}
        return inputs


def validate_files(
    cases: str | Path, events: str | Path, *, chunk_size: int = DEFAULT_CHUNK_SIZE,
    expectations_dir: str | Path | None = None, orders: str | Path | None = None,
    history: str | Path | None = None,
) -> ValidationResult:
    """Validate two files in bounded memory: failures, quarantine and counts (no frames).

    The parts are spilled to a private temporary folder, removed on return.
    """
    with tempfile.TemporaryDirectory(prefix="stalkrisk-validate-") as work:
        for extra in (orders, history):
            if extra is not None:
                check_file(extra)  # before the long pass: a wrong path fails at once
        validator = PartValidator(partition(cases, events, work, chunk_size=chunk_size),
                                  expectations_dir=expectations_dir, orders=orders, history=history)
        for _ in validator:
            pass
        return validator.combined()
