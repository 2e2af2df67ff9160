"""Hand memory freed by one part of a run back to the operating system before the next.

Without this a long chunked run creeps upwards: glibc keeps freed heap chunks for reuse
(numpy's arrays below its adaptive mmap threshold land there) and Arrow's mimalloc pool
keeps its pages, so each part's peak sits on top of the last one's leftovers
(docs/design-notes.md has the measurement).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return getattr(libc, "malloc_trim", None)  # glibc only
    except OSError:
        return None


def release_free_memory() -> None:
    """Return freed heap and Arrow pool memory to the OS (a no-op where unsupported)."""
    import pyarrow as pa

    trim = _malloc_trim()
    if trim is not None:
        trim(0)
    pa.default_memory_pool().release_unused()
