"""The Spark engine co-partitions by person, reads the orders table and says the run's warnings.

Real Spark on ``local[2]``: the keys each row gets are checked against a hand-worked table; runs
with orders (a generated caseload with extra cross-suspect orders, and a messy one with bad order
rows) and runs that earn warnings are compared with the single-machine run, file for file.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import fixtures_messy  # noqa: E402
from test_spark import assert_same_outputs  # noqa: E402

HAVE_JAVA = bool(shutil.which("java") or os.environ.get("JAVA_HOME"))
if not HAVE_JAVA and not os.environ.get("CI"):
    pytest.skip("the spark engine needs Java (set CI to make this a failure)", allow_module_level=True)

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def spark():
    from stalkrisk.pipelines.spark_score import session

    s = session("local[2]", **{"spark.sql.shuffle.partitions": "2"})
    yield s
    s.stop()


@pytest.fixture(scope="module")
def model_uri(trained):
    return f"models:/{trained.name}/{trained.version}"


def _write(folder: Path, **tables: pd.DataFrame) -> dict[str, Path]:
    out = {}
    for name, frame in tables.items():
        out[name] = folder / f"{name}.csv"
        frame.to_csv(out[name], index=False)
    return out


def test_rows_are_keyed_by_suspect_and_orders_follow_case_and_suspect(tmp_path, spark):
    from stalkrisk.data import contract
    from stalkrisk.pipelines.spark_score import _read, co_partition_keys
    from stalkrisk.pipelines.spark_tasks import KEY, TAG, describe

    cases = pd.DataFrame({"case_id": ["A", "B", "C", "D", "S1"], "assessment_date": ["2024-03-01"] * 5,
                          "relationship": ["stranger"] * 5, "victim_sex": ["female"] * 5,
                          "suspect_sex": ["male"] * 5, "suspect_id": ["S1", " S1 ", "", "S2", ""]}, dtype="str")
    events = pd.DataFrame({"case_id": ["A", "B", "C", "Z", ""], "event_time": ["2024-02-01"] * 5,
                           "behaviour": ["following"] * 5}, dtype="str")
    orders = pd.DataFrame({
        "order_id": [f"o{i}" for i in range(1, 8)],
        "case_id": ["A", "", "C", "A", "D", "", "Q"],
        "suspect_id": ["", "S2", "S1", "S1", "S1", "", ""],
        "order_type": ["spo"] * 7, "made_on": ["2024-01-01"] * 7,
    }, dtype="str")
    paths = _write(tmp_path, cases=cases, events=events, orders=orders)
    specs = tuple(describe(paths[n], t) for n, t in (("cases", contract.CASES), ("events", contract.EVENTS),
                                                      ("orders", contract.ORDERS)))
    rows, _, _ = _read(spark, specs)
    got = co_partition_keys(rows).select(TAG, "_line", KEY).toPandas()
    keys = {(t, int(line)): set() for t, line in zip(got[TAG], got["_line"])}
    for t, line, key in zip(got[TAG], got["_line"], got[KEY]):
        keys[(t, int(line))].add(key if isinstance(key, str) else None)
    assert keys == {
        ("cases", 2): {"s:S1"}, ("cases", 3): {"s:S1"}, ("cases", 4): {"c:C"}, ("cases", 5): {"s:S2"},
        ("cases", 6): {"c:S1"},  # a case id equal to a suspect id: tagged apart
        ("events", 2): {"s:S1"}, ("events", 3): {"s:S1"}, ("events", 4): {"c:C"},  # events follow their case
        ("events", 5): {"c:Z"}, ("events", 6): {None},  # an orphan keeps its case id; no id, no key
        ("orders", 2): {"s:S1"},  # names case A: A's suspect
        ("orders", 3): {"s:S2"},  # names a suspect only
        ("orders", 4): {"c:C", "s:S1"},  # names case C and suspect S1: both partitions
        ("orders", 5): {"s:S1"},  # names case A and A's own suspect: once
        ("orders", 6): {"s:S2", "s:S1"},  # names case D (suspect S2) and another suspect
        ("orders", 8): {"c:Q"},  # names a case not in the caseload
    }  # order o6 names no one: it breaks a rule and goes nowhere
    assert (got[TAG] == "orders").sum() == 8  # o3 and o5 once per partition key, the rest once
    rows.unpersist()


def test_an_order_in_two_partitions_or_twice_in_one_applies_once(tmp_path):
    """``local_orders``: a sub-chunk that got an order twice (both its keys hash to one partition)
    applies it once, and the driver's failing lines are left out."""
    import pyarrow as pa

    from stalkrisk.data import contract
    from stalkrisk.pipelines.spark_score import _spark_schema
    from stalkrisk.pipelines.spark_tasks import Job, describe, local_orders, read_rows
    from stalkrisk.validation.orders import read_and_check
    from stalkrisk.validation.suite import SuiteRunner, load_suites

    orders = pd.DataFrame({"order_id": ["o1", "o2", "o3"], "case_id": ["A", "B", "A"],
                           "suspect_id": ["S9", "", ""], "order_type": ["spo", "banana", "dvpo"],
                           "made_on": ["2024-01-01"] * 3}, dtype="str")
    path = _write(tmp_path, orders=orders)["orders"]
    spec = describe(path, contract.ORDERS)
    rows = pa.Table.from_batches(list(read_rows(spec, _spark_schema((spec,)), 10)))
    doubled = pa.concat_tables([rows, rows.slice(0, 1)])  # o1 reached this sub-chunk by both its keys
    check = read_and_check(path, SuiteRunner(load_suites()))
    job = Job(cases=spec, events=spec, work="", chunk_size=1, method="fast", review="none", model_files={},
              digest="", model_name="", model_version="", model_uri="", run_id="", context_events=pd.DataFrame(),
              orders=spec, orders_check=check)
    got = local_orders(doubled, job)
    assert got["order_id"].tolist() == ["o1", "o3"]  # o2 fails (order type): judged once, on the driver
    pd.testing.assert_frame_equal(got, check.orders)


@pytest.fixture(scope="module")
def generated_with_orders(tmp_path_factory):
    """A generated caseload (orders written by synth) plus orders naming a case and another suspect."""
    from stalkrisk.synth import generate, write_caseload

    folder = tmp_path_factory.mktemp("spark-orders")
    paths = write_caseload(generate(500, seed=8), folder, fmt="csv")
    cases = pd.read_csv(paths["cases"], dtype=str, keep_default_na=False)
    orders = pd.read_csv(paths["orders"], dtype=str, keep_default_na=False)
    assert len(orders) and (orders["case_id"] == "").any()  # the generator writes suspect-only orders
    linked = cases.loc[cases["suspect_id"].duplicated(keep=False) & cases["suspect_id"].ne(""), "suspect_id"]
    other = linked.iloc[0] if len(linked) else cases["suspect_id"].iloc[1]
    extra = pd.DataFrame({"order_id": ["X1", "X2", "X3"],
                          "case_id": [cases["case_id"].iloc[0], cases["case_id"].iloc[2], ""],
                          "suspect_id": [other, other, cases["suspect_id"].iloc[3]],
                          "order_type": ["spo", "interim_spo", "non_molestation"],
                          "made_on": [cases["assessment_date"].iloc[0], "2018-01-01", "2018-01-01"],
                          "expires_on": ["", "2030-01-01", ""], "recorded_at": ["", "", ""]})
    pd.concat([orders, extra], ignore_index=True).to_csv(paths["orders"], index=False)
    return paths


@pytest.mark.parametrize("partitions", [1, 3])
def test_generated_caseload_with_orders_matches_single_machine(tmp_path, spark, model_uri,
                                                               generated_with_orders, partitions):
    from stalkrisk.pipelines import spark_score
    from stalkrisk.pipelines.score import run

    p = generated_with_orders
    kw = dict(model=model_uri, quiet=True, chunk_size=120, review="all", review_cap=None, orders=p["orders"])
    local = run(p["cases"], p["events"], tmp_path / "local", **kw)
    distributed = spark_score.run(p["cases"], p["events"], tmp_path / "spark", spark=spark,
                                  partitions=partitions, **kw)
    assert_same_outputs(tmp_path / "local", tmp_path / "spark")  # every page: the orders in force on each
    assert distributed.counts == local.counts
    audit = json.loads((tmp_path / "spark" / "audit.json").read_text())
    assert audit["inputs"]["orders"]["sha256"] == json.loads(
        (tmp_path / "local" / "audit.json").read_text())["inputs"]["orders"]["sha256"]


def test_messy_caseload_with_bad_order_rows_matches_single_machine(tmp_path, spark, model_uri):
    from stalkrisk.pipelines import spark_score
    from stalkrisk.pipelines.score import run

    paths = fixtures_messy.write_messy(tmp_path)
    orders = pd.DataFrame({
        "order_id": ["o1", "o2", "o3", "o4", "o5"],
        "case_id": ["C001", "C006", "", "C001", ""],
        "suspect_id": ["", "", "S9", "", ""],
        "order_type": ["spo", "banana", "spo", "dvpo", "spo"],
        "made_on": ["2024-01-01", "2024-01-01", "2024-01-01", "2024-02-30", "2024-01-01"],
        "expires_on": ["", "", "2023-12-01", "", ""],
    }, dtype="str")
    orders_path = _write(tmp_path, orders=orders)["orders"]
    kw = dict(model=model_uri, quiet=True, chunk_size=2, orders=orders_path)
    local = run(paths["cases_csv"], paths["events_csv"], tmp_path / "local", **kw)
    distributed = spark_score.run(paths["cases_csv"], paths["events_csv"], tmp_path / "spark", spark=spark,
                                  partitions=4, **kw)
    assert_same_outputs(tmp_path / "local", tmp_path / "spark")
    assert distributed.counts == local.counts
    scores = pd.read_csv(tmp_path / "spark" / "scores.csv", dtype=str, keep_default_na=False)
    reasons = dict(zip(scores["case_id"], scores["not_scored_reason"]))
    assert reasons["C006"].startswith("orders line 3:")  # its order's type is not allowed
    assert reasons["C001"].startswith("orders line 5:")  # its second order's date does not parse
    assert (scores["status"] == "scored").sum() == 0


def test_run_warnings_are_said_as_on_one_machine(tmp_path, spark, model_uri):
    """An events file with no events and a cases file without an optional column: the same
    warnings in the summary, the review index and audit.json."""
    from stalkrisk.pipelines import spark_score
    from stalkrisk.pipelines.score import run

    cases = pd.DataFrame({"case_id": ["A", "B", "C"], "assessment_date": ["2024-03-01"] * 3,
                          "relationship": ["stranger", "ex_partner", "neighbour"],
                          "victim_sex": ["female"] * 3, "suspect_sex": ["male"] * 3}, dtype="str")
    paths = _write(tmp_path, cases=cases)
    paths["events"] = tmp_path / "events.csv"
    paths["events"].write_text("case_id,event_time,behaviour\n", encoding="utf-8")
    kw = dict(model=model_uri, quiet=True, review="all")
    local = run(paths["cases"], paths["events"], tmp_path / "local", **kw)
    distributed = spark_score.run(paths["cases"], paths["events"], tmp_path / "spark", spark=spark, **kw)
    assert_same_outputs(tmp_path / "local", tmp_path / "spark")
    assert distributed.warnings == local.warnings
    assert any("holds no events" in w for w in distributed.warnings)
    assert any("has no 'victim_fear' column" in w for w in distributed.warnings)
    audit = json.loads((tmp_path / "spark" / "audit.json").read_text())
    assert audit["warnings"] == distributed.warnings
    index = (tmp_path / "spark" / "review" / "index.html").read_text(encoding="utf-8")
    assert "holds no events" in index
