"""The rolling validation's origins fanned out over Spark give the serial run's figures.

Real Spark on ``local[2]``, real LightGBM: a small generated caseload, three origins (two
earlier fits), the same ``rolling_validation`` with the serial mapper and with ``SparkOrigins``.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

HAVE_JAVA = bool(shutil.which("java") or os.environ.get("JAVA_HOME"))
if not HAVE_JAVA and not os.environ.get("CI"):
    pytest.skip("the spark engine needs Java (set CI to make this a failure)", allow_module_level=True)

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def prepared_small(tmp_path_factory):
    from stalkrisk.config import load_train_config
    from stalkrisk.synth import generate, write_caseload
    from stalkrisk.training.fit import prepare
    from stalkrisk.validation.suite import load_and_validate

    config = load_train_config(None)
    config["evaluation"]["rolling"]["origins"] = 3
    paths = write_caseload(generate(2500, seed=21), tmp_path_factory.mktemp("rolling"), fmt="csv")
    checked = load_and_validate(paths["cases"], paths["events"])
    return prepare(checked.cases, checked.events, config), config


def _report(prepared, config, mapper):
    from stalkrisk.training.rolling import rolling_validation

    X = prepared.X_all.to_numpy(dtype=np.float64)
    te = prepared.slices == "test"
    conduct = prepared.X_all["course_of_conduct"].to_numpy() >= 1.0
    return rolling_validation(prepared.days, X, prepared.y_all, conduct, prepared.feature_names, config,
                              gap_days=prepared.gap_days, test_from=int(prepared.days[te].min()),
                              registered={"roc_auc": 0.5}, map_origins=mapper)


def test_spark_origins_give_the_serial_figures(prepared_small):
    from stalkrisk.pipelines.spark_session import session
    from stalkrisk.pipelines.spark_train import SparkOrigins
    from stalkrisk.training.rolling import fanned_out, serial

    prepared, config = prepared_small
    serial_report = _report(prepared, config, serial)
    fitted = [o for o in serial_report.origins if not o["registered"]]
    assert len(fitted) == 2, serial_report.skipped  # three origins: two earlier fits
    spark = session("local[2]")
    try:
        calls = []
        mapper = SparkOrigins(spark=spark)

        def counting(arrays, origins):
            calls.append(len(origins))
            return mapper(arrays, origins)

        with fanned_out(counting):  # the seam the training run sets
            spark_report = _report(prepared, config, None)
    finally:
        spark.stop()
    assert calls == [2]  # one fan-out of both fits
    assert [o["origin"] for o in spark_report.origins] == [o["origin"] for o in serial_report.origins]
    for a, b in zip(serial_report.origins, spark_report.origins, strict=True):
        assert a.keys() == b.keys()
        for key, value in a.items():
            if isinstance(value, float):
                assert abs(value - b[key]) <= 1e-12 or (np.isnan(value) and np.isnan(b[key])), key
            else:
                assert value == b[key], key
    assert spark_report.spread == serial_report.spread


def test_train_refuses_spark_in_one_line_without_pyspark(tmp_path, capsys, monkeypatch):
    """``stalkrisk train --engine spark`` where pyspark cannot be found: one line, exit 2, nothing read."""
    import importlib.util

    from stalkrisk.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyspark" else real(name, *a))
    code = main(["train", "--cases", str(tmp_path / "no-cases.csv"), "--events", str(tmp_path / "no-events.csv"),
                 "--engine", "spark", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "the spark engine needs pyspark" in err and len(err.strip().splitlines()) == 1


def test_stalkrisk_train_engine_spark_fans_the_origins_out(tmp_path, mlflow_store, capsys, caplog):
    """The command end to end on ``local[2]``: the rolling spread of three origins is logged, and the
    Spark session is gone before the model card's figures are drawn (the run finishes)."""
    import mlflow

    from stalkrisk.cli import main
    from stalkrisk.synth import generate, write_caseload

    paths = write_caseload(generate(2500, seed=21), tmp_path / "load", fmt="csv")
    config = tmp_path / "rolling.yaml"
    config.write_text("evaluation:\n  rolling:\n    origins: 3\n", encoding="utf-8")
    caplog.set_level("INFO", logger="stalkrisk.pipelines.spark_train")
    code = main(["train", "--cases", str(paths["cases"]), "--events", str(paths["events"]), "--config", str(config),
                 "--register", "spark-rolling", "--out", str(tmp_path / "card"), "--quiet",
                 "--spark-master", "local[2]"])
    assert code == 0
    run_id = capsys.readouterr().out.split("run id: ", 1)[1].split()[0]
    metrics = mlflow.get_run(run_id).data.metrics
    assert metrics["rolling_origins"] == 3.0 and "rolling_roc_auc_median" in metrics
    assert "fitting 2 rolling origin(s) on Spark (local[2])" in caplog.text  # the fits ran as Spark tasks
    from pyspark.sql import SparkSession

    assert SparkSession.getActiveSession() is None  # stopped by the run that started it
