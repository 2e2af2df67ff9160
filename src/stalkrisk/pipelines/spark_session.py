"""Starting Spark for the engines (``spark_score``, ``spark_train``): one place, few imports.

pyspark is optional (``stalkrisk[spark]``) and needs Java: both are checked before any work,
so a missing one is one line and exit 2, not a traceback halfway through a run.
"""

from __future__ import annotations

import os
import shutil
import sys

from stalkrisk.errors import StalkriskError

DEFAULT_MASTER = "local[*]"


class SparkEngineError(StalkriskError):
    """Spark cannot start here (no pyspark, no Java): a user's setup to fix, said in one line."""


def require_spark() -> None:
    """Refuse at once, in one line, where Spark cannot start (before a model loads or data is read)."""
    import importlib.util

    if importlib.util.find_spec("pyspark") is None:
        raise SparkEngineError("the spark engine needs pyspark: pip install 'stalkrisk[spark]'")
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        raise SparkEngineError("the spark engine needs Java 17 or later: install a JRE "
                               "(e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME")


def session(master: str = DEFAULT_MASTER, **conf: str):
    """A SparkSession for ``master``; local masters stay on localhost with no UI.

    The workers run this interpreter (so they import this stalkrisk and its pinned libraries).
    """
    require_spark()
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName("stalkrisk-score")
    defaults = {"spark.sql.execution.arrow.pyspark.enabled": "true"}
    if master.startswith("local"):
        defaults.update({"spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1",
                         "spark.ui.enabled": "false", "spark.pyspark.python": sys.executable})
    for key, value in {**defaults, **conf}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
