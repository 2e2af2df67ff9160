"""The model is data: no code or pickle from the model store runs, and every file is fingerprinted."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from stalkrisk.errors import RegistryError
from stalkrisk.tracking.model_files import folder_sha256
from stalkrisk.tracking.registry import export_model, load_model


@pytest.fixture(scope="module")
def bundle(trained, tmp_path_factory) -> Path:
    return export_model(f"models:/{trained.name}/{trained.version}", tmp_path_factory.mktemp("bundle") / "model")


def _copy(bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bundle, tmp_path / "model"))


def test_the_bundle_loads_the_registered_model(bundle, loaded_model, features_sample):
    loaded = load_model(str(bundle))
    X = features_sample[loaded_model.model.feature_names]
    assert np.array_equal(loaded.model.booster.predict(X, raw_score=True),
                          loaded_model.model.booster.predict(X, raw_score=True))
    assert (loaded.name, loaded.version) == (loaded_model.name, loaded_model.version)
    assert loaded.digest == folder_sha256(bundle)


def test_code_appended_to_the_stored_model_never_runs_and_changes_the_fingerprint(bundle, tmp_path):
    model = _copy(bundle, tmp_path)
    marker = tmp_path / "ran"
    code = next(model.rglob("mlflow_model.py"))
    code.write_text(code.read_text() + f"\nopen({str(marker)!r}, 'w').write('x')\n")
    loaded = load_model(str(model))
    assert not marker.exists()
    assert loaded.digest != folder_sha256(bundle)


def test_any_edited_file_changes_the_fingerprint(bundle, tmp_path):
    model = _copy(bundle, tmp_path)
    (model / "model_card.md").write_text("edited")
    assert load_model(str(model)).digest != load_model(str(bundle)).digest


def test_a_pickle_in_the_model_folder_is_refused(bundle, tmp_path):
    model = _copy(bundle, tmp_path)
    (model / "python_model.pkl").write_bytes(b"\x80\x04N.")
    with pytest.raises(RegistryError, match="serialised Python objects"):
        load_model(str(model))


def test_another_loader_is_refused(bundle, tmp_path):
    model = _copy(bundle, tmp_path)
    spec = yaml.safe_load((model / "MLmodel").read_text())
    spec["flavors"]["python_function"]["loader_module"] = "mlflow.pyfunc.model"
    (model / "MLmodel").write_text(yaml.safe_dump(spec))
    with pytest.raises(RegistryError, match="not a stalkrisk model"):
        load_model(str(model))


def test_an_artifact_path_outside_the_folder_is_refused(bundle, tmp_path):
    model = _copy(bundle, tmp_path)
    spec = yaml.safe_load((model / "MLmodel").read_text())
    spec["flavors"]["python_function"]["artifacts"]["risk_model"]["path"] = "../../etc"
    (model / "MLmodel").write_text(yaml.safe_dump(spec))
    with pytest.raises(RegistryError, match="inside the model"):
        load_model(str(model))


def test_pickle_deserialisation_is_off_in_process():
    import os

    import stalkrisk  # noqa: F401

    assert os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] == "false"
