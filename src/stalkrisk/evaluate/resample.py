"""The bootstrap resamples of one group's rows, compiled (numba).

A resample draws ``n`` row positions with replacement (``rng.integers(0, n, size=n)``, the
same draws as numpy's: numba runs numpy's generator) and keeps only what the fairness
metrics need of it: its count of rows in each (label, flag) cell, its score sum and, when
asked, score quantiles. The resamples are never built as arrays: numpy's gathers (an index
array, its cells, its scores) cost more than the counting itself.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def resample_cells(rng: np.random.Generator, cell: np.ndarray, p: np.ndarray, n_boot: int,
                   quantiles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per resample of the rows: the count in each cell ``cell`` (0-3), the sum of ``p``
    and ``p``'s ``quantiles`` (numpy's linear method); shapes (n_boot, 4), (n_boot,),
    (n_boot, len(quantiles)). ``n_boot`` calls of ``rng.integers(0, n, size=n)``, in turn."""
    n = len(cell)
    counts = np.zeros((n_boot, 4), dtype=np.int64)
    sums = np.zeros(n_boot)
    nq = len(quantiles)
    qv = np.full((n_boot, nq), np.nan)
    if n == 0:
        return counts, sums, qv
    drawn = np.empty(n if nq else 0)
    for b in range(n_boot):
        idx = rng.integers(0, n, size=n)
        s = 0.0
        for k in range(n):
            j = idx[k]
            counts[b, cell[j]] += 1
            s += p[j]
        sums[b] = s
        if nq:
            for k in range(n):
                drawn[k] = p[idx[k]]
            qv[b] = np.quantile(drawn, quantiles)
    return counts, sums, qv
