"""Make the next item of an iterator on a thread while the caller works on the current one.

Why: ``stalkrisk score`` reads and validates part k+1 (Arrow reads, Great Expectations,
pandas) while it scores part k (numba's TreeSHAP on both cores, pandas). Much of both releases
the GIL, so on two cores they overlap: measured at a million cases, 2.6 s of a 58 s run, for one
part more in memory (docs/design-notes.md). At most one item is made ahead.

The plain path, ``iter(items)``, is taken when ``STALKRISK_SERIAL_SCORE`` is set (or
``serial=True``); a test holds the two runs' outputs equal.
"""

from __future__ import annotations

import os
import queue
import threading
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
SERIAL_ENV = "STALKRISK_SERIAL_SCORE"
_DONE = object()


def made_ahead(items: Iterable[T], *, serial: bool | None = None) -> Iterator[T]:
    """``items`` in order, the next one made on a thread meanwhile (unless ``serial``)."""
    if serial is None:
        serial = bool(os.environ.get(SERIAL_ENV))
    return iter(items) if serial else _ahead(items)


def _ahead(items: Iterable[T]) -> Iterator[T]:
    handed: queue.Queue = queue.Queue()
    turn = threading.Semaphore(1)  # one item made ahead of the one the caller holds
    stop = threading.Event()

    def make() -> None:
        try:
            it = iter(items)
            while True:
                turn.acquire()
                if stop.is_set():
                    return
                item = next(it, _DONE)
                handed.put((item, None))
                if item is _DONE:
                    return
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            handed.put((_DONE, exc))

    thread = threading.Thread(target=make, name="stalkrisk-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = handed.get()
            if exc is not None:
                raise exc
            if item is _DONE:
                return
            turn.release()  # the caller has this one: the next may be made
            yield item
    finally:
        stop.set()
        turn.release()  # wake the maker if it waits for its turn
        thread.join()
