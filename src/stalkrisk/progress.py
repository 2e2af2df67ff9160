"""Progress for long runs, shown on a terminal only.

Scoring shows a bar over the cases; training shows one line per stage and a bar over
LightGBM's boosting rounds. Nothing is shown with ``--quiet`` or when stderr is not a
terminal, so logs and pipes stay clean. Progress never names a case.
"""

from __future__ import annotations

import sys
import time
from typing import Callable


def shown(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def bar(total: int, quiet: bool, *, desc: str = "scoring", unit: str = "case"):
    """A tqdm bar on stderr; disabled with ``quiet`` or off a terminal."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, disable=not shown(quiet), file=sys.stderr)


class Stages:
    """Numbered stage lines (``[2/5] building features and labels``), their times, and a bar
    over LightGBM's rounds inside a stage.

    ``start`` ends the running stage (its time is printed, its bars closed) and begins the
    next; ``finish`` ends the last. A run that fails shows the stage it failed in, untimed.
    """

    def __init__(self, total: int, quiet: bool = False):
        self.total, self.done, self.enabled = total, 0, shown(quiet)
        self._started: float | None = None
        self._bars: list = []

    def start(self, name: str) -> None:
        self.finish()
        self.done += 1
        if self.enabled:
            print(f"[{self.done}/{self.total}] {name}", file=sys.stderr, flush=True)
            self._started = time.perf_counter()

    def finish(self) -> None:
        while self._bars:  # early stopping ends the rounds before the bar's total
            self._bars.pop().close()
        if self._started is not None:
            print(f"      {time.perf_counter() - self._started:.1f} s", file=sys.stderr, flush=True)
            self._started = None

    def rounds(self, total: int) -> list[Callable]:
        """LightGBM callbacks drawing a bar over the boosting rounds (none when not shown)."""
        if not self.enabled:
            return []
        progress = bar(total, quiet=False, desc="LightGBM", unit="round")
        self._bars.append(progress)

        def update(env) -> None:
            progress.update(1)
            if env.evaluation_result_list:
                _, metric, value = env.evaluation_result_list[0][:3]
                progress.set_postfix({f"valid {metric}": f"{value:.4f}"}, refresh=False)

        update.order = 10  # before early stopping (30), which may end the rounds
        return [update]

