"""``stalkrisk train --engine spark``: the rolling validation's earlier origins fitted on Spark.

Why only the origins: they are independent fits of the same prepared arrays (the registered
model's own fit, evaluation and logging stay on the driver), so they map over tasks with nothing
to merge. The arrays are broadcast once (every executor holds one copy, whatever the number of
origins); each task takes one origin and runs ``rolling.fit_origin``, the function the serial
path runs, with the same LightGBM parameters (``num_threads`` included, so the trees, and the
metrics, are the same as the serial run's). pyspark is imported only here, when asked for.
"""

from __future__ import annotations

import logging

from stalkrisk.training.rolling import Origin, OriginArrays, fit_origin

log = logging.getLogger(__name__)


class SparkOrigins:
    """An ``OriginMapper`` over Spark: the session is made on the first call (none when the
    configuration asks for one origin) and stopped by ``close``; or an existing ``spark``."""

    def __init__(self, master: str | None = None, spark=None):
        from stalkrisk.pipelines.spark_session import DEFAULT_MASTER, require_spark

        if spark is None:
            require_spark()  # refused in one line before the training run reads anything
        self.master = master or DEFAULT_MASTER
        self.spark, self._own = spark, spark is None

    def __call__(self, arrays: OriginArrays, origins: list[Origin]) -> list[dict[str, float]]:
        if self.spark is None:
            from stalkrisk.pipelines.spark_session import session

            self.spark = session(self.master, **{"spark.app.name": "stalkrisk-train",
                                                 "spark.ui.showConsoleProgress": "false"})
        sc = self.spark.sparkContext
        log.info("fitting %d rolling origin(s) on Spark (%s)", len(origins), sc.master)
        shipped = sc.broadcast(arrays)  # once, however many origins
        try:
            tasks = sc.parallelize(list(enumerate(origins)), numSlices=max(1, len(origins)))
            fitted = tasks.map(lambda item: (item[0], fit_origin(shipped.value, item[1]))).collect()
        finally:
            shipped.destroy()
        return [figures for _, figures in sorted(fitted, key=lambda pair: pair[0])]

    def close(self) -> None:
        if self._own and self.spark is not None:
            self.spark.stop()
            self.spark = None
