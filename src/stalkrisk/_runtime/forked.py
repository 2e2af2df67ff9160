"""Run one function in a forked child process while this process goes on.

Why: training validates twenty million events while it builds their features. Both are
single-threaded pandas and numpy work that holds the GIL, so two threads would take turns
on one core. A forked child sees the parent's tables without copying them (pages are
shared until written) and sends back only its result, which should be small.

Where ``fork`` is not offered (not Linux), the function runs in this process when its
result is asked for, so callers need no second code path.
"""

from __future__ import annotations

import logging
import multiprocessing
import traceback
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class ChildError(RuntimeError):
    """The child died, or its exception could not be sent back whole."""


class Pending(Generic[T]):
    """A call running in a child; ``result()`` waits for it, ``close()`` (or leaving a
    ``with`` block) stops it if it still runs."""

    def __init__(self, fn: Callable[..., T], args: tuple, kwargs: dict[str, Any]):
        self._call = (fn, args, kwargs)
        self._process = self._conn = None
        self._outcome: tuple[str, Any] | None = None
        if "fork" in multiprocessing.get_all_start_methods():
            ctx = multiprocessing.get_context("fork")
            self._conn, send = ctx.Pipe(duplex=False)
            self._process = ctx.Process(target=_child, args=(send, fn, args, kwargs), daemon=True,
                                        name=f"stalkrisk-{getattr(fn, '__name__', 'child')}")
            self._process.start()
            send.close()  # the child holds the sending end; EOF here means it died

    def result(self) -> T:
        """The call's return value; its exception is raised here, with the child's traceback as a note."""
        if self._outcome is None:
            self._outcome = self._collect()
        status, value = self._outcome
        if status == "error":
            raise value
        return value

    def settle(self) -> None:
        """Wait for the child to end, whatever it returns or raises: for work that must not be
        stopped half done (creating a database) when the caller has failed meanwhile."""
        try:
            self.result()
        except Exception:  # noqa: BLE001 - the caller's own failure is the one to report
            log.debug("a settled child failed", exc_info=True)

    def __enter__(self) -> Pending[T]:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop the child if it still runs (the caller failed and will not ask for the result)."""
        if self._process is not None and self._process.is_alive():
            self._process.terminate()
            self._process.join()

    def _collect(self) -> tuple[str, Any]:
        if self._process is None:  # no fork here: the call runs now, in this process
            fn, args, kwargs = self._call
            try:
                return "ok", fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - raised again by ``result``
                return "error", e
        try:
            status, value = self._conn.recv()  # before join: a large result would fill the pipe
        except EOFError:
            self._process.join()
            error = ChildError(f"{self._process.name} died (exit code {self._process.exitcode})")
            return "error", error
        finally:
            self._conn.close()
        self._process.join()
        if status == "error":
            error, child_traceback = value
            error.add_note(f"raised in {self._process.name}:\n{child_traceback}")
            return "error", error
        return "ok", value


def in_child(fn: Callable[..., T], *args: Any, **kwargs: Any) -> Pending[T]:
    """Start ``fn(*args, **kwargs)`` in a forked child; the arguments are shared, not pickled."""
    return Pending(fn, args, kwargs)


def _child(conn, fn: Callable, args: tuple, kwargs: dict) -> None:
    try:
        message: tuple = ("ok", fn(*args, **kwargs))
    except BaseException as e:  # sent to the parent, which raises it
        message = ("error", (e, traceback.format_exc()))
    try:
        conn.send(message)
    except Exception as e:  # an unpicklable result or exception
        conn.send(("error", (ChildError(f"the result could not be sent back: {e}"), traceback.format_exc())))
    conn.close()
