"""The Spark engine gives the single-machine run's outputs, byte for byte, on ``local[2]``.

Real Spark (a JVM and Python workers), real MLflow, real Great Expectations: the
outputs of ``spark_engine.run`` are compared with ``pipelines.score.run`` on the same
inputs and model. Skipped only when Java is missing on a developer's machine; with
``CI`` set, a missing Java fails (the CI script installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import fixtures_messy  # noqa: E402

HAVE_JAVA = bool(shutil.which("java") or os.environ.get("JAVA_HOME"))
if not HAVE_JAVA and not os.environ.get("CI"):
    pytest.skip("the spark engine needs Java (set CI to make this a failure)", allow_module_level=True)

pytestmark = [pytest.mark.spark, pytest.mark.slow]
CHUNK = 400  # several single-machine parts, each spread over both Spark partitions
MESSY_CHUNK = 2  # a duplicated case id sits in two single-machine parts


@pytest.fixture(scope="module")
def spark():
    assert HAVE_JAVA, "Java is missing: CI must install openjdk-17-jre-headless"
    from stalkrisk.pipelines.spark_score import session

    s = session("local[2]", **{"spark.sql.shuffle.partitions": "2", "spark.ui.enabled": "false",
                               "spark.driver.bindAddress": "127.0.0.1"})
    yield s
    s.stop()


@pytest.fixture(scope="module")
def small_files(tmp_path_factory):
    """A generated caseload small enough for 2 cores (the session's 6,000 trains the model)."""
    from stalkrisk.synth import generate, write_caseload

    return write_caseload(generate(1500, seed=3), tmp_path_factory.mktemp("spark-caseload"), fmt="csv")


@pytest.fixture(scope="module")
def model_uri(trained):
    return f"models:/{trained.name}/{trained.version}"


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _runs(tmp_path: Path, spark, cases: Path, events: Path, model_uri: str, chunk: int, **spark_kw):
    from stalkrisk.pipelines import spark_score as spark_engine
    from stalkrisk.pipelines.score import run

    local = run(cases, events, tmp_path / "local", model=model_uri, quiet=True, chunk_size=chunk)
    distributed = spark_engine.run(cases, events, tmp_path / "spark", model=model_uri, quiet=True,
                                   chunk_size=chunk, spark=spark, **spark_kw)
    return local, distributed


def assert_same_outputs(a: Path, b: Path) -> None:
    """Floats within 1e-9 and everything else equal (frames), then every file byte for byte."""
    for name in ("scores.parquet", "explanations.parquet"):
        x, y = pd.read_parquet(a / name), pd.read_parquet(b / name)
        floats = [c for c in x.columns if x[c].dtype.kind == "f"]
        pd.testing.assert_frame_equal(x.drop(columns=floats), y.drop(columns=floats))
        for c in floats:
            np.testing.assert_allclose(x[c].to_numpy(), y[c].to_numpy(), rtol=0, atol=1e-9, equal_nan=True)
    ta, tb = _tree(a), _tree(b)
    assert sorted(ta) == sorted(tb)
    assert [k for k in ta if k != "audit.json" and ta[k] != tb[k]] == []
    ja, jb = json.loads(ta["audit.json"]), json.loads(tb["audit.json"])
    assert jb.pop("engine")["name"] == "spark"
    for j in (ja, jb):
        del j["started_at"], j["finished_at"]
    assert ja == jb


def test_generated_caseload_matches_single_machine(tmp_path, spark, small_files, model_uri):
    local, distributed = _runs(tmp_path, spark, small_files["cases"], small_files["events"], model_uri, CHUNK)
    assert_same_outputs(tmp_path / "local", tmp_path / "spark")
    assert distributed.counts == local.counts
    scores = pd.read_parquet(tmp_path / "spark" / "scores.parquet")
    ids = pd.read_csv(small_files["cases"], usecols=["case_id"], dtype=str)["case_id"]
    assert scores["case_id"].tolist() == ids.tolist()  # every case once, in input order
    audit = json.loads((tmp_path / "spark" / "audit.json").read_text())
    assert audit["engine"] == {"name": "spark", "master": "local[2]", "spark_version": spark.version}


@pytest.mark.parametrize("fmt", ["gz", "parquet"])
def test_messy_caseload_matches_single_machine(tmp_path, spark, model_uri, fmt):
    from stalkrisk.audit.verify import verify

    paths = fixtures_messy.write_messy(tmp_path)
    if fmt == "gz":  # an event id shared by two cases: the rule must reach across hash partitions
        import gzip

        text = fixtures_messy.EVENTS_CSV + "C006,2024-07-02,watching,,,E1\n"
        paths["events_gz"] = tmp_path / "events2.csv.gz"
        paths["events_gz"].write_bytes(gzip.compress(text.encode()))
    local, distributed = _runs(tmp_path, spark, paths[f"cases_{fmt}"], paths[f"events_{fmt}"], model_uri,
                               MESSY_CHUNK, partitions=4)
    assert_same_outputs(tmp_path / "local", tmp_path / "spark")
    scores = pd.read_csv(tmp_path / "spark" / "scores.csv", dtype=str, keep_default_na=False)
    assert scores["case_id"].tolist() == ["C001", "C002", "C003", "C004", "C003", "C005", "C006"]
    bad = scores.loc[scores["status"] == "not_scored", "case_id"].tolist()
    shared_event_id = ["C001", "C006"] if fmt == "gz" else []
    assert sorted(bad) == sorted(fixtures_messy.QUARANTINED + shared_event_id)
    assert scores.loc[scores["status"] == "not_scored", "not_scored_reason"].str.len().gt(0).all()
    assert distributed.counts["orphan_events"] == 1 == local.counts["orphan_events"]
    assert verify(tmp_path / "spark").match  # audit verify re-runs the single-machine path and agrees


def test_a_task_that_dies_leaves_nothing_complete_and_the_rerun_succeeds(tmp_path, spark, small_files,
                                                                         model_uri, monkeypatch):
    from stalkrisk.pipelines import spark_score as spark_engine
    from stalkrisk.pipelines.spark_tasks import FAIL_ENV

    out = tmp_path / "out"
    monkeypatch.setenv(FAIL_ENV, "1")  # partition 1's worker exits after its first sub-chunk
    with pytest.raises(Exception, match="(?i)python worker|exited|crash|task"):
        spark_engine.run(small_files["cases"], small_files["events"], out, model=model_uri,
                         quiet=True, chunk_size=CHUNK, spark=spark)
    # nothing that looks complete: no results folder and no audit.json anywhere. An executor still
    # writing when the job failed may leave files in the hidden building folder: the next run sweeps it.
    assert not out.exists()
    assert not list(tmp_path.rglob("audit.json"))
    assert all(p.name.startswith(".") for p in tmp_path.iterdir())
    assert spark.sparkContext.getLocalProperty("spark.jobGroup.id") is None  # the caller's session as it was
    monkeypatch.delenv(FAIL_ENV)
    summary = spark_engine.run(small_files["cases"], small_files["events"], out, model=model_uri,
                               quiet=True, chunk_size=CHUNK, spark=spark)
    assert (out / "audit.json").is_file()
    assert summary.counts["input_cases"] == len(pd.read_parquet(out / "scores.parquet"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the failed run's leftovers swept


def test_spark_udf_equals_pyfunc_predict(spark, model_uri, caseload):
    import mlflow

    from stalkrisk.features import build_features

    cases = caseload.cases.head(400)
    features = build_features(cases, caseload.events[caseload.events["case_id"].isin(set(cases["case_id"]))])
    want = mlflow.pyfunc.load_model(model_uri).predict(features)
    frame = spark.createDataFrame(features)
    udf = mlflow.pyfunc.spark_udf(spark, model_uri)
    got = frame.select(udf(*frame.columns).alias("p")).select("p.*").toPandas()
    assert got.columns.tolist() == want.columns.tolist()
    np.testing.assert_allclose(got["score"].to_numpy(), want["score"].to_numpy(), rtol=0, atol=1e-12)
    for column in want.columns.drop("score"):
        assert got[column].astype(object).tolist() == want[column].astype(object).tolist(), column
