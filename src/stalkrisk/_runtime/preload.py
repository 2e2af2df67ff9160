"""Import libraries on a thread while the main thread reads the input files.

Why: ``stalkrisk train`` spends seconds importing scikit-learn, LightGBM, MLflow,
matplotlib and shap. Reading a large Parquet file is mostly Arrow, which releases the GIL, so
the two overlap. Imported on their own thread, shap's recorded import errors pin no
caller's frames either (see ``report.shap_import``).

Imports make hundreds of thousands of objects that live as long as the process, and the
cyclic garbage collector walks all of them on each full collection, most of which happen
while importing (the measurement is in docs/design-notes.md).
``collector_paused`` spares it that work, ``thawed_after`` undoes it.
"""

from __future__ import annotations

import functools
import gc
import importlib
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")


class Preloader:
    """Modules being imported in order on a thread (``preload``).

    ``paused()`` holds the thread between two modules, so no import is half done: a
    process forked inside it gets only whole modules, and no import lock held by a
    thread the child does not have.
    """

    def __init__(self, modules: tuple[str, ...]):
        self._modules = modules
        self._turn = threading.Condition()
        self._held = self._importing = False
        self.thread = threading.Thread(target=self._import_all, name="stalkrisk-preload", daemon=True)
        self.thread.start()

    def join(self) -> None:
        self.thread.join()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Inside the block the thread imports nothing (it finishes the module it is on first)."""
        with self._turn:
            self._held = True
            while self._importing:
                self._turn.wait()
        try:
            yield
        finally:
            with self._turn:
                self._held = False
                self._turn.notify_all()

    def _import_all(self) -> None:
        for name in self._modules:
            with self._turn:
                while self._held:
                    self._turn.wait()
                self._importing = True
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the caller's own import says what is wrong, where it matters
                pass
            finally:
                with self._turn:
                    self._importing = False
                    self._turn.notify_all()


def preload(*modules: str) -> Preloader:
    """Start importing ``modules`` in order on a thread; ``join()`` it before using them."""
    return Preloader(modules)


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block; at its end every object is frozen
    (``gc.freeze``: later collections skip them) and collection resumes.

    For a block that imports and reads: what it makes lives on. Forked children benefit
    too: a collection in a child no longer writes to every shared page.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


@contextmanager
def collector_frozen() -> Iterator[Callable[[], None]]:
    """Everything alive on entry is frozen (``gc.freeze``) for the block, and unfrozen after;
    the block gets ``settled``, to call once a step has made more that lives to the end.

    For a long run whose set-up (libraries, the model, whole-run tables) lives to its end:
    each full collection would otherwise walk all of it again. Measured on a 1M-case
    ``score``: 17 full collections took 3.8 s of a 65 s run; frozen, about 0.5 s.
    """
    def settle() -> None:
        gc.collect()  # garbage frozen now would be kept to the end: the parts' frames among it
        gc.freeze()

    settle()
    try:
        yield settle
    finally:
        gc.unfreeze()


def thawed_after(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` that unfreezes every frozen object when it returns or raises, so a caller in a
    long-lived process (a notebook, the tests) gets back a collector that sees everything."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        finally:
            gc.unfreeze()

    return wrapper
