"""Import libraries on a thread while the main thread reads the input files.

Why: ``stalkrisk train`` needs about 4 s of imports (scikit-learn, LightGBM, MLflow,
matplotlib, shap). Reading a large Parquet file is mostly Arrow, which releases the GIL, so
the two overlap. Imported on their own thread, shap's recorded import errors pin no
caller's frames either (see ``shap_import``).

Imports make hundreds of thousands of objects that live as long as the process, and the
cyclic garbage collector walks all of them on each full collection: at a million cases,
nine full collections took 1.9 s of a training run, most of them while importing.
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


def preload(*modules: str) -> threading.Thread:
    """Start importing ``modules`` in order on a thread; ``join()`` it before using them."""
    thread = threading.Thread(target=_import_all, args=(modules,), name="stalkrisk-preload", daemon=True)
    thread.start()
    return thread


def _import_all(modules: tuple[str, ...]) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the caller's own import says what is wrong, where it matters
            pass


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
